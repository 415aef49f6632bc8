//! The nodes of a deployment: each says every so often that it is alive and where it
//! takes the writes other nodes forward to it. A follower finds its currency's writer
//! here (the lease names the node), and the nodes share the currencies out by how many
//! are alive ([`fair_share`]).

use std::time::Duration;

use crate::db::column;
use crate::{Db, PgError};

/// A node as the database last heard of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    /// Where it takes forwarded writes (`http://host:port`).
    pub url: String,
}

fn ms(d: Duration) -> f64 {
    d.as_millis() as f64
}

/// Says that `name` is alive now and takes forwarded writes at `url`.
pub fn announce(db: &Db, name: &str, url: &str) -> Result<(), PgError> {
    let conn = db.conn()?;
    conn.run(
        "announce this node",
        conn.execute(
            "INSERT INTO maeul_nodes (name, url, seen_at) VALUES ($1, $2, now())
             ON CONFLICT (name) DO UPDATE SET url = EXCLUDED.url, seen_at = now()",
            &[&name, &url],
        ),
    )?;
    Ok(())
}

/// Forgets `name` (a clean stop), so the others share the currencies without it at once.
pub fn leave(db: &Db, name: &str) -> Result<(), PgError> {
    let conn = db.conn()?;
    conn.run(
        "forget this node",
        conn.execute("DELETE FROM maeul_nodes WHERE name = $1", &[&name]),
    )?;
    Ok(())
}

/// The nodes heard from within `within`, by name.
pub fn alive(db: &Db, within: Duration) -> Result<Vec<Node>, PgError> {
    let conn = db.conn()?;
    let op = "list the nodes alive";
    let rows = conn.run(
        op,
        conn.query(
            "SELECT name, url FROM maeul_nodes
              WHERE seen_at > now() - $1 * interval '1 millisecond' ORDER BY name",
            &[&ms(within)],
        ),
    )?;
    rows.iter()
        .map(|r| {
            Ok(Node {
                name: column(r, 0, op)?,
                url: column(r, 1, op)?,
            })
        })
        .collect()
}

/// Where the node holding `currency`'s live writer lease takes forwarded writes, if
/// one holds it and said where.
pub fn writer_of(db: &Db, currency: &str) -> Result<Option<Node>, PgError> {
    let conn = db.conn()?;
    let op = "find the writer's node";
    let row = conn.run(
        op,
        conn.query_opt(
            "SELECT n.name, n.url FROM maeul_writers w JOIN maeul_nodes n ON n.name = w.holder
              WHERE w.currency = $1 AND w.expires_at > now() AND n.url <> ''",
            &[&currency],
        ),
    )?;
    row.map(|r| {
        Ok(Node {
            name: column(&r, 0, op)?,
            url: column(&r, 1, op)?,
        })
    })
    .transpose()
}

/// How many of `currencies` one of `nodes` alive should write: all of them shared out
/// evenly, rounded up (so that every currency has a taker).
pub fn fair_share(currencies: usize, nodes: usize) -> usize {
    currencies.div_ceil(nodes.max(1))
}

#[cfg(test)]
mod tests {
    use super::fair_share;

    #[test]
    fn every_currency_has_a_taker() {
        assert_eq!(fair_share(1, 3), 1);
        assert_eq!(fair_share(4, 2), 2);
        assert_eq!(fair_share(5, 2), 3);
        assert_eq!(fair_share(3, 0), 3);
        for currencies in 0..20 {
            for nodes in 1..8 {
                assert!(fair_share(currencies, nodes) * nodes >= currencies);
            }
        }
    }
}
