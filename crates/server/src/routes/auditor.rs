//! An auditor's desk: the journal verified from genesis, and the totals by account kind with their zero sum.

use super::prelude::*;

#[derive(OpenApi)]
#[openapi(
    paths(verify, totals),
    components(schemas(VerifyAnswer, Totals, KindTotal))
)]
#[derive(Debug)]
pub struct Doc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/audit/{currency}/totals", get(totals))
        .route("/api/v1/audit/{currency}/verify", get(verify))
}

/// The one turn at whole-journal work, held until the work ends (even if the caller
/// goes away); 503 with Retry-After while another runs.
pub(crate) fn whole_journal_turn(
    state: &AppState,
) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    Arc::clone(&state.whole_journal)
        .try_acquire_owned()
        .map_err(|_| ApiError::busy(10).detail("a report or a verification is already running"))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VerifyAnswer {
    pub ok: bool,
    pub report: String,
}

/// Re-executes the currency's journal from genesis with this build and reports.
#[utoipa::path(get, path = "/api/v1/audit/{currency}/verify", security(("bearer" = [])),
    params(("currency" = String, Path)),
    responses((status = 200, body = VerifyAnswer), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn verify(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
) -> Result<Json<VerifyAnswer>, ApiError> {
    if !matches!(caller.role, Role::Auditor | Role::Operator) || !caller.may_run(&code) {
        return Err(ApiError::forbidden());
    }
    let currency = state.currency(&code)?.clone();
    let turn = whole_journal_turn(&state)?;
    let report = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        engine::verify(currency.storage.as_ref())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(VerifyAnswer {
        ok: report.ok(),
        report: report.to_string(),
    }))
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
#[utoipa::path(get, path = "/api/v1/audit/{currency}/totals", security(("bearer" = [])),
    params(("currency" = String, Path)),
    responses((status = 200, body = Totals), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn totals(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
) -> Result<Json<Totals>, ApiError> {
    if !matches!(caller.role, Role::Auditor | Role::Operator) || !caller.may_run(&code) {
        return Err(ApiError::forbidden());
    }
    let currency = state.currency(&code)?;
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
    Ok(Json(Totals {
        by_account_kind: by_kind,
        sum,
        state_hash: hash.to_string(),
        durable_seq: currency.engine.durable_seq(),
    }))
}
