//! # server — maeul's HTTP API
//!
//! JSON over HTTP under `/api/v1`, for citizens, merchants, operators and auditors;
//! errors are `application/problem+json` with a stable code and words in Korean and
//! English (`error.rs`); sign-in, sessions, roles and payment PINs are in `auth.rs`; the
//! routes and their OpenAPI description in `api.rs`. Money never moves here: handlers
//! turn requests into ledger commands (through the engine) and bank orders (through the
//! treasury), and answer what those answered.
//!
//! Overload is answered at once: a full sequencer queue is `503` with `Retry-After`,
//! never a wait that times out.

pub mod api;
pub mod auth;
pub mod bank_link;
pub mod error;
pub mod history;
pub mod idempotency;
pub mod limits;
pub mod merchant_api;
pub mod merchants;
mod metrics;
pub mod secret;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use bank::HttpBank;
use engine::{Engine, Storage};
use treasury::Treasury;

pub use auth::{Auth, Caller, NewUser, Role};
pub use error::{ApiError, Problem};
pub use secret::Secret;

/// One currency as the server sees it.
#[derive(Clone, Debug)]
pub struct Currency {
    pub engine: Arc<Engine>,
    pub storage: Arc<dyn Storage>,
    pub treasury: Arc<Treasury<HttpBank>>,
    pub history: Arc<history::History>,
    /// The merchant registry, QR aliases and consumer codes.
    pub merchants: Arc<merchants::Merchants>,
}

impl Currency {
    /// Joins a running engine, its journal and its treasury; starts following the
    /// journal for history (needs a tokio runtime).
    pub fn new(
        engine: Arc<Engine>,
        storage: Arc<dyn Storage>,
        treasury: Arc<Treasury<HttpBank>>,
        merchants: Arc<merchants::Merchants>,
    ) -> Currency {
        let history = history::History::follow(&engine, &storage);
        Currency {
            engine,
            storage,
            treasury,
            history,
            merchants,
        }
    }
}

#[derive(Debug)]
pub struct AppState {
    pub currencies: BTreeMap<String, Currency>,
    pub auth: Arc<Auth>,
    pub metrics: metrics::Metrics,
    pub writes: limits::Limiter,
    /// Which request each idempotency key was used for.
    pub requests: idempotency::Requests,
    /// Sign-ups and sign-ins per client address.
    pub by_address: limits::Limiter<u128>,
    /// Whole-journal work (reports, verification) runs one at a time: each reads the
    /// journal from genesis and would otherwise take the cores payments need.
    pub whole_journal: Arc<tokio::sync::Semaphore>,
    /// Bounds of bank-account verification (code lifetime, tries, starts a day).
    pub bank_link: bank_link::Settings,
    /// Requests being handled now, and the most admitted at once (load shedding).
    in_flight: std::sync::atomic::AtomicUsize,
    in_flight_max: usize,
}

/// Requests handled at once by default; more are answered 503 with Retry-After at once.
/// Two cores finish about 20,000 payments a second, so 256 in flight is about 13 ms of
/// work: a deeper queue would only make every answer later.
pub const IN_FLIGHT_MAX: usize = 256;

/// A request's place among those in flight; given back when dropped.
#[derive(Debug)]
pub struct InFlight<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl AppState {
    pub fn new(
        currencies: BTreeMap<String, Currency>,
        auth: Arc<Auth>,
    ) -> anyhow::Result<AppState> {
        Ok(AppState {
            currencies,
            auth,
            metrics: metrics::Metrics::new()?,
            writes: limits::Limiter::new(limits::WriteLimit::default()),
            requests: idempotency::Requests::default(),
            by_address: limits::Limiter::new(limits::WriteLimit::PER_ADDRESS),
            whole_journal: Arc::new(tokio::sync::Semaphore::new(1)),
            bank_link: bank_link::Settings::default(),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            in_flight_max: IN_FLIGHT_MAX,
        })
    }

    /// The same with another in-flight limit.
    pub fn with_in_flight_limit(mut self, max: usize) -> AppState {
        self.in_flight_max = max.max(1);
        self
    }

    /// Requests in flight now, and the most admitted at once.
    pub fn load(&self) -> (usize, usize) {
        let now = self.in_flight.load(std::sync::atomic::Ordering::Acquire);
        (now.min(self.in_flight_max), self.in_flight_max)
    }

    /// A place for one more request, or `None` when the limit is reached.
    pub fn admit_request(&self) -> Option<InFlight<'_>> {
        use std::sync::atomic::Ordering;
        let place = InFlight(&self.in_flight);
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.in_flight_max {
            return None;
        }
        Some(place)
    }

    /// The same with a given limit on sign-ups and sign-ins per client address.
    pub fn with_address_limit(mut self, limit: limits::WriteLimit) -> AppState {
        self.by_address = limits::Limiter::new(limit);
        self
    }

    /// The same with other bounds on bank-account verification.
    pub fn with_bank_link(mut self, settings: bank_link::Settings) -> AppState {
        self.bank_link = settings;
        self
    }

    /// The same with a given per-user write limit.
    pub fn with_write_limit(mut self, limit: limits::WriteLimit) -> AppState {
        self.writes = limits::Limiter::new(limit);
        self
    }

    pub fn currency(&self, code: &str) -> Result<&Currency, ApiError> {
        self.currencies
            .get(code)
            .ok_or_else(|| ApiError::not_found("currency"))
    }
}

/// Largest request body accepted (JSON of a scheme file is the largest legitimate one).
pub const BODY_BYTES_MAX: usize = 256 * 1024;
/// Every request has a deadline.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// The application: routes, body limit, deadline and metrics around them.
pub fn app(state: Arc<AppState>) -> Router {
    api::routes(Arc::clone(&state))
}

/// Serves `app` on `addr` until `shutdown` resolves; returns the bound address at once
/// through `bound`.
pub async fn serve(
    state: Arc<AppState>,
    addr: SocketAddr,
    bound: tokio::sync::oneshot::Sender<SocketAddr>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let _ = bound.send(listener.local_addr()?);
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_beyond_the_in_flight_limit_are_shed_and_places_come_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let auth = Arc::new(Auth::open(dir.path(), true).expect("auth"));
        let state = AppState::new(BTreeMap::new(), auth)
            .expect("state")
            .with_in_flight_limit(2);
        let a = state.admit_request();
        let b = state.admit_request();
        assert!(a.is_some() && b.is_some());
        assert!(state.admit_request().is_none(), "a third is shed");
        drop(a);
        assert!(state.admit_request().is_some(), "a place came back");
        drop(b);
        let all: Vec<_> = (0..2).map(|_| state.admit_request()).collect();
        assert!(
            all.iter().all(Option::is_some),
            "refusals gave their places back"
        );
    }
}
