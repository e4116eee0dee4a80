//! The outbox: every email is written to the database before the request that causes it is
//! answered (with the change itself, where there is one), and a worker in each instance
//! delivers it. So a crash, a restart or a mail server that is down loses nothing; a code that
//! died meanwhile is not mailed late; and the request never waits on the mail server.
//!
//! Bodies are sealed with a key of their own derived from the server key (see
//! [`mail_sealer`]); a settled row keeps no body. The command line queues
//! mail too ([`MailQueue`]), which a running server's worker delivers. Rows are
//! claimed with a lease, so instances share the table without sending twice; a lease left by
//! an instance that died mid-send runs out and the row is tried again (at least once).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};

use super::mfa_keys::{MfaKey, Sealer, mail_sealer};
use super::{Auth, AuthError};
use crate::clock::delta;
use crate::config::OutboxSettings;
use crate::db::audit::NewEvent;
use crate::db::outbox::{self, Claimed, NewMail, Settled};
use crate::db::{DbError, Effects};
use crate::domain::{Code, CodeKey, UserEmail, UserId};
use crate::mail::{DeliveryStatus, Email, MailError, Message};
use crate::telemetry;

/// Rows taken, and delivered side by side, at once (connections to the mail server).
const BATCH: u32 = 4;
/// How long a worker holds a row while it tries it: well past one SMTP conversation (each of
/// its commands may take `SMTP_TIMEOUT`) and the code check before it.
const LEASE: Duration = Duration::from_secs(120);
/// Once the mail server answers again, rows waiting out a backoff are made due at once, at
/// most this often (a message refused for a while, as greylisting does, must not be retried
/// after every success).
const HURRY_EVERY: Duration = Duration::from_secs(60);
/// How often an idle worker looks for rows that fell due (a retry, another instance's row).
const POLL: Duration = Duration::from_secs(1);
/// The wait before the second try; it doubles with each failure, up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);
/// How long a woken worker waits before it looks: the answer to the request that queued the
/// email goes out first, so the delivery's work does not make that answer (and only that one:
/// a request that queues nothing wakes nobody) measurably slower.
const ANSWER_FIRST: Duration = Duration::from_millis(10);
/// How often the backlog metrics are refreshed (only while metrics are on).
const BACKLOG_EVERY: Duration = Duration::from_secs(5);

/// How email is put in the outbox: sealed under the server key, worth sending until its
/// give-up time (or its code's expiry). The server and the command line both queue with it.
pub struct MailQueue {
    sealer: Sealer,
    give_up: Duration,
}

impl MailQueue {
    pub fn new(key: &MfaKey, give_up: Duration) -> Self {
        Self {
            sealer: mail_sealer(key),
            give_up,
        }
    }

    /// `message` to `to` as a row to queue at `now`: sealed, due at once, worth sending until
    /// the give-up time or, for a code, until the code expires. `user` is whose change of
    /// address a code proves.
    pub fn seal(
        &self,
        to: &UserEmail,
        message: Message,
        user: Option<UserId>,
        now: DateTime<Utc>,
    ) -> NewMail {
        let kind = message.kind();
        let worth = message.ttl_minutes().map_or(self.give_up, |minutes| {
            Duration::from_secs(minutes * 60).min(self.give_up)
        });
        let email = Email {
            to: to.clone(),
            message,
        };
        let body = serde_json::to_vec(&Body::new(&email, user)).unwrap_or_default();
        NewMail {
            kind,
            body: self.sealer.seal(&associated(kind), &body),
            created_at: now,
            not_after: now + delta(worth),
        }
    }

    /// The email in a sealed body of `kind`, and the key of the code it carries; `None` if it
    /// was sealed under another key, for another kind, altered, or is not a message this
    /// version knows.
    fn open(&self, kind: &str, sealed: &str) -> Option<(Email, Option<CodeKey>)> {
        let bytes = self.sealer.open(&associated(kind), sealed)?;
        serde_json::from_slice::<Body>(&bytes).ok()?.open()
    }
}

/// This instance's side of the outbox.
pub(super) struct Outbox {
    /// Names this instance's leases: random, so two instances never take each other's.
    owner: String,
    wake: Notify,
    queue: MailQueue,
    /// How long settled rows are kept.
    retention: Duration,
    outcomes: Outcomes,
    /// The latest try failed for a reason that may pass: the next success makes every row
    /// waiting out a backoff due at once (at most every [`HURRY_EVERY`]).
    failing: AtomicBool,
    hurried: Mutex<Option<tokio::time::Instant>>,
}

impl Outbox {
    pub(super) fn new(settings: OutboxSettings, key: &MfaKey) -> Self {
        Self {
            owner: hex::encode(rand::random::<[u8; 16]>()),
            wake: Notify::new(),
            queue: MailQueue::new(key, settings.give_up),
            retention: settings.retention,
            outcomes: Outcomes::default(),
            failing: AtomicBool::new(false),
            hurried: Mutex::new(None),
        }
    }
}

/// What a sealed body holds: the message, and for a code to change an address, whose.
#[derive(Serialize, Deserialize)]
struct Body {
    to: String,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ttl_minutes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    registered_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    new_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    left: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<i64>,
}

impl Body {
    fn new(email: &Email, user: Option<UserId>) -> Self {
        let mut body = Body {
            to: email.to.as_str().to_owned(),
            kind: email.message.kind().to_owned(),
            code: email.message.code().map(|c| c.expose().to_owned()),
            ttl_minutes: email.message.ttl_minutes(),
            registered_at: None,
            new_email: email.message.new_email().map(|e| e.as_str().to_owned()),
            left: None,
            ip: None,
            user_agent: None,
            user: user.map(UserId::get),
        };
        match &email.message {
            Message::VerificationCode { registered_at, .. } => {
                body.registered_at = Some(*registered_at);
            }
            Message::RecoveryCodeUsed { left } => body.left = Some(*left),
            Message::NewSignIn { ip, user_agent } => {
                body.ip = Some(ip.clone());
                body.user_agent = Some(user_agent.clone());
            }
            _ => {}
        }
        body
    }

    /// The email back, and the key of the code it carries; `None` if the body does not
    /// describe a message this version knows.
    fn open(self) -> Option<(Email, Option<CodeKey>)> {
        let to = UserEmail::parse(&self.to).ok()?;
        let code = || self.code.as_deref().and_then(Code::parse);
        let ttl_minutes = || self.ttl_minutes;
        let new_email = || {
            self.new_email
                .as_deref()
                .and_then(|e| UserEmail::parse(e).ok())
        };
        let (message, key) = match self.kind.as_str() {
            "verification_code" => (
                Message::VerificationCode {
                    code: code()?,
                    ttl_minutes: ttl_minutes()?,
                    registered_at: self.registered_at?,
                },
                Some(CodeKey::VerifyEmail(to.clone())),
            ),
            "password_reset_code" => (
                Message::PasswordResetCode {
                    code: code()?,
                    ttl_minutes: ttl_minutes()?,
                },
                Some(CodeKey::ResetPassword(to.clone())),
            ),
            "email_change_code" => (
                Message::EmailChangeCode {
                    code: code()?,
                    ttl_minutes: ttl_minutes()?,
                },
                Some(CodeKey::ChangeEmail {
                    user: UserId::new(self.user?),
                    to: to.clone(),
                }),
            ),
            "registration_attempt" => (Message::RegistrationAttempt, None),
            "password_changed" => (Message::PasswordChanged, None),
            "email_change_attempt" => (Message::EmailChangeAttempt, None),
            "email_change_requested" => (
                Message::EmailChangeRequested {
                    new_email: new_email()?,
                },
                None,
            ),
            "email_changed" => (
                Message::EmailChanged {
                    new_email: new_email()?,
                },
                None,
            ),
            "account_deleted" => (Message::AccountDeleted, None),
            "totp_enabled" => (Message::TotpEnabled, None),
            "totp_disabled" => (Message::TotpDisabled, None),
            "recovery_code_used" => (Message::RecoveryCodeUsed { left: self.left? }, None),
            "new_sign_in" => (
                Message::NewSignIn {
                    ip: self.ip?,
                    user_agent: self.user_agent?,
                },
                None,
            ),
            _ => return None,
        };
        Some((Email { to, message }, key))
    }
}

/// The associated data of a sealed body: the row's kind, so a body cannot pass for another.
fn associated(kind: &str) -> Vec<u8> {
    format!("authd outbox|{kind}").into_bytes()
}

/// What became of one try.
enum Outcome {
    Settle(Settled),
    RetryAt(DateTime<Utc>),
}

impl Auth {
    /// `message` to `to` as a row to queue: sealed, due now, worth sending until the give-up
    /// time or, for a code, until the code expires. `user` is whose change of address a code
    /// proves.
    pub(super) fn outgoing(
        &self,
        to: &UserEmail,
        message: Message,
        user: Option<UserId>,
    ) -> NewMail {
        self.outbox.queue.seal(to, message, user, self.clock.now())
    }

    /// The changes' event, with `message` to the stored address `to` (none if it no longer
    /// parses) queued in the same transaction.
    pub(super) fn with_notice(&self, event: NewEvent, to: &str, message: Message) -> Effects {
        let mail = UserEmail::parse(to)
            .ok()
            .map(|to| self.outgoing(&to, message, None));
        Effects {
            event,
            mail: mail.into_iter().collect(),
        }
    }

    /// Queues `mail` on its own and wakes the worker. Fails only if the database does: then
    /// nothing was queued, and the caller says so.
    pub(super) async fn queue(&self, mail: NewMail) -> Result<(), AuthError> {
        let kind = mail.kind;
        outbox::insert(&self.db, &mail).await?;
        telemetry::email(kind, "queued");
        self.mail_queued();
        Ok(())
    }

    /// The write a request makes where another would queue an email (see
    /// [`outbox::insert_void`]): an unknown address answers as slowly as a known one.
    pub(super) async fn queue_nothing(&self) -> Result<(), AuthError> {
        Ok(outbox::insert_void(&self.db, self.clock.now()).await?)
    }

    /// Tells the worker that mail was just queued, so it delivers it now, not at its next poll.
    fn mail_queued(&self) {
        self.outbox.wake.notify_one();
    }

    /// After the transaction that queued `mail` with a change committed: counts it and wakes
    /// the worker for it (a change that queued nothing wakes nobody).
    pub(super) fn committed(&self, mail: &[NewMail]) {
        for mail in mail {
            telemetry::email(mail.kind, "queued");
        }
        if !mail.is_empty() {
            self.mail_queued();
        }
    }

    /// Whether mail is getting through: the latest try of a mail server failed for a reason
    /// that may pass (a refusal of one message does not count).
    pub(super) fn delivery_status(&self) -> DeliveryStatus {
        self.outbox.outcomes.status()
    }

    /// Delivers queued email until `stop` turns true: what is due at once, the rest as it
    /// falls due. Returns after finishing the batch under way.
    pub async fn deliver_mail(&self, mut stop: watch::Receiver<bool>) {
        let mut backlog_at = tokio::time::Instant::now();
        let mut unreadable = false;
        while !*stop.borrow() {
            let taken = match self.deliver_due().await {
                Ok(taken) => {
                    if std::mem::take(&mut unreadable) {
                        tracing::info!("the outbox can be read again; delivering");
                    }
                    taken
                }
                Err(e) => {
                    // Once per outage, not once a second.
                    if !std::mem::replace(&mut unreadable, true) {
                        tracing::warn!(error = %e, "the outbox cannot be read; email waits until the database is back");
                    }
                    0
                }
            };
            if telemetry::enabled() && backlog_at.elapsed() >= BACKLOG_EVERY {
                backlog_at = tokio::time::Instant::now();
                self.report_backlog().await;
            }
            if taken > 0 {
                continue;
            }
            tokio::select! {
                () = self.outbox.wake.notified() => tokio::time::sleep(ANSWER_FIRST).await,
                () = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Gives back the rows this instance still holds (a delivery cut short at shutdown), so
    /// the next start, or another instance, takes them at once.
    pub async fn release_mail(&self) {
        match outbox::release(&self.db, &self.outbox.owner).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "queued email left for the next start"),
            Err(e) => {
                tracing::warn!(error = %e, "leases on queued email not given back; they run out in {LEASE:?}")
            }
        }
    }

    /// Takes the rows that are due and tries each once; returns how many it took.
    async fn deliver_due(&self) -> Result<usize, DbError> {
        let now = self.clock.now();
        let owner = &self.outbox.owner;
        let rows = outbox::claim(&self.db, owner, now, now + delta(LEASE), BATCH).await?;
        let taken = rows.len();
        futures_util::stream::iter(rows)
            .for_each_concurrent(None, |row| self.try_row(row))
            .await;
        Ok(taken)
    }

    async fn try_row(&self, row: Claimed) {
        let opened = row
            .body
            .as_deref()
            .and_then(|sealed| self.outbox.queue.open(&row.kind, sealed));
        let (kind, outcome) = match opened {
            Some((email, key)) => (
                email.message.kind(),
                self.attempt(&row, &email, key.as_ref()).await,
            ),
            None => {
                tracing::error!(id = row.id, kind = %row.kind, "queued email cannot be opened (sealed under another key?); dropped");
                ("other", Outcome::Settle(Settled::Dropped))
            }
        };
        let owner = &self.outbox.owner;
        let now = self.clock.now();
        let written = match outcome {
            Outcome::Settle(how) => {
                telemetry::email(kind, how.as_str());
                outbox::settle(&self.db, row.id, owner, how, now)
                    .await
                    .map(|_| ())
            }
            Outcome::RetryAt(at) => {
                telemetry::email(kind, "retried");
                outbox::retry_at(&self.db, row.id, owner, at).await
            }
        };
        if let Err(e) = written {
            tracing::warn!(id = row.id, error = %e, "outcome of a delivery not recorded; the row is tried again after its lease");
        }
    }

    /// One try of one row, opened: `email`, and the key of the code it carries.
    async fn attempt(&self, row: &Claimed, email: &Email, key: Option<&CodeKey>) -> Outcome {
        let now = self.clock.now();
        let kind = email.message.kind();
        if now > row.not_after {
            tracing::warn!(
                id = row.id,
                kind,
                "queued email expired before it could be delivered; dropped"
            );
            return Outcome::Settle(Settled::Dropped);
        }
        if let (Some(key), Some(code)) = (key, email.message.code()) {
            match self.codes.holds(key, code, now).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!(
                        id = row.id,
                        kind,
                        "the code in queued email is no longer valid; dropped"
                    );
                    return Outcome::Settle(Settled::Dropped);
                }
                Err(e) => {
                    tracing::warn!(id = row.id, kind, error = %e, "the code store is unavailable; delivery put off");
                    return self.retry(row, now);
                }
            }
        }
        match self.mailer.deliver(email).await {
            Ok(()) => {
                self.outbox.outcomes.record(true);
                tracing::info!(id = row.id, kind, "email delivered");
                if self.outbox.failing.swap(false, Ordering::Relaxed) {
                    self.hurry_backlog(now).await;
                }
                Outcome::Settle(Settled::Sent)
            }
            Err(MailError {
                permanent: true,
                reason,
            }) => {
                // About this message, not the mail server: it does not make delivery look
                // degraded, or anyone could flip /health by registering a bouncing address.
                tracing::error!(id = row.id, kind, error = %reason, "email refused; not retried");
                Outcome::Settle(Settled::Failed)
            }
            Err(e) => {
                self.outbox.outcomes.record(false);
                self.outbox.failing.store(true, Ordering::Relaxed);
                match self.retry(row, now) {
                    Outcome::RetryAt(at) => {
                        tracing::warn!(id = row.id, kind, error = %e.reason, retry_at = %at, "email delivery failed; will retry");
                        Outcome::RetryAt(at)
                    }
                    given_up => {
                        tracing::error!(id = row.id, kind, error = %e.reason, "email delivery failed until its give-up time; not sent");
                        given_up
                    }
                }
            }
        }
    }

    /// The next try after `row.attempts` tries, with exponential backoff; given up if it
    /// would come after the row's give-up time.
    fn retry(&self, row: &Claimed, now: DateTime<Utc>) -> Outcome {
        let doublings = u32::try_from(row.attempts.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(16);
        let wait = (FIRST_RETRY_DELAY * 2u32.pow(doublings)).min(MAX_RETRY_DELAY);
        let at = now + delta(wait);
        if at > row.not_after {
            Outcome::Settle(Settled::Failed)
        } else {
            Outcome::RetryAt(at)
        }
    }

    async fn hurry_backlog(&self, now: DateTime<Utc>) {
        {
            let Ok(mut hurried) = self.outbox.hurried.lock() else {
                return;
            };
            if hurried.is_some_and(|at| at.elapsed() < HURRY_EVERY) {
                return;
            }
            *hurried = Some(tokio::time::Instant::now());
        }
        match outbox::hurry(&self.db, now).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(
                    rows = n,
                    "mail is getting through again; queued email is due now"
                );
                self.mail_queued();
            }
            Err(e) => tracing::warn!(error = %e, "queued email not brought forward"),
        }
    }

    async fn report_backlog(&self) {
        if let Ok((depth, oldest)) = outbox::backlog(&self.db).await {
            let age = oldest.map_or(0.0, |oldest| {
                (self.clock.now() - oldest).num_seconds().max(0) as f64
            });
            telemetry::outbox_backlog(depth, age);
        }
    }

    /// Deletes settled rows past the retention; run by the sweep.
    pub(super) async fn purge_mail(&self, now: DateTime<Utc>) -> Result<u64, DbError> {
        outbox::purge(&self.db, now - delta(self.outbox.retention), now).await
    }
}

/// Which came last: a delivery that got through or one that failed for a reason that may pass.
#[derive(Default)]
struct Outcomes {
    /// Sequence number of the latest success and the latest failure (0 = never).
    last_success: AtomicU64,
    last_failure: AtomicU64,
    sequence: AtomicU64,
}

impl Outcomes {
    fn record(&self, ok: bool) {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
        let slot = if ok {
            &self.last_success
        } else {
            &self.last_failure
        };
        slot.fetch_max(n, Ordering::Relaxed);
    }

    fn status(&self) -> DeliveryStatus {
        if self.last_failure.load(Ordering::Relaxed) > self.last_success.load(Ordering::Relaxed) {
            DeliveryStatus::Degraded
        } else {
            DeliveryStatus::Ok
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn roundtrip(message: Message, user: Option<UserId>) -> (Email, Option<CodeKey>) {
        let email = Email {
            to: UserEmail::parse("ann@example.com").unwrap(),
            message,
        };
        let bytes = serde_json::to_vec(&Body::new(&email, user)).unwrap();
        serde_json::from_slice::<Body>(&bytes)
            .unwrap()
            .open()
            .unwrap()
    }

    #[test]
    fn every_message_survives_the_stored_form_with_the_key_of_its_code() {
        let code = Code::from_number(123_456);
        let new_email = UserEmail::parse("ann.lee@example.org").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        let messages = [
            Message::VerificationCode {
                code: code.clone(),
                ttl_minutes: 5,
                registered_at: at,
            },
            Message::PasswordResetCode {
                code: code.clone(),
                ttl_minutes: 10,
            },
            Message::EmailChangeCode {
                code: code.clone(),
                ttl_minutes: 5,
            },
            Message::RegistrationAttempt,
            Message::PasswordChanged,
            Message::EmailChangeAttempt,
            Message::EmailChangeRequested {
                new_email: new_email.clone(),
            },
            Message::EmailChanged {
                new_email: new_email.clone(),
            },
            Message::AccountDeleted,
            Message::TotpEnabled,
            Message::TotpDisabled,
            Message::RecoveryCodeUsed { left: 7 },
            Message::NewSignIn {
                ip: "203.0.113.0/24".into(),
                user_agent: "Firefox".into(),
            },
        ];
        assert_eq!(messages.len(), 13, "a new message needs a stored form");
        for message in messages {
            let kind = message.kind();
            let (email, key) = roundtrip(message.clone(), Some(UserId::new(9)));
            assert_eq!(format!("{:?}", email.message), format!("{message:?}"));
            assert_eq!(
                email.message.code().map(Code::expose),
                message.code().map(Code::expose)
            );
            assert_eq!(email.message.ttl_minutes(), message.ttl_minutes());
            assert_eq!(key.is_some(), message.code().is_some(), "{kind}");
        }
        let (_, key) = roundtrip(
            Message::EmailChangeCode {
                code,
                ttl_minutes: 5,
            },
            Some(UserId::new(9)),
        );
        assert_eq!(
            key,
            Some(CodeKey::ChangeEmail {
                user: UserId::new(9),
                to: UserEmail::parse("ann@example.com").unwrap()
            })
        );
    }

    #[test]
    fn a_body_of_an_unknown_kind_or_missing_parts_does_not_open() {
        let junk = [
            r#"{"to":"ann@example.com","kind":"launch_missiles"}"#,
            r#"{"to":"ann@example.com","kind":"verification_code","ttl_minutes":5}"#,
            r#"{"to":"not an address","kind":"password_changed"}"#,
            r#"{"to":"ann@example.com","kind":"email_change_code","code":"123456","ttl_minutes":5}"#,
        ];
        for body in junk {
            let body: Body = serde_json::from_str(body).unwrap();
            assert!(body.open().is_none());
        }
    }
}
