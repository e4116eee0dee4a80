//! Account settings: change the password, move the account to another address (proved by a
//! code sent there), delete the account. Each asks for the user's password first, checked
//! under the login lockouts, before any other rule.

use std::net::IpAddr;

use super::guard::MailKind;
use super::mfa::SecondFactor;
use super::{Auth, AuthError, Client, Session, SignedIn};
use crate::db::audit::EventKind;
use crate::db::users::UserRecord;
use crate::db::{self, DbError};
use crate::domain::{Code, CodeKey, Invalid, Password, User, UserEmail};
use crate::mail::Message;
use crate::store::Revocation;

impl Auth {
    /// The signed-in user's password, checked under the login lockouts of their address: a
    /// wrong one is [`AuthError::WrongPassword`] and counts as a failed login; past a lockout
    /// even the right one is refused.
    pub(super) async fn confirm_password(
        &self,
        session: &Session,
        password: &Password,
        client: IpAddr,
    ) -> Result<UserRecord, AuthError> {
        let lookup = db::users::find_by_id(&self.db, session.user.id);
        self.checked_password(&session.user.email, lookup, password, client)
            .await
            .map_err(|e| match e {
                AuthError::InvalidCredentials => AuthError::WrongPassword,
                other => other,
            })
    }

    /// What every account change asks first: the password (as [`Auth::confirm_password`]),
    /// then, for a user with TOTP on, the second factor (see [`Auth::step_up`]).
    async fn reauthenticate(
        &self,
        session: &Session,
        password: &Password,
        factor: Option<&SecondFactor>,
        client: &Client,
    ) -> Result<UserRecord, AuthError> {
        let record = self.confirm_password(session, password, client.ip).await?;
        self.step_up(&record, factor, client).await?;
        Ok(record)
    }

    /// Sets a new password after checking the current one. The session asking is replaced by a
    /// new one (returned), every other session ends, pending reset codes stop working, and the
    /// address is told.
    pub async fn change_password(
        &self,
        session: &Session,
        current: &Password,
        new: &Password,
        factor: Option<&SecondFactor>,
        client: &Client,
    ) -> Result<SignedIn, AuthError> {
        let record = self
            .reauthenticate(session, current, factor, client)
            .await?;
        new.check_length().map_err(AuthError::WeakPassword)?;
        if new.expose() == current.expose() {
            return Err(AuthError::WeakPassword(Invalid::new(
                "password_unchanged",
                "The new password must differ from the current one",
            )));
        }
        self.acceptable_password(new, &record.email, Some(&record.name))
            .await?;
        let hash = self.passwords.hash(new).await?;
        let user_id = record.user_id();
        let draft = self.draft_session(user_id, client);
        let event = self.event(user_id, EventKind::PasswordChanged, client);
        let effects = self.with_notice(event, &record.email, Message::PasswordChanged);
        let ended =
            db::sessions::replace_password(&self.db, user_id, &hash, Some(&draft.row()), &effects)
                .await?;
        self.committed(&effects.mail);
        self.sessions.revoke(Revocation::User(user_id)).await;
        let email = stored_email(&record)?;
        self.drop_codes(&[CodeKey::ResetPassword(email.clone())])
            .await;
        tracing::info!(%user_id, sessions_ended = ended, "password changed");
        self.sign_in(record.into_user(), &draft)
    }

    /// Asks to move the account to `new_email`, after checking the password. The answer is the
    /// same whether or not the address is taken: a free one gets a code, a taken one a notice.
    /// The mail throttle of the new address is counted first, the same way for both; the old
    /// address is told, unless its own throttle is spent. A newer request replaces this one.
    pub async fn change_email(
        &self,
        session: &Session,
        new_email: &UserEmail,
        password: &Password,
        factor: Option<&SecondFactor>,
        client: &Client,
    ) -> Result<(), AuthError> {
        let record = self
            .reauthenticate(session, password, factor, client)
            .await?;
        let client = client.ip;
        if new_email.as_str() == record.email {
            return Err(AuthError::SameEmail);
        }
        self.throttle_mail(MailKind::EmailChange, new_email, client)
            .await?;
        let user_id = record.user_id();
        let now = self.clock.now();
        // The request this one replaces: its code must not work, nor be mailed late.
        let replaced = db::users::pending_email(&self.db, user_id)
            .await?
            .and_then(|p| UserEmail::parse(&p).ok())
            .filter(|p| p != new_email)
            .map(|to| CodeKey::ChangeEmail { user: user_id, to });
        db::users::set_pending_email(&self.db, user_id, new_email, now).await?;
        if let Some(replaced) = replaced {
            self.drop_codes(&[replaced]).await;
        }
        if db::users::find_by_email(&self.db, new_email)
            .await?
            .is_some()
        {
            self.queue(self.outgoing(new_email, Message::EmailChangeAttempt, None))
                .await?;
        } else {
            let key = CodeKey::ChangeEmail {
                user: user_id,
                to: new_email.clone(),
            };
            self.send_code(&key, now).await?;
        }
        tracing::info!(%user_id, "change of address asked for");
        let old = stored_email(&record)?;
        match self
            .throttle_mail(MailKind::EmailChangeNotice, &old, client)
            .await
        {
            Ok(()) => {
                let notice = Message::EmailChangeRequested {
                    new_email: new_email.clone(),
                };
                self.send(&old, notice).await;
            }
            Err(e) => tracing::info!(error = %e, "notice to the old address not sent"),
        }
        Ok(())
    }

    /// Completes the pending change of address with the code sent to the new one: every other
    /// session ends, and the old address is told. [`AuthError::EmailTaken`] if the new address
    /// got an account meanwhile.
    pub async fn confirm_email_change(
        &self,
        session: &Session,
        code: &Code,
        client: &Client,
    ) -> Result<User, AuthError> {
        let user_id = session.user.id;
        let pending = db::users::pending_email(&self.db, user_id)
            .await?
            .and_then(|pending| UserEmail::parse(&pending).ok())
            .ok_or(AuthError::InvalidCode)?;
        let key = CodeKey::ChangeEmail {
            user: user_id,
            to: pending.clone(),
        };
        self.use_code(&key, code, client.ip).await?;
        let event = self.event(user_id, EventKind::EmailChanged, client);
        let notice = Message::EmailChanged {
            new_email: pending.clone(),
        };
        let effects = self.with_notice(event, &session.user.email, notice);
        let (user, ended) = match db::users::confirm_email_change(
            &self.db,
            user_id,
            &pending,
            &session.id,
            &effects,
        )
        .await
        {
            Ok(Some(changed)) => changed,
            // Another request replaced the pending one since the code was checked.
            Ok(None) => return Err(AuthError::InvalidCode),
            Err(DbError::Duplicate) => return Err(AuthError::EmailTaken),
            Err(e) => return Err(e.into()),
        };
        self.committed(&effects.mail);
        self.sessions.revoke(Revocation::User(user_id)).await;
        let old = UserEmail::parse(&session.user.email).map_err(|_| AuthError::NotAuthenticated)?;
        self.drop_codes(&[CodeKey::ResetPassword(old)]).await;
        tracing::info!(%user_id, sessions_ended = ended, "address changed");
        Ok(user)
    }

    /// Deletes the account after checking the password: the user, their sessions and pending
    /// codes are gone, and the address is told. The address is then like one that never had
    /// an account.
    pub async fn delete_account(
        &self,
        session: &Session,
        password: &Password,
        factor: Option<&SecondFactor>,
        client: &Client,
    ) -> Result<(), AuthError> {
        let record = self
            .reauthenticate(session, password, factor, client)
            .await?;
        let user_id = record.user_id();
        let pending = db::users::pending_email(&self.db, user_id).await?;
        let email = stored_email(&record)?;
        let goodbye = [self.outgoing(&email, Message::AccountDeleted, None)];
        if !db::users::delete(&self.db, user_id, &goodbye).await? {
            return Err(AuthError::NotAuthenticated);
        }
        self.committed(&goodbye);
        self.sessions.revoke(Revocation::User(user_id)).await;
        let mut codes = vec![
            CodeKey::ResetPassword(email.clone()),
            CodeKey::VerifyEmail(email.clone()),
        ];
        codes.extend(
            pending
                .and_then(|p| UserEmail::parse(&p).ok())
                .map(|to| CodeKey::ChangeEmail { user: user_id, to }),
        );
        self.drop_codes(&codes).await;
        tracing::info!(%user_id, "account deleted");
        Ok(())
    }
}

/// The stored address of an account, as the stores and the mailer take it. Stored addresses
/// are normalised; one that no longer parses (see the data migration) cannot sign in.
fn stored_email(record: &UserRecord) -> Result<UserEmail, AuthError> {
    UserEmail::parse(&record.email).map_err(|_| AuthError::NotAuthenticated)
}
