//! One key, one request.
//!
//! Every state-changing route takes an `Idempotency-Key`. A repeated key gets the first
//! answer only when the request is the same: the same route and the same value of every
//! field that decides the outcome (the request's fingerprint). Any other request under
//! that key is `409 idempotency_key_reused`, whichever routes the two are. A repeated
//! answer says so with `Idempotent-Replayed: true`.
//!
//! Three layers make that hold, each where it is cheap:
//! - **this table**: (user, key) → the route and fingerprint of the request that first
//!   used it, kept in memory (bounded, a day). It is what tells "the same payment by
//!   code" from "another payment under the same key" before anything is resolved again:
//!   a kiosk's code may have expired since, the shop may be suspended;
//! - **the ledger** for routes whose effect is a ledger command: the key is the ledger's
//!   `(client, key)` and the ledger compares the commands themselves, durably (the
//!   journal). After a restart, or once this table has forgotten a key, a reused key is
//!   still refused there, command against command;
//! - **stored answers** (`service.sqlite`) for routes whose effect is not a ledger
//!   command (notices, registry files, merchant moves): the first successful answer
//!   with the request's fingerprint, replayed as it was.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use http::StatusCode;
use ledger::{ClientId, IdempotencyKey};
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Service;
use crate::auth::Caller;
use crate::error::ServiceError;

/// The header that marks a repeated answer.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Keys remembered here at most (all users); the oldest are forgotten first (the
/// ledger still compares commands after that).
const ENTRIES_MAX: usize = 1_000_000;
const SHARDS: usize = 32;
/// Keys are remembered this long (the ledger's own retention).
const RETENTION: Duration = Duration::from_secs(24 * 3600);
/// The largest answer kept for replay (registry reports can be large; bigger answers
/// are not kept and a repeat runs again, which those routes tolerate).
pub const STORED_ANSWER_BYTES_MAX: usize = 1 << 20;

/// What a request's fingerprint covers: the route and every field that decides its
/// outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 16]);

impl Fingerprint {
    /// The fingerprint of `fields` on `route`.
    pub fn of(route: &'static str, fields: &impl Serialize) -> Fingerprint {
        let mut h = blake3::Hasher::new();
        h.update(route.as_bytes());
        h.update(&[0]);
        // Serializing plain request data cannot fail; if it did, the route alone would
        // still tell requests of different routes apart.
        if let Ok(bytes) = serde_json::to_vec(fields) {
            h.update(&bytes);
        }
        let mut out = [0u8; 16];
        out.copy_from_slice(&h.finalize().as_bytes()[..16]);
        Fingerprint(out)
    }

    pub fn bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

/// What this key did before, as far as this table knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Previously {
    /// Not seen (or forgotten): the ledger or the stored answers still compare.
    Unknown,
    /// The same request was made under this key before.
    Same,
}

/// A state-changing request's key, checked against what the key was used for.
#[derive(Clone, Debug)]
pub struct RequestKey {
    /// The ledger's `(client, key)` for this user's key.
    pub client: ClientId,
    pub key: IdempotencyKey,
    pub user: i64,
    pub fingerprint: Fingerprint,
    pub previously: Previously,
}

impl RequestKey {
    /// Whether the same request was made under this key before.
    pub fn is_repeat(&self) -> bool {
        self.previously == Previously::Same
    }
}

#[derive(Debug)]
struct Seen {
    fingerprint: Fingerprint,
    at: Instant,
}

#[derive(Debug, Default)]
struct Shard {
    seen: HashMap<(u64, u128), Seen>,
    order: VecDeque<(u64, u128)>,
}

/// The table of keys and the requests they were used for.
#[derive(Debug)]
pub struct Requests {
    shards: Vec<Mutex<Shard>>,
    /// Keys whose stored-answer request is running now.
    running: Mutex<HashSet<(u64, u128)>>,
}

impl Default for Requests {
    fn default() -> Requests {
        Requests {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            running: Mutex::new(HashSet::new()),
        }
    }
}

impl Requests {
    fn shard(&self, id: (u64, u128)) -> &Mutex<Shard> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut h);
        &self.shards[(h.finish() as usize) % SHARDS]
    }

    /// Claims `(client, key)` for a request with `fingerprint`: `Same` if the same
    /// request was made before, `Unknown` if the key is new here (now recorded), and
    /// `idempotency_key_reused` if the key was used for another request.
    pub fn claim(
        &self,
        client: ClientId,
        key: IdempotencyKey,
        fingerprint: Fingerprint,
    ) -> Result<Previously, ServiceError> {
        let id = (client.0, key.0);
        let now = Instant::now();
        let mut shard = self.shard(id).lock();
        if let Some(seen) = shard.seen.get(&id)
            && now.duration_since(seen.at) < RETENTION
        {
            return if seen.fingerprint == fingerprint {
                Ok(Previously::Same)
            } else {
                Err(key_reused())
            };
        }
        // Forget what is too old, and the oldest beyond the bound.
        while let Some(oldest) = shard.order.front().copied() {
            let stale = shard
                .seen
                .get(&oldest)
                .is_none_or(|s| now.duration_since(s.at) >= RETENTION);
            if !stale && shard.order.len() < ENTRIES_MAX / SHARDS {
                break;
            }
            shard.order.pop_front();
            shard.seen.remove(&oldest);
        }
        shard.seen.insert(
            id,
            Seen {
                fingerprint,
                at: now,
            },
        );
        shard.order.push_back(id);
        Ok(Previously::Unknown)
    }

    /// Forgets every key (what a restart does; for tests of what stays true then).
    pub fn forget_all(&self) {
        for shard in &self.shards {
            let mut shard = shard.lock();
            shard.seen.clear();
            shard.order.clear();
        }
    }

    /// Marks a stored-answer request as running; `None` if one with this key already is.
    pub fn start(&self, id: (u64, u128)) -> Option<Running<'_>> {
        self.running
            .lock()
            .insert(id)
            .then_some(Running { requests: self, id })
    }
}

/// A stored-answer request in progress; the key is free again when dropped.
#[derive(Debug)]
pub struct Running<'a> {
    requests: &'a Requests,
    id: (u64, u128),
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.requests.running.lock().remove(&self.id);
    }
}

pub fn key_reused() -> ServiceError {
    ServiceError::new(
        StatusCode::CONFLICT,
        "idempotency_key_reused",
        "같은 요청 번호가 다른 요청에 이미 쓰였습니다. 새 요청 번호로 다시 보내 주세요.",
        "This Idempotency-Key was already used for a different request. Send it again with a new key.",
    )
}

/// Takes the request's idempotency key (as the client sent it, e.g. the
/// `Idempotency-Key` header), applies the per-user write limit, and claims the key for
/// this request (`409` if it was used for another one).
pub fn claim_key(
    service: &Service,
    given: Option<&str>,
    caller: &Caller,
    fingerprint: Fingerprint,
) -> Result<RequestKey, ServiceError> {
    // Every change passes here: the per-user write limit too.
    service
        .writes
        .admit(caller.user_id)
        .map_err(ServiceError::too_many)?;
    let header_key = given
        .filter(|k| (1..=128).contains(&k.len()))
        .ok_or_else(|| {
            ServiceError::bad_request(
                "idempotency_key_required",
                "send an Idempotency-Key header (1-128 characters) with every change",
            )
        })?;
    let h = blake3::hash(header_key.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h.as_bytes()[..16]);
    let client = ClientId(caller.user_id as u64);
    let key = IdempotencyKey(u128::from_le_bytes(b));
    let previously = service.requests.claim(client, key, fingerprint)?;
    Ok(RequestKey {
        client,
        key,
        user: caller.user_id,
        fingerprint,
        previously,
    })
}

/// A use case's answer, and whether it repeats the first answer under the same key.
#[derive(Debug)]
pub struct Answered<T> {
    pub value: T,
    pub replayed: bool,
}

impl<T> Answered<T> {
    /// An answer given for the first time.
    pub fn first(value: T) -> Answered<T> {
        Answered {
            value,
            replayed: false,
        }
    }

    /// An earlier answer given again.
    pub fn replayed(value: T) -> Answered<T> {
        Answered {
            value,
            replayed: true,
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Answered<U> {
        Answered {
            value: f(self.value),
            replayed: self.replayed,
        }
    }
}

/// The first answer of a request whose effect is not a ledger command.
#[derive(Clone, Debug)]
pub struct StoredAnswer {
    pub fingerprint: [u8; 16],
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// Two requests under one key at once: the second is told to look again shortly.
fn in_progress() -> ServiceError {
    ServiceError {
        retry_after_s: Some(1),
        ..ServiceError::new(
            StatusCode::CONFLICT,
            "request_in_progress",
            "같은 요청을 처리하고 있습니다. 잠시 후 같은 요청 번호로 다시 확인해 주세요.",
            "The same request is being carried out. Check again shortly with the same key.",
        )
    }
}

/// Runs a use case whose effect is not a ledger command (a notice, a merchant's move,
/// a registry or alias file) at most once per key: a repeat of the same request gets the
/// stored first answer (replayed), another request under the key
/// `idempotency_key_reused`, a repeat while the first still runs `request_in_progress`
/// (look again shortly). Only successes are stored, as the use case's own value (JSON),
/// so every face renders a repeat as it renders the first answer; a failed request can
/// be sent again. An answer too large to keep (`STORED_ANSWER_BYTES_MAX`), or one kept
/// by an earlier build in a form this one does not read, is not replayed: the repeat
/// runs again, which these use cases tolerate (moving to where one is succeeds; a sync
/// of the same file changes nothing more).
pub async fn once<T, F>(
    service: &Service,
    req: &RequestKey,
    run: F,
) -> Result<Answered<T>, ServiceError>
where
    T: Serialize + DeserializeOwned,
    F: std::future::Future<Output = Result<T, ServiceError>>,
{
    let key = req.key.0.to_le_bytes();
    if let Some(stored) = service.auth.stored_answer(req.user, &key)? {
        if stored.fingerprint != *req.fingerprint.bytes() {
            return Err(key_reused());
        }
        if let Some(value) = stored_value(&stored.body) {
            return Ok(Answered::replayed(value));
        }
    }
    let Some(_running) = service.requests.start((req.client.0, req.key.0)) else {
        return Err(in_progress());
    };
    let value = run.await?;
    match serde_json::to_vec(&value) {
        Ok(body) if body.len() <= STORED_ANSWER_BYTES_MAX => {
            let stored = StoredAnswer {
                fingerprint: *req.fingerprint.bytes(),
                status: 200,
                content_type: "application/json".to_owned(),
                body,
            };
            if let Err(e) = service.auth.store_answer(req.user, &key, &stored) {
                tracing::error!(
                    user = req.user,
                    code = e.code,
                    "an answer could not be kept for repeats"
                );
            }
        }
        // Too large to keep: answered, not stored (a repeat runs again).
        Ok(_) => {}
        Err(e) => tracing::error!(user = req.user, "an answer could not be kept: {e}"),
    }
    Ok(Answered::first(value))
}

/// A stored first answer read back as the use case's value. An empty body is a value
/// with nothing in it (earlier builds kept `204 No Content` answers so).
fn stored_value<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    let body: &[u8] = if body.is_empty() { b"null" } else { body };
    serde_json::from_slice(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ROUTES: [&str; 4] = ["pay", "gift", "charge", "notice"];

    proptest! {
        /// Any sequence of requests over a few users, keys, routes and bodies: a key is
        /// answered "same request" exactly when the same route and body used it first,
        /// refused when anything else did, and new otherwise.
        #[test]
        fn a_key_answers_only_its_first_request(
            ops in proptest::collection::vec((0u64..3, 0u128..5, 0usize..4, 0u8..3), 1..200)
        ) {
            let table = Requests::default();
            let mut model: HashMap<(u64, u128), (usize, u8)> = HashMap::new();
            for (user, key, route, body) in ops {
                let fp = Fingerprint::of(ROUTES[route], &body);
                let got = table.claim(ClientId(user), IdempotencyKey(key), fp);
                match model.get(&(user, key)) {
                    None => {
                        prop_assert_eq!(got.ok(), Some(Previously::Unknown));
                        model.insert((user, key), (route, body));
                    }
                    Some(first) if *first == (route, body) => {
                        prop_assert_eq!(got.ok(), Some(Previously::Same));
                    }
                    Some(_) => {
                        prop_assert_eq!(got.err().map(|e| e.code), Some("idempotency_key_reused".to_owned()));
                    }
                }
            }
        }
    }

    #[test]
    fn a_key_is_for_one_request() {
        let r = Requests::default();
        let (c, k) = (ClientId(7), IdempotencyKey(42));
        let pay = Fingerprint::of("pay", &(20_001u64, 5_000i64));
        let other = Fingerprint::of("pay", &(20_002u64, 5_000i64));
        let gift = Fingerprint::of("gift", &(20_001u64, 5_000i64));
        assert_eq!(r.claim(c, k, pay).ok(), Some(Previously::Unknown));
        assert_eq!(r.claim(c, k, pay).ok(), Some(Previously::Same));
        assert_eq!(
            r.claim(c, k, other).map_err(|e| e.code).err().as_deref(),
            Some("idempotency_key_reused")
        );
        assert!(r.claim(c, k, gift).is_err(), "another route under the key");
        // Another user's key of the same text is theirs.
        assert_eq!(
            r.claim(ClientId(8), k, gift).ok(),
            Some(Previously::Unknown)
        );
    }
}
