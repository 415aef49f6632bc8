//! What the service keeps, behind one trait per concern, so that the rules (hashing,
//! failure counters, caches and indexes in memory) stay in `auth`, `bank_link` and
//! `merchants` while the storage can be SQLite (`sqlite`, today's files in the data
//! directory) or another database implementing the same traits.
//!
//! - Each trait is what changes together: [`UserStore`] (users, login keys, password
//!   and PIN hashes, people, pending set-ups), [`SessionStore`], [`BankLinkStore`]
//!   (verifications, consents, links), [`NoticeStore`], [`AnswerStore`] (the stored
//!   first answers of requests) and [`RegistryStore`] (merchant records per currency,
//!   alias files, revenue-band tables, the status log: `directory.sqlite`). A write that
//!   must span two tables (a link with its consent, records with their status log and a
//!   sync's alias file) is one method, one transaction.
//! - Methods are synchronous (callers hold a lock or run on the blocking pool, as they
//!   did over SQLite), take `&self`, and speak the service's types: user ids, login
//!   keys, token hashes, merchant records. No SQL or driver type crosses them.
//! - Failures are one type, [`StoreError`], turned into a [`ServiceError`] in one place
//!   (`From` below): `Unavailable` (busy, unreachable: the caller may retry) is a 503
//!   `store_unavailable`, anything else a 500 `internal` whose cause goes to the log.
//!   Outcomes a caller expects (a login taken, a repeated request key) are values, not
//!   errors.
//! - `conformance` (tests, or the `conformance` feature) checks any implementation
//!   against the same expectations.

use std::fmt::Debug;
use std::sync::Arc;

use directory::Merchant;

use crate::auth::{Notice, Role};
use crate::bank_link::{Stage, Verification};
use crate::error::ServiceError;
use crate::idempotency::StoredAnswer;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod sqlite;

/// Why a store could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store is busy or cannot be reached now (locked, connection lost): nothing was
    /// written, and the same request may succeed shortly.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// What the store holds cannot be read as this build's types (a damaged row).
    #[error("the store holds an unreadable {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
    /// Anything else (disk full, an I/O error, a constraint nobody expected).
    #[error("the store failed: {0}")]
    Failed(String),
}

/// The one place store failures become answers: retry later, or our fault.
impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> ServiceError {
        match e {
            StoreError::Unavailable(detail) => ServiceError::store_unavailable(detail),
            e => ServiceError::internal(e.to_string()),
        }
    }
}

// ----- users and sessions -------------------------------------------------------------

/// Who a user is, as a session carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub id: i64,
    pub role: Role,
    /// The wallet or merchant account, once the ledger has opened it.
    pub account: Option<u64>,
    pub currency: String,
    /// Operators and auditors: the currencies they may act on.
    pub currencies: Vec<String>,
}

/// A user to add.
#[derive(Clone, Debug)]
pub struct NewUserRecord {
    /// As typed at sign-up (shown, and part of the PIN hash).
    pub login: String,
    /// The folded login (`auth::login_key`): unique.
    pub login_key: String,
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: String,
    pub pin_hash: Option<String>,
    pub currency: String,
    pub currencies: Vec<String>,
    /// Unix seconds.
    pub created_s: u64,
    /// What the user's ledger set-up still needs (JSON), until `set_account`.
    pub setup: Option<String>,
}

/// What adding a user did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    Id(i64),
    /// The login, or one that folds to the same key, is another user's.
    LoginTaken,
}

/// A user found for a sign-in, with their password hash.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub user: UserRecord,
    pub password_hash: String,
}

/// A user's payment PIN and its failure count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinState {
    pub login: String,
    pub pin_hash: Option<String>,
    pub failures: u32,
    /// Unix seconds; payments are locked until then.
    pub locked_until_s: u64,
}

/// A user whose ledger set-up is unfinished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingSetup {
    pub user_id: i64,
    pub setup: String,
    pub currency: String,
}

/// A person's name and address, where the service keeps them (demo citizens).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub address: String,
}

/// A user the demo adds with an existing ledger account.
#[derive(Clone, Debug)]
pub struct SeedUser {
    pub login: String,
    pub login_key: String,
    pub password_hash: String,
    pub pin_hash: Option<String>,
    pub account: u64,
    pub person: Option<Person>,
}

/// A user as an operator change carries them: everything the successor needs for
/// them to sign in and pay as before (hashes, never passwords).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedUser {
    /// Kept by the successor: it is the ledger's client id of every command the user
    /// sent, so a retry after the switch is recognised as the same request.
    pub id: i64,
    pub role: Role,
    pub login: String,
    pub login_key: Option<String>,
    pub password_hash: String,
    pub pin_hash: Option<String>,
    pub account: u64,
    /// Unix seconds.
    pub created_s: u64,
    pub person: Option<Person>,
}

/// The users of one currency as an operator change reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsersOfCurrency {
    /// Citizens and merchants with a ledger account, in id order.
    pub users: Vec<ExportedUser>,
    /// Citizens and merchants whose sign-up has not reached the ledger yet (not
    /// carried: they have no money; they sign up again).
    pub unfinished_sign_ups: usize,
}

/// Users: logins and their folded keys, password and PIN hashes, people, set-ups.
pub trait UserStore: Send + Sync + Debug {
    /// Adds a user; `LoginTaken` when its login or login key is already another's.
    fn create_user(&self, user: &NewUserRecord) -> Result<Created, StoreError>;

    /// Records the user's ledger account; the set-up is done (forgotten).
    fn set_account(&self, user_id: i64, account: u64) -> Result<(), StoreError>;

    /// The set-up still owed to a user without an account.
    fn pending_setup(&self, user_id: i64) -> Result<Option<String>, StoreError>;

    /// Every user without an account whose set-up is owed.
    fn pending_setups(&self) -> Result<Vec<PendingSetup>, StoreError>;

    /// Removes the user (their sessions are the session store's).
    fn delete_user(&self, user_id: i64) -> Result<(), StoreError>;

    /// The user signing in as `login`: the one whose login is exactly `login` first,
    /// else the one owning `login_key`.
    fn sign_in_candidate(
        &self,
        login: &str,
        login_key: &str,
    ) -> Result<Option<Credentials>, StoreError>;

    /// The user's password hash.
    fn password_hash(&self, user_id: i64) -> Result<Option<String>, StoreError>;

    /// The user's PIN hash, failures and lock.
    fn pin_state(&self, user_id: i64) -> Result<Option<PinState>, StoreError>;

    /// Sets the PIN failure count and lock (`locked_until_s`, Unix seconds).
    fn set_pin_failures(
        &self,
        user_id: i64,
        failures: u32,
        locked_until_s: u64,
    ) -> Result<(), StoreError>;

    /// Forgets the PIN failures (a right PIN), leaving the lock time as it is.
    fn reset_pin_failures(&self, user_id: i64) -> Result<(), StoreError>;

    /// Gives every user without a login key the key `fold` makes of their login, in id
    /// order, in one transaction; a user whose key another (older) user holds keeps
    /// none. Answers those as (user, owner) pairs.
    fn fold_login_keys(&self, fold: &dyn Fn(&str) -> String)
    -> Result<Vec<(i64, i64)>, StoreError>;

    /// Adds users of `role` in `currency` in one transaction, each with their person if
    /// given; logins already there are left as they are. Answers how many were added.
    fn seed_users(
        &self,
        role: Role,
        currency: &str,
        created_s: u64,
        users: &[SeedUser],
    ) -> Result<usize, StoreError>;

    /// The user's name and address, if kept.
    fn person(&self, user_id: i64) -> Result<Option<Person>, StoreError>;

    /// The citizens and merchants of `currency` (staff are the operator's own and stay).
    fn users_of(&self, currency: &str) -> Result<UsersOfCurrency, StoreError>;

    /// Adds exported users to `currency` in one transaction, each with their id, role,
    /// hashes, account, time and person; a user already there with the same id and
    /// login is left as it is (so a rerun adds nothing), and an id or login that is
    /// another user's here fails the whole transaction. Answers how many were added.
    fn restore_users(&self, currency: &str, users: &[ExportedUser]) -> Result<usize, StoreError>;

    /// Puts exported users into `currency` as they are in the set, in one transaction:
    /// a user there with the same id and login takes the set's hashes, account and
    /// person; one not there is added; an id or login that is another user's fails
    /// the whole transaction. What a follower does to stay equal to the old operator.
    /// Answers how many were added or changed.
    fn upsert_users(&self, currency: &str, users: &[ExportedUser]) -> Result<usize, StoreError>;

    /// The user of `currency` with this id as [`UserStore::users_of`] has it (none: not
    /// there, staff, or a sign-up not finished).
    fn carried_user(&self, currency: &str, id: i64) -> Result<Option<ExportedUser>, StoreError>;

    /// Removes users of `currency` (with their person and sessions) by id, in one
    /// transaction: ones the old operator no longer has. Answers how many were there.
    fn remove_users(&self, currency: &str, ids: &[i64]) -> Result<usize, StoreError>;
}

/// A session kept on disk, with its user.
#[derive(Clone, Debug)]
pub struct StoredSession {
    pub token_hash: [u8; 32],
    /// Unix seconds.
    pub expires_at_s: u64,
    pub user: UserRecord,
}

/// Sessions by the hash of their token (never the token).
pub trait SessionStore: Send + Sync + Debug {
    fn insert_session(
        &self,
        token_hash: &[u8; 32],
        user_id: i64,
        expires_at_s: u64,
    ) -> Result<(), StoreError>;

    fn remove_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError>;

    fn remove_user_sessions(&self, user_id: i64) -> Result<(), StoreError>;

    /// Removes the sessions that expired at or before `now_s`.
    fn remove_expired_sessions(&self, now_s: u64) -> Result<(), StoreError>;

    /// Removes the expired sessions, then answers the others with their users (a
    /// session whose user is gone, or unreadable, is left out).
    fn live_sessions(&self, now_s: u64) -> Result<Vec<StoredSession>, StoreError>;

    /// The live sessions of `currency`'s citizens and merchants, by login: what a
    /// successor carries so that signed-in apps and pages go on there.
    fn sessions_of(&self, currency: &str, now_s: u64) -> Result<Vec<CarriedSession>, StoreError>;

    /// Puts carried sessions back, each for the user with its login (a login not
    /// there, or a session already there, is left out). Answers how many were added.
    fn restore_sessions(&self, sessions: &[CarriedSession]) -> Result<usize, StoreError>;

    /// The live session with this token hash of a citizen or merchant of `currency`,
    /// as [`SessionStore::sessions_of`] has it.
    fn carried_session(
        &self,
        currency: &str,
        token_hash: &[u8; 32],
        now_s: u64,
    ) -> Result<Option<CarriedSession>, StoreError>;

    /// Removes sessions by their token's hash, in one transaction (signed out, or
    /// ended, at the old operator). Answers how many were there.
    fn remove_sessions(&self, token_hashes: &[[u8; 32]]) -> Result<usize, StoreError>;
}

/// A session as an operator change carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CarriedSession {
    pub login: String,
    pub token_hash: [u8; 32],
    /// Unix seconds.
    pub expires_at_s: u64,
}

// ----- bank links ---------------------------------------------------------------------

/// A new verification, as first written.
#[derive(Clone, Copy, Debug)]
pub struct NewVerification<'a> {
    pub id: &'a str,
    pub user_id: i64,
    pub account: u64,
    pub currency: &'a str,
    pub request_key: &'a [u8],
    pub fingerprint: &'a [u8],
    pub bank_account: &'a str,
    pub code: Option<&'a str>,
    pub code_hash: Option<&'a [u8]>,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub stage: Stage,
}

/// What writing a new verification found.
#[derive(Debug)]
pub enum InsertedVerification {
    Done,
    /// The same user used the same request key before (a retry, or a concurrent twin).
    Repeat(Box<Verification>),
}

/// A verified link with the consent it was given with.
#[derive(Clone, Copy, Debug)]
pub struct VerifiedLink<'a> {
    pub verification: &'a str,
    pub user_id: i64,
    pub account: u64,
    pub currency: &'a str,
    pub bank_account: &'a str,
    /// A keyed hash of the account number (hex).
    pub bank_account_hash: &'a str,
    pub bank_account_masked: &'a str,
    pub purpose: &'a str,
    pub text_version: &'a str,
    /// Unix ms.
    pub at_ms: u64,
}

/// A consent as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consent {
    pub text_version: String,
    pub bank_account_masked: String,
    /// Unix ms.
    pub at_ms: u64,
}

/// A verified link between a ledger account and a bank account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkRecord {
    pub account: u64,
    pub bank_account: String,
    /// Unix ms.
    pub verified_ms: u64,
}

/// Bank-account verifications, the consents given and the links they made.
pub trait BankLinkStore: Send + Sync + Debug {
    fn verification(&self, id: &str) -> Result<Option<Verification>, StoreError>;

    fn verification_by_key(
        &self,
        user_id: i64,
        request_key: &[u8],
    ) -> Result<Option<Verification>, StoreError>;

    /// The user's verifications created after `since_ms`, and when the oldest of them
    /// was (0 if none).
    fn verification_starts(&self, user_id: i64, since_ms: u64) -> Result<(u32, u64), StoreError>;

    /// Writes a new verification (durably); when it carries a code, the user's other
    /// open verifications (sending, code sent) are superseded in the same transaction.
    /// A request key the user used before writes nothing and answers that one.
    fn insert_verification(
        &self,
        v: &NewVerification<'_>,
    ) -> Result<InsertedVerification, StoreError>;

    /// Moves a verification from `from` to `to` (with `detail` if given), only if it is
    /// still at `from`; the plain code is forgotten unless `to` is `Sending`. Answers
    /// whether it moved.
    fn advance_verification(
        &self,
        id: &str,
        from: Stage,
        to: Stage,
        detail: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// Counts a wrong code of a verification waiting for one (`CodeSent`), remembering
    /// `try_key`, and locks it when the count reaches `tries_max`, atomically. Answers
    /// the count, or `None` if it was not waiting for a code.
    fn count_wrong_code(
        &self,
        id: &str,
        try_key: &[u8],
        tries_max: u32,
    ) -> Result<Option<u32>, StoreError>;

    /// Links a verification waiting for its code: it becomes `Linked`, the consent is
    /// recorded and the account's link set, in one transaction. `false` (nothing
    /// written) if it was no longer waiting for its code.
    fn link_verified(&self, link: &VerifiedLink<'_>) -> Result<bool, StoreError>;

    /// Every verified link: (ledger account, bank account number).
    fn bank_links(&self) -> Result<Vec<(u64, String)>, StoreError>;

    /// Every verified link with when it was verified, in account order.
    fn verified_links(&self) -> Result<Vec<LinkRecord>, StoreError>;

    /// Puts verified links carried from another operator; an account already linked
    /// keeps its link (so a rerun changes nothing). Answers how many were added.
    fn restore_links(&self, links: &[LinkRecord]) -> Result<usize, StoreError>;

    /// The verified link of `account`, if it has one.
    fn verified_link(&self, account: u64) -> Result<Option<LinkRecord>, StoreError>;

    /// Puts verified links as the old operator has them now, replacing an account's
    /// link; and removes the links of `gone` accounts: one transaction. Answers how
    /// many were written and removed.
    fn replace_links(&self, links: &[LinkRecord], gone: &[u64]) -> Result<usize, StoreError>;

    /// The user's consents, newest first.
    fn bank_consents(&self, user_id: i64) -> Result<Vec<Consent>, StoreError>;

    /// The consent given with verification `id`.
    fn consent_of(&self, verification: &str) -> Result<Option<Consent>, StoreError>;
}

// ----- notices and stored answers -----------------------------------------------------

/// Notices operators publish.
pub trait NoticeStore: Send + Sync + Debug {
    /// Keeps a notice (its `id` and `at` are the store's: `at_s`); answers its id.
    fn publish_notice(&self, notice: &Notice, at_s: u64) -> Result<i64, StoreError>;

    /// The newest `limit` notices of a currency, newest first.
    fn notices(&self, currency: &str, limit: usize) -> Result<Vec<Notice>, StoreError>;
}

/// The first answers of requests whose effect is not a ledger command, by (user, key).
pub trait AnswerStore: Send + Sync + Debug {
    /// The answer under `(user, key)` stored at or after `not_before_s`.
    fn stored_answer(
        &self,
        user_id: i64,
        key: &[u8],
        not_before_s: u64,
    ) -> Result<Option<StoredAnswer>, StoreError>;

    /// Keeps `answer` under `(user, key)` (replacing one there), stored at `at_s`.
    fn store_answer(
        &self,
        user_id: i64,
        key: &[u8],
        answer: &StoredAnswer,
        at_s: u64,
    ) -> Result<(), StoreError>;

    /// Forgets the answers stored before `before_s`.
    fn forget_answers_before(&self, before_s: u64) -> Result<(), StoreError>;
}

/// The stores of `service.sqlite`'s concerns, as `Auth` holds them.
#[derive(Clone, Debug)]
pub struct ServiceStores {
    pub users: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub bank_links: Arc<dyn BankLinkStore>,
    pub notices: Arc<dyn NoticeStore>,
    pub answers: Arc<dyn AnswerStore>,
}

impl ServiceStores {
    /// Every concern kept by one store (one database).
    pub fn all_in<S>(store: Arc<S>) -> ServiceStores
    where
        S: UserStore + SessionStore + BankLinkStore + NoticeStore + AnswerStore + 'static,
    {
        ServiceStores {
            users: store.clone(),
            sessions: store.clone(),
            bank_links: store.clone(),
            notices: store.clone(),
            answers: store,
        }
    }
}

// ----- the change log, for an operator change -------------------------------------------

/// Keys of rows changed since a position (migrations `0002_change_log`): the set made
/// at a cutover carries only those. `user:<id>`, `session:<hex hash>`,
/// `bank_link:<account>` in the service store; `merchant:<id>` in the registry.
pub trait ChangeLogStore: Send + Sync + Debug {
    /// Starts noting changes (from now on; what was noted stays, for other
    /// currencies' bases): answers the position after which changes count.
    fn start_change_log(&self) -> Result<u64, StoreError>;

    /// The keys of the rows changed after `after`, each once (the registry's: of
    /// `currency`), and the position they reach.
    fn changed_since(&self, currency: &str, after: u64) -> Result<Vec<String>, StoreError>;
}

// ----- the merchant registry ----------------------------------------------------------

/// One write to a currency's registry, in one transaction.
#[derive(Clone, Copy, Debug, Default)]
pub struct RegistryWrite<'a> {
    /// Records to put (inserted or replaced by id).
    pub records: &'a [&'a Merchant],
    /// Also append each record's latest status change to the status log.
    pub log_status: bool,
    /// An alias file to append (replayed in order at start).
    pub alias_file: Option<&'a [u8]>,
    /// When (µs), for the alias file.
    pub at_us: u64,
}

/// Each currency's merchant registry: records, alias files, the revenue-band table
/// and the status log.
pub trait RegistryStore: Send + Sync + Debug {
    /// Every record of `currency` (any order).
    fn merchants(&self, currency: &str) -> Result<Vec<Merchant>, StoreError>;

    /// The record of `currency` with this id.
    fn merchant(&self, currency: &str, id: u64) -> Result<Option<Merchant>, StoreError>;

    /// The alias files of `currency`, in the order they were added.
    fn alias_files(&self, currency: &str) -> Result<Vec<Vec<u8>>, StoreError>;

    /// The revenue-band table of `currency` (CSV), if one was set.
    fn revenue_bands(&self, currency: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Writes records, their status changes and an alias file, all or nothing.
    fn write(&self, currency: &str, write: &RegistryWrite<'_>) -> Result<(), StoreError>;

    /// Removes a record (undoing a `write` whose change the registry then refused).
    fn remove_merchant(&self, currency: &str, id: u64) -> Result<(), StoreError>;

    /// Sets the revenue-band table of `currency` (CSV) at `at_us`.
    fn set_revenue_bands(&self, currency: &str, csv: &[u8], at_us: u64) -> Result<(), StoreError>;
}
