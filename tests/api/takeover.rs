//! Pre-account takeover: someone registers another person's address, with a password of their
//! own, before or after its owner does. Whoever verifies must never end up with a password
//! that someone else chose.

use std::time::Duration;

use authd::mail::Message;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, Shared, TestApp, all_backends, detail, retry_after};

const VICTIM: &str = "victim@example.com";
const ATTACKER_PASSWORD: &str = "purple kettle drums at dawn";
const OWNER_PASSWORD: &str = "velvet orchard tempest";
const ATTACKER_IP: &str = "6.6.6.6";
const OWNER_IP: &str = "10.0.0.2";

/// Verifies `VICTIM` with the newest code from the owner's address and checks that no one's
/// password was set, that a reset code came instead, and that it lets the owner in.
async fn verify_as_owner_sets_no_password(app: &TestApp, verifier: &TestApp) {
    let code = app.last_code(VICTIM);
    let response = verifier
        .post_as(
            OWNER_IP,
            "/api/auth/verify-email",
            json!({ "email": VICTIM, "otp": code }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["password_set"], false, "{body}");
    assert_eq!(body["user"]["is_verified"], true);
    assert!(
        body["message"].as_str().unwrap().contains("reset code"),
        "{body}"
    );
    for password in [ATTACKER_PASSWORD, OWNER_PASSWORD] {
        let login = verifier.login_as(OWNER_IP, VICTIM, password).await;
        assert_eq!(login.status(), StatusCode::UNAUTHORIZED, "{password} works");
    }
    let mail = app.mailer.sent_to(VICTIM);
    let newest = mail.last().expect("a message");
    assert!(
        matches!(newest.message, Message::PasswordResetCode { .. }),
        "{newest:?}"
    );
    let reset = json!({ "email": VICTIM, "otp": app.last_code(VICTIM), "new_password": "my own fresh passphrase" });
    let reset = verifier
        .post_as(OWNER_IP, "/api/auth/reset-password", reset)
        .await;
    assert_eq!(reset.status(), StatusCode::OK);
    let owner = verifier
        .login_as(OWNER_IP, VICTIM, "my own fresh passphrase")
        .await;
    assert_eq!(owner.status(), StatusCode::OK);
    let attacker = verifier
        .login_as(ATTACKER_IP, VICTIM, ATTACKER_PASSWORD)
        .await;
    assert_eq!(attacker.status(), StatusCode::UNAUTHORIZED);
}

all_backends! {
    async fn an_owner_stopped_by_the_mail_throttle_is_told_so_instead_of_sent_nothing(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        let attacker = app.register_as(ATTACKER_IP, VICTIM, ATTACKER_PASSWORD).await;
        assert_eq!(attacker.status(), StatusCode::CREATED);
        // Within the email cooldown, the owner registers with their own password.
        let owner = app.register_as(OWNER_IP, VICTIM, OWNER_PASSWORD).await;
        assert_eq!(owner.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!((1..=60).contains(&retry_after(&owner)));
        assert!(detail(owner).await.contains("No email was sent"));
        // The only code in the mailbox is the attacker's, and the answer said so: no code was
        // made for the owner's registration, which was not recorded either.
        assert_eq!(app.mailer.sent_to(VICTIM).len(), 1);
        // An unknown address is refused the same way within its cooldown.
        app.register_as(ATTACKER_IP, "nobody@example.com", ATTACKER_PASSWORD).await;
        let unknown = app.register_as(OWNER_IP, "nobody@example.com", OWNER_PASSWORD).await;
        assert_eq!(unknown.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    async fn when_an_attacker_registered_first_verifying_sets_no_password_and_mails_a_reset_code(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.register_as(ATTACKER_IP, VICTIM, ATTACKER_PASSWORD).await;
        app.clock.advance(Duration::from_secs(61));
        let owner = app.register_as(OWNER_IP, VICTIM, OWNER_PASSWORD).await;
        assert_eq!(owner.status(), StatusCode::CREATED);
        verify_as_owner_sets_no_password(&app, &app).await;
    }

    async fn when_the_owner_registered_first_a_later_attacker_gets_no_password_set_either(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.register_as(OWNER_IP, VICTIM, OWNER_PASSWORD).await;
        let owners_first_code = app.last_code(VICTIM);
        app.clock.advance(Duration::from_secs(61));
        app.register_as(ATTACKER_IP, VICTIM, ATTACKER_PASSWORD).await;
        // The owner's first code was replaced by the one the attacker's registration sent.
        if owners_first_code != app.last_code(VICTIM) {
            let old = json!({ "email": VICTIM, "otp": owners_first_code });
            let old = app.post_as(OWNER_IP, "/api/auth/verify-email", old).await;
            assert_eq!(old.status(), StatusCode::BAD_REQUEST);
        }
        verify_as_owner_sets_no_password(&app, &app).await;
    }

    async fn a_resend_after_a_contested_registration_still_sets_no_password(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.register_as(ATTACKER_IP, VICTIM, ATTACKER_PASSWORD).await;
        app.clock.advance(Duration::from_secs(61));
        app.register_as(OWNER_IP, VICTIM, OWNER_PASSWORD).await;
        app.clock.advance(Duration::from_secs(600)); // the owner's code expires unread
        let resend = app
            .post_as(OWNER_IP, "/api/auth/resend-verification-otp", json!({ "email": VICTIM }))
            .await;
        assert_eq!(resend.status(), StatusCode::OK);
        verify_as_owner_sets_no_password(&app, &app).await;
    }

    async fn the_rule_holds_across_a_restart(backend: Backend) {
        // A second server process on the same database, with memory of its own: what is left
        // after a restart. Codes, cooldowns and any in-process memory of the first are gone.
        let before = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        before.register_as(ATTACKER_IP, VICTIM, ATTACKER_PASSWORD).await;
        let after = backend
            .spawn_sharing(
                |c| c.http.trust_proxy = true,
                Shared {
                    database_url: Some(before.database_url.clone()),
                    ..Shared::default()
                },
            )
            .await;
        let owner = after.register_as(OWNER_IP, VICTIM, OWNER_PASSWORD).await;
        assert_eq!(owner.status(), StatusCode::CREATED);
        verify_as_owner_sets_no_password(&after, &after).await;
    }

    async fn a_registration_racing_the_owners_verification_never_lets_the_racer_in(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        for n in 0..10 {
            let email = format!("race{n}@example.com");
            app.register_as(OWNER_IP, &email, OWNER_PASSWORD).await;
            let code = app.last_code(&email);
            app.clock.advance(Duration::from_secs(61));
            let verify = app.post_as(OWNER_IP, "/api/auth/verify-email", json!({ "email": email, "otp": code }));
            let register = app.register_as(ATTACKER_IP, &email, ATTACKER_PASSWORD);
            let (_, registered) = tokio::join!(verify, register);
            assert_eq!(registered.status(), StatusCode::CREATED);
            // Whatever the interleaving, every code the racer's registration caused to be mailed
            // leaves the racer's password unusable.
            for message in app.mailer.sent_to(&email).iter().skip(1) {
                if let Message::VerificationCode { code, .. } = &message.message {
                    let body = json!({ "email": email, "otp": code.expose() });
                    app.post_as(OWNER_IP, "/api/auth/verify-email", body).await;
                }
            }
            let racer = app.login_as(ATTACKER_IP, &email, ATTACKER_PASSWORD).await;
            assert_eq!(racer.status(), StatusCode::UNAUTHORIZED, "{email}");
        }
    }
}
