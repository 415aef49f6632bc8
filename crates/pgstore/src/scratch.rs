//! A throwaway schema on a PostgreSQL server, for tests and benchmarks.
//!
//! Tests use `MAEUL_TEST_PG` (a libpq URL or key=value string), else the local server
//! this project's CI starts ([`DEFAULT_SERVER`]). A test that cannot reach it fails,
//! saying how to start one: it never passes by skipping.

use std::sync::Arc;

use rand::Rng;

use std::time::Duration;

use crate::{Db, PgError, PgStorage};

/// The server tests use when `MAEUL_TEST_PG` is not set.
pub const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A schema of its own on a server, with maeul's tables, dropped with it. Every
/// connection it makes works in that schema, so tests running at once never see each
/// other.
#[derive(Debug)]
pub struct ScratchDb {
    server: String,
    schema: String,
}

impl ScratchDb {
    /// On the test server.
    ///
    /// # Panics
    /// When the test server cannot be reached or refuses: a test needs it.
    pub fn new() -> ScratchDb {
        let server = std::env::var("MAEUL_TEST_PG").unwrap_or_else(|_| DEFAULT_SERVER.to_owned());
        ScratchDb::on(&server).unwrap_or_else(|e| {
            panic!(
                "the PostgreSQL test server at {server} cannot be used ({e}); \
                 start one (.ci/run does) or point MAEUL_TEST_PG at one"
            )
        })
    }

    /// On the given server.
    pub fn on(server: &str) -> Result<ScratchDb, PgError> {
        let schema = format!("scratch_{:016x}", rand::rng().random::<u64>());
        let admin = Db::connect(server)?;
        let conn = admin.conn()?;
        conn.run(
            "create a scratch schema",
            conn.batch_execute(&format!("CREATE SCHEMA {schema}")),
        )?;
        let scratch = ScratchDb {
            server: server.to_owned(),
            schema,
        };
        crate::migrate(&scratch.try_db()?)?;
        Ok(scratch)
    }

    /// The URL a node would be given (`--store`), when the server was named by a URL.
    pub fn url(&self) -> String {
        let separator = if self.server.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options=-csearch_path%3D{}",
            self.server, self.schema
        )
    }

    fn try_db(&self) -> Result<Db, PgError> {
        let mut config = crate::db::parse(&self.server)?;
        config.options(format!("-csearch_path={}", self.schema));
        Db::with_config(config)
    }

    /// New connections, working in the schema.
    ///
    /// # Panics
    /// When the server went away.
    pub fn db(&self) -> Arc<Db> {
        Arc::new(self.try_db().unwrap_or_else(|e| panic!("{e}")))
    }
}

impl ScratchDb {
    /// The journal of `currency` in this schema, open for writing under a lease held
    /// for a day: a test or a benchmark writes alone.
    ///
    /// # Panics
    /// When the server went away, or another holder has the lease.
    pub fn writer(&self, currency: &str) -> PgStorage {
        let db = self.db();
        let lease =
            crate::lease::try_acquire(&db, currency, "scratch", Duration::from_secs(86_400))
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("the lease of {currency} is held by another"));
        PgStorage::writer(db, &lease)
    }
}

impl Default for ScratchDb {
    fn default() -> Self {
        ScratchDb::new()
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if let Ok(admin) = Db::connect(&self.server)
            && let Ok(conn) = admin.conn()
        {
            let _ = conn.run(
                "drop a scratch schema",
                conn.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema)),
            );
        }
    }
}
