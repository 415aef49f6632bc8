//! The schema, as numbered migrations. Nodes that start together apply them once: the
//! whole run holds a transaction-scoped advisory lock.

use crate::{Db, PgError};

/// The migrations, in order. A shipped one is never edited: a change is a new file.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "journal", include_str!("../migrations/0001_journal.sql")),
    (2, "service", include_str!("../migrations/0002_service.sql")),
    (
        3,
        "directory",
        include_str!("../migrations/0003_directory.sql"),
    ),
    (4, "keys", include_str!("../migrations/0004_keys.sql")),
    (5, "nodes", include_str!("../migrations/0005_nodes.sql")),
];

/// The schema version this build writes.
pub const LATEST: i32 = 5;

/// The advisory lock key under which migrations run ("maeul" in ASCII).
const MIGRATION_LOCK: i64 = 0x006d_6165_756c;

/// Brings the database's schema to [`LATEST`]. Refuses a database that a newer build
/// already migrated further: this build would not know its tables.
pub fn migrate(db: &Db) -> Result<i32, PgError> {
    let mut conn = db.conn()?;
    let tx =
        crate::db::wait(conn.transaction()).map_err(|e| PgError::new("begin a migration", &e))?;
    fn run<T>(
        op: &'static str,
        f: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, PgError> {
        crate::db::wait(f).map_err(|e| PgError::new(op, &e))
    }
    run(
        "take the migration lock",
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]),
    )?;
    run(
        "create the schema table",
        tx.execute(
            "CREATE TABLE IF NOT EXISTS maeul_schema (
                version    int4 PRIMARY KEY,
                name       text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
            &[],
        ),
    )?;
    let row = run(
        "read the schema version",
        tx.query_one("SELECT coalesce(max(version), 0) FROM maeul_schema", &[]),
    )?;
    let current: i32 = crate::db::column(&row, 0, "read the schema version")?;
    if current > LATEST {
        return Err(PgError::other(
            "check the schema version",
            format!(
                "the database is at schema version {current}, newer than this build's {LATEST}; \
                 run a build at least as new"
            ),
        ));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > current) {
        run("apply a migration", tx.batch_execute(sql))?;
        run(
            "record a migration",
            tx.execute(
                "INSERT INTO maeul_schema (version, name) VALUES ($1, $2)",
                &[version, name],
            ),
        )?;
        tracing::info!(
            version,
            name,
            at = db.describe(),
            "applied a PostgreSQL migration"
        );
    }
    run("commit the migrations", tx.commit())?;
    Ok(LATEST)
}
