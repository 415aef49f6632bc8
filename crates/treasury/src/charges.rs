//! Charging a wallet: the scheme's purchase held pending while the citizen's bank pays,
//! and top-up at payment time.

use bank::{Bank, Order, RejectCode};
use ledger::scheme::{PurchaseState, SchemeApplied, SchemeCommand};
use ledger::{
    Applied, ClientId, Command, Envelope, IdempotencyKey, MerchantId, Rejection, TransferId,
    WalletId, Won,
};

use crate::resolve::{Concluded, expect_applied};
use crate::{ORDER_PENDING_US, OrderKind, Purpose, Settled, Treasury, TreasuryError, derived};

/// How a charge ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChargeResult {
    /// The bank paid; the value is in the wallet.
    Charged {
        purchase: TransferId,
        face: Won,
        paid: Won,
        discount: Won,
        discount_withheld: bool,
    },
    /// The bank refused (e.g. `insufficient_funds`); nothing moved, the limits are free.
    Refused {
        purchase: TransferId,
        code: RejectCode,
        message: String,
    },
    /// The bank's answer is not known yet; the sweep settles it. The citizen sees
    /// "charging…" and no value, and no limit is released until then.
    InDoubt { purchase: TransferId },
}

impl ChargeResult {
    pub fn purchase(&self) -> TransferId {
        match self {
            ChargeResult::Charged { purchase, .. }
            | ChargeResult::Refused { purchase, .. }
            | ChargeResult::InDoubt { purchase } => *purchase,
        }
    }
}

impl<B: Bank> Treasury<B> {
    /// Buys `face` won for `wallet` through `channel`, paid from the citizen's linked
    /// bank account. Retrying with the same `(client, key)` continues the same purchase
    /// with the same bank order: it is never charged twice.
    pub async fn charge(
        &self,
        client: ClientId,
        key: IdempotencyKey,
        wallet: WalletId,
        face: Won,
        channel: u16,
        full_price_ok: bool,
    ) -> Result<ChargeResult, TreasuryError> {
        let citizen_account = self
            .accounts
            .get(wallet.account())
            .ok_or(TreasuryError::NoLinkedAccount(wallet.account()))?;
        let mut outs = self
            .submit(vec![Envelope {
                client,
                key,
                command: Command::Scheme(Box::new(SchemeCommand::Purchase {
                    wallet,
                    face,
                    channel,
                    full_price_ok,
                    pending_timeout_us: Some(ORDER_PENDING_US),
                })),
            }])
            .await?;
        let out = outs
            .pop()
            .ok_or_else(|| TreasuryError::Unexpected("no answer".into()))?;
        let Applied::Scheme(applied) = expect_applied(out)? else {
            return Err(TreasuryError::Unexpected(
                "unexpected answer to a purchase".into(),
            ));
        };
        let SchemeApplied::Purchased {
            charge,
            face,
            paid,
            discount,
            discount_withheld,
            ..
        } = *applied
        else {
            return Err(TreasuryError::Unexpected(
                "unexpected answer to a purchase".into(),
            ));
        };
        let charged = ChargeResult::Charged {
            purchase: charge,
            face,
            paid,
            discount,
            discount_withheld,
        };
        let Some(record) = self.engine.read(|l| l.purchase(charge).cloned()) else {
            return Err(TreasuryError::Unexpected("purchase record missing".into()));
        };
        match record.state {
            PurchaseState::Pending => {}
            PurchaseState::Posted | PurchaseState::Cancelled => return Ok(charged),
            PurchaseState::Failed => {
                return Ok(ChargeResult::Refused {
                    purchase: charge,
                    code: RejectCode::Declined,
                    message: "the bank refused this charge earlier".into(),
                });
            }
        }
        let created = record.at.as_micros();
        let order = Order {
            reference: self.reference(OrderKind::Charge, charge)?,
            debit: citizen_account,
            credit: self.config.issuer_account.clone(),
            amount: paid.get(),
            memo: "maeul charge".into(),
            not_after_ms: self.not_after_ms(created),
        };
        let settled = self.run_order(OrderKind::Charge, &order, created).await;
        match (
            self.conclude(OrderKind::Charge, charge, &settled).await?,
            settled,
        ) {
            (Concluded::Posted, _) => Ok(charged),
            (Concluded::Voided, Settled::Refused { code, message }) => Ok(ChargeResult::Refused {
                purchase: charge,
                code,
                message,
            }),
            (Concluded::Voided, _) => Ok(ChargeResult::Refused {
                purchase: charge,
                code: RejectCode::Declined,
                message: "refused".into(),
            }),
            (Concluded::Open | Concluded::Conflict(_), _) => {
                Ok(ChargeResult::InDoubt { purchase: charge })
            }
        }
    }

    /// Pays a merchant under the scheme; if the wallet is short and the citizen has
    /// top-up on, first buys the shortfall (rounded up to the scheme's unit) from the
    /// linked bank account. The same `(client, key)` repeats the whole operation.
    pub async fn pay_with_topup(
        &self,
        client: ClientId,
        key: IdempotencyKey,
        payer: WalletId,
        merchant: MerchantId,
        amount: Won,
    ) -> Result<(Applied, Option<ChargeResult>), TreasuryError> {
        let own = self.config.client;
        let pay = |k| Envelope {
            client: own,
            key: k,
            command: Command::Scheme(Box::new(SchemeCommand::Pay {
                payer,
                merchant,
                amount,
            })),
        };
        let first = self
            .submit(vec![pay(derived(client, key, Purpose::TopUpFirstPay))])
            .await?
            .pop()
            .ok_or_else(|| TreasuryError::Unexpected("no answer".into()))?;
        let short = match &first.result {
            Ok(applied) => return Ok((applied.clone(), None)),
            Err(Rejection::InsufficientFunds {
                available,
                requested,
                ..
            }) => requested.checked_sub(*available),
            Err(Rejection::InsufficientEligibleFunds {
                eligible,
                requested,
                ..
            }) => requested.checked_sub(*eligible),
            Err(r) => return Err(TreasuryError::Refused(r.clone())),
        };
        let setting = self.engine.read(|l| {
            let now = l.last_timestamp();
            let unit = l
                .scheme_at(now)
                .filter(|v| v.config.auto_charge.enabled)
                .map(|v| v.config.auto_charge.topup_unit);
            let setting = l
                .citizen(payer.account())
                .and_then(|c| c.auto_charge.clone())
                .filter(|s| s.topup);
            unit.zip(setting)
        });
        let (Some(short), Some((unit, setting))) = (short, setting) else {
            return Err(TreasuryError::Refused(first.result.err().unwrap_or(
                Rejection::InsufficientFunds {
                    account: payer.account(),
                    available: Won::ZERO,
                    requested: amount,
                },
            )));
        };
        let (short, unit) = (short.get().max(0) as u64, unit.get().max(1) as u64);
        let units = i64::try_from(short.div_ceil(unit)).unwrap_or(i64::MAX);
        let unit = Won::new(unit as i64);
        let face = Won::new(units.saturating_mul(unit.get()));
        let charged = self
            .charge(
                own,
                derived(client, key, Purpose::TopUp),
                payer,
                face,
                setting.channel,
                true,
            )
            .await?;
        if !matches!(charged, ChargeResult::Charged { .. }) {
            return Err(TreasuryError::Refused(first.result.err().unwrap_or(
                Rejection::InsufficientFunds {
                    account: payer.account(),
                    available: Won::ZERO,
                    requested: amount,
                },
            )));
        }
        let second = self
            .submit(vec![pay(derived(client, key, Purpose::TopUpPay))])
            .await?
            .pop()
            .ok_or_else(|| TreasuryError::Unexpected("no answer".into()))?;
        Ok((expect_applied(second)?, Some(charged)))
    }
}
