//! An auditor's desk: the journal verified from genesis with this build, and the totals
//! by account kind with their zero sum. Whole-journal work runs one at a time.

use std::sync::Arc;

use ledger::AccountKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ServiceError;
use crate::{Caller, Role, Service};

/// The one turn at whole-journal work, held until the work ends (even if the caller
/// goes away); 503 with Retry-After while another runs.
pub fn whole_journal_turn(
    service: &Service,
) -> Result<tokio::sync::OwnedSemaphorePermit, ServiceError> {
    Arc::clone(&service.whole_journal)
        .try_acquire_owned()
        .map_err(|_| ServiceError::busy(10).detail("a report or a verification is already running"))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VerifyAnswer {
    pub ok: bool,
    pub report: String,
}

/// Re-executes the currency's journal from genesis with this build and reports.
pub async fn verify(
    service: &Service,
    caller: &Caller,
    code: String,
) -> Result<VerifyAnswer, ServiceError> {
    if !matches!(caller.role, Role::Auditor | Role::Operator) || !caller.may_run(&code) {
        return Err(ServiceError::forbidden());
    }
    let currency = service.currency(&code)?.clone();
    let turn = whole_journal_turn(service)?;
    let report = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        engine::verify(currency.storage.as_ref())
    })
    .await
    .map_err(|e| ServiceError::internal(e.to_string()))?;
    Ok(VerifyAnswer {
        ok: report.ok(),
        report: report.to_string(),
    })
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KindTotal {
    pub kind: String,
    pub accounts: u64,
    pub balance: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Totals {
    pub by_account_kind: Vec<KindTotal>,
    /// Must be 0: every won is somewhere.
    pub sum: i64,
    pub state_hash: String,
    pub durable_seq: u64,
}

/// Balances by account kind now, their sum (always 0), and the state hash.
pub async fn totals(
    service: &Service,
    caller: &Caller,
    code: String,
) -> Result<Totals, ServiceError> {
    if !matches!(caller.role, Role::Auditor | Role::Operator) || !caller.may_run(&code) {
        return Err(ServiceError::forbidden());
    }
    let currency = service.currency(&code)?;
    let (by_kind, hash) = currency.engine.read(|l| {
        let mut by_kind: Vec<KindTotal> = AccountKind::ALL
            .iter()
            .map(|k| KindTotal {
                kind: k.as_str().into(),
                accounts: 0,
                balance: 0,
            })
            .collect();
        for a in l.accounts() {
            if let Some(t) = by_kind.iter_mut().find(|t| t.kind == a.kind.as_str()) {
                t.accounts += 1;
                t.balance += a.balance().map_or(0, |b| b.get());
            }
        }
        (by_kind, l.state_hash())
    });
    let sum = by_kind.iter().map(|t| t.balance).sum();
    Ok(Totals {
        by_account_kind: by_kind,
        sum,
        state_hash: hash.to_string(),
        durable_seq: currency.engine.durable_seq(),
    })
}
