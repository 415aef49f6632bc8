//! # migrate — changing a currency's operator without going dark
//!
//! A currency leaves one operator and arrives at another as an **interchange set**
//! (`format`): the journal's records up to a cut, byte for byte, plus documented JSONL
//! files of what the ledger holds at that cut (wallets by source and expiry, purchases
//! still cancellable, payments still refundable, cash-back open to claw-back, pending
//! transfers, scheme versions, budgets), the merchant registry with its earlier
//! operators' QR payloads, the notices, and people's data encrypted to the successor's
//! key; a manifest states the cut, the hashes, the counts and the control totals.
//!
//! [`export()`] writes a set from a data directory; [`import()`] checks every file
//! against the manifest, replays the journal (every outcome and state hash checked, as
//! `maeul verify` does), requires the files to say what the replayed ledger says, and
//! only then puts the currency into a data directory. Both can be killed at any point
//! and rerun to the same result.
//!
//! Arrows: `migrate` → `service` (its stores), `engine` (replay), `journal`, `ledger`.
//! Nothing of ours depends on it but the binary.

pub mod base;
mod error;
mod export;
pub mod follow;
pub mod format;
mod import;
pub mod legacy;
pub mod people;
mod sha;
mod take;
pub mod views;

pub use error::MigrateError;
pub use export::{ExportOptions, base_id, export, export_base, export_live};
pub use import::{ImportOptions, ImportReport, JournalStep, Taking, VerifiedCut, import};

/// Progress of a long step: (what, done, total); `total` 0 when unknown.
pub type Progress<'a> = &'a (dyn Fn(&str, u64, u64) + Sync);
