//! The baseline maeul is measured against: one SQL transaction per transfer.
//!
//! This is how most payment systems move money. Each payment from a citizen to a
//! merchant is its own database transaction:
//!
//! ```sql
//! BEGIN;
//! UPDATE accounts SET balance = balance - $x WHERE id = $payer AND balance >= $x; -- 0 rows: ROLLBACK, rejected
//! UPDATE accounts SET balance = balance + $x WHERE id = $merchant;
//! INSERT INTO transfers (id, debit, credit, amount, created_at) VALUES (...);
//! COMMIT;
//! ```
//!
//! Every commit is durable (SQLite: WAL with `synchronous=FULL`; PostgreSQL:
//! `synchronous_commit=on`), as money demands. Setup (schema, funding the wallets)
//! is not timed. After each run the baseline checks itself: the sum of all
//! balances is what setup put in, no balance is negative, and there is exactly
//! one `transfers` row per committed transfer.
//!
//! Account ids: citizens are `1..=citizens`, merchants follow them, so merchant
//! #0 (the hot one) has id `citizens + 1`. Citizens are funded with
//! [`CITIZEN_FUNDING_WON`] each, merchants start at zero.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail, ensure};
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What each citizen's wallet holds at setup, in won: enough that a run of any
/// sensible length is never short of money (at most 50,000 won per payment).
pub const CITIZEN_FUNDING_WON: i64 = 1_000_000_000;

/// Smallest payment, in won.
pub const AMOUNT_MIN_WON: i64 = 1_000;
/// Largest payment, in won.
pub const AMOUNT_MAX_WON: i64 = 50_000;

/// How long [`postgres_one_tx_per_transfer`] waits for a connection before it
/// reports [`PgAvailability::Skipped`].
pub const PG_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The connection string callers use by default (trust auth on the dev machines).
pub const PG_DEFAULT_CONN: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";

/// Latencies above this are recorded as this (microseconds).
const LATENCY_MAX_US: u64 = 60_000_000;

/// The workload of one baseline run.
#[derive(Debug, Clone)]
pub struct BaselineSpec {
    /// Number of citizen wallets (payers), each funded with [`CITIZEN_FUNDING_WON`].
    pub citizens: u64,
    /// Number of merchant wallets (payees), starting empty.
    pub merchants: u64,
    /// Share (0..=100) of payments that go to merchant #0, the busy-market case;
    /// the rest go to a uniformly chosen merchant (which may also be #0). 0 = uniform.
    pub hot_merchant_percent: u8,
    /// Stop after this many transfer attempts (committed + rejected) ...
    pub transfers_max: u64,
    /// ... or after this long, whichever comes first.
    pub duration_max: Duration,
    /// Concurrent client threads, each with its own connection.
    pub clients: usize,
    /// Seed of the payment generator (client `i` uses a stream derived from `seed` and `i`).
    pub seed: u64,
}

impl Default for BaselineSpec {
    /// 100,000 citizens, 10,000 merchants, uniform, one client, at most 10 s.
    fn default() -> Self {
        Self {
            citizens: 100_000,
            merchants: 10_000,
            hot_merchant_percent: 0,
            transfers_max: u64::MAX,
            duration_max: Duration::from_secs(10),
            clients: 1,
            seed: 1,
        }
    }
}

impl BaselineSpec {
    fn validate(&self) -> anyhow::Result<()> {
        ensure!(self.citizens >= 1, "need at least one citizen");
        ensure!(self.merchants >= 1, "need at least one merchant");
        ensure!(self.clients >= 1, "need at least one client");
        ensure!(
            self.hot_merchant_percent <= 100,
            "hot_merchant_percent must be 0..=100, got {}",
            self.hot_merchant_percent
        );
        let accounts = self
            .citizens
            .checked_add(self.merchants)
            .ok_or_else(|| anyhow!("too many accounts"))?;
        ensure!(i64::try_from(accounts).is_ok(), "too many accounts");
        Ok(())
    }

    fn label(&self) -> String {
        let hot = if self.hot_merchant_percent == 0 {
            "uniform".to_string()
        } else {
            format!("hot={}%", self.hot_merchant_percent)
        };
        format!("{hot} clients={}", self.clients)
    }
}

/// The outcome of one baseline run.
#[derive(Debug, Clone)]
pub struct BaselineResult {
    /// Which baseline and workload, e.g. `sqlite one-tx-per-transfer uniform clients=1`.
    pub name: String,
    /// Transfers committed.
    pub transfers: u64,
    /// Transfers rolled back because the payer lacked the money.
    pub rejected: u64,
    /// Wall time of the timed part (all clients started to all clients done).
    pub elapsed: Duration,
    /// Committed transfers per second of `elapsed`.
    pub per_second: f64,
    /// Median latency of a committed transfer, BEGIN to COMMIT returning, in µs.
    pub latency_us_p50: u64,
    /// 99th percentile of the same, in µs.
    pub latency_us_p99: u64,
}

/// Result of [`postgres_one_tx_per_transfer`].
#[derive(Debug)]
pub enum PgAvailability {
    /// The run happened and passed its self-check.
    Ran(BaselineResult),
    /// No PostgreSQL server could be reached (within [`PG_CONNECT_TIMEOUT`]); nothing was run.
    Skipped {
        /// Why, e.g. the connection error.
        reason: String,
    },
    /// The server was reached but the run failed: a database error, a bad spec,
    /// or the baseline's own self-check (money not conserved, rows missing).
    Failed(anyhow::Error),
}

impl PgAvailability {
    /// `Ok(Some(result))` if it ran, `Ok(None)` if skipped, `Err` if it failed.
    pub fn into_result(self) -> anyhow::Result<Option<BaselineResult>> {
        match self {
            Self::Ran(r) => Ok(Some(r)),
            Self::Skipped { .. } => Ok(None),
            Self::Failed(e) => Err(e),
        }
    }
}

// ---------------------------------------------------------------------------
// The shared driver: client threads issuing transfers against a backend.

/// One client's connection, able to do one transfer as one transaction.
trait TransferClient {
    /// Runs one transfer in its own transaction. `Ok(true)` if committed,
    /// `Ok(false)` if rolled back because the payer lacked the money.
    fn transfer(&mut self, id: i64, payer: i64, merchant: i64, amount: i64)
    -> anyhow::Result<bool>;
}

/// What the client threads did, merged.
struct RunStats {
    committed: u64,
    rejected: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).context("creating latency histogram")
}

/// Picks payments the way the spec asks.
struct PaymentGen {
    rng: StdRng,
    citizens: u64,
    merchants: u64,
    hot_percent: u8,
}

impl PaymentGen {
    fn new(spec: &BaselineSpec, client: usize) -> Self {
        let stream = (client as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Self {
            rng: StdRng::seed_from_u64(spec.seed ^ stream),
            citizens: spec.citizens,
            merchants: spec.merchants,
            hot_percent: spec.hot_merchant_percent,
        }
    }

    /// `(payer, merchant, amount)` as account ids and won.
    fn next(&mut self) -> (i64, i64, i64) {
        let payer = citizen_id(self.rng.random_range(0..self.citizens));
        let merchant_index = if self.rng.random_range(0..100u8) < self.hot_percent {
            0
        } else {
            self.rng.random_range(0..self.merchants)
        };
        let merchant = merchant_id(self.citizens, merchant_index);
        let amount = self.rng.random_range(AMOUNT_MIN_WON..=AMOUNT_MAX_WON);
        (payer, merchant, amount)
    }
}

// Ids fit in i64: `BaselineSpec::validate` checks citizens + merchants does.
#[allow(clippy::cast_possible_wrap)]
fn citizen_id(index: u64) -> i64 {
    (index + 1) as i64
}

#[allow(clippy::cast_possible_wrap)]
fn merchant_id(citizens: u64, index: u64) -> i64 {
    (citizens + 1 + index) as i64
}

/// Runs `spec.clients` threads, each with a client made by `connect(i)` inside
/// the thread; timing starts once every client is connected.
fn drive<C, F>(spec: &BaselineSpec, connect: F) -> anyhow::Result<RunStats>
where
    C: TransferClient,
    F: Fn(usize) -> anyhow::Result<C> + Sync,
{
    let claimed = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let barrier = Barrier::new(spec.clients + 1);
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);

    let worker = |index: usize| -> anyhow::Result<(u64, u64, Histogram<u64>)> {
        let connected = connect(index).with_context(|| format!("connecting client {index}"));
        // Every thread reaches the barrier, connected or not, so nobody waits forever.
        barrier.wait();
        let mut client = connected?;
        let mut gen_ = PaymentGen::new(spec, index);
        let mut hist = new_histogram()?;
        let (mut committed, mut rejected) = (0u64, 0u64);
        let deadline = Instant::now() + spec.duration_max;
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            let n = claimed.fetch_add(1, Ordering::Relaxed);
            if n >= spec.transfers_max {
                break;
            }
            // The attempt number is the transfer id: unique across clients.
            let id = i64::try_from(n).context("transfer id overflow")?;
            let (payer, merchant, amount) = gen_.next();
            let started = Instant::now();
            let ok = client.transfer(id, payer, merchant, amount)?;
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            if ok {
                hist.saturating_record(micros.max(1));
                committed += 1;
            } else {
                rejected += 1;
            }
        }
        Ok((committed, rejected, hist))
    };

    let (elapsed, outcomes) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..spec.clients)
            .map(|i| {
                let worker = &worker;
                let stop = &stop;
                let first_error = &first_error;
                s.spawn(move || {
                    let outcome = worker(i);
                    if let Err(e) = &outcome {
                        stop.store(true, Ordering::Relaxed);
                        if let Ok(mut slot) = first_error.lock() {
                            slot.get_or_insert_with(|| anyhow!("{e:#}"));
                        }
                    }
                    outcome
                })
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        let outcomes: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        (started.elapsed(), outcomes)
    });

    let mut stats = RunStats {
        committed: 0,
        rejected: 0,
        elapsed,
        latency: new_histogram()?,
    };
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let (committed, rejected, hist) = match outcome {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => return Err(e.context(format!("client {i}"))),
            Err(_) => bail!("client {i} panicked"),
        };
        stats.committed += committed;
        stats.rejected += rejected;
        stats
            .latency
            .add(&hist)
            .map_err(|e| anyhow!("merging histograms: {e:?}"))?;
    }
    Ok(stats)
}

fn finish(name: String, stats: &RunStats) -> BaselineResult {
    let secs = stats.elapsed.as_secs_f64();
    #[allow(clippy::cast_precision_loss)] // a rate for reporting, not money
    let per_second = if secs > 0.0 {
        stats.committed as f64 / secs
    } else {
        0.0
    };
    BaselineResult {
        name,
        transfers: stats.committed,
        rejected: stats.rejected,
        elapsed: stats.elapsed,
        per_second,
        latency_us_p50: stats.latency.value_at_quantile(0.50),
        latency_us_p99: stats.latency.value_at_quantile(0.99),
    }
}

/// The self-check shared by both backends.
fn check_books(
    backend: &str,
    expected_sum: i64,
    sum: i64,
    negative: i64,
    rows: i64,
    stats: &RunStats,
) -> anyhow::Result<()> {
    ensure!(
        sum == expected_sum,
        "{backend} baseline lost or made money: balances sum to {sum} won, setup put in {expected_sum}"
    );
    ensure!(
        negative == 0,
        "{backend} baseline left {negative} negative balances"
    );
    ensure!(
        u64::try_from(rows).ok() == Some(stats.committed),
        "{backend} baseline has {rows} transfer rows but committed {} transfers",
        stats.committed
    );
    Ok(())
}

fn total_funding(spec: &BaselineSpec, funding: i64) -> anyhow::Result<i64> {
    i64::try_from(spec.citizens)
        .ok()
        .and_then(|c| c.checked_mul(funding))
        .ok_or_else(|| anyhow!("total funding overflows i64"))
}

/// Distinguishes the databases/tables of runs in one process.
static RUN_COUNTER: AtomicU64 = AtomicU64::new(0);

fn run_tag() -> String {
    format!(
        "{}_{}",
        std::process::id(),
        RUN_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

// ---------------------------------------------------------------------------
// SQLite

/// The baseline on SQLite: a fresh database file in `dir` (removed afterwards),
/// WAL journal, `synchronous=FULL`, prepared statements, one `BEGIN IMMEDIATE ...
/// COMMIT` per transfer. With `clients > 1` each client has its own connection
/// and they queue on SQLite's single write lock (busy timeout 10 s).
pub fn sqlite_one_tx_per_transfer(
    dir: &Path,
    spec: &BaselineSpec,
) -> anyhow::Result<BaselineResult> {
    sqlite_run(dir, spec, CITIZEN_FUNDING_WON)
}

/// Removes the database and its WAL files when dropped.
struct SqliteFiles(PathBuf);

impl Drop for SqliteFiles {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

fn sqlite_open(path: &Path) -> anyhow::Result<rusqlite::Connection> {
    let conn =
        rusqlite::Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    ensure!(
        mode.eq_ignore_ascii_case("wal"),
        "SQLite refused WAL mode (got {mode})"
    );
    conn.pragma_update(None, "synchronous", "FULL")?;
    let sync: i64 = conn.pragma_query_value(None, "synchronous", |row| row.get(0))?;
    ensure!(sync == 2, "SQLite synchronous is {sync}, wanted 2 (FULL)");
    Ok(conn)
}

const SQLITE_BEGIN: &str = "BEGIN IMMEDIATE";
const SQLITE_DEBIT: &str =
    "UPDATE accounts SET balance = balance - ?1 WHERE id = ?2 AND balance >= ?1";
const SQLITE_CREDIT: &str = "UPDATE accounts SET balance = balance + ?1 WHERE id = ?2";
const SQLITE_INSERT: &str =
    "INSERT INTO transfers (id, debit, credit, amount, created_at) VALUES (?1, ?2, ?3, ?4, ?5)";
const SQLITE_COMMIT: &str = "COMMIT";
const SQLITE_ROLLBACK: &str = "ROLLBACK";

struct SqliteClient {
    conn: rusqlite::Connection,
}

impl SqliteClient {
    fn new(path: &Path) -> anyhow::Result<Self> {
        let conn = sqlite_open(path)?;
        // Prepare every statement once; `prepare_cached` hands them back per transfer.
        for sql in [
            SQLITE_BEGIN,
            SQLITE_DEBIT,
            SQLITE_CREDIT,
            SQLITE_INSERT,
            SQLITE_COMMIT,
            SQLITE_ROLLBACK,
        ] {
            conn.prepare_cached(sql)?;
        }
        Ok(Self { conn })
    }

    fn exec(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
        self.conn.prepare_cached(sql)?.execute(params)
    }

    /// Everything between BEGIN and COMMIT; the caller rolls back on error.
    fn body(&self, id: i64, payer: i64, merchant: i64, amount: i64) -> anyhow::Result<bool> {
        if self.exec(SQLITE_DEBIT, rusqlite::params![amount, payer])? == 0 {
            return Ok(false);
        }
        let credited = self.exec(SQLITE_CREDIT, rusqlite::params![amount, merchant])?;
        ensure!(credited == 1, "merchant {merchant} not found");
        let now_us = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_micros(),
        )
        .unwrap_or(i64::MAX);
        self.exec(
            SQLITE_INSERT,
            rusqlite::params![id, payer, merchant, amount, now_us],
        )?;
        Ok(true)
    }
}

impl TransferClient for SqliteClient {
    fn transfer(
        &mut self,
        id: i64,
        payer: i64,
        merchant: i64,
        amount: i64,
    ) -> anyhow::Result<bool> {
        self.exec(SQLITE_BEGIN, [])?;
        match self.body(id, payer, merchant, amount) {
            Ok(true) => {
                self.exec(SQLITE_COMMIT, [])?;
                Ok(true)
            }
            Ok(false) => {
                self.exec(SQLITE_ROLLBACK, [])?;
                Ok(false)
            }
            Err(e) => {
                let _ = self.exec(SQLITE_ROLLBACK, []);
                Err(e)
            }
        }
    }
}

fn sqlite_run(dir: &Path, spec: &BaselineSpec, funding: i64) -> anyhow::Result<BaselineResult> {
    spec.validate()?;
    let expected_sum = total_funding(spec, funding)?;
    let path = dir.join(format!("baseline_{}.sqlite", run_tag()));
    let files = SqliteFiles(path.clone());
    let _ = std::fs::remove_file(&path);

    // Setup, untimed.
    let mut conn = sqlite_open(&path)?;
    conn.execute_batch(
        "CREATE TABLE accounts (
             id      INTEGER PRIMARY KEY,
             balance INTEGER NOT NULL
         );
         CREATE TABLE transfers (
             id         INTEGER PRIMARY KEY,
             debit      INTEGER NOT NULL REFERENCES accounts (id),
             credit     INTEGER NOT NULL REFERENCES accounts (id),
             amount     INTEGER NOT NULL CHECK (amount > 0),
             created_at INTEGER NOT NULL
         );",
    )
    .context("creating SQLite schema")?;
    {
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare("INSERT INTO accounts (id, balance) VALUES (?1, ?2)")?;
            for i in 0..spec.citizens {
                insert.execute(rusqlite::params![citizen_id(i), funding])?;
            }
            for i in 0..spec.merchants {
                insert.execute(rusqlite::params![merchant_id(spec.citizens, i), 0i64])?;
            }
        }
        tx.commit().context("funding SQLite accounts")?;
    }
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;")?;

    let stats = drive(spec, |_| SqliteClient::new(&path))?;

    let (sum, negative): (i64, i64) = conn.query_row(
        "SELECT COALESCE(SUM(balance), 0), COALESCE(SUM(balance < 0), 0) FROM accounts",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let rows: i64 = conn.query_row("SELECT COUNT(*) FROM transfers", [], |row| row.get(0))?;
    check_books("SQLite", expected_sum, sum, negative, rows, &stats)?;
    drop(conn);
    drop(files);

    Ok(finish(
        format!("sqlite one-tx-per-transfer {}", spec.label()),
        &stats,
    ))
}

// ---------------------------------------------------------------------------
// PostgreSQL

/// The baseline on PostgreSQL: uniquely named tables in the connected database
/// (dropped afterwards, also when the run fails), default durability
/// (`synchronous_commit=on`), `clients` threads each with its own connection and
/// prepared statements, one `BEGIN ... COMMIT` per transfer (READ COMMITTED, so
/// payments to the hot merchant queue on its row lock).
///
/// [`PgAvailability::Skipped`] if no connection can be made within
/// [`PG_CONNECT_TIMEOUT`]; [`PgAvailability::Failed`] if anything goes wrong after.
pub fn postgres_one_tx_per_transfer(conn_str: &str, spec: &BaselineSpec) -> PgAvailability {
    postgres_run(conn_str, spec, CITIZEN_FUNDING_WON)
}

fn pg_config(conn_str: &str) -> anyhow::Result<postgres::Config> {
    let mut config = postgres::Config::from_str(conn_str)
        .with_context(|| format!("bad PostgreSQL connection string {conn_str:?}"))?;
    config.connect_timeout(PG_CONNECT_TIMEOUT);
    config.application_name("maeul-bench-baseline");
    Ok(config)
}

/// Owns the setup connection and drops the run's tables when dropped.
struct PgTables {
    client: postgres::Client,
    config: postgres::Config,
    accounts: String,
    transfers: String,
}

impl PgTables {
    fn drop_sql(&self) -> String {
        format!(
            "DROP TABLE IF EXISTS {} ; DROP TABLE IF EXISTS {}",
            self.transfers, self.accounts
        )
    }
}

impl Drop for PgTables {
    fn drop(&mut self) {
        let sql = self.drop_sql();
        if self.client.batch_execute(&sql).is_err() {
            // The setup connection may be broken; try once more on a fresh one.
            if let Ok(mut c) = self.config.connect(postgres::NoTls) {
                let _ = c.batch_execute(&sql);
            }
        }
    }
}

struct PgClient {
    client: postgres::Client,
    debit: postgres::Statement,
    credit: postgres::Statement,
    insert: postgres::Statement,
}

impl PgClient {
    fn new(config: &postgres::Config, accounts: &str, transfers: &str) -> anyhow::Result<Self> {
        let mut client = config.connect(postgres::NoTls)?;
        // The server default, made explicit: a committed payment survives a crash.
        client.batch_execute("SET synchronous_commit = on")?;
        let debit = client.prepare(&format!(
            "UPDATE {accounts} SET balance = balance - $1 WHERE id = $2 AND balance >= $1"
        ))?;
        let credit = client.prepare(&format!(
            "UPDATE {accounts} SET balance = balance + $1 WHERE id = $2"
        ))?;
        let insert = client.prepare(&format!(
            "INSERT INTO {transfers} (id, debit, credit, amount, created_at) \
             VALUES ($1, $2, $3, $4, now())"
        ))?;
        Ok(Self {
            client,
            debit,
            credit,
            insert,
        })
    }
}

impl TransferClient for PgClient {
    fn transfer(
        &mut self,
        id: i64,
        payer: i64,
        merchant: i64,
        amount: i64,
    ) -> anyhow::Result<bool> {
        let mut tx = self.client.transaction()?;
        if tx.execute(&self.debit, &[&amount, &payer])? == 0 {
            tx.rollback()?;
            return Ok(false);
        }
        let credited = tx.execute(&self.credit, &[&amount, &merchant])?;
        // On error `tx` is dropped, which rolls back.
        ensure!(credited == 1, "merchant {merchant} not found");
        tx.execute(&self.insert, &[&id, &payer, &merchant, &amount])?;
        tx.commit()?;
        Ok(true)
    }
}

fn postgres_run(conn_str: &str, spec: &BaselineSpec, funding: i64) -> PgAvailability {
    let config = match pg_config(conn_str) {
        Ok(c) => c,
        Err(e) => return PgAvailability::Failed(e),
    };
    let client = match config.connect(postgres::NoTls) {
        Ok(c) => c,
        Err(e) => {
            return PgAvailability::Skipped {
                reason: format!("cannot connect to PostgreSQL ({conn_str}): {e}"),
            };
        }
    };
    let tag = run_tag();
    let mut tables = PgTables {
        client,
        config,
        accounts: format!("maeul_baseline_accounts_{tag}"),
        transfers: format!("maeul_baseline_transfers_{tag}"),
    };
    match postgres_measure(&mut tables, spec, funding) {
        Ok(r) => PgAvailability::Ran(r),
        Err(e) => PgAvailability::Failed(e),
    }
    // `tables` drops here, dropping the tables.
}

fn postgres_measure(
    tables: &mut PgTables,
    spec: &BaselineSpec,
    funding: i64,
) -> anyhow::Result<BaselineResult> {
    use std::io::Write as _;

    spec.validate()?;
    ensure!(
        spec.clients < 1000,
        "{} PostgreSQL clients is too many",
        spec.clients
    );
    let expected_sum = total_funding(spec, funding)?;
    let (accounts, transfers) = (tables.accounts.clone(), tables.transfers.clone());
    let client = &mut tables.client;

    // Setup, untimed.
    let drop_sql = format!("DROP TABLE IF EXISTS {transfers}; DROP TABLE IF EXISTS {accounts}");
    client.batch_execute(&drop_sql)?;
    client
        .batch_execute(&format!(
            "CREATE TABLE {accounts} (
                 id      BIGINT PRIMARY KEY,
                 balance BIGINT NOT NULL
             );
             CREATE TABLE {transfers} (
                 id         BIGINT PRIMARY KEY,
                 debit      BIGINT NOT NULL REFERENCES {accounts} (id),
                 credit     BIGINT NOT NULL REFERENCES {accounts} (id),
                 amount     BIGINT NOT NULL CHECK (amount > 0),
                 created_at TIMESTAMPTZ NOT NULL
             );"
        ))
        .context("creating PostgreSQL tables")?;
    {
        let mut copy = client
            .copy_in(&format!("COPY {accounts} (id, balance) FROM STDIN"))
            .context("starting COPY")?;
        let mut buf = Vec::with_capacity(1 << 20);
        let mut line = |buf: &mut Vec<u8>, id: i64, balance: i64| -> std::io::Result<()> {
            writeln!(buf, "{id}\t{balance}")?;
            if buf.len() >= (1 << 20) - 64 {
                copy.write_all(buf)?;
                buf.clear();
            }
            Ok(())
        };
        for i in 0..spec.citizens {
            line(&mut buf, citizen_id(i), funding)?;
        }
        for i in 0..spec.merchants {
            line(&mut buf, merchant_id(spec.citizens, i), 0)?;
        }
        copy.write_all(&buf)?;
        copy.finish().context("funding PostgreSQL accounts")?;
    }
    client.batch_execute(&format!("ANALYZE {accounts}; ANALYZE {transfers}"))?;

    let config = tables.config.clone();
    let stats = drive(spec, |_| PgClient::new(&config, &accounts, &transfers))?;

    let client = &mut tables.client;
    let row = client.query_one(
        &format!(
            "SELECT COALESCE(SUM(balance), 0)::BIGINT, COUNT(*) FILTER (WHERE balance < 0) \
             FROM {accounts}"
        ),
        &[],
    )?;
    let (sum, negative): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    let rows: i64 = client
        .query_one(&format!("SELECT COUNT(*) FROM {transfers}"), &[])?
        .try_get(0)?;
    check_books("PostgreSQL", expected_sum, sum, negative, rows, &stats)?;

    Ok(finish(
        format!("postgres one-tx-per-transfer {}", spec.label()),
        &stats,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(hot: u8) -> BaselineSpec {
        BaselineSpec {
            citizens: 1_000,
            merchants: 10,
            hot_merchant_percent: hot,
            transfers_max: 2_000,
            duration_max: Duration::from_secs(60),
            clients: 1,
            seed: 7,
        }
    }

    fn assert_sensible(r: &BaselineResult, attempts: u64) {
        assert_eq!(r.transfers + r.rejected, attempts, "{r:?}");
        assert!(r.per_second > 0.0, "{r:?}");
        assert!(r.elapsed > Duration::ZERO, "{r:?}");
        assert!(r.latency_us_p50 >= 1, "{r:?}");
        assert!(r.latency_us_p50 <= r.latency_us_p99, "{r:?}");
    }

    #[test]
    fn payments_follow_the_spec() {
        let spec = BaselineSpec {
            citizens: 50,
            merchants: 20,
            hot_merchant_percent: 90,
            ..tiny(90)
        };
        let mut g = PaymentGen::new(&spec, 0);
        let hot = merchant_id(50, 0);
        let mut to_hot = 0;
        for _ in 0..10_000 {
            let (payer, merchant, amount) = g.next();
            assert!((1..=50).contains(&payer));
            assert!((51..=70).contains(&merchant));
            assert!((AMOUNT_MIN_WON..=AMOUNT_MAX_WON).contains(&amount));
            to_hot += i32::from(merchant == hot);
        }
        // 90% plus 1/20 of the remaining 10%: 9,050 expected.
        assert!((8_800..=9_300).contains(&to_hot), "{to_hot}");

        let uniform = BaselineSpec {
            hot_merchant_percent: 0,
            ..spec
        };
        let mut g = PaymentGen::new(&uniform, 0);
        let to_hot = (0..10_000).filter(|_| g.next().1 == hot).count();
        assert!((350..=650).contains(&to_hot), "{to_hot}");
    }

    #[test]
    fn bad_specs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for spec in [
            BaselineSpec {
                citizens: 0,
                ..tiny(0)
            },
            BaselineSpec {
                merchants: 0,
                ..tiny(0)
            },
            BaselineSpec {
                clients: 0,
                ..tiny(0)
            },
            BaselineSpec {
                hot_merchant_percent: 101,
                ..tiny(0)
            },
        ] {
            assert!(
                sqlite_one_tx_per_transfer(dir.path(), &spec).is_err(),
                "{spec:?}"
            );
        }
    }

    #[test]
    fn sqlite_tiny_uniform() {
        let dir = tempfile::tempdir().unwrap();
        let r = sqlite_one_tx_per_transfer(dir.path(), &tiny(0)).unwrap();
        println!("{r:?}");
        assert_sensible(&r, 2_000);
        assert_eq!(r.rejected, 0);
        // The database files are cleaned up.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn sqlite_tiny_hot_merchant() {
        let dir = tempfile::tempdir().unwrap();
        let r = sqlite_one_tx_per_transfer(dir.path(), &tiny(90)).unwrap();
        println!("{r:?}");
        assert_sensible(&r, 2_000);
        assert_eq!(r.rejected, 0);
    }

    #[test]
    fn sqlite_rejects_overdrafts_and_still_balances() {
        // 20 citizens with 100,000 won each cannot pay for 500 payments of ~25,500 won.
        let dir = tempfile::tempdir().unwrap();
        let spec = BaselineSpec {
            citizens: 20,
            merchants: 3,
            transfers_max: 500,
            ..tiny(50)
        };
        let r = sqlite_run(dir.path(), &spec, 100_000).unwrap();
        println!("{r:?}");
        assert_eq!(r.transfers + r.rejected, 500);
        assert!(r.rejected > 300, "{r:?}");
        assert!(r.transfers >= 20, "{r:?}");
    }

    #[test]
    fn sqlite_several_clients() {
        let dir = tempfile::tempdir().unwrap();
        let spec = BaselineSpec {
            clients: 4,
            transfers_max: 400,
            ..tiny(90)
        };
        let r = sqlite_one_tx_per_transfer(dir.path(), &spec).unwrap();
        println!("{r:?}");
        assert_sensible(&r, 400);
    }

    #[test]
    fn sqlite_stops_at_duration_max() {
        let dir = tempfile::tempdir().unwrap();
        let spec = BaselineSpec {
            transfers_max: u64::MAX,
            duration_max: Duration::from_millis(300),
            ..tiny(0)
        };
        let r = sqlite_one_tx_per_transfer(dir.path(), &spec).unwrap();
        println!("{r:?}");
        assert!(r.transfers > 0);
        assert!(r.elapsed < Duration::from_secs(5), "{r:?}");
    }

    /// Where the tests find PostgreSQL: `MAEUL_TEST_PG`, else the machine's own server
    /// (which `.ci/run` starts).
    fn pg_conn() -> String {
        std::env::var("MAEUL_TEST_PG").unwrap_or_else(|_| PG_DEFAULT_CONN.to_owned())
    }

    /// These tests need PostgreSQL: without it they fail, saying how to provide it,
    /// rather than pass without having run.
    fn pg_required(outcome: PgAvailability) -> BaselineResult {
        match outcome {
            PgAvailability::Ran(r) => r,
            PgAvailability::Skipped { reason } => panic!(
                "this test needs PostgreSQL and none answered ({reason}). Start it \
                 (`.ci/run` does: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) \
                 or point MAEUL_TEST_PG at one (libpq key=value string)"
            ),
            PgAvailability::Failed(e) => panic!("PostgreSQL baseline failed: {e:#}"),
        }
    }

    #[test]
    fn postgres_tiny_runs() {
        let r = pg_required(postgres_one_tx_per_transfer(&pg_conn(), &tiny(0)));
        println!("{r:?}");
        assert_sensible(&r, 2_000);
        assert_eq!(r.rejected, 0);

        let spec = BaselineSpec {
            clients: 4,
            transfers_max: 800,
            ..tiny(90)
        };
        let r = postgres_one_tx_per_transfer(&pg_conn(), &spec)
            .into_result()
            .unwrap()
            .unwrap();
        println!("{r:?}");
        assert_sensible(&r, 800);
    }

    #[test]
    fn postgres_rejects_overdrafts() {
        let spec = BaselineSpec {
            citizens: 20,
            merchants: 3,
            transfers_max: 300,
            clients: 2,
            ..tiny(50)
        };
        let r = pg_required(postgres_run(&pg_conn(), &spec, 100_000));
        println!("{r:?}");
        assert_eq!(r.transfers + r.rejected, 300);
        assert!(r.rejected > 100, "{r:?}");
    }

    #[test]
    fn postgres_unreachable_is_skipped() {
        // Port 1 on loopback: refused at once.
        let outcome = postgres_one_tx_per_transfer(
            "host=127.0.0.1 port=1 user=postgres dbname=test",
            &tiny(0),
        );
        assert!(
            matches!(outcome, PgAvailability::Skipped { .. }),
            "{outcome:?}"
        );
    }

    #[test]
    fn postgres_tables_are_dropped() {
        let mut c = match pg_config(&pg_conn()).unwrap().connect(postgres::NoTls) {
            Ok(c) => c,
            Err(e) => {
                pg_required(PgAvailability::Skipped {
                    reason: e.to_string(),
                });
                return;
            }
        };
        let spec = BaselineSpec {
            transfers_max: 50,
            ..tiny(0)
        };
        pg_required(postgres_one_tx_per_transfer(&pg_conn(), &spec));
        let pattern = format!("maeul_baseline_%_{}_%", std::process::id());
        // Other tests in this process may be mid-run; wait for them to finish.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left: i64 = c
                .query_one(
                    "SELECT COUNT(*) FROM pg_tables WHERE tablename LIKE $1",
                    &[&pattern],
                )
                .unwrap()
                .get(0);
            if left == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{left} baseline tables left behind"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The figures quoted in reports: 10-second runs of the default spec.
    /// `cargo test --release -p bench baseline_10s -- --ignored --nocapture --test-threads=1`
    #[test]
    #[ignore = "takes about a minute and a half; run by hand"]
    fn baseline_10s() {
        let dir = tempfile::tempdir().unwrap();
        for hot in [0, 90] {
            let spec = BaselineSpec {
                hot_merchant_percent: hot,
                ..BaselineSpec::default()
            };
            let r = sqlite_one_tx_per_transfer(dir.path(), &spec).unwrap();
            println!("{}", report_line(&r));
            for clients in [1, 8] {
                let spec = BaselineSpec {
                    clients,
                    ..spec.clone()
                };
                match postgres_one_tx_per_transfer(PG_DEFAULT_CONN, &spec) {
                    PgAvailability::Ran(r) => println!("{}", report_line(&r)),
                    PgAvailability::Skipped { reason } => println!("postgres skipped: {reason}"),
                    PgAvailability::Failed(e) => panic!("{e:#}"),
                }
            }
        }
    }

    fn report_line(r: &BaselineResult) -> String {
        format!(
            "{:<50} {:>8} transfers {:>4} rejected in {:>6.2} s = {:>8.0}/s  p50 {:>6} us  p99 {:>7} us",
            r.name,
            r.transfers,
            r.rejected,
            r.elapsed.as_secs_f64(),
            r.per_second,
            r.latency_us_p50,
            r.latency_us_p99
        )
    }
}
