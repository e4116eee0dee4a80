//! Load shedding: a login flood gets 503 with Retry-After beyond the bcrypt queue, at once,
//! while cheap requests like /me keep answering.

use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use serde_json::json;

use authd::limits::HashLimits;

use crate::helpers::{Backend, PASSWORD, all_backends};

all_backends! {
    async fn a_login_flood_is_shed_with_503_while_me_keeps_answering(backend: Backend) {
        let app = backend
            .spawn_with(|c| {
                c.auth.bcrypt_cost = 11;
                c.auth.hash_limits = HashLimits { concurrent: 1, queued: 2 };
                c.auth.login_limits.per_account_ip.max = 1_000;
                c.auth.login_limits.per_ip.max = 1_000;
                c.auth.login_limits.per_account.max = 1_000;
            })
            .await;
        let token = app.logged_in_user("ann@example.com").await;

        let flood: Vec<_> = (0..16)
            .map(|_| {
                let client = reqwest::Client::new();
                let url = app.url("/api/auth/login");
                tokio::spawn(async move {
                    let body = json!({ "email": "ann@example.com", "password": PASSWORD });
                    client.post(url).json(&body).send().await.unwrap()
                })
            })
            .collect();
        // While the flood runs, /me answers.
        for _ in 0..10 {
            assert_eq!(app.me_with_bearer(&token).await.status(), StatusCode::OK);
        }
        let mut shed = 0;
        let mut served = 0;
        for login in flood {
            let response = login.await.unwrap();
            match response.status() {
                StatusCode::OK => served += 1,
                StatusCode::SERVICE_UNAVAILABLE => {
                    shed += 1;
                    assert_eq!(response.headers()[RETRY_AFTER], "1");
                    let body: serde_json::Value = response.json().await.unwrap();
                    assert!(body["detail"].as_str().unwrap().contains("busy"));
                }
                other => panic!("a login answered {other}"),
            }
        }
        // One running and two waiting at a time: most of 16 simultaneous logins are shed.
        assert!(served >= 3, "served {served}");
        assert!(shed >= 8, "shed {shed}");
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::OK);
    }
}
