//! Writes that reach a node which does not write their currency go to the node that
//! does: a follower's engine hands them to [`HttpForward`], which posts them to the
//! writer's internal endpoint ([`router`]), signed with a key every node shares.
//!
//! The commands travel in the journal's own encoding and keep their idempotency keys,
//! so a retry after an unknown answer (the writer died mid-request) is decided once,
//! wherever it lands. What is said back is only what happened:
//! - nothing reached the writer (it could not be connected to, or no node writes the
//!   currency now), or the writer said it refused the write before submitting it
//!   (`x-maeul-outcome: not-applied`): "not applied", safe to retry;
//! - anything else short of the outcomes (a reset, a timeout, another status from
//!   whatever stands between the nodes, an undecodable answer): "outcome unknown",
//!   retry with the same key.
//!
//! Details (addresses, statuses) go to the log; people are told only which of the two.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engine::follower::{decode_answer, decode_commands, encode_answer, encode_commands};
use engine::{CommitError, CurrencyCode, ForwardReply, SubmitError};
use ledger::Envelope;
use parking_lot::Mutex;
use pgstore::Db;
use service::Service;

/// The header carrying a forwarded write's time and signature.
pub const SIGNATURE_HEADER: &str = "x-maeul-forward";
/// On a refusal: `not-applied` when the writer refused before submitting.
const OUTCOME_HEADER: &str = "x-maeul-outcome";
/// The writer's MAC over its answer (see `answer_mac`).
const ANSWER_HEADER: &str = "x-maeul-answer";
/// How long the body of a forwarded write may take to arrive.
const BODY_WITHIN: Duration = Duration::from_secs(10);
/// How old a signed request may be (clocks of nodes differ a little).
const SIGNED_WITHIN_MS: u64 = 60_000;
/// Forwarded writes on their way at once; more are refused at once ("busy").
pub const IN_FLIGHT_MAX: usize = 128;
/// How long a forwarded write may take, the writer's batch included.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// A writer's address is looked up again after this, or after a failure.
const WRITER_KNOWN_FOR: Duration = Duration::from_secs(2);
/// The largest forwarded body: a full submission of the largest commands.
const BODY_BYTES_MAX: usize = 8 * 1024 * 1024;

fn path(currency: &str) -> String {
    format!("/internal/v1/forward/{currency}")
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn mac(key: &[u8; 32], currency: &str, at_ms: u64, body: &[u8]) -> blake3::Hash {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(b"maeul-forward-v1\0");
    h.update(currency.as_bytes());
    h.update(b"\0");
    h.update(at_ms.to_string().as_bytes());
    h.update(b"\0");
    h.update(body);
    h.finalize()
}

/// The header value for a write of `currency` sent now.
pub fn sign(key: &[u8; 32], currency: &str, body: &[u8]) -> String {
    let at = unix_ms();
    format!("{at}.{}", mac(key, currency, at, body).to_hex())
}

/// Whether `value` signs `body` for `currency` with `key`, recently.
fn signed(key: &[u8; 32], currency: &str, body: &[u8], value: Option<&HeaderValue>) -> bool {
    let Some((at, hex)) = value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once('.'))
    else {
        return false;
    };
    let (Ok(at), Ok(given)) = (at.parse::<u64>(), blake3::Hash::from_hex(hex)) else {
        return false;
    };
    // blake3::Hash compares in constant time.
    unix_ms().abs_diff(at) <= SIGNED_WITHIN_MS && given == mac(key, currency, at, body)
}

/// The writer's side: takes forwarded writes for the currencies this node writes.
pub fn router(service: Arc<Service>, key: [u8; 32]) -> Router {
    Router::new()
        .route("/internal/v1/forward/{currency}", axum::routing::post(take))
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(Arc::new((service, key)))
}

/// What the writer answers, before it is signed.
struct Answer {
    status: StatusCode,
    /// Refused before anything was submitted: the sender may say "not applied".
    refused: bool,
    body: Vec<u8>,
}

fn refuse(status: StatusCode, why: String) -> Answer {
    Answer {
        status,
        refused: true,
        body: why.into_bytes(),
    }
}

/// The writer does not know whether the write was applied.
fn unknown(why: String) -> Answer {
    Answer {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        refused: false,
        body: why.into_bytes(),
    }
}

/// The MAC of an answer, bound to the request it answers (its signature header), so
/// that nothing between the nodes can make up an outcome or a refusal.
fn answer_mac(
    key: &[u8; 32],
    request_signature: &str,
    status: u16,
    refused: bool,
    body: &[u8],
) -> blake3::Hash {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(b"maeul-answer-v1\0");
    h.update(request_signature.as_bytes());
    h.update(b"\0");
    h.update(status.to_string().as_bytes());
    h.update(if refused {
        b"\0refused\0"
    } else {
        b"\0answered\0"
    });
    h.update(body);
    h.finalize()
}

/// Whether a signature header is well formed and recent, looked at before the body is
/// read: an unsigned sender must not make this node buffer megabytes.
fn plausibly_signed(value: Option<&HeaderValue>) -> bool {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once('.'))
        .and_then(|(at, hex)| Some((at.parse::<u64>().ok()?, hex.len())))
        .is_some_and(|(at, len)| len == 64 && unix_ms().abs_diff(at) <= SIGNED_WITHIN_MS)
}

async fn take(
    State(state): State<Arc<(Arc<Service>, [u8; 32])>>,
    Path(currency): Path<String>,
    request: axum::extract::Request,
) -> Response {
    let (service, key) = state.as_ref();
    let signature = request.headers().get(SIGNATURE_HEADER).cloned();
    let answer = decide(service, key, &currency, signature.as_ref(), request).await;
    let request_signature = signature
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mac = answer_mac(
        key,
        request_signature,
        answer.status.as_u16(),
        answer.refused,
        &answer.body,
    );
    let mut response = (answer.status, answer.body).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mac.to_hex().as_str()) {
        headers.insert(ANSWER_HEADER, v);
    }
    if answer.refused {
        headers.insert(OUTCOME_HEADER, HeaderValue::from_static("not-applied"));
    }
    response
}

async fn decide(
    service: &Service,
    key: &[u8; 32],
    currency: &str,
    signature: Option<&HeaderValue>,
    request: axum::extract::Request,
) -> Answer {
    if !plausibly_signed(signature) {
        return refuse(StatusCode::UNAUTHORIZED, "not signed by a node".into());
    }
    let read = axum::body::to_bytes(request.into_body(), BODY_BYTES_MAX);
    let body: Bytes = match tokio::time::timeout(BODY_WITHIN, read).await {
        Ok(Ok(body)) => body,
        _ => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "the body did not arrive whole".into(),
            );
        }
    };
    if !signed(key, currency, &body, signature) {
        return refuse(StatusCode::UNAUTHORIZED, "not signed by a node".into());
    }
    let Ok(c) = service.currency(currency) else {
        return refuse(
            StatusCode::NOT_FOUND,
            format!("no currency {currency} here"),
        );
    };
    let engine = &c.engine;
    if !engine.writes_here() {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            format!("this node does not write {currency}"),
        );
    }
    let commands = match decode_commands(
        &body,
        engine::EngineOptions::default().submission_commands_max,
    ) {
        Ok(c) => c,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("undecodable commands: {e}"),
            );
        }
    };
    let n = commands.len();
    let ticket = match engine.submit(commands) {
        Ok(t) => t,
        Err(SubmitError::Busy { .. }) => {
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "the writer is busy".into());
        }
        Err(e) => return refuse(StatusCode::CONFLICT, format!("not submitted: {e}")),
    };
    match ticket.outcome().await {
        Ok(outcomes) if outcomes.len() == n => Answer {
            status: StatusCode::OK,
            refused: false,
            body: encode_answer(engine.durable_seq(), &outcomes),
        },
        Ok(_) => unknown("the engine answered a different number of outcomes".into()),
        Err(CommitError::NotApplied { cause }) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not applied: {cause}"),
        ),
        Err(e) => unknown(e.to_string()),
    }
}

/// The follower's side: sends writes to the node holding the currency's lease.
#[derive(Debug)]
pub struct HttpForward {
    db: Arc<Db>,
    /// This node's name: it never forwards to itself.
    node: String,
    key: [u8; 32],
    client: reqwest::Client,
    /// A runtime of its own: followers are made before the server's starts, and their
    /// writes come from its threads and from plain ones alike.
    runtime: Option<tokio::runtime::Runtime>,
    in_flight: Arc<tokio::sync::Semaphore>,
    writers: Arc<Mutex<HashMap<String, (String, Instant)>>>,
}

impl HttpForward {
    pub fn new(db: Arc<Db>, node: &str, key: [u8; 32]) -> anyhow::Result<HttpForward> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("forward")
            .enable_all()
            .build()?;
        // Straight to the writer: no proxy from the environment, no redirect.
        let client = reqwest::Client::builder()
            .timeout(ANSWER_WITHIN)
            .connect_timeout(Duration::from_secs(1))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(HttpForward {
            db,
            node: node.to_owned(),
            key,
            client,
            runtime: Some(runtime),
            in_flight: Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT_MAX)),
            writers: Arc::new(Mutex::new(HashMap::new())),
        })
    }
}

impl Drop for HttpForward {
    fn drop(&mut self) {
        // Engines are dropped inside the server's runtime, where a blocking shutdown
        // would panic.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn not_applied(cause: impl Into<String>) -> CommitError {
    CommitError::NotApplied {
        cause: cause.into(),
    }
}

impl engine::Forward for HttpForward {
    fn forward(&self, currency: &CurrencyCode, commands: Vec<Envelope>, reply: ForwardReply) {
        let Ok(permit) = Arc::clone(&self.in_flight).try_acquire_owned() else {
            reply.answer(Err(not_applied(
                "too many writes on their way to the writer; retry shortly",
            )));
            return;
        };
        let Some(runtime) = &self.runtime else {
            reply.answer(Err(CommitError::Stopped));
            return;
        };
        let trip = Trip {
            db: Arc::clone(&self.db),
            node: self.node.clone(),
            key: self.key,
            client: self.client.clone(),
            writers: Arc::clone(&self.writers),
            currency: currency.as_str().to_owned(),
        };
        runtime.spawn(async move {
            let n = commands.len();
            let answer = trip.send(encode_commands(&commands), n).await;
            if answer.is_err() {
                // The writer may have changed: ask the database again next time.
                trip.writers.lock().remove(&trip.currency);
            }
            reply.answer(answer);
            drop(permit);
        });
    }
}

/// One forwarded write on its way.
struct Trip {
    db: Arc<Db>,
    node: String,
    key: [u8; 32],
    client: reqwest::Client,
    writers: Arc<Mutex<HashMap<String, (String, Instant)>>>,
    currency: String,
}

impl Trip {
    async fn writer_url(&self) -> Result<String, CommitError> {
        if let Some((url, at)) = self.writers.lock().get(&self.currency)
            && at.elapsed() < WRITER_KNOWN_FOR
        {
            return Ok(url.clone());
        }
        let db = Arc::clone(&self.db);
        let currency = self.currency.clone();
        let found = tokio::task::spawn_blocking(move || pgstore::nodes::writer_of(&db, &currency))
            .await
            .map_err(|e| {
                tracing::warn!(currency = %self.currency, "finding the writer failed: {e}");
                not_applied(
                    "the node that writes this currency is not known right now; retry shortly",
                )
            })?
            .map_err(|e| {
                tracing::warn!(currency = %self.currency, "finding the writer failed: {e}");
                not_applied(
                    "the node that writes this currency is not known right now; retry shortly",
                )
            })?;
        match found {
            None => Err(not_applied(
                "no node writes this currency right now (a writer is taking over); retry shortly",
            )),
            Some(n) if n.name == self.node => Err(not_applied(
                "this node is taking the currency over; retry shortly",
            )),
            Some(n) => {
                self.writers
                    .lock()
                    .insert(self.currency.clone(), (n.url.clone(), Instant::now()));
                Ok(n.url)
            }
        }
    }

    async fn send(
        &self,
        body: Vec<u8>,
        n: usize,
    ) -> Result<(u64, Vec<ledger::Outcome>), CommitError> {
        let url = self.writer_url().await?;
        let signature = sign(&self.key, &self.currency, &body);
        let sent = self
            .client
            .post(format!(
                "{}{}",
                url.trim_end_matches('/'),
                path(&self.currency)
            ))
            .header(SIGNATURE_HEADER, &signature)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .send()
            .await;
        let unknown = |why: String| {
            tracing::warn!(currency = %self.currency, writer = %url, "a forwarded write's outcome is unknown: {why}");
            CommitError::NotDurable {
                cause: "the node that writes this currency did not answer in time".into(),
            }
        };
        let response = match sent {
            Ok(r) => r,
            Err(e) if e.is_connect() => {
                // Nothing reached the writer.
                tracing::warn!(currency = %self.currency, writer = %url, "the writer is unreachable: {e}");
                return Err(not_applied(
                    "the node that writes this currency cannot be reached; retry shortly",
                ));
            }
            Err(e) => return Err(unknown(e.to_string())),
        };
        let status = response.status();
        let refused = response
            .headers()
            .get(OUTCOME_HEADER)
            .is_some_and(|v| v == "not-applied");
        let mac = response
            .headers()
            .get(ANSWER_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| blake3::Hash::from_hex(v).ok());
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unknown(format!("the answer was cut off: {e}")))?;
        // Only the writer's own word counts: whatever else answered (a proxy, a
        // stranger on the network) knows nothing of the outcome.
        let expected = answer_mac(&self.key, &signature, status.as_u16(), refused, &bytes);
        if mac != Some(expected) {
            return Err(unknown(format!(
                "an answer not signed by the writer ({status})"
            )));
        }
        if status == reqwest::StatusCode::OK {
            return decode_answer(&bytes, n)
                .map_err(|e| unknown(format!("the answer does not decode: {e}")));
        }
        let why: String = String::from_utf8_lossy(&bytes).chars().take(300).collect();
        if !refused {
            return Err(unknown(format!("answered {status}: {why}")));
        }
        tracing::info!(currency = %self.currency, writer = %url, %status, "the writer refused a forwarded write: {why}");
        Err(not_applied(
            if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
                "the node that writes this currency is busy; retry shortly"
            } else {
                "the node that writes this currency did not take the write; retry shortly"
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_binds_the_key_the_currency_and_the_body() {
        let key = [7u8; 32];
        let value = HeaderValue::from_str(&sign(&key, "demo", b"body")).expect("header");
        assert!(signed(&key, "demo", b"body", Some(&value)));
        assert!(
            !signed(&[8u8; 32], "demo", b"body", Some(&value)),
            "another key"
        );
        assert!(
            !signed(&key, "other", b"body", Some(&value)),
            "another currency"
        );
        assert!(!signed(&key, "demo", b"bodY", Some(&value)), "another body");
        assert!(!signed(&key, "demo", b"body", None), "unsigned");
        let old = unix_ms() - 2 * SIGNED_WITHIN_MS;
        let stale = format!("{old}.{}", mac(&key, "demo", old, b"body").to_hex());
        let stale = HeaderValue::from_str(&stale).expect("header");
        assert!(!signed(&key, "demo", b"body", Some(&stale)), "too old");
        let junk = HeaderValue::from_static("12.zz");
        assert!(!signed(&key, "demo", b"body", Some(&junk)));
        assert!(plausibly_signed(Some(&value)));
        assert!(!plausibly_signed(Some(&stale)) && !plausibly_signed(Some(&junk)));
        assert!(!plausibly_signed(None));
    }

    #[test]
    fn an_answer_is_bound_to_its_request_status_refusal_and_body() {
        let key = [7u8; 32];
        let mac = answer_mac(&key, "1.ab", 200, false, b"outcomes");
        assert_eq!(mac, answer_mac(&key, "1.ab", 200, false, b"outcomes"));
        assert_ne!(mac, answer_mac(&[8u8; 32], "1.ab", 200, false, b"outcomes"));
        assert_ne!(
            mac,
            answer_mac(&key, "2.ab", 200, false, b"outcomes"),
            "another request"
        );
        assert_ne!(
            mac,
            answer_mac(&key, "1.ab", 503, false, b"outcomes"),
            "another status"
        );
        assert_ne!(
            mac,
            answer_mac(&key, "1.ab", 200, true, b"outcomes"),
            "made a refusal"
        );
        assert_ne!(
            mac,
            answer_mac(&key, "1.ab", 200, false, b"outcomeS"),
            "another body"
        );
    }
}
