//! `maeul serve --store postgres://…`: a node whose currencies, people and registries
//! live in PostgreSQL. Every node serves HTTP and every currency. For each currency one
//! node writes (it holds the writer lease); the others follow its journal as it is
//! written, serve reads from their replayed state, and forward writes to it
//! (`forward.rs`). The nodes share the currencies out: a node takes a free lease while
//! it writes fewer than its fair share, so when a writer dies its currencies go to the
//! survivors, each promoting its follower in place within seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use engine::{CurrencyCode, Engine, EngineOptions, Storage};
use ledger::scheme::SchemeConfig;
use parking_lot::Mutex;
use pgstore::{Db, Keeper, PgServiceStores, PgStorage, Standby, lease, nodes};

use crate::demo;
use crate::forward::HttpForward;

/// The lease every currency is written under, when not told otherwise: failover in
/// about this time plus a take-over's milliseconds.
pub const LEASE_TTL: Duration = Duration::from_secs(3);

/// A node is counted alive while it said so within one lease's time (it says so six
/// times a lease): a dead node stops counting about when its leases run out, so the
/// survivors' shares grow to take its currencies at once.
const ALIVE_WITHIN_LEASES: u32 = 1;

/// What a node on PostgreSQL holds while it serves.
#[derive(Debug)]
pub struct PgNode {
    pub db: Arc<Db>,
    pub stores: PgServiceStores,
    /// The key every node signs forwarded writes with.
    pub forward_key: [u8; 32],
    name: String,
    /// Where this node takes forwarded writes, once its HTTP server listens.
    url: Arc<Mutex<String>>,
    /// One per currency this node writes: renews its lease; says when another node
    /// took it.
    keepers: Arc<Mutex<Vec<(CurrencyCode, Keeper)>>>,
    /// A currency this node neither writes nor follows any more (a hand-over that
    /// stopped its writer but could not start its follower).
    broken: Arc<Mutex<Option<CurrencyCode>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl PgNode {
    /// A currency this node must stop serving for: another node took its lease (this
    /// node's memory may hold a batch the database refused), or a hand-over left it
    /// neither writing nor following. A restart brings the node back as a follower.
    pub fn lost(&self) -> Option<CurrencyCode> {
        let taken = self
            .keepers
            .lock()
            .iter()
            .find(|(_, k)| k.lost())
            .map(|(c, _)| c.clone());
        taken.or_else(|| self.broken.lock().clone())
    }

    /// The currencies this node writes now.
    pub fn writing(&self) -> Vec<CurrencyCode> {
        self.keepers.lock().iter().map(|(c, _)| c.clone()).collect()
    }

    /// Says where this node takes forwarded writes (once its server listens).
    pub fn listening_at(&self, url: String) {
        if let Err(e) = nodes::announce(&self.db, &self.name, &url) {
            tracing::warn!("announcing this node failed (the watcher tries again): {e}");
        }
        *self.url.lock() = url;
    }

    /// Stops taking leases and gives every lease up (a clean stop, after the engines
    /// stopped), so that the others take over at once.
    pub fn release(mut self) {
        self.stop_threads();
        for (_, keeper) in std::mem::take(&mut *self.keepers.lock()) {
            keeper.release();
        }
        if let Err(e) = nodes::leave(&self.db, &self.name) {
            tracing::warn!("this node was not struck off ({e}); it ages out by itself");
        }
    }
}

impl PgNode {
    fn stop_threads(&mut self) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for PgNode {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

/// A currency opened for serving: its code, storage and running engine.
pub type Opened = (CurrencyCode, Arc<dyn Storage>, Arc<Engine>);

/// The currencies the database holds (every one ever written has a lease row).
pub fn currencies(db: &Db) -> anyhow::Result<Vec<CurrencyCode>> {
    let conn = db.conn()?;
    let rows = conn.run(
        "list currencies",
        conn.query("SELECT currency FROM maeul_writers ORDER BY currency", &[]),
    )?;
    rows.iter()
        .map(|r| {
            let code: &str = r.try_get(0).context("a currency's name in maeul_writers")?;
            CurrencyCode::new(code).map_err(anyhow::Error::msg)
        })
        .collect()
}

/// Whether this node should take `currency`'s lease now: it is free (expired, never
/// taken, or this node's own from before a restart), and this node writes fewer than
/// its share, or nobody under their share took it within half a lease's time.
fn should_take(
    db: &Db,
    currency: &str,
    name: &str,
    writing: usize,
    currencies: usize,
    ttl: Duration,
) -> Result<bool, pgstore::PgError> {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let free_for_ms = match lease::holder(db, currency)? {
        None => i64::MAX,
        // Still this node's from before a restart: taken back at once.
        Some(h) if h.holder == name && h.expires_in_ms > 0 => i64::MAX,
        Some(h) => -h.expires_in_ms,
    };
    if free_for_ms <= 0 {
        return Ok(false);
    }
    let alive = nodes::alive(db, ttl * ALIVE_WITHIN_LEASES)?.len().max(1);
    Ok(writing < nodes::fair_share(currencies, alive) || free_for_ms > ttl_ms / 2)
}

/// Connects, migrates, joins the nodes, and opens every currency: as its writer when
/// this node takes its lease, else as a follower of the node that writes it. Creates
/// the demo currency in an empty database.
pub fn open(
    url: &str,
    name: &str,
    ttl: Duration,
    scheme: Option<&SchemeConfig>,
) -> anyhow::Result<(Vec<Opened>, PgNode)> {
    let db = Arc::new(Db::connect(url).context("connecting to PostgreSQL")?);
    let version = pgstore::migrate(&db)?;
    tracing::info!(
        at = db.describe(),
        version,
        node = name,
        "PostgreSQL store ready"
    );
    // Alive from now (no address yet: nothing is forwarded here before it listens),
    // so that the others count it when they share the currencies out.
    nodes::announce(&db, name, "")?;
    let forward_key = pgstore::keys::load_or_create_32(&db, "forward")?;
    let forward: Arc<dyn engine::Forward> =
        Arc::new(HttpForward::new(Arc::clone(&db), name, forward_key)?);
    let mut codes = currencies(&db)?;
    let demo_code = CurrencyCode::new("demo").map_err(anyhow::Error::msg)?;
    if codes.is_empty() {
        codes.push(demo_code.clone());
    }
    let keepers = Arc::new(Mutex::new(Vec::new()));
    let mut opened = Vec::new();
    for code in &codes {
        let reader: Arc<dyn Storage> = Arc::new(PgStorage::reader(Arc::clone(&db), code.as_str()));
        let writing = keepers.lock().len();
        let take = should_take(&db, code.as_str(), name, writing, codes.len(), ttl)?;
        let lease = match take {
            true => lease::try_acquire(&db, code.as_str(), name, ttl)?,
            false => None,
        };
        let engine = match lease {
            Some(lease) => {
                keepers.lock().push((
                    code.clone(),
                    Keeper::start(Arc::clone(&db), lease.clone(), ttl),
                ));
                open_writing(&db, code, &lease, &demo_code, scheme)?
            }
            None => {
                let standby = follow(&db, code.as_str())?;
                tracing::info!(currency = %code, seq = standby.last_seq(), "following the node that writes this currency");
                standby
                    .into_follower(Arc::clone(&forward), &EngineOptions::default())
                    .with_context(|| format!("following currency {code}"))?
            }
        };
        opened.push((code.clone(), reader, Arc::new(engine)));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let node_url = Arc::new(Mutex::new(String::new()));
    let broken = Arc::new(Mutex::new(None));
    // Saying it is alive on a thread of its own: a long take-over or hand-over must
    // not make the others count this node dead and share its currencies out.
    let announcer = {
        let (db, name, url, stop) = (
            Arc::clone(&db),
            name.to_owned(),
            Arc::clone(&node_url),
            Arc::clone(&stop),
        );
        std::thread::Builder::new()
            .name("alive".into())
            .spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    let url = url.lock().clone();
                    if let Err(e) = nodes::announce(&db, &name, &url) {
                        tracing::warn!("saying this node is alive failed: {e}");
                    }
                    std::thread::sleep(ttl / 6);
                }
            })
            .context("starting the node's announcer")?
    };
    let watcher = Watcher {
        db: Arc::clone(&db),
        name: name.to_owned(),
        ttl,
        engines: opened
            .iter()
            .map(|(c, _, e)| (c.clone(), Arc::clone(e)))
            .collect(),
        keepers: Arc::clone(&keepers),
        broken: Arc::clone(&broken),
        stop: Arc::clone(&stop),
        forward,
    };
    let watcher = std::thread::Builder::new()
        .name("leases".into())
        .spawn(move || watcher.run())
        .context("starting the lease watcher")?;
    let stores = PgServiceStores::new(Arc::clone(&db));
    Ok((
        opened,
        PgNode {
            db,
            stores,
            forward_key,
            name: name.to_owned(),
            url: node_url,
            keepers,
            broken,
            stop,
            threads: vec![announcer, watcher],
        },
    ))
}

/// Opens a currency whose lease this node just took: replays it and starts writing;
/// in an empty database, creates the demo currency.
fn open_writing(
    db: &Arc<Db>,
    code: &CurrencyCode,
    lease: &lease::Lease,
    demo_code: &CurrencyCode,
    scheme: Option<&SchemeConfig>,
) -> anyhow::Result<Engine> {
    let storage: Arc<dyn Storage> = Arc::new(PgStorage::writer(Arc::clone(db), lease));
    let empty = PgStorage::reader(Arc::clone(db), code.as_str()).head()?.0 == 0;
    let engine = if empty {
        anyhow::ensure!(
            code == demo_code,
            "currency {code} has a lease but no journal"
        );
        tracing::info!(
            at = db.describe(),
            "empty database: creating the demo currency"
        );
        let engine = Engine::create(
            storage,
            code.clone(),
            ledger::LedgerConfig::default(),
            EngineOptions::default(),
        )?;
        let scheme = match scheme {
            Some(s) => s.clone(),
            None => SchemeConfig::from_toml(demo::DEFAULT_SCHEME)?,
        };
        demo::populate(&engine, (EngineOptions::default().clock)(), &scheme)?;
        engine
    } else {
        let standby = Standby::open(Arc::clone(db), code.as_str())
            .with_context(|| format!("replaying currency {code}"))?;
        let (engine, report) = standby
            .take_over(lease, EngineOptions::default())
            .with_context(|| format!("taking over currency {code}"))?;
        if let Some(q) = &report.quarantine {
            tracing::warn!(currency = %code, "read-only: {}", q.summary());
        }
        engine
    };
    tracing::info!(currency = %code, epoch = lease.epoch, seq = engine.durable_seq(), "writing this currency");
    Ok(engine)
}

/// Replays a currency another node writes, once it has a genesis record (the node
/// creating it may not have written it yet).
fn follow(db: &Arc<Db>, currency: &str) -> anyhow::Result<Standby> {
    let started = Instant::now();
    loop {
        let standby = Standby::open(Arc::clone(db), currency)
            .with_context(|| format!("replaying currency {currency}"))?;
        if standby.last_seq() > 0 {
            return Ok(standby);
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "currency {currency} has no journal after a minute"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Takes the leases of currencies this node follows when they fall free and its share
/// allows, promoting their followers, and hands one over when it writes too many.
struct Watcher {
    db: Arc<Db>,
    name: String,
    ttl: Duration,
    engines: Vec<(CurrencyCode, Arc<Engine>)>,
    keepers: Arc<Mutex<Vec<(CurrencyCode, Keeper)>>>,
    broken: Arc<Mutex<Option<CurrencyCode>>>,
    stop: Arc<AtomicBool>,
    forward: Arc<dyn engine::Forward>,
}

impl Watcher {
    fn run(self) {
        let every = self.ttl / 6;
        let mut handed_over: Option<Instant> = None;
        while !self.stop.load(Ordering::Acquire) {
            // One hand-over at a time, and time for it to settle before the next.
            if handed_over.is_none_or(|t| t.elapsed() > self.ttl * 2) {
                match self.maybe_hand_over() {
                    Ok(true) => handed_over = Some(Instant::now()),
                    Ok(false) => {}
                    Err(e) => tracing::warn!("handing a currency over failed: {e:#}"),
                }
            }
            for (code, engine) in &self.engines {
                if self.stop.load(Ordering::Acquire) {
                    return;
                }
                // A follower that diverged must not take a lease it cannot write.
                if engine.follows()
                    && matches!(engine.health(), engine::Health::Running)
                    && let Err(e) = self.maybe_take(code, engine)
                {
                    tracing::warn!(currency = %code, "taking over failed, trying again: {e:#}");
                }
            }
            std::thread::sleep(every);
        }
    }

    /// Hands one currency over when this node writes more than its share and another
    /// node alive writes at least two fewer (a node joined): that node takes it.
    /// Answers whether it handed one over.
    fn maybe_hand_over(&self) -> anyhow::Result<bool> {
        let writing = self.keepers.lock().len();
        let alive = nodes::alive(&self.db, self.ttl * ALIVE_WITHIN_LEASES)?;
        let share = nodes::fair_share(self.engines.len(), alive.len());
        if writing <= share {
            return Ok(false);
        }
        let held = lease::held_by_node(&self.db)?;
        // At least two apart, or the currency would only move the imbalance around.
        let short = alive.iter().find(|n| {
            n.name != self.name && held.get(&n.name).copied().unwrap_or(0) + 2 <= writing
        });
        let Some(short) = short else {
            return Ok(false);
        };
        // A healthy writer: one whose journal failed is not known to hold its state.
        let engine_of = |code: &CurrencyCode| {
            self.engines
                .iter()
                .find(|(c, _)| c == code)
                .map(|(_, e)| Arc::clone(e))
        };
        let taken = {
            let mut keepers = self.keepers.lock();
            let at = keepers.iter().rposition(|(c, _)| {
                engine_of(c).is_some_and(|e| matches!(e.health(), engine::Health::Running))
            });
            at.map(|i| keepers.remove(i))
        };
        let Some((code, keeper)) = taken else {
            return Ok(false);
        };
        let Some(engine) = engine_of(&code) else {
            self.keepers.lock().push((code, keeper));
            return Ok(false);
        };
        tracing::info!(currency = %code, to = %short.name, writing, share, "handing a currency over to a node with fewer than its share");
        let reader: Arc<dyn Storage> =
            Arc::new(PgStorage::reader(Arc::clone(&self.db), code.as_str()));
        let news = Box::new(pgstore::JournalNews::listen(
            Arc::clone(&self.db),
            code.as_str(),
        ));
        match engine.demote(
            reader,
            news,
            Arc::clone(&self.forward),
            &EngineOptions::default(),
        ) {
            Ok(()) => {
                keeper.release();
                Ok(true)
            }
            Err(e) if engine.writes_here() => {
                // Refused before anything changed: this node goes on writing.
                self.keepers.lock().push((code, keeper));
                Err(e).context("handing the writing over")
            }
            Err(e) => {
                // Stopped writing but could not follow: the lease runs out (not given
                // up at once, the last batches' fate being unclear), another node takes
                // it, and this node stops serving to come back as a follower.
                drop(keeper);
                *self.broken.lock() = Some(code);
                Err(e).context("following after handing the writing over")
            }
        }
    }

    fn maybe_take(&self, code: &CurrencyCode, engine: &Engine) -> anyhow::Result<()> {
        let writing = self.keepers.lock().len();
        if !should_take(
            &self.db,
            code.as_str(),
            &self.name,
            writing,
            self.engines.len(),
            self.ttl,
        )? {
            return Ok(());
        }
        let Some(lease) = lease::try_acquire(&self.db, code.as_str(), &self.name, self.ttl)? else {
            return Ok(());
        };
        let keeper = Keeper::start(Arc::clone(&self.db), lease.clone(), self.ttl);
        let storage: Arc<dyn Storage> = Arc::new(PgStorage::writer(Arc::clone(&self.db), &lease));
        match engine.promote(storage, EngineOptions::default()) {
            Ok(report) => {
                tracing::info!(currency = %code, epoch = lease.epoch, seq = report.last_seq, ms = report.elapsed.as_millis() as u64, "took the currency over: writing it");
                self.keepers.lock().push((code.clone(), keeper));
                Ok(())
            }
            Err(e) => {
                // Given up at once, so another node may take it.
                keeper.release();
                Err(e).context("promoting the follower")
            }
        }
    }
}
