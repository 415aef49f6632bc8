//! The routes under `/api/v1` and their OpenAPI description.
//!
//! Every state-changing request takes an `Idempotency-Key` header; the same key from the
//! same user repeats the first answer. Amounts are integer won.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use ledger::scheme::{SchemeApplied, SchemeCommand};
use ledger::{
    AccountId, AccountKind, ClientId, Command, Envelope, IdempotencyKey, MerchantId, SourceSet,
    Text, WalletId, Won,
};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use service::ledger_ops::{one, remembered, require, run_scheme, scheme_answer, submit, won};
use service::{Caller, Currency, NewUser, Problem, Role, Secret, ServiceError};

pub use crate::idempotency::{Answer, Fingerprint, RequestKey, idempotency};
use crate::problem::ApiError;
use crate::{AppState, BODY_BYTES_MAX, REQUEST_DEADLINE};

/// Wallet ids of signed-up citizens and merchants: far above the demo's and the
/// operator's own accounts.
const WALLET_BASE: u64 = 1_000_000_000;
pub(crate) const MERCHANT_BASE: u64 = 2_000_000_000;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "maeul",
        version = "1",
        description = "Regional digital currencies: citizens, merchants, operators and auditors. Errors are application/problem+json with a stable code."
    ),
    paths(
        health, ready, sign_up_citizen, sign_up_merchant, sign_in, sign_out,
        me, wallet, history, settlements, budgets, fund_budget, publish_notice, notices, totals, charge, pay, gift, refund_balance, cancel_purchase, set_auto_charge,
        refund_payment, redeem, live_payments, approve_merchant, suspend_merchant, report,
        halt, resume, set_scheme, scheme_versions, withdraw_scheme, verify
    ),
    components(schemas(
        Problem, Role, CitizenSignUp, MerchantSignUp, SignedUp, SignIn, Session,
        Readiness, CurrencyReadiness, Wallet, Lot, ChargeRequest, ChargeAnswer, PaymentRequest, PaymentAnswer, Suspension,
        ReportAnswer, VerifyAnswer, crate::history::Entry, crate::history::Settlement, GiftRequest, GiftAnswer,
        PayoutAnswer, AutoCharge, RefundRequest, RedemptionRequest, Reason, SchemeUpdate,
        SchemeSetAnswer, SchemeVersionView, Me, AutoChargeState, Budget, Totals, KindTotal, Funding,
        NewNotice, crate::auth::Notice
    )),
    modifiers(&Security)
)]
#[derive(Debug)]
pub struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// The error answers any route can give, declared on every operation that does not
/// already say them: 400 (bad input), 404 (unknown currency or record, where the path
/// names one), 409 (an idempotency key reused for another request, on writes), 408 and
/// 413 (a body too slow or too large, where there is a body), 429 (limits), 503
/// (saturated or halted: try again after `Retry-After`).
struct CommonErrors;

impl utoipa::Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |what: &str| {
            ResponseBuilder::new()
                .description(what)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/api/") || path.ends_with("openapi.json") {
                continue;
            }
            let names_a_record = path.contains('{');
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ] {
                let Some(op) = op.as_mut() else { continue };
                let writes = op
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| p.name == "Idempotency-Key");
                let mut add = |code: &str, what: &str| {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| problem(what).into());
                };
                add(
                    "400",
                    "The request is malformed or a value is out of range.",
                );
                if names_a_record {
                    add("404", "No such currency or record.");
                }
                if writes {
                    add("409", "The idempotency key was used for another request.");
                }
                if op.request_body.is_some() {
                    add(
                        "408",
                        "The body did not arrive in time (`body_timeout`): nothing was done.",
                    );
                    add(
                        "413",
                        "The body is larger than this route takes (`body_too_large`).",
                    );
                }
                add("429", "Too many requests: wait `Retry-After` seconds.");
                add(
                    "503",
                    "Busy or halted: try again after `Retry-After` seconds.",
                );
            }
        }
    }
}

pub fn routes(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(health))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/citizens", post(sign_up_citizen))
        .route("/api/v1/merchants", post(sign_up_merchant))
        .route("/api/v1/sessions", post(sign_in))
        .route("/api/v1/sessions/current", delete(sign_out))
        .route("/api/v1/me", get(me))
        .route("/api/v1/me/wallet", get(wallet))
        .route("/api/v1/operator/{currency}/budgets", get(budgets))
        .route(
            "/api/v1/operator/{currency}/budgets/{budget}/funding",
            post(fund_budget),
        )
        .route("/api/v1/operator/{currency}/notices", post(publish_notice))
        .route("/api/v1/notices/{currency}", get(notices))
        .route("/api/v1/audit/{currency}/totals", get(totals))
        .route("/api/v1/me/charges", post(charge))
        .route("/api/v1/me/payments", post(pay))
        .route("/api/v1/me/history", get(history))
        .route("/api/v1/me/settlements", get(settlements))
        .route("/api/v1/me/gifts", post(gift))
        .route("/api/v1/me/refund", post(refund_balance))
        .route(
            "/api/v1/me/purchases/{purchase}/cancel",
            post(cancel_purchase),
        )
        .route(
            "/api/v1/me/auto-charge",
            axum::routing::put(set_auto_charge),
        )
        .route("/api/v1/me/payments/{payment}/refund", post(refund_payment))
        .route("/api/v1/me/redemptions", post(redeem))
        .route("/api/v1/me/payments/live", get(live_payments))
        .route("/api/v1/operator/{currency}/halt", post(halt))
        .route("/api/v1/operator/{currency}/resume", post(resume))
        .route(
            "/api/v1/operator/{currency}/scheme",
            axum::routing::put(set_scheme).get(scheme_versions),
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
        .route("/api/v1/audit/{currency}/verify", get(verify))
        .merge(crate::merchant_api::routes())
        .merge(crate::bank_link::routes())
        .fallback(|| async { ApiError::not_found("route") })
        .layer(middleware::from_fn_with_state(Arc::clone(&state), observe))
        // Every route's body limit is enforced by `observe` (see `body_limit`), which
        // hands on the body already received: axum's own default limit would only
        // refuse a second time what was taken once.
        .layer(DefaultBodyLimit::disable())
        // A body that pauses longer than the body timeout fails as it is read.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.timeouts.body,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// The largest body each route takes. Only uploads take more than `BODY_BYTES_MAX`.
fn body_limit(route: &str) -> usize {
    use crate::merchant_api::{FILE_BYTES_MAX, IMAGE_BYTES_MAX};
    match route {
        "/api/v1/me/scan-image" => IMAGE_BYTES_MAX,
        "/api/v1/operator/{currency}/registry-sync" | "/api/v1/operator/{currency}/qr-aliases" => {
            FILE_BYTES_MAX
        }
        "/api/v1/operator/{currency}/revenue-bands" => directory::revenue::TABLE_BYTES_MAX,
        _ => BODY_BYTES_MAX,
    }
}

/// Metrics per route, admission, and the request deadline.
///
/// The body is received first, whole, under the body timeouts, and only then is the
/// request given a place among those in flight: a client that sends headers and then
/// stalls costs a connection (bounded per address and in total), never one of the
/// places every citizen's payment needs. Bodies being received are bounded in bytes
/// too (`PENDING_BODY_BYTES_MAX`).
async fn observe(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    // Load shedding: beyond the in-flight limit a request is answered 503 at once rather
    // than queued behind the others (an admitted request's latency stays short). Health,
    // readiness and metrics are never shed: operators need them most under load.
    let probe = matches!(route.as_str(), "/healthz" | "/readyz" | "/metrics");
    let response = match receive_body(&state, &route, req).await {
        Err(e) => e.into_response(),
        Ok((req, pending)) => {
            let admitted = if probe { None } else { state.admit_request() };
            // Once admitted, the in-flight limit bounds what the body holds.
            drop(pending);
            if !probe && admitted.is_none() {
                ApiError::busy(1).into_response()
            } else {
                let r = match tokio::time::timeout(REQUEST_DEADLINE, next.run(req)).await {
                    Ok(r) => r,
                    Err(_) => {
                        ApiError::unavailable("the request's deadline passed").into_response()
                    }
                };
                drop(admitted);
                r
            }
        }
    };
    let m = &state.metrics;
    m.latency
        .with_label_values(&[route.as_str()])
        .observe(started.elapsed().as_secs_f64());
    m.requests
        .with_label_values(&[route.as_str(), response.status().as_str()])
        .inc();
    if let Some(code) = response.extensions().get::<crate::problem::ErrorCode>() {
        m.rejections.with_label_values(&[code.0.as_str()]).inc();
    }
    response
}

/// The request with its body received whole (at most the route's limit), and the
/// permits for the bytes it holds. 413 when the body is larger than the route takes,
/// 408 when it pauses longer than the body timeout or arrives slower than
/// `BODY_BYTES_PER_S_MIN`, 503 when the bodies being received already hold
/// `PENDING_BODY_BYTES_MAX`.
async fn receive_body(
    state: &AppState,
    route: &str,
    req: Request,
) -> Result<(Request, Option<tokio::sync::OwnedSemaphorePermit>), ApiError> {
    use futures_util::StreamExt;

    let limit = body_limit(route);
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::body_too_large(limit));
    }
    if declared == Some(0) {
        return Ok((req, None));
    }
    // A pause is bounded by the body timeout layer; the whole body by this.
    let expected = declared.unwrap_or(limit as u64);
    let deadline = tokio::time::Instant::now()
        + state.timeouts.body
        + Duration::from_secs(expected / crate::BODY_BYTES_PER_S_MIN);
    let (parts, body) = req.into_parts();
    let mut stream = body.into_data_stream();
    let mut received: Vec<u8> = Vec::new();
    let mut pending: Option<tokio::sync::OwnedSemaphorePermit> = None;
    loop {
        let chunk = match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return Err(ApiError::body_timeout()),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(body_error(e)),
            Ok(Some(Ok(chunk))) => chunk,
        };
        if received.len() + chunk.len() > limit {
            return Err(ApiError::body_too_large(limit));
        }
        let more = u32::try_from(chunk.len())
            .ok()
            .and_then(|n| {
                Arc::clone(&state.pending_body_bytes)
                    .try_acquire_many_owned(n)
                    .ok()
            })
            .ok_or_else(|| ApiError::busy(1))?;
        match pending.as_mut() {
            Some(p) => p.merge(more),
            None => pending = Some(more),
        }
        received.extend_from_slice(&chunk);
    }
    Ok((
        Request::from_parts(parts, axum::body::Body::from(received)),
        pending,
    ))
}

/// What a body that failed while arriving is answered.
fn body_error(e: axum::Error) -> ApiError {
    let cause = e.into_inner();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(cause.as_ref());
    while let Some(s) = source {
        if s.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::body_timeout();
        }
        source = s.source();
    }
    ApiError::bad_request(
        "bad_request_body",
        format!("the body could not be read: {cause}"),
    )
}

// ----- extractors ---------------------------------------------------------------------

/// The signed-in caller of a request, by its `Authorization: Bearer` token; `401`
/// without a live session.
#[derive(Debug, Clone)]
pub struct SignedIn(pub Caller);

impl FromRequestParts<Arc<AppState>> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        state
            .auth
            .caller(token)
            .map(SignedIn)
            .ok_or_else(ApiError::unauthorized)
    }
}

/// The token of an `Authorization: Bearer <token>` header. The scheme name is
/// case-insensitive (RFC 9110 §11.1: `bearer` and `BEARER` are the same scheme) and
/// may be followed by more than one space.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The client's address, when the server was started with it (`serve`); requests
/// made without a socket (in-process tests) have none and are not limited by it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// Sign-ups and sign-ins from one address are limited (before any password is hashed).
fn admit_address(state: &AppState, from: ClientAddress) -> Result<(), ApiError> {
    match from.0 {
        Some(ip) => state
            .by_address
            .admit(crate::limits::address_key(ip))
            .map_err(ApiError::too_many),
        None => Ok(()),
    }
}

/// Path parameters, answering a problem (not axum's plain text) when they do not parse.
pub(crate) struct PathParams<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for PathParams<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(PathParams(v)),
            Err(e) => Err(ApiError::bad_request("bad_path", e.body_text())),
        }
    }
}

/// Query parameters, likewise.
pub(crate) struct QueryParams<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for QueryParams<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(QueryParams(v)),
            Err(e) => Err(ApiError::bad_request("bad_query", e.body_text())),
        }
    }
}

/// Parses JSON, answering a problem (not axum's plain text) when it is not valid.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(e) => Err(ApiError::new(
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else if e.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE {
                    StatusCode::UNSUPPORTED_MEDIA_TYPE
                } else {
                    StatusCode::BAD_REQUEST
                },
                "bad_request_body",
                "요청 내용을 읽을 수 없습니다.",
                "The request body could not be read.",
            )
            .detail(e.body_text())),
        }
    }
}

// ----- system -------------------------------------------------------------------------

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "alive")))]
async fn health() -> &'static str {
    "ok"
}

/// One currency's state, as readiness reports it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CurrencyReadiness {
    pub currency: String,
    /// `running`; `halted` (by an operator or by a broken invariant: writes refused,
    /// reads go on); `read_only` (this build decides records another build wrote
    /// differently: an operator must decide); `recovering` or `failed` (the journal
    /// failed and the state is being rebuilt); `stopped`.
    pub state: String,
    /// Why, when it is not running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Journal records this build decides differently (read-only currencies).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differing_records: Vec<u64>,
    /// A background re-check of the journal found a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_failure: Option<String>,
    pub durable_seq: u64,
}

/// Whether this node takes every request it should: every currency takes writes and
/// the node is not saturated.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub currencies: Vec<CurrencyReadiness>,
    /// Requests in flight now, and the most admitted at once.
    pub in_flight: usize,
    pub in_flight_max: usize,
    /// HTTP connections open now, and the most open at once (beyond it a new
    /// connection is answered 503 and closed).
    pub connections_open: usize,
    pub connections_max: usize,
    /// Every place in flight is taken or the connections are at their cap: new
    /// requests are answered 503 at once.
    pub saturated: bool,
}

/// The readiness of one currency.
pub(crate) fn currency_readiness(code: &str, c: &Currency) -> CurrencyReadiness {
    let (mut state, mut cause) = match c.engine.health() {
        engine::Health::Running => ("running", None),
        engine::Health::Recovering { cause } => ("recovering", Some(cause)),
        engine::Health::Failed { cause } => ("failed", Some(cause)),
        engine::Health::ReadOnly { cause } => ("read_only", Some(cause)),
        engine::Health::Stopped => ("stopped", None),
    };
    if state == "running"
        && let Some(h) = c.engine.read(|l| l.halted().cloned())
    {
        state = "halted";
        cause = Some(match h.cause {
            ledger::HaltCause::Operator { operator, reason } => {
                format!("halted by {operator}: {reason}")
            }
            ledger::HaltCause::Violation(v) => {
                format!(
                    "halted by the ledger: a batch broke an invariant ({v}); an operator must resume"
                )
            }
        });
    }
    CurrencyReadiness {
        currency: code.to_owned(),
        state: state.to_owned(),
        cause,
        differing_records: c
            .engine
            .quarantine()
            .map(|q| q.differences.iter().map(|d| d.seq).collect())
            .unwrap_or_default(),
        audit_failure: c.engine.audit_failure(),
        durable_seq: c.engine.durable_seq(),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReadyParams {
    /// Only this currency (a balancer in front of one town's traffic).
    pub currency: Option<String>,
}

/// Readiness: 200 when every currency takes writes and the node is not saturated;
/// otherwise 503 with `Retry-After`. Either way the body lists every currency's state
/// (halted, read-only, recovering…) and the node's load.
#[utoipa::path(get, path = "/readyz", params(ReadyParams), responses(
    (status = 200, description = "ready", body = Readiness),
    (status = 503, description = "a currency does not take writes, or the node is saturated", body = Readiness)
))]
async fn ready(
    State(state): State<Arc<AppState>>,
    QueryParams(p): QueryParams<ReadyParams>,
) -> Result<Response, ApiError> {
    if let Some(code) = &p.currency {
        state.currency(code)?;
    }
    let currencies: Vec<CurrencyReadiness> = state
        .currencies
        .iter()
        .filter(|(code, _)| p.currency.as_ref().is_none_or(|c| c == *code))
        .map(|(code, c)| currency_readiness(code, c))
        .collect();
    let (in_flight, in_flight_max) = state.load();
    let (connections_open, connections_max) = state.connections.load();
    let saturated = state.saturated();
    let ready = !saturated && currencies.iter().all(|c| c.state == "running");
    let body = Readiness {
        ready,
        currencies,
        in_flight,
        in_flight_max,
        connections_open,
        connections_max,
        saturated,
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = (status, Json(body)).into_response();
    if !ready {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("5"),
        );
    }
    Ok(response)
}

async fn metrics(State(state): State<Arc<AppState>>) -> String {
    state.metrics.render(&state)
}

/// The whole API's OpenAPI document (built once).
pub fn openapi_document() -> &'static utoipa::openapi::OpenApi {
    static DOC: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        use utoipa::Modify;
        let mut doc = ApiDoc::openapi();
        doc.merge(crate::merchant_api::MerchantDoc::openapi());
        doc.merge(crate::bank_link::BankLinkDoc::openapi());
        CommonErrors.modify(&mut doc);
        doc
    })
}

async fn openapi() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(openapi_document())
}

// ----- sign-up and sessions ------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CitizenSignUp {
    pub login: String,
    #[schema(value_type = String)]
    pub password: Secret<String>,
    /// Six digits, asked at every payment.
    #[schema(value_type = String)]
    pub pin: Secret<String>,
    pub birth_year: u16,
    pub currency: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SignedUp {
    pub user_id: i64,
    /// The wallet or merchant account id.
    pub account: u64,
    /// `active`, or `awaiting_approval` for a merchant.
    pub status: String,
}

/// A citizen signs up: a wallet is opened in the currency.
#[utoipa::path(post, path = "/api/v1/citizens", request_body = CitizenSignUp, responses(
    (status = 201, body = SignedUp),
    (status = 400, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")
))]
async fn sign_up_citizen(
    State(state): State<Arc<AppState>>,
    from: ClientAddress,
    JsonBody(req): JsonBody<CitizenSignUp>,
) -> Result<(StatusCode, Json<SignedUp>), ApiError> {
    admit_address(&state, from)?;
    state.currency(&req.currency)?;
    if !(1900..=2100).contains(&req.birth_year) {
        return Err(ApiError::bad_request("birth_year_invalid", "1900..=2100"));
    }
    let setup = SignUpSetup::Citizen {
        birth_year: req.birth_year,
    };
    let user_id = state
        .auth
        .create(NewUser {
            login: req.login,
            password: req.password,
            pin: Some(req.pin),
            role: Role::Citizen,
            currency: req.currency.clone(),
            currencies: Vec::new(),
            setup: Some(setup.to_json()?),
        })
        .await?;
    let account = finish_sign_up(&state, &req.currency, user_id, setup, true).await?;
    Ok((
        StatusCode::CREATED,
        Json(SignedUp {
            user_id,
            account: account.0,
            status: "active".into(),
        }),
    ))
}

/// What a new user's set-up needs (ledger account; a merchant's registry record), kept
/// on the user until it is done.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum SignUpSetup {
    Citizen {
        birth_year: u16,
    },
    Merchant {
        category: u16,
        annual_revenue: i64,
        #[serde(default)]
        listing: Option<Box<Listing>>,
    },
}

/// A merchant's registry record, as applied for.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Listing {
    brn: directory::Brn,
    profile: directory::MerchantProfile,
}

impl SignUpSetup {
    fn to_json(&self) -> Result<String, ApiError> {
        serde_json::to_string(self).map_err(|e| ApiError::internal(e.to_string()))
    }

    /// The account and the commands that open it.
    fn commands(&self, user_id: i64) -> Result<(AccountId, Vec<Command>), ApiError> {
        Ok(match *self {
            SignUpSetup::Citizen { birth_year } => {
                let wallet = WalletId::new(WALLET_BASE + user_id as u64);
                (
                    wallet.account(),
                    vec![
                        Command::OpenAccount {
                            account: wallet.account(),
                            kind: AccountKind::CitizenWallet,
                            accepts: SourceSet::ALL,
                        },
                        Command::Scheme(Box::new(SchemeCommand::RegisterCitizen {
                            wallet,
                            birth_year,
                        })),
                    ],
                )
            }
            SignUpSetup::Merchant {
                category,
                annual_revenue,
                ..
            } => {
                let merchant = MerchantId::new(MERCHANT_BASE + user_id as u64);
                let awaiting = Text::new("awaiting approval")
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                (
                    merchant.account(),
                    vec![
                        Command::OpenAccount {
                            account: merchant.account(),
                            kind: AccountKind::Merchant,
                            accepts: SourceSet::ALL,
                        },
                        Command::Scheme(Box::new(SchemeCommand::SetMerchantProfile {
                            merchant,
                            category,
                            annual_revenue: Won::new(annual_revenue).into(),
                        })),
                        Command::Scheme(Box::new(SchemeCommand::SuspendMerchant {
                            merchant,
                            reason: awaiting,
                        })),
                    ],
                )
            }
        })
    }
}

/// Opens a new user's account in the ledger (the service's own client, keyed by user and
/// step: a repeat answers the same), then records it on the user. Runs in its own task,
/// so a dropped connection cannot stop it half-way. A refusal removes the user again, so
/// the login can be used once more; an unavailable ledger leaves the set-up owed, and the
/// next sign-in or start finishes it (`first`: this is the sign-up itself, which answers
/// the ledger's refusal by removing the user).
async fn finish_sign_up(
    state: &Arc<AppState>,
    currency_code: &str,
    user_id: i64,
    setup: SignUpSetup,
    first: bool,
) -> Result<AccountId, ApiError> {
    let state = Arc::clone(state);
    let currency_code = currency_code.to_owned();
    tokio::spawn(async move {
        let currency = state.currency(&currency_code)?;
        let (account, commands) = setup.commands(user_id).map_err(|e| e.0)?;
        let envelopes = commands
            .into_iter()
            .enumerate()
            .map(|(step, command)| Envelope {
                client: ClientId(u64::MAX - 1),
                key: IdempotencyKey((user_id as u128) << 8 | (step as u128 + 1)),
                command,
            })
            .collect();
        let refused = match submit(currency, envelopes).await {
            Ok(outs) => match outs.into_iter().find_map(|o| o.result.err()) {
                None => {
                    if let SignUpSetup::Merchant {
                        listing: Some(l), ..
                    } = &setup
                        && currency.merchants.get(account.0).is_none()
                    {
                        // The application in the registry, awaiting approval.
                        match currency.merchants.create(
                            account.0,
                            l.brn,
                            l.profile.clone(),
                            directory::Status::Applied,
                            "applied",
                            service::now_us(),
                        ) {
                            Ok(_) => {}
                            // A concurrent finish of the same sign-up made it first.
                            Err(_)
                                if currency
                                    .merchants
                                    .get(account.0)
                                    .is_some_and(|m| m.brn == l.brn) => {}
                            Err(e) => {
                                if first {
                                    state.auth.delete_user(user_id);
                                }
                                return Err(e);
                            }
                        }
                    }
                    state.auth.set_account(user_id, account.0)?;
                    return Ok(account);
                }
                Some(r) => ServiceError::from(r),
            },
            Err(e) if first => {
                // Not applied (busy or halted): nothing in the ledger to keep.
                state.auth.delete_user(user_id);
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        // Only the sign-up itself gives the login back: a later finish (sign-in, start)
        // keeps the user, and the next try finishes it (e.g. once a halt is lifted).
        if first {
            state.auth.delete_user(user_id);
        }
        Err(refused)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(ApiError)
}

/// Finishes every sign-up that was cut off before the ledger answered (at start).
pub async fn finish_pending_sign_ups(state: &Arc<AppState>) -> usize {
    let mut finished = 0;
    for (user_id, setup, currency) in state.auth.pending_setups() {
        let Ok(setup) = serde_json::from_str::<SignUpSetup>(&setup) else {
            tracing::warn!(user = user_id, "unreadable sign-up set-up");
            continue;
        };
        match finish_sign_up(state, &currency, user_id, setup, false).await {
            Ok(_) => finished += 1,
            Err(e) => tracing::warn!(user = user_id, code = e.code, "sign-up set-up not finished"),
        }
    }
    finished
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantSignUp {
    pub login: String,
    #[schema(value_type = String)]
    pub password: Secret<String>,
    pub currency: String,
    /// The scheme's own category (or the MCC where the scheme uses those).
    pub category: u16,
    /// Annual revenue in won (from card-fee data), re-checked by the operator.
    pub annual_revenue: i64,
    /// 사업자등록번호, e.g. `123-45-67890` (its check digit is checked).
    pub brn: String,
    /// 상호: the shop's name as citizens search for it.
    pub name: String,
    /// English or romanised name.
    pub name_en: Option<String>,
    /// Merchant category code (4 digits), printed in the QR code.
    pub mcc: Option<u16>,
    /// 도로명주소.
    pub road_address: Option<String>,
    /// Degrees (WGS84); both or neither. Without them the shop is found by name only.
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// e.g. `월-금 09:00-18:00, 토 10:00-14:00`.
    pub hours: Option<String>,
    /// Comma-separated money sources it takes (default: all).
    pub accepts: Option<String>,
}

impl MerchantSignUp {
    /// The registry record the application makes, checked before anything is written.
    fn listing(&self) -> Result<Listing, ApiError> {
        let bad =
            |code: &str, e: &dyn std::fmt::Display| ApiError::bad_request(code, e.to_string());
        let brn = directory::Brn::parse(&self.brn).map_err(|e| bad(e.code(), &e))?;
        let mut p = directory::MerchantProfile::named(self.name.trim());
        p.name_en = self.name_en.clone().filter(|n| !n.trim().is_empty());
        p.mcc = self
            .mcc
            .map(directory::Mcc::new)
            .transpose()
            .map_err(|e| bad(e.code(), &e))?;
        p.category = Some(self.category);
        p.revenue = Some(directory::Revenue::AnnualWon(Won::new(self.annual_revenue)));
        if let Some(a) = self
            .road_address
            .as_deref()
            .filter(|a| !a.trim().is_empty())
        {
            let (sido, sigungu) = directory::sync::region_from_address(a);
            p.road_address = Some(a.trim().to_owned());
            p.sido = sido;
            p.sigungu = sigungu;
        }
        p.location = match (self.lat, self.lon) {
            (Some(lat), Some(lon)) => {
                Some(directory::GeoPoint::from_degrees(lat, lon).map_err(|e| bad(e.code(), &e))?)
            }
            (None, None) => None,
            _ => {
                return Err(ApiError::bad_request(
                    "point_incomplete",
                    "give lat and lon",
                ));
            }
        };
        if let Some(h) = self.hours.as_deref().filter(|h| !h.trim().is_empty()) {
            p.hours = Some(directory::OpeningHours::parse(h).map_err(|e| bad(e.code(), &e))?);
        }
        if let Some(a) = self.accepts.as_deref().filter(|a| !a.trim().is_empty()) {
            p.accepts = directory::SourceMask::parse(a).map_err(|e| bad(e.code(), &e))?;
        }
        p.validate().map_err(|e| bad(e.code(), &e))?;
        Ok(Listing { brn, profile: p })
    }
}

/// A merchant applies: its account is opened, and it can receive payments once an
/// operator approves it.
#[utoipa::path(post, path = "/api/v1/merchants", request_body = MerchantSignUp, responses(
    (status = 201, body = SignedUp),
    (status = 400, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")
))]
async fn sign_up_merchant(
    State(state): State<Arc<AppState>>,
    from: ClientAddress,
    JsonBody(req): JsonBody<MerchantSignUp>,
) -> Result<(StatusCode, Json<SignedUp>), ApiError> {
    admit_address(&state, from)?;
    state.currency(&req.currency)?;
    if req.annual_revenue < 0 {
        return Err(ApiError::bad_request(
            "revenue_invalid",
            "revenue is not negative",
        ));
    }
    let listing = req.listing()?;
    if let Some(existing) = state
        .currency(&req.currency)?
        .merchants
        .read(|r| r.get_by_brn(listing.brn).map(|m| m.id.0))
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "brn_taken",
            "이미 등록된 사업자등록번호입니다. 가맹점 관리 화면에서 로그인해 주세요.",
            "This business registration number is already registered. Please sign in instead.",
        )
        .detail(format!("merchant {existing}")));
    }
    let setup = SignUpSetup::Merchant {
        category: req.category,
        annual_revenue: req.annual_revenue,
        listing: Some(Box::new(listing)),
    };
    let user_id = state
        .auth
        .create(NewUser {
            login: req.login,
            password: req.password,
            pin: None,
            role: Role::Merchant,
            currency: req.currency.clone(),
            currencies: Vec::new(),
            setup: Some(setup.to_json()?),
        })
        .await?;
    let account = finish_sign_up(&state, &req.currency, user_id, setup, true).await?;
    Ok((
        StatusCode::CREATED,
        Json(SignedUp {
            user_id,
            account: account.0,
            status: "awaiting_approval".into(),
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub login: String,
    #[schema(value_type = String)]
    pub password: Secret<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Session {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Unix seconds.
    pub expires_at: u64,
    pub role: Role,
}

#[utoipa::path(post, path = "/api/v1/sessions", request_body = SignIn, responses(
    (status = 200, body = Session),
    (status = 401, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json")
))]
async fn sign_in(
    State(state): State<Arc<AppState>>,
    from: ClientAddress,
    JsonBody(req): JsonBody<SignIn>,
) -> Result<Json<Session>, ApiError> {
    admit_address(&state, from)?;
    let (token, expires_at, role) = state
        .auth
        .sign_in(&req.login, req.password.expose(), from.0)
        .await?;
    // A sign-up cut off before the ledger answered is finished now.
    if let Some(caller) = state.auth.caller(&token)
        && let Some(setup) = state.auth.pending_setup(caller.user_id)
        && let Ok(setup) = serde_json::from_str::<SignUpSetup>(&setup)
    {
        finish_sign_up(&state, &caller.currency, caller.user_id, setup, false).await?;
    }
    Ok(Json(Session {
        token,
        expires_at,
        role,
    }))
}

/// Signs out: the session's token stops working at once.
#[utoipa::path(delete, path = "/api/v1/sessions/current", security(("bearer" = [])), responses(
    (status = 204), (status = 401, body = Problem, content_type = "application/problem+json")
))]
async fn sign_out(
    State(state): State<Arc<AppState>>,
    _caller: SignedIn,
    headers: HeaderMap,
) -> StatusCode {
    if let Some(t) = bearer_token(&headers) {
        state.auth.sign_out(t);
    }
    StatusCode::NO_CONTENT
}

// ----- citizens -----------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Lot {
    /// purchased, allowance, cashback, gift, correction
    pub source: String,
    pub amount: i64,
    /// Unix microseconds: spendable until just before this instant.
    pub expires_at: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Wallet {
    pub account: u64,
    pub balance: i64,
    /// What can be spent now (balance less what is held for pending payments).
    pub available: i64,
    /// Value on its way in (a charge waiting for the bank).
    pub incoming: i64,
    /// Citizens: the balance by source of money and validity.
    pub lots: Vec<Lot>,
    /// Merchants: what is on its way to the bank (redemptions the bank is paying).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_redemption: Option<i64>,
    /// Merchants: paid out to the bank, over the settlements the service keeps (see
    /// `/me/settlements`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_out: Option<i64>,
    /// Merchants: the last payout to the bank, Unix microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_paid_out_at: Option<u64>,
}

/// The caller's balance: a citizen's wallet by source of money; a merchant's balance,
/// what is on its way to its bank and what was paid out.
#[utoipa::path(get, path = "/api/v1/me/wallet", security(("bearer" = [])), responses(
    (status = 200, body = Wallet), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")
))]
async fn wallet(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
) -> Result<Json<Wallet>, ApiError> {
    if !matches!(caller.role, Role::Citizen | Role::Merchant) {
        return Err(ApiError::forbidden());
    }
    let account = caller.account.ok_or_else(ApiError::forbidden)?;
    let currency = state.currency(&caller.currency)?;
    let merchant = caller.role == Role::Merchant;
    let mut w = currency
        .engine
        .read(|l| {
            l.account(AccountId(account)).map(|a| Wallet {
                account,
                balance: a.balance().map_or(0, |b| b.get()),
                available: a.available().map_or(0, |b| b.get()),
                incoming: a.credits_pending.get(),
                lots: a
                    .lots
                    .iter()
                    .map(|lot| Lot {
                        source: lot.source.as_str().to_owned(),
                        amount: lot.amount.get(),
                        expires_at: lot.expires_at.as_micros(),
                    })
                    .collect(),
                pending_redemption: merchant.then(|| a.debits_pending.get()),
                paid_out: None,
                last_paid_out_at: None,
            })
        })
        .ok_or_else(|| ApiError::not_found("wallet"))?;
    if merchant {
        let settlements =
            currency
                .history
                .settlements(account, None, crate::history::SETTLEMENTS_PER_MERCHANT);
        let paid = settlements.iter().filter(|s| s.status == "paid");
        w.paid_out = Some(paid.clone().map(|s| s.amount).sum());
        w.last_paid_out_at = paid.filter_map(|s| s.ended_at).max();
    }
    Ok(Json(w))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChargeRequest {
    /// Face value to buy (what the wallet receives).
    pub face: i64,
    /// The purchase channel (bank transfer 0 in the demo schemes).
    #[serde(default)]
    pub channel: u16,
    /// Buy at full price if the discount budget is spent.
    #[serde(default)]
    pub full_price_ok: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChargeAnswer {
    /// `charged`, `refused` (by the bank) or `in_progress` (the bank's answer is not in
    /// yet; the value arrives when it is).
    pub status: String,
    pub purchase: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// Buys vouchers, paid from the linked bank account.
#[utoipa::path(post, path = "/api/v1/me/charges", request_body = ChargeRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "the same key repeats the first answer")),
    responses(
        (status = 200, body = ChargeAnswer), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")
))]
async fn charge(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    JsonBody(req): JsonBody<ChargeRequest>,
) -> Result<Answer<Json<ChargeAnswer>>, ApiError> {
    let account = require(&caller, Role::Citizen)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("charge", &(req.face, req.channel, req.full_price_ok)),
    )?;
    let currency = state.currency(&caller.currency)?;
    let replayed = key.is_repeat() && remembered(currency, &key).is_some();
    let r = currency
        .treasury
        .charge(
            key.client,
            key.key,
            WalletId(AccountId(account)),
            won(req.face)?,
            req.channel,
            req.full_price_ok,
        )
        .await
        .map_err(|e| ApiError::treasury(e, Some(AccountId(account))))?;
    let value = Json(match r {
        treasury::ChargeResult::Charged {
            purchase,
            paid,
            discount,
            ..
        } => ChargeAnswer {
            status: "charged".into(),
            purchase: purchase.0,
            paid: Some(paid.get()),
            discount: Some(discount.get()),
            code: None,
        },
        treasury::ChargeResult::Refused { purchase, code, .. } => ChargeAnswer {
            status: "refused".into(),
            purchase: purchase.0,
            paid: None,
            discount: None,
            code: Some(code.as_str().into()),
        },
        treasury::ChargeResult::InDoubt { purchase } => ChargeAnswer {
            status: "in_progress".into(),
            purchase: purchase.0,
            paid: None,
            discount: None,
            code: None,
        },
    });
    Ok(Answer { value, replayed })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// The merchant's account id; or give `code`.
    pub merchant: Option<u64>,
    /// The merchant's QR code as scanned (a maeul sticker, a kiosk's one-sale code, or
    /// a previous operator's sticker imported as an alias); or give `merchant`.
    pub code: Option<String>,
    /// Won; may be left out when a kiosk's code carries it.
    pub amount: Option<i64>,
    #[schema(value_type = String)]
    pub pin: Secret<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentAnswer {
    pub payment: u64,
    pub amount: i64,
    pub cashback: i64,
    /// Why cash-back was less than the rate alone gives, if it was:
    /// `no_rate_for_merchant`, `monthly_spend_cap_reached`,
    /// `monthly_cashback_cap_reached` or `budget_exhausted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cashback_note: Option<String>,
}

/// Pays a merchant under the scheme's rules (cash-back as the scheme says).
#[utoipa::path(post, path = "/api/v1/me/payments", request_body = PaymentRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "the same key repeats the first answer")),
    responses(
        (status = 200, body = PaymentAnswer), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json")
))]
async fn pay(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    JsonBody(req): JsonBody<PaymentRequest>,
) -> Result<Answer<Json<PaymentAnswer>>, ApiError> {
    let account = require(&caller, Role::Citizen)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("pay", &(req.merchant, req.code.as_deref(), req.amount)),
    )?;
    let currency = state.currency(&caller.currency)?;
    // The same payment by code again gets its first answer, whatever the code says
    // now (the shop may since be suspended, the kiosk's code gone).
    if key.is_repeat()
        && req.code.is_some()
        && let Some(first) = remembered(currency, &key)
    {
        let applied = first.map_err(|r| ApiError::refused(&r, Some(AccountId(account))))?;
        return Ok(Answer {
            value: paid_answer(scheme_answer(applied)?)?,
            replayed: true,
        });
    }
    let (merchant, amount) = match (req.merchant, req.code.as_deref()) {
        (Some(m), None) => (
            m,
            won(req
                .amount
                .ok_or_else(|| ApiError::bad_request("amount_required", "give the amount"))?)?,
        ),
        (None, Some(code)) => crate::merchant_api::payment_target(currency, code, req.amount)?,
        _ => {
            return Err(ApiError::bad_request(
                "merchant_or_code",
                "give either `merchant` or `code`",
            ));
        }
    };
    // A retry of a payment already made gets its answer even if the PIN has since
    // been locked: the money moved, and the citizen must be told so.
    if remembered(currency, &key).is_none_or(|r| r.is_err()) {
        state
            .auth
            .check_pin(caller.user_id, req.pin.expose())
            .await?;
    }
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::Pay {
            payer: WalletId(AccountId(account)),
            merchant: MerchantId(AccountId(merchant)),
            amount,
        },
        Some(account),
    )
    .await?;
    Ok(Answer {
        value: paid_answer(a.value)?,
        replayed: a.replayed,
    })
}

/// The answer of a payment.
pub(crate) fn paid_answer(applied: SchemeApplied) -> Result<Json<PaymentAnswer>, ApiError> {
    match applied {
        SchemeApplied::Paid {
            payment,
            amount,
            cashback,
            cashback_note,
            ..
        } => Ok(Json(PaymentAnswer {
            payment: payment.0,
            amount: amount.get(),
            cashback: cashback.get(),
            cashback_note: cashback_note.map(|n| cashback_note_code(n).to_owned()),
        })),
        // Only an earlier, different command under the same key answers otherwise.
        _ => Err(ApiError(crate::idempotency::key_reused())),
    }
}

/// The stable code of why cash-back was less than the rate alone gives.
fn cashback_note_code(n: ledger::scheme::CashbackNote) -> &'static str {
    use ledger::scheme::CashbackNote as N;
    match n {
        N::NoRateForMerchant => "no_rate_for_merchant",
        N::MonthlySpendCapReached => "monthly_spend_cap_reached",
        N::MonthlyCashbackCapReached => "monthly_cashback_cap_reached",
        N::BudgetExhausted => "budget_exhausted",
    }
}

// ----- operators ----------------------------------------------------------------------

pub(crate) fn operator_of<'a>(
    state: &'a AppState,
    caller: &Caller,
    code: &str,
) -> Result<&'a Currency, ApiError> {
    Ok(state.service.operator_of(caller, code)?)
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
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("approve_merchant", &(&code, merchant)),
    )?;
    // A merchant in the registry moves there, and the ledger follows.
    if currency.merchants.get(merchant).is_some() {
        let reason = format!("approved by operator {}", caller.user_id);
        return Ok(crate::idempotency::once(&state, &key, async {
            service::mirror::move_merchant(currency, merchant, directory::Status::Approved, &reason)
                .await
                .map(IntoResponse::into_response)
        })
        .await);
    }
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::ReinstateMerchant {
            merchant: MerchantId(AccountId(merchant)),
        },
        None,
    )
    .await?;
    Ok(crate::idempotency::mark_replayed(
        StatusCode::NO_CONTENT.into_response(),
        a.replayed,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Suspension {
    pub reason: String,
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
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("suspend_merchant", &(&code, merchant, &req.reason)),
    )?;
    if currency.merchants.get(merchant).is_some() {
        return Ok(crate::idempotency::once(&state, &key, async {
            service::mirror::move_merchant(
                currency,
                merchant,
                directory::Status::Suspended,
                &req.reason,
            )
            .await
            .map(IntoResponse::into_response)
        })
        .await);
    }
    let reason = Text::new(req.reason)
        .map_err(|e| ApiError::bad_request("reason_invalid", e.to_string()))?;
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::SuspendMerchant {
            merchant: MerchantId(AccountId(merchant)),
            reason,
        },
        None,
    )
    .await?;
    Ok(crate::idempotency::mark_replayed(
        StatusCode::NO_CONTENT.into_response(),
        a.replayed,
    ))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReportAnswer {
    pub currency: String,
    /// The report as text (Korean and English headings), months and totals.
    pub text: String,
    pub issuance: i64,
    pub sales: i64,
    pub subsidy_spent: i64,
    pub payments: i64,
    pub redemptions: i64,
    pub cash_refunds: i64,
    pub expiries: i64,
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
    let currency = operator_of(&state, &caller, &code)?.clone();
    let turn = whole_journal_turn(&state)?;
    let r = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        treasury::OperatorReport::build(currency.storage.as_ref(), &currency.engine)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let t = &r.total;
    Ok(Json(ReportAnswer {
        currency: code,
        text: r.to_string(),
        issuance: t.issuance(),
        sales: t.sales.won,
        subsidy_spent: t.subsidy_spent(),
        payments: t.payments.won,
        redemptions: t.redemptions.won,
        cash_refunds: t.cash_refunds.won,
        expiries: t.expiries.won,
    }))
}

// ----- auditors -----------------------------------------------------------------------

/// The one turn at whole-journal work, held until the work ends (even if the caller
/// goes away); 503 with Retry-After while another runs.
fn whole_journal_turn(state: &AppState) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
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

// ----- more citizen and merchant operations -------------------------------------------

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    /// A cursor from an earlier page: entries older than it.
    pub before: Option<u64>,
    /// At most 200 (default 50).
    pub limit: Option<usize>,
}

/// The caller's history (citizen or merchant), newest first, paged.
#[utoipa::path(get, path = "/api/v1/me/history", security(("bearer" = [])), params(Paging),
    responses((status = 200, body = Vec<crate::history::Entry>), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn history(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    QueryParams(paging): QueryParams<Paging>,
) -> Result<Json<Vec<crate::history::Entry>>, ApiError> {
    if !matches!(caller.role, Role::Citizen | Role::Merchant) {
        return Err(ApiError::forbidden());
    }
    let account = caller.account.ok_or_else(ApiError::forbidden)?;
    let currency = state.currency(&caller.currency)?;
    let limit = paging.limit.unwrap_or(50).clamp(1, 200);
    Ok(Json(currency.history.page(account, paging.before, limit)))
}

/// A merchant's settlement history: each redemption to its bank (asked for, or made by
/// the daily settlement) and where it stands, newest first, paged by `before` (a
/// transfer id from an earlier page).
#[utoipa::path(get, path = "/api/v1/me/settlements", security(("bearer" = [])), params(Paging),
    responses((status = 200, body = Vec<crate::history::Settlement>), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn settlements(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    QueryParams(paging): QueryParams<Paging>,
) -> Result<Json<Vec<crate::history::Settlement>>, ApiError> {
    let account = require(&caller, Role::Merchant)?;
    let currency = state.currency(&caller.currency)?;
    let limit = paging.limit.unwrap_or(50).clamp(1, 200);
    Ok(Json(currency.history.settlements(
        account,
        paging.before,
        limit,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GiftRequest {
    /// The recipient's wallet account id.
    pub recipient: u64,
    pub amount: i64,
    #[schema(value_type = String)]
    pub pin: Secret<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GiftAnswer {
    pub gift: u64,
    pub amount: i64,
}

/// Gives value to another citizen, within the scheme's gift rules.
#[utoipa::path(post, path = "/api/v1/me/gifts", request_body = GiftRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)),
    responses((status = 200, body = GiftAnswer), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")))]
async fn gift(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    JsonBody(req): JsonBody<GiftRequest>,
) -> Result<Answer<Json<GiftAnswer>>, ApiError> {
    let account = require(&caller, Role::Citizen)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("gift", &(req.recipient, req.amount)),
    )?;
    let amount = won(req.amount)?;
    let currency = state.currency(&caller.currency)?;
    if remembered(currency, &key).is_none_or(|r| r.is_err()) {
        state
            .auth
            .check_pin(caller.user_id, req.pin.expose())
            .await?;
    }
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::Gift {
            sender: WalletId(AccountId(account)),
            recipient: WalletId(AccountId(req.recipient)),
            amount,
        },
        Some(account),
    )
    .await?;
    match a.value {
        SchemeApplied::Gifted { gift, amount } => Ok(Answer {
            value: Json(GiftAnswer {
                gift: gift.0,
                amount: amount.get(),
            }),
            replayed: a.replayed,
        }),
        _ => Err(ApiError(crate::idempotency::key_reused())),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PayoutAnswer {
    /// `paid`, `refused` (by the bank: the money is owed, an operator follows up) or
    /// `in_progress`; `none` when there was nothing to pay out.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<u64>,
    pub amount: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

fn payout_answer(p: Option<treasury::PayoutResult>) -> PayoutAnswer {
    match p {
        None => PayoutAnswer {
            status: "none".into(),
            transfer: None,
            amount: 0,
            code: None,
        },
        Some(treasury::PayoutResult::Paid { transfer, amount }) => PayoutAnswer {
            status: "paid".into(),
            transfer: Some(transfer.0),
            amount: amount.get(),
            code: None,
        },
        Some(treasury::PayoutResult::Refused {
            transfer,
            amount,
            code,
            ..
        }) => PayoutAnswer {
            status: "refused".into(),
            transfer: Some(transfer.0),
            amount: amount.get(),
            code: Some(code.as_str().into()),
        },
        Some(treasury::PayoutResult::InDoubt { transfer, amount }) => PayoutAnswer {
            status: "in_progress".into(),
            transfer: Some(transfer.0),
            amount: amount.get(),
            code: None,
        },
    }
}

/// Refunds the remaining bought value to the linked bank account, once the scheme's
/// used share is reached (the subsidy share goes back to its budget).
#[utoipa::path(post, path = "/api/v1/me/refund", security(("bearer" = [])), params(("Idempotency-Key" = String, Header)),
    responses((status = 200, body = PayoutAnswer), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")))]
async fn refund_balance(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
) -> Result<Answer<Json<PayoutAnswer>>, ApiError> {
    let account = require(&caller, Role::Citizen)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("refund_balance", &()),
    )?;
    let currency = state.currency(&caller.currency)?;
    let replayed = key.is_repeat() && remembered(currency, &key).is_some();
    let r = currency
        .treasury
        .refund_balance(key.client, key.key, WalletId(AccountId(account)))
        .await
        .map_err(|e| ApiError::treasury(e, Some(AccountId(account))))?;
    Ok(Answer {
        value: Json(payout_answer(r)),
        replayed,
    })
}

/// Cancels an unused purchase within its window: what was paid goes back to the bank.
#[utoipa::path(post, path = "/api/v1/me/purchases/{purchase}/cancel", security(("bearer" = [])),
    params(("purchase" = u64, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, body = PayoutAnswer), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")))]
async fn cancel_purchase(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(purchase): PathParams<u64>,
) -> Result<Answer<Json<PayoutAnswer>>, ApiError> {
    let account = require(&caller, Role::Citizen)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("cancel_purchase", &purchase),
    )?;
    let currency = state.currency(&caller.currency)?;
    let replayed = key.is_repeat() && remembered(currency, &key).is_some();
    let owner = currency
        .engine
        .read(|l| l.purchase(ledger::TransferId(purchase)).map(|p| p.wallet.0));
    if owner != Some(account) {
        return Err(ApiError::not_found("purchase"));
    }
    let r = currency
        .treasury
        .cancel_purchase(key.client, key.key, ledger::TransferId(purchase))
        .await
        .map_err(|e| ApiError::treasury(e, Some(AccountId(account))))?;
    Ok(Answer {
        value: Json(payout_answer(r)),
        replayed,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoCharge {
    /// Day of the month (1-28) for the monthly charge.
    pub day: u8,
    /// Face value charged each month (0: top-up only).
    pub monthly_face: i64,
    #[serde(default)]
    pub channel: u16,
    /// Buy the shortfall when a payment finds the wallet short.
    pub topup: bool,
}

/// Sets (or, with `null`, removes) the caller's auto-charge.
#[utoipa::path(put, path = "/api/v1/me/auto-charge", request_body = Option<AutoCharge>, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn set_auto_charge(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    JsonBody(req): JsonBody<Option<AutoCharge>>,
) -> Result<Response, ApiError> {
    let account = require(&caller, Role::Citizen)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of(
            "set_auto_charge",
            &req.as_ref()
                .map(|a| (a.day, a.monthly_face, a.channel, a.topup)),
        ),
    )?;
    let setting = match req {
        None => None,
        Some(a) => {
            if a.monthly_face < 0 || a.monthly_face > Won::TRANSFER_MAX.get() {
                return Err(ApiError::bad_request("amount_invalid", "monthly_face"));
            }
            Some(ledger::scheme::AutoChargeSetting {
                day: a.day,
                monthly_face: Won::new(a.monthly_face),
                channel: a.channel,
                topup: a.topup,
            })
        }
    };
    let currency = state.currency(&caller.currency)?;
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::SetAutoCharge {
            wallet: WalletId(AccountId(account)),
            setting,
        },
        Some(account),
    )
    .await?;
    Ok(crate::idempotency::mark_replayed(
        StatusCode::NO_CONTENT.into_response(),
        a.replayed,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    pub amount: i64,
}

/// A merchant cancels or refunds (part of) a payment it received; the cash-back the
/// payment earned goes back with it.
#[utoipa::path(post, path = "/api/v1/me/payments/{payment}/refund", request_body = RefundRequest, security(("bearer" = [])),
    params(("payment" = u64, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, body = PaymentAnswer), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn refund_payment(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(payment): PathParams<u64>,
    JsonBody(req): JsonBody<RefundRequest>,
) -> Result<Answer<Json<PaymentAnswer>>, ApiError> {
    let account = require(&caller, Role::Merchant)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("refund_payment", &(payment, req.amount)),
    )?;
    let amount = won(req.amount)?;
    let currency = state.currency(&caller.currency)?;
    let merchant = currency
        .engine
        .read(|l| l.payment(ledger::TransferId(payment)).map(|p| p.merchant.0));
    if merchant != Some(account) {
        return Err(ApiError::not_found("payment"));
    }
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::RefundPayment {
            payment: ledger::TransferId(payment),
            amount,
        },
        Some(account),
    )
    .await?;
    match a.value {
        SchemeApplied::PaymentRefunded {
            refund,
            amount,
            cashback_returned,
            ..
        } => Ok(Answer {
            value: Json(PaymentAnswer {
                payment: refund.0,
                amount: amount.get(),
                cashback: -cashback_returned.get(),
                cashback_note: None,
            }),
            replayed: a.replayed,
        }),
        _ => Err(ApiError(crate::idempotency::key_reused())),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedemptionRequest {
    pub amount: i64,
}

/// A merchant redeems part of its balance to its linked bank account.
#[utoipa::path(post, path = "/api/v1/me/redemptions", request_body = RedemptionRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)),
    responses((status = 200, body = PayoutAnswer), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")))]
async fn redeem(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    JsonBody(req): JsonBody<RedemptionRequest>,
) -> Result<Answer<Json<PayoutAnswer>>, ApiError> {
    let account = require(&caller, Role::Merchant)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("redeem", &req.amount),
    )?;
    let amount = won(req.amount)?;
    let currency = state.currency(&caller.currency)?;
    let replayed = key.is_repeat() && remembered(currency, &key).is_some();
    let r = currency
        .treasury
        .redeem(key.client, key.key, MerchantId(AccountId(account)), amount)
        .await
        .map_err(|e| ApiError::treasury(e, Some(AccountId(account))))?;
    Ok(Answer {
        value: Json(payout_answer(Some(r))),
        replayed,
    })
}

/// How often a live stream checks that its session is still signed in.
const SESSION_CHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// Seconds a client is told to wait when every live-stream place is taken.
const STREAMS_FULL_RETRY_S: u64 = 30;

/// Payments as they happen (server-sent events, one `payment` event each, JSON data as
/// in the history): a merchant's incoming ones, a citizen's outgoing ones. A user holds
/// at most a few streams at once (429 `too_many_streams` beyond), and the service a
/// bounded number (503 `streams_full` with `Retry-After` beyond); a place comes back
/// when its client goes away.
#[utoipa::path(get, path = "/api/v1/me/payments/live", security(("bearer" = [])),
    responses((status = 200, description = "text/event-stream"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "This user holds as many live streams as one may (`too_many_streams`): close one first.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The service holds as many live streams as it takes (`streams_full`): try again after `Retry-After` seconds.", body = Problem, content_type = "application/problem+json")))]
async fn live_payments(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
) -> Result<
    axum::response::sse::Sse<
        impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
    >,
    ApiError,
> {
    // A merchant hears what it receives; a citizen what it pays (a till that scanned
    // the citizen's code charges the wallet, and the app shows it at once).
    let wanted = match caller.role {
        Role::Merchant => "payment_received",
        Role::Citizen => "payment",
        _ => return Err(ApiError::forbidden()),
    };
    let account = caller.account.ok_or_else(ApiError::forbidden)?;
    let currency = state.currency(&caller.currency)?;
    // The place travels with the stream and is given back when it is dropped: when
    // the client goes away, or the session ends.
    let slot = state
        .streams
        .admit(caller.user_id)
        .map_err(|refused| match refused {
            crate::limits::StreamRefused::PerUser { limit } => ApiError::too_many_streams(limit),
            crate::limits::StreamRefused::Total => ApiError::streams_full(STREAMS_FULL_RETRY_S),
        })?;
    // Only this account's entries: other accounts' payments wake nothing here.
    let rx = currency.history.live(account);
    // The stream ends when its session does (sign-out or expiry): checked at every
    // event and at least every few seconds.
    let live = (Arc::clone(&state), caller, slot);
    let stream = futures_util::stream::unfold((rx, live), move |(mut rx, live)| async move {
        let mut check = tokio::time::interval(SESSION_CHECK);
        loop {
            let received = tokio::select! {
                r = rx.recv() => r,
                _ = check.tick() => {
                    if !live.0.auth.session_live(&live.1) {
                        return None;
                    }
                    continue;
                }
            };
            if !live.0.auth.session_live(&live.1) {
                return None;
            }
            match received {
                Ok(entry) if entry.kind == wanted => {
                    let data = serde_json::to_string(&entry).unwrap_or_default();
                    let event = axum::response::sse::Event::default()
                        .event("payment")
                        .data(data);
                    return Some((Ok(event), (rx, live)));
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(axum::response::sse::Sse::new(stream).keep_alive(axum::response::sse::KeepAlive::default()))
}

// ----- more operator operations -------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    pub reason: String,
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
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("halt", &(&code, &req.reason)),
    )?;
    let text =
        |s: String| Text::new(s).map_err(|e| ApiError::bad_request("text_invalid", e.to_string()));
    let a = one(
        currency,
        &key,
        Command::Halt {
            operator: text(format!("user {}", caller.user_id))?,
            reason: text(req.reason)?,
        },
        None,
    )
    .await?;
    Ok(crate::idempotency::mark_replayed(
        StatusCode::NO_CONTENT.into_response(),
        a.replayed,
    ))
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
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(&state, &headers, &caller, Fingerprint::of("resume", &code))?;
    let a = one(
        currency,
        &key,
        Command::Resume {
            operator: Text::new(format!("user {}", caller.user_id))
                .map_err(|e| ApiError::internal(e.to_string()))?,
        },
        None,
    )
    .await?;
    Ok(crate::idempotency::mark_replayed(
        StatusCode::NO_CONTENT.into_response(),
        a.replayed,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemeUpdate {
    /// The scheme file (TOML), as in `schemes/`.
    pub toml: String,
    /// Unix microseconds from when it applies (absent or past: now).
    pub effective_at: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SchemeSetAnswer {
    pub version: u32,
    pub effective_at: u64,
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
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("set_scheme", &(&code, &req.toml, req.effective_at)),
    )?;
    let config = ledger::scheme::SchemeConfig::from_toml(&req.toml)
        .map_err(|e| ApiError::bad_request("scheme_invalid", e.to_string()))?;
    if let Some(at) = req.effective_at
        && let Err(problem) = ledger::scheme::check_effective_at(at, service::now_us())
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "scheme_effective_invalid",
            "적용 시각이 올바르지 않습니다. 마이크로초 단위의 유닉스 시각으로, 1년 이내로 정해 주세요.",
            "The effective time is not valid: give Unix microseconds, at most a year ahead.",
        )
        .detail(problem.to_string()));
    }
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::SetScheme {
            config: Box::new(config),
            effective_at: ledger::Timestamp::from_micros(req.effective_at.unwrap_or(0)),
            operator: Text::new(format!("user {}", caller.user_id))
                .map_err(|e| ApiError::internal(e.to_string()))?,
        },
        None,
    )
    .await?;
    match a.value {
        SchemeApplied::SchemeSet {
            version,
            effective_at,
        } => {
            // Merchants' revenue bands are judged against the scheme in force.
            let currency = currency.clone();
            tokio::spawn(async move {
                if let Err(e) = service::mirror::mirror_all(&currency).await {
                    tracing::warn!(code = e.code, "ledger does not yet follow the registry");
                }
            });
            Ok(Answer {
                value: Json(SchemeSetAnswer {
                    version,
                    effective_at: effective_at.as_micros(),
                }),
                replayed: a.replayed,
            })
        }
        _ => Err(ApiError(crate::idempotency::key_reused())),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SchemeVersionView {
    pub version: u32,
    pub name: String,
    /// Unix microseconds from when it applies.
    pub effective_at: u64,
    /// Unix microseconds it was set.
    pub set_at: u64,
    pub operator: String,
    /// `in_force`, `superseded` or `pending` (not yet in force: it can be withdrawn).
    pub state: String,
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
    let currency = operator_of(&state, &caller, &code)?;
    let now = ledger::Timestamp::from_micros(service::now_us());
    Ok(Json(currency.engine.read(|l| {
        let in_force = l.scheme_at(now.max(l.last_timestamp())).map(|v| v.number);
        l.scheme_versions()
            .map(|v| SchemeVersionView {
                version: v.number,
                name: v.config.name.clone(),
                effective_at: v.effective_at.as_micros(),
                set_at: v.set_at.as_micros(),
                operator: v.operator.as_str().to_owned(),
                state: match in_force {
                    Some(n) if n == v.number => "in_force",
                    Some(n) if n > v.number => "superseded",
                    _ => "pending",
                }
                .to_owned(),
            })
            .collect()
    })))
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
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("withdraw_scheme", &(&code, version)),
    )?;
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::WithdrawScheme {
            version,
            operator: Text::new(format!("user {}", caller.user_id))
                .map_err(|e| ApiError::internal(e.to_string()))?,
        },
        None,
    )
    .await?;
    Ok(crate::idempotency::mark_replayed(
        StatusCode::NO_CONTENT.into_response(),
        a.replayed,
    ))
}

// ----- profiles, budgets, totals -------------------------------------------------------

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AutoChargeState {
    pub day: u8,
    pub monthly_face: i64,
    pub topup: bool,
    /// charged, pending (the bank's answer is not in yet), failed, or none this month.
    pub this_month: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Unix microseconds of the next attempt after a failure, if there will be one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub user_id: i64,
    pub role: Role,
    pub currency: String,
    /// Where the service keeps it (the demo's citizens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<u64>,
    /// Citizens: bought this KST month (face value), gifts sent, cash-back earned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purchased_this_month: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gifts_sent_this_month: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cashback_this_month: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_charge: Option<AutoChargeState>,
}

/// Who the caller is, and for citizens this month's counters and the auto-charge's
/// state (a failed auto-charge is shown here with its next attempt).
#[utoipa::path(get, path = "/api/v1/me", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn me(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
) -> Result<Json<Me>, ApiError> {
    let person = state.auth.person(caller.user_id);
    let mut me = Me {
        user_id: caller.user_id,
        role: caller.role,
        currency: caller.currency.clone(),
        name: person.as_ref().map(|p| p.0.clone()),
        address: person.map(|p| p.1),
        account: caller.account,
        purchased_this_month: None,
        gifts_sent_this_month: None,
        cashback_this_month: None,
        auto_charge: None,
    };
    if let (Role::Citizen, Some(account), Ok(currency)) = (
        caller.role,
        caller.account,
        state.currency(&caller.currency),
    ) {
        currency.engine.read(|l| {
            let month = ledger::scheme::calendar::KstDate::of(l.last_timestamp()).month_index();
            if let Some(p) = l.citizen(AccountId(account)) {
                let this = |w: Won| if p.month == month { w.get() } else { 0 };
                me.purchased_this_month = Some(this(p.purchased_month));
                me.gifts_sent_this_month = Some(this(p.gift_sent_month));
                me.cashback_this_month = Some(this(p.cashback_month));
                me.auto_charge = p.auto_charge.as_ref().map(|s| {
                    let status = p.auto_charge_status.as_ref().filter(|st| st.month == month);
                    let (this_month, failure, next) = match status.map(|st| &st.result) {
                        None => ("none", None, None),
                        Some(ledger::scheme::AutoChargeResult::Charged { .. }) => {
                            ("charged", None, None)
                        }
                        Some(ledger::scheme::AutoChargeResult::Pending { .. }) => {
                            ("pending", None, None)
                        }
                        Some(ledger::scheme::AutoChargeResult::Failed {
                            code,
                            next_attempt_at,
                        }) => (
                            "failed",
                            Some(code.as_str().to_owned()),
                            next_attempt_at.map(|t| t.as_micros()),
                        ),
                    };
                    AutoChargeState {
                        day: s.day,
                        monthly_face: s.monthly_face.get(),
                        topup: s.topup,
                        this_month: this_month.into(),
                        failure,
                        next_attempt_at: next,
                    }
                });
            }
        });
    }
    Ok(Json(me))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Budget {
    pub account: u64,
    /// What the budget still holds.
    pub left: i64,
    pub spent_total: i64,
    pub spent_this_month: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling_total: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling_monthly: Option<i64>,
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
    let currency = operator_of(&state, &caller, &code)?;
    Ok(Json(currency.engine.read(|l| {
        let now = l.last_timestamp();
        let month = ledger::scheme::calendar::KstDate::of(now).month_index();
        let scheme = l.scheme_at(now).map(|v| v.config.clone());
        l.accounts()
            .iter()
            .filter(|a| a.kind == AccountKind::SubsidyBudget)
            .map(|a| {
                let usage = l.budget_usage(a.id).cloned().unwrap_or_default();
                let ceiling = scheme.as_ref().and_then(|s| s.ceiling(a.id).cloned());
                Budget {
                    account: a.id.0,
                    left: a.balance().map_or(0, |b| b.get()),
                    spent_total: usage.spent_total.get(),
                    spent_this_month: if usage.month == month {
                        usage.spent_month.get()
                    } else {
                        0
                    },
                    ceiling_total: ceiling.as_ref().and_then(|c| c.total.map(|w| w.get())),
                    ceiling_monthly: ceiling.as_ref().and_then(|c| c.monthly.map(|w| w.get())),
                }
            })
            .collect()
    })))
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Funding {
    /// Won the municipality deposits into the budget.
    pub amount: i64,
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
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("fund_budget", &(&code, budget, req.amount)),
    )?;
    let amount = won(req.amount)?;
    let reserve = currency
        .engine
        .read(|l| {
            l.scheme_at(l.last_timestamp())
                .map(|v| v.config.purchase.reserve)
        })
        .ok_or_else(|| ApiError::from(ledger::Rejection::SchemeNotConfigured))?;
    let a = one(
        currency,
        &key,
        Command::Transfer(ledger::Transfer::posted(
            ledger::TransferSpec::BudgetFunding {
                reserve: ledger::ReserveId(reserve),
                budget: ledger::BudgetId(AccountId(budget)),
                amount,
            },
        )),
        None,
    )
    .await?;
    Ok(crate::idempotency::mark_replayed(
        StatusCode::NO_CONTENT.into_response(),
        a.replayed,
    ))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNotice {
    pub title_ko: String,
    pub title_en: String,
    pub body_ko: String,
    pub body_en: String,
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
) -> Result<Response, ApiError> {
    operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("publish_notice", &(&code, &req)),
    )?;
    let fields = [&req.title_ko, &req.title_en, &req.body_ko, &req.body_en];
    if fields
        .iter()
        .any(|f| f.trim().is_empty() || f.len() > 4_096)
    {
        return Err(ApiError::bad_request(
            "notice_invalid",
            "titles and bodies are 1 to 4,096 bytes, in Korean and English",
        ));
    }
    let mut notice = crate::auth::Notice {
        id: 0,
        currency: code,
        title_ko: req.title_ko,
        title_en: req.title_en,
        body_ko: req.body_ko,
        body_en: req.body_en,
        at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    Ok(
        crate::idempotency::once::<_, ApiError>(&state, &key, async {
            notice.id = state.auth.publish_notice(&notice)?;
            Ok((StatusCode::CREATED, Json(notice)).into_response())
        })
        .await,
    )
}

/// The currency's notices, newest first (public).
#[utoipa::path(get, path = "/api/v1/notices/{currency}", params(("currency" = String, Path)),
    responses((status = 200, body = Vec<crate::auth::Notice>), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn notices(
    State(state): State<Arc<AppState>>,
    PathParams(code): PathParams<String>,
) -> Result<Json<Vec<crate::auth::Notice>>, ApiError> {
    state.currency(&code)?;
    Ok(Json(
        state.auth.notices(&code, crate::auth::NOTICES_PAGE_MAX),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a request's `Debug` (in a log line, a panic, a test failure) printed
    /// passwords and PINs.
    #[test]
    fn the_debug_of_requests_does_not_show_passwords_or_pins() {
        let sign_in: Result<SignIn, _> = serde_json::from_value(
            serde_json::json!({"login": "minji", "password": "hunter2-secret"}),
        );
        let shown = format!("{sign_in:?}");
        assert!(shown.contains("minji"), "{shown}");
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        let sign_up: Result<CitizenSignUp, _> = serde_json::from_value(serde_json::json!({
            "login": "minji", "password": "hunter2-secret", "pin": "987654",
            "birth_year": 1990, "currency": "busan"
        }));
        let shown = format!("{sign_up:?}");
        assert!(shown.contains("minji"), "{shown}");
        assert!(
            !shown.contains("hunter2-secret") && !shown.contains("987654"),
            "{shown}"
        );
        let pay: Result<PaymentRequest, _> = serde_json::from_value(
            serde_json::json!({"merchant": 7, "amount": 5000, "pin": "987654"}),
        );
        let shown = format!("{pay:?}");
        assert!(
            shown.contains("5000") && !shown.contains("987654"),
            "{shown}"
        );
    }
}
