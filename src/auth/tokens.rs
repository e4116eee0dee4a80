//! Session tokens: HS256 JWTs that name a server-side session.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use secrecy::{ExposeSecret, SecretString};

use crate::domain::{SessionId, UserId};

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user's id.
    sub: String,
    /// The session's id; the session row is the real authority.
    sid: String,
    iat: i64,
    exp: i64,
}

/// How far ahead of our clock a token's `iat` may be.
const MAX_CLOCK_SKEW_SECS: i64 = 60;

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub user_id: UserId,
    pub session_id: SessionId,
}

/// Signing and checking keys, built once at start-up.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The key being rotated out (`JWT_SECRET_PREVIOUS`): its tokens are still accepted.
    previous: Option<DecodingKey>,
    validation: Validation,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed, signed with another key or algorithm, or incomplete")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token could not be signed: {0}")]
    Sign(jsonwebtoken::errors::Error),
}

impl Tokens {
    /// Signs with `secret`; checks with it, then with `previous` if given.
    pub fn new(secret: &SecretString, previous: Option<&SecretString>) -> Self {
        // Only HS256 is accepted: a token claiming "none" or any other algorithm fails the
        // signature check before anything in it is read. Expiry is checked against our clock.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret.expose_secret().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            previous: previous.map(|p| DecodingKey::from_secret(p.expose_secret().as_bytes())),
            validation,
        }
    }

    pub fn issue(
        &self,
        user_id: UserId,
        session_id: &SessionId,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        let claims = Claims {
            sub: user_id.to_string(),
            sid: session_id.as_str().to_owned(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(TokenError::Sign)
    }

    pub fn check(&self, token: &str, now: DateTime<Utc>) -> Result<TokenClaims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .or_else(|e| match &self.previous {
                Some(previous) => jsonwebtoken::decode::<Claims>(token, previous, &self.validation),
                None => Err(e),
            })
            .map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        if claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        // We never issue tokens from the future; one that claims it was forged or misissued.
        if claims.iat > now.timestamp() + MAX_CLOCK_SKEW_SECS {
            return Err(TokenError::Invalid);
        }
        let user_id = claims.sub.parse().map_err(|_| TokenError::Invalid)?;
        Ok(TokenClaims {
            user_id: UserId::new(user_id),
            session_id: SessionId::from_stored(claims.sid),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn tokens() -> Tokens {
        Tokens::new(
            &SecretString::from("test-secret-test-secret-test-secret"),
            None,
        )
    }

    #[test]
    fn tokens_of_the_previous_key_are_accepted_during_a_rotation_and_no_others() {
        let old = SecretString::from("old-secret-old-secret-old-secret-old");
        let new = SecretString::from("new-secret-new-secret-new-secret-new");
        let sid = SessionId::generate();
        let issued = Tokens::new(&old, None)
            .issue(UserId::new(3), &sid, now(), now() + TimeDelta::minutes(5))
            .unwrap();
        let rotating = Tokens::new(&new, Some(&old));
        assert_eq!(rotating.check(&issued, now()).unwrap().session_id, sid);
        assert!(matches!(
            Tokens::new(&new, None).check(&issued, now()),
            Err(TokenError::Invalid)
        ));
        let fresh = rotating
            .issue(UserId::new(3), &sid, now(), now() + TimeDelta::minutes(5))
            .unwrap();
        assert!(
            Tokens::new(&new, None).check(&fresh, now()).is_ok(),
            "signed with the new key"
        );
        let stranger = SecretString::from("another-secret-another-secret-anoth");
        let forged = Tokens::new(&stranger, None)
            .issue(UserId::new(3), &sid, now(), now() + TimeDelta::minutes(5))
            .unwrap();
        assert!(matches!(
            rotating.check(&forged, now()),
            Err(TokenError::Invalid)
        ));
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    fn sid(id: &str) -> SessionId {
        SessionId::from_stored(id.to_owned())
    }

    #[test]
    fn a_fresh_token_names_its_user_and_session() {
        let now = now();
        let t = tokens()
            .issue(
                UserId::new(7),
                &sid("abc"),
                now,
                now + TimeDelta::minutes(5),
            )
            .unwrap();
        let claims = tokens().check(&t, now).unwrap();
        assert_eq!(claims.user_id, UserId::new(7));
        assert_eq!(claims.session_id, sid("abc"));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let now = now();
        let t = tokens()
            .issue(
                UserId::new(7),
                &sid("abc"),
                now,
                now + TimeDelta::minutes(5),
            )
            .unwrap();
        let later = now + TimeDelta::minutes(5);
        assert!(matches!(
            tokens().check(&t, later),
            Err(TokenError::Expired)
        ));
    }

    #[test]
    fn a_token_issued_in_the_future_is_refused() {
        let now = now();
        let future = now + TimeDelta::minutes(10);
        let t = tokens()
            .issue(
                UserId::new(7),
                &sid("abc"),
                future,
                future + TimeDelta::minutes(5),
            )
            .unwrap();
        assert!(matches!(tokens().check(&t, now), Err(TokenError::Invalid)));
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let now = now();
        let other = Tokens::new(
            &SecretString::from("another-secret-another-secret-xx"),
            None,
        );
        let t = other
            .issue(
                UserId::new(7),
                &sid("abc"),
                now,
                now + TimeDelta::minutes(5),
            )
            .unwrap();
        assert!(matches!(tokens().check(&t, now), Err(TokenError::Invalid)));
    }
}
