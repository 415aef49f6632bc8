//! Ledger commands under a request's key: submitted through the currency's engine, their
//! answers read back, refusals turned into the caller's words (naming only what the
//! caller may see).

use ledger::scheme::{SchemeApplied, SchemeCommand};
use ledger::{AccountId, Applied, Command, Envelope, Outcome, Won};

use crate::Currency;
use crate::auth::{Caller, Role};
use crate::error::ServiceError;
use crate::idempotency::{Answered, RequestKey};

pub async fn submit(
    currency: &Currency,
    envelopes: Vec<Envelope>,
) -> Result<Vec<Outcome>, ServiceError> {
    let ticket = currency.engine.submit(envelopes)?;
    Ok(ticket.outcome().await?)
}

/// One command under the request's key: its answer, and whether it repeats one the
/// ledger gave before. A refusal names only what `own` (the caller's account) may see.
pub async fn one(
    currency: &Currency,
    req: &RequestKey,
    command: Command,
    own: Option<u64>,
) -> Result<Answered<Applied>, ServiceError> {
    let out = submit(
        currency,
        vec![Envelope {
            client: req.client,
            key: req.key,
            command,
        }],
    )
    .await?
    .pop()
    .ok_or_else(|| ServiceError::internal("no answer"))?;
    match out.result {
        Ok(value) => Ok(Answered {
            value,
            replayed: out.repeated,
        }),
        Err(r) => Err(ServiceError::refused(&r, own.map(AccountId))),
    }
}

/// What the ledger answered before under the request's key, if it still remembers.
pub fn remembered(
    currency: &Currency,
    req: &RequestKey,
) -> Option<Result<Applied, ledger::Rejection>> {
    currency
        .engine
        .read(|l| l.remembered(req.client, req.key).cloned())
}

/// One scheme command under the request's key; its answer.
pub async fn run_scheme(
    currency: &Currency,
    req: &RequestKey,
    command: SchemeCommand,
    own: Option<u64>,
) -> Result<Answered<SchemeApplied>, ServiceError> {
    let a = one(currency, req, Command::Scheme(Box::new(command)), own).await?;
    Ok(Answered {
        value: scheme_answer(a.value)?,
        replayed: a.replayed,
    })
}

/// The scheme answer inside a ledger answer. Another kind of answer can only come from
/// an earlier, different command under the same key.
pub fn scheme_answer(applied: Applied) -> Result<SchemeApplied, ServiceError> {
    match applied {
        Applied::Scheme(s) => Ok(std::sync::Arc::unwrap_or_clone(s)),
        _ => Err(crate::idempotency::key_reused()),
    }
}

pub fn won(amount: i64) -> Result<Won, ServiceError> {
    if amount <= 0 || amount > Won::TRANSFER_MAX.get() {
        return Err(ServiceError::bad_request(
            "amount_invalid",
            "amounts are whole won, from 1 to 1,000,000,000,000",
        ));
    }
    Ok(Won::new(amount))
}

pub fn require(caller: &Caller, role: Role) -> Result<u64, ServiceError> {
    if caller.role != role {
        return Err(ServiceError::forbidden());
    }
    caller.account.ok_or_else(ServiceError::forbidden)
}
