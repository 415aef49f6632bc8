//! The simulated bank's books on disk: every change to them, in order, as one row of a
//! SQLite table (`synchronous=FULL`), written before the request that made it is
//! answered and before any other request can see it.
//!
//! A change is the *result* of a decision (a transaction with its id, time and amount;
//! an order's final answer), never the request that led to it, so loading the books is
//! replaying the rows into a fresh [`Core`](super::core::Core) and does not depend on
//! the clock or the fault plan. This is what keeps "a reference executes at most once"
//! true across a crash: either the row of an execution is on disk, and a retried order
//! is answered from it, or it is not, and neither the money movement nor its answer was
//! ever seen by anyone.

use std::path::Path;

use anyhow::Context;
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use crate::types::{AccountNo, Order, OrderStatus};

/// One change to the books.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    /// An account's standing data after it was opened, changed or closed (its balance
    /// moves only through the transactions below).
    Account {
        number: AccountNo,
        holder: String,
        allow_negative: bool,
        closed: bool,
        at_ms: u64,
    },
    /// An administrator's balance change: transaction `tx_id`.
    Adjust {
        tx_id: u64,
        account: AccountNo,
        delta: i64,
        at_ms: u64,
    },
    /// A reference reserved by a `late` fault, decided later.
    Held { order: Order, at_ms: u64 },
    /// An order's final answer; a completed one carries its transaction's id and time.
    /// `duplicate`: the answer went into the feed twice.
    Final {
        order: Order,
        status: OrderStatus,
        duplicate: bool,
        at_ms: u64,
    },
}

/// The open store.
pub(crate) struct Store {
    db: Connection,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store at `path` and reads every change in it, in order.
    pub(crate) fn open(path: &Path) -> anyhow::Result<(Store, Vec<Event>)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let db = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        // One bank per file: the exclusive lock is taken by the first write below and
        // held until the store is closed, so a second bank on the same file fails here.
        db.execute_batch(
            "PRAGMA locking_mode=EXCLUSIVE;
             PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             BEGIN IMMEDIATE;
             CREATE TABLE IF NOT EXISTS events (
                 seq INTEGER PRIMARY KEY,
                 body TEXT NOT NULL
             );
             COMMIT;",
        )
        .with_context(|| {
            format!(
                "preparing {} (is another simulated bank using it?)",
                path.display()
            )
        })?;
        let mut events = Vec::new();
        {
            let mut stmt = db.prepare("SELECT seq, body FROM events ORDER BY seq")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (seq, body) = row?;
                let event: Event = serde_json::from_str(&body)
                    .with_context(|| format!("{}: change {seq} is unreadable", path.display()))?;
                events.push(event);
            }
        }
        Ok((Store { db }, events))
    }

    /// Writes `events` in one transaction; durable when this returns `Ok`.
    pub(crate) fn append(&mut self, events: &[Event]) -> anyhow::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let tx = self.db.transaction()?;
        {
            let mut stmt = tx.prepare_cached("INSERT INTO events (body) VALUES (?1)")?;
            for e in events {
                stmt.execute(params![serde_json::to_string(e)?])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
