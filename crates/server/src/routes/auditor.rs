//! An auditor's routes: the journal verified from genesis, and the totals by account
//! kind. Thin over `service::auditor`.

use service::auditor::{KindTotal, Totals, VerifyAnswer};

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

/// Re-executes the currency's journal from genesis with this build and reports.
#[utoipa::path(get, path = "/api/v1/audit/{currency}/verify", security(("bearer" = [])),
    params(("currency" = String, Path)),
    responses((status = 200, body = VerifyAnswer), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn verify(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
) -> Result<Json<VerifyAnswer>, ApiError> {
    Ok(Json(
        service::auditor::verify(&state.service, &caller, code).await?,
    ))
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
    Ok(Json(
        service::auditor::totals(&state.service, &caller, code).await?,
    ))
}
