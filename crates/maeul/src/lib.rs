//! The `maeul` binary's library: the data directory layout, the demo currency, the
//! service (`serve`) and the fault drills. `main.rs` is only the command line over these and the library crates.

pub mod admin;
pub mod bench_legacy;
pub mod bench_migrate;
pub mod data_dir;
pub mod demo;
pub mod drill;
pub mod forward;
pub mod legacy;
pub mod loadgen;
pub mod migration;
pub mod pg_drill;
pub mod scenario;
pub mod serve;
pub mod serve_pg;
pub mod status;
