//! The words maeul and a bank share: account numbers, references, orders and answers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest account number we accept; real Korean account numbers are 10..=14 digits, the
/// slack is for hyphenated and virtual-account forms.
pub const ACCOUNT_NO_CHARS_MAX: usize = 32;
/// Longest reference; long enough for a UUID plus a prefix.
pub const REFERENCE_CHARS_MAX: usize = 64;
/// Longest memo (printed on the counterparty's statement, so banks keep it short).
pub const MEMO_CHARS_MAX: usize = 64;

/// A value that failed an identifier's format rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {reason}")]
pub struct InvalidId {
    kind: &'static str,
    value: String,
    reason: String,
}

impl InvalidId {
    fn new(kind: &'static str, value: &str, reason: impl Into<String>) -> Self {
        // Never echo an unbounded value back into logs or answers.
        let value: String = value.chars().take(80).collect();
        Self {
            kind,
            value,
            reason: reason.into(),
        }
    }
}

/// A bank account number: 1..=32 characters of `[0-9A-Za-z-]`.
///
/// Validated at construction (and on deserialization), so it is always safe to put in a
/// URL path and a statement.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountNo(String);

impl AccountNo {
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
        let value = value.into();
        if value.is_empty() {
            return Err(InvalidId::new("account number", &value, "empty"));
        }
        if value.len() > ACCOUNT_NO_CHARS_MAX {
            return Err(InvalidId::new(
                "account number",
                &value,
                format!("longer than {ACCOUNT_NO_CHARS_MAX} characters"),
            ));
        }
        if let Some(c) = value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(InvalidId::new(
                "account number",
                &value,
                format!("character {c:?} is not one of [0-9A-Za-z-]"),
            ));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The caller's unique id for one order: 1..=64 ASCII graphic characters (`!`..=`~`).
///
/// The bank executes a reference at most once, which is what makes a retry after an
/// ambiguous failure safe. `.` and `..` are refused because they cannot travel as a URL
/// path segment (URL parsers resolve them away), so their status could not be asked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Reference(String);

impl Reference {
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
        let value = value.into();
        if value.is_empty() {
            return Err(InvalidId::new("reference", &value, "empty"));
        }
        if value.len() > REFERENCE_CHARS_MAX {
            return Err(InvalidId::new(
                "reference",
                &value,
                format!("longer than {REFERENCE_CHARS_MAX} characters"),
            ));
        }
        if let Some(c) = value.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(InvalidId::new(
                "reference",
                &value,
                format!("character {c:?} is not printable ASCII"),
            ));
        }
        if value == "." || value == ".." {
            return Err(InvalidId::new(
                "reference",
                &value,
                "`.` and `..` cannot be used as a URL path segment",
            ));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_id {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $t {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }
        impl TryFrom<String> for $t {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}
string_id!(AccountNo);
string_id!(Reference);

/// One instruction to move `amount` won from `debit` to `credit`.
///
/// Fields are public so maeul can store and rebuild an order exactly: a retry must send
/// the *identical* order (the bank compares every field), or it is a reference conflict.
/// The bank, not the constructor, judges the values ([`Order::check`]), so that even a bad
/// order gets a final, recorded answer (`invalid_order`) under its reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    pub reference: Reference,
    pub debit: AccountNo,
    pub credit: AccountNo,
    /// Won; must be > 0.
    pub amount: i64,
    /// At most [`MEMO_CHARS_MAX`] characters.
    #[serde(default)]
    pub memo: String,
    /// Unix-epoch milliseconds after which the bank refuses to execute the order. This is
    /// what lets maeul turn "unknown" into "never happened": once the bank's clock is past
    /// it, a request still wandering in the network can only be rejected `expired`.
    pub not_after_ms: u64,
}

/// Why an [`Order`] is not executable, whatever the balances.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("amount must be positive, got {0}")]
    NonPositiveAmount(i64),
    #[error("memo is longer than {MEMO_CHARS_MAX} characters")]
    MemoTooLong,
    #[error("debit and credit are the same account")]
    SameAccount,
}

impl Order {
    /// The checks that do not depend on the bank's state.
    pub fn check(&self) -> Result<(), OrderError> {
        if self.amount <= 0 {
            return Err(OrderError::NonPositiveAmount(self.amount));
        }
        if self.memo.chars().count() > MEMO_CHARS_MAX {
            return Err(OrderError::MemoTooLong);
        }
        if self.debit == self.credit {
            return Err(OrderError::SameAccount);
        }
        Ok(())
    }
}

/// Why a bank refused an order. A rejection is final: nothing moved and the reference is
/// spent. The snake_case strings are part of the wire format and never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    InsufficientFunds,
    AccountNotFound,
    AccountClosed,
    /// The bank's own refusal (limits, fraud checks, ...).
    Declined,
    /// Arrived (or would have executed) after the order's `not_after_ms`.
    Expired,
    InvalidOrder,
}

impl RejectCode {
    pub const ALL: [RejectCode; 6] = [
        RejectCode::InsufficientFunds,
        RejectCode::AccountNotFound,
        RejectCode::AccountClosed,
        RejectCode::Declined,
        RejectCode::Expired,
        RejectCode::InvalidOrder,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::InsufficientFunds => "insufficient_funds",
            RejectCode::AccountNotFound => "account_not_found",
            RejectCode::AccountClosed => "account_closed",
            RejectCode::Declined => "declined",
            RejectCode::Expired => "expired",
            RejectCode::InvalidOrder => "invalid_order",
        }
    }
}

impl fmt::Display for RejectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown reject code string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reject code {0:?}")]
pub struct UnknownRejectCode(pub String);

impl FromStr for RejectCode {
    type Err = UnknownRejectCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RejectCode::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownRejectCode(s.chars().take(40).collect()))
    }
}

/// What the bank says about a reference.
///
/// On the wire this is the `status` tag plus the variant's fields, e.g.
/// `{"status":"completed","bank_tx_id":7,"amount":5000,"at_ms":...}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum OrderStatus {
    /// Money moved, once.
    Completed {
        bank_tx_id: u64,
        amount: i64,
        at_ms: u64,
    },
    /// Nothing moved, and nothing ever will under this reference.
    Rejected { code: RejectCode, message: String },
    /// The bank has not executed this reference (it never saw it, or is still holding
    /// it). Not final by itself: it becomes final once the bank's clock is past the
    /// order's `not_after_ms`, because after that the order can only be rejected.
    Unknown,
}

impl OrderStatus {
    /// Completed or rejected: the bank will never say anything else about the reference.
    pub fn is_final(&self) -> bool {
        !matches!(self, OrderStatus::Unknown)
    }

    pub fn is_completed(&self) -> bool {
        matches!(self, OrderStatus::Completed { .. })
    }

    pub(crate) fn rejected(code: RejectCode, message: impl Into<String>) -> Self {
        OrderStatus::Rejected {
            code,
            message: message.into(),
        }
    }
}

/// One line of an account statement, from that account's point of view.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StatementLine {
    pub bank_tx_id: u64,
    pub reference: Reference,
    pub counterparty: AccountNo,
    /// Positive: money into this account; negative: out of it.
    pub amount: i64,
    pub balance_after: i64,
    pub at_ms: u64,
    /// The order's memo (적요), as the account holder reads it in their banking app: a
    /// 1-won verification deposit carries its code here. Left out when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub memo: String,
}

/// One entry of the bank's answer feed: the final answer for a reference, like the
/// result notifications real banks push. The feed is the backstop for answers lost on
/// the way back, so every final answer appears in it (some more than once).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Answer {
    pub seq: u64,
    pub reference: Reference,
    #[serde(flatten)]
    pub status: OrderStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_numbers() {
        assert!(AccountNo::new("110-123-456789").is_ok());
        assert!(AccountNo::new("a".repeat(32)).is_ok());
        assert!(AccountNo::new("a".repeat(33)).is_err());
        assert!(AccountNo::new("").is_err());
        assert!(AccountNo::new("12 34").is_err());
        assert!(AccountNo::new("12/34").is_err());
        assert!(AccountNo::new("계좌").is_err());
        assert!(serde_json::from_str::<AccountNo>("\"bad/no\"").is_err());
    }

    #[test]
    fn references() {
        assert!(Reference::new("chg-1/x?y#z%").is_ok());
        assert!(Reference::new("r".repeat(64)).is_ok());
        assert!(Reference::new("r".repeat(65)).is_err());
        assert!(Reference::new("a b").is_err());
        assert!(Reference::new("é").is_err());
        assert!(Reference::new(".").is_err());
        assert!(Reference::new("..").is_err());
        assert!(Reference::new("...").is_ok());
    }

    #[test]
    fn reject_codes_round_trip() {
        for code in RejectCode::ALL {
            assert_eq!(code.as_str().parse::<RejectCode>(), Ok(code));
            assert_eq!(
                serde_json::to_string(&code).unwrap(),
                format!("\"{}\"", code.as_str())
            );
        }
        assert!("nope".parse::<RejectCode>().is_err());
    }

    #[test]
    fn answer_wire_form() {
        let a = Answer {
            seq: 3,
            reference: Reference::new("r1").unwrap(),
            status: OrderStatus::Completed {
                bank_tx_id: 9,
                amount: 500,
                at_ms: 1,
            },
        };
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"seq":3,"reference":"r1","status":"completed","bank_tx_id":9,"amount":500,"at_ms":1})
        );
        assert_eq!(serde_json::from_value::<Answer>(json).unwrap(), a);
    }

    #[test]
    fn order_checks() {
        let mut o = Order {
            reference: Reference::new("r").unwrap(),
            debit: AccountNo::new("a").unwrap(),
            credit: AccountNo::new("b").unwrap(),
            amount: 1,
            memo: "충전".repeat(32),
            not_after_ms: 0,
        };
        assert_eq!(o.check(), Ok(()));
        o.memo.push('x');
        assert_eq!(o.check(), Err(OrderError::MemoTooLong));
        o.memo.clear();
        o.amount = 0;
        assert_eq!(o.check(), Err(OrderError::NonPositiveAmount(0)));
        o.amount = 1;
        o.credit = o.debit.clone();
        assert_eq!(o.check(), Err(OrderError::SameAccount));
    }
}
