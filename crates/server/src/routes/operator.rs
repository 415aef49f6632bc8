//! An operator runs their own currencies only: the merchant lifecycle (approve, suspend, close, reopen), registry sync and QR aliases, revenue bands, the scheme's versions, budgets, notices, halt and resume, and the report.

//! Thin over `service::operator`.

use service::dashboard::{CurrencyHealth, Dashboard, Point as DashboardPoint, Window};
use service::merchant::QrParams;
use service::operator::desk::{self, Budget, Funding, NewNotice, Reason, ReportAnswer};
use service::operator::merchants::{self, LifecycleReason, ListParams, MerchantList, Suspension};
use service::operator::registry::{
    self, AliasImportAnswer, AliasRejected, RevenueBandsAnswer, SyncAnswer, SyncParams, SyncReport,
    SyncRow,
};
use service::operator::scheme::{self, SchemeSetAnswer, SchemeUpdate, SchemeVersionView};
use service::sale::{Feature as SaleFeature, Phase as SalePhase, SalePlan, SaleView};

use super::prelude::*;
use crate::idempotency::{idempotency_key, mark_replayed};

#[derive(OpenApi)]
#[openapi(
    paths(
        approve_merchant,
        suspend_merchant,
        report,
        halt,
        resume,
        set_scheme,
        scheme_versions,
        withdraw_scheme,
        budgets,
        fund_budget,
        dashboard,
        publish_notice,
        merchant_qr,
        list_merchants,
        close_merchant,
        reopen_merchant,
        registry_sync,
        revenue_bands,
        set_revenue_bands,
        import_aliases,
        schedule_sale,
        sale,
        cancel_sale
    ),
    components(schemas(
        Suspension,
        ReportAnswer,
        Reason,
        SchemeUpdate,
        SchemeSetAnswer,
        SchemeVersionView,
        Budget,
        Funding,
        Dashboard,
        DashboardPoint,
        Window,
        CurrencyHealth,
        NewNotice,
        SyncAnswer,
        SyncRow,
        RevenueBandsAnswer,
        AliasImportAnswer,
        AliasRejected,
        MerchantList,
        SalePlan,
        SaleView,
        SalePhase,
        SaleFeature
    ))
)]
#[derive(Debug)]
pub struct Doc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/operator/{currency}/budgets", get(budgets))
        .route("/api/v1/operator/{currency}/dashboard", get(dashboard))
        .route(
            "/api/v1/operator/{currency}/budgets/{budget}/funding",
            post(fund_budget),
        )
        .route("/api/v1/operator/{currency}/notices", post(publish_notice))
        .route("/api/v1/operator/{currency}/halt", post(halt))
        .route("/api/v1/operator/{currency}/resume", post(resume))
        .route(
            "/api/v1/operator/{currency}/scheme",
            axum::routing::put(set_scheme).get(scheme_versions),
        )
        .route(
            "/api/v1/operator/{currency}/sale",
            axum::routing::put(schedule_sale)
                .get(sale)
                .delete(cancel_sale),
        )
        .route(
            "/api/v1/operator/{currency}/scheme/{version}/withdraw",
            post(withdraw_scheme),
        )
        .route(
            "/api/v1/operator/{currency}/merchants/{merchant}/approve",
            post(approve_merchant),
        )
        .route(
            "/api/v1/operator/{currency}/merchants/{merchant}/suspend",
            post(suspend_merchant),
        )
        .route("/api/v1/operator/{currency}/report", get(report))
        .route("/api/v1/operator/{currency}/merchants", get(list_merchants))
        .route(
            "/api/v1/operator/{currency}/merchants/{merchant}/qr",
            get(merchant_qr),
        )
        .route(
            "/api/v1/operator/{currency}/merchants/{merchant}/close",
            post(close_merchant),
        )
        .route(
            "/api/v1/operator/{currency}/merchants/{merchant}/reopen",
            post(reopen_merchant),
        )
        .route(
            "/api/v1/operator/{currency}/registry-sync",
            post(registry_sync),
        )
        .route(
            "/api/v1/operator/{currency}/revenue-bands",
            get(revenue_bands).put(set_revenue_bands),
        )
        .route(
            "/api/v1/operator/{currency}/qr-aliases",
            post(import_aliases),
        )
}

/// Approves a merchant's application (or lifts an operator's suspension).
#[utoipa::path(post, path = "/api/v1/operator/{currency}/merchants/{merchant}/approve", security(("bearer" = [])),
    params(("currency" = String, Path), ("merchant" = u64, Path),
        ("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn approve_merchant(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams((code, merchant)): PathParams<(String, u64)>,
) -> Result<Answer<StatusCode>, ApiError> {
    Ok(merchants::approve_merchant(
        &state.service,
        &caller,
        idempotency_key(&headers),
        &code,
        merchant,
    )
    .await?
    .map(|()| StatusCode::NO_CONTENT)
    .into())
}

/// Suspends a merchant: its payments are refused with the reason `operator`.
#[utoipa::path(post, path = "/api/v1/operator/{currency}/merchants/{merchant}/suspend", request_body = Suspension,
    security(("bearer" = [])),
    params(("currency" = String, Path), ("merchant" = u64, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn suspend_merchant(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams((code, merchant)): PathParams<(String, u64)>,
    JsonBody(req): JsonBody<Suspension>,
) -> Result<Answer<StatusCode>, ApiError> {
    Ok(merchants::suspend_merchant(
        &state.service,
        &caller,
        idempotency_key(&headers),
        &code,
        merchant,
        req,
    )
    .await?
    .map(|()| StatusCode::NO_CONTENT)
    .into())
}

/// Closes a merchant (폐업 or withdrawn): its codes stop paying and say why.
#[utoipa::path(post, path = "/api/v1/operator/{currency}/merchants/{merchant}/close", request_body = LifecycleReason, security(("bearer" = [])),
    params(("currency" = String, Path), ("merchant" = u64, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn close_merchant(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams((code, merchant)): PathParams<(String, u64)>,
    JsonBody(req): JsonBody<LifecycleReason>,
) -> Result<Answer<StatusCode>, ApiError> {
    Ok(merchants::close_merchant(
        &state.service,
        &caller,
        idempotency_key(&headers),
        &code,
        merchant,
        req,
    )
    .await?
    .map(|()| StatusCode::NO_CONTENT)
    .into())
}

/// Reopens a closed merchant with the same id (its old stickers work again).
#[utoipa::path(post, path = "/api/v1/operator/{currency}/merchants/{merchant}/reopen", request_body = LifecycleReason, security(("bearer" = [])),
    params(("currency" = String, Path), ("merchant" = u64, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn reopen_merchant(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams((code, merchant)): PathParams<(String, u64)>,
    JsonBody(req): JsonBody<LifecycleReason>,
) -> Result<Answer<StatusCode>, ApiError> {
    Ok(merchants::reopen_merchant(
        &state.service,
        &caller,
        idempotency_key(&headers),
        &code,
        merchant,
        req,
    )
    .await?
    .map(|()| StatusCode::NO_CONTENT)
    .into())
}

/// The currency's merchants, e.g. the applications waiting for approval (`status=applied`).
#[utoipa::path(get, path = "/api/v1/operator/{currency}/merchants", security(("bearer" = [])),
    params(("currency" = String, Path), ListParams),
    responses((status = 200, body = MerchantList), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn list_merchants(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
    QueryParams(p): QueryParams<ListParams>,
) -> Result<Json<MerchantList>, ApiError> {
    Ok(Json(merchants::list_merchants(
        &state.service,
        &caller,
        &code,
        &p,
    )?))
}

/// A merchant's QR code, for an operator printing stickers.
#[utoipa::path(get, path = "/api/v1/operator/{currency}/merchants/{merchant}/qr", security(("bearer" = [])),
    params(("currency" = String, Path), ("merchant" = u64, Path), QrParams),
    responses((status = 200, description = "image/png, image/svg+xml or text/plain"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn merchant_qr(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams((code, merchant)): PathParams<(String, u64)>,
    QueryParams(p): QueryParams<QrParams>,
) -> Result<Response, ApiError> {
    let image = merchants::merchant_qr(&state.service, &caller, &code, merchant, &p)?;
    Ok(([(header::CONTENT_TYPE, image.content_type)], image.bytes).into_response())
}

/// Imports a merchant registry file (CSV, UTF-8 or CP949; Korean or English headers):
/// upsert by business registration number, with the diff. Ids, QR codes and aliases
/// survive every sync; a previous operator's QR column (기존QR) becomes aliases of the
/// rows' merchants in the same run. Revenue labels are read with the currency's table
/// (`/revenue-bands`) and judged against the scheme in force: one that cannot be read or
/// straddles the scheme's bands leaves revenue unknown (lowest cash-back) and is
/// reported per row. The answer is a summary; `report=csv` gives every row.
#[utoipa::path(post, path = "/api/v1/operator/{currency}/registry-sync", security(("bearer" = [])),
    params(("currency" = String, Path), ("Idempotency-Key" = String, Header), SyncParams),
    request_body(content = Vec<u8>, content_type = "text/csv"),
    responses(
        (status = 200, description = "the summary (JSON), or with `report=csv` the row report (text/csv)",
            content((SyncAnswer = "application/json"), (String = "text/csv"))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn registry_sync(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
    QueryParams(p): QueryParams<SyncParams>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let a = registry::registry_sync(
        &state.service,
        &caller,
        idempotency_key(&headers),
        &code,
        &p,
        body.to_vec(),
    )
    .await?;
    let response = match a.value {
        SyncReport::Csv(csv) => {
            let disposition = format!("attachment; filename=\"registry-sync-{code}.csv\"");
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                csv,
            )
                .into_response()
        }
        SyncReport::Summary(summary) | SyncReport::Full { summary, .. } => {
            Json(summary).into_response()
        }
    };
    Ok(mark_replayed(response, a.replayed))
}

/// The revenue labels registry syncs read, as CSV `label,min_won,max_won` (both bounds
/// inclusive whole won, an empty `max_won` is no upper bound): the operator's labels,
/// then the built-in ones (`1억 미만`, `1억~3억`, `3억~10억`, `10억~30억`, `30억 초과`,
/// 영세, 중소1..3, 일반) they do not override.
#[utoipa::path(get, path = "/api/v1/operator/{currency}/revenue-bands", security(("bearer" = [])),
    params(("currency" = String, Path)),
    responses((status = 200, body = String, content_type = "text/csv"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn revenue_bands(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
) -> Result<Response, ApiError> {
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        registry::revenue_bands(&state.service, &caller, &code)?,
    )
        .into_response())
}

/// Replaces the currency's own revenue labels (a previous operator's grades, say), read
/// by every registry sync from now on: CSV `label,min_won,max_won` (UTF-8 or CP949,
/// optional header; both bounds inclusive whole won, `3억` or `300000000`; empty
/// `max_won`: no upper bound). Stored once rather than sent with every file so that a
/// dry run and its sync, and every later sync, read labels the same way. A table with
/// any bad line is refused whole; a header alone goes back to the built-in labels.
#[utoipa::path(put, path = "/api/v1/operator/{currency}/revenue-bands", security(("bearer" = [])),
    params(("currency" = String, Path), ("Idempotency-Key" = String, Header)),
    request_body(content = Vec<u8>, content_type = "text/csv"),
    responses((status = 200, body = RevenueBandsAnswer), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn set_revenue_bands(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
    body: Bytes,
) -> Result<Answer<Json<RevenueBandsAnswer>>, ApiError> {
    Ok(registry::set_revenue_bands(
        &state.service,
        &caller,
        idempotency_key(&headers),
        &code,
        &body,
    )
    .await?
    .map(Json)
    .into())
}

/// Imports a previous operator's QR codes (CSV `payload,merchant_id[,note]`), so the
/// stickers already in shops pay the right merchants.
#[utoipa::path(post, path = "/api/v1/operator/{currency}/qr-aliases", security(("bearer" = [])),
    params(("currency" = String, Path), ("Idempotency-Key" = String, Header)),
    request_body(content = Vec<u8>, content_type = "text/csv"),
    responses((status = 200, body = AliasImportAnswer), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn import_aliases(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
    body: Bytes,
) -> Result<Answer<Json<AliasImportAnswer>>, ApiError> {
    Ok(registry::import_aliases(
        &state.service,
        &caller,
        idempotency_key(&headers),
        &code,
        &body,
    )
    .await?
    .map(Json)
    .into())
}

/// A new version of the currency's scheme (the earlier versions stay readable).
#[utoipa::path(put, path = "/api/v1/operator/{currency}/scheme", request_body = SchemeUpdate, security(("bearer" = [])),
    params(("currency" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, body = SchemeSetAnswer), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn set_scheme(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
    JsonBody(req): JsonBody<SchemeUpdate>,
) -> Result<Answer<Json<SchemeSetAnswer>>, ApiError> {
    Ok(scheme::set_scheme(
        &state.service,
        &caller,
        idempotency_key(&headers),
        &code,
        req,
    )
    .await?
    .map(Json)
    .into())
}

/// Schedules the currency's sale day (or replaces the one scheduled): purchases wait
/// until the opening and the order of those who came early is drawn at it; the line is
/// told "sold out" as soon as the discount budget is spent; the features named are
/// paused from 6 hours before the opening until the end.
#[utoipa::path(put, path = "/api/v1/operator/{currency}/sale", request_body = SalePlan, security(("bearer" = [])),
    params(("currency" = String, Path)),
    responses((status = 200, body = SaleView), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn schedule_sale(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
    JsonBody(plan): JsonBody<SalePlan>,
) -> Result<Json<SaleView>, ApiError> {
    Ok(Json(service::sale::schedule(
        &state.service,
        &caller,
        &code,
        plan,
    )?))
}

/// The currency's sale day and where it stands (404 when none is scheduled).
#[utoipa::path(get, path = "/api/v1/operator/{currency}/sale", security(("bearer" = [])),
    params(("currency" = String, Path)),
    responses((status = 200, body = SaleView), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn sale(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
) -> Result<Json<SaleView>, ApiError> {
    state.service.operator_of(&caller, &code)?;
    Ok(Json(service::sale::status(&state.service, &code)?))
}

/// Calls the currency's sale day off: purchases are no longer held, paused features
/// come back.
#[utoipa::path(delete, path = "/api/v1/operator/{currency}/sale", security(("bearer" = [])),
    params(("currency" = String, Path)),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn cancel_sale(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    service::sale::cancel(&state.service, &caller, &code)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The currency's scheme versions, oldest first.
#[utoipa::path(get, path = "/api/v1/operator/{currency}/scheme", security(("bearer" = [])),
    params(("currency" = String, Path)),
    responses((status = 200, body = Vec<SchemeVersionView>), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn scheme_versions(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
) -> Result<Json<Vec<SchemeVersionView>>, ApiError> {
    Ok(Json(scheme::scheme_versions(
        &state.service,
        &caller,
        &code,
    )?))
}

/// Withdraws the latest scheme version before it comes into force (journaled; a
/// version in force stays).
#[utoipa::path(post, path = "/api/v1/operator/{currency}/scheme/{version}/withdraw", security(("bearer" = [])),
    params(("currency" = String, Path), ("version" = u32, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn withdraw_scheme(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams((code, version)): PathParams<(String, u32)>,
) -> Result<Answer<StatusCode>, ApiError> {
    Ok(scheme::withdraw_scheme(
        &state.service,
        &caller,
        idempotency_key(&headers),
        &code,
        version,
    )
    .await?
    .map(|()| StatusCode::NO_CONTENT)
    .into())
}

/// The dashboard: payments, sales and subsidy per 10-second bucket over the last minutes
/// (journal time), their sums and rates, the budgets left, the sequencer's queue and
/// what works now.
#[utoipa::path(get, path = "/api/v1/operator/{currency}/dashboard", security(("bearer" = [])),
    params(("currency" = String, Path)),
    responses((status = 200, body = Dashboard), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn dashboard(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
) -> Result<Json<Dashboard>, ApiError> {
    Ok(Json(service::dashboard::dashboard(
        &state.service,
        &caller,
        &code,
    )?))
}

/// The currency's subsidy budgets: left, spent, and the scheme's ceilings.
#[utoipa::path(get, path = "/api/v1/operator/{currency}/budgets", security(("bearer" = [])),
    params(("currency" = String, Path)),
    responses((status = 200, body = Vec<Budget>), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn budgets(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
) -> Result<Json<Vec<Budget>>, ApiError> {
    Ok(Json(desk::budgets(&state.service, &caller, &code)?))
}

/// The municipality funds a subsidy budget (the money is deposited with the issuer).
#[utoipa::path(post, path = "/api/v1/operator/{currency}/budgets/{budget}/funding", request_body = Funding,
    security(("bearer" = [])),
    params(("currency" = String, Path), ("budget" = u64, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn fund_budget(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams((code, budget)): PathParams<(String, u64)>,
    JsonBody(req): JsonBody<Funding>,
) -> Result<Answer<StatusCode>, ApiError> {
    Ok(desk::fund_budget(
        &state.service,
        &caller,
        idempotency_key(&headers),
        &code,
        budget,
        req,
    )
    .await?
    .map(|()| StatusCode::NO_CONTENT)
    .into())
}

/// Publishes a notice to the currency's users (in Korean and English).
#[utoipa::path(post, path = "/api/v1/operator/{currency}/notices", request_body = NewNotice,
    security(("bearer" = [])), params(("currency" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 201, body = crate::auth::Notice), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn publish_notice(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
    JsonBody(req): JsonBody<NewNotice>,
) -> Result<Answer<(StatusCode, Json<crate::auth::Notice>)>, ApiError> {
    Ok(desk::publish_notice(
        &state.service,
        &caller,
        idempotency_key(&headers),
        &code,
        req,
    )
    .await?
    .map(|n| (StatusCode::CREATED, Json(n)))
    .into())
}

/// Stops all writes of the currency (reads go on), e.g. during an incident.
#[utoipa::path(post, path = "/api/v1/operator/{currency}/halt", request_body = Reason, security(("bearer" = [])),
    params(("currency" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn halt(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
    JsonBody(req): JsonBody<Reason>,
) -> Result<Answer<StatusCode>, ApiError> {
    Ok(desk::halt(
        &state.service,
        &caller,
        idempotency_key(&headers),
        &code,
        req,
    )
    .await?
    .map(|()| StatusCode::NO_CONTENT)
    .into())
}

/// Resumes writes after a halt (including one the ledger imposed itself).
#[utoipa::path(post, path = "/api/v1/operator/{currency}/resume", security(("bearer" = [])),
    params(("currency" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn resume(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
) -> Result<Answer<StatusCode>, ApiError> {
    Ok(
        desk::resume(&state.service, &caller, idempotency_key(&headers), &code)
            .await?
            .map(|()| StatusCode::NO_CONTENT)
            .into(),
    )
}

/// The operator report of a currency (from its journal and ledger).
#[utoipa::path(get, path = "/api/v1/operator/{currency}/report", security(("bearer" = [])),
    params(("currency" = String, Path)),
    responses((status = 200, body = ReportAnswer), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn report(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
) -> Result<Json<ReportAnswer>, ApiError> {
    Ok(Json(desk::report(&state.service, &caller, &code).await?))
}
