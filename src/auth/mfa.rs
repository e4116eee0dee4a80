//! Two-factor login with TOTP: setting it up, the second step of login, recovery codes, and
//! the step-up that account changes ask of a user who has it on. Wrong second factors count
//! towards a lockout of their own per account (and per account and client), with the numbers
//! of the login lockout.

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use qrcode::QrCode;
use qrcode::render::svg;

use super::login::SignedIn;
use super::mfa_keys::{MfaClaims, password_fingerprint};
use super::{Auth, AuthError, Client, Session};
use crate::db::audit::EventKind;
use crate::db::users::UserRecord;
use crate::db::{self};
use crate::domain::{
    Code, RECOVERY_CODES, RecoveryCode, TOTP_STEP_SECONDS, TotpSecret, UserEmail, UserId, totp_step,
};
use crate::limits::lockout_after_failure;
use crate::mail::Message;
use crate::store::Revocation;

/// How long the token between the password and the second factor lives.
pub const MFA_TOKEN_TTL: Duration = Duration::from_secs(300);

/// What a user offers as the second factor.
#[derive(Clone, Debug)]
pub enum SecondFactor {
    /// The current code of the authenticator app.
    Totp(Code),
    /// One of the recovery codes; it works once.
    Recovery(RecoveryCode),
}

/// A new, not yet active TOTP secret, as the setup page shows it.
#[derive(Debug)]
pub struct TotpSetup {
    pub secret: TotpSecret,
    /// `otpauth://totp/...`, what authenticator apps scan.
    pub otpauth_url: String,
    /// A QR code of `otpauth_url`, as SVG.
    pub qr_svg: String,
}

impl Auth {
    /// Starts TOTP setup after checking the password: a new secret, pending until
    /// [`Auth::enable_totp`] confirms it with a code. A newer setup replaces a pending one.
    pub async fn setup_totp(
        &self,
        session: &Session,
        password: &crate::domain::Password,
        client: &Client,
    ) -> Result<TotpSetup, AuthError> {
        let record = self.confirm_password(session, password, client.ip).await?;
        if record.mfa_enabled {
            return Err(AuthError::MfaAlreadyOn);
        }
        let user_id = record.user_id();
        let secret = TotpSecret::generate();
        let sealed = self.mfa.seal(user_id, &secret);
        if !db::mfa::set_pending(&self.db, user_id, &sealed, self.clock.now()).await? {
            return Err(AuthError::MfaAlreadyOn);
        }
        let otpauth_url = otpauth_url(&self.settings.totp_issuer, &record.email, &secret);
        let qr_svg = QrCode::new(otpauth_url.as_bytes())
            .map_err(|e| AuthError::Internal(e.to_string()))?
            .render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .build();
        tracing::info!(%user_id, "TOTP setup started");
        Ok(TotpSetup {
            secret,
            otpauth_url,
            qr_svg,
        })
    }

    /// Turns TOTP on with a current code of the pending secret. Returns the recovery codes,
    /// shown this once (only their digests are kept). Every other session ends; the address
    /// is told.
    pub async fn enable_totp(
        &self,
        session: &Session,
        code: &Code,
        client: &Client,
    ) -> Result<Vec<RecoveryCode>, AuthError> {
        let user_id = session.user.id;
        let codes = self
            .counted_factor(user_id, client.ip, async {
                let row = db::mfa::totp(&self.db, user_id)
                    .await?
                    .ok_or(AuthError::NotAuthenticated)?;
                if row.mfa_enabled {
                    return Err(AuthError::MfaAlreadyOn);
                }
                let sealed = row.totp_secret.ok_or(AuthError::MfaNotPending)?;
                let secret = self.open_secret(user_id, &sealed)?;
                let now = self.clock.now();
                let step = secret
                    .accepted_step(code, totp_step(now.timestamp()), row.totp_last_step)
                    .ok_or(AuthError::WrongSecondFactor)?;
                let codes = new_recovery_codes();
                let digests = self.recovery_digests(user_id, &codes);
                let event = self.event(user_id, EventKind::MfaEnabled, client);
                let effects = self.with_notice(event, &session.user.email, Message::TotpEnabled);
                if !db::mfa::enable(&self.db, user_id, &sealed, step, &digests, &effects).await? {
                    // Another request enabled it, or set up a newer secret, meanwhile.
                    return Err(AuthError::MfaNotPending);
                }
                self.committed(&effects.mail);
                Ok(codes)
            })
            .await?;
        let ended = self.end_other_sessions(session).await?;
        tracing::info!(%user_id, sessions_ended = ended, "TOTP enabled");
        Ok(codes)
    }

    /// Turns TOTP off after checking the password and a second factor. Every other session
    /// ends; the address is told.
    pub async fn disable_totp(
        &self,
        session: &Session,
        password: &crate::domain::Password,
        factor: &SecondFactor,
        client: &Client,
    ) -> Result<(), AuthError> {
        let record = self.confirm_password(session, password, client.ip).await?;
        if !record.mfa_enabled {
            return Err(AuthError::MfaOff);
        }
        self.confirm_factor(&record, factor, client).await?;
        let user_id = record.user_id();
        let event = self.event(user_id, EventKind::MfaDisabled, client);
        let effects = self.with_notice(event, &record.email, Message::TotpDisabled);
        if !db::mfa::disable(&self.db, user_id, &effects).await? {
            return Err(AuthError::MfaOff);
        }
        self.committed(&effects.mail);
        let ended = self.end_other_sessions(session).await?;
        tracing::info!(%user_id, sessions_ended = ended, "TOTP disabled");
        Ok(())
    }

    /// Replaces the recovery codes after checking the password and a second factor; the old
    /// ones stop working.
    pub async fn new_recovery_codes(
        &self,
        session: &Session,
        password: &crate::domain::Password,
        factor: &SecondFactor,
        client: &Client,
    ) -> Result<Vec<RecoveryCode>, AuthError> {
        let record = self.confirm_password(session, password, client.ip).await?;
        if !record.mfa_enabled {
            return Err(AuthError::MfaOff);
        }
        self.confirm_factor(&record, factor, client).await?;
        let user_id = record.user_id();
        let codes = new_recovery_codes();
        let digests = self.recovery_digests(user_id, &codes);
        if !db::mfa::set_recovery_codes(&self.db, user_id, &digests).await? {
            return Err(AuthError::MfaOff);
        }
        tracing::info!(%user_id, "recovery codes replaced");
        Ok(codes)
    }

    /// The second step of a login that asked for one: the `mfa_token` login gave, and a
    /// second factor. A wrong factor leaves the token usable (until it expires); a right one
    /// uses it up and opens a session. An expired, used or forged token is
    /// [`AuthError::NotAuthenticated`], as is one whose account changed its password since.
    pub async fn verify_mfa(
        &self,
        mfa_token: &str,
        factor: &SecondFactor,
        client: &Client,
    ) -> Result<SignedIn, AuthError> {
        let now = self.clock.now();
        let claims = self
            .mfa
            .check_token(mfa_token, now)
            .ok_or(AuthError::NotAuthenticated)?;
        let user_id = claims.user;
        let record = self
            .counted_factor(user_id, client.ip, async {
                // Claim the token: the first claim holds it; a wrong factor gives it back.
                let claim = format!("mfa-token:{}", claims.nonce);
                let tally = self.counters.hit(&claim, MFA_TOKEN_TTL, now).await?;
                if tally.count > 1 {
                    return Err(AuthError::NotAuthenticated);
                }
                let used = self.use_token(&claims, factor, client).await;
                if used.is_err() {
                    if let Err(e) = self.counters.unhit(&claim, now).await {
                        tracing::warn!(error = %e, "an mfa_token could not be given back");
                    }
                }
                used
            })
            .await?;
        let draft = self.draft_session(user_id, client);
        let new_sign_in = self.new_sign_in(user_id, client).await;
        let event = self.event(user_id, EventKind::LoginSucceeded, client);
        let effects = self.login_effects(event, &record.email, client, new_sign_in);
        if !db::sessions::create(&self.db, &draft.row(), &record.password_hash, &effects).await? {
            return Err(AuthError::NotAuthenticated);
        }
        self.committed(&effects.mail);
        self.sign_in(record.into_user(), &draft)
    }

    /// For a user with TOTP on, the second factor an account change asks beside the password
    /// (checked after it); nothing for a user without.
    pub(super) async fn step_up(
        &self,
        record: &UserRecord,
        factor: Option<&SecondFactor>,
        client: &Client,
    ) -> Result<(), AuthError> {
        if !record.mfa_enabled {
            return Ok(());
        }
        let factor = factor.ok_or(AuthError::SecondFactorRequired)?;
        self.confirm_factor(record, factor, client).await
    }

    /// The token a login with the right password gets when the account has TOTP on.
    pub(super) fn mfa_token(&self, record: &UserRecord) -> String {
        let now = self.clock.now();
        let nonce: [u8; 16] = rand::random();
        self.mfa.issue_token(&MfaClaims {
            user: record.user_id(),
            expires_at: now.timestamp() + MFA_TOKEN_TTL.as_secs() as i64,
            nonce: hex::encode(nonce),
            password: password_fingerprint(&record.password_hash),
        })
    }

    /// Uses `factor` for the login `claims` continues; returns the account.
    async fn use_token(
        &self,
        claims: &MfaClaims,
        factor: &SecondFactor,
        client: &Client,
    ) -> Result<UserRecord, AuthError> {
        let record = db::users::find_by_id(&self.db, claims.user)
            .await?
            .filter(|r| {
                password_fingerprint(&r.password_hash) == claims.password && r.disabled_at.is_none()
            })
            .ok_or(AuthError::NotAuthenticated)?;
        if record.mfa_enabled {
            self.use_factor(&record, factor, client).await?;
        }
        Ok(record)
    }

    /// Checks and uses up `factor` of an account with TOTP on, under the second-factor lockout.
    async fn confirm_factor(
        &self,
        record: &UserRecord,
        factor: &SecondFactor,
        client: &Client,
    ) -> Result<(), AuthError> {
        let used = self.use_factor(record, factor, client);
        self.counted_factor(record.user_id(), client.ip, used).await
    }

    /// Checks `factor` and uses it up: a TOTP code's step (no code is good twice) or the
    /// recovery code (the address is told, with how many are left).
    async fn use_factor(
        &self,
        record: &UserRecord,
        factor: &SecondFactor,
        client: &Client,
    ) -> Result<(), AuthError> {
        let user_id = record.user_id();
        match factor {
            SecondFactor::Totp(code) => {
                let row = db::mfa::totp(&self.db, user_id)
                    .await?
                    .filter(|row| row.mfa_enabled)
                    .ok_or(AuthError::WrongSecondFactor)?;
                let sealed = row.totp_secret.ok_or(AuthError::WrongSecondFactor)?;
                let secret = self.open_secret(user_id, &sealed)?;
                let now_step = totp_step(self.clock.now().timestamp());
                let step = secret
                    .accepted_step(code, now_step, row.totp_last_step)
                    .ok_or(AuthError::WrongSecondFactor)?;
                if !db::mfa::use_step(&self.db, user_id, step).await? {
                    return Err(AuthError::WrongSecondFactor);
                }
            }
            SecondFactor::Recovery(code) => {
                let digest = self.mfa.recovery_digest(user_id, code);
                if !db::mfa::use_recovery_code(&self.db, user_id, &digest).await? {
                    return Err(AuthError::WrongSecondFactor);
                }
                let left = db::mfa::recovery_codes_left(&self.db, user_id).await?;
                tracing::info!(%user_id, left, "recovery code used");
                self.record(user_id, EventKind::RecoveryCodeUsed, client)
                    .await;
                let notice = Message::RecoveryCodeUsed {
                    left: left.unsigned_abs(),
                };
                self.notify(&record.email, notice).await;
            }
        }
        Ok(())
    }

    /// Runs `check` of a second factor of `user_id` under the second-factor lockouts: refused
    /// past a limit, a failure counted when the factor is wrong, nothing counted otherwise.
    async fn counted_factor<T>(
        &self,
        user_id: UserId,
        client: IpAddr,
        check: impl Future<Output = Result<T, AuthError>>,
    ) -> Result<T, AuthError> {
        let now = self.clock.now();
        let limits = self.settings.login_limits;
        let guards = [
            (
                format!("mfa:account-ip:{user_id}|{client}"),
                limits.per_account_ip,
            ),
            (format!("mfa:account:{user_id}"), limits.per_account),
        ];
        let tallies = self.count_attempts(&guards, now).await?;
        let checked = check.await;
        match &checked {
            Err(AuthError::WrongSecondFactor) => {
                for ((key, limit), tally) in guards.iter().zip(&tallies) {
                    if let Some(until) = lockout_after_failure(*tally, *limit, now) {
                        self.counters.reset_at(key, until).await?;
                    }
                }
            }
            // Right, or nothing checked: this attempt was no failure.
            _ => self.take_back(guards.iter(), now).await,
        }
        checked
    }

    /// The sealed secret of `user_id`, opened. One that does not open was sealed under
    /// another key (MFA_ENCRYPTION_KEY or JWT_SECRET changed): the code cannot be checked.
    fn open_secret(&self, user_id: UserId, sealed: &str) -> Result<TotpSecret, AuthError> {
        self.mfa.open(user_id, sealed).ok_or_else(|| {
            tracing::error!(
                %user_id,
                "a TOTP secret does not open: MFA_ENCRYPTION_KEY (or the JWT_SECRET it is derived from) changed since it was stored"
            );
            AuthError::WrongSecondFactor
        })
    }

    fn recovery_digests(&self, user_id: UserId, codes: &[RecoveryCode]) -> Vec<String> {
        codes
            .iter()
            .map(|code| self.mfa.recovery_digest(user_id, code))
            .collect()
    }

    /// Ends every session of the user but `session`; returns how many.
    async fn end_other_sessions(&self, session: &Session) -> Result<u64, AuthError> {
        let user_id = session.user.id;
        let live = self.live(self.clock.now());
        let ended = db::sessions::delete_all(&self.db, user_id, Some(&session.id), live).await?;
        self.sessions.revoke(Revocation::User(user_id)).await;
        Ok(ended)
    }

    /// Mails a notice to a stored address (one that no longer parses gets none).
    pub(super) async fn notify(&self, email: &str, message: Message) {
        if let Ok(email) = UserEmail::parse(email) {
            self.send(&email, message).await;
        }
    }
}

fn new_recovery_codes() -> Vec<RecoveryCode> {
    (0..RECOVERY_CODES)
        .map(|_| RecoveryCode::generate())
        .collect()
}

/// The Key Uri Format authenticator apps scan: the issuer and the address as the label, the
/// secret in base32, and the parameters spelled out (they are the defaults).
fn otpauth_url(issuer: &str, email: &str, secret: &TotpSecret) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{}?secret={}&issuer={issuer}&algorithm=SHA1&digits=6&period={TOTP_STEP_SECONDS}",
        percent_encode(email),
        secret.base32(),
    )
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
fn percent_encode(raw: &str) -> String {
    raw.bytes().fold(String::new(), |mut out, b| {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_otpauth_url_names_issuer_and_account_encoded() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        let url = otpauth_url("Acme & Co", "ann+x@example.com", &secret);
        assert_eq!(
            url,
            "otpauth://totp/Acme%20%26%20Co:ann%2Bx%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20%26%20Co&algorithm=SHA1&digits=6&period=30"
        );
    }
}
