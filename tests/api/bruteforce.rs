//! Guessing attacks: passwords per account and IP, per IP, per account; codes per address;
//! and mail bombing.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, all_backends, detail, retry_after, wrong_code};

const WRONG: &str = "definitely not it";

all_backends! {
    async fn five_wrong_passwords_lock_the_account_for_that_ip_even_with_the_right_one(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.verified_user("ann@example.com").await;
        for _ in 0..5 {
            let response = app.login_as("10.0.0.1", "ann@example.com", WRONG).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        let locked = app.login_as("10.0.0.1", "ann@example.com", PASSWORD).await;
        assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait = retry_after(&locked);
        assert!((800..=900).contains(&wait), "Retry-After {wait}");
        // The owner, from their own address, is not locked out.
        let owner = app.login_as("10.0.0.2", "ann@example.com", PASSWORD).await;
        assert_eq!(owner.status(), StatusCode::OK);
        // When the lockout ends, the right password works again from the first address.
        app.clock.advance(Duration::from_secs(wait));
        let later = app.login_as("10.0.0.1", "ann@example.com", PASSWORD).await;
        assert_eq!(later.status(), StatusCode::OK);
    }

    async fn a_lockout_looks_the_same_for_an_unknown_account(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.verified_user("ann@example.com").await;
        let mut bodies = Vec::new();
        for email in ["ann@example.com", "nobody@example.com"] {
            for _ in 0..5 {
                app.login_as("10.0.0.1", email, WRONG).await;
            }
            let locked = app.login_as("10.0.0.1", email, PASSWORD).await;
            assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
            bodies.push(detail(locked).await);
        }
        assert_eq!(bodies[0], bodies[1]);
    }

    async fn a_distributed_guesser_locks_the_account_only_briefly(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.verified_user("ann@example.com").await;
        for ip in 1..=4 {
            for _ in 0..5 {
                let response = app.login_as(&format!("10.0.1.{ip}"), "ann@example.com", WRONG).await;
                assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            }
        }
        let owner = app.login_as("10.0.2.1", "ann@example.com", PASSWORD).await;
        assert_eq!(owner.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait = retry_after(&owner);
        assert!(wait <= 300, "the account-wide lockout lasts {wait}s");
        app.clock.advance(Duration::from_secs(wait));
        let owner = app.login_as("10.0.2.1", "ann@example.com", PASSWORD).await;
        assert_eq!(owner.status(), StatusCode::OK);
    }

    async fn one_ip_spraying_many_accounts_is_locked_out(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.verified_user("ann@example.com").await;
        for n in 0..20 {
            let response = app.login_as("10.0.0.9", &format!("user{n}@example.com"), PASSWORD).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        let refused = app.login_as("10.0.0.9", "ann@example.com", PASSWORD).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let elsewhere = app.login_as("10.0.0.10", "ann@example.com", PASSWORD).await;
        assert_eq!(elsewhere.status(), StatusCode::OK);
    }

    async fn new_codes_do_not_buy_more_guesses(backend: Backend) {
        let app = backend.spawn().await;
        app.register("ann@example.com").await;
        // Four wrong tries per code (one short of burning it), then a fresh code, twice.
        for round in 0..3 {
            let code = app.last_code("ann@example.com");
            let tries = if round < 2 { 4 } else { 2 };
            for _ in 0..tries {
                let response = app.verify("ann@example.com", &wrong_code(&code)).await;
                assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            }
            app.clock.advance(Duration::from_secs(61));
            app.post("/api/auth/resend-verification-otp", json!({ "email": "ann@example.com" }))
                .await;
        }
        // Ten wrong codes for this address within the hour: even the right code is refused.
        let code = app.last_code("ann@example.com");
        let refused = app.verify("ann@example.com", &code).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(retry_after(&refused) > 0);
    }

    async fn resending_within_the_cooldown_is_refused_and_sends_nothing(backend: Backend) {
        let app = backend.spawn().await;
        app.register("ann@example.com").await;
        let first = app.last_code("ann@example.com");
        let mut bodies = Vec::new();
        for _ in 0..3 {
            let response = app
                .post("/api/auth/resend-verification-otp", json!({ "email": "ann@example.com" }))
                .await;
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            assert!((1..=60).contains(&retry_after(&response)));
            bodies.push(response.json::<Value>().await.unwrap());
        }
        assert!(bodies.windows(2).all(|w| w[0] == w[1]));
        assert!(bodies[0]["detail"].as_str().unwrap().contains("No email was sent"));
        assert_eq!(app.mailer.sent_to("ann@example.com").len(), 1);
        // The code that was sent still works.
        assert_eq!(app.verify("ann@example.com", &first).await.status(), StatusCode::OK);
    }

    async fn an_address_gets_at_most_six_emails_an_hour_from_all_clients(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.verified_user("ann@example.com").await;
        let forgot = |ip: &'static str| {
            app.clock.advance(Duration::from_secs(61));
            app.post_as(ip, "/api/auth/forgot-password", json!({ "email": "ann@example.com" }))
        };
        // One verification code already; five more reset codes from three clients.
        for ip in ["10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.2", "10.0.0.3"] {
            assert_eq!(forgot(ip).await.status(), StatusCode::OK);
        }
        let refused = forgot("10.0.0.4").await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(retry_after(&refused) > 60);
        assert_eq!(app.mailer.sent_to("ann@example.com").len(), 6);
        app.clock.advance(Duration::from_secs(3600));
        assert_eq!(forgot("10.0.0.4").await.status(), StatusCode::OK);
        assert_eq!(app.mailer.sent_to("ann@example.com").len(), 7);
    }

    async fn wrong_codes_from_other_ips_do_not_stop_the_owners_reset_code(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.verified_user("ann@example.com").await;
        app.clock.advance(Duration::from_secs(61));
        let forgot = json!({ "email": "ann@example.com" });
        app.post_as("10.0.0.2", "/api/auth/forgot-password", forgot).await;
        let code = app.last_code("ann@example.com");
        // Four attackers, each past its own budget (12 guesses: 5 at the code, then 429s).
        for n in 1..=4 {
            let ip = format!("6.6.6.{n}");
            for guess in 0..12 {
                let body = json!({ "email": "ann@example.com", "otp": wrong_code(&code), "new_password": "attacker chosen phrase" });
                let response = app.post_as(&ip, "/api/auth/reset-password", body).await;
                let expected = if guess < 10 { StatusCode::BAD_REQUEST } else { StatusCode::TOO_MANY_REQUESTS };
                assert_eq!(response.status(), expected, "guess {guess} from {ip}");
            }
        }
        let body = json!({ "email": "ann@example.com", "otp": code, "new_password": "velvet orchard tempest" });
        let owner = app.post_as("10.0.0.2", "/api/auth/reset-password", body).await;
        assert_eq!(owner.status(), StatusCode::OK);
        assert_eq!(app.login("ann@example.com", "velvet orchard tempest").await.status(), StatusCode::OK);
    }

    async fn wrong_codes_from_another_ip_do_not_stop_the_owners_verification(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.register_as("10.0.0.2", "ann@example.com", PASSWORD).await;
        let code = app.last_code("ann@example.com");
        for _ in 0..20 {
            let body = json!({ "email": "ann@example.com", "otp": wrong_code(&code) });
            app.post_as("6.6.6.6", "/api/auth/verify-email", body).await;
        }
        let body = json!({ "email": "ann@example.com", "otp": code });
        assert_eq!(app.post_as("10.0.0.2", "/api/auth/verify-email", body).await.status(), StatusCode::OK);
    }

    async fn one_ip_gets_at_most_max_attempts_tries_at_a_code_even_with_the_right_one_after(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.register_as("10.0.0.2", "ann@example.com", PASSWORD).await;
        let code = app.last_code("ann@example.com");
        for _ in 0..5 {
            let body = json!({ "email": "ann@example.com", "otp": wrong_code(&code) });
            let response = app.post_as("6.6.6.6", "/api/auth/verify-email", body).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        }
        // Its sixth try, right or not, is refused: guessing on would have no bound.
        let right = json!({ "email": "ann@example.com", "otp": code });
        let refused = app.post_as("6.6.6.6", "/api/auth/verify-email", right.clone()).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert_eq!(app.post_as("10.0.0.2", "/api/auth/verify-email", right).await.status(), StatusCode::OK);
    }

    async fn many_ips_together_burn_a_code_but_only_past_the_total_bound(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        for (email, attackers) in [("kept@example.com", 9), ("burned@example.com", 10)] {
            app.register_as("10.0.0.2", email, PASSWORD).await;
            let code = app.last_code(email);
            for n in 0..attackers {
                for _ in 0..5 {
                    let body = json!({ "email": email, "otp": wrong_code(&code) });
                    app.post_as(&format!("6.6.7.{n}"), "/api/auth/verify-email", body).await;
                }
            }
            let owner = app.post_as("10.0.0.2", "/api/auth/verify-email", json!({ "email": email, "otp": code })).await;
            let expected = if attackers < 10 { StatusCode::OK } else { StatusCode::BAD_REQUEST };
            assert_eq!(owner.status(), expected, "{attackers} attacking IPs");
        }
    }

    async fn one_ip_cannot_use_up_an_addresss_email_budget(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.verified_user("ann@example.com").await;
        let forgot = json!({ "email": "ann@example.com" });
        for n in 0..6 {
            app.clock.advance(Duration::from_secs(61));
            let response = app.post_as("6.6.6.6", "/api/auth/forgot-password", forgot.clone()).await;
            let expected = if n < 3 { StatusCode::OK } else { StatusCode::TOO_MANY_REQUESTS };
            assert_eq!(response.status(), expected, "request {n} from the attacker");
        }
        let sent = app.mailer.sent_to("ann@example.com").len();
        app.clock.advance(Duration::from_secs(61));
        let owner = app.post_as("10.0.0.2", "/api/auth/forgot-password", forgot).await;
        assert_eq!(owner.status(), StatusCode::OK);
        assert_eq!(app.mailer.sent_to("ann@example.com").len(), sent + 1, "the owner's code was sent");
    }
}
