//! Secret keys every node of a deployment shares (`maeul_keys`), instead of each node
//! reading its own file (as `service::auth::load_or_create_key` does for one node).

use rand::RngCore;

use crate::{Db, PgError};

/// The key called `name`, made of `len` random bytes by whichever node asks first:
/// nodes starting at once all insert, one insert wins, and all read the winner's.
/// A key kept with another length is refused.
pub fn load_or_create(db: &Db, name: &str, len: usize) -> Result<Vec<u8>, PgError> {
    let mut fresh = vec![0u8; len];
    rand::rng().fill_bytes(&mut fresh);
    let conn = db.conn()?;
    conn.run(
        "make a shared key",
        conn.execute(
            "INSERT INTO maeul_keys (name, key) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&name, &fresh],
        ),
    )?;
    // A statement of its own: it sees the row another node committed while this
    // insert waited.
    let row = conn.run(
        "read a shared key",
        conn.query_one("SELECT key FROM maeul_keys WHERE name = $1", &[&name]),
    )?;
    let key: Vec<u8> = row
        .try_get(0)
        .map_err(|e| PgError::other("read a shared key", e.to_string()))?;
    if key.len() != len {
        return Err(PgError::other(
            "read a shared key",
            format!(
                "the key {name:?} has {} bytes where {len} were asked for",
                key.len()
            ),
        ));
    }
    Ok(key)
}

/// A 32-byte key, as `service::auth::load_or_create_key` gives the service's PIN key.
pub fn load_or_create_32(db: &Db, name: &str) -> Result<[u8; 32], PgError> {
    let key = load_or_create(db, name, 32)?;
    <[u8; 32]>::try_from(key.as_slice())
        .map_err(|_| PgError::other("read a shared key", "not 32 bytes"))
}

/// A small setting every node shares, kept beside the keys under `name` (a sale day,
/// say): its bytes, if one is kept.
pub fn setting(db: &Db, name: &str) -> Result<Option<Vec<u8>>, PgError> {
    let conn = db.conn()?;
    let row = conn.run(
        "read a shared setting",
        conn.query_opt("SELECT key FROM maeul_keys WHERE name = $1", &[&name]),
    )?;
    row.map(|r| {
        r.try_get(0)
            .map_err(|e| PgError::other("read a shared setting", e.to_string()))
    })
    .transpose()
}

/// Keeps (or, with `None`, removes) the shared setting `name`.
pub fn set_setting(db: &Db, name: &str, value: Option<&[u8]>) -> Result<(), PgError> {
    let conn = db.conn()?;
    match value {
        Some(v) => conn.run(
            "keep a shared setting",
            conn.execute(
                "INSERT INTO maeul_keys (name, key) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET key = EXCLUDED.key",
                &[&name, &v],
            ),
        )?,
        None => conn.run(
            "remove a shared setting",
            conn.execute("DELETE FROM maeul_keys WHERE name = $1", &[&name]),
        )?,
    };
    Ok(())
}
