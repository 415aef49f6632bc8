//! `maeul serve --store postgres://…`: a node whose currencies, people and registries
//! live in PostgreSQL. For each currency the node takes the writer lease; while another
//! live node holds it, this node waits as its hot standby and takes over when the lease
//! runs out (the other node died or stopped). It serves HTTP once it writes every
//! currency: an active node and passive ones, behind a load balancer that asks
//! `/readyz`. Forwarding writes from a standby to the writer comes later.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use engine::{CurrencyCode, Engine, EngineOptions, Storage};
use ledger::scheme::SchemeConfig;
use pgstore::{Db, Keeper, PgServiceStores, PgStorage, Standby, lease};

use crate::demo;

/// The lease every currency is written under, when not told otherwise: failover in
/// about this time plus a take-over's milliseconds.
pub const LEASE_TTL: Duration = Duration::from_secs(3);

/// What a node on PostgreSQL holds while it serves.
#[derive(Debug)]
pub struct PgNode {
    pub db: Arc<Db>,
    pub stores: PgServiceStores,
    /// One per currency: renews its lease; says when another node took it.
    pub keepers: Vec<(CurrencyCode, Keeper)>,
}

impl PgNode {
    /// A currency whose lease another node took: this node must stop serving.
    pub fn lost(&self) -> Option<&CurrencyCode> {
        self.keepers.iter().find(|(_, k)| k.lost()).map(|(c, _)| c)
    }

    /// Gives every lease up (a clean stop), so a standby takes over at once.
    pub fn release(self) {
        for (_, keeper) in self.keepers {
            keeper.release();
        }
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

/// Connects, migrates, and takes (or waits for) every currency's writer lease;
/// creates the demo currency in an empty database.
pub fn open(
    url: &str,
    holder: &str,
    ttl: Duration,
    scheme: Option<&SchemeConfig>,
) -> anyhow::Result<(Vec<Opened>, PgNode)> {
    let db = Arc::new(Db::connect(url).context("connecting to PostgreSQL")?);
    let version = pgstore::migrate(&db)?;
    tracing::info!(
        at = db.describe(),
        version,
        holder,
        "PostgreSQL store ready"
    );
    let mut codes = currencies(&db)?;
    let demo_code = CurrencyCode::new("demo").map_err(anyhow::Error::msg)?;
    if codes.is_empty() {
        codes.push(demo_code.clone());
    }
    let mut opened = Vec::new();
    let mut keepers = Vec::new();
    for code in codes {
        let (lease, standby) = take_lease(&db, code.as_str(), holder, ttl)?;
        keepers.push((
            code.clone(),
            Keeper::start(Arc::clone(&db), lease.clone(), ttl),
        ));
        let storage: Arc<dyn Storage> = Arc::new(PgStorage::writer(Arc::clone(&db), &lease));
        let empty = PgStorage::reader(Arc::clone(&db), code.as_str()).head()?.0 == 0;
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
                Arc::clone(&storage),
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
            let (engine, report) = standby
                .take_over(&lease, EngineOptions::default())
                .with_context(|| format!("taking over currency {code}"))?;
            if let Some(q) = &report.quarantine {
                tracing::warn!(currency = %code, "read-only: {}", q.summary());
            }
            engine
        };
        tracing::info!(currency = %code, epoch = lease.epoch, seq = engine.durable_seq(), "writing this currency");
        opened.push((code, storage, Arc::new(engine)));
    }
    let stores = PgServiceStores::new(Arc::clone(&db));
    Ok((
        opened,
        PgNode {
            db,
            stores,
            keepers,
        },
    ))
}

/// Takes the currency's lease, following the journal as a hot standby while another
/// live node holds it.
fn take_lease(
    db: &Arc<Db>,
    currency: &str,
    holder: &str,
    ttl: Duration,
) -> anyhow::Result<(lease::Lease, Standby)> {
    let mut standby = Standby::open(Arc::clone(db), currency)
        .with_context(|| format!("replaying currency {currency}"))?;
    let mut said = false;
    loop {
        // The database failing over, a broken connection, a lock timeout: a standby
        // waits and tries again, since then is when it is needed. Only a record this
        // build decides differently stops it.
        match lease::try_acquire(db, currency, holder, ttl) {
            Ok(Some(lease)) => return Ok((lease, standby)),
            Ok(None) => {}
            Err(e) => tracing::warn!(
                currency,
                "taking the writer lease failed, trying again: {e}"
            ),
        }
        if !said && let Ok(Some(h)) = lease::holder(db, currency) {
            tracing::info!(currency, writer = %h.holder, epoch = h.epoch, "another node writes this currency: following it as a hot standby until its lease runs out");
            said = true;
        }
        standby.wait_for_news(ttl / 6);
        match standby.catch_up() {
            Ok(_) => {}
            Err(e @ pgstore::StandbyError::Diverged { .. }) => {
                return Err(e).with_context(|| format!("following currency {currency}"));
            }
            Err(e) => tracing::warn!(currency, "following the journal failed, trying again: {e}"),
        }
    }
}
