//! TOTP codes computed in the test, as an authenticator app would: the base32 secret that setup
//! answers, RFC 4226 HOTP over HMAC-SHA-1 and RFC 6238 time steps of 30 seconds read from the
//! test app's hand-driven clock. Written here from the RFCs, not taken from the server, and
//! checked against the RFC 6238 test vectors; and helpers to turn two-factor login on and
//! finish a login with it.

use authd::clock::Clock;
use hmac::{Hmac, Mac};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use sha1::Sha1;

use super::{PASSWORD, TestApp, client};

/// Seconds in a time step.
pub const STEP: u64 = 30;

/// The RFC 4226 value of `key` at `counter`, cut to `digits` decimal digits.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).unwrap();
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    // Dynamic truncation: the low nibble of the last byte picks four bytes.
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let word = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    word % 10u32.pow(digits)
}

/// An authenticator app holding one secret.
#[derive(Clone, Debug)]
pub struct Totp {
    pub key: Vec<u8>,
}

impl Totp {
    /// The app after the user typed (or scanned) `secret`.
    pub fn from_base32(secret: &str) -> Self {
        // The server's decoder (unit-tested against RFC 4648); the codes below are this file's
        // own HOTP, checked against the RFCs' vectors, so they do not trust the server's.
        let key = authd::domain::TotpSecret::from_base32(secret)
            .unwrap_or_else(|| panic!("not base32: {secret:?}"))
            .expose()
            .to_vec();
        Self { key }
    }

    /// The 6-digit code of time step `step`.
    pub fn code_at_step(&self, step: i64) -> String {
        format!("{:06}", hotp(&self.key, step.unsigned_abs(), 6))
    }

    /// The code the app shows at Unix time `unix`.
    pub fn code_at(&self, unix: i64) -> String {
        self.code_at_step(step_of(unix))
    }
}

/// The time step of Unix time `unix`.
pub fn step_of(unix: i64) -> i64 {
    unix.div_euclid(STEP as i64)
}

/// A user with two-factor login on: the session that turned it on, the app, and the recovery
/// codes shown at enable.
pub struct MfaUser {
    pub email: String,
    pub token: String,
    pub app: Totp,
    pub recovery_codes: Vec<String>,
}

impl TestApp {
    /// The time step the server is in now.
    pub fn step(&self) -> i64 {
        step_of(self.clock.now().timestamp())
    }

    /// Moves the clock on by `steps` time steps.
    pub fn advance_steps(&self, steps: u64) {
        self.clock
            .advance(std::time::Duration::from_secs(STEP * steps));
    }

    /// The code `app` shows now, by the server's clock.
    pub fn code_now(&self, app: &Totp) -> String {
        app.code_at_step(self.step())
    }

    /// Moves the clock to the next time step and returns its code: a code no earlier use of
    /// the second factor has spent.
    pub fn fresh_code(&self, app: &Totp) -> String {
        self.advance_steps(1);
        self.code_now(app)
    }

    /// POST /api/auth/mfa/totp/setup as the device holding `token`.
    pub async fn totp_setup(&self, token: &str, password: &str) -> Response {
        let body = json!({ "password": password });
        self.post_as_device(token, "/api/auth/mfa/totp/setup", body)
            .await
    }

    /// POST /api/auth/mfa/totp/enable as the device holding `token`.
    pub async fn totp_enable(&self, token: &str, code: &str) -> Response {
        let body = json!({ "code": code });
        self.post_as_device(token, "/api/auth/mfa/totp/enable", body)
            .await
    }

    /// Sets up and enables TOTP for the signed-in device `token` of `email`, checking each
    /// answer; then moves the clock to the next step, so that the code of now is unspent.
    pub async fn turn_on_mfa(&self, email: &str, token: &str) -> MfaUser {
        let setup = self.totp_setup(token, PASSWORD).await;
        assert_eq!(setup.status(), StatusCode::OK, "setup of {email}");
        let setup: Value = setup.json().await.unwrap();
        let base32 = setup["secret"].as_str().expect("secret").to_owned();
        let app = Totp::from_base32(&base32);
        let enabled = self.totp_enable(token, &self.code_now(&app)).await;
        assert_eq!(enabled.status(), StatusCode::OK, "enable for {email}");
        let enabled: Value = enabled.json().await.unwrap();
        let recovery_codes = enabled["recovery_codes"]
            .as_array()
            .expect("recovery codes")
            .iter()
            .map(|c| c.as_str().expect("a code").to_owned())
            .collect();
        self.advance_steps(1);
        MfaUser {
            email: email.to_owned(),
            token: token.to_owned(),
            app,
            recovery_codes,
        }
    }

    /// Registers, verifies and logs in `email`, then turns two-factor login on.
    pub async fn mfa_user(&self, email: &str) -> MfaUser {
        let token = self.logged_in_user(email).await;
        self.turn_on_mfa(email, &token).await
    }

    /// The first step of a login of an account with two-factor login on, from a client with
    /// no cookies: checks that no session came with it and returns the `mfa_token`.
    pub async fn mfa_token(&self, email: &str, password: &str) -> String {
        let request = client()
            .post(self.url("/api/auth/login"))
            .json(&json!({ "email": email, "password": password }));
        mfa_token_of(self.send_settled(request).await).await
    }

    /// POST /api/auth/mfa/verify with `body`, from a client with no cookies.
    pub async fn mfa_verify(&self, body: Value) -> Response {
        let request = client().post(self.url("/api/auth/mfa/verify")).json(&body);
        self.send_settled(request).await
    }

    /// The second step with a TOTP code.
    pub async fn verify_code(&self, mfa_token: &str, code: &str) -> Response {
        self.mfa_verify(json!({ "mfa_token": mfa_token, "code": code }))
            .await
    }

    /// The second step with a recovery code.
    pub async fn verify_recovery(&self, mfa_token: &str, recovery_code: &str) -> Response {
        self.mfa_verify(json!({ "mfa_token": mfa_token, "recovery_code": recovery_code }))
            .await
    }

    /// The second step with a TOTP code, from the client `ip` (needs `trust_proxy`).
    pub async fn verify_code_as(&self, ip: &str, mfa_token: &str, code: &str) -> Response {
        let body = json!({ "mfa_token": mfa_token, "code": code });
        self.post_as(ip, "/api/auth/mfa/verify", body).await
    }

    /// A whole two-factor login of `user` with the code of a fresh step; returns the token.
    pub async fn mfa_login(&self, user: &MfaUser) -> String {
        let mfa_token = self.mfa_token(&user.email, PASSWORD).await;
        let response = self
            .verify_code(&mfa_token, &self.fresh_code(&user.app))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "second step of {}",
            user.email
        );
        super::token_of(response).await
    }

    /// GET /me as `token`: whether the account has two-factor login on.
    pub async fn mfa_enabled(&self, token: &str) -> bool {
        let me = self.as_device(token, Method::GET, "/api/auth/me");
        let me: Value = me.send().await.unwrap().json().await.unwrap();
        me["mfa_enabled"]
            .as_bool()
            .unwrap_or_else(|| panic!("no mfa_enabled in {me}"))
    }
}

/// The `mfa_token` of a login answer that asked for the second factor; checks that the answer
/// opened no session (no cookie, no access token).
pub async fn mfa_token_of(response: Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        super::set_cookie(&response),
        "",
        "a cookie before the second factor"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["mfa_required"], true, "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
    assert!(body.get("user").is_none(), "{body}");
    assert!(body["message"].is_string(), "{body}");
    body["mfa_token"].as_str().expect("mfa_token").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SHA-1 key of RFC 6238, appendix B.
    const RFC_KEY: &[u8] = b"12345678901234567890";

    #[test]
    fn the_test_computes_the_rfc_6238_sha1_vectors() {
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        let app = Totp::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(app.key, RFC_KEY);
        for (time, eight) in vectors {
            let counter = step_of(time).unsigned_abs();
            assert_eq!(
                format!("{:08}", hotp(RFC_KEY, counter, 8)),
                eight,
                "t={time}"
            );
            assert_eq!(app.code_at(time), eight[2..], "t={time}");
        }
    }

    #[test]
    fn the_test_computes_the_rfc_4226_hotp_vectors() {
        let values = [
            755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871,
            520_489,
        ];
        for (counter, value) in values.into_iter().enumerate() {
            assert_eq!(hotp(RFC_KEY, counter as u64, 6), value, "counter {counter}");
        }
    }
}
