//! Token-bucket limits:
//! - per signed-in user over every state-changing request. A person never needs
//!   hundreds of changes a second; a script that tries is answered 429 with Retry-After
//!   instead of ageing out everyone's idempotency keys;
//! - per client address over sign-up and sign-in (the requests without a user), so one
//!   machine cannot take the password-hashing capacity everyone's sign-in needs. IPv6
//!   addresses count per /64 (one subscriber's prefix). The default is generous because
//!   Korean mobile carriers put many phones behind one address.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::Instant;

use parking_lot::Mutex;

/// At most this many users or addresses tracked (idle buckets are dropped first).
const KEYS_MAX: usize = 1_000_000;

#[derive(Debug, Clone, Copy)]
pub struct WriteLimit {
    pub per_second: u32,
    pub burst: u32,
}

impl Default for WriteLimit {
    fn default() -> Self {
        WriteLimit {
            per_second: 200,
            burst: 400,
        }
    }
}

impl WriteLimit {
    /// Sign-ups and sign-ins per client address.
    pub const PER_ADDRESS: WriteLimit = WriteLimit {
        per_second: 20,
        burst: 200,
    };
}

/// The key an address is limited under: IPv4 whole, IPv6 by its /64.
pub fn address_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(u32::from(v4)),
            None => u128::from(v6) & !((1u128 << 64) - 1),
        },
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
pub struct Limiter<K = i64> {
    limit: WriteLimit,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq> Limiter<K> {
    pub fn new(limit: WriteLimit) -> Limiter<K> {
        Limiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` when `key` (a user, an address) may go on now; otherwise the seconds to wait.
    pub fn admit(&self, key: K) -> Result<(), u64> {
        let now = Instant::now();
        let (rate, burst) = (
            f64::from(self.limit.per_second.max(1)),
            f64::from(self.limit.burst.max(1)),
        );
        let mut buckets = self.buckets.lock();
        if buckets.len() >= KEYS_MAX {
            // Full buckets carry no information: drop them.
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let b = buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let l = Limiter::<i64>::new(WriteLimit {
            per_second: 1,
            burst: 3,
        });
        assert!((0..3).all(|_| l.admit(7).is_ok()));
        assert_eq!(l.admit(7), Err(1));
        // Another user is not affected.
        assert!(l.admit(8).is_ok());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap_or(IpAddr::from([0; 4]));
        let b: IpAddr = "2001:db8:1:2:ffff::9"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(
            address_key(mapped),
            address_key(IpAddr::from([10, 0, 0, 1]))
        );
    }
}
