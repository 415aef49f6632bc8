//! `pgstore`: maeul on PostgreSQL.
//!
//! The embedded default keeps a currency's journal in a file on one machine. This crate
//! keeps it in PostgreSQL instead, so that several maeul nodes share it and a machine's
//! death loses nothing the database acknowledged:
//!
//! * [`Db`]: connections to one database (a libpq URL, multi-host included), driven on
//!   one background thread and called synchronously from any thread, async or not;
//! * [`migrate`]: the schema as numbered migrations, applied under an advisory lock;
//! * [`lease`]: the writer lease per currency, whose epoch fences a deposed writer;
//! * [`PgStorage`]: the engine's `Storage` (records as rows, snapshots beside them),
//!   whose [`PgJournal`] appends only under the lease's epoch;
//! * [`Standby`]: a hot copy of a currency, replayed as the writer writes (woken by
//!   `LISTEN`/`NOTIFY`), which takes over in the time a lease runs out.
//! * [`PgServiceStores`]: the service's stores (users, sessions, bank links, notices,
//!   stored answers, merchant registries) as `maeul_` tables, and [`keys`], the secret
//!   keys every node shares.
//!
//! Every call blocks its thread like a SQLite call does; the engine calls it from its
//! own writer and snapshot threads.

mod db;
mod error;
pub mod keys;
pub mod lease;
pub mod nodes;
mod schema;
#[cfg(feature = "scratch")]
pub mod scratch;
pub mod service_stores;
pub mod standby;
mod storage;

pub use db::{Db, Listener};
pub use error::PgError;
pub use lease::{Keeper, Lease, LeaseHolder};
pub use nodes::Node;
pub use schema::{LATEST, migrate};
pub use service_stores::{PgRegistry, PgService, PgServiceStores};
pub use standby::{JournalNews, Standby, StandbyError};
pub use storage::{JOURNAL_CHANNEL, PgJournal, PgStorage};
