//! # service — what maeul does for people, without HTTP
//!
//! Users and sessions, sign-in and PINs (`auth`), bank-account verification and linking
//! (`bank_link`), the merchant registry with its QR aliases and consumer codes
//! (`merchants`), the ledger following the registry (`mirror`), an operator's use cases
//! (`operator`: merchants, registry files, the scheme, the desk), ledger commands under a
//! request's key (`ledger_ops`, `idempotency`), per-user limits (`limits`) and the
//! history projection (`history`). The HTTP API (`server`) and the pages are thin layers
//! over this crate: they read requests and render answers; the rules of who may do what,
//! and what a repeated request is answered, live here.
//!
//! What the service keeps goes through the store traits of [`store`], one per concern
//! (`UserStore`, `SessionStore`, `BankLinkStore`, `NoticeStore`, `AnswerStore`,
//! `RegistryStore`): synchronous, object-safe, speaking the service's own types, failing
//! with one `StoreError`. `Auth` and `Merchants` hold them as `Arc<dyn …>` and keep the
//! rules (hashing, counters, caches, indexes); `Auth::open` and `Merchants::open` build
//! the SQLite stores of the data directory (`store::sqlite`, the only SQL in the crate
//! besides the migration runner `schema`), while `Auth::with_stores` and
//! `Merchants::with_store` take any other implementation, which must pass
//! `store::conformance`. A change is written before memory takes it: a failed write
//! leaves the service as it was.
//!
//! Errors are one type, [`ServiceError`]: a stable code, words for people in Korean and
//! English, the cause for operators.

pub mod auditor;
pub mod auth;
pub mod bank_link;
pub mod camera;
pub mod citizen;
pub mod dashboard;
pub mod error;
pub mod handover;
pub mod hashing;
pub mod history;
pub mod idempotency;
pub mod ledger_ops;
pub mod limits;
pub mod merchant;
pub mod merchants;
pub mod mirror;
pub mod operator;
pub mod public;
pub mod sale;
pub mod schema;
pub mod secret;
pub mod session;
pub mod standing;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod waiting;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bank::HttpBank;
use engine::{Engine, Storage};
use treasury::Treasury;

pub use auth::{Auth, Caller, NewUser, Role};
pub use error::{Problem, ServiceError};
pub use idempotency::Answered;
pub use secret::Secret;

/// One currency as the service sees it.
#[derive(Clone, Debug)]
pub struct Currency {
    pub engine: Arc<Engine>,
    pub storage: Arc<dyn Storage>,
    pub treasury: Arc<Treasury<HttpBank>>,
    pub history: Arc<history::History>,
    /// The merchant registry, QR aliases and consumer codes.
    pub merchants: Arc<merchants::Merchants>,
}

impl Currency {
    /// Joins a running engine, its journal and its treasury; starts following the
    /// journal for history (needs a tokio runtime).
    pub fn new(
        engine: Arc<Engine>,
        storage: Arc<dyn Storage>,
        treasury: Arc<Treasury<HttpBank>>,
        merchants: Arc<merchants::Merchants>,
    ) -> Currency {
        let history = history::History::follow(&engine, &storage);
        Currency {
            engine,
            storage,
            treasury,
            history,
            merchants,
        }
    }
}

/// The service: every currency this node runs, its users, and the limits that apply to
/// everyone whichever way they come in (API or pages).
#[derive(Debug)]
pub struct Service {
    pub currencies: BTreeMap<String, Currency>,
    pub auth: Arc<Auth>,
    /// Changes per user.
    pub writes: limits::Limiter,
    /// Which request each idempotency key was used for.
    pub requests: idempotency::Requests,
    /// Sign-ups and sign-ins per client address.
    pub by_address: limits::Limiter<u128>,
    /// Whole-journal work (reports, verification) runs one at a time: each reads the
    /// journal from genesis and would otherwise take the cores payments need.
    pub whole_journal: Arc<tokio::sync::Semaphore>,
    /// Bounds of bank-account verification (code lifetime, tries, starts a day).
    pub bank_link: bank_link::Settings,
    /// Camera-image decodes running at once, API and pages together (each may take
    /// `qr::DECODE_MEMORY_MAX_BYTES` and seconds of a core); one permit each. More are
    /// answered 503 at once, never queued (see `citizen::scan_image`).
    pub image_decodes: Arc<tokio::sync::Semaphore>,
    /// Each currency's latest background verification (the auditor's desk).
    pub verifications: auditor::Verifications,
    /// Each currency's dashboard series, started at its first view.
    pub dashboards: dashboard::Dashboards,
    /// Live payment streams open, per user and in all (the API's and the pages').
    pub streams: Arc<limits::Streams>,
    /// Successor credentials, the cutover, and where moved currencies went.
    pub handover: handover::Handover,
    /// The scheduled sale day, if any.
    pub sale: sale::Sales,
}

/// Camera-image decodes at once by default: two cores, each decode up to 64 MiB.
pub const IMAGE_DECODES_MAX: usize = 2;

impl Service {
    pub fn new(currencies: BTreeMap<String, Currency>, auth: Arc<Auth>) -> Service {
        Service {
            currencies,
            auth,
            writes: limits::Limiter::new(limits::WriteLimit::default()),
            requests: idempotency::Requests::default(),
            by_address: limits::Limiter::new(limits::WriteLimit::PER_ADDRESS),
            whole_journal: Arc::new(tokio::sync::Semaphore::new(1)),
            bank_link: bank_link::Settings::default(),
            image_decodes: Arc::new(tokio::sync::Semaphore::new(IMAGE_DECODES_MAX)),
            verifications: auditor::Verifications::default(),
            dashboards: dashboard::Dashboards::default(),
            streams: limits::Streams::new(limits::StreamLimit::default()),
            handover: handover::Handover::default(),
            sale: sale::Sales::default(),
        }
    }

    /// The same with the successor credentials and moves kept in a data directory.
    pub fn with_handover(mut self, handover: handover::Handover) -> Service {
        self.handover = handover;
        self
    }

    /// The same with other caps on live payment streams (per user, in all).
    pub fn with_stream_limit(mut self, limit: limits::StreamLimit) -> Service {
        self.streams = limits::Streams::new(limit);
        self
    }

    /// The same with a given per-user write limit.
    pub fn with_write_limit(mut self, limit: limits::WriteLimit) -> Service {
        self.writes = limits::Limiter::new(limit);
        self
    }

    /// The same with a given limit on sign-ups and sign-ins per client address.
    pub fn with_address_limit(mut self, limit: limits::WriteLimit) -> Service {
        self.by_address = limits::Limiter::new(limit);
        self
    }

    /// The same with other bounds on bank-account verification.
    pub fn with_bank_link(mut self, settings: bank_link::Settings) -> Service {
        self.bank_link = settings;
        self
    }

    /// Sign-ups and sign-ins from one client address are limited (before any password is
    /// hashed); requests without an address (in-process) are not.
    pub fn admit_address(&self, from: Option<std::net::IpAddr>) -> Result<(), ServiceError> {
        match from {
            Some(ip) => self
                .by_address
                .admit(limits::address_key(ip))
                .map_err(ServiceError::too_many),
            None => Ok(()),
        }
    }

    pub fn currency(&self, code: &str) -> Result<&Currency, ServiceError> {
        self.currencies
            .get(code)
            .ok_or_else(|| ServiceError::not_found("currency"))
    }

    /// The currency `code`, for one of its operators; `403` for anyone else.
    pub fn operator_of(&self, caller: &Caller, code: &str) -> Result<&Currency, ServiceError> {
        if caller.role != Role::Operator || !caller.may_run(code) {
            return Err(ServiceError::forbidden());
        }
        self.currency(code)
    }
}

/// Microseconds since the Unix epoch (the registry's and the ledger's clock).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
