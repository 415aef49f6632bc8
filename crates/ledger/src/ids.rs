//! Identifiers. An account's *kind* is part of the type wherever a transfer names it:
//! a payment takes a [`WalletId`] and a [`MerchantId`], so the compiler refuses a
//! payment whose payer is a merchant.

use std::fmt;

/// The number of an account within one currency. Chosen by the caller, never zero.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct AccountId(pub u64);

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "acct:{}", self.0)
    }
}

macro_rules! typed_account_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// The ledger checks at apply time that the account really is of this kind.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        pub struct $name(pub AccountId);

        impl $name {
            pub const fn new(n: u64) -> Self {
                Self(AccountId(n))
            }

            pub const fn account(self) -> AccountId {
                self.0
            }
        }
    };
}

typed_account_id!(
    /// A citizen's wallet.
    WalletId
);
typed_account_id!(
    /// A merchant's account (what it has been paid and not yet redeemed).
    MerchantId
);
typed_account_id!(
    /// The issuer's reserve: the negative side of all value in circulation.
    ReserveId
);
typed_account_id!(
    /// A subsidy or policy budget funded by the municipality.
    BudgetId
);
typed_account_id!(
    /// Settlement clearing: value on its way out to a bank (redemptions, cash refunds).
    ClearingId
);
typed_account_id!(
    /// Fees collected by the operator.
    FeeId
);

/// The id of a transfer, assigned by the ledger in order (1, 2, 3, ...).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct TransferId(pub u64);

impl fmt::Display for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tr:{}", self.0)
    }
}

/// Who sent a command (an app session, a merchant terminal, the operator console, the
/// engine's own scheduler). Idempotency keys are scoped by client.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct ClientId(pub u64);

/// A client's idempotency key (a UUID fits). A retry with the same key returns the
/// first outcome; the same key with a different command is rejected.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct IdempotencyKey(pub u128);

/// A short human text kept in the journal: an auditor's or operator's name, a reason.
/// Bounded so that no command can grow a batch without limit.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Text(String);

impl Text {
    pub const BYTES_MAX: usize = 256;

    pub fn new(s: impl Into<String>) -> Result<Text, TextError> {
        let s = s.into();
        if s.trim().is_empty() {
            return Err(TextError::Empty);
        }
        if s.len() > Self::BYTES_MAX {
            return Err(TextError::TooLong { bytes: s.len() });
        }
        Ok(Text(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Text {
    type Error = TextError;
    fn try_from(s: String) -> Result<Text, TextError> {
        Text::new(s)
    }
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        t.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("text is empty")]
    Empty,
    #[error("text is {bytes} bytes; at most {} allowed", Text::BYTES_MAX)]
    TooLong { bytes: usize },
}
