//! The breached-password check: whether a password is in a corpus of breached passwords, asked
//! of a Pwned Passwords range API with k-anonymity. Only the first 5 hex characters of the
//! password's SHA-1 leave the server, and the answer is asked padded, so neither the API nor
//! anyone watching learns the password or (from the answer's size) whether it was found.

use std::sync::Arc;
use std::time::Duration;

use sha1::{Digest, Sha1};

use super::{Auth, AuthError};
use crate::config::BreachSettings;
use crate::domain::{Invalid, Password};

/// What the corpus says of a password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Breach {
    /// The password is in the corpus: refuse it.
    Found,
    /// It is not.
    NotFound,
    /// The API did not answer in time, or not usefully.
    Unknown,
}

/// A client of the range API.
pub struct BreachCheck {
    client: reqwest::Client,
    url: String,
    timeout: Duration,
}

impl BreachCheck {
    /// A client for `settings`, over rustls with the webpki roots (no system store needed).
    pub fn new(settings: &BreachSettings) -> Result<Self, reqwest::Error> {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map(|builder| {
            builder
                .with_root_certificates(rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                })
                .with_no_client_auth()
        });
        let mut builder = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("authd/", env!("CARGO_PKG_VERSION")));
        if let Ok(tls) = tls {
            builder = builder.tls_backend_preconfigured(tls);
        }
        Ok(Self {
            client: builder.build()?,
            url: settings.api_url.trim_end_matches('/').to_owned(),
            timeout: settings.timeout,
        })
    }

    /// Asks the API about `password`, never for longer than the timeout.
    pub async fn check(&self, password: &Password) -> Breach {
        let digest = hex::encode_upper(Sha1::digest(password.expose().as_bytes()));
        let (prefix, suffix) = digest.split_at(5);
        let request = self
            .client
            .get(format!("{}/{prefix}", self.url))
            .header("Add-Padding", "true")
            .send();
        let answer = async {
            let response = request.await?.error_for_status()?;
            response.text().await
        };
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(Ok(body)) => found_in(&body, suffix),
            Ok(Err(e)) => {
                tracing::warn!(error = %e.without_url(), "the breached-password API failed");
                Breach::Unknown
            }
            Err(_) => {
                tracing::warn!(timeout = ?self.timeout, "the breached-password API did not answer in time");
                Breach::Unknown
            }
        }
    }
}

impl Auth {
    /// Whether `password` may be set for the account of `email` (and `name`): the password
    /// policy, then the breached-password check when it is on. When the API cannot answer,
    /// the password passes (logged), unless the check is set to fail closed (503).
    pub(super) async fn acceptable_password(
        &self,
        password: &Password,
        email: &str,
        name: Option<&str>,
    ) -> Result<(), AuthError> {
        self.settings
            .password_policy
            .check(password, email, name)
            .map_err(AuthError::WeakPassword)?;
        let Some(breach) = &self.breach else {
            return Ok(());
        };
        match breach.check(password).await {
            Breach::NotFound => Ok(()),
            Breach::Found => Err(AuthError::WeakPassword(Invalid::new(
                "password_breached",
                "This password has appeared in a data breach, so attackers try it first: choose another one",
            ))),
            Breach::Unknown if self.settings.breach.fail_closed => {
                Err(AuthError::BreachCheckUnavailable)
            }
            Breach::Unknown => Ok(()),
        }
    }
}

/// Whether the range answer `body` lists `suffix` with a count above zero (padding entries
/// have count zero). An answer that is not a range listing says nothing.
fn found_in(body: &str, suffix: &str) -> Breach {
    let mut lines = 0;
    for line in body.lines() {
        let Some((hash, count)) = line.trim().split_once(':') else {
            continue;
        };
        lines += 1;
        if hash.eq_ignore_ascii_case(suffix) {
            return match count.trim().parse::<u64>() {
                Ok(0) => Breach::NotFound,
                Ok(_) => Breach::Found,
                Err(_) => Breach::Unknown,
            };
        }
    }
    if lines == 0 && !body.trim().is_empty() {
        Breach::Unknown
    } else {
        Breach::NotFound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUFFIX: &str = "1E4C9B93F3F0682250B6CF8331B7EE68FD8";

    #[test]
    fn a_listed_suffix_with_a_count_is_found() {
        let body = format!("0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n{SUFFIX}:3730471\r\n");
        assert_eq!(found_in(&body, SUFFIX), Breach::Found);
        assert_eq!(found_in(&body.to_lowercase(), SUFFIX), Breach::Found);
    }

    #[test]
    fn padding_and_absence_are_not_found() {
        let padded = format!("0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n{SUFFIX}:0\r\n");
        assert_eq!(found_in(&padded, SUFFIX), Breach::NotFound);
        assert_eq!(
            found_in("0018A45C4D1DEF81644B54AB7F969B88D65:2", SUFFIX),
            Breach::NotFound
        );
        assert_eq!(found_in("", SUFFIX), Breach::NotFound);
    }

    #[test]
    fn an_answer_that_is_no_listing_says_nothing() {
        assert_eq!(
            found_in("<html>rate limited</html>", SUFFIX),
            Breach::Unknown
        );
        assert_eq!(found_in(&format!("{SUFFIX}:lots"), SUFFIX), Breach::Unknown);
    }
}
