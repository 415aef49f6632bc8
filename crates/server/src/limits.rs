//! Per-user write limits: a token bucket per signed-in user over every state-changing
//! request. A person never needs hundreds of changes a second; a script that tries is
//! answered 429 with Retry-After instead of ageing out everyone's idempotency keys.

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;

/// At most this many users tracked (idle buckets are dropped first).
const USERS_MAX: usize = 1_000_000;

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

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
pub struct Limiter {
    limit: WriteLimit,
    buckets: Mutex<HashMap<i64, Bucket>>,
}

impl Limiter {
    pub fn new(limit: WriteLimit) -> Limiter {
        Limiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` when `user` may write now; otherwise the seconds to wait.
    pub fn admit(&self, user: i64) -> Result<(), u64> {
        let now = Instant::now();
        let (rate, burst) = (
            f64::from(self.limit.per_second.max(1)),
            f64::from(self.limit.burst.max(1)),
        );
        let mut buckets = self.buckets.lock();
        if buckets.len() >= USERS_MAX {
            // Full buckets carry no information: drop them.
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let b = buckets.entry(user).or_insert(Bucket {
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
        let l = Limiter::new(WriteLimit {
            per_second: 1,
            burst: 3,
        });
        assert!((0..3).all(|_| l.admit(7).is_ok()));
        assert_eq!(l.admit(7), Err(1));
        // Another user is not affected.
        assert!(l.admit(8).is_ok());
    }
}
