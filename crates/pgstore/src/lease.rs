//! The writer lease: which node writes a currency, under which epoch.
//!
//! A lease lasts `ttl` by the database's clock and is renewed by its holder well
//! before that. Taking a lease (when it expired, or when the same holder takes it
//! again after a restart) adds one to the epoch. The lease's time only decides when
//! another node may *try*; safety does not rest on clocks: every journal insert holds
//! the lease row and matches its epoch in the same statement (see [`crate::PgJournal`]),
//! so a writer that was paused past its lease cannot add a record once another node
//! took it, whatever it believes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::db::{column, unsigned};
use crate::{Db, PgError};

/// A lease this node holds: the currency and the epoch it writes under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub currency: String,
    pub holder: String,
    pub epoch: u64,
}

/// Who holds a currency's lease, as the database says now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    pub holder: String,
    pub epoch: u64,
    /// Milliseconds until it expires; negative when it already has.
    pub expires_in_ms: i64,
}

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

/// Takes the currency's lease for `holder` if nobody holds it, it expired, or
/// `holder` held it (a restart). `None` when another holder's lease is still live.
pub fn try_acquire(
    db: &Db,
    currency: &str,
    holder: &str,
    ttl: Duration,
) -> Result<Option<Lease>, PgError> {
    let conn = db.conn()?;
    let rows = conn.run(
        "take the writer lease",
        conn.query(
            "INSERT INTO maeul_writers AS w (currency, epoch, holder, taken_at, expires_at)
             VALUES ($1, 1, $2, now(), now() + $3 * interval '1 millisecond')
             ON CONFLICT (currency) DO UPDATE
                SET epoch = w.epoch + 1, holder = EXCLUDED.holder,
                    taken_at = EXCLUDED.taken_at, expires_at = EXCLUDED.expires_at
              WHERE w.expires_at < now() OR w.holder = EXCLUDED.holder
             RETURNING epoch",
            &[&currency, &holder, &(ttl_ms(ttl) as f64)],
        ),
    )?;
    rows.first()
        .map(|row| {
            Ok(Lease {
                currency: currency.to_owned(),
                holder: holder.to_owned(),
                epoch: unsigned(row, 0, "take the writer lease")?,
            })
        })
        .transpose()
}

/// Extends a lease this node holds. False when it is no longer this node's (another
/// node took it): the holder must stop writing.
pub fn renew(db: &Db, lease: &Lease, ttl: Duration) -> Result<bool, PgError> {
    let conn = db.conn()?;
    let n = conn.run(
        "renew the writer lease",
        conn.execute(
            "UPDATE maeul_writers SET expires_at = now() + $3 * interval '1 millisecond'
              WHERE currency = $1 AND epoch = $2",
            &[
                &lease.currency,
                &(lease.epoch as i64),
                &(ttl_ms(ttl) as f64),
            ],
        ),
    )?;
    Ok(n == 1)
}

/// Gives a lease up at once (a clean stop), so that another node need not wait for it
/// to expire. Its epoch stays: the next taker adds one.
pub fn release(db: &Db, lease: &Lease) -> Result<(), PgError> {
    let conn = db.conn()?;
    conn.run(
        "release the writer lease",
        conn.execute(
            "UPDATE maeul_writers SET expires_at = now() - interval '1 millisecond'
              WHERE currency = $1 AND epoch = $2",
            &[&lease.currency, &(lease.epoch as i64)],
        ),
    )?;
    Ok(())
}

/// Who holds the currency's lease now, if anyone ever did.
pub fn holder(db: &Db, currency: &str) -> Result<Option<LeaseHolder>, PgError> {
    let conn = db.conn()?;
    let row = conn.run(
        "read the writer lease",
        conn.query_opt(
            "SELECT holder, epoch,
                    (extract(epoch FROM expires_at - now()) * 1000)::int8
               FROM maeul_writers WHERE currency = $1",
            &[&currency],
        ),
    )?;
    let op = "read the writer lease";
    row.map(|r| {
        Ok(LeaseHolder {
            holder: column(&r, 0, op)?,
            epoch: unsigned(&r, 1, op)?,
            expires_in_ms: column(&r, 2, op)?,
        })
    })
    .transpose()
}

/// How many live leases each node holds, by node name.
pub fn held_by_node(db: &Db) -> Result<std::collections::BTreeMap<String, usize>, PgError> {
    let conn = db.conn()?;
    let op = "count the leases by node";
    let rows = conn.run(
        op,
        conn.query(
            "SELECT holder, count(*) FROM maeul_writers WHERE expires_at > now() GROUP BY holder",
            &[],
        ),
    )?;
    rows.iter()
        .map(|r| Ok((column(r, 0, op)?, unsigned(r, 1, op)? as usize)))
        .collect()
}

/// Renews a lease on a thread of its own, every third of its time to live, until
/// dropped (which gives the lease up) or until the lease is found taken.
#[derive(Debug)]
pub struct Keeper {
    lost: Arc<AtomicBool>,
    stop: Option<crossbeam_channel::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Keeper {
    pub fn start(db: Arc<Db>, lease: Lease, ttl: Duration) -> Keeper {
        let lost = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = crossbeam_channel::bounded::<bool>(1);
        let flag = Arc::clone(&lost);
        let thread = std::thread::Builder::new()
            .name(format!("lease-{}", lease.currency))
            .spawn(move || {
                let every = ttl / 3;
                loop {
                    match stopped.recv_timeout(every) {
                        Ok(release_it) => {
                            if release_it && let Err(e) = release(&db, &lease) {
                                tracing::warn!(currency = %lease.currency, "the writer lease was not released ({e}); it expires by itself");
                            }
                            return;
                        }
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                    }
                    match renew(&db, &lease, ttl) {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::error!(currency = %lease.currency, epoch = lease.epoch, "the writer lease was taken by another node; this node writes no more");
                            flag.store(true, Ordering::Release);
                            return;
                        }
                        // The database is away: the lease may run out, and then the
                        // journal's fence refuses this node's writes.
                        Err(e) => {
                            tracing::warn!(currency = %lease.currency, "renewing the writer lease failed: {e}")
                        }
                    }
                }
            })
            .ok();
        Keeper {
            lost,
            stop: Some(stop),
            thread,
        }
    }

    /// The lease was found taken by another node.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }

    /// The flag [`Keeper::lost`] reads, for a watcher that must not keep the keeper.
    pub fn lost_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.lost)
    }

    /// Stops renewing and gives the lease up, so another node may take it at once.
    pub fn release(mut self) {
        self.finish(true);
    }

    fn finish(&mut self, release_it: bool) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(release_it);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Keeper {
    /// Stops renewing; the lease runs out by itself (a node that stops without saying
    /// so must not hand its currency over while its engine may still write).
    fn drop(&mut self) {
        self.finish(false);
    }
}
