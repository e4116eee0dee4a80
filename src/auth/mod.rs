//! The auth domain: who users are, how they prove it, and what each flow does.
//! Nothing here knows about HTTP.

pub mod counters;
pub mod decide;
mod limits;
pub mod otp;
pub mod password;
pub mod policy;
mod service;
pub mod token;
pub mod types;

pub use service::{Auth, AuthError, AuthSettings, Login, Verified};

/// `N` random bytes from the CSPRNG, hex-encoded: unguessable, and safe in a URL, a cookie or SQL.
pub(crate) fn random_hex<const N: usize>() -> String {
    let bytes: [u8; N] = rand::random();
    hex(&bytes)
}

/// Lower-case hexadecimal of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A std duration as a chrono one, saturating instead of failing.
pub(crate) fn delta(d: std::time::Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
}

/// A shared store (codes, counters) could not be reached: the request is refused with a 503
/// rather than let through unchecked.
#[derive(Debug, thiserror::Error)]
#[error("store unavailable: {0}")]
pub struct StoreError(pub String);
