//! Business registration numbers (사업자등록번호), the key a merchant has outside maeul.
//!
//! The national registry identifies a business by a 10-digit number `XXX-XX-XXXXX`: a
//! tax office code, a business type code, a serial and a check digit. The check digit
//! catches most typos in files typed by hand, so a number whose check digit is wrong is
//! refused rather than becoming a second merchant, unless an operator asks a registry
//! import to keep such rows as *unverified* (awaiting review, not payable).

use std::fmt;
use std::str::FromStr;

use crate::error::BrnError;

/// Weights of the first nine digits in the check-digit sum.
const WEIGHTS: [u32; 9] = [1, 3, 7, 1, 3, 7, 1, 3, 5];

/// A business registration number. Stored as the 10-digit number; shown and serialised
/// as `123-45-67890`. [`Brn::parse`] (and deserialising) gives only numbers whose check
/// digit is valid; [`Brn::parse_unverified`] keeps a number as written for a registry
/// import whose operator asked to take such rows (the merchant record then carries
/// `brn_unverified` and awaits review).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Brn(u64);

impl Brn {
    /// The check digit that the first nine `digits` call for.
    pub fn check_digit(digits: &[u32; 9]) -> u32 {
        let mut sum: u32 = digits.iter().zip(WEIGHTS).map(|(d, w)| d * w).sum();
        sum += digits[8] * 5 / 10;
        (10 - sum % 10) % 10
    }

    /// Builds a valid number from its first nine digits (as a number below 10^9) by
    /// appending the check digit. Used by the synthetic data generator.
    pub fn from_prefix(prefix: u32) -> Option<Brn> {
        if prefix >= 1_000_000_000 {
            return None;
        }
        let mut digits = [0u32; 9];
        let mut rest = prefix;
        for d in digits.iter_mut().rev() {
            *d = rest % 10;
            rest /= 10;
        }
        let check = Self::check_digit(&digits);
        Some(Brn(u64::from(prefix) * 10 + u64::from(check)))
    }

    /// Accepts `1234567890` and `123-45-67890` (spaces and hyphens are ignored anywhere).
    pub fn parse(text: &str) -> Result<Brn, BrnError> {
        let brn = Brn::parse_unverified(text)?;
        if !brn.check_digit_ok() {
            return Err(BrnError::Checksum);
        }
        Ok(brn)
    }

    /// Like [`Brn::parse`], but keeps a number whose check digit is wrong (ten digits are
    /// still required): the digits as written, for an operator to review.
    pub fn parse_unverified(text: &str) -> Result<Brn, BrnError> {
        let mut digits = [0u32; 10];
        let mut n = 0usize;
        for c in text.chars() {
            match c {
                '-' | ' ' => {}
                '0'..='9' => {
                    let slot = digits.get_mut(n).ok_or(BrnError::Format)?;
                    *slot = c as u32 - '0' as u32;
                    n += 1;
                }
                _ => return Err(BrnError::Format),
            }
        }
        if n != 10 {
            return Err(BrnError::Format);
        }
        Ok(Brn(digits
            .iter()
            .fold(0u64, |acc, &d| acc * 10 + u64::from(d))))
    }

    /// Whether the last digit is the check digit the first nine call for.
    pub fn check_digit_ok(self) -> bool {
        let mut first = [0u32; 9];
        let mut rest = self.0 / 10;
        for d in first.iter_mut().rev() {
            *d = (rest % 10) as u32;
            rest /= 10;
        }
        Self::check_digit(&first) == (self.0 % 10) as u32
    }

    /// The number as ten digits without separators.
    pub fn digits(self) -> String {
        format!("{:010}", self.0)
    }

    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Brn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.digits();
        write!(f, "{}-{}-{}", &d[0..3], &d[3..5], &d[5..10])
    }
}

impl fmt::Debug for Brn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Brn({self})")
    }
}

impl FromStr for Brn {
    type Err = BrnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Brn::parse(s)
    }
}

impl serde::Serialize for Brn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Brn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Brn::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<&str, BrnError>) {
        assert_eq!(
            Brn::parse(input).map(|b| b.to_string()),
            expected.map(str::to_string),
            "{input}"
        );
    }

    #[test]
    fn parse_examples() {
        // 220-81-62517 passes the checksum.
        check("220-81-62517", Ok("220-81-62517"));
        check("2208162517", Ok("220-81-62517"));
        check("220 81 62517", Ok("220-81-62517"));
        check("220-81-62518", Err(BrnError::Checksum));
        check("220-81-6251", Err(BrnError::Format));
        check("220-81-625170", Err(BrnError::Format));
        check("22O-81-62517", Err(BrnError::Format));
        check("", Err(BrnError::Format));
    }

    #[test]
    fn unverified_numbers_keep_their_digits() {
        let typo = Brn::parse_unverified("220-81-62518").unwrap_or(Brn(0));
        assert_eq!(typo.to_string(), "220-81-62518");
        assert!(!typo.check_digit_ok());
        assert!(Brn::parse("220-81-62517").is_ok_and(Brn::check_digit_ok));
        assert_eq!(Brn::parse_unverified("220-81-6251"), Err(BrnError::Format));
    }

    #[test]
    fn from_prefix_always_valid() {
        for prefix in [0, 1, 123_456_789, 999_999_999, 220_816_251] {
            let brn = Brn::from_prefix(prefix).unwrap_or(Brn(0));
            assert_eq!(Brn::parse(&brn.to_string()), Ok(brn));
        }
        assert_eq!(Brn::from_prefix(1_000_000_000), None);
    }

    #[test]
    fn serde_round_trip_and_rejects_bad_checksum() {
        let brn = Brn::parse("220-81-62517").unwrap_or(Brn(0));
        let json = serde_json::to_string(&brn).unwrap_or_default();
        assert_eq!(json, "\"220-81-62517\"");
        assert!(serde_json::from_str::<Brn>("\"220-81-62518\"").is_err());
    }
}
