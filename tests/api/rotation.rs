//! Rotating the signing key with `JWT_SECRET_PREVIOUS`: a server on the new key still accepts
//! the tokens of the old one (and the TOTP secrets sealed before, with the key `authd mfa-key`
//! pinned in `MFA_ENCRYPTION_KEY`), signs new tokens with the new key, and accepts no other
//! key's; and the binary refuses to rotate without the pinned key.

use std::time::Duration;

use reqwest::StatusCode;
use secrecy::SecretString;

use crate::admin_cli::authd;
use crate::binary::{Binary, STRONG};
use crate::helpers::{Backend, Shared, TEST_SECRET, TestApp, all_backends};

const NEW_SECRET: &str = "the-new-signing-key-of-at-least-32-bytes-rotated";
const STRANGER: &str = "a-key-nobody-here-ever-used-for-signing-0123456";

/// The key that seals TOTP secrets under `jwt_secret`, as `authd mfa-key` prints it.
async fn mfa_key_of(jwt_secret: &str) -> String {
    let run = authd(&["mfa-key"], &[("JWT_SECRET", jwt_secret)])
        .await
        .ok();
    run.stdout.trim().to_owned()
}

/// Another instance on the database (and clock) of `first`, signing with `secret`, accepting
/// `previous` too, sealing TOTP secrets with `mfa_key`.
async fn instance(
    backend: &Backend,
    first: &TestApp,
    secret: &str,
    previous: Option<&str>,
    mfa_key: &str,
) -> TestApp {
    let shared = Shared {
        database_url: Some(first.database_url.clone()),
        clock: Some(first.clock.clone()),
        ..Shared::default()
    };
    let (secret, previous, mfa_key) = (
        secret.to_owned(),
        previous.map(str::to_owned),
        mfa_key.to_owned(),
    );
    backend
        .spawn_sharing(
            move |c| {
                c.auth.jwt_secret = Some(SecretString::from(secret));
                c.auth.jwt_secret_previous = previous.map(SecretString::from);
                c.auth.mfa_encryption_key = Some(SecretString::from(mfa_key));
            },
            shared,
        )
        .await
}

all_backends! {
    async fn sessions_signed_with_the_previous_key_survive_the_rotation(backend: Backend) {
        let old = backend.spawn().await;
        let user = old.mfa_user("ann@example.com").await;
        let plain = old.logged_in_user("bob@example.com").await;
        let pinned = mfa_key_of(TEST_SECRET).await;
        let rotating = instance(&backend, &old, NEW_SECRET, Some(TEST_SECRET), &pinned).await;

        // The old key's tokens are still good, and the TOTP secrets still open.
        for token in [&user.token, &plain] {
            assert_eq!(rotating.me_with_bearer(token).await.status(), StatusCode::OK);
        }
        assert!(rotating.mfa_enabled(&user.token).await);
        let fresh = rotating.mfa_login(&user).await;
        assert_eq!(rotating.me_with_bearer(&fresh).await.status(), StatusCode::OK);
        let bob_fresh = rotating.another_device("bob@example.com").await;

        // New tokens are signed with the new key: a server that knows only the old one
        // refuses them, one that knows only the new one (the rotation over) accepts them.
        assert_eq!(old.me_with_bearer(&fresh).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(old.me_with_bearer(&bob_fresh).await.status(), StatusCode::UNAUTHORIZED);
        let rotated = instance(&backend, &old, NEW_SECRET, None, &pinned).await;
        assert_eq!(rotated.me_with_bearer(&fresh).await.status(), StatusCode::OK);
        assert_eq!(rotated.me_with_bearer(&bob_fresh).await.status(), StatusCode::OK);
        assert_eq!(rotated.me_with_bearer(&plain).await.status(), StatusCode::UNAUTHORIZED);
        // The pinned key keeps the TOTP secrets open after the rotation too.
        let after = rotated.mfa_login(&user).await;
        assert_eq!(rotated.me_with_bearer(&after).await.status(), StatusCode::OK);
    }

    async fn a_token_signed_with_any_other_key_is_refused(backend: Backend) {
        let old = backend.spawn().await;
        old.verified_user("bob@example.com").await;
        let pinned = mfa_key_of(TEST_SECRET).await;
        // A real session of a real user, signed with a key neither the old nor the new is.
        let stranger = instance(&backend, &old, STRANGER, None, &pinned).await;
        let forged = stranger.another_device("bob@example.com").await;
        assert_eq!(stranger.me_with_bearer(&forged).await.status(), StatusCode::OK);
        let rotating = instance(&backend, &old, NEW_SECRET, Some(TEST_SECRET), &pinned).await;
        assert_eq!(rotating.me_with_bearer(&forged).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(old.me_with_bearer(&forged).await.status(), StatusCode::UNAUTHORIZED);
    }
}

#[test]
fn the_binary_refuses_to_rotate_without_a_pinned_mfa_key() {
    let mut refused = Binary::start(&[("JWT_SECRET", NEW_SECRET), ("JWT_SECRET_PREVIOUS", STRONG)]);
    let status = refused
        .exit_within(Duration::from_secs(30))
        .expect("the server refuses to start instead of serving");
    assert!(!status.success());
    let output = refused.output();
    assert!(
        output.contains("MFA_ENCRYPTION_KEY") && output.contains("authd mfa-key"),
        "{output}"
    );
    // With the key pinned, the same rotation starts.
    let pinned = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let started = Binary::start(&[
        ("JWT_SECRET", NEW_SECRET),
        ("JWT_SECRET_PREVIOUS", STRONG),
        ("MFA_ENCRYPTION_KEY", pinned),
    ]);
    assert!(
        started.base_url(Duration::from_secs(30)).is_some(),
        "{}",
        started.output()
    );
}

#[test]
fn a_previous_key_needs_a_current_one_as_strong() {
    let pinned = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    for env in [
        &[
            ("JWT_SECRET", NEW_SECRET),
            ("JWT_SECRET_PREVIOUS", "short"),
            ("MFA_ENCRYPTION_KEY", pinned),
        ][..],
        &[
            ("JWT_SECRET_PREVIOUS", STRONG),
            ("MFA_ENCRYPTION_KEY", pinned),
        ],
    ] {
        let mut authd = Binary::start(env);
        let status = authd.exit_within(Duration::from_secs(30)).expect("refused");
        assert!(!status.success(), "{env:?}");
        assert!(
            authd.output().contains("JWT_SECRET_PREVIOUS"),
            "{}",
            authd.output()
        );
    }
}
