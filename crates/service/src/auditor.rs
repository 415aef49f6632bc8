//! An auditor's desk: the journal verified from genesis with this build, and the totals
//! by account kind with their zero sum. Whole-journal work runs one at a time.
//!
//! A verification can also run in the background ([`start_verification`]), one per
//! currency, whose progress (records checked of the journal's records) and result a
//! page follows ([`desk`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

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

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
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

/// A verification running in the background or finished, as the desk shows it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Verification {
    pub running: bool,
    /// The last record checked.
    pub checked: u64,
    /// The journal's last durable record when the verification started (records written
    /// since are checked too, so `checked` may end above it).
    pub total: u64,
    /// Unix microseconds.
    pub started_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
    /// The chain hash of the last record checked, when finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<VerifyAnswer>,
}

/// The latest verification of each currency (at most one each: bounded).
#[derive(Debug, Default)]
pub struct Verifications(Mutex<BTreeMap<String, Arc<Mutex<Verification>>>>);

impl Verifications {
    fn latest(&self, code: &str) -> Option<Verification> {
        self.0.lock().get(code).map(|v| v.lock().clone())
    }
}

fn may_audit(caller: &Caller, code: &str) -> Result<(), ServiceError> {
    if !matches!(caller.role, Role::Auditor | Role::Operator) || !caller.may_run(code) {
        return Err(ServiceError::forbidden());
    }
    Ok(())
}

/// Starts verifying the currency's journal from genesis in the background, unless a
/// verification of it is already running (then that one is answered). 503 while other
/// whole-journal work runs.
pub fn start_verification(
    service: &Service,
    caller: &Caller,
    code: &str,
) -> Result<Verification, ServiceError> {
    may_audit(caller, code)?;
    let currency = service.currency(code)?.clone();
    let mut all = service.verifications.0.lock();
    if let Some(v) = all.get(code) {
        let v = v.lock().clone();
        if v.running {
            return Ok(v);
        }
    }
    let turn = whole_journal_turn(service)?;
    let slot = Arc::new(Mutex::new(Verification {
        running: true,
        checked: 0,
        total: currency.engine.durable_seq(),
        started_at: crate::now_us(),
        finished_at: None,
        chain_hash: None,
        answer: None,
    }));
    all.insert(code.to_owned(), Arc::clone(&slot));
    drop(all);
    let started = slot.lock().clone();
    let progress_slot = Arc::clone(&slot);
    let sink: engine::ProgressSink = Arc::new(move |p: &engine::Progress| {
        progress_slot.lock().checked = p.seq;
    });
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let report = engine::verify_with(
            currency.storage.as_ref(),
            &ledger::Rules::this_build(),
            Some(&sink),
        );
        let mut v = slot.lock();
        v.running = false;
        v.checked = report.last_seq;
        v.finished_at = Some(crate::now_us());
        v.chain_hash = report.chain_hash.map(|h| h.to_string());
        v.answer = Some(VerifyAnswer {
            ok: report.ok(),
            report: report.to_string(),
        });
    });
    Ok(started)
}

/// What the auditor's desk shows: the totals now, the journal's head, and the latest
/// verification (if any).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Desk {
    pub currency: String,
    pub totals: Totals,
    /// The last durable record and its chain hash.
    pub head_seq: u64,
    pub head_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

/// The auditor's desk of currency `code`.
pub async fn desk(service: &Service, caller: &Caller, code: &str) -> Result<Desk, ServiceError> {
    let totals = totals(service, caller, code.to_owned()).await?;
    let (head_seq, head_hash) = service.currency(code)?.engine.durable_head();
    Ok(Desk {
        currency: code.to_owned(),
        totals,
        head_seq,
        head_hash: head_hash.to_string(),
        verification: service.verifications.latest(code),
    })
}

/// The latest verification of currency `code`, if any.
pub fn verification(
    service: &Service,
    caller: &Caller,
    code: &str,
) -> Result<Option<Verification>, ServiceError> {
    may_audit(caller, code)?;
    service.currency(code)?;
    Ok(service.verifications.latest(code))
}
