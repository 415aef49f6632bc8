//! An operator change while serving. The operator issues a successor credential; the
//! successor's node follows this node's journal with it (record by record, resumable by
//! sequence number) and, when ready, asks for the cutover: this node journals a halt
//! ("operator change to …"), so that its last record is that halt, hands over the rest
//! of the currency (people, registry, notices) as an interchange set encrypted to the
//! successor, tells citizens and merchants with a notice, and from then on answers
//! every request with where to go.
//!
//! What is kept, per currency, in `currencies/<code>/handover.json` (written atomically):
//! the credential's hash (never the credential), and once moved, where to and at which
//! record. A restart keeps both.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ledger::{ClientId, Command, Envelope, IdempotencyKey, Text};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::auth::{Caller, Notice, Role};
use crate::error::ServiceError;
use crate::{Currency, Service};

/// The file beside a currency's journal.
pub const FILE: &str = "handover.json";
/// The interchange set made at the cutover, beside the journal.
pub const SET_DIR: &str = "handover-set";
/// The base set made for a follower while this node serves, beside the journal.
pub const BASE_DIR: &str = "handover-base";
/// Bytes of records one feed answer carries at most (at least one record).
pub const FEED_BYTES_MAX: usize = 8 << 20;
/// Whose halt the cutover journals.
pub const HALTED_BY: &str = "handover";
/// The ledger client an operator change's commands (the old node's halt, the new
/// node's resume) are sent as.
pub const CLIENT: ClientId = ClientId(u64::MAX - 0x4d4f_5645);

/// The ledger key of an operator change's command named `what`: the same words give
/// the same key, so a rerun is the same command.
pub fn ledger_key(what: &str) -> IdempotencyKey {
    let hash = blake3::hash(what.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&hash.as_bytes()[..16]);
    IdempotencyKey(u128::from_le_bytes(first))
}

/// Where a currency went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Moved {
    /// The successor's address (its API and pages are under it).
    pub to: String,
    /// The halt record: the last record this node wrote.
    pub seq: u64,
    /// Its chain hash, and the state hash after it: what the successor must reach.
    pub head_hash: String,
    pub state_hash: String,
    /// Unix µs.
    pub at_us: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Kept {
    /// blake3 of the successor credential, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    credential_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issued_at_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    moved: Option<Moved>,
    /// The id of the base set in `handover-base/`, once made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base_id: Option<String>,
}

/// A new successor credential, shown once.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Credential {
    pub currency: String,
    /// Give it to the successor; it reads the journal and asks for the cutover. A new
    /// one replaces it.
    pub credential: String,
}

/// What the successor asks for at the cutover.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CutoverRequest {
    /// The successor's address, where this node sends everyone from now on
    /// (`https://…` or `http://…`, no user or password).
    pub to: String,
    /// The successor's age public key (`age1…`): people's data is encrypted to it.
    pub recipient: String,
    /// The id of the base set the successor took (`POST …/base`): the set then holds
    /// only what changed since, which keeps the pause short. One that is not this
    /// node's latest base is refused before anything stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
}

/// What the successor asks for to take a first copy of people and registry while this
/// node still serves.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BaseRequest {
    /// The successor's age public key (`age1…`): people's data is encrypted to it.
    pub recipient: String,
}

/// A base set made: fetch `manifest.json` and the files it lists from `…/base/{file}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BaseMade {
    /// The SHA-256 of the base's `manifest.json`: name it at the cutover.
    pub id: String,
}

/// What a set for the successor is made of: the currency's engine (sealed at the
/// cutover: its ledger in memory is the state at the cut), where to write, to whom
/// people's data is encrypted, and which set.
#[derive(Debug)]
pub struct SetJob {
    pub code: String,
    pub recipient: String,
    pub out: PathBuf,
    pub engine: Arc<engine::Engine>,
    pub kind: SetKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetKind {
    /// A first copy of people and registry while serving; the stores' change logs
    /// note what changes after it.
    Base,
    /// The set at the cutover; with a base (its directory and id), only what changed
    /// since.
    Cutover { base: Option<(PathBuf, String)> },
}

/// A set made: its cut (last record, that record's chain hash, the ledger's state
/// hash after it) and its id (the SHA-256 of its manifest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetMade {
    pub seq: u64,
    pub head_hash: String,
    pub state_hash: String,
    pub id: String,
}

/// Makes an interchange set of a currency into a directory, encrypted to a recipient
/// (the binary gives `migrate`'s; the service does not depend on it).
pub type Exporter = Arc<dyn Fn(&SetJob) -> Result<SetMade, String> + Send + Sync>;

/// Records read from the journal for a follower.
#[derive(Clone, Debug, Default)]
pub struct Feed {
    /// Frames: `seq u64 LE | timestamp_us u64 LE | payload_len u32 LE | payload |
    /// chain hash [32]`, one per record, in order.
    pub body: Vec<u8>,
    pub records: u64,
    /// The last record this node has made durable.
    pub durable_seq: u64,
    pub moved: Option<Moved>,
}

/// Successor credentials, the cutover, and where moved currencies went.
pub struct Handover {
    data_dir: Option<PathBuf>,
    /// Set where an operator change cannot be made (a PostgreSQL store): every step of
    /// one is refused, saying so.
    unsupported: bool,
    kept: RwLock<BTreeMap<String, Kept>>,
    /// Where the last feed read of each currency ended: (next seq, its offset, the
    /// chain hash before it), so the next read starts there.
    positions: Mutex<BTreeMap<String, (u64, u64, journal::RecordHash)>>,
    /// One cutover at a time.
    cutover: tokio::sync::Mutex<()>,
    /// Cutovers running in the background, by currency, and how the last one of each
    /// failed (answered once, then asked again runs it again).
    running: Mutex<BTreeSet<String>>,
    failed: Mutex<BTreeMap<String, ServiceError>>,
    /// Currencies between their cutover's halt and `moved` being kept, and how many.
    stopping: Mutex<BTreeSet<String>>,
    stopping_count: std::sync::atomic::AtomicUsize,
    /// The same for base sets.
    bases_running: Mutex<BTreeSet<String>>,
    bases_failed: Mutex<BTreeMap<String, ServiceError>>,
    exporter: Option<Exporter>,
    /// Whether any currency here moved: every request asks, and almost always the
    /// answer is no.
    any_moved: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Handover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handover")
            .field("data_dir", &self.data_dir)
            .field("kept", &self.kept.read().len())
            .finish_non_exhaustive()
    }
}

impl Default for Handover {
    fn default() -> Self {
        Handover {
            data_dir: None,
            unsupported: false,
            kept: RwLock::new(BTreeMap::new()),
            positions: Mutex::new(BTreeMap::new()),
            cutover: tokio::sync::Mutex::new(()),
            running: Mutex::new(BTreeSet::new()),
            failed: Mutex::new(BTreeMap::new()),
            stopping: Mutex::new(BTreeSet::new()),
            stopping_count: std::sync::atomic::AtomicUsize::new(0),
            bases_running: Mutex::new(BTreeSet::new()),
            bases_failed: Mutex::new(BTreeMap::new()),
            exporter: None,
            any_moved: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

fn hash_hex(credential: &str) -> String {
    blake3::hash(credential.as_bytes()).to_hex().to_string()
}

fn moved_error(m: &Moved) -> ServiceError {
    ServiceError::new(
        http::StatusCode::GONE,
        "moved",
        "이 지역화폐는 새 운영사로 옮겨졌습니다. 새 주소에서 이용해 주세요.",
        "This currency has moved to a new operator. Please use the new address.",
    )
    .detail(format!("moved to {}", m.to))
}

impl Handover {
    /// Reads what each currency of `data_dir` keeps; `exporter` makes the set at the
    /// cutover.
    /// A node that cannot hand its currencies over (its store is PostgreSQL): issuing
    /// a successor credential, and so everything after it, is refused with words.
    pub fn unsupported() -> Handover {
        Handover {
            unsupported: true,
            ..Handover::default()
        }
    }

    pub fn open(data_dir: &Path, exporter: Option<Exporter>) -> anyhow::Result<Handover> {
        let mut kept = BTreeMap::new();
        let root = data_dir.join("currencies");
        if root.exists() {
            for entry in std::fs::read_dir(&root)? {
                let entry = entry?;
                let path = entry.path().join(FILE);
                if let Ok(bytes) = std::fs::read(&path) {
                    let k: Kept = serde_json::from_slice(&bytes)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    kept.insert(entry.file_name().to_string_lossy().into_owned(), k);
                }
            }
        }
        Ok(Handover {
            data_dir: Some(data_dir.to_owned()),
            any_moved: std::sync::atomic::AtomicBool::new(kept.values().any(|k| k.moved.is_some())),
            kept: RwLock::new(kept),
            exporter,
            ..Handover::default()
        })
    }

    fn currency_dir(&self, code: &str) -> Option<PathBuf> {
        self.data_dir
            .as_ref()
            .map(|d| d.join("currencies").join(code))
    }

    /// Writes a currency's record first, then takes it: a failed write changes nothing.
    fn keep(&self, code: &str, k: Kept) -> Result<(), ServiceError> {
        if let Some(dir) = self.currency_dir(code) {
            let path = dir.join(FILE);
            let tmp = dir.join(format!("{FILE}.tmp"));
            let bytes =
                serde_json::to_vec_pretty(&k).map_err(|e| ServiceError::internal(e.to_string()))?;
            let write = || -> std::io::Result<()> {
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(&bytes)?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)?;
                std::fs::File::open(&dir)?.sync_all()
            };
            write()
                .map_err(|e| ServiceError::store_unavailable(format!("{}: {e}", path.display())))?;
        }
        if k.moved.is_some() {
            self.any_moved
                .store(true, std::sync::atomic::Ordering::Release);
        }
        self.kept.write().insert(code.to_owned(), k);
        Ok(())
    }

    /// Where `code` went, if it moved.
    pub fn moved(&self, code: &str) -> Option<Moved> {
        self.kept.read().get(code).and_then(|k| k.moved.clone())
    }

    /// When the successor credential in force was issued (Unix microseconds), if one
    /// was.
    pub fn issued_at(&self, code: &str) -> Option<u64> {
        self.kept.read().get(code).and_then(|k| {
            k.credential_hash.as_ref()?;
            k.issued_at_us
        })
    }

    /// Where everyone goes when every currency `served` moved (the usual node serves
    /// one); `None` while any still serves here.
    pub fn everything_moved_to<'a>(
        &self,
        served: impl IntoIterator<Item = &'a String>,
    ) -> Option<String> {
        if !self.any_moved.load(std::sync::atomic::Ordering::Acquire) {
            return None;
        }
        let kept = self.kept.read();
        let mut to: Option<&str> = None;
        for code in served {
            let m = kept.get(code.as_str()).and_then(|k| k.moved.as_ref())?;
            match to {
                Some(t) if t != m.to => return None,
                _ => to = Some(&m.to),
            }
        }
        to.map(str::to_owned)
    }

    /// Whether every currency `served` is stopping for its cutover or has moved: the
    /// node then answers every request but the successor's with 503, from the halt
    /// until it sends everyone on, so that nothing (a sign-out, a new PIN) changes here
    /// after the set was read. A node serving other currencies too goes on for them.
    pub fn everything_stopping<'a>(&self, served: impl IntoIterator<Item = &'a String>) -> bool {
        if self
            .stopping_count
            .load(std::sync::atomic::Ordering::Acquire)
            == 0
        {
            return false;
        }
        let stopping = self.stopping.lock();
        let kept = self.kept.read();
        served.into_iter().all(|c| {
            stopping.contains(c) || kept.get(c.as_str()).is_some_and(|k| k.moved.is_some())
        })
    }

    /// The currency named by a successor's credential, if it is that currency's.
    pub fn check(&self, code: &str, credential: &str) -> Result<(), ServiceError> {
        let kept = self.kept.read();
        let Some(expected) = kept.get(code).and_then(|k| k.credential_hash.as_deref()) else {
            return Err(ServiceError::unauthorized());
        };
        if constant_time_eq::constant_time_eq(expected.as_bytes(), hash_hex(credential).as_bytes())
        {
            Ok(())
        } else {
            Err(ServiceError::unauthorized())
        }
    }
}

/// An operator of `code` issues a successor credential (a new one replaces the last).
pub fn issue_credential(
    service: &Service,
    caller: &Caller,
    code: &str,
) -> Result<Credential, ServiceError> {
    if caller.role != Role::Operator || !caller.currencies.iter().any(|c| c == code) {
        return Err(ServiceError::forbidden());
    }
    if !service.currencies.contains_key(code) {
        return Err(ServiceError::not_found("currency"));
    }
    let credential = service.handover.issue(code)?;
    tracing::info!(
        currency = code,
        user = caller.user_id,
        "successor credential issued"
    );
    Ok(Credential {
        currency: code.to_owned(),
        credential,
    })
}

impl Handover {
    /// A new successor credential for `code` (the last one stops working). The
    /// operator's route asks this after checking who asks; a rehearsal asks it of a
    /// copy of the data directory.
    pub fn issue(&self, code: &str) -> Result<String, ServiceError> {
        if self.unsupported {
            return Err(unsupported());
        }
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        let credential = format!("mhs_{}", blake3::Hash::from(bytes).to_hex());
        let mut k = self.kept.read().get(code).cloned().unwrap_or_default();
        if k.moved.is_some() {
            return Err(ServiceError::new(
                http::StatusCode::CONFLICT,
                "already_moved",
                "이미 새 운영사로 옮겨진 지역화폐입니다.",
                "This currency has already moved to its new operator.",
            ));
        }
        k.credential_hash = Some(hash_hex(&credential));
        k.issued_at_us = Some(crate::now_us());
        self.keep(code, k)?;
        Ok(credential)
    }
}

/// Why no operator change can start here.
fn unsupported() -> ServiceError {
    ServiceError::new(
        http::StatusCode::CONFLICT,
        "operator_change_unsupported",
        "PostgreSQL 저장소에서는 운영사 변경을 아직 할 수 없습니다. 새 운영사에 넘기려면 먼저 데이터 디렉터리로 옮겨야 합니다.",
        "An operator change cannot be made from a PostgreSQL store yet. To hand over to a new operator, move the currency to a data directory first.",
    )
}

fn currency<'a>(service: &'a Service, code: &str) -> Result<&'a Currency, ServiceError> {
    service
        .currencies
        .get(code)
        .ok_or_else(|| ServiceError::not_found("currency"))
}

/// The records after `after` that this node has made durable, for a successor.
pub fn feed(
    service: &Service,
    code: &str,
    credential: &str,
    after: u64,
) -> Result<Feed, ServiceError> {
    service.handover.check(code, credential)?;
    let currency = currency(service, code)?;
    let durable_seq = currency.engine.durable_seq();
    let mut feed = Feed {
        durable_seq,
        moved: service.handover.moved(code),
        ..Feed::default()
    };
    if after >= durable_seq {
        return Ok(feed);
    }
    let from = after + 1;
    let position = service
        .handover
        .positions
        .lock()
        .get(code)
        .filter(|(seq, _, _)| *seq == from)
        .map(|(_, offset, hash)| (*offset, *hash));
    let mut next = None;
    let mut visit = |rec: journal::Record| {
        if rec.seq > durable_seq
            || (feed.records > 0 && feed.body.len() + rec.payload.len() + 52 > FEED_BYTES_MAX)
        {
            return ControlFlow::Break(());
        }
        let len = u32::try_from(rec.payload.len()).unwrap_or(u32::MAX);
        feed.body.extend_from_slice(&rec.seq.to_le_bytes());
        feed.body.extend_from_slice(&rec.timestamp_us.to_le_bytes());
        feed.body.extend_from_slice(&len.to_le_bytes());
        feed.body.extend_from_slice(&rec.payload);
        feed.body.extend_from_slice(rec.hash.as_bytes());
        feed.records += 1;
        next = Some((
            rec.seq + 1,
            rec.offset + journal::record_len(rec.payload.len() as u64),
            rec.hash,
        ));
        ControlFlow::Continue(())
    };
    let read = currency.storage.read_records_at(from, position, &mut visit);
    if let Err(e) = read {
        // A stale position (another process rewrote the file) reads from the start.
        tracing::warn!(currency = code, error = %e, "journal feed read failed; reading from the start");
        service.handover.positions.lock().remove(code);
        return Err(ServiceError::unavailable(format!(
            "the journal could not be read: {e}"
        )));
    }
    if let Some(n) = next {
        service.handover.positions.lock().insert(code.to_owned(), n);
    }
    Ok(feed)
}

fn check_recipient(recipient: &str) -> Result<(), ServiceError> {
    let recipient = recipient.trim();
    if !recipient.starts_with("age1")
        || recipient.len() < 20
        || !recipient.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(ServiceError::bad_request(
            "recipient_invalid",
            "the successor's public key is an age X25519 key: age1…",
        ));
    }
    Ok(())
}

fn check_address(to: &str) -> Result<(), ServiceError> {
    let bad = || {
        ServiceError::bad_request(
            "address_invalid",
            "the successor's address is http:// or https://, a host, and no user or password",
        )
    };
    let rest = to
        .strip_prefix("https://")
        .or_else(|| to.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty()
        || host.contains('@')
        || to.len() > 512
        || to.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    Ok(())
}

/// Marks a currency as stopping for its cutover while alive.
struct Stopping<'a> {
    handover: &'a Handover,
    code: String,
}

impl<'a> Stopping<'a> {
    fn begin(handover: &'a Handover, code: &str) -> Stopping<'a> {
        if handover.stopping.lock().insert(code.to_owned()) {
            handover
                .stopping_count
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        Stopping {
            handover,
            code: code.to_owned(),
        }
    }
}

impl Drop for Stopping<'_> {
    fn drop(&mut self) {
        if self.handover.stopping.lock().remove(&self.code) {
            self.handover
                .stopping_count
                .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        }
    }
}

/// How far a cutover is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CutoverState {
    /// Still making the set (it grows with the currency: minutes for millions).
    Running,
    Moved(Moved),
}

/// How long a cutover request waits for the cutover before answering that it runs.
pub const CUTOVER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The cutover: this node stops writing `code` with a journaled halt, makes the set
/// of everything else for the successor, tells people, and sends everyone on. It runs
/// in the background (a big currency's set takes longer than a request may); the
/// request waits up to [`CUTOVER_WAIT`] and answers `Running` or `Moved`. Asked again
/// (the successor lost the answer, or polls), it answers how far it is; once moved,
/// the same.
pub async fn cutover(
    service: &Arc<Service>,
    code: &str,
    credential: &str,
    req: CutoverRequest,
) -> Result<CutoverState, ServiceError> {
    service.handover.check(code, credential)?;
    check_address(&req.to)?;
    let h = &service.handover;
    if let Some(e) = h.failed.lock().remove(code) {
        return Err(e);
    }
    let start = {
        let mut running = h.running.lock();
        running.insert(code.to_owned())
    };
    if start {
        let (service, code, credential) =
            (Arc::clone(service), code.to_owned(), credential.to_owned());
        tokio::spawn(async move {
            let done = run_cutover(&service, &code, &credential, req).await;
            if let Err(e) = done {
                tracing::error!(currency = %code, error = %e.en, "the cutover failed; it runs again when asked again");
                service.handover.failed.lock().insert(code.clone(), e);
            }
            service.handover.running.lock().remove(&code);
        });
    }
    let until = tokio::time::Instant::now() + CUTOVER_WAIT;
    loop {
        if let Some(m) = h.moved(code) {
            return Ok(CutoverState::Moved(m));
        }
        let stopped = !h.running.lock().contains(code);
        if stopped && let Some(e) = h.failed.lock().remove(code) {
            return Err(e);
        }
        if tokio::time::Instant::now() >= until {
            return Ok(CutoverState::Running);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn run_cutover(
    service: &Service,
    code: &str,
    credential: &str,
    req: CutoverRequest,
) -> Result<Moved, ServiceError> {
    service.handover.check(code, credential)?;
    check_address(&req.to)?;
    // Checked before the halt: a set that cannot be made would leave the currency
    // stopped here and not yet there.
    check_recipient(&req.recipient)?;
    let currency = currency(service, code)?;
    let _one = service.handover.cutover.lock().await;
    if let Some(m) = service.handover.moved(code) {
        if m.to == req.to.trim_end_matches('/') {
            return Ok(m);
        }
        return Err(moved_error(&m));
    }
    let base = match &req.base {
        None => None,
        Some(id) => {
            let held = service
                .handover
                .kept
                .read()
                .get(code)
                .and_then(|k| k.base_id.clone());
            let dir = service
                .handover
                .currency_dir(code)
                .map(|d| d.join(BASE_DIR));
            match (held, dir) {
                (Some(held), Some(dir)) if held == *id => Some((dir, held)),
                _ => {
                    return Err(ServiceError::new(
                        http::StatusCode::CONFLICT,
                        "base_unknown",
                        "이전에 받은 기준 자료가 더 이상 유효하지 않습니다. 기준 자료를 다시 받아 주세요.",
                        "The base set named is not this node's latest: take a new base, then ask again.",
                    )
                    .detail(format!("base {id} is not the one held here")));
                }
            }
        }
    };
    let to = req.to.trim_end_matches('/').to_owned();
    let _stopping = Stopping::begin(&service.handover, code);
    let text = |s: String| {
        Text::new(s).map_err(|e| ServiceError::bad_request("text_invalid", e.to_string()))
    };
    let key = ledger_key(&format!("cutover {code} {to}"));
    let halt = Envelope {
        client: CLIENT,
        key,
        command: Command::Halt {
            operator: text(HALTED_BY.to_owned())?,
            reason: text(format!("operator change to {to}"))?,
        },
    };
    let cause = format!("moved to {to}");
    let halted_here = currency.engine.read(|l| {
        l.halted().is_some_and(|h| {
            matches!(&h.cause, ledger::HaltCause::Operator { operator, .. } if operator.as_str() == HALTED_BY)
        })
    });
    if halted_here {
        // A cutover cut short after its halt was written: nothing is taken since.
        currency.engine.seal(&cause);
    } else {
        // The halt is the last command this node takes: its record is the last one.
        let ticket = currency
            .engine
            .submit_last(vec![halt], &cause)
            .map_err(|e| ServiceError::unavailable(e.to_string()))?;
        let outcome = ticket
            .outcome()
            .await
            .map_err(|e| ServiceError::unavailable(e.to_string()))?;
        if let Some(o) = outcome.first()
            && let Err(r) = &o.result
        {
            // Halted already (an operator stopped it first): it stays halted all the same.
            tracing::warn!(
                currency = code,
                code = r.code().as_str(),
                "cutover halt refused; the currency was halted already"
            );
        }
    }
    let cut = match (
        &service.handover.exporter,
        service.handover.currency_dir(code),
    ) {
        (Some(exporter), Some(dir)) => {
            let job = SetJob {
                code: code.to_owned(),
                recipient: req.recipient.clone(),
                out: dir.join(SET_DIR),
                engine: Arc::clone(&currency.engine),
                kind: SetKind::Cutover { base },
            };
            let exporter = Arc::clone(exporter);
            tokio::task::spawn_blocking(move || {
                if job.out.exists() {
                    std::fs::remove_dir_all(&job.out).map_err(|e| e.to_string())?;
                }
                exporter(&job)
            })
            .await
            .map_err(|e| ServiceError::internal(e.to_string()))?
            .map_err(|e| ServiceError::bad_request("handover_set_failed", e))?
        }
        _ => {
            let (seq, head) = currency.engine.durable_head();
            SetMade {
                seq,
                head_hash: head.to_string(),
                state_hash: currency.engine.read(|l| l.state_hash().to_string()),
                id: String::new(),
            }
        }
    };
    let seq = cut.seq;
    let moved = Moved {
        to: to.clone(),
        seq,
        head_hash: cut.head_hash,
        state_hash: cut.state_hash,
        at_us: crate::now_us(),
    };
    let mut k = service
        .handover
        .kept
        .read()
        .get(code)
        .cloned()
        .unwrap_or_default();
    k.moved = Some(moved.clone());
    service.handover.keep(code, k)?;
    let notice = Notice {
        id: 0,
        currency: code.to_owned(),
        title_ko: "운영사가 바뀌었습니다".to_owned(),
        title_en: "Our operator has changed".to_owned(),
        body_ko: format!(
            "지역화폐 서비스가 새 운영사로 옮겨졌습니다. 잔액과 가맹점 QR은 그대로이며, {to} 에서 계속 이용하실 수 있습니다."
        ),
        body_en: format!(
            "The currency has moved to its new operator. Balances and shop QR codes stay as they are; carry on at {to}."
        ),
        at: moved.at_us / 1_000_000,
    };
    if let Err(e) = service.auth.publish_notice(&notice) {
        tracing::warn!(currency = code, error = %e.en, "the cutover notice was not kept");
    }
    tracing::info!(currency = code, to = %to, seq, "cutover: writes stopped here, moved");
    Ok(moved)
}

/// How far a base set is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BaseState {
    Running,
    Made(BaseMade),
}

/// A base set for the successor: a first copy of people and registry, made while
/// this node goes on serving (in the background; the request waits up to
/// [`CUTOVER_WAIT`]), replacing an earlier base. Asked again while it runs, it answers
/// how far it is; once made, a new request makes a new base.
pub async fn base(
    service: &Arc<Service>,
    code: &str,
    credential: &str,
    req: BaseRequest,
) -> Result<BaseState, ServiceError> {
    service.handover.check(code, credential)?;
    check_recipient(&req.recipient)?;
    currency(service, code)?;
    let h = &service.handover;
    if let Some(m) = h.moved(code) {
        return Err(moved_error(&m));
    }
    if let Some(e) = h.bases_failed.lock().remove(code) {
        return Err(e);
    }
    let was_made = h.kept.read().get(code).and_then(|k| k.base_id.clone());
    let start = h.bases_running.lock().insert(code.to_owned());
    if start {
        let (service, code) = (Arc::clone(service), code.to_owned());
        tokio::spawn(async move {
            if let Err(e) = make_base(&service, &code, req).await {
                tracing::error!(currency = %code, error = %e.en, "the base set failed");
                service.handover.bases_failed.lock().insert(code.clone(), e);
            }
            service.handover.bases_running.lock().remove(&code);
        });
    }
    let until = tokio::time::Instant::now() + CUTOVER_WAIT;
    loop {
        let running = h.bases_running.lock().contains(code);
        if !running {
            if let Some(e) = h.bases_failed.lock().remove(code) {
                return Err(e);
            }
            let made = h.kept.read().get(code).and_then(|k| k.base_id.clone());
            if let Some(id) = made.filter(|id| !start || Some(id) != was_made.as_ref()) {
                return Ok(BaseState::Made(BaseMade { id }));
            }
        }
        if tokio::time::Instant::now() >= until {
            return Ok(BaseState::Running);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn make_base(service: &Service, code: &str, req: BaseRequest) -> Result<(), ServiceError> {
    let currency = currency(service, code)?;
    let (Some(exporter), Some(dir)) = (
        &service.handover.exporter,
        service.handover.currency_dir(code),
    ) else {
        return Err(ServiceError::unavailable(
            "this node makes no sets (no exporter)",
        ));
    };
    // One at a time with the cutover: a base is not made while the currency stops.
    let _one = service.handover.cutover.lock().await;
    if let Some(m) = service.handover.moved(code) {
        return Err(moved_error(&m));
    }
    let job = SetJob {
        code: code.to_owned(),
        recipient: req.recipient,
        out: dir.join(BASE_DIR),
        engine: Arc::clone(&currency.engine),
        kind: SetKind::Base,
    };
    let exporter = Arc::clone(exporter);
    let made = tokio::task::spawn_blocking(move || exporter(&job))
        .await
        .map_err(|e| ServiceError::internal(e.to_string()))?
        .map_err(|e| ServiceError::bad_request("handover_set_failed", e))?;
    let mut k = service
        .handover
        .kept
        .read()
        .get(code)
        .cloned()
        .unwrap_or_default();
    k.base_id = Some(made.id.clone());
    service.handover.keep(code, k)?;
    tracing::info!(currency = code, id = %made.id, at_seq = made.seq, "base set made for the successor");
    Ok(())
}

/// A file of the base set (`manifest.json`, then the files it lists).
pub fn base_file(
    service: &Service,
    code: &str,
    credential: &str,
    name: &str,
) -> Result<PathBuf, ServiceError> {
    service.handover.check(code, credential)?;
    if service
        .handover
        .kept
        .read()
        .get(code)
        .and_then(|k| k.base_id.as_ref())
        .is_none()
    {
        return Err(ServiceError::not_found("base set (ask for one first)"));
    }
    let dir = service
        .handover
        .currency_dir(code)
        .ok_or_else(|| ServiceError::not_found("base set"))?
        .join(BASE_DIR);
    listed_file(&dir, name).ok_or_else(|| ServiceError::not_found("file of the base set"))
}

/// `name` in the set in `dir`, if it is `manifest.json` or a file the manifest lists.
fn listed_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let listed = name == "manifest.json" || {
        let manifest: serde_json::Value = std::fs::read(dir.join("manifest.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        manifest["files"]
            .as_array()
            .is_some_and(|files| files.iter().any(|f| f["name"] == name))
    };
    (listed && !name.contains(['/', '\\']) && !name.starts_with('.')).then(|| dir.join(name))
}

/// A file of the set made at the cutover (one the set's manifest lists), for the
/// successor.
pub fn set_file(
    service: &Service,
    code: &str,
    credential: &str,
    name: &str,
) -> Result<PathBuf, ServiceError> {
    service.handover.check(code, credential)?;
    if service.handover.moved(code).is_none() {
        return Err(ServiceError::not_found(
            "handover set (ask for the cutover first)",
        ));
    }
    let dir = service
        .handover
        .currency_dir(code)
        .ok_or_else(|| ServiceError::not_found("handover set"))?
        .join(SET_DIR);
    listed_file(&dir, name).ok_or_else(|| ServiceError::not_found("file of the handover set"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_successor_address_is_a_plain_http_address() {
        for good in [
            "https://new.example",
            "http://127.0.0.1:8080/",
            "https://x.kr/base",
        ] {
            assert!(check_address(good).is_ok(), "{good}");
        }
        for bad in [
            "ftp://x",
            "https://",
            "https://user:pw@x.kr",
            "javascript:alert(1)",
            "https://x.kr/\n",
            "//x.kr",
        ] {
            assert!(check_address(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_node_stops_taking_requests_only_while_every_currency_it_serves_stops() {
        let h = Handover::default();
        let (busan, seoul) = ("busan".to_owned(), "seoul".to_owned());
        assert!(!h.everything_stopping([&busan]));
        {
            let _stopping = Stopping::begin(&h, "busan");
            assert!(h.everything_stopping([&busan]));
            assert!(
                !h.everything_stopping([&busan, &seoul]),
                "seoul still serves here"
            );
        }
        assert!(
            !h.everything_stopping([&busan]),
            "a failed cutover serves again"
        );
    }

    #[test]
    fn only_the_issued_credential_opens_the_feed_and_it_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("currencies/busan")).unwrap();
        let h = Handover::open(dir.path(), None).unwrap();
        assert!(h.check("busan", "anything").is_err(), "none issued yet");
        h.keep(
            "busan",
            Kept {
                credential_hash: Some(hash_hex("mhs_right")),
                ..Kept::default()
            },
        )
        .unwrap();
        assert!(h.check("busan", "mhs_right").is_ok());
        assert!(h.check("busan", "mhs_wrong").is_err());
        assert!(h.check("seoul", "mhs_right").is_err(), "another currency's");
        let again = Handover::open(dir.path(), None).unwrap();
        assert!(again.check("busan", "mhs_right").is_ok());
        let raw = std::fs::read_to_string(dir.path().join("currencies/busan").join(FILE)).unwrap();
        assert!(!raw.contains("mhs_right"), "only its hash is kept");
    }
}
