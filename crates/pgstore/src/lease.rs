//! The writer lease: which node writes a currency, under which epoch.
//!
//! A lease lasts `ttl` by the database's clock and is renewed by its holder well
//! before that. Taking a lease (when it expired, or when the same holder takes it
//! again after a restart) adds one to the epoch. The lease's time only decides when
//! another node may *try*; safety does not rest on clocks: every journal insert holds
//! the lease row and matches its epoch in the same statement (see [`crate::PgJournal`]),
//! so a writer that was paused past its lease cannot add a record once another node
//! took it, whatever it believes.

use std::time::Duration;

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

fn epoch_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
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
    Ok(rows.first().map(|row| Lease {
        currency: currency.to_owned(),
        holder: holder.to_owned(),
        epoch: epoch_of(row.get(0)),
    }))
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
    Ok(row.map(|r| LeaseHolder {
        holder: r.get(0),
        epoch: epoch_of(r.get(1)),
        expires_in_ms: r.get(2),
    }))
}
