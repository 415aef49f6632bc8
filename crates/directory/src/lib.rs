//! maeul's merchant directory: who can be paid, where they are, and how citizens find them.
//!
//! The crate owns the merchant registry of a scheme: records keyed by business
//! registration number with a maeul id that never changes ([`model`]), their status
//! lifecycle, the import of an outside registry file with a reviewable diff ([`sync`]),
//! and the two searches citizens use: nearby by real distance and by Korean name,
//! including initial consonants ([`search`]). It also generates realistic synthetic
//! merchants and citizens for tests, demos and benchmarks ([`synth`]).
//!
//! Like the ledger, it is pure: no I/O, no clock (callers pass `now_us`), no global
//! state. The server persists the records ([`Registry::records`], serde) and reloads them
//! with [`Registry::from_records`]. Why it exists: after the 2025 Onnuri switch, merchant
//! data being re-synced broke QR payments and distance search; here ids survive every
//! sync, a sync is planned and reported before it is applied, and searches are checked
//! against brute force.

pub mod brn;
pub mod error;
pub mod geo;
pub mod hangul;
pub mod hours;
pub mod lines;
pub mod model;
mod name_index;
pub mod registry;
pub mod revenue;
pub mod search;
pub mod sync;
pub mod synth;

pub use brn::Brn;
pub use error::{
    BrnError, DirectoryError, FieldError, GeoError, HoursError, RowError, SearchError, SyncError,
};
pub use geo::GeoPoint;
pub use hours::{DayHours, OpeningHours, Weekday};
pub use model::{
    Actor, Field, FieldSet, Mcc, Merchant, MerchantId, MerchantProfile, Revenue, RevenueBand,
    RevenueRange, SourceMask, Status, StatusChange, StatusSet,
};
pub use registry::Registry;
pub use revenue::RevenueBands;
pub use search::{Filter, Hit, NameQuery, NearbyQuery, Page, SearchPage, SourceFilter};
pub use sync::{
    IdAllocator, NewStatus, ReportRow, SequentialIds, SyncOptions, SyncPlan, SyncReport, report_csv,
};
