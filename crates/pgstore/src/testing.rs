//! A throwaway schema on the test server, for tests of this crate and others.
//!
//! The server is `MAEUL_TEST_PG` (a libpq URL), else the local one this project's CI
//! starts (`postgres://postgres@127.0.0.1:5432/test`). A test that cannot reach it
//! fails, saying how to start one: it never passes by skipping.

use std::sync::Arc;

use rand::Rng;

use crate::Db;

/// The server tests use when `MAEUL_TEST_PG` is not set.
pub const DEFAULT_TEST_SERVER: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A schema of its own on the test server, dropped with it. Its [`TestDb::url`] puts
/// every connection in that schema, so tests running at once never see each other.
#[derive(Debug)]
pub struct TestDb {
    server: String,
    schema: String,
    url: String,
}

fn server() -> String {
    std::env::var("MAEUL_TEST_PG").unwrap_or_else(|_| DEFAULT_TEST_SERVER.to_owned())
}

impl TestDb {
    /// Creates the schema and the tables in it.
    ///
    /// # Panics
    /// When the test server cannot be reached or refuses: a test needs it.
    pub fn new() -> TestDb {
        let server = server();
        let schema = format!("t_{:016x}", rand::rng().random::<u64>());
        let admin = Db::connect(&server).unwrap_or_else(|e| {
            panic!(
                "the PostgreSQL test server at {server} cannot be reached ({e}); \
                 start one (.ci/run does) or point MAEUL_TEST_PG at one"
            )
        });
        let conn = admin.conn().unwrap_or_else(|e| panic!("{e}"));
        conn.run(
            "create a test schema",
            conn.batch_execute(&format!("CREATE SCHEMA {schema}")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let separator = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{separator}options=-csearch_path%3D{schema}");
        let db = TestDb {
            server,
            schema,
            url,
        };
        crate::migrate(&db.db()).unwrap_or_else(|e| panic!("{e}"));
        db
    }

    /// The URL a node would be given (`--store`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A fresh connection set to the schema.
    ///
    /// # Panics
    /// When the server went away.
    pub fn db(&self) -> Arc<Db> {
        Arc::new(Db::connect(&self.url).unwrap_or_else(|e| panic!("{e}")))
    }
}

impl Default for TestDb {
    fn default() -> Self {
        TestDb::new()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(admin) = Db::connect(&self.server)
            && let Ok(conn) = admin.conn()
        {
            let _ = conn.run(
                "drop a test schema",
                conn.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema)),
            );
        }
    }
}
