//! What the service needs from the bank to verify a bank account before linking it: the
//! holder-name enquiry (예금주 조회), and the 1-won deposit whose memo carries a code
//! (1원 인증).
//!
//! The deposit is the operator's cost, not the currency's money: it leaves the issuer's
//! bank account under a reference of its own (`<currency>-v<id>`), is never a ledger
//! command, and reconciliation counts it apart (`verification_deposits`) rather than as
//! a difference. So at every moment
//!
//! ```text
//! issuer bank balance = budget funding + sales − payouts − verification deposits
//! ```
//!
//! and the operator tops the issuer's account up by that last sum, as it would a bank
//! fee. The ledger's invariants and the journal are untouched by it.

use bank::{AccountNo, Bank, BankError, Order, RejectCode};

use crate::resolve::{never_executed, settled_from};
use crate::{Settled, Treasury, TreasuryError, now_ms};

/// What one verification deposit sends.
pub const VERIFICATION_DEPOSIT_WON: i64 = 1;

/// The bank reference of verification `id` (a short token the service chose).
pub fn verification_reference(currency: &str, id: &str) -> String {
    format!("{currency}-v{id}")
}

/// The verification id of a reference made by [`verification_reference`] for
/// `currency`.
pub fn parse_verification_reference<'a>(currency: &str, reference: &'a str) -> Option<&'a str> {
    let id = reference.strip_prefix(currency)?.strip_prefix("-v")?;
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric())).then_some(id)
}

/// One 1-won deposit, as the service keeps it: everything needed to send the identical
/// order again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerificationDeposit {
    /// The verification's id: 1..=16 ASCII letters and digits.
    pub id: String,
    pub to: AccountNo,
    /// What the holder reads on their statement (e.g. `maeul 1234`).
    pub memo: String,
    /// When the service created it (Unix ms): the order's deadline follows from it.
    pub created_ms: u64,
}

impl<B: Bank> Treasury<B> {
    /// The holder-name enquiry. The answer names a person: compare it, never log it.
    pub async fn account_holder(&self, account: &AccountNo) -> Result<Option<String>, BankError> {
        self.bank.holder(account).await
    }

    fn verification_order(&self, d: &VerificationDeposit) -> Result<Order, TreasuryError> {
        let r = verification_reference(&self.currency, &d.id);
        let reference = bank::Reference::new(r.clone()).map_err(|_| TreasuryError::Reference(r))?;
        Ok(Order {
            reference,
            debit: self.config.issuer_account.clone(),
            credit: d.to.clone(),
            amount: VERIFICATION_DEPOSIT_WON,
            memo: d.memo.clone(),
            not_after_ms: self.verification_not_after_ms(d),
        })
    }

    fn verification_not_after_ms(&self, d: &VerificationDeposit) -> u64 {
        d.created_ms + self.config.order_validity.as_millis() as u64
    }

    /// Sends the deposit, or sends it again (the identical order, which the bank
    /// executes at most once). `InDoubt` when the bank's answer was not had.
    pub async fn send_verification_deposit(
        &self,
        d: &VerificationDeposit,
    ) -> Result<Settled, TreasuryError> {
        let order = self.verification_order(d)?;
        Ok(match self.bank.pay(&order).await {
            Ok(status) => settled_from(&status).unwrap_or(Settled::InDoubt),
            Err(e) if e.is_ambiguous() => Settled::InDoubt,
            // The bank would not read it (or the reference names another order): it
            // did not execute this one.
            Err(e) => Settled::Refused {
                code: RejectCode::Declined,
                message: e.to_string(),
            },
        })
    }

    /// What became of a deposit whose answer was not had: the bank's status; one the
    /// bank has not seen is sent again while it can still execute, and counts as never
    /// executed once its deadline (plus the clock margin) has passed.
    pub async fn settle_verification_deposit(
        &self,
        d: &VerificationDeposit,
    ) -> Result<Settled, TreasuryError> {
        let order = self.verification_order(d)?;
        // Judged before asking, as the sweep does: an "unknown" read after this instant
        // cannot be overtaken by an execution.
        let past = now_ms()
            > self.verification_not_after_ms(d) + self.config.clock_margin.as_millis() as u64;
        match self.bank.status(&order.reference).await {
            Ok(status) => match settled_from(&status) {
                Some(s) => Ok(s),
                None if past => Ok(never_executed()),
                None => self.send_verification_deposit(d).await,
            },
            Err(_) => Ok(Settled::InDoubt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_round_trip_and_stay_apart_from_orders() {
        let r = verification_reference("busan", "a1b2c3");
        assert_eq!(r, "busan-va1b2c3");
        assert_eq!(parse_verification_reference("busan", &r), Some("a1b2c3"));
        assert_eq!(parse_verification_reference("seoul", &r), None);
        assert_eq!(parse_verification_reference("busan", "busan-v"), None);
        assert_eq!(parse_verification_reference("busan", "busan-c12"), None);
        assert_eq!(parse_verification_reference("busan", "busan-vx/1"), None);
        assert!(crate::OrderKind::parse("busan", &r).is_none());
    }
}
