//! Won amounts and journal time. Integers only: there is no float anywhere near money.

use std::fmt;

/// An amount of Korean won (or the minor unit of the currency), signed so that the
/// issuer's reserve can hold the negative side of every won issued.
///
/// All arithmetic is checked; an overflow is a rejection, never a wrap.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Won(i64);

impl Won {
    pub const ZERO: Won = Won(0);
    /// The largest amount a single transfer may carry (one trillion won). Far above any
    /// real voucher transfer, far below overflow of any balance.
    pub const TRANSFER_MAX: Won = Won(1_000_000_000_000);

    pub const fn new(won: i64) -> Won {
        Won(won)
    }

    pub const fn get(self) -> i64 {
        self.0
    }

    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn checked_add(self, other: Won) -> Option<Won> {
        self.0.checked_add(other.0).map(Won)
    }

    pub fn checked_sub(self, other: Won) -> Option<Won> {
        self.0.checked_sub(other.0).map(Won)
    }

    pub fn min(self, other: Won) -> Won {
        Won(self.0.min(other.0))
    }
}

impl fmt::Display for Won {
    /// `1,234,567원`: grouped by thousands as Korean receipts print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.unsigned_abs().to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3 + 2);
        if self.0 < 0 {
            grouped.push('-');
        }
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        write!(f, "{grouped}원")
    }
}

/// Journal time: microseconds since the Unix epoch, as stamped on a batch by the
/// sequencer. The ledger never reads a clock; every rule that depends on time (pending
/// timeouts, lot expiry, retention) uses the batch's timestamp.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp(0);
    pub const MAX: Timestamp = Timestamp(u64::MAX);

    pub const fn from_micros(us: u64) -> Timestamp {
        Timestamp(us)
    }

    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Saturating: a deadline past the end of time is simply "never".
    pub const fn plus_micros(self, us: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(us))
    }

    pub const fn minus_micros(self, us: u64) -> Timestamp {
        Timestamp(self.0.saturating_sub(us))
    }
}

/// One second of journal time, in microseconds.
pub const SECOND_US: u64 = 1_000_000;
/// One day of journal time, in microseconds.
pub const DAY_US: u64 = 86_400 * SECOND_US;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn won_display_groups_thousands() {
        let check = |n: i64, s: &str| assert_eq!(Won::new(n).to_string(), s);
        check(0, "0원");
        check(999, "999원");
        check(1_000, "1,000원");
        check(45_000, "45,000원");
        check(-7_000_000, "-7,000,000원");
        check(i64::MIN, "-9,223,372,036,854,775,808원");
    }

    #[test]
    fn won_arithmetic_is_checked() {
        assert_eq!(Won::new(i64::MAX).checked_add(Won::new(1)), None);
        assert_eq!(Won::new(i64::MIN).checked_sub(Won::new(1)), None);
        assert_eq!(Won::new(5).checked_sub(Won::new(7)), Some(Won::new(-2)));
    }
}
