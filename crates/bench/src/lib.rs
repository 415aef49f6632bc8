//! Benchmarks for maeul.
//!
//! [`baseline`] is what maeul's ledger is compared against: the naive design most
//! payment systems use, one SQL transaction per transfer, on SQLite and on PostgreSQL.

pub mod baseline;
