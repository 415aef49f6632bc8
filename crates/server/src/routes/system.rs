//! Liveness, readiness (every currency's state and the node's load), metrics and the OpenAPI document.

use super::openapi_document;
use super::prelude::*;

#[derive(OpenApi)]
#[openapi(
    paths(health, ready, waiting_room),
    components(schemas(Readiness, CurrencyReadiness, WaitingRoom, ClassLine))
)]
#[derive(Debug)]
pub struct Doc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(health))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/v1/waiting-room", get(waiting_room))
        .route("/api/v1/openapi.json", get(openapi))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "alive")))]
async fn health() -> &'static str {
    "ok"
}

/// The gate and the waiting room now, class by class (most important first).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WaitingRoom {
    /// Requests in flight now, and the most at once.
    pub in_flight: usize,
    pub places: usize,
    pub classes: Vec<ClassLine>,
}

/// One class at the gate.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClassLine {
    /// `counter`, `operate`, `refund`, `charge`, `sign_in`, `sign_up` or `browse`.
    pub class: String,
    /// Whether those who cannot be let in get a ticket (otherwise: busy, retry in 1 s).
    pub waits_in_room: bool,
    /// Requests waiting at the gate for a place now.
    pub waiting_for_a_place: usize,
    /// Tickets waiting to be let in.
    pub tickets_waiting: usize,
    /// Requests of the class completed per second (measured, smoothed).
    pub served_per_s: f64,
    /// Tickets let in per second.
    pub let_in_per_s: f64,
    /// The wait a newcomer given a ticket now would be told, in seconds.
    pub estimated_wait_s: f64,
    /// The median relative error of the waits told to the latest tickets let in
    /// (|told − waited| / waited); absent until a ticket was let in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate_error_median: Option<f64>,
}

/// The waiting room: how long a newcomer would wait, class by class. Never held at the
/// gate: an app may ask before it sends a request.
#[utoipa::path(get, path = "/api/v1/waiting-room", responses(
    (status = 200, description = "the gate and the waiting room now", body = WaitingRoom)
))]
async fn waiting_room(State(state): State<Arc<AppState>>) -> Json<WaitingRoom> {
    let load = state.gate.places.load();
    let lines = state.gate.room.report();
    let round = |x: f64| (x * 10.0).round() / 10.0;
    let classes = crate::gate::Class::ALL
        .into_iter()
        .zip(lines)
        .map(|(class, line)| ClassLine {
            class: class.name().to_owned(),
            waits_in_room: class.waits_in_room(),
            waiting_for_a_place: load.waiting[class.index()],
            tickets_waiting: line.waiting,
            served_per_s: round(load.rate[class.index()]),
            let_in_per_s: round(line.rate),
            estimated_wait_s: round(line.estimate.as_secs_f64()),
            estimate_error_median: line.median_error.map(|e| (e * 1000.0).round() / 1000.0),
        })
        .collect();
    Json(WaitingRoom {
        in_flight: load.in_flight,
        places: load.places,
        classes,
    })
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

async fn openapi() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(openapi_document())
}
