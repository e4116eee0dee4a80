//! The documentation endpoints: the schema covers every operation, the pages are served.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::Backend;

#[tokio::test]
async fn the_schema_documents_every_operation_with_its_bodies_and_errors() {
    let app = Backend::Sqlite.spawn().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let schema: Value = response.json().await.unwrap();
    let operations = [
        ("/api/auth/register", "post"),
        ("/api/auth/verify-email", "post"),
        ("/api/auth/resend-verification-otp", "post"),
        ("/api/auth/login", "post"),
        ("/api/auth/logout", "post"),
        ("/api/auth/me", "get"),
        ("/api/auth/forgot-password", "post"),
        ("/api/auth/reset-password", "post"),
        ("/api/auth/change-password", "post"),
        ("/api/auth/sessions", "get"),
        ("/api/auth/sessions/{id}", "delete"),
        ("/api/auth/logout-others", "post"),
        ("/api/auth/logout-all", "post"),
        ("/api/auth/activity", "get"),
        ("/api/auth/change-email", "post"),
        ("/api/auth/confirm-email-change", "post"),
        ("/api/auth/delete-account", "post"),
        ("/api/auth/mfa/totp/setup", "post"),
        ("/api/auth/mfa/totp/enable", "post"),
        ("/api/auth/mfa/verify", "post"),
        ("/api/auth/mfa/totp/disable", "post"),
        ("/api/auth/mfa/recovery-codes", "post"),
        ("/health", "get"),
    ];
    let paths = schema["paths"].as_object().unwrap();
    assert_eq!(paths.len(), operations.len(), "{:?}", paths.keys());
    for (path, method) in operations {
        let op = &schema["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        assert!(op["description"].is_string() || op["summary"].is_string());
        assert!(op["responses"]["429"].is_object(), "{path} lacks its 429");
        let takes_a_body = !["logout", "logout-others", "logout-all"]
            .iter()
            .any(|p| path.ends_with(p));
        if method == "post" && takes_a_body {
            assert!(op["requestBody"]["content"]["application/json"].is_object());
            assert!(op["responses"]["422"].is_object(), "{path} lacks its 422");
        }
    }
    let schemes = &schema["components"]["securitySchemes"];
    assert_eq!(schemes["cookie"]["in"], "cookie");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    let example = &schema["components"]["schemas"]["RegisterRequest"]["example"];
    assert_eq!(example["email"], "ann@example.com");
    // The account operations need a session, and say what a wrong password answers.
    for path in [
        "/api/auth/change-password",
        "/api/auth/change-email",
        "/api/auth/delete-account",
    ] {
        let op = &schema["paths"][path]["post"];
        assert!(
            op["responses"]["400"].is_object() && op["responses"]["401"].is_object(),
            "{path}"
        );
        assert!(
            op["security"].as_array().is_some_and(|s| !s.is_empty()),
            "{path}"
        );
    }
    // Login documents both of its 200 answers: a session, or the second-factor challenge.
    let login = &schema["paths"]["/api/auth/login"]["post"]["responses"]["200"];
    let answer = login["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap();
    assert!(answer.ends_with("/LoginAnswer"), "{login}");
    let one_of = schema["components"]["schemas"]["LoginAnswer"]["oneOf"].to_string();
    assert!(
        one_of.contains("LoginBody") && one_of.contains("MfaChallengeBody"),
        "{one_of}"
    );
    let user = &schema["components"]["schemas"]["User"]["properties"];
    assert!(user["mfa_enabled"].is_object(), "User lacks mfa_enabled");
    for path in ["/api/auth/mfa/totp/disable", "/api/auth/mfa/recovery-codes"] {
        let op = &schema["paths"][path]["post"];
        assert!(op["responses"]["409"].is_object(), "{path} lacks its 409");
    }
    let session = &schema["components"]["schemas"]["SessionInfo"]["properties"];
    for field in [
        "id",
        "created_at",
        "last_used_at",
        "expires_at",
        "ip",
        "user_agent",
        "current",
    ] {
        assert!(session[field].is_object(), "SessionInfo lacks {field}");
    }
}

#[tokio::test]
async fn swagger_ui_and_redoc_are_served_by_the_server_itself() {
    let app = Backend::Sqlite.spawn().await;
    let docs = app.get("/docs").await; // reqwest follows the redirect to /docs/
    assert_eq!(docs.status(), StatusCode::OK);
    let csp = docs.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(docs.text().await.unwrap().contains("swagger"));
    let redoc = app.get("/redoc").await;
    assert_eq!(redoc.status(), StatusCode::OK);
    let html = redoc.text().await.unwrap();
    assert!(html.contains("/redoc/redoc.standalone.js") && !html.contains("https://"));
    let bundle = app.get("/redoc/redoc.standalone.js").await;
    assert_eq!(bundle.status(), StatusCode::OK);
    assert!(!bundle.text().await.unwrap().contains("cdn.redoc.ly"));
    // API responses keep the strict policy.
    let api = app.get("/health").await;
    assert_eq!(
        api.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
}
