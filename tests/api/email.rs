//! Real email over SMTP, to a test SMTP server listening on a loopback port.

use std::time::{Duration, Instant};

use authd::clock::Clock;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, all_backends};
use crate::smtp_server::{SmtpServer, free_port};

const WAIT: Duration = Duration::from_secs(20);

fn registration(email: &str) -> Value {
    json!({ "name": "Test User", "email": email, "password": PASSWORD })
}

all_backends! {
    async fn the_verification_email_arrives_well_formed_and_its_code_verifies(backend: Backend) {
        let smtp = SmtpServer::start().await;
        let app = backend.spawn_smtp(smtp.addr.port(), |_| {}).await;
        assert_eq!(app.register("ann@example.com").await.status(), StatusCode::CREATED);
        let mail = smtp.wait_for(1, WAIT).await;
        assert_eq!(mail.len(), 1, "no email arrived");
        let m = &mail[0];
        assert_eq!(m.rcpt_to, ["ann@example.com"]);
        assert!(m.header("To").unwrap().contains("ann@example.com"));
        let from = m.header("From").unwrap();
        assert!(from.contains("Acme") && from.contains("<no-reply@acme.test>"), "{from}");
        assert_eq!(m.header("Subject").unwrap(), "Your Acme verification code");
        assert!(m.header("Content-Type").unwrap().starts_with("multipart/alternative"));
        assert!(m.data.contains("text/plain") && m.data.contains("text/html"));
        assert!(m.data.contains("expires in 5 minutes"));
        let verified = app.verify("ann@example.com", &m.code()).await;
        assert_eq!(verified.status(), StatusCode::OK);
    }

    async fn the_verification_email_says_when_but_never_repeats_the_name_given(backend: Backend) {
        let smtp = SmtpServer::start().await;
        let app = backend.spawn_smtp(smtp.addr.port(), |_| {}).await;
        let name = "Call 555-0100 to claim your prize";
        let body = json!({ "name": name, "email": "ann@example.com", "password": PASSWORD });
        assert_eq!(app.post("/api/auth/register", body).await.status(), StatusCode::CREATED);
        let mail = smtp.wait_for(1, WAIT).await;
        let m = &mail[0];
        assert!(!m.data.contains("555-0100") && !m.data.contains("prize"), "{}", m.data);
        let registered = app.clock.now().format("on %Y-%m-%d at %H:%M UTC").to_string();
        assert!(m.data.contains(&registered), "{registered} not in {}", m.data);
    }

    async fn an_internationalised_domain_is_delivered_to_its_a_label_form(backend: Backend) {
        let smtp = SmtpServer::start().await;
        let app = backend.spawn_smtp(smtp.addr.port(), |_| {}).await;
        let body = json!({ "name": "Ann", "email": "ann@b\u{fc}cher.example", "password": PASSWORD });
        assert_eq!(app.post("/api/auth/register", body).await.status(), StatusCode::CREATED);
        let mail = smtp.wait_for(1, WAIT).await;
        assert_eq!(mail[0].rcpt_to, ["ann@xn--bcher-kva.example"]);
    }

    async fn a_bouncing_address_does_not_flip_health_so_health_tells_nothing_about_accounts(backend: Backend) {
        let smtp = SmtpServer::start().await;
        let app = backend.spawn_smtp(smtp.addr.port(), |_| {}).await;
        // A mailbox that refuses mail: its rejection is about that message, not the server.
        assert_eq!(app.register("bounce@example.com").await.status(), StatusCode::CREATED);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            let health: Value = app.get("/health").await.json().await.unwrap();
            assert_eq!(health["email"], "ok", "a bounce made delivery look degraded");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn the_reset_email_code_resets_the_password_and_a_notice_follows(backend: Backend) {
        let smtp = SmtpServer::start().await;
        let app = backend.spawn_smtp(smtp.addr.port(), |_| {}).await;
        app.register("ann@example.com").await;
        let code = smtp.wait_for(1, WAIT).await[0].code();
        app.verify("ann@example.com", &code).await;
        app.post("/api/auth/forgot-password", json!({ "email": "ann@example.com" })).await;
        let mail = smtp.wait_for(2, WAIT).await;
        assert_eq!(mail[1].header("Subject").unwrap(), "Your Acme password reset code");
        let body = json!({ "email": "ann@example.com", "otp": mail[1].code(), "new_password": "velvet orchard tempest" });
        assert_eq!(app.post("/api/auth/reset-password", body).await.status(), StatusCode::OK);
        assert_eq!(app.login("ann@example.com", "velvet orchard tempest").await.status(), StatusCode::OK);
        let mail = smtp.wait_for(3, WAIT).await;
        assert_eq!(mail[2].header("Subject").unwrap(), "Your Acme password was changed");
    }

    async fn a_dead_mail_server_changes_nothing_for_the_client_and_mail_follows_when_it_returns(backend: Backend) {
        let port = free_port();
        let app = backend.spawn_smtp(port, |c| c.auth.bcrypt_cost = 9).await;
        let mut times = Vec::new();
        let mut bodies = Vec::new();
        for i in 0..5 {
            let started = Instant::now();
            let response = app.post_now("/api/auth/register", registration(&format!("down{i}@example.com"))).await;
            times.push(started.elapsed());
            assert_eq!(response.status(), StatusCode::CREATED);
            let mut body: Value = response.json().await.unwrap();
            body["email"] = Value::Null;
            bodies.push(body);
        }
        // The instance reports the trouble without failing its health check.
        let deadline = Instant::now() + WAIT;
        let health: Value = loop {
            let health = app.get("/health").await;
            assert_eq!(health.status(), StatusCode::OK);
            let body: Value = health.json().await.unwrap();
            if body["email"] == "degraded" || Instant::now() > deadline {
                break body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(health["email"], "degraded");

        let smtp = SmtpServer::start_on(port).await;
        let mut up_times = Vec::new();
        for i in 0..5 {
            let started = Instant::now();
            let response = app.post_now("/api/auth/register", registration(&format!("up{i}@example.com"))).await;
            up_times.push(started.elapsed());
            let mut body: Value = response.json().await.unwrap();
            body["email"] = Value::Null;
            assert_eq!(body, bodies[0]);
        }
        times.sort_unstable();
        up_times.sort_unstable();
        let (down, up) = (times[2], up_times[2]);
        assert!(down < up * 2 && up < down * 2, "medians: down {down:?}, up {up:?}");

        // The messages queued while the server was down go out once it is back.
        let mail = smtp.wait_for(10, WAIT).await;
        assert_eq!(mail.len(), 10);
        let code = mail.iter().find(|m| m.rcpt_to == ["down0@example.com"]).unwrap().code();
        assert_eq!(app.verify("down0@example.com", &code).await.status(), StatusCode::OK);
        let health: Value = app.get("/health").await.json().await.unwrap();
        assert_eq!(health["email"], "ok");
        assert_eq!(app.login("down0@example.com", PASSWORD).await.status(), StatusCode::OK);
    }
}
