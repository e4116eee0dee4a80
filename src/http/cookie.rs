//! The session cookie: its name, its attributes and how it is read back.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};

/// How the session cookie is written.
#[derive(Clone, Debug)]
pub struct SessionCookie {
    secure: bool,
}

impl SessionCookie {
    pub fn new(secure: bool) -> Self {
        Self { secure }
    }

    /// `__Host-access_token` over HTTPS (the prefix makes the browser insist on Secure, Path=/
    /// and no Domain, so no sibling subdomain can plant or overwrite it), `access_token` otherwise.
    pub fn name(&self) -> &'static str {
        if self.secure {
            "__Host-access_token"
        } else {
            "access_token"
        }
    }

    /// The `Set-Cookie` value that stores `token` for `max_age`.
    pub fn set(&self, token: &str, max_age: Duration) -> Option<HeaderValue> {
        self.header(token, max_age.as_secs())
    }

    /// The `Set-Cookie` value that makes the browser drop the cookie.
    pub fn clear(&self) -> Option<HeaderValue> {
        self.header("", 0)
    }

    fn header(&self, value: &str, max_age: u64) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        let cookie = format!(
            "{}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}",
            self.name()
        );
        HeaderValue::from_str(&cookie).ok()
    }

    /// The session token from the request's cookies, if there is one.
    pub fn read<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        let name = self.name();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, v)| *k == name && !v.is_empty())
            .map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_lax_and_scoped_to_the_site() {
        let c = SessionCookie::new(false)
            .set("tok", Duration::from_secs(3600))
            .unwrap();
        assert_eq!(
            c.to_str().unwrap(),
            "access_token=tok; HttpOnly; SameSite=Lax; Path=/; Max-Age=3600"
        );
    }

    #[test]
    fn a_secure_cookie_uses_the_host_prefix() {
        let c = SessionCookie::new(true)
            .set("tok", Duration::from_secs(60))
            .unwrap();
        let c = c.to_str().unwrap();
        assert!(c.starts_with("__Host-access_token=tok;"));
        assert!(c.ends_with("; Secure"));
    }

    #[test]
    fn the_token_is_found_among_other_cookies() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; access_token=xyz; b=2"),
        );
        assert_eq!(SessionCookie::new(false).read(&h), Some("xyz"));
        assert_eq!(SessionCookie::new(true).read(&h), None);
    }
}
