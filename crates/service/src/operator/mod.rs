//! An operator runs their own currencies only: the merchant lifecycle (approve, suspend,
//! close, reopen) and the list of merchants (`merchants`), registry sync, revenue bands
//! and QR aliases (`registry`), the scheme's versions (`scheme`), and the desk: budgets,
//! notices, halt and resume, the report (`desk`), the report's rows and its CSV file
//! (`report`). Each use case checks that the caller runs the currency and claims the
//! request's idempotency key; those whose effect is not a ledger command keep their
//! first answer for repeats (`idempotency::once`).

pub mod desk;
pub mod merchants;
pub mod registry;
pub mod report;
pub mod scheme;

use ledger::Text;

use crate::error::ServiceError;
use crate::{Caller, Currency, Service};

/// The currency `code`, for one of its operators; `403` for anyone else.
pub fn operator_of<'a>(
    service: &'a Service,
    caller: &Caller,
    code: &str,
) -> Result<&'a Currency, ServiceError> {
    service.operator_of(caller, code)
}

/// How the journal names the operator who asked.
fn operator_text(caller: &Caller) -> Result<Text, ServiceError> {
    Text::new(format!("user {}", caller.user_id)).map_err(|e| ServiceError::internal(e.to_string()))
}
