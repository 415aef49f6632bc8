//! # server — maeul's HTTP API
//!
//! JSON over HTTP under `/api/v1`, for citizens, merchants, operators and auditors, as
//! a thin layer over the service (`service`): one route file per role (`routes/`)
//! reads the request, calls a use case and renders its answer; a `ServiceError` is
//! answered as `application/problem+json` (`problem.rs`) with its stable code and words
//! in Korean and English. Money never moves here, nor is any rule decided here.
//!
//! Overload is answered at once: a full sequencer queue is `503` with `Retry-After`,
//! never a wait that times out. In front of everything, the gate (`gate`) gives places
//! in flight by class: counter payments first; who cannot be let in soon is told busy
//! or handed a ticket for the waiting room.
//!
//! Slow clients cost a connection, never a place among the requests in flight: headers
//! must arrive within [`HEADER_TIMEOUT`], the body within [`BODY_TIMEOUT`] (buffered
//! before the request is admitted, see `admission::observe`), and connections are
//! counted per client address and in total (`connections.rs`), the excess closed at
//! once.

mod admission;
pub mod bank_link;
pub mod connections;
pub mod extract;
pub mod gate;
pub mod idempotency;
mod metrics;
pub mod moved;
pub mod problem;
pub mod routes;

// The service's modules, by the names the routes use.
use service::{auth, history, limits};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
pub use problem::ApiError;
pub use service::{Auth, Caller, Currency, NewUser, Problem, Role, Secret, Service};

/// The service and what HTTP adds to it: metrics, admission, connection caps, the bounds
/// on how long a client may take. Derefs to the [`Service`].
#[derive(Debug)]
pub struct AppState {
    pub service: Arc<Service>,
    pub metrics: metrics::Metrics,
    /// Live payment streams open, per user and in all.
    pub streams: Arc<limits::Streams>,
    /// The gate: places in flight by class, and the waiting room (`gate`).
    pub gate: gate::Gate,
    /// Open connections, per client address and in total.
    pub connections: Arc<connections::Connections>,
    /// Bounds on how long a client may take to send its request.
    pub timeouts: Timeouts,
    /// Bytes of request bodies being received before admission (see
    /// `admission::observe`): one permit a byte.
    pub pending_body_bytes: Arc<tokio::sync::Semaphore>,
    /// Camera-image decodes running at once (each may take up to
    /// `qr::DECODE_MEMORY_MAX_BYTES` of memory and seconds of a core); one permit each.
    /// More are answered 503 at once, never queued.
    pub image_decodes: Arc<tokio::sync::Semaphore>,
    /// The pages the gate answers browsers with, in the site's layout (given by whoever
    /// serves the pages; without them the gate's own plain page).
    pub gate_pages: Option<gate::GatePages>,
}

/// How long a client may take to send its request.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From the first read of a request (or of the next one on a kept-alive connection)
    /// until its headers are complete. Also how long an idle kept-alive connection is
    /// kept.
    pub header: Duration,
    /// The longest pause while a body arrives; the whole body must also arrive within
    /// this plus its length at [`BODY_BYTES_PER_S_MIN`].
    pub body: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: HEADER_TIMEOUT,
            body: BODY_TIMEOUT,
        }
    }
}

/// Headers arrive within this (a phone on a poor network sends a few hundred bytes in
/// well under a second).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// A request body pauses at most this long (see [`Timeouts::body`]).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(5);
/// The slowest body upload allowed on top of [`BODY_TIMEOUT`]: 64 KiB/s (about
/// 0.5 Mbit/s, a poor mobile uplink). A 256 KiB JSON body gets 4 s more, an 8 MiB
/// camera image two minutes more.
pub const BODY_BYTES_PER_S_MIN: u64 = 64 * 1024;
/// Bytes of request bodies held while they arrive, before their requests are admitted:
/// beyond this a request is answered 503 at once.
pub const PENDING_BODY_BYTES_MAX: usize = 256 * 1024 * 1024;
/// Camera-image decodes at once by default: two cores, each decode up to 64 MiB.
pub const IMAGE_DECODES_MAX: usize = service::IMAGE_DECODES_MAX;

/// Requests handled at once by default; more wait their turn by class at the gate, or
/// are told busy or handed a ticket (see `gate`). Two cores finish about 20,000
/// payments a second, so 256 in flight is about 13 ms of work.
pub const IN_FLIGHT_MAX: usize = 256;

impl std::ops::Deref for AppState {
    type Target = Service;

    fn deref(&self) -> &Service {
        &self.service
    }
}

impl AppState {
    pub fn new(service: Arc<Service>) -> anyhow::Result<AppState> {
        // One set of places for the API's and the pages' live streams.
        let streams = Arc::clone(&service.streams);
        Ok(AppState {
            metrics: metrics::Metrics::new()?,
            streams,
            // A key of this process's own until the node gives the deployment's (see
            // `with_waiting_room_key`): tickets then do not outlive a restart.
            gate: gate::Gate::new(gate::Policy::default(), rand::random()),
            connections: Arc::new(connections::Connections::new(
                connections::CONNECTIONS_PER_ADDRESS_MAX,
                connections::CONNECTIONS_MAX,
            )),
            timeouts: Timeouts::default(),
            pending_body_bytes: Arc::new(tokio::sync::Semaphore::new(PENDING_BODY_BYTES_MAX)),
            // The same places as the pages' photo scans: one bound for the process.
            image_decodes: Arc::clone(&service.image_decodes),
            gate_pages: None,
            service,
        })
    }

    /// The same with other limits on open connections: per client address (IPv4 whole,
    /// IPv6 per /64) and in total.
    pub fn with_connection_limits(mut self, per_address: usize, total: usize) -> AppState {
        self.connections = Arc::new(connections::Connections::new(per_address, total));
        self
    }

    /// The same with other bounds on how long a client may take to send its request.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> AppState {
        self.timeouts = timeouts;
        self
    }

    /// The same with another number of camera-image decodes at once.
    pub fn with_image_decodes(mut self, at_once: usize) -> AppState {
        self.image_decodes = Arc::new(tokio::sync::Semaphore::new(at_once.max(1)));
        self
    }

    /// Whether a new request or connection would be refused now: every place in flight
    /// is taken, or the connections are at their cap.
    pub fn saturated(&self) -> bool {
        let (in_flight, in_flight_max) = self.load();
        let (open, max) = self.connections.load();
        in_flight >= in_flight_max || open >= max
    }

    /// The same with another in-flight limit.
    pub fn with_in_flight_limit(self, max: usize) -> AppState {
        let policy = self.gate.places.policy();
        self.with_admission(gate::Policy {
            places: max.max(1),
            ..policy
        })
    }

    /// The same with another sharing of the places by class.
    pub fn with_admission(self, policy: gate::Policy) -> AppState {
        self.gate.places.set_policy(policy);
        self
    }

    /// The same with the deployment's key for waiting-room tickets (kept across restarts
    /// and shared by every node, so a ticket is good anywhere).
    /// The pages the gate answers browsers with (see [`gate::GatePages`]).
    pub fn with_gate_pages(mut self, pages: gate::GatePages) -> AppState {
        self.gate_pages = Some(pages);
        self
    }

    pub fn with_waiting_room_key(mut self, key: [u8; 32]) -> AppState {
        let policy = self.gate.places.policy();
        self.gate = gate::Gate::new(policy, key);
        self
    }

    /// Requests in flight now, and the most admitted at once.
    pub fn load(&self) -> (usize, usize) {
        let load = self.gate.places.load();
        (load.in_flight.min(load.places), load.places)
    }

    /// A place for one more request at once (as a counter payment), or `None` when none
    /// is free. For tools and tests: requests take theirs at the gate.
    pub fn admit_request(&self) -> Option<gate::Place<'_>> {
        self.gate.places.try_enter(gate::Class::Counter)
    }

    /// The same with other caps on live payment streams (per user, in all).
    pub fn with_stream_limit(mut self, limit: limits::StreamLimit) -> AppState {
        self.streams = limits::Streams::new(limit);
        self
    }
}

/// Largest request body accepted (JSON of a scheme file is the largest legitimate one).
pub const BODY_BYTES_MAX: usize = 256 * 1024;
/// Every request has a deadline.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// The application: routes, body limit, deadline and metrics around them.
pub fn app(state: Arc<AppState>) -> Router {
    routes::routes(Arc::clone(&state))
}

/// Serves `router` (the API, [`app`], and whatever the caller adds beside it) on `addr`
/// until `shutdown` resolves; returns the bound address at once through `bound`.
///
/// HTTP/1.1 over an accept loop of our own rather than `axum::serve`, for three bounds
/// `axum::serve` does not give: the time to receive a request's headers (hyper's header
/// read timeout, which needs a timer), the connections open per client address and in
/// total (a connection beyond either is sent a 503 and closed at once), and a pause
/// after a failed accept (out of file descriptors) instead of a busy loop. On shutdown
/// the listener closes, idle connections close, and requests under way are finished.
pub async fn serve(
    state: Arc<AppState>,
    router: Router,
    addr: SocketAddr,
    bound: tokio::sync::oneshot::Sender<SocketAddr>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};

    let listener = tokio::net::TcpListener::bind(addr).await?;
    let _ = bound.send(listener.local_addr()?);
    // The gate stands in front of everything served: the API, the pages, the rest.
    let router = router.layer(axum::middleware::from_fn_with_state(
        Arc::clone(&state),
        gate::admit,
    ));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(state.timeouts.header);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was taken:
                    // wait a little rather than spin on the same error.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let ticket = match state.connections.open(peer.ip()) {
            Ok(t) => t,
            Err(why) => {
                // Written without waiting: a short answer fits an empty socket buffer,
                // and a client that does not read it only loses the words.
                let _ = stream.try_write(&connections::refusal(why));
                state
                    .metrics
                    .rejections
                    .with_label_values(&["too_many_connections"])
                    .inc();
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                let mut router = router.clone();
                async move {
                    tower_service::Service::call(&mut router, req.map(axum::body::Body::new)).await
                }
            });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(ticket);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The pause after a failed accept.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn requests_beyond_the_in_flight_limit_are_shed_and_places_come_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let auth = Arc::new(Auth::open(dir.path(), true).expect("auth"));
        let service = Arc::new(Service::new(BTreeMap::new(), auth));
        let state = AppState::new(service)
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
