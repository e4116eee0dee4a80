//! End to end in headless Chromium: the docs pages render offline, and a page on another
//! origin runs the whole flow, the account settings and two-factor login included, with the
//! cookie set and sent by the browser itself.
//! Skipped, with the reason printed, where Chromium is not installed; .ci/run installs it.

use std::time::Duration;

use authd::clock::Clock;
use authd::domain::{TotpSecret, totp_step};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_http::services::ServeDir;

use crate::helpers::{Backend, PASSWORD};
use crate::webdriver::Browser;

const WAIT: Duration = Duration::from_secs(20);

/// The static frontend (index.html, its script and the API client from AUTH_FLOW.md), served
/// from `tests/api/browser_page` by tower-http's ServeDir on a port of its own.
async fn serve_page() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/browser_page");
    let pages = axum::Router::new().fallback_service(ServeDir::new(dir));
    tokio::spawn(async move { axum::serve(listener, pages).await });
    port
}

/// Runs one step of the page's flow and returns `{status, body}`.
async fn step(browser: &Browser, name: &str, args: Value) -> Value {
    let script = "const done = arguments[arguments.length - 1]; \
                  window.step(arguments[0], ...arguments[1]).then(done);";
    browser.eval_async(script, json!([name, args])).await
}

#[tokio::test]
async fn a_page_on_another_origin_runs_the_whole_flow_with_the_browsers_cookie() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let page_port = serve_page().await;
    // localhost:<page> and localhost:<api> are different origins on the same site, like a
    // dev server and its API, so the SameSite=Lax cookie travels with credentials: 'include'.
    let frontend = format!("http://localhost:{page_port}");
    let allowed = frontend.clone();
    let app = Backend::Sqlite
        .spawn_with(move |c| c.http.cors_origins = vec![allowed])
        .await;
    let api = app.base.replace("127.0.0.1", "localhost");

    browser.goto(&format!("{frontend}/?api={api}")).await;
    assert!(
        browser.wait_for("window.pageReady === true", WAIT).await,
        "the page did not load"
    );

    let email = "ann@example.com";
    let registered = step(&browser, "register", json!(["Ann Lee", email, PASSWORD])).await;
    assert_eq!(registered["status"], 201, "{registered}");
    app.mail_settled().await;
    let code = app.last_code(email);
    let verified = step(&browser, "verifyEmail", json!([email, code])).await;
    assert_eq!(verified["status"], 200, "{verified}");
    let login = step(&browser, "login", json!([email, PASSWORD])).await;
    assert_eq!(login["status"], 200, "{login}");
    // The cookie is HttpOnly: the page cannot read it, yet the browser sends it.
    let cookies = browser.eval("return document.cookie;", json!([])).await;
    assert!(
        !cookies
            .as_str()
            .unwrap_or_default()
            .contains("access_token"),
        "{cookies}"
    );
    let me = step(&browser, "me", json!([])).await;
    assert_eq!(me["status"], 200, "{me}");
    assert_eq!(me["body"]["email"], email);
    let logout = step(&browser, "logout", json!([])).await;
    assert_eq!(logout["status"], 200, "{logout}");
    let after = step(&browser, "me", json!([])).await;
    assert_eq!(after["status"], 401, "{after}");

    // The settings page, from the same other origin: the session list, a password change (the
    // browser swaps in the new cookie), then ending the current session through the list
    // (a DELETE, which needs CORS to allow the method).
    let login = step(&browser, "login", json!([email, PASSWORD])).await;
    assert_eq!(login["status"], 200, "{login}");
    let sessions = step(&browser, "sessions", json!([])).await;
    assert_eq!(sessions["status"], 200, "{sessions}");
    let listed = sessions["body"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{sessions}");
    assert_eq!(listed[0]["current"], true);
    assert!(
        listed[0]["user_agent"].as_str().unwrap().contains("Chrome"),
        "{sessions}"
    );
    let wrong = step(
        &browser,
        "changePassword",
        json!(["not my password", "velvet orchard tempest"]),
    )
    .await;
    assert_eq!(wrong["status"], 400, "{wrong}");
    let changed = step(
        &browser,
        "changePassword",
        json!([PASSWORD, "velvet orchard tempest"]),
    )
    .await;
    assert_eq!(changed["status"], 200, "{changed}");
    let me = step(&browser, "me", json!([])).await;
    assert_eq!(
        me["status"], 200,
        "the browser did not keep the new session: {me}"
    );
    let sessions = step(&browser, "sessions", json!([])).await;
    let now_listed = sessions["body"].as_array().unwrap();
    assert_eq!(now_listed.len(), 1, "{sessions}");
    assert_ne!(
        now_listed[0]["id"], listed[0]["id"],
        "the session was not replaced"
    );
    let ended = step(&browser, "endSession", json!([now_listed[0]["id"]])).await;
    assert_eq!(ended["status"], 204, "{ended}");
    let after = step(&browser, "me", json!([])).await;
    assert_eq!(after["status"], 401, "{after}");

    // Two-factor login, from the same other origin: set it up and turn it on with a code
    // computed here from the secret the page got (as the authenticator app would), then log
    // in again: the password gives no cookie, the code does.
    let new_password = "velvet orchard tempest";
    let login = step(&browser, "login", json!([email, new_password])).await;
    assert_eq!(login["status"], 200, "{login}");
    let setup = step(&browser, "setupTotp", json!([new_password])).await;
    assert_eq!(setup["status"], 200, "{setup}");
    assert!(
        setup["body"]["qr_svg"].as_str().unwrap().contains("<svg"),
        "{setup}"
    );
    let secret = TotpSecret::from_base32(setup["body"]["secret"].as_str().unwrap()).unwrap();
    let code_now = || {
        let step = totp_step(app.clock.now().timestamp());
        secret.code_at(step).expose().to_owned()
    };
    let enabled = step(&browser, "enableTotp", json!([code_now()])).await;
    assert_eq!(enabled["status"], 200, "{enabled}");
    assert_eq!(
        enabled["body"]["recovery_codes"].as_array().unwrap().len(),
        10
    );
    let logout = step(&browser, "logout", json!([])).await;
    assert_eq!(logout["status"], 200, "{logout}");
    let first = step(&browser, "login", json!([email, new_password])).await;
    assert_eq!(first["status"], 200, "{first}");
    assert_eq!(first["body"]["mfa_required"], true, "{first}");
    assert!(first["body"].get("access_token").is_none(), "{first}");
    let not_yet = step(&browser, "me", json!([])).await;
    assert_eq!(
        not_yet["status"], 401,
        "the password alone signed in: {not_yet}"
    );
    app.clock.advance(Duration::from_secs(30));
    let mfa_token = first["body"]["mfa_token"].clone();
    let verified = step(
        &browser,
        "verifyMfa",
        json!([mfa_token, {"code": code_now()}]),
    )
    .await;
    assert_eq!(verified["status"], 200, "{verified}");
    let me = step(&browser, "me", json!([])).await;
    assert_eq!(me["status"], 200, "{me}");
    assert_eq!(me["body"]["mfa_enabled"], true, "{me}");

    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&target).unwrap();
    browser.screenshot(&target.join("browser-flow.png")).await;

    // The same page from an origin not in CORS_ORIGINS cannot read any answer, and its
    // JSON requests are stopped at the preflight, so nothing happens on the server.
    browser
        .goto(&format!("http://127.0.0.1:{page_port}/?api={api}"))
        .await;
    assert!(browser.wait_for("window.pageReady === true", WAIT).await);
    let foreign = step(
        &browser,
        "register",
        json!(["Eve", "eve@example.com", PASSWORD]),
    )
    .await;
    assert_eq!(foreign["status"], 0, "{foreign}");
    let foreign_login = step(&browser, "login", json!([email, PASSWORD])).await;
    assert_eq!(foreign_login["status"], 0, "{foreign_login}");
    app.mail_settled().await;
    assert!(app.mailer.sent_to("eve@example.com").is_empty());
    browser.quit().await;
}

#[tokio::test]
async fn the_docs_pages_render_in_a_real_browser_from_this_server_alone() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = Backend::Sqlite.spawn().await;
    let only_this_server = "performance.getEntriesByType('resource')\
        .every(e => e.name.startsWith(location.origin) || e.name.startsWith('data:'))";

    browser.goto(&app.url("/docs/")).await;
    let swagger = browser
        .wait_for("document.querySelectorAll('.opblock').length >= 22", WAIT)
        .await;
    assert!(swagger, "Swagger UI did not list the operations");
    assert!(
        browser.wait_for(only_this_server, WAIT).await,
        "Swagger UI fetched from elsewhere"
    );

    browser.goto(&app.url("/redoc")).await;
    let redoc = browser
        .wait_for(
            "document.querySelectorAll('[data-section-id*=\"/operation/\"]').length >= 22",
            WAIT,
        )
        .await;
    assert!(redoc, "ReDoc did not list the operations");
    let foreign = browser
        .eval(
            "return performance.getEntriesByType('resource').map(e => e.name)\
             .filter(n => !n.startsWith(location.origin) && !n.startsWith('data:'));",
            json!([]),
        )
        .await;
    assert!(
        browser.wait_for(only_this_server, WAIT).await,
        "ReDoc fetched {foreign}"
    );
    browser.quit().await;
}

#[test]
fn the_react_example_in_auth_flow_is_the_client_the_browser_test_runs() {
    let doc = include_str!("../../AUTH_FLOW.md");
    let client = include_str!("browser_page/auth-client.js");
    assert!(
        doc.contains(client.trim()),
        "AUTH_FLOW.md must embed tests/api/browser_page/auth-client.js verbatim"
    );
}
