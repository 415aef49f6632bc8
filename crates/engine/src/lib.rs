//! # engine — a currency's sequencer, journal wiring, recovery and verification
//!
//! One [`Engine`] per currency owns that currency's [`ledger::Ledger`]. It takes
//! commands from a bounded queue, applies them in batches, writes each batch to the
//! journal with group commit (one fdatasync for everything that arrived while the
//! previous write was in flight), and answers a command only when its batch is durable.
//!
//! Start-up and `maeul verify` share one replay ([`replay`]): every journaled command is
//! re-executed with the current code and must give the recorded outcome and state hash.
//! A version that would decide differently refuses to serve. Records and snapshots
//! carry the identity of the rules that wrote them, so a build that did not write the
//! recent records re-decides the whole journal before it serves ([`recovery`]).

mod currency;
mod error;
pub mod follower;
pub mod record;
mod recovery;
pub mod replay;
mod sequencer;
mod snapshotter;
mod storage;

pub use currency::CurrencyCode;
pub use error::{CommitError, DivergenceReport, EngineError, SubmitError};
pub use follower::{Forward, ForwardReply, News};
pub use recovery::{Quarantine, StartReport, TakenOver};
pub use replay::{
    Divergence, DivergenceKind, Progress, ProgressSink, Replayer, VerifyReport, Writer, verify,
    verify_with,
};
pub use sequencer::{
    BatchSizes, Buckets, COMMITTED_BACKLOG, Clock, CommitLatency, CommittedBatch, Counters, Engine,
    EngineOptions, Health, Ticket, system_clock,
};
pub use storage::{FileStorage, OpenedWriter, ReadEnd, Storage};
