//! Two-factor login on two instances sharing the database and Redis: a code accepted by one is
//! refused by the other, an `mfa_token` used on one is dead on the other, concurrent second
//! steps with one token open one session, and wrong codes add up to one lockout. Needs
//! TEST_REDIS_URL.

use authd::mail::Message;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    Backend, PASSWORD, TestApp, all_backends, test_redis_url, token_of, wrong_code,
};

/// The Redis to share, or `None` (with the reason printed) when TEST_REDIS_URL is unset.
fn redis() -> Option<String> {
    let url = test_redis_url();
    if url.is_none() {
        eprintln!("skipped: TEST_REDIS_URL is not set");
    }
    url
}

/// The recovery-code notices the pair sent to `email` (it shares one mailbox): the counts
/// left they announced.
fn recovery_notices(app: &TestApp, email: &str) -> Vec<u64> {
    app.mailer
        .sent_to(email)
        .into_iter()
        .filter_map(|m| match m.message {
            Message::RecoveryCodeUsed { left } => Some(left),
            _ => None,
        })
        .collect()
}

all_backends! {
    async fn a_code_accepted_by_one_instance_is_refused_by_the_other(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b) = backend.spawn_pair(&url, |_| {}).await;
        let ann = a.mfa_user("ann@example.com").await;
        let code = a.code_now(&ann.app);
        let token = a.mfa_token("ann@example.com", PASSWORD).await;
        assert_eq!(a.verify_code(&token, &code).await.status(), StatusCode::OK);
        let token = b.mfa_token("ann@example.com", PASSWORD).await;
        assert_eq!(b.verify_code(&token, &code).await.status(), StatusCode::BAD_REQUEST);
        assert_eq!(b.verify_code(&token, &b.fresh_code(&ann.app)).await.status(), StatusCode::OK);
        // And back: B's code is spent for A too.
        let token = a.mfa_token("ann@example.com", PASSWORD).await;
        assert_eq!(a.verify_code(&token, &b.code_now(&ann.app)).await.status(), StatusCode::BAD_REQUEST);
    }

    async fn an_mfa_token_used_on_one_instance_is_dead_on_the_other(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b) = backend.spawn_pair(&url, |_| {}).await;
        let ann = a.mfa_user("ann@example.com").await;
        let token = a.mfa_token("ann@example.com", PASSWORD).await;
        let code = a.code_now(&ann.app);
        // A wrong code on B leaves it usable on A...
        assert_eq!(b.verify_code(&token, &wrong_code(&code)).await.status(), StatusCode::BAD_REQUEST);
        assert_eq!(a.verify_code(&token, &code).await.status(), StatusCode::OK);
        // ...where it is used up: B refuses it with a fresh code or a recovery code.
        let used = b.verify_code(&token, &b.fresh_code(&ann.app)).await;
        assert_eq!(used.status(), StatusCode::UNAUTHORIZED);
        let used = b.verify_recovery(&token, &ann.recovery_codes[0]).await;
        assert_eq!(used.status(), StatusCode::UNAUTHORIZED);
        assert!(recovery_notices(&a, "ann@example.com").is_empty());
    }

    async fn concurrent_second_steps_with_one_token_open_one_session(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b) = backend.spawn_pair(&url, |c| c.http.trust_proxy = true).await;
        let ann = a.mfa_user("ann@example.com").await;

        // Six different recovery codes, three through each instance, all at once, each from an
        // address of its own (from one, the in-flight attempts would reach its lockout).
        let token = a.mfa_token("ann@example.com", PASSWORD).await;
        let attempts = ann.recovery_codes[..6].iter().enumerate().map(|(n, code)| {
            let app = if n % 2 == 0 { &a } else { &b };
            let body = json!({ "mfa_token": token, "recovery_code": code });
            async move { app.post_as(&format!("10.0.0.{n}"), "/api/auth/mfa/verify", body).await }
        });
        let mut statuses: Vec<u16> = join_all(attempts).await.iter().map(|r| r.status().as_u16()).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 401, 401, 401, 401, 401]);
        // Only the winner's code was spent: one notice, nine left.
        assert_eq!(recovery_notices(&a, "ann@example.com"), [9]);

        // Two codes of the app, both good (this step and the next), one through each.
        let token = b.mfa_token("ann@example.com", PASSWORD).await;
        let now = a.fresh_code(&ann.app);
        let next = ann.app.code_at_step(a.step() + 1);
        let (on_a, on_b) = tokio::join!(a.verify_code(&token, &now), b.verify_code(&token, &next));
        let mut statuses = [on_a.status().as_u16(), on_b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 401]);
        let winner = if on_a.status() == StatusCode::OK { on_a } else { on_b };
        let session = token_of(winner).await;
        assert_eq!(b.me_with_bearer(&session).await.status(), StatusCode::OK);
        assert_eq!(a.sessions(&session).await.len(), 3, "the enabling session and two logins");
    }

    async fn one_code_sent_to_both_instances_at_once_opens_one_session(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b) = backend.spawn_pair(&url, |c| c.http.trust_proxy = true).await;
        let ann = a.mfa_user("ann@example.com").await;
        // Six logins, then the same code for each, all at once, half through each instance.
        let mut tokens = Vec::new();
        for _ in 0..6 {
            tokens.push(a.mfa_token("ann@example.com", PASSWORD).await);
        }
        let code = a.code_now(&ann.app);
        let attempts = tokens.iter().enumerate().map(|(n, token)| {
            let app = if n % 2 == 0 { &a } else { &b };
            let code = code.clone();
            async move { app.verify_code_as(&format!("10.0.0.{n}"), token, &code).await }
        });
        let mut statuses: Vec<u16> = join_all(attempts).await.iter().map(|r| r.status().as_u16()).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 400, 400, 400, 400, 400]);
    }

    async fn wrong_codes_on_both_instances_add_up_to_the_lockout(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b) = backend.spawn_pair(&url, |c| c.http.trust_proxy = true).await;
        let ann = a.mfa_user("ann@example.com").await;
        let token = a.mfa_token("ann@example.com", PASSWORD).await;
        let code = a.code_now(&ann.app);
        for app in [&a, &b, &a, &b, &a] {
            let response = app.verify_code_as("10.0.0.1", &token, &wrong_code(&code)).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        }
        for app in [&a, &b] {
            let locked = app.verify_code_as("10.0.0.1", &token, &code).await;
            assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
        }
        assert_eq!(b.verify_code_as("10.0.0.2", &token, &code).await.status(), StatusCode::OK);
    }
}
