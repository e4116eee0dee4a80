//! Who is asking: the client address that rate limits and lockouts count by.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;
use tower_governor::GovernorError;
use tower_governor::key_extractor::KeyExtractor;

/// The client's address as counted by limits. IPv6 addresses are cut to their /64, since one
/// subscriber usually holds a whole /64 and could otherwise rotate through it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

/// The client's whole address, as found (IPv4-mapped IPv6 shown as IPv4): what the session
/// list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// Who may be let in: how client addresses are found, and how many the rate limiters may track.
///
/// The limiters remember every client whose bucket is not full again. When they track
/// `max_clients`, idle clients (full buckets: nothing to forget) are dropped at once; if that
/// frees no room, every client that was active within one refill period is still being limited,
/// and new requests are refused with 503 until buckets refill, rather than let through
/// unlimited or forgetting what an active client has used.
pub struct ClientGate {
    trust_proxy: bool,
    limiters: super::RateLimiters,
    max_clients: usize,
    /// Held while a purge runs, so a full gate purges once, not once per request.
    purging: Mutex<()>,
}

impl ClientGate {
    pub fn new(trust_proxy: bool, limiters: super::RateLimiters, max_clients: usize) -> Self {
        Self {
            trust_proxy,
            limiters,
            max_clients,
            purging: Mutex::new(()),
        }
    }

    /// Whether the limiters have room, after forgetting idle clients if they were full.
    pub fn has_room(&self) -> bool {
        if self.limiters.tracked_clients() < self.max_clients {
            return true;
        }
        if let Ok(_purging) = self.purging.try_lock() {
            self.limiters.purge_idle();
        }
        self.limiters.tracked_clients() < self.max_clients
    }

    /// Who is asking: the socket peer, or, only when `trust_proxy` is set, the address the
    /// proxy in front reports; IPv6 counted per /64.
    pub fn client_of(&self, req: &Request) -> (ClientIp, ClientAddress) {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let forwarded = if self.trust_proxy {
            from_proxy(req.headers())
        } else {
            None
        };
        let ip = forwarded
            .or(peer)
            .unwrap_or(IpAddr::from([0, 0, 0, 0]))
            .to_canonical();
        (ClientIp(limit_key(ip)), ClientAddress(ip))
    }
}

/// The right-most `X-Forwarded-For` entry (the one our proxy appended; entries to its left
/// were written by the client and prove nothing), else `X-Real-IP` for proxies that only set
/// that one.
fn from_proxy(headers: &HeaderMap) -> Option<IpAddr> {
    let mut forwarded_for = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .peekable();
    if forwarded_for.peek().is_some() {
        // An entry we cannot read means the socket peer, not a header the client may have set.
        return forwarded_for.next_back().and_then(address);
    }
    headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(address)
}

/// An address as a proxy writes it: `1.2.3.4`, `2001:db8::1`, or with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:5678`).
fn address(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    raw.parse()
        .ok()
        .or_else(|| raw.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// The rate limiters' key: the [`ClientIp`] the middleware above found.
#[derive(Clone, Copy, Debug)]
pub struct ClientIpKey;

impl KeyExtractor for ClientIpKey {
    type Key = IpAddr;

    fn extract<T>(&self, req: &axum::http::Request<T>) -> Result<IpAddr, GovernorError> {
        req.extensions()
            .get::<ClientIp>()
            .map(|ClientIp(ip)| *ip)
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_proxy_appended_address_wins_over_what_the_client_wrote() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 10.0.0.7"),
        );
        h.insert("x-real-ip", HeaderValue::from_static("6.6.6.7"));
        assert_eq!(from_proxy(&h), Some(IpAddr::from([10, 0, 0, 7])));
        let mut only_real_ip = HeaderMap::new();
        only_real_ip.insert("x-real-ip", HeaderValue::from_static("10.0.0.9"));
        assert_eq!(from_proxy(&only_real_ip), Some(IpAddr::from([10, 0, 0, 9])));
        let mut with_port = HeaderMap::new();
        with_port.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.8:5678"));
        assert_eq!(from_proxy(&with_port), Some(IpAddr::from([10, 0, 0, 8])));
        with_port.insert(
            "x-forwarded-for",
            HeaderValue::from_static("[2001:db8::1]:443"),
        );
        assert_eq!(from_proxy(&with_port), "2001:db8::1".parse().ok());
        let mut unreadable = only_real_ip.clone();
        unreadable.insert("x-forwarded-for", HeaderValue::from_static("unknown"));
        assert_eq!(from_proxy(&unreadable), None, "X-Real-IP must not stand in");
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(limit_key(a), limit_key(b));
        let mapped: IpAddr = "::ffff:1.2.3.4".parse().unwrap();
        assert_eq!(limit_key(mapped), IpAddr::from([1, 2, 3, 4]));
    }
}
