//! The security activity log: what the flows record of each user's security events, and the
//! list a user reads of their own. Events that a failed or refused login leaves are written off
//! the response path, so an address with an account answers as fast as one without.

use super::{Auth, AuthError, Client, Session};
use crate::clock::delta;
use crate::db::audit::{EventKind, EventRow, NewEvent};
use crate::db::{self, Effects};
use crate::domain::{UserEmail, UserId};
use crate::mail::Message;

impl Auth {
    /// The event `kind` of `user_id`, now, from `client`.
    pub(super) fn event(&self, user_id: UserId, kind: EventKind, client: &Client) -> NewEvent {
        NewEvent {
            user_id,
            kind,
            at: self.clock.now(),
            ip: client.address.to_string(),
            user_agent: client.user_agent.as_str().to_owned(),
        }
    }

    /// Stores an event of a change that is already done (best effort: the change stands
    /// either way, and the failure is logged).
    pub(super) async fn record(&self, user_id: UserId, kind: EventKind, client: &Client) {
        let event = self.event(user_id, kind, client);
        if let Err(e) = db::audit::record(&self.db, &event).await {
            tracing::warn!(error = %e, event = kind.as_str(), "security event not stored");
        }
    }

    /// Stores `kind` for the account of `email`, if there is one, in the background: the
    /// answer does not wait for the lookup or the write.
    pub(super) fn record_later(&self, email: &UserEmail, kind: EventKind, client: &Client) {
        let db = self.db.clone();
        let email = email.clone();
        let template = self.event(UserId::new(0), kind, client);
        tokio::spawn(async move {
            let Ok(Some(user)) = db::users::find_by_email(&db, &email).await else {
                return;
            };
            let event = NewEvent {
                user_id: user.user_id(),
                ..template
            };
            if let Err(e) = db::audit::record(&db, &event).await {
                tracing::warn!(error = %e, event = kind.as_str(), "security event not stored");
            }
        });
    }

    /// Whether a sign-in of `user_id` from `client` is new: the user signed in before within
    /// the retention, but never from this browser (user agent) on this network (the client's
    /// /24 or /64). The first sign-in of an account is not new. `false` when `LOGIN_NOTIFY`
    /// is off.
    pub(super) async fn new_sign_in(&self, user_id: UserId, client: &Client) -> bool {
        if !self.settings.login_notify {
            return false;
        }
        let since = self.clock.now() - delta(self.settings.audit_retention);
        let logins = match db::audit::recent_logins(&self.db, user_id, since, RECENT_LOGINS).await {
            Ok(logins) => logins,
            Err(e) => {
                tracing::warn!(error = %e, "sign-in history unavailable; no new-sign-in notice");
                return false;
            }
        };
        let network = network_of(&client.address.to_string());
        let user_agent = client.user_agent.as_str();
        !logins.is_empty()
            && !logins
                .iter()
                .any(|(ip, agent)| agent == user_agent && network_of(ip) == network)
    }

    /// What a login writes with its session: its event, and the "new sign-in" notice to the
    /// stored address `email` when `new_sign_in` says the client is new to the account.
    pub(super) fn login_effects(
        &self,
        event: NewEvent,
        email: &str,
        client: &Client,
        new_sign_in: bool,
    ) -> Effects {
        if !new_sign_in {
            return Effects {
                event,
                mail: Vec::new(),
            };
        }
        let notice = Message::NewSignIn {
            ip: client.address.to_string(),
            user_agent: client.user_agent.as_str().to_owned(),
        };
        self.with_notice(event, email, notice)
    }

    /// The signed-in user's own events within the retention (older ones are purged by the
    /// sweep, and never shown meanwhile), newest first: at most `limit`, older than the event
    /// `before` when given (the `next` cursor of the previous page).
    pub async fn activity(
        &self,
        session: &Session,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<EventRow>, AuthError> {
        let since = self.clock.now() - delta(self.settings.audit_retention);
        Ok(db::audit::list(&self.db, session.user.id, since, before, limit).await?)
    }
}

/// Successful logins looked at to tell a new sign-in.
const RECENT_LOGINS: u32 = 200;

/// The network of an address as stored: the /24 of an IPv4 address, the /64 of an IPv6 one
/// (what one home or office connection usually keeps).
fn network_of(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Err(_) => ip.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::network_of;

    #[test]
    fn networks_are_the_24_or_the_64() {
        assert_eq!(network_of("203.0.113.7"), network_of("203.0.113.200"));
        assert_ne!(network_of("203.0.113.7"), network_of("203.0.114.7"));
        assert_eq!(
            network_of("2001:db8:1:2::1"),
            network_of("2001:db8:1:2:ffff::9")
        );
        assert_ne!(network_of("2001:db8:1:2::1"), network_of("2001:db8:1:3::1"));
    }
}
