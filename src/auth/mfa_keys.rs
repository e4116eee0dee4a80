//! The keys of the second factor: TOTP secrets sealed at rest (XChaCha20-Poly1305, bound to
//! their user), recovery codes kept as keyed digests, and the short-lived signed token that
//! carries a login from the password to the second factor.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Utc};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};

use crate::domain::{RecoveryCode, TotpSecret, UserId};

/// Bytes of the key that seals TOTP secrets.
pub const MFA_KEY_BYTES: usize = 32;

/// The key that seals TOTP secrets and keys the digests of recovery codes: from
/// `MFA_ENCRYPTION_KEY`, derived from `JWT_SECRET`, or (development) kept in a file.
pub struct MfaKey(SecretBox<[u8; MFA_KEY_BYTES]>);

impl MfaKey {
    pub fn new(bytes: [u8; MFA_KEY_BYTES]) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// A key derived from the JWT secret with HKDF-SHA-256, for deployments that set no
    /// `MFA_ENCRYPTION_KEY`: the same secret always gives the same key, and the key tells
    /// nothing of the secret.
    pub fn derived_from(jwt_secret: &[u8]) -> Self {
        Self::new(derive(jwt_secret, b"authd mfa encryption key v1"))
    }

    /// The key as 64 hex characters, what `MFA_ENCRYPTION_KEY` takes: for the operator's
    /// `authd mfa-key`, which pins a derived key before `JWT_SECRET` is rotated.
    pub fn to_hex(&self) -> String {
        hex::encode(self.expose())
    }

    fn expose(&self) -> &[u8; MFA_KEY_BYTES] {
        self.0.expose_secret()
    }
}

/// What an `mfa_token` says: whose login it continues, until when, under which password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaClaims {
    pub user: UserId,
    /// Unix seconds.
    pub expires_at: i64,
    /// Random, so that each token is used once.
    pub nonce: String,
    /// A digest of the password hash the login was checked against: a password reset in
    /// between voids the token.
    pub password: String,
}

/// The keys, each drawn apart from its source with HKDF so that no two uses share one.
pub struct MfaKeys {
    secrets: Sealer,
    recovery: [u8; 32],
    token: [u8; 32],
}

/// The sealer of queued email bodies under `key`: a key of its own, derived from it, so a body
/// that carries a code is unreadable in the database and opens again after a restart.
pub fn mail_sealer(key: &MfaKey) -> Sealer {
    Sealer::new(&derive(key.expose(), b"authd outbox bodies v1"))
}

/// Authenticated encryption with one key: XChaCha20-Poly1305, a random nonce per message, and
/// associated data that binds each sealed value to what it belongs to.
pub struct Sealer(XChaCha20Poly1305);

impl Sealer {
    fn new(key: &[u8; 32]) -> Self {
        Self(XChaCha20Poly1305::new(key.into()))
    }

    /// `message` sealed: `v1.` then the nonce and ciphertext, hex-encoded. It opens only with
    /// this key and the same `aad`.
    pub fn seal(&self, aad: &[u8], message: &[u8]) -> String {
        let nonce_bytes: [u8; NONCE_BYTES] = rand::random();
        let nonce = XNonce::from(nonce_bytes);
        let payload = Payload { msg: message, aad };
        // Encryption fails only for messages beyond the cipher's limit (256 GiB).
        let sealed = self.0.encrypt(&nonce, payload).unwrap_or_default();
        let mut bytes = nonce_bytes.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{SEALED_V1}{}", hex::encode(bytes))
    }

    /// The message in `sealed`; `None` if it was sealed with another key or `aad`, or altered.
    pub fn open(&self, aad: &[u8], sealed: &str) -> Option<Vec<u8>> {
        let bytes = hex::decode(sealed.strip_prefix(SEALED_V1)?).ok()?;
        if bytes.len() <= NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce = XNonce::from(<[u8; NONCE_BYTES]>::try_from(nonce).ok()?);
        let payload = Payload {
            msg: ciphertext,
            aad,
        };
        self.0.decrypt(&nonce, payload).ok()
    }
}

type HmacSha256 = Hmac<Sha256>;

/// Prefix of a sealed secret, naming the scheme so another can follow.
const SEALED_V1: &str = "v1.";
const NONCE_BYTES: usize = 24;

impl MfaKeys {
    /// The keys from the sealing key and the JWT signing key (the token that carries a login
    /// to its second factor is signed with a key of its own, derived from the latter).
    pub fn new(key: &MfaKey, signing_key: &[u8]) -> Self {
        Self {
            secrets: Sealer::new(key.expose()),
            recovery: derive(key.expose(), b"authd recovery code digests v1"),
            token: derive(signing_key, b"authd mfa token v1"),
        }
    }

    /// `secret` sealed for `user`. It opens only with this key and only for this user (the
    /// user id is the associated data), so a database dump yields no secret, and a sealed
    /// secret copied to another row opens for no one.
    pub fn seal(&self, user: UserId, secret: &TotpSecret) -> String {
        self.secrets.seal(&associated(user), secret.expose())
    }

    /// The secret sealed for `user`; `None` if it was sealed with another key, for another
    /// user, or altered.
    pub fn open(&self, user: UserId, sealed: &str) -> Option<TotpSecret> {
        self.secrets
            .open(&associated(user), sealed)
            .map(TotpSecret::from_bytes)
    }

    /// The stored form of a recovery code of `user`: HMAC-SHA-256 under a key the database
    /// does not hold, so a dump cannot be searched for the codes offline.
    pub fn recovery_digest(&self, user: UserId, code: &RecoveryCode) -> String {
        let mut mac = hmac(&self.recovery);
        mac.update(format!("{user}|{}", code.canonical()).as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A signed token of `claims`: `user.expires.nonce.password.signature`.
    pub fn issue_token(&self, claims: &MfaClaims) -> String {
        let body = format!(
            "{}.{}.{}.{}",
            claims.user, claims.expires_at, claims.nonce, claims.password
        );
        let mut mac = hmac(&self.token);
        mac.update(body.as_bytes());
        format!("{body}.{}", hex::encode(mac.finalize().into_bytes()))
    }

    /// The claims of a token this server signed and that has not expired at `now`.
    pub fn check_token(&self, token: &str, now: DateTime<Utc>) -> Option<MfaClaims> {
        let (body, signature) = token.rsplit_once('.')?;
        let signature = hex::decode(signature).ok()?;
        let mut mac = hmac(&self.token);
        mac.update(body.as_bytes());
        mac.verify_slice(&signature).ok()?;
        let mut parts = body.split('.');
        let user = UserId::new(parts.next()?.parse().ok()?);
        let expires_at: i64 = parts.next()?.parse().ok()?;
        let nonce = parts.next()?.to_owned();
        let password = parts.next()?.to_owned();
        if parts.next().is_some() || expires_at <= now.timestamp() {
            return None;
        }
        Some(MfaClaims {
            user,
            expires_at,
            nonce,
            password,
        })
    }
}

/// A short digest of a password hash, to tell whether the password changed.
pub fn password_fingerprint(password_hash: &str) -> String {
    hex::encode(&Sha256::digest(password_hash.as_bytes())[..16])
}

fn associated(user: UserId) -> Vec<u8> {
    format!("authd totp secret|{user}").into_bytes()
}

fn hmac(key: &[u8; 32]) -> HmacSha256 {
    // HMAC takes a key of any length; this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

fn derive(input: &[u8], info: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA-256's limit of 8160: this cannot fail.
    let _ = Hkdf::<Sha256>::new(Some(b"authd"), input).expand(info, &mut key);
    key
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn keys(key: u8) -> MfaKeys {
        MfaKeys::new(
            &MfaKey::new([key; 32]),
            b"signing key of at least 32 bytes!!",
        )
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_and_key() {
        let secret = TotpSecret::generate();
        let sealed = keys(1).seal(UserId::new(7), &secret);
        assert!(!sealed.contains(&hex::encode(secret.expose())));
        assert_eq!(keys(1).open(UserId::new(7), &sealed), Some(secret.clone()));
        assert_eq!(keys(1).open(UserId::new(8), &sealed), None);
        assert_eq!(keys(2).open(UserId::new(7), &sealed), None);
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'0' { b'1' } else { b'0' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(keys(1).open(UserId::new(7), &altered), None);
        for junk in ["", "v1.", "v1.zz", "v2.00", "v1.0011"] {
            assert_eq!(keys(1).open(UserId::new(7), junk), None, "{junk}");
        }
        assert_ne!(keys(1).seal(UserId::new(7), &secret), sealed, "fresh nonce");
    }

    #[test]
    fn tokens_are_checked_for_signature_and_expiry() {
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        let claims = MfaClaims {
            user: UserId::new(5),
            expires_at: now.timestamp() + 300,
            nonce: "ab".repeat(16),
            password: password_fingerprint("$2b$12$hash"),
        };
        let token = keys(1).issue_token(&claims);
        assert_eq!(keys(1).check_token(&token, now), Some(claims.clone()));
        let later = now + chrono::TimeDelta::seconds(300);
        assert_eq!(keys(1).check_token(&token, later), None, "expired");
        let other = MfaKeys::new(&MfaKey::new([1; 32]), b"another signing key of 32 bytes!!!");
        assert_eq!(other.check_token(&token, now), None, "other signer");
        let forged = token.replacen("5.", "6.", 1);
        assert_eq!(keys(1).check_token(&forged, now), None, "forged user");
        for junk in ["", ".", "a.b.c.d.e", "5.1.n.p", "\u{0}.\u{ffff}"] {
            assert_eq!(keys(1).check_token(junk, now), None, "{junk:?}");
        }
    }

    #[test]
    fn recovery_digests_depend_on_key_user_and_code() {
        let code = RecoveryCode::generate();
        let digest = keys(1).recovery_digest(UserId::new(1), &code);
        assert_eq!(digest, keys(1).recovery_digest(UserId::new(1), &code));
        assert_ne!(digest, keys(2).recovery_digest(UserId::new(1), &code));
        assert_ne!(digest, keys(1).recovery_digest(UserId::new(2), &code));
        assert_eq!(digest.len(), 64);
    }
}
