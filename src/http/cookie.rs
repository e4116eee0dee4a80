//! The session cookie: its name, its attributes and how it is read back.
//!
//! Written and parsed with the `cookie` crate. A `Cookie` header is split on `;` from its raw
//! bytes first: a browser may send another site's cookie with bytes that are not ASCII (say
//! `lang=français`), and `HeaderValue::to_str`, or axum-extra's `CookieJar`, would then drop the
//! whole header, ours included (see `../shared/CRATES.md`). Only the pieces that are not text
//! are skipped.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};

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
        let max_age = cookie::time::Duration::seconds(i64::try_from(max_age).ok()?);
        let cookie = Cookie::build((self.name(), value))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .max_age(max_age)
            .secure(self.secure)
            .build();
        HeaderValue::from_str(&cookie.to_string()).ok()
    }

    /// Every non-empty session token among the request's cookies, in the order sent.
    pub fn tokens<'h>(&self, headers: &'h HeaderMap) -> impl Iterator<Item = &'h str> + 'h {
        let name = self.name();
        headers
            .get_all(header::COOKIE)
            .iter()
            .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
            .filter_map(|piece| std::str::from_utf8(piece).ok())
            .filter_map(|piece| Cookie::parse(piece.trim()).ok())
            .filter(move |c| c.name_raw() == Some(name))
            .filter_map(|c| c.value_raw())
            .filter(|v| !v.is_empty())
    }

    /// The first session token among the request's cookies, if there is one.
    pub fn read<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        self.tokens(headers).next()
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
        let c = c.to_str().unwrap();
        assert!(c.starts_with("access_token=tok;"), "{c}");
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=3600"] {
            assert!(
                c.split("; ").any(|a| a == attribute),
                "{attribute} missing: {c}"
            );
        }
        assert!(!c.contains("Secure"), "{c}");
    }

    #[test]
    fn a_secure_cookie_uses_the_host_prefix() {
        let c = SessionCookie::new(true)
            .set("tok", Duration::from_secs(60))
            .unwrap();
        let c = c.to_str().unwrap();
        assert!(c.starts_with("__Host-access_token=tok;"));
        assert!(c.split("; ").any(|a| a == "Secure"), "{c}");
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

    #[test]
    fn a_foreign_cookie_with_non_ascii_bytes_does_not_hide_ours() {
        let mut h = HeaderMap::new();
        let raw = "lang=fran\u{e7}ais; access_token=xyz; x=\u{fffd}".as_bytes();
        h.insert(header::COOKIE, HeaderValue::from_bytes(raw).unwrap());
        let mut latin1 = b"lang=fran".to_vec();
        latin1.extend_from_slice(&[0xe7]);
        latin1.extend_from_slice(b"ais;access_token=abc");
        h.append(header::COOKIE, HeaderValue::from_bytes(&latin1).unwrap());
        let found: Vec<&str> = SessionCookie::new(false).tokens(&h).collect();
        assert_eq!(found, ["xyz", "abc"]);
    }
}
