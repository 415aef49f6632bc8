//! An auditor's routes: the journal verified from genesis, and the totals by account
//! kind. Thin over `service::auditor`.

use service::auditor::{KindTotal, Totals, Verification, VerifyAnswer};

use super::prelude::*;

#[derive(OpenApi)]
#[openapi(
    paths(verify, totals, start_verification, verification),
    components(schemas(VerifyAnswer, Totals, KindTotal, Verification))
)]
#[derive(Debug)]
pub struct Doc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/audit/{currency}/totals", get(totals))
        .route("/api/v1/audit/{currency}/verify", get(verify))
        .route(
            "/api/v1/audit/{currency}/verification",
            get(verification).post(start_verification),
        )
}

/// Starts verifying the journal from genesis in the background (answered at once, 202);
/// a verification already running is answered instead of a second one. 503 while
/// other whole-journal work runs.
#[utoipa::path(post, path = "/api/v1/audit/{currency}/verification", security(("bearer" = [])),
    params(("currency" = String, Path)),
    responses((status = 202, body = Verification), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")))]
async fn start_verification(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
) -> Result<(StatusCode, Json<Verification>), ApiError> {
    let v = service::auditor::start_verification(&state.service, &caller, &code)?;
    Ok((StatusCode::ACCEPTED, Json(v)))
}

/// The latest background verification: its progress while it runs, its answer once
/// done (404 when none was started since the server started).
#[utoipa::path(get, path = "/api/v1/audit/{currency}/verification", security(("bearer" = [])),
    params(("currency" = String, Path)),
    responses((status = 200, body = Verification), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn verification(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
) -> Result<Json<Verification>, ApiError> {
    service::auditor::verification(&state.service, &caller, &code)?
        .map(Json)
        .ok_or_else(|| service::ServiceError::not_found("verification").into())
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
