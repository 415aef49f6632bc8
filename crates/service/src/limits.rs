//! Limits on what one user or address can take:
//! - per signed-in user over every state-changing request. A person never needs
//!   hundreds of changes a second; a script that tries is answered 429 with Retry-After
//!   instead of ageing out everyone's idempotency keys;
//! - per client address over sign-up and sign-in (the requests without a user), so one
//!   machine cannot take the password-hashing capacity everyone's sign-in needs. IPv6
//!   addresses count per /64 (one subscriber's prefix). The default is generous because
//!   Korean mobile carriers put many phones behind one address;
//! - live payment streams held open, per user and in all (`Streams`): places, not rates.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;
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

/// Live payment streams (server-sent events) held open at once: a few per user (a
/// phone, a tablet, a till's screens), and a bound on all of them so that idle
/// connections cannot take the memory and file descriptors payments need.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimit {
    pub per_user: usize,
    pub total: usize,
}

impl Default for StreamLimit {
    fn default() -> Self {
        StreamLimit {
            per_user: 4,
            total: 10_000,
        }
    }
}

/// Why a stream was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamRefused {
    /// The user holds `per_user` streams already.
    PerUser { limit: usize },
    /// The service holds `total` streams.
    Total,
}

/// The live streams open now, per user and in all.
#[derive(Debug)]
pub struct Streams {
    limit: StreamLimit,
    /// Streams open per user (users with none are not kept), and in all.
    open: Mutex<(HashMap<i64, usize>, usize)>,
}

/// One open stream's place; given back when dropped (with the stream, when the client
/// goes away or the session ends).
#[derive(Debug)]
pub struct StreamSlot {
    streams: Arc<Streams>,
    user: i64,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock();
        let (per_user, total) = &mut *open;
        *total = total.saturating_sub(1);
        if let Some(n) = per_user.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per_user.remove(&self.user);
            }
        }
    }
}

impl Streams {
    pub fn new(limit: StreamLimit) -> Arc<Streams> {
        Arc::new(Streams {
            limit,
            open: Mutex::new((HashMap::new(), 0)),
        })
    }

    /// A place for one more stream of `user`, or why not. The user's own cap is told
    /// first: waiting does not help there, closing one of their streams does.
    pub fn admit(self: &Arc<Self>, user: i64) -> Result<StreamSlot, StreamRefused> {
        let mut open = self.open.lock();
        let (per_user, total) = &mut *open;
        let mine = per_user.get(&user).copied().unwrap_or(0);
        if mine >= self.limit.per_user {
            return Err(StreamRefused::PerUser {
                limit: self.limit.per_user,
            });
        }
        if *total >= self.limit.total {
            return Err(StreamRefused::Total);
        }
        *total += 1;
        *per_user.entry(user).or_insert(0) += 1;
        Ok(StreamSlot {
            streams: Arc::clone(self),
            user,
        })
    }

    /// Streams open now (all users).
    pub fn open(&self) -> usize {
        self.open.lock().1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_capped_per_user_and_in_all_and_places_come_back() {
        let streams = Streams::new(StreamLimit {
            per_user: 2,
            total: 3,
        });
        let a1 = streams.admit(1);
        let a2 = streams.admit(1);
        assert!(a1.is_ok() && a2.is_ok());
        assert_eq!(
            streams.admit(1).err(),
            Some(StreamRefused::PerUser { limit: 2 })
        );
        let b1 = streams.admit(2);
        assert!(b1.is_ok());
        assert_eq!(streams.admit(3).err(), Some(StreamRefused::Total));
        assert_eq!(streams.open(), 3);
        drop(a1);
        assert_eq!(streams.open(), 2);
        let c1 = streams.admit(3);
        assert!(c1.is_ok(), "a closed stream gave its place back");
        drop((a2, b1, c1));
        assert_eq!(streams.open(), 0);
        assert!(
            streams.open.lock().0.is_empty(),
            "users with none are not kept"
        );
    }

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
