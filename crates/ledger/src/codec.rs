//! The canonical binary form of commands, outcomes and ledger state.
//!
//! One encoding serves three purposes: the journal's payloads, snapshots, and the bytes
//! that idempotency fingerprints and the state hash are computed over. It is
//! little-endian, fixed-width, with a one-byte tag per enum variant. Tags and
//! [`RejectionCode`] numbers are part of the on-disk format: append new ones, never
//! renumber. Decoding never panics; bad input is a [`DecodeError`] with its offset.

use crate::account::{Account, AccountKind, AccountState, Lot, Lots, Source, SourceSet};
use crate::command::{Command, Envelope, LotSpec, Mode, Transfer, TransferKind, TransferSpec};
use crate::config::LedgerConfig;
use crate::ids::{
    AccountId, BudgetId, ClearingId, ClientId, FeeId, IdempotencyKey, MerchantId, ReserveId, Text,
    TransferId, WalletId,
};
use crate::money::{Timestamp, Won};
use crate::outcome::{
    Applied, FIRST_SCHEME_CODE, Outcome, PendingEnd, Rejection, RejectionCode, TransferStatus,
    Violation,
};
use crate::retention::{IdempotencyEntry, IdempotencyRing, PaymentLog, PaymentSlot};
use crate::scheme::SchemeSnapshot;
use crate::state::{CreditAs, Halt, HaltCause, Ledger, PaymentRecord, PendingTransfer};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode {what} at byte {offset}")]
pub struct DecodeError {
    pub offset: usize,
    pub what: &'static str,
}

/// Appends canonical bytes to a buffer.
pub trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put_u128(&mut self, v: u128);
    fn put_i64(&mut self, v: i64);
    fn put_bytes(&mut self, v: &[u8]);
}

impl Put for Vec<u8> {
    #[inline]
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    #[inline]
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn put_u128(&mut self, v: u128) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn put_i64(&mut self, v: i64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn put_bytes(&mut self, v: &[u8]) {
        self.extend_from_slice(v);
    }
}

/// Appends `value` as a length-prefixed postcard blob. Used for the scheme layer's
/// structures (rules, profiles, its answers): their field order is their format.
fn put_postcard<T: serde::Serialize>(out: &mut Vec<u8>, value: &T) {
    let at = out.len();
    out.put_u32(0);
    // Serializing plain data into a Vec cannot fail; an empty blob would fail to decode.
    if let Ok(bytes) = postcard::to_extend(value, std::mem::take(out)) {
        *out = bytes;
    }
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

fn get_postcard<T: serde::de::DeserializeOwned>(
    r: &mut Reader<'_>,
    what: &'static str,
) -> Result<T, DecodeError> {
    let n = r.u32(what)? as usize;
    let at = r.position();
    let bytes = r.bytes(n, what)?;
    // The whole blob and nothing else.
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((v, [])) => Ok(v),
        _ => Err(DecodeError { offset: at, what }),
    }
}

/// [`get_postcard`] for what a journal record holds (scheme commands, answers and
/// rejections): also refuses bytes that are not the value's one encoding. Postcard
/// reads an overlong varint (`80 00` for 0) as the number it spells, so the value is
/// encoded again and compared: a record decodes only from the bytes this codec writes,
/// and what replay re-encodes (idempotency fingerprints) is what was journaled. Not
/// done for a snapshot's scheme state: a snapshot is the engine's own cache, checked by
/// the state hash, and encoding it again would double a large start's memory.
fn get_postcard_canonical<T: serde::Serialize + serde::de::DeserializeOwned>(
    r: &mut Reader<'_>,
    what: &'static str,
) -> Result<T, DecodeError> {
    let at = r.position() + 4;
    let v: T = get_postcard(r, what)?;
    let mut again = Vec::new();
    put_postcard(&mut again, &v);
    if again.get(4..) != r.buf.get(at..r.pos) {
        return Err(DecodeError { offset: at, what });
    }
    Ok(v)
}

/// Reads canonical bytes, never past the end.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn error(&self, what: &'static str) -> DecodeError {
        DecodeError {
            offset: self.pos,
            what,
        }
    }

    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(self.error(what))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, what)?);
        Ok(out)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    pub fn u128(&mut self, what: &'static str) -> Result<u128, DecodeError> {
        Ok(u128::from_le_bytes(self.array(what)?))
    }
    pub fn i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    /// A count that will size an allocation: bounded by what the remaining bytes could
    /// hold, so a corrupt count cannot make the reader allocate gigabytes.
    pub fn count(
        &mut self,
        min_item_bytes: usize,
        what: &'static str,
    ) -> Result<usize, DecodeError> {
        let n = self.u32(what)? as usize;
        let left = self.buf.len().saturating_sub(self.pos);
        if n.saturating_mul(min_item_bytes.max(1)) > left {
            return Err(self.error(what));
        }
        Ok(n)
    }

    fn won(&mut self, what: &'static str) -> Result<Won, DecodeError> {
        self.i64(what).map(Won::new)
    }
    fn time(&mut self, what: &'static str) -> Result<Timestamp, DecodeError> {
        self.u64(what).map(Timestamp::from_micros)
    }
    fn account_id(&mut self) -> Result<AccountId, DecodeError> {
        self.u64("account id").map(AccountId)
    }
    fn transfer_id(&mut self) -> Result<TransferId, DecodeError> {
        self.u64("transfer id").map(TransferId)
    }
    fn text(&mut self) -> Result<Text, DecodeError> {
        let n = usize::from(self.u16("text length")?);
        let at = self.pos;
        let raw = self.bytes(n, "text")?;
        let s = std::str::from_utf8(raw).map_err(|_| DecodeError {
            offset: at,
            what: "utf-8 text",
        })?;
        Text::new(s).map_err(|_| DecodeError {
            offset: at,
            what: "text",
        })
    }
    fn kind(&mut self) -> Result<AccountKind, DecodeError> {
        let at = self.pos;
        AccountKind::from_u8(self.u8("account kind")?).ok_or(DecodeError {
            offset: at,
            what: "account kind",
        })
    }
    fn transfer_kind(&mut self) -> Result<TransferKind, DecodeError> {
        let at = self.pos;
        TransferKind::from_u8(self.u8("transfer kind")?).ok_or(DecodeError {
            offset: at,
            what: "transfer kind",
        })
    }
    fn source(&mut self) -> Result<Source, DecodeError> {
        let at = self.pos;
        Source::from_u8(self.u8("source")?).ok_or(DecodeError {
            offset: at,
            what: "source",
        })
    }
    fn sources(&mut self) -> Result<SourceSet, DecodeError> {
        let at = self.pos;
        SourceSet::from_bits(self.u8("source set")?).ok_or(DecodeError {
            offset: at,
            what: "source set",
        })
    }
    fn lot_spec(&mut self) -> Result<LotSpec, DecodeError> {
        Ok(LotSpec {
            tag: self.u16("lot tag")?,
            expires_at: self.time("lot expiry")?,
        })
    }
    fn lot(&mut self) -> Result<Lot, DecodeError> {
        Ok(Lot {
            source: self.source()?,
            tag: self.u16("lot tag")?,
            expires_at: self.time("lot expiry")?,
            amount: self.won("lot amount")?,
        })
    }
    fn lots(&mut self) -> Result<Lots, DecodeError> {
        let n = self.count(LOT_BYTES, "lot count")?;
        (0..n).map(|_| self.lot()).collect()
    }
    fn pending_end(&mut self) -> Result<PendingEnd, DecodeError> {
        match self.u8("pending end")? {
            1 => Ok(PendingEnd::Posted),
            2 => Ok(PendingEnd::Voided),
            3 => Ok(PendingEnd::Expired),
            _ => Err(self.error("pending end")),
        }
    }
}

const LOT_BYTES: usize = 1 + 2 + 8 + 8;

fn put_text(out: &mut Vec<u8>, t: &Text) {
    // Text is at most 256 bytes, so the length always fits.
    out.put_u16(t.as_str().len() as u16);
    out.put_bytes(t.as_str().as_bytes());
}

fn put_lot_spec(out: &mut Vec<u8>, l: &LotSpec) {
    out.put_u16(l.tag);
    out.put_u64(l.expires_at.as_micros());
}

fn put_lot(out: &mut Vec<u8>, l: &Lot) {
    out.put_u8(l.source as u8);
    out.put_u16(l.tag);
    out.put_u64(l.expires_at.as_micros());
    out.put_i64(l.amount.get());
}

fn put_lots(out: &mut Vec<u8>, lots: &[Lot]) {
    out.put_u32(lots.len() as u32);
    for l in lots {
        put_lot(out, l);
    }
}

// ----- commands -----------------------------------------------------------------------

pub fn put_transfer(out: &mut Vec<u8>, t: &Transfer) {
    out.put_u8(t.spec.kind() as u8);
    match &t.spec {
        TransferSpec::Charge {
            reserve,
            wallet,
            amount,
            lot,
        } => {
            out.put_u64(reserve.0.0);
            out.put_u64(wallet.0.0);
            out.put_i64(amount.get());
            put_lot_spec(out, lot);
        }
        TransferSpec::Subsidy {
            budget,
            wallet,
            amount,
            lot,
        }
        | TransferSpec::Cashback {
            budget,
            wallet,
            amount,
            lot,
        }
        | TransferSpec::Allowance {
            budget,
            wallet,
            amount,
            lot,
        } => {
            out.put_u64(budget.0.0);
            out.put_u64(wallet.0.0);
            out.put_i64(amount.get());
            put_lot_spec(out, lot);
        }
        TransferSpec::BudgetFunding {
            reserve,
            budget,
            amount,
        } => {
            out.put_u64(reserve.0.0);
            out.put_u64(budget.0.0);
            out.put_i64(amount.get());
        }
        TransferSpec::Payment {
            payer,
            merchant,
            amount,
        } => {
            out.put_u64(payer.0.0);
            out.put_u64(merchant.0.0);
            out.put_i64(amount.get());
        }
        TransferSpec::PaymentRefund { payment, amount } => {
            out.put_u64(payment.0);
            out.put_i64(amount.get());
        }
        TransferSpec::Gift {
            sender,
            recipient,
            amount,
            sources,
        } => {
            out.put_u64(sender.0.0);
            out.put_u64(recipient.0.0);
            out.put_i64(amount.get());
            out.put_u8(sources.bits());
        }
        TransferSpec::Redemption {
            merchant,
            clearing,
            amount,
        } => {
            out.put_u64(merchant.0.0);
            out.put_u64(clearing.0.0);
            out.put_i64(amount.get());
        }
        TransferSpec::Settlement {
            clearing,
            reserve,
            amount,
        } => {
            out.put_u64(clearing.0.0);
            out.put_u64(reserve.0.0);
            out.put_i64(amount.get());
        }
        TransferSpec::CashRefund {
            wallet,
            clearing,
            amount,
            sources,
        } => {
            out.put_u64(wallet.0.0);
            out.put_u64(clearing.0.0);
            out.put_i64(amount.get());
            out.put_u8(sources.bits());
        }
        TransferSpec::SubsidyReturn {
            wallet,
            budget,
            amount,
            sources,
        } => {
            out.put_u64(wallet.0.0);
            out.put_u64(budget.0.0);
            out.put_i64(amount.get());
            out.put_u8(sources.bits());
        }
        TransferSpec::Expiry { wallet, reserve } => {
            out.put_u64(wallet.0.0);
            out.put_u64(reserve.0.0);
        }
        TransferSpec::Fee {
            merchant,
            fees,
            amount,
        } => {
            out.put_u64(merchant.0.0);
            out.put_u64(fees.0.0);
            out.put_i64(amount.get());
        }
        TransferSpec::Correction {
            debit,
            credit,
            amount,
            auditor,
            reason,
            lot,
        } => {
            out.put_u64(debit.0);
            out.put_u64(credit.0);
            out.put_i64(amount.get());
            put_text(out, auditor);
            put_text(out, reason);
            put_lot_spec(out, lot);
        }
    }
    match t.mode {
        Mode::Posted => out.put_u8(0),
        Mode::Pending { timeout_us } => {
            out.put_u8(1);
            out.put_u64(timeout_us);
        }
    }
}

pub fn get_transfer(r: &mut Reader<'_>) -> Result<Transfer, DecodeError> {
    let kind = r.transfer_kind()?;
    let id = |r: &mut Reader<'_>| r.u64("account id");
    let spec = match kind {
        TransferKind::Charge => TransferSpec::Charge {
            reserve: ReserveId::new(id(r)?),
            wallet: WalletId::new(id(r)?),
            amount: r.won("amount")?,
            lot: r.lot_spec()?,
        },
        TransferKind::Subsidy | TransferKind::Cashback | TransferKind::Allowance => {
            let budget = BudgetId::new(id(r)?);
            let wallet = WalletId::new(id(r)?);
            let amount = r.won("amount")?;
            let lot = r.lot_spec()?;
            match kind {
                TransferKind::Subsidy => TransferSpec::Subsidy {
                    budget,
                    wallet,
                    amount,
                    lot,
                },
                TransferKind::Cashback => TransferSpec::Cashback {
                    budget,
                    wallet,
                    amount,
                    lot,
                },
                _ => TransferSpec::Allowance {
                    budget,
                    wallet,
                    amount,
                    lot,
                },
            }
        }
        TransferKind::BudgetFunding => TransferSpec::BudgetFunding {
            reserve: ReserveId::new(id(r)?),
            budget: BudgetId::new(id(r)?),
            amount: r.won("amount")?,
        },
        TransferKind::Payment => TransferSpec::Payment {
            payer: WalletId::new(id(r)?),
            merchant: MerchantId::new(id(r)?),
            amount: r.won("amount")?,
        },
        TransferKind::PaymentRefund => TransferSpec::PaymentRefund {
            payment: r.transfer_id()?,
            amount: r.won("amount")?,
        },
        TransferKind::Gift => TransferSpec::Gift {
            sender: WalletId::new(id(r)?),
            recipient: WalletId::new(id(r)?),
            amount: r.won("amount")?,
            sources: r.sources()?,
        },
        TransferKind::Redemption => TransferSpec::Redemption {
            merchant: MerchantId::new(id(r)?),
            clearing: ClearingId::new(id(r)?),
            amount: r.won("amount")?,
        },
        TransferKind::Settlement => TransferSpec::Settlement {
            clearing: ClearingId::new(id(r)?),
            reserve: ReserveId::new(id(r)?),
            amount: r.won("amount")?,
        },
        TransferKind::CashRefund => TransferSpec::CashRefund {
            wallet: WalletId::new(id(r)?),
            clearing: ClearingId::new(id(r)?),
            amount: r.won("amount")?,
            sources: r.sources()?,
        },
        TransferKind::SubsidyReturn => TransferSpec::SubsidyReturn {
            wallet: WalletId::new(id(r)?),
            budget: BudgetId::new(id(r)?),
            amount: r.won("amount")?,
            sources: r.sources()?,
        },
        TransferKind::Expiry => TransferSpec::Expiry {
            wallet: WalletId::new(id(r)?),
            reserve: ReserveId::new(id(r)?),
        },
        TransferKind::Fee => TransferSpec::Fee {
            merchant: MerchantId::new(id(r)?),
            fees: FeeId::new(id(r)?),
            amount: r.won("amount")?,
        },
        TransferKind::Correction => TransferSpec::Correction {
            debit: r.account_id()?,
            credit: r.account_id()?,
            amount: r.won("amount")?,
            auditor: r.text()?,
            reason: r.text()?,
            lot: r.lot_spec()?,
        },
    };
    let mode = match r.u8("transfer mode")? {
        0 => Mode::Posted,
        1 => Mode::Pending {
            timeout_us: r.u64("pending timeout")?,
        },
        _ => return Err(r.error("transfer mode")),
    };
    Ok(Transfer { spec, mode })
}

pub fn put_command(out: &mut Vec<u8>, c: &Command) {
    match c {
        Command::OpenAccount {
            account,
            kind,
            accepts,
        } => {
            out.put_u8(1);
            out.put_u64(account.0);
            out.put_u8(*kind as u8);
            out.put_u8(accepts.bits());
        }
        Command::SetAccountState { account, state } => {
            out.put_u8(2);
            out.put_u64(account.0);
            out.put_u8(*state as u8);
        }
        Command::SetAccepts { merchant, accepts } => {
            out.put_u8(3);
            out.put_u64(merchant.0.0);
            out.put_u8(accepts.bits());
        }
        Command::Transfer(t) => {
            out.put_u8(4);
            put_transfer(out, t);
        }
        Command::Linked(ts) => {
            out.put_u8(5);
            out.put_u32(ts.len() as u32);
            for t in ts {
                put_transfer(out, t);
            }
        }
        Command::PostPending { pending, amount } => {
            out.put_u8(6);
            out.put_u64(pending.0);
            match amount {
                None => out.put_u8(0),
                Some(a) => {
                    out.put_u8(1);
                    out.put_i64(a.get());
                }
            }
        }
        Command::VoidPending { pending } => {
            out.put_u8(7);
            out.put_u64(pending.0);
        }
        Command::Halt { operator, reason } => {
            out.put_u8(8);
            put_text(out, operator);
            put_text(out, reason);
        }
        Command::Resume { operator } => {
            out.put_u8(9);
            put_text(out, operator);
        }
        Command::Scheme(c) => {
            out.put_u8(10);
            put_postcard(out, c.as_ref());
        }
        Command::Migrated { note, transfers } => {
            out.put_u8(11);
            put_text(out, note);
            out.put_u32(transfers.len() as u32);
            for t in transfers {
                put_transfer(out, t);
            }
        }
    }
}

pub fn get_command(r: &mut Reader<'_>) -> Result<Command, DecodeError> {
    Ok(match r.u8("command tag")? {
        1 => Command::OpenAccount {
            account: r.account_id()?,
            kind: r.kind()?,
            accepts: r.sources()?,
        },
        2 => {
            let account = r.account_id()?;
            let at = r.position();
            let state = AccountState::from_u8(r.u8("account state")?).ok_or(DecodeError {
                offset: at,
                what: "account state",
            })?;
            Command::SetAccountState { account, state }
        }
        3 => Command::SetAccepts {
            merchant: MerchantId::new(r.u64("merchant")?),
            accepts: r.sources()?,
        },
        4 => Command::Transfer(get_transfer(r)?),
        5 => {
            let n = r.count(9, "linked count")?;
            Command::Linked((0..n).map(|_| get_transfer(r)).collect::<Result<_, _>>()?)
        }
        6 => {
            let pending = r.transfer_id()?;
            let amount = match r.u8("post amount flag")? {
                0 => None,
                1 => Some(r.won("post amount")?),
                _ => return Err(r.error("post amount flag")),
            };
            Command::PostPending { pending, amount }
        }
        7 => Command::VoidPending {
            pending: r.transfer_id()?,
        },
        8 => Command::Halt {
            operator: r.text()?,
            reason: r.text()?,
        },
        9 => Command::Resume {
            operator: r.text()?,
        },
        10 => Command::Scheme(Box::new(get_postcard_canonical(r, "scheme command")?)),
        11 => {
            let note = r.text()?;
            let n = r.count(9, "migrated count")?;
            Command::Migrated {
                note,
                transfers: (0..n).map(|_| get_transfer(r)).collect::<Result<_, _>>()?,
            }
        }
        _ => return Err(r.error("command tag")),
    })
}

pub fn put_envelope(out: &mut Vec<u8>, e: &Envelope) {
    out.put_u64(e.client.0);
    out.put_u128(e.key.0);
    put_command(out, &e.command);
}

pub fn get_envelope(r: &mut Reader<'_>) -> Result<Envelope, DecodeError> {
    Ok(Envelope {
        client: ClientId(r.u64("client")?),
        key: IdempotencyKey(r.u128("idempotency key")?),
        command: get_command(r)?,
    })
}

// ----- outcomes -----------------------------------------------------------------------

fn put_applied(out: &mut Vec<u8>, a: &Applied) {
    match a {
        Applied::AccountOpened => out.put_u8(1),
        Applied::AccountStateChanged => out.put_u8(2),
        Applied::AcceptsChanged => out.put_u8(3),
        Applied::Transfer { id, status, amount } => {
            out.put_u8(4);
            out.put_u64(id.0);
            out.put_u8(*status as u8);
            out.put_i64(amount.get());
        }
        Applied::Linked { first, count } => {
            out.put_u8(5);
            out.put_u64(first.0);
            out.put_u16(*count);
        }
        Applied::PendingPosted { id, amount } => {
            out.put_u8(6);
            out.put_u64(id.0);
            out.put_i64(amount.get());
        }
        Applied::PendingVoided { id } => {
            out.put_u8(7);
            out.put_u64(id.0);
        }
        Applied::Halted => out.put_u8(8),
        Applied::Resumed => out.put_u8(9),
        Applied::Scheme(a) => {
            out.put_u8(10);
            put_postcard(out, a.as_ref());
        }
    }
}

fn get_applied(r: &mut Reader<'_>) -> Result<Applied, DecodeError> {
    Ok(match r.u8("applied tag")? {
        1 => Applied::AccountOpened,
        2 => Applied::AccountStateChanged,
        3 => Applied::AcceptsChanged,
        4 => Applied::Transfer {
            id: r.transfer_id()?,
            status: match r.u8("transfer status")? {
                1 => TransferStatus::Posted,
                2 => TransferStatus::Pending,
                _ => return Err(r.error("transfer status")),
            },
            amount: r.won("amount")?,
        },
        5 => Applied::Linked {
            first: r.transfer_id()?,
            count: r.u16("linked count")?,
        },
        6 => Applied::PendingPosted {
            id: r.transfer_id()?,
            amount: r.won("amount")?,
        },
        7 => Applied::PendingVoided {
            id: r.transfer_id()?,
        },
        8 => Applied::Halted,
        9 => Applied::Resumed,
        10 => Applied::Scheme(std::sync::Arc::new(get_postcard_canonical(
            r,
            "scheme answer",
        )?)),
        _ => return Err(r.error("applied tag")),
    })
}

fn code_number(code: RejectionCode) -> u8 {
    // `ALL` lists codes in declaration order; new codes are appended, so a code's
    // position is its permanent number.
    RejectionCode::ALL
        .iter()
        .position(|c| *c == code)
        .unwrap_or(0) as u8
}

fn put_rejection(out: &mut Vec<u8>, rej: &Rejection) {
    out.put_u8(code_number(rej.code()));
    if rej.code() >= FIRST_SCHEME_CODE {
        put_postcard(out, rej);
        return;
    }
    match rej {
        Rejection::AccountNotFound { account }
        | Rejection::AccountExists { account }
        | Rejection::AccountFrozen { account }
        | Rejection::AccountClosed { account }
        | Rejection::AccountNotEmpty { account } => out.put_u64(account.0),
        Rejection::AccountKindMismatch {
            account,
            expected,
            actual,
        } => {
            out.put_u64(account.0);
            out.put_u8(*expected as u8);
            out.put_u8(*actual as u8);
        }
        Rejection::InsufficientFunds {
            account,
            available,
            requested,
        } => {
            out.put_u64(account.0);
            out.put_i64(available.get());
            out.put_i64(requested.get());
        }
        Rejection::InsufficientEligibleFunds {
            account,
            eligible,
            requested,
        } => {
            out.put_u64(account.0);
            out.put_i64(eligible.get());
            out.put_i64(requested.get());
        }
        Rejection::PendingNotAllowed { kind } => out.put_u8(*kind as u8),
        Rejection::TooManyPending { max } => out.put_u32(*max),
        Rejection::PendingNotFound { id } => out.put_u64(id.0),
        Rejection::PendingAlreadyEnded { id, end } => {
            out.put_u64(id.0);
            out.put_u8(*end as u8);
        }
        Rejection::PostExceedsPending { id, pending } => {
            out.put_u64(id.0);
            out.put_i64(pending.get());
        }
        Rejection::PaymentNotFound { payment } => out.put_u64(payment.0),
        Rejection::RefundExceedsPayment {
            payment,
            refundable,
        } => {
            out.put_u64(payment.0);
            out.put_i64(refundable.get());
        }
        Rejection::NothingToExpire { account, at } => {
            out.put_u64(account.0);
            out.put_u64(at.as_micros());
        }
        Rejection::LinkedTooLong { max } => out.put_u16(*max),
        Rejection::LinkedFailed { index, cause } => {
            out.put_u16(*index);
            put_rejection(out, cause);
        }
        Rejection::AmountNotPositive
        | Rejection::AmountTooLarge
        | Rejection::AccountIdInvalid
        | Rejection::SameAccount
        | Rejection::PendingTimeoutInvalid
        | Rejection::IdempotencyKeyReused
        | Rejection::LinkedEmpty
        | Rejection::CurrencyHalted
        | Rejection::InvariantViolation
        | Rejection::NotHalted => {}
        // Scheme rejections were written above.
        _ => {}
    }
}

fn get_rejection(r: &mut Reader<'_>) -> Result<Rejection, DecodeError> {
    let at = r.position();
    let n = usize::from(r.u8("rejection code")?);
    let code = *RejectionCode::ALL.get(n).ok_or(DecodeError {
        offset: at,
        what: "rejection code",
    })?;
    use RejectionCode as C;
    if code >= FIRST_SCHEME_CODE {
        let rej: Rejection = get_postcard_canonical(r, "scheme rejection")?;
        if rej.code() != code {
            return Err(DecodeError {
                offset: at,
                what: "scheme rejection code",
            });
        }
        return Ok(rej);
    }
    Ok(match code {
        C::AmountNotPositive => Rejection::AmountNotPositive,
        C::AmountTooLarge => Rejection::AmountTooLarge,
        C::AccountNotFound => Rejection::AccountNotFound {
            account: r.account_id()?,
        },
        C::AccountExists => Rejection::AccountExists {
            account: r.account_id()?,
        },
        C::AccountIdInvalid => Rejection::AccountIdInvalid,
        C::AccountKindMismatch => Rejection::AccountKindMismatch {
            account: r.account_id()?,
            expected: r.kind()?,
            actual: r.kind()?,
        },
        C::AccountFrozen => Rejection::AccountFrozen {
            account: r.account_id()?,
        },
        C::AccountClosed => Rejection::AccountClosed {
            account: r.account_id()?,
        },
        C::AccountNotEmpty => Rejection::AccountNotEmpty {
            account: r.account_id()?,
        },
        C::SameAccount => Rejection::SameAccount,
        C::InsufficientFunds => Rejection::InsufficientFunds {
            account: r.account_id()?,
            available: r.won("available")?,
            requested: r.won("requested")?,
        },
        C::InsufficientEligibleFunds => Rejection::InsufficientEligibleFunds {
            account: r.account_id()?,
            eligible: r.won("eligible")?,
            requested: r.won("requested")?,
        },
        C::PendingNotAllowed => Rejection::PendingNotAllowed {
            kind: r.transfer_kind()?,
        },
        C::PendingTimeoutInvalid => Rejection::PendingTimeoutInvalid,
        C::TooManyPending => Rejection::TooManyPending { max: r.u32("max")? },
        C::PendingNotFound => Rejection::PendingNotFound {
            id: r.transfer_id()?,
        },
        C::PendingAlreadyEnded => Rejection::PendingAlreadyEnded {
            id: r.transfer_id()?,
            end: r.pending_end()?,
        },
        C::PostExceedsPending => Rejection::PostExceedsPending {
            id: r.transfer_id()?,
            pending: r.won("pending")?,
        },
        C::PaymentNotFound => Rejection::PaymentNotFound {
            payment: r.transfer_id()?,
        },
        C::RefundExceedsPayment => Rejection::RefundExceedsPayment {
            payment: r.transfer_id()?,
            refundable: r.won("refundable")?,
        },
        C::NothingToExpire => Rejection::NothingToExpire {
            account: r.account_id()?,
            at: r.time("at")?,
        },
        C::IdempotencyKeyReused => Rejection::IdempotencyKeyReused,
        C::LinkedEmpty => Rejection::LinkedEmpty,
        C::LinkedTooLong => Rejection::LinkedTooLong { max: r.u16("max")? },
        C::LinkedFailed => {
            let index = r.u16("linked index")?;
            let cause = get_rejection(r)?;
            if matches!(cause, Rejection::LinkedFailed { .. }) {
                return Err(r.error("nested linked failure"));
            }
            Rejection::LinkedFailed {
                index,
                cause: Box::new(cause),
            }
        }
        C::CurrencyHalted => Rejection::CurrencyHalted,
        C::InvariantViolation => Rejection::InvariantViolation,
        C::NotHalted => Rejection::NotHalted,
        _ => return Err(r.error("rejection code")),
    })
}

fn put_result(out: &mut Vec<u8>, result: &Result<Applied, Rejection>) {
    match result {
        Ok(a) => {
            out.put_u8(0);
            put_applied(out, a);
        }
        Err(rej) => {
            out.put_u8(1);
            put_rejection(out, rej);
        }
    }
}

fn get_result(r: &mut Reader<'_>) -> Result<Result<Applied, Rejection>, DecodeError> {
    match r.u8("result tag")? {
        0 => Ok(Ok(get_applied(r)?)),
        1 => Ok(Err(get_rejection(r)?)),
        _ => Err(r.error("result tag")),
    }
}

pub fn put_outcome(out: &mut Vec<u8>, o: &Outcome) {
    out.put_u8(u8::from(o.repeated));
    put_result(out, &o.result);
}

pub fn get_outcome(r: &mut Reader<'_>) -> Result<Outcome, DecodeError> {
    let repeated = match r.u8("repeated flag")? {
        0 => false,
        1 => true,
        _ => return Err(r.error("repeated flag")),
    };
    Ok(Outcome {
        repeated,
        result: get_result(r)?,
    })
}

// ----- state --------------------------------------------------------------------------

pub fn put_config(out: &mut Vec<u8>, c: &LedgerConfig) {
    for s in c.spend_order {
        out.put_u8(s as u8);
    }
    out.put_u64(c.idempotency_retention_us);
    out.put_u64(c.idempotency_entries_max as u64);
    out.put_u64(c.payment_refund_window_us);
    out.put_u64(c.payment_records_max as u64);
    out.put_u64(c.pending_timeout_max_us);
    out.put_u64(c.ended_pending_retention_us);
    out.put_u64(c.pending_transfers_max as u64);
}

pub fn get_config(r: &mut Reader<'_>) -> Result<LedgerConfig, DecodeError> {
    let mut spend_order = [Source::Purchased; 5];
    for s in &mut spend_order {
        *s = r.source()?;
    }
    let size = |r: &mut Reader<'_>, what| -> Result<usize, DecodeError> {
        usize::try_from(r.u64(what)?).map_err(|_| r.error(what))
    };
    let config = LedgerConfig {
        spend_order,
        idempotency_retention_us: r.u64("idempotency retention")?,
        idempotency_entries_max: size(r, "idempotency entries max")?,
        payment_refund_window_us: r.u64("refund window")?,
        payment_records_max: size(r, "payment records max")?,
        pending_timeout_max_us: r.u64("pending timeout max")?,
        ended_pending_retention_us: r.u64("ended pending retention")?,
        pending_transfers_max: size(r, "pending transfers max")?,
    };
    if !config.is_valid() {
        return Err(r.error("spend order"));
    }
    Ok(config)
}

pub(crate) fn put_account(out: &mut Vec<u8>, a: &Account) {
    out.put_u64(a.id.0);
    out.put_u8(a.kind as u8);
    out.put_u8(a.state as u8);
    out.put_u8(a.accepts.bits());
    out.put_i64(a.debits_posted.get());
    out.put_i64(a.credits_posted.get());
    out.put_i64(a.debits_pending.get());
    out.put_i64(a.credits_pending.get());
    put_lots(out, &a.lots);
}

fn get_account(r: &mut Reader<'_>) -> Result<Account, DecodeError> {
    let id = r.account_id()?;
    let kind = r.kind()?;
    let at = r.position();
    let state = AccountState::from_u8(r.u8("account state")?).ok_or(DecodeError {
        offset: at,
        what: "account state",
    })?;
    Ok(Account {
        id,
        kind,
        state,
        accepts: r.sources()?,
        debits_posted: r.won("debits posted")?,
        credits_posted: r.won("credits posted")?,
        debits_pending: r.won("debits pending")?,
        credits_pending: r.won("credits pending")?,
        lots: r.lots()?,
    })
}

fn put_credit_as(out: &mut Vec<u8>, c: &CreditAs) {
    match c {
        CreditAs::Plain => out.put_u8(0),
        CreditAs::Lot { source, spec } => {
            out.put_u8(1);
            out.put_u8(*source as u8);
            put_lot_spec(out, spec);
        }
        CreditAs::Gift => out.put_u8(2),
    }
}

fn get_credit_as(r: &mut Reader<'_>) -> Result<CreditAs, DecodeError> {
    Ok(match r.u8("credit label")? {
        0 => CreditAs::Plain,
        1 => CreditAs::Lot {
            source: r.source()?,
            spec: r.lot_spec()?,
        },
        2 => CreditAs::Gift,
        _ => return Err(r.error("credit label")),
    })
}

pub(crate) fn put_pending(out: &mut Vec<u8>, p: &PendingTransfer) {
    out.put_u64(p.id.0);
    out.put_u8(p.kind as u8);
    out.put_u64(p.debit.0);
    out.put_u64(p.credit.0);
    out.put_i64(p.amount.get());
    out.put_u64(p.deadline.as_micros());
    put_lots(out, &p.drawn);
    put_credit_as(out, &p.credit_as);
}

fn get_pending(r: &mut Reader<'_>) -> Result<PendingTransfer, DecodeError> {
    Ok(PendingTransfer {
        id: r.transfer_id()?,
        kind: r.transfer_kind()?,
        debit: r.account_id()?,
        credit: r.account_id()?,
        amount: r.won("amount")?,
        deadline: r.time("deadline")?,
        drawn: r.lots()?,
        credit_as: get_credit_as(r)?,
    })
}

fn put_violation(out: &mut Vec<u8>, v: &Violation) {
    let put_i128 = |out: &mut Vec<u8>, n: i128| out.put_u128(n as u128);
    match v {
        Violation::BatchNotBalanced { net } => {
            out.put_u8(1);
            put_i128(out, *net);
        }
        Violation::PendingNotBalanced { net } => {
            out.put_u8(2);
            put_i128(out, *net);
        }
        Violation::Negative {
            account,
            kind,
            available,
        } => {
            out.put_u8(3);
            out.put_u64(account.0);
            out.put_u8(*kind as u8);
            put_i128(out, *available);
        }
        Violation::LotsMismatch {
            account,
            lots,
            available,
        } => {
            out.put_u8(4);
            out.put_u64(account.0);
            put_i128(out, *lots);
            put_i128(out, *available);
        }
        Violation::WrongDirection {
            kind,
            debit,
            credit,
        } => {
            out.put_u8(5);
            out.put_u8(*kind as u8);
            out.put_u8(*debit as u8);
            out.put_u8(*credit as u8);
        }
        Violation::Arithmetic => out.put_u8(6),
    }
}

fn get_violation(r: &mut Reader<'_>) -> Result<Violation, DecodeError> {
    let i128_ = |r: &mut Reader<'_>| r.u128("amount").map(|n| n as i128);
    Ok(match r.u8("violation tag")? {
        1 => Violation::BatchNotBalanced { net: i128_(r)? },
        2 => Violation::PendingNotBalanced { net: i128_(r)? },
        3 => Violation::Negative {
            account: r.account_id()?,
            kind: r.kind()?,
            available: i128_(r)?,
        },
        4 => Violation::LotsMismatch {
            account: r.account_id()?,
            lots: i128_(r)?,
            available: i128_(r)?,
        },
        5 => Violation::WrongDirection {
            kind: r.transfer_kind()?,
            debit: r.kind()?,
            credit: r.kind()?,
        },
        6 => Violation::Arithmetic,
        _ => return Err(r.error("violation tag")),
    })
}

fn put_halt(out: &mut Vec<u8>, h: Option<&Halt>) {
    match h {
        None => out.put_u8(0),
        Some(h) => {
            out.put_u8(1);
            out.put_u64(h.at.as_micros());
            match &h.cause {
                HaltCause::Operator { operator, reason } => {
                    out.put_u8(1);
                    put_text(out, operator);
                    put_text(out, reason);
                }
                HaltCause::Violation(v) => {
                    out.put_u8(2);
                    put_violation(out, v);
                }
            }
        }
    }
}

fn get_halt(r: &mut Reader<'_>) -> Result<Option<Halt>, DecodeError> {
    if r.u8("halt flag")? == 0 {
        return Ok(None);
    }
    let at = r.time("halt time")?;
    let cause = match r.u8("halt cause")? {
        1 => HaltCause::Operator {
            operator: r.text()?,
            reason: r.text()?,
        },
        2 => HaltCause::Violation(get_violation(r)?),
        _ => return Err(r.error("halt cause")),
    };
    Ok(Some(Halt { at, cause }))
}

const SNAPSHOT_VERSION: u32 = 2;

/// The whole ledger state, for a snapshot. Deterministic: accounts in creation order,
/// retention queues in age order, pending transfers by id.
pub fn put_ledger(out: &mut Vec<u8>, ledger: &Ledger) {
    let p = ledger.parts();
    out.put_u32(SNAPSHOT_VERSION);
    put_config(out, p.config);
    out.put_u64(p.next_transfer_id);
    out.put_u64(p.last_timestamp.as_micros());
    out.put_u64(p.batches);
    put_halt(out, p.halted);
    out.put_u32(p.accounts.len() as u32);
    for a in p.accounts {
        put_account(out, a);
    }
    let mut pendings: Vec<&PendingTransfer> = p.pendings.values().collect();
    pendings.sort_by_key(|p| p.id);
    out.put_u32(pendings.len() as u32);
    for pending in pendings {
        put_pending(out, pending);
    }
    out.put_u32(p.ended_order.len() as u32);
    for (at, id) in p.ended_order {
        out.put_u64(at.as_micros());
        out.put_u64(id.0);
        out.put_u8(p.ended.get(id).map_or(0, |e| *e as u8));
    }
    out.put_u32(p.payments.slots() as u32);
    for (id, slot) in p.payments.iter() {
        out.put_u64(id.0);
        match slot {
            PaymentSlot::Empty => out.put_u8(0),
            PaymentSlot::Reserved { at } => {
                out.put_u8(1);
                out.put_u64(at.as_micros());
            }
            PaymentSlot::Payment(rec) => {
                out.put_u8(2);
                out.put_u64(rec.payer.0);
                out.put_u64(rec.merchant.0);
                out.put_i64(rec.amount.get());
                out.put_i64(rec.refunded.get());
                put_lots(out, &rec.drawn);
                out.put_u64(rec.at.as_micros());
            }
        }
    }
    out.put_u32(p.idempotency.len() as u32);
    for e in p.idempotency.iter() {
        out.put_u64(e.at.as_micros());
        out.put_u64(e.client.0);
        out.put_u128(e.key.0);
        out.put_u64(e.fingerprint);
        put_result(out, &e.result);
    }
    put_postcard(out, &p.scheme.to_snapshot());
}

pub fn get_ledger(r: &mut Reader<'_>) -> Result<Ledger, DecodeError> {
    if r.u32("snapshot version")? != SNAPSHOT_VERSION {
        return Err(r.error("snapshot version"));
    }
    let config = get_config(r)?;
    let next_transfer_id = r.u64("next transfer id")?;
    let last_timestamp = r.time("last timestamp")?;
    let batches = r.u64("batches")?;
    let halted = get_halt(r)?;
    let n = r.count(40, "account count")?;
    let accounts = (0..n)
        .map(|_| get_account(r))
        .collect::<Result<Vec<_>, _>>()?;
    let n = r.count(40, "pending count")?;
    let pendings = (0..n)
        .map(|_| get_pending(r))
        .collect::<Result<Vec<_>, _>>()?;
    let n = r.count(17, "ended count")?;
    let ended = (0..n)
        .map(|_| Ok((r.time("ended at")?, r.transfer_id()?, r.pending_end()?)))
        .collect::<Result<Vec<_>, DecodeError>>()?;
    // Decoded straight into the retention structures: a snapshot can hold tens of
    // millions of these, and start-up time is what it saves.
    let n = r.count(9, "payment slot count")?;
    let mut payments = PaymentLog::default();
    let mut expected: Option<u64> = None;
    for _ in 0..n {
        let at = r.position();
        let id = r.transfer_id()?;
        // Slots are consecutive; a gap would make the log allocate for it.
        if expected.is_some_and(|e| e != id.0) {
            return Err(DecodeError {
                offset: at,
                what: "consecutive payment slots",
            });
        }
        expected = id.0.checked_add(1);
        let slot = match r.u8("payment slot")? {
            0 => PaymentSlot::Empty,
            1 => PaymentSlot::Reserved {
                at: r.time("reserved at")?,
            },
            2 => PaymentSlot::Payment(Box::new(PaymentRecord {
                payer: r.account_id()?,
                merchant: r.account_id()?,
                amount: r.won("payment amount")?,
                refunded: r.won("refunded")?,
                drawn: r.lots()?,
                at: r.time("payment at")?,
            })),
            _ => return Err(r.error("payment slot")),
        };
        if !payments.push_decoded(id, slot) {
            return Err(r.error("payment slot order"));
        }
    }
    let n = r.count(42, "idempotency count")?;
    let keys = IdempotencyRing::decode(n, || {
        Ok(IdempotencyEntry {
            at: r.time("key at")?,
            client: ClientId(r.u64("client")?),
            key: IdempotencyKey(r.u128("key")?),
            fingerprint: r.u64("fingerprint")?,
            result: get_result(r)?,
        })
    })?;
    let scheme: SchemeSnapshot = get_postcard(r, "scheme state")?;
    let at = r.position();
    Ledger::from_parts(
        config,
        accounts,
        pendings,
        ended,
        payments,
        keys,
        next_transfer_id,
        last_timestamp,
        halted,
        batches,
        scheme,
    )
    .map_err(|_| DecodeError {
        offset: at,
        what: "consistent ledger state",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip_command(c: Command) {
        let e = Envelope {
            client: ClientId(7),
            key: IdempotencyKey(u128::MAX - 3),
            command: c,
        };
        let mut buf = Vec::new();
        put_envelope(&mut buf, &e);
        let mut r = Reader::new(&buf);
        assert_eq!(get_envelope(&mut r).unwrap(), e);
        assert!(r.is_empty());
        // Every strict prefix fails cleanly.
        for cut in 0..buf.len() {
            assert!(
                get_envelope(&mut Reader::new(&buf[..cut])).is_err(),
                "prefix {cut}"
            );
        }
    }

    #[test]
    fn commands_round_trip() {
        let lot = LotSpec {
            tag: 3,
            expires_at: Timestamp::from_micros(99),
        };
        let text = |s: &str| Text::new(s).unwrap();
        round_trip_command(Command::OpenAccount {
            account: AccountId(5),
            kind: AccountKind::Merchant,
            accepts: SourceSet::of(&[Source::Gift]),
        });
        round_trip_command(Command::Transfer(Transfer::pending(
            TransferSpec::Charge {
                reserve: ReserveId::new(1),
                wallet: WalletId::new(2),
                amount: Won::new(45_000),
                lot,
            },
            1_000,
        )));
        round_trip_command(Command::Migrated {
            note: text("legacy wallets.csv:12 id=W-0042"),
            transfers: vec![Transfer::posted(TransferSpec::Charge {
                reserve: ReserveId::new(1),
                wallet: WalletId::new(2),
                amount: Won::new(12_345),
                lot,
            })],
        });
        round_trip_command(Command::Migrated {
            note: text("sign-off members by 김담당: dormant accounts"),
            transfers: vec![],
        });
        round_trip_command(Command::Linked(vec![
            Transfer::posted(TransferSpec::Payment {
                payer: WalletId::new(2),
                merchant: MerchantId::new(3),
                amount: Won::new(1),
            }),
            Transfer::posted(TransferSpec::Correction {
                debit: AccountId(1),
                credit: AccountId(2),
                amount: Won::new(5),
                auditor: text("감사관 김"),
                reason: text("오류 정정"),
                lot,
            }),
        ]));
        round_trip_command(Command::PostPending {
            pending: TransferId(4),
            amount: Some(Won::new(10)),
        });
        round_trip_command(Command::Halt {
            operator: text("op"),
            reason: text("drill"),
        });
    }

    #[test]
    fn outcomes_round_trip_every_rejection_code() {
        let samples = vec![
            Rejection::InsufficientFunds {
                account: AccountId(1),
                available: Won::new(5),
                requested: Won::new(9),
            },
            Rejection::LinkedFailed {
                index: 2,
                cause: Box::new(Rejection::SameAccount),
            },
            Rejection::PendingAlreadyEnded {
                id: TransferId(3),
                end: PendingEnd::Expired,
            },
            Rejection::AccountKindMismatch {
                account: AccountId(1),
                expected: AccountKind::CitizenWallet,
                actual: AccountKind::Merchant,
            },
        ];
        for rej in samples {
            let o = Outcome {
                result: Err(rej),
                repeated: true,
            };
            let mut buf = Vec::new();
            put_outcome(&mut buf, &o);
            assert_eq!(get_outcome(&mut Reader::new(&buf)).unwrap(), o);
        }
        // Codes are unique strings.
        let mut seen = std::collections::HashSet::new();
        for c in RejectionCode::ALL {
            assert!(seen.insert(c.as_str()), "duplicate code {}", c.as_str());
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = get_envelope(&mut Reader::new(&bytes));
            let _ = get_outcome(&mut Reader::new(&bytes));
            let _ = get_ledger(&mut Reader::new(&bytes));
        }
    }
}
