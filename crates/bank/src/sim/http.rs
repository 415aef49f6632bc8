//! The simulated bank's HTTP API, and where faults are injected.
//!
//! Bad input is always a 4xx with an [`ErrorBody`]: extractor rejections are caught and
//! rewritten (axum's own would be plain text, and a JSON data error would be 422, which
//! here means "order rejected").

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::core::{Mode, Submitted};
use super::{AdminError, Fault, FaultPlan, HoldGuard, Shared, Unavailable};
use crate::types::{AccountNo, Order, OrderStatus, Reference};
use crate::wire::{ErrorBody, HolderBody, NewAccount, PAGE_LIMIT_MAX, StatusBody};

type AppState = State<Arc<Shared>>;

pub(crate) fn router(shared: Arc<Shared>, body_bytes_max: usize) -> Router {
    Router::new()
        .route("/v1/accounts", post(open_account))
        .route("/v1/accounts/{number}", get(get_account))
        .route("/v1/accounts/{number}/close", post(close_account))
        .route("/v1/accounts/{number}/holder", get(holder))
        .route("/v1/accounts/{number}/statement", get(statement))
        .route("/v1/transfers", post(transfer))
        .route("/v1/transfers/{reference}", get(transfer_status))
        .route("/v1/answers", get(answers))
        .route("/v1/faults", get(get_faults).put(put_faults))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this endpoint",
            )
        })
        .layer(DefaultBodyLimit::max(body_bytes_max))
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            limit_in_flight,
        ))
        .with_state(shared)
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            error: code.to_owned(),
            message: message.into(),
        }),
    )
        .into_response()
}

fn bad_request(message: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, "bad_request", message)
}

fn bad_json(r: JsonRejection) -> Response {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        error(StatusCode::PAYLOAD_TOO_LARGE, "too_large", r.body_text())
    } else {
        bad_request(r.body_text())
    }
}

/// The books could not be written: a 5xx, which a client reads as "outcome unknown".
fn unavailable(e: Unavailable) -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, "books_unavailable", e.0)
}

fn admin_error(e: AdminError) -> Response {
    match e {
        AdminError::Unavailable(m) => unavailable(Unavailable(m)),
        AdminError::Invalid(m) => bad_request(m),
        AdminError::NotFound(n) => error(
            StatusCode::NOT_FOUND,
            "account_not_found",
            format!("no account {n}"),
        ),
        AdminError::Full(m) => error(StatusCode::INSUFFICIENT_STORAGE, "full", m),
    }
}

/// The account number of the path, or the reason it is not one (for a 400).
fn account_no(path: Result<Path<String>, PathRejection>) -> Result<AccountNo, String> {
    let Path(raw) = path.map_err(|r| r.body_text())?;
    AccountNo::new(raw).map_err(|e| e.to_string())
}

/// Answers beyond the in-flight bound at once rather than queueing without limit.
async fn limit_in_flight(State(shared): AppState, req: Request, next: Next) -> Response {
    match shared.in_flight.clone().try_acquire_owned() {
        Ok(_permit) => next.run(req).await,
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many requests in progress",
        ),
    }
}

// ---- accounts ------------------------------------------------------------------------

async fn open_account(
    State(shared): AppState,
    body: Result<Json<NewAccount>, JsonRejection>,
) -> Response {
    let Json(new) = match body {
        Ok(b) => b,
        Err(r) => return bad_json(r),
    };
    match shared.books.lock().change(|c| c.upsert_account(new)) {
        Ok(Ok((info, true))) => (StatusCode::CREATED, Json(info)).into_response(),
        Ok(Ok((info, false))) => (StatusCode::OK, Json(info)).into_response(),
        Ok(Err(e)) => admin_error(e),
        Err(e) => unavailable(e),
    }
}

async fn get_account(
    State(shared): AppState,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let number = match account_no(path) {
        Ok(n) => n,
        Err(m) => return bad_request(m),
    };
    match shared.books.lock().read(|c| c.account(&number)) {
        Ok(Some(info)) => Json(info).into_response(),
        Ok(None) => admin_error(AdminError::NotFound(number)),
        Err(e) => unavailable(e),
    }
}

/// Holder-name enquiry (예금주 조회): open accounts only.
async fn holder(State(shared): AppState, path: Result<Path<String>, PathRejection>) -> Response {
    let number = match account_no(path) {
        Ok(n) => n,
        Err(m) => return bad_request(m),
    };
    if shared.enquiry_fails() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "simulated: holder enquiry unavailable",
        );
    }
    match shared.books.lock().read(|c| c.holder(&number)) {
        Ok(Some(holder)) => Json(HolderBody { number, holder }).into_response(),
        Ok(None) => admin_error(AdminError::NotFound(number)),
        Err(e) => unavailable(e),
    }
}

async fn close_account(
    State(shared): AppState,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let number = match account_no(path) {
        Ok(n) => n,
        Err(m) => return bad_request(m),
    };
    match shared.books.lock().change(|c| c.close_account(&number)) {
        Ok(Ok(info)) => Json(info).into_response(),
        Ok(Err(e)) => admin_error(e),
        Err(e) => unavailable(e),
    }
}

#[derive(Debug, Deserialize)]
struct StatementQuery {
    from_ms: Option<u64>,
    to_ms: Option<u64>,
    after_tx: Option<u64>,
    limit: Option<u32>,
}

fn page_limit(limit: Option<u32>) -> Result<usize, String> {
    match limit.unwrap_or(PAGE_LIMIT_MAX) {
        l @ 1..=PAGE_LIMIT_MAX => Ok(l as usize),
        l => Err(format!("limit must be 1..={PAGE_LIMIT_MAX}, got {l}")),
    }
}

async fn statement(
    State(shared): AppState,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<StatementQuery>, QueryRejection>,
) -> Response {
    let number = match account_no(path) {
        Ok(n) => n,
        Err(m) => return bad_request(m),
    };
    let Query(q) = match query {
        Ok(q) => q,
        Err(r) => return bad_request(r.body_text()),
    };
    let limit = match page_limit(q.limit) {
        Ok(l) => l,
        Err(m) => return bad_request(m),
    };
    let (from_ms, to_ms) = (q.from_ms.unwrap_or(0), q.to_ms.unwrap_or(u64::MAX));
    if from_ms > to_ms {
        return bad_request("from_ms is after to_ms");
    }
    let after_tx = q.after_tx.unwrap_or(0);
    let page = shared
        .books
        .lock()
        .read(|c| c.statement(&number, from_ms, to_ms, after_tx, limit));
    match page {
        Ok(Ok(page)) => Json(page).into_response(),
        Ok(Err(e)) => admin_error(e),
        Err(e) => unavailable(e),
    }
}

// ---- transfers -----------------------------------------------------------------------

fn answer(reference: Reference, submitted: Result<Submitted, Unavailable>) -> Response {
    let submitted = match submitted {
        Ok(s) => s,
        Err(e) => return unavailable(e),
    };
    match submitted {
        Submitted::Final(status) => {
            let code = match status {
                OrderStatus::Completed { .. } => StatusCode::OK,
                OrderStatus::Rejected { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                OrderStatus::Unknown => {
                    return error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "final answer is unknown",
                    );
                }
            };
            (code, Json(StatusBody { reference, status })).into_response()
        }
        Submitted::Conflict => error(
            StatusCode::CONFLICT,
            "reference_conflict",
            format!("reference {reference} was used for a different order"),
        ),
        Submitted::Full => error(
            StatusCode::INSUFFICIENT_STORAGE,
            "orders_full",
            "the bank cannot remember more orders; nothing was executed",
        ),
        Submitted::Held => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "order left held",
        ),
    }
}

/// Submits under the books' lock; the change is durable when this returns.
fn submit(shared: &Shared, order: &Order, mode: Mode) -> Result<Submitted, Unavailable> {
    shared.books.lock().change(|c| c.submit(order, mode))
}

async fn transfer(State(shared): AppState, body: Result<Json<Order>, JsonRejection>) -> Response {
    let Json(order) = match body {
        Ok(b) => b,
        Err(r) => return bad_json(r),
    };
    let fault = shared.transfer_fault();
    tracing::debug!(reference = %order.reference, ?fault, "transfer");
    let execute = Mode::Execute { duplicate: false };
    match fault {
        Fault::None => answer(order.reference.clone(), submit(&shared, &order, execute)),
        Fault::Duplicate => {
            let submitted = submit(&shared, &order, Mode::Execute { duplicate: true });
            answer(order.reference, submitted)
        }
        Fault::Reject => answer(
            order.reference.clone(),
            submit(&shared, &order, Mode::Decline),
        ),
        Fault::Slow(delay) => {
            let submitted = submit(&shared, &order, execute);
            tokio::time::sleep(delay).await;
            answer(order.reference, submitted)
        }
        Fault::LostAnswer => {
            let _ = submit(&shared, &order, execute);
            error(
                StatusCode::BAD_GATEWAY,
                "answer_lost",
                "simulated: the answer was lost on the way back",
            )
        }
        Fault::Timeout(delay) => {
            // Never reaches the books: as if the request died in the network.
            let _hold = HoldGuard::new(&shared);
            tokio::time::sleep(delay).await;
            error(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "simulated: the bank did not answer",
            )
        }
        Fault::Late(delay) => late(shared, order, delay).await,
    }
}

/// Reserves the reference, and decides it after `delay` in a task of its own: the client
/// usually gives up first, which drops this handler but must not cancel the execution.
async fn late(shared: Arc<Shared>, order: Order, delay: Duration) -> Response {
    let submitted = submit(&shared, &order, Mode::Hold);
    if submitted != Ok(Submitted::Held) {
        tokio::time::sleep(delay).await;
        return answer(order.reference, submitted);
    }
    let hold = HoldGuard::new(&shared);
    let reference = order.reference.clone();
    let task = tokio::spawn(async move {
        let _hold = hold;
        tokio::time::sleep(delay).await;
        shared.books.lock().change(|c| c.finish_held(&reference))
    });
    match task.await {
        Ok(Ok(Some(status))) => answer(order.reference, Ok(Submitted::Final(status))),
        Ok(Err(e)) => unavailable(e),
        Ok(Ok(None)) | Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "held order vanished",
        ),
    }
}

async fn transfer_status(
    State(shared): AppState,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let reference = match path {
        Ok(Path(raw)) => match Reference::new(raw) {
            Ok(r) => r,
            Err(e) => return bad_request(e.to_string()),
        },
        Err(r) => return bad_request(r.body_text()),
    };
    if shared.status_fails() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "simulated: status service unavailable",
        );
    }
    match shared.books.lock().read(|c| c.status(&reference)) {
        Ok(status) => Json(StatusBody { reference, status }).into_response(),
        Err(e) => unavailable(e),
    }
}

#[derive(Debug, Deserialize)]
struct AnswersQuery {
    after: Option<u64>,
    limit: Option<u32>,
}

async fn answers(
    State(shared): AppState,
    query: Result<Query<AnswersQuery>, QueryRejection>,
) -> Response {
    let Query(q) = match query {
        Ok(q) => q,
        Err(r) => return bad_request(r.body_text()),
    };
    let limit = match page_limit(q.limit) {
        Ok(l) => l,
        Err(m) => return bad_request(m),
    };
    match shared
        .books
        .lock()
        .read(|c| c.answers(q.after.unwrap_or(0), limit))
    {
        Ok(page) => Json(page).into_response(),
        Err(e) => unavailable(e),
    }
}

// ---- faults --------------------------------------------------------------------------

async fn get_faults(State(shared): AppState) -> Response {
    Json(shared.faults.lock().0.clone()).into_response()
}

async fn put_faults(
    State(shared): AppState,
    body: Result<Json<FaultPlan>, JsonRejection>,
) -> Response {
    let Json(plan) = match body {
        Ok(b) => b,
        Err(r) => return bad_json(r),
    };
    if let Err(e) = plan.validate() {
        return bad_request(e.to_string());
    }
    tracing::info!(?plan, "fault plan replaced");
    shared.faults.lock().0 = plan.clone();
    Json(plan).into_response()
}
