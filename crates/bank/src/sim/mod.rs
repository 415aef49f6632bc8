//! [`SimBank`]: an in-memory bank behind the same HTTP API the client speaks, with
//! switchable, seeded faults ([`FaultPlan`]) so that every way a real bank misbehaves can
//! be produced on demand — while the simulated bank's own books stay exact, so a test can
//! compare what maeul concluded with what the bank really did.

mod core;
mod http;
mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;

use self::core::{Clock, Core, Limits};
use self::store::Store;
use crate::types::{AccountNo, OrderStatus, Reference, StatementLine};
use crate::wire::{AccountInfo, NewAccount, PAGE_LIMIT_MAX};

/// Counterparty of the statement lines that book an administrator's balance change.
/// Reserved: no account can be opened under this number.
pub const ADJUSTMENT_ACCOUNT: &str = "SIMBANK-ADJUST";

/// Longest delay a fault may impose, so a plan cannot park requests for hours.
pub const FAULT_DELAY_MS_MAX: u64 = 600_000;

/// Which faults the simulated bank injects, as integer per-mille probabilities.
///
/// Each transfer request draws one number in `0..1000` from the seeded RNG and gets at
/// most one transfer fault (so the transfer probabilities must add up to at most 1000);
/// each status request draws separately for `status_fail_permille`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPlan {
    /// Not executed; held `timeout_ms`, then answered 504.
    pub timeout_permille: u32,
    pub timeout_ms: u64,
    /// Held `late_ms`, then executed (if the bank's clock is still within `not_after_ms`,
    /// else rejected `expired`), then answered. `status` says `unknown` meanwhile.
    pub late_permille: u32,
    pub late_ms: u64,
    /// Executed, then answered 502: the money moved, the answer is lost.
    pub lost_answer_permille: u32,
    /// Executed, answered correctly after `slow_ms`.
    pub slow_permille: u32,
    pub slow_ms: u64,
    /// Executed and answered, and the answer put into the feed twice.
    pub duplicate_permille: u32,
    /// Refused with `declined`.
    pub reject_permille: u32,
    /// `GET /v1/transfers/{reference}` answers 503.
    pub status_fail_permille: u32,
    /// `GET /v1/accounts/{number}/holder` (holder-name enquiry) answers 503.
    pub enquiry_fail_permille: u32,
}

impl Default for FaultPlan {
    /// No faults; the delays are set longer than [`crate::HttpBank::DEFAULT_TIMEOUT`] so
    /// that switching on a timeout or late fault alone does what its name says.
    fn default() -> Self {
        Self {
            timeout_permille: 0,
            timeout_ms: 3_000,
            late_permille: 0,
            late_ms: 3_000,
            lost_answer_permille: 0,
            slow_permille: 0,
            slow_ms: 500,
            duplicate_permille: 0,
            reject_permille: 0,
            status_fail_permille: 0,
            enquiry_fail_permille: 0,
        }
    }
}

/// A [`FaultPlan`] that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault plan: {0}")]
pub struct InvalidFaultPlan(pub String);

/// The fault chosen for one transfer request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    Timeout(Duration),
    Late(Duration),
    LostAnswer,
    Slow(Duration),
    Duplicate,
    Reject,
}

impl FaultPlan {
    /// No faults at all.
    pub fn none() -> Self {
        Self::default()
    }

    pub fn validate(&self) -> Result<(), InvalidFaultPlan> {
        let transfer = [
            ("timeout_permille", self.timeout_permille),
            ("late_permille", self.late_permille),
            ("lost_answer_permille", self.lost_answer_permille),
            ("slow_permille", self.slow_permille),
            ("duplicate_permille", self.duplicate_permille),
            ("reject_permille", self.reject_permille),
        ];
        let reads = [
            ("status_fail_permille", self.status_fail_permille),
            ("enquiry_fail_permille", self.enquiry_fail_permille),
        ];
        for (name, p) in transfer.iter().chain(reads.iter()) {
            if *p > 1000 {
                return Err(InvalidFaultPlan(format!("{name} is {p}, above 1000")));
            }
        }
        let sum: u32 = transfer.iter().map(|(_, p)| p).sum();
        if sum > 1000 {
            return Err(InvalidFaultPlan(format!(
                "transfer fault probabilities add up to {sum} per mille, above 1000"
            )));
        }
        for (name, ms) in [
            ("timeout_ms", self.timeout_ms),
            ("late_ms", self.late_ms),
            ("slow_ms", self.slow_ms),
        ] {
            if ms > FAULT_DELAY_MS_MAX {
                return Err(InvalidFaultPlan(format!(
                    "{name} is {ms}, above {FAULT_DELAY_MS_MAX}"
                )));
            }
        }
        Ok(())
    }

    /// Maps a roll in `0..1000` onto consecutive ranges, one per fault.
    pub(crate) fn pick(&self, roll: u32) -> Fault {
        let ms = Duration::from_millis;
        let ranges = [
            (self.timeout_permille, Fault::Timeout(ms(self.timeout_ms))),
            (self.late_permille, Fault::Late(ms(self.late_ms))),
            (self.lost_answer_permille, Fault::LostAnswer),
            (self.slow_permille, Fault::Slow(ms(self.slow_ms))),
            (self.duplicate_permille, Fault::Duplicate),
            (self.reject_permille, Fault::Reject),
        ];
        let mut upto = 0;
        for (p, fault) in ranges {
            upto += p;
            if roll < upto {
                return fault;
            }
        }
        Fault::None
    }
}

/// How to run a simulated bank.
#[derive(Debug, Clone)]
pub struct SimBankConfig {
    /// Seeds the fault RNG: the same seed and the same sequence of requests give the
    /// same faults.
    pub seed: u64,
    pub faults: FaultPlan,
    /// Accounts opened before the bank starts listening.
    pub accounts: Vec<NewAccount>,
    /// Orders remembered (every reference is kept forever so it executes at most once);
    /// new references are refused with 507 beyond this.
    pub orders_max: usize,
    pub accounts_max: usize,
    /// Largest request body.
    pub body_bytes_max: usize,
    /// Requests handled at once; more are answered 503 at once.
    pub requests_in_flight_max: usize,
    /// Where the books are kept (a SQLite file, created if missing): every change is
    /// written there before it is answered, and a bank started again from the same file
    /// has the same accounts, balances, statements, answer feed and references (a
    /// retried order is answered as before, never executed twice). `None`: in memory
    /// only, forgotten when the bank stops.
    pub path: Option<PathBuf>,
}

impl Default for SimBankConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            faults: FaultPlan::none(),
            accounts: Vec::new(),
            orders_max: 10_000_000,
            accounts_max: 1_000_000,
            body_bytes_max: 64 * 1024,
            requests_in_flight_max: 4096,
            path: None,
        }
    }
}

/// Why an administrative call on the simulated bank failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("no account {0}")]
    NotFound(AccountNo),
    #[error("{0}")]
    Full(String),
    /// The books could not be written; the bank answers nothing until restarted.
    #[error("the bank's books are unavailable: {0}")]
    Unavailable(String),
}

/// An order the simulated bank executed (money moved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    pub bank_tx_id: u64,
    pub debit: AccountNo,
    pub credit: AccountNo,
    pub amount: i64,
    pub at_ms: u64,
}

/// The simulated bank's self-check: counts, and every inconsistency found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    pub accounts: usize,
    /// References known (held or final).
    pub orders: usize,
    /// References reserved by a `late` fault and not yet decided.
    pub orders_held: usize,
    pub completed: usize,
    pub rejected: usize,
    /// Executed orders (excluding balance adjustments).
    pub transactions: usize,
    /// Entries in the answer feed, duplicates included.
    pub answers: usize,
    /// Sum of all balances; equals `adjustments_total` because transfers create no money.
    pub total_balance: i128,
    pub adjustments_total: i128,
    pub problems: Vec<String>,
}

impl AuditReport {
    pub fn is_consistent(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The books could not be written: the change that failed may be in memory without
/// being on disk, so nothing more is answered (restarting loads what is on disk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unavailable(pub(crate) String);

/// The books and where they are kept.
pub(crate) struct Books {
    pub(crate) core: Core,
    store: Option<Store>,
    failed: Option<String>,
}

impl Books {
    /// Closes the store: nothing more is changed or answered (a hold that ends later
    /// finds the books closed, as if the process had stopped).
    fn close(&mut self) {
        if self.store.take().is_some() && self.failed.is_none() {
            self.failed = Some("the bank has stopped".into());
        }
    }

    /// Runs `f` on the books and writes what it changed before returning, so nobody
    /// can see a change (in an answer, a status, a statement) that is not durable.
    pub(crate) fn change<T>(&mut self, f: impl FnOnce(&mut Core) -> T) -> Result<T, Unavailable> {
        if let Some(why) = &self.failed {
            return Err(Unavailable(why.clone()));
        }
        let out = f(&mut self.core);
        let events = self.core.take_log();
        if let Some(store) = self.store.as_mut()
            && let Err(e) = store.append(&events)
        {
            let why = format!("writing the books failed: {e:#}");
            tracing::error!(error = %why, "simulated bank stops answering");
            self.failed = Some(why.clone());
            return Err(Unavailable(why));
        }
        Ok(out)
    }

    /// Reads the books (refused once a write has failed).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Core) -> T) -> Result<T, Unavailable> {
        match &self.failed {
            Some(why) => Err(Unavailable(why.clone())),
            None => Ok(f(&self.core)),
        }
    }
}

/// State shared by the HTTP handlers, held tasks and the handle.
pub(crate) struct Shared {
    books: Mutex<Books>,
    faults: Mutex<(FaultPlan, SmallRng)>,
    /// Requests currently parked by a timeout or late fault.
    holds: AtomicUsize,
    in_flight: Arc<Semaphore>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("core", &self.books.lock().core)
            .field("faults", &self.faults.lock().0)
            .field("holds", &self.holds.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn roll(&self) -> (FaultPlan, u32) {
        let mut guard = self.faults.lock();
        let roll = guard.1.random_range(0..1000);
        (guard.0.clone(), roll)
    }

    pub(crate) fn transfer_fault(&self) -> Fault {
        let (plan, roll) = self.roll();
        plan.pick(roll)
    }

    pub(crate) fn status_fails(&self) -> bool {
        let (plan, roll) = self.roll();
        roll < plan.status_fail_permille
    }

    pub(crate) fn enquiry_fails(&self) -> bool {
        let (plan, roll) = self.roll();
        roll < plan.enquiry_fail_permille
    }
}

/// Counts a parked request for as long as it lives (including when the client gives up
/// and the handler is dropped).
pub(crate) struct HoldGuard(Arc<Shared>);

impl HoldGuard {
    pub(crate) fn new(shared: &Arc<Shared>) -> Self {
        shared.holds.fetch_add(1, Ordering::SeqCst);
        Self(shared.clone())
    }
}

impl Drop for HoldGuard {
    fn drop(&mut self) {
        self.0.holds.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The simulated bank. [`SimBank::start`] serves it; the returned handle inspects it.
#[derive(Debug)]
pub struct SimBank {
    _private: (),
}

impl SimBank {
    /// Binds `addr` (port 0 picks a free port) and serves the bank on the current tokio
    /// runtime until [`SimBankHandle::shutdown`] or the handle is dropped.
    pub async fn start(addr: SocketAddr, config: SimBankConfig) -> anyhow::Result<SimBankHandle> {
        config.faults.validate()?;
        if config.orders_max == 0 || config.accounts_max == 0 {
            bail!("orders_max and accounts_max must be positive");
        }
        if config.requests_in_flight_max == 0 || config.body_bytes_max == 0 {
            bail!("requests_in_flight_max and body_bytes_max must be positive");
        }
        let mut core = Core::new(
            Clock::System,
            Limits {
                orders_max: config.orders_max,
                accounts_max: config.accounts_max,
            },
        );
        let store = match &config.path {
            None => None,
            Some(path) => {
                let (store, events) = Store::open(path)?;
                let n = events.len();
                for (i, event) in events.into_iter().enumerate() {
                    core.replay(event).map_err(|e| {
                        anyhow::anyhow!("{}: change {} of {n}: {e}", path.display(), i + 1)
                    })?;
                }
                let audit = core.audit();
                if !audit.is_consistent() {
                    bail!(
                        "{}: the books do not add up: {:?}",
                        path.display(),
                        audit.problems
                    );
                }
                tracing::info!(path = %path.display(), changes = n, accounts = audit.accounts, orders = audit.orders, "simulated bank's books loaded");
                core.keep_log();
                Some(store)
            }
        };
        let mut books = Books {
            core,
            store,
            failed: None,
        };
        // A restarted bank keeps its accounts: only the missing ones are opened.
        for account in config.accounts {
            let number = account.number.clone();
            if books.core.account(&number).is_some() {
                continue;
            }
            books
                .change(|c| c.upsert_account(account))
                .map_err(|e| anyhow::anyhow!(e.0))?
                .with_context(|| format!("opening account {number}"))?;
        }
        // Orders a `late` fault held when the bank stopped: their hold is over.
        for reference in books.core.held() {
            books
                .change(|c| c.finish_held(&reference))
                .map_err(|e| anyhow::anyhow!(e.0))?;
        }
        let shared = Arc::new(Shared {
            books: Mutex::new(books),
            faults: Mutex::new((config.faults, SmallRng::seed_from_u64(config.seed))),
            holds: AtomicUsize::new(0),
            in_flight: Arc::new(Semaphore::new(
                config.requests_in_flight_max.min(Semaphore::MAX_PERMITS),
            )),
        });
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let app = http::router(shared.clone(), config.body_bytes_max);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let result = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    // A dropped sender also stops the server.
                    let _ = stop_rx.await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "simulated bank server failed");
            }
        });
        tracing::info!(%addr, "simulated bank listening");
        Ok(SimBankHandle {
            addr,
            url: format!("http://{addr}"),
            shared,
            stop: Some(stop_tx),
            server: Some(server),
        })
    }
}

/// A running simulated bank: its address, a stop switch, and direct access to its books
/// (bypassing HTTP and faults) so tests can check the bank side independently.
#[derive(Debug)]
pub struct SimBankHandle {
    addr: SocketAddr,
    url: String,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl SimBankHandle {
    /// How long [`SimBankHandle::shutdown`] waits for requests in progress.
    pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

    /// `http://ip:port`, for [`crate::HttpBank::new`].
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets requests in progress finish (at most
    /// [`Self::SHUTDOWN_GRACE`]), then returns. Orders parked by a `late` fault are
    /// decided by their own tasks regardless when the books are in memory; books kept
    /// in a file are closed (a held order is decided at the next start, as after a
    /// crash).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(Self::SHUTDOWN_GRACE, &mut server)
                .await
                .is_err()
        {
            server.abort();
        }
        // Kept books are closed (their file is free for the next start).
        self.shared.books.lock().close();
    }

    /// Opens an account or resets an existing one's holder and balance, as
    /// `POST /v1/accounts` does.
    pub fn open_account(&self, account: NewAccount) -> Result<AccountInfo, AdminError> {
        self.shared
            .books
            .lock()
            .change(|c| c.upsert_account(account))
            .map_err(|e| AdminError::Unavailable(e.0))?
            .map(|(info, _)| info)
    }

    pub fn close_account(&self, number: &AccountNo) -> Result<AccountInfo, AdminError> {
        self.shared
            .books
            .lock()
            .change(|c| c.close_account(number))
            .map_err(|e| AdminError::Unavailable(e.0))?
    }

    pub fn account(&self, number: &AccountNo) -> Option<AccountInfo> {
        self.shared.books.lock().core.account(number)
    }

    pub fn balance(&self, number: &AccountNo) -> Option<i64> {
        self.account(number).map(|a| a.balance)
    }

    /// What `GET /v1/transfers/{reference}` says, without the `status_fail` fault.
    pub fn status(&self, reference: &Reference) -> OrderStatus {
        self.shared.books.lock().core.status(reference)
    }

    /// The transaction this reference executed, if money moved.
    pub fn executed(&self, reference: &Reference) -> Option<Executed> {
        self.shared.books.lock().core.executed(reference)
    }

    /// The account's whole statement (what `GET /v1/accounts/{number}/statement`
    /// pages through), memos included; `None` for an unknown account.
    pub fn statement(&self, number: &AccountNo) -> Option<Vec<StatementLine>> {
        let books = self.shared.books.lock();
        let mut lines = Vec::new();
        let mut after_tx = 0;
        loop {
            let page = books
                .core
                .statement(number, 0, u64::MAX, after_tx, PAGE_LIMIT_MAX as usize)
                .ok()?;
            lines.extend(page.lines);
            match page.next_after_tx {
                Some(next) => after_tx = next,
                None => return Some(lines),
            }
        }
    }

    /// Replaces the fault plan; later requests draw from it.
    pub fn set_faults(&self, plan: FaultPlan) -> Result<(), InvalidFaultPlan> {
        plan.validate()?;
        self.shared.faults.lock().0 = plan;
        Ok(())
    }

    pub fn faults(&self) -> FaultPlan {
        self.shared.faults.lock().0.clone()
    }

    /// The bank's clock (Unix ms), the one `not_after_ms` is judged by.
    pub fn now_ms(&self) -> u64 {
        self.shared.books.lock().core.now()
    }

    /// Requests currently parked by a timeout or late fault; zero means every order the
    /// bank will ever decide on its own has been decided.
    pub fn holds(&self) -> usize {
        self.shared.holds.load(Ordering::SeqCst)
    }

    /// Cross-checks the books: balances against statement lines, executions against
    /// references (at most once), final answers against the feed, and total money.
    pub fn audit(&self) -> AuditReport {
        self.shared.books.lock().core.audit()
    }
}

impl Drop for SimBankHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.shared.books.lock().close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_ranges() {
        let plan = FaultPlan {
            timeout_permille: 100,
            late_permille: 100,
            lost_answer_permille: 100,
            slow_permille: 100,
            duplicate_permille: 100,
            reject_permille: 100,
            ..FaultPlan::none()
        };
        assert!(matches!(plan.pick(0), Fault::Timeout(_)));
        assert!(matches!(plan.pick(199), Fault::Late(_)));
        assert_eq!(plan.pick(200), Fault::LostAnswer);
        assert!(matches!(plan.pick(300), Fault::Slow(_)));
        assert_eq!(plan.pick(499), Fault::Duplicate);
        assert_eq!(plan.pick(599), Fault::Reject);
        assert_eq!(plan.pick(600), Fault::None);
        assert_eq!(FaultPlan::none().pick(0), Fault::None);
        let all = FaultPlan {
            reject_permille: 1000,
            ..FaultPlan::none()
        };
        assert_eq!(all.pick(999), Fault::Reject);
    }

    #[test]
    fn plan_validation() {
        assert!(FaultPlan::none().validate().is_ok());
        let too_much = FaultPlan {
            timeout_permille: 600,
            reject_permille: 401,
            ..FaultPlan::none()
        };
        assert!(too_much.validate().is_err());
        let status_only = FaultPlan {
            status_fail_permille: 1000,
            reject_permille: 1000,
            ..FaultPlan::none()
        };
        assert!(status_only.validate().is_ok());
        let long = FaultPlan {
            late_ms: FAULT_DELAY_MS_MAX + 1,
            ..FaultPlan::none()
        };
        assert!(long.validate().is_err());
        assert!(
            serde_json::from_str::<FaultPlan>(r#"{"timeout_permile": 5}"#).is_err(),
            "typos must not silently mean no fault"
        );
        let parsed: FaultPlan = serde_json::from_str(r#"{"late_permille": 5}"#).unwrap();
        assert_eq!(parsed.late_permille, 5);
        assert_eq!(parsed.late_ms, FaultPlan::default().late_ms);
    }
}
