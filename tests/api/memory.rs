//! The in-process stores are capped (MEMORY_MAX_ENTRIES): a flood of new addresses or clients
//! stays within the cap, yet neither lifts a lockout nor locks anyone else out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authd::store::{MemoryCodeStore, MemoryCounters};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, Shared, all_backends};

const CAP: usize = 120;

all_backends! {
    async fn a_flood_of_new_keys_stays_within_the_cap_and_lifts_no_lockout(backend: Backend) {
        let counters = Arc::new(MemoryCounters::with_capacity(CAP));
        let codes = Arc::new(MemoryCodeStore::with_capacity(CAP));
        let with = Shared {
            counters: Some(counters.clone()),
            codes: Some(codes.clone()),
            ..Shared::default()
        };
        let app = backend.spawn_sharing(|c| c.http.trust_proxy = true, with).await;
        app.verified_user("ann@example.com").await;
        // Ann's password is guessed from 6.6.6.6 until that pair is locked.
        for _ in 0..5 {
            app.login_as("6.6.6.6", "ann@example.com", "not the password").await;
        }
        let locked = app.login_as("6.6.6.6", "ann@example.com", PASSWORD).await;
        assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
        // A flood of requests for new addresses, each asking for a code and a counter or three.
        for n in 0..400 {
            let ip = format!("6.6.{}.{}", 10 + n / 200, n % 200);
            let email = format!("flood{n}@example.com");
            let response = app.register_as(&ip, &email, PASSWORD).await;
            assert_eq!(response.status(), StatusCode::CREATED, "{email}");
            assert!(counters.len() <= CAP, "{} counters held", counters.len());
            assert!(codes.len() <= CAP, "{} codes held", codes.len());
        }
        // The lockout held, and nobody else is locked out.
        let still = app.login_as("6.6.6.6", "ann@example.com", PASSWORD).await;
        assert_eq!(still.status(), StatusCode::TOO_MANY_REQUESTS);
        let owner = app.login_as("10.0.0.9", "ann@example.com", PASSWORD).await;
        assert_eq!(owner.status(), StatusCode::OK);
        let register = app.register_as("10.0.0.9", "bob@example.com", PASSWORD).await;
        assert_eq!(register.status(), StatusCode::CREATED);
        let code = app.last_code("bob@example.com");
        let verify = app.post_as("10.0.0.9", "/api/auth/verify-email", json!({ "email": "bob@example.com", "otp": code })).await;
        assert_eq!(verify.status(), StatusCode::OK);
    }

    async fn the_rate_limiters_track_at_most_the_cap_and_serve_again_once_buckets_refill(backend: Backend) {
        let app = backend
            .spawn_with(|c| {
                c.http.trust_proxy = true;
                // Buckets that refill within a second, so the test need not wait long.
                c.http.general_rate.period = Duration::from_millis(1);
                c.http.credential_rate.period = Duration::from_millis(1);
                c.http.max_clients = CAP;
            })
            .await;
        let mut refused = 0;
        for n in 0..400 {
            let response = app.post_as(&format!("6.7.{}.{}", n / 200, n % 200), "/api/auth/login", json!({ "email": "x@example.com", "password": "y" })).await;
            if response.status() == StatusCode::SERVICE_UNAVAILABLE {
                refused += 1;
            }
            assert!(app.limiters.tracked_clients() <= CAP, "{} clients tracked", app.limiters.tracked_clients());
        }
        let started = Instant::now();
        let mut status = StatusCode::SERVICE_UNAVAILABLE;
        while started.elapsed() < Duration::from_secs(10) {
            status = app.get("/health").await.status();
            if status == StatusCode::OK {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(status, StatusCode::OK, "the server serves again once idle clients are forgotten");
        eprintln!("{refused} of 400 flood requests were refused while the limiters were full");
    }
}
