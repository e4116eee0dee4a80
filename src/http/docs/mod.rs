//! The API's own documentation: the OpenAPI schema at `/openapi.json`, Swagger UI at `/docs`
//! and ReDoc at `/redoc`, all served from the binary (no CDN, nothing fetched at build time).

pub mod responses;

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use super::error::{ErrorBody, FieldError, ValidationErrorBody};

/// Everything the handlers' own annotations do not say.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "authd",
        description = "Sign-up with an emailed 6-digit code, email verification, login with an \
            HttpOnly session cookie or a Bearer token, logout, the current user, password reset \
            by code, and account settings (password, address, sessions, deletion). Errors are `{\"detail\": \"message\"}`; invalid bodies are FastAPI's 422 list, one \
            entry per field. See AUTH_FLOW.md for each flow step by step."
    ),
    tags(
        (name = "registration", description = "Create an account and prove the address: register, then verify-email with the emailed code."),
        (name = "session", description = "Log in (sets the session cookie), ask who is signed in, log out."),
        (name = "password reset", description = "Forgot password emails a code; reset-password sets a new password with it and ends every session."),
        (name = "account", description = "The account settings page: change the password or the address, see and end sessions, delete the account. Every operation that changes the account asks for the password first."),
        (name = "two-factor", description = "Two-factor login with an authenticator app (TOTP, RFC 6238): set it up and enable it from the settings page; login then answers `mfa_required` with an `mfa_token`, and `mfa/verify` finishes it with a code or a recovery code."),
        (name = "operations", description = "Health for load balancers and uptime checks."),
    ),
    components(schemas(ErrorBody, ValidationErrorBody, FieldError), responses(
        responses::InvalidCode,
        responses::Unauthorized,
        responses::CrossSite,
        responses::NotVerified,
        responses::TooMany,
        responses::Unavailable,
        responses::WrongPassword,
        responses::SessionNotFound,
        responses::EmailTaken,
        responses::WrongCode,
        responses::MfaState,
    )),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "access_token",
                "The HttpOnly session cookie set by login (named __Host-access_token when \
                 COOKIE_SECURE=true). Browsers send it by themselves.",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("The access_token from the login body."))
                    .build(),
            ),
        );
    }
}

const REDOC_HTML: &str = include_str!("redoc.html");
const REDOC_JS: &str = include_str!("redoc/redoc.standalone.js");
const REDOC_INIT: &str = include_str!("redoc-init.js");
const REDOC_LICENSE: &str = include_str!("redoc/LICENSE");

/// The one address in the ReDoc bundle outside this server: a logo in its footer. It is
/// pointed at an inline image, so the page loads nothing from anywhere else.
const REDOC_CDN_LOGO: &str = "https://cdn.redoc.ly/redoc/logo-mini.svg";
const BLANK_SVG: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E";

/// The documentation routes for `api`: `/openapi.json`, `/docs` and `/redoc`.
pub fn router<S: Clone + Send + Sync + 'static>(api: OpenApiDoc) -> Router<S> {
    let redoc_js = Bytes::from(REDOC_JS.replace(REDOC_CDN_LOGO, BLANK_SVG));
    Router::new()
        .merge(SwaggerUi::new("/docs").url("/openapi.json", api))
        .route("/redoc", get(|| async { Html(REDOC_HTML) }))
        .route(
            "/redoc/redoc.standalone.js",
            get(move || {
                let js = redoc_js.clone();
                async move { ([(header::CONTENT_TYPE, "text/javascript")], js) }
            }),
        )
        .route(
            "/redoc/init.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], REDOC_INIT) }),
        )
        .route(
            "/redoc/LICENSE",
            get(|| async {
                ([(header::CONTENT_TYPE, "text/plain")], REDOC_LICENSE).into_response()
            }),
        )
}

/// The Content-Security-Policy of the documentation pages: their own scripts and styles (both
/// UIs set inline styles), images and fonts from data URLs, requests to this server only, and
/// ReDoc's search worker from a blob. Still no framing, no plugins, no foreign origins.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Whether `path` is one of the documentation pages or their assets.
pub fn is_docs_path(path: &str) -> bool {
    path == "/docs" || path.starts_with("/docs/") || path == "/redoc" || path.starts_with("/redoc/")
}
