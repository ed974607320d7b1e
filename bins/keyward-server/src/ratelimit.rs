//! A small in-memory token bucket per client address, for `POST /api/v1/agent/register`, and
//! which address a request comes from.
//!
//! Each client address has a bucket of `burst` tokens that refills at `per_minute` tokens a
//! minute; a request takes one token or is refused with the seconds until the next one. IPv6
//! clients are counted per /64 (one host usually holds a whole /64). The map is bounded: when
//! it is full, buckets that have refilled completely (they hold nothing worth remembering) are
//! dropped, and if none has, new addresses share one overflow bucket, so memory stays bounded
//! and the addresses already known keep their own budget.
//!
//! The client address is the TCP peer's. `X-Forwarded-For` is believed only when the peer is
//! one of `agent.trusted_proxies`, and then only as far as the proxies go: the address is the
//! right-most entry that is not itself a trusted proxy (entries further left are the client's
//! own claims).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

/// Buckets kept at most before the overflow bucket is used.
const MAX_BUCKETS: usize = 10_000;

/// Per-address token buckets.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    burst: f64,
    per_second: f64,
    max_buckets: usize,
    state: Mutex<Buckets>,
}

#[derive(Debug, Default)]
struct Buckets {
    by_address: HashMap<IpAddr, Bucket>,
    overflow: Option<Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// `burst` requests at once, then `per_minute` a minute (both at least 1).
    pub(crate) fn new(burst: u32, per_minute: u32) -> Self {
        Self::with_capacity(burst, per_minute, MAX_BUCKETS)
    }

    /// The registration limiter `[agent]` describes.
    pub(crate) fn from_settings(agent: &keyward_service::AgentSettings) -> Self {
        Self::new(agent.registration_burst, agent.registration_per_minute)
    }

    fn with_capacity(burst: u32, per_minute: u32, max_buckets: usize) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            per_second: f64::from(per_minute.max(1)) / 60.0,
            max_buckets,
            state: Mutex::new(Buckets::default()),
        }
    }

    /// Takes a token for `address` now; `Err` holds the whole seconds until one is available.
    pub(crate) fn check(&self, address: IpAddr) -> Result<(), u64> {
        self.check_at(address, Instant::now())
    }

    fn check_at(&self, address: IpAddr, now: Instant) -> Result<(), u64> {
        let key = bucket_key(address);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let full = Bucket {
            tokens: self.burst,
            at: now,
        };
        if !state.by_address.contains_key(&key) && state.by_address.len() >= self.max_buckets {
            state
                .by_address
                .retain(|_, b| self.refilled(*b, now) < self.burst);
        }
        let bucket =
            if state.by_address.len() < self.max_buckets || state.by_address.contains_key(&key) {
                state.by_address.entry(key).or_insert(full)
            } else {
                state.overflow.get_or_insert(full)
            };
        let tokens = self.refilled(*bucket, now);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            Ok(())
        } else {
            *bucket = Bucket { tokens, at: now };
            let wait = Duration::from_secs_f64((1.0 - tokens) / self.per_second);
            Err(wait
                .as_secs()
                .saturating_add(u64::from(wait.subsec_nanos() > 0)))
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * self.per_second).min(self.burst)
    }
}

/// IPv4 addresses as they are; IPv6 addresses by their /64.
fn bucket_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// The client address of a request from `peer`: the peer itself, unless it is a trusted proxy,
/// in which case the right-most `X-Forwarded-For` entry that is not a trusted proxy. An entry
/// that is not an address stops the walk at the last address that was (never further left:
/// what lies there is the client's own claim).
pub(crate) fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |a: &IpAddr| trusted.iter().any(|t| t.to_canonical() == *a);
    if !is_trusted(&peer) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Some(address) = parse_forwarded(entry) else {
            break;
        };
        client = address;
        if !is_trusted(&address) {
            break;
        }
    }
    client
}

fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|a| a.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_bucket_allows_its_burst_then_one_request_per_refill() {
        let limiter = RateLimiter::new(3, 6); // one token every 10 s
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        for _ in 0..3 {
            assert_eq!(limiter.check_at(a, t0), Ok(()));
        }
        assert_eq!(limiter.check_at(a, t0), Err(10));
        assert_eq!(limiter.check_at(a, t0 + Duration::from_secs(4)), Err(6));
        assert_eq!(limiter.check_at(a, t0 + Duration::from_secs(10)), Ok(()));
        assert_eq!(limiter.check_at(a, t0 + Duration::from_secs(10)), Err(10));
        // Another address has its own bucket.
        assert_eq!(limiter.check_at(ip("192.0.2.2"), t0), Ok(()));
        // A long pause refills at most the burst.
        let later = t0 + Duration::from_hours(1);
        for _ in 0..3 {
            assert_eq!(limiter.check_at(a, later), Ok(()));
        }
        assert!(limiter.check_at(a, later).is_err());
    }

    #[test]
    fn ipv6_addresses_share_a_bucket_per_64() {
        let limiter = RateLimiter::new(1, 1);
        let t0 = Instant::now();
        assert_eq!(limiter.check_at(ip("2001:db8:1:2::1"), t0), Ok(()));
        assert!(limiter.check_at(ip("2001:db8:1:2:ffff::9"), t0).is_err());
        assert_eq!(limiter.check_at(ip("2001:db8:1:3::1"), t0), Ok(()));
        // An IPv4-mapped address is the IPv4 address.
        assert_eq!(limiter.check_at(ip("198.51.100.7"), t0), Ok(()));
        assert!(limiter.check_at(ip("::ffff:198.51.100.7"), t0).is_err());
    }

    #[test]
    fn the_map_stays_bounded_and_known_addresses_keep_their_budget() {
        let limiter = RateLimiter::with_capacity(2, 1, 2);
        let t0 = Instant::now();
        assert_eq!(limiter.check_at(ip("192.0.2.1"), t0), Ok(()));
        assert_eq!(limiter.check_at(ip("192.0.2.2"), t0), Ok(()));
        // Full, and no bucket has refilled: new addresses share the overflow bucket.
        assert_eq!(limiter.check_at(ip("192.0.2.3"), t0), Ok(()));
        assert_eq!(limiter.check_at(ip("192.0.2.4"), t0), Ok(()));
        assert!(limiter.check_at(ip("192.0.2.5"), t0).is_err());
        assert_eq!(limiter.check_at(ip("192.0.2.1"), t0), Ok(()), "own budget");
        {
            let state = limiter.state.lock().unwrap();
            assert_eq!(state.by_address.len(), 2);
        }
        // Once the known buckets have refilled, they are dropped to make room.
        let later = t0 + Duration::from_mins(10);
        assert_eq!(limiter.check_at(ip("192.0.2.6"), later), Ok(()));
        let state = limiter.state.lock().unwrap();
        assert!(state.by_address.contains_key(&ip("192.0.2.6")));
        assert!(state.by_address.len() <= 2);
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.20".parse().unwrap(),
        );
        let proxy = ip("10.0.0.5");
        // Not configured: the peer, whatever the header says.
        assert_eq!(client_address(proxy, &headers, &[]), proxy);
        // From a trusted proxy: the right-most entry that is not a trusted proxy (the left
        // one is what the client claimed to the first proxy).
        assert_eq!(
            client_address(proxy, &headers, &[proxy]),
            ip("198.51.100.20")
        );
        // A chain of trusted proxies is walked through.
        assert_eq!(
            client_address(proxy, &headers, &[proxy, ip("198.51.100.20")]),
            ip("203.0.113.9")
        );
        // A peer that is not trusted cannot choose its address.
        assert_eq!(
            client_address(ip("192.0.2.66"), &headers, &[proxy]),
            ip("192.0.2.66")
        );
        // Garbage stops the walk; no header leaves the proxy's own address.
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, not-an-address".parse().unwrap(),
        );
        assert_eq!(client_address(proxy, &headers, &[proxy]), proxy);
        assert_eq!(client_address(proxy, &HeaderMap::new(), &[proxy]), proxy);
        // Several header lines are one list; ports are dropped.
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", "203.0.113.9".parse().unwrap());
        headers.append("x-forwarded-for", "198.51.100.20:4711".parse().unwrap());
        assert_eq!(
            client_address(proxy, &headers, &[proxy]),
            ip("198.51.100.20")
        );
    }
}
