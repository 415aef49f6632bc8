//! [`SimBank`]: an in-memory bank behind the same HTTP API the client speaks, with
//! switchable, seeded faults ([`FaultPlan`]) so that every way a real bank misbehaves can
//! be produced on demand — while the simulated bank's own books stay exact, so a test can
//! compare what maeul concluded with what the bank really did.

mod core;
mod http;

use std::net::SocketAddr;
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
use crate::types::{AccountNo, OrderStatus, Reference};
use crate::wire::{AccountInfo, NewAccount};

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
        for (name, p) in transfer.iter().chain(std::iter::once(&(
            "status_fail_permille",
            self.status_fail_permille,
        ))) {
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

/// State shared by the HTTP handlers, held tasks and the handle.
pub(crate) struct Shared {
    core: Mutex<Core>,
    faults: Mutex<(FaultPlan, SmallRng)>,
    /// Requests currently parked by a timeout or late fault.
    holds: AtomicUsize,
    in_flight: Arc<Semaphore>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("core", &*self.core.lock())
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
        for account in config.accounts {
            let number = account.number.clone();
            core.upsert_account(account)
                .with_context(|| format!("opening account {number}"))?;
        }
        let shared = Arc::new(Shared {
            core: Mutex::new(core),
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
    /// decided by their own tasks regardless, and remain visible through this handle.
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
    }

    /// Opens an account or resets an existing one's holder and balance, as
    /// `POST /v1/accounts` does.
    pub fn open_account(&self, account: NewAccount) -> Result<AccountInfo, AdminError> {
        self.shared
            .core
            .lock()
            .upsert_account(account)
            .map(|(info, _)| info)
    }

    pub fn close_account(&self, number: &AccountNo) -> Result<AccountInfo, AdminError> {
        self.shared.core.lock().close_account(number)
    }

    pub fn account(&self, number: &AccountNo) -> Option<AccountInfo> {
        self.shared.core.lock().account(number)
    }

    pub fn balance(&self, number: &AccountNo) -> Option<i64> {
        self.account(number).map(|a| a.balance)
    }

    /// What `GET /v1/transfers/{reference}` says, without the `status_fail` fault.
    pub fn status(&self, reference: &Reference) -> OrderStatus {
        self.shared.core.lock().status(reference)
    }

    /// The transaction this reference executed, if money moved.
    pub fn executed(&self, reference: &Reference) -> Option<Executed> {
        self.shared.core.lock().executed(reference)
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
        self.shared.core.lock().now()
    }

    /// Requests currently parked by a timeout or late fault; zero means every order the
    /// bank will ever decide on its own has been decided.
    pub fn holds(&self) -> usize {
        self.shared.holds.load(Ordering::SeqCst)
    }

    /// Cross-checks the books: balances against statement lines, executions against
    /// references (at most once), final answers against the feed, and total money.
    pub fn audit(&self) -> AuditReport {
        self.shared.core.lock().audit()
    }
}

impl Drop for SimBankHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
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
