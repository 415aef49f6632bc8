//! Users, passwords, payment PINs and sessions.
//!
//! - Passwords are hashed with argon2id; hashing runs on the blocking pool, at most a
//!   few at a time, so a sign-in storm cannot starve payments.
//! - Payment PINs (six digits: a slow hash would not stop a brute force of a stolen
//!   table, the secret key and the lock-out do) are keyed blake3 hashes under a key
//!   kept in the data directory (`pin.key`), so checking one costs microseconds and
//!   every payment can ask for it.
//! - Sessions are random 256-bit bearer tokens; only their blake3 hash is stored (in
//!   memory, and in SQLite so a restart does not sign everyone out). They expire and can
//!   be revoked (sign-out); a live stream ends when its session does.
//! - A sign-up writes the user with what its ledger set-up needs (`setup`) before the
//!   ledger is asked; the account is recorded once the ledger has opened it. A sign-up
//!   cut off in between (crash, dropped connection) is finished at the next sign-in or
//!   start, never left half-made.
//! - Sign-in failures count per (login, client address): five wrong passwords make
//!   that address wait, for that login only, so a stranger cannot lock the owner out.
//!   Failures of one login from many addresses slow it down gently (see
//!   `SignInGuard`), never lock it.
//! - Five wrong PINs lock payments for 30 minutes.
//! - No personal data in logs: logs name users by id only.
//!
//! Kept in the service's stores (`crate::store`; `service.sqlite` in the data
//! directory by default): this is the service's own data, not money, so it lives
//! beside the journal rather than in it. This file holds the rules; the stores only
//! keep what they are given.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use http::StatusCode;
use parking_lot::Mutex;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use utoipa::ToSchema;

use crate::error::ServiceError;
use crate::secret::Secret;
use crate::store::sqlite::SqliteService;
use crate::store::{
    Created, NewUserRecord, Person, SeedUser, ServiceStores, SessionStore, StoreError, UserRecord,
    UserStore,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Citizen,
    Merchant,
    Operator,
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Citizen => "citizen",
            Role::Merchant => "merchant",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Role> {
        [Role::Citizen, Role::Merchant, Role::Operator, Role::Auditor]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// Who is calling, as established by their session.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user_id: i64,
    pub role: Role,
    /// The wallet (citizen) or merchant account in `currency`.
    pub account: Option<u64>,
    pub currency: String,
    /// Operators and auditors: the currencies they may act on.
    pub currencies: Vec<String>,
    /// The session's token hash (to tell whether it is still live).
    pub session: [u8; 32],
}

impl Caller {
    pub fn may_run(&self, currency: &str) -> bool {
        matches!(self.role, Role::Operator | Role::Auditor)
            && self.currencies.iter().any(|c| c == currency)
    }
}

#[derive(Clone, Debug)]
struct Session {
    caller: Caller,
    expires_at: u64,
}

/// Sign-in attempts in the current window, of one login from one address or of one
/// login from everywhere.
#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    window_start: u64,
    /// When the latest attempt was counted (the per-login delay runs from it).
    last: u64,
}

impl Failures {
    fn new(now: u64) -> Failures {
        Failures {
            count: 0,
            window_start: now,
            last: 0,
        }
    }

    /// Starts a new window when `window_s` has passed.
    fn renew(&mut self, now: u64, window_s: u64) {
        if now >= self.window_start + window_s {
            *self = Failures::new(now);
        }
    }
}

/// Who may try a password now.
///
/// - Per (login, client address): five failures in 15 minutes and that address waits
///   out the window for that login. A stranger guessing at someone's login locks out
///   only themselves (IPv6 counts per /64, see `limits::address_key`).
/// - Per login, from every address: many addresses guessing one login (more than
///   `LOGIN_FAILURES_FREE` in an hour) make each further attempt wait a short delay
///   after the previous one, 1 second growing to `LOGIN_DELAY_MAX_S`, never a lock.
///   Addresses the login signed in from recently are taken to be its owner's and are
///   not slowed by others' failures, so a botnet cannot keep the owner out either.
///
/// All in memory, by hash (attacker-chosen strings are not kept); a restart forgets.
#[derive(Debug, Default)]
struct SignInGuard {
    pairs: HashMap<[u8; 32], Failures>,
    logins: HashMap<[u8; 32], Failures>,
    /// (login, address) → when it last signed in.
    known: HashMap<[u8; 32], u64>,
}

impl SignInGuard {
    /// Counts an attempt of `key` (a folded login) from `address` before the password
    /// is checked (so concurrent guesses are counted too), or says how long to wait.
    fn admit(&mut self, key: &str, address: u128, now: u64) -> Result<(), ServiceError> {
        let pair = pair_hash(key, address);
        let g = self;
        make_room(
            &mut g.pairs,
            |v| now < v.window_start + SIGN_IN_WINDOW_S,
            |v| v.window_start,
        );
        make_room(
            &mut g.logins,
            |v| now < v.window_start + LOGIN_WINDOW_S,
            |v| v.window_start,
        );
        let p = g.pairs.entry(pair).or_insert(Failures::new(now));
        p.renew(now, SIGN_IN_WINDOW_S);
        if p.count >= SIGN_IN_FAILURES_MAX {
            let wait_s = (p.window_start + SIGN_IN_WINDOW_S).saturating_sub(now);
            let minutes = wait_s.div_ceil(60).max(1);
            return Err(ServiceError {
                retry_after_s: Some(wait_s.max(1)),
                ..ServiceError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_sign_in_failures",
                    &format!(
                        "이 네트워크에서 로그인에 여러 번 실패했습니다. {minutes}분 뒤에 다시 시도해 주세요."
                    ),
                    &format!(
                        "Too many failed sign-ins from this network. Please try again in {minutes} min."
                    ),
                )
            });
        }
        let l = g
            .logins
            .entry(login_hash(key))
            .or_insert(Failures::new(now));
        l.renew(now, LOGIN_WINDOW_S);
        let owners = g
            .known
            .get(&pair)
            .is_some_and(|at| now < at + KNOWN_ADDRESS_S);
        let ready_at = l.last + login_delay_s(l.count);
        if !owners && now < ready_at {
            let wait_s = ready_at - now;
            return Err(ServiceError {
                retry_after_s: Some(wait_s),
                ..ServiceError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "sign_in_slowed",
                    &format!(
                        "이 아이디로 로그인 실패가 많아 잠시 기다려야 합니다. {wait_s}초 뒤에 다시 시도해 주세요."
                    ),
                    &format!(
                        "Many failed sign-ins for this login. Please try again in {wait_s} s."
                    ),
                )
            });
        }
        p.count += 1;
        l.count += 1;
        // The owner's own tries do not push back everyone else's next one.
        if !owners {
            l.last = now;
        }
        Ok(())
    }

    /// The password was right: the address's failures for the login are forgotten,
    /// the attempt is not counted against the login, and the address is the owner's.
    fn signed_in(&mut self, key: &str, address: u128, now: u64) {
        let pair = pair_hash(key, address);
        let g = self;
        g.pairs.remove(&pair);
        if let Some(l) = g.logins.get_mut(&login_hash(key)) {
            l.count = l.count.saturating_sub(1);
        }
        make_room(&mut g.known, |at| now < at + KNOWN_ADDRESS_S, |at| *at);
        g.known.insert(pair, now);
    }
}

const SIGN_IN_FAILURES_MAX: u32 = 5;
const SIGN_IN_WINDOW_S: u64 = 15 * 60;
/// Failures of one login from all addresses in `LOGIN_WINDOW_S` before it is slowed.
const LOGIN_FAILURES_FREE: u32 = 20;
const LOGIN_WINDOW_S: u64 = 3600;
/// The longest a slowed login makes an attempt wait.
const LOGIN_DELAY_MAX_S: u64 = 60;
/// How long an address a login signed in from counts as the owner's.
const KNOWN_ADDRESS_S: u64 = 30 * 24 * 3600;
/// The address key of requests without one (in-process calls): no real address has it
/// (`limits::address_key` keeps IPv4 below 2^32 and zeroes the low 64 bits of IPv6).
const NO_ADDRESS: u128 = u128::MAX;

/// The wait before the next attempt of a login with `attempts` in its window: none up
/// to `LOGIN_FAILURES_FREE`, then 1 s, doubling every 10 attempts, at most a minute.
fn login_delay_s(attempts: u32) -> u64 {
    match attempts.checked_sub(LOGIN_FAILURES_FREE) {
        None => 0,
        Some(over) => (1u64 << (over / 10).min(6)).min(LOGIN_DELAY_MAX_S),
    }
}

fn login_hash(key: &str) -> [u8; 32] {
    *blake3::hash(key.as_bytes()).as_bytes()
}

fn pair_hash(key: &str, address: u128) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&address.to_le_bytes());
    h.update(key.as_bytes());
    *h.finalize().as_bytes()
}

/// Keeps `map` under `TRACKED_LOGINS_MAX`: what is stale first, then the older half.
fn make_room<V>(
    map: &mut HashMap<[u8; 32], V>,
    fresh: impl Fn(&V) -> bool,
    at: impl Fn(&V) -> u64,
) {
    if map.len() < TRACKED_LOGINS_MAX {
        return;
    }
    map.retain(|_, v| fresh(v));
    if map.len() >= TRACKED_LOGINS_MAX {
        let mut times: Vec<u64> = map.values().map(&at).collect();
        times.sort_unstable();
        let cut = times.get(times.len() / 2).copied().unwrap_or(u64::MAX);
        map.retain(|_, v| at(v) > cut);
    }
}
const PIN_FAILURES_MAX: i64 = 5;
const PIN_LOCK_S: u64 = 30 * 60;
/// Locks that PIN checks take by user id: more than the server has threads.
const PIN_CHECK_STRIPES: usize = 64;

/// One PIN-check lock on a cache line of its own, so that two users' checks on two
/// threads do not pass the same line back and forth.
#[derive(Debug, Default)]
#[repr(align(64))]
struct PinStripe(Mutex<()>);
/// At most this many argon2 computations at once.
const HASHING_AT_ONCE: usize = 4;
/// At most this many waiting for one; more are answered 503 at once (a sign-in storm
/// gets an honest "try again" rather than a queue that times out).
const HASHING_WAITING_MAX: usize = 256;
/// At most this many logins tracked for rate limiting (oldest windows dropped first).
const TRACKED_LOGINS_MAX: usize = 100_000;
/// At most this many live sessions (expired ones are swept when it is reached).
const SESSIONS_MAX: usize = 2_000_000;

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub login: String,
    pub password: Secret<String>,
    pub pin: Option<Secret<String>>,
    pub role: Role,
    pub currency: String,
    pub currencies: Vec<String>,
    /// What the ledger set-up of this user needs (JSON), kept until it is done.
    pub setup: Option<String>,
}

#[derive(Debug)]
pub struct Auth {
    /// Where users, sessions, bank links (`bank_link.rs`), notices and stored answers
    /// are kept.
    pub(crate) stores: ServiceStores,
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    /// PIN checks one at a time per user (users share a stripe by id): the read, the
    /// comparison and the count happen under it, so concurrent guesses are all counted
    /// and none can undo a lock, while other users' payments do not wait.
    pin_checks: [PinStripe; PIN_CHECK_STRIPES],
    /// Sign-in attempts per login and address (see `SignInGuard`).
    sign_ins: Mutex<SignInGuard>,
    /// A hash verified when the login is unknown, so that both take as long.
    dummy_hash: Mutex<Option<String>>,
    hashing: Arc<Semaphore>,
    hashing_waiting: std::sync::atomic::AtomicUsize,
    /// Where the hashes run: threads of their own, at a lower priority.
    hashers: crate::hashing::Hashers,
    session_ttl: Duration,
    argon: Params,
    /// Redacted in `Debug`: `Auth` is inside `AppState`, which is printed whole.
    pin_key: Secret<[u8; 32]>,
}

/// The form a login is unique in and found by: NFKC, then lower case, then NFKC again
/// (lower-casing can make text NFKC would write otherwise). `Minji`, `MINJI` and a
/// full-width `ｍｉｎｊｉ` are one login. The login as typed at sign-up is kept for
/// display and for the PIN hash.
pub fn login_key(login: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let lower = login.nfkc().collect::<String>().to_lowercase();
    lower.nfkc().collect()
}

/// Longest login text folded at sign-in (a valid login is at most 64 bytes; NFKC can
/// shorten full-width text to a third): longer is refused before any work.
const LOGIN_INPUT_BYTES_MAX: usize = 256;

fn validate_login(login: &str) -> Result<(), ServiceError> {
    let ok = (3..=64).contains(&login.len())
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::bad_request(
            "login_invalid",
            "a login is 3-64 characters of letters, digits and . _ - @",
        ))
    }
}

fn validate_password(p: &str) -> Result<(), ServiceError> {
    if p.chars().count() < 8 || p.len() > 256 {
        return Err(ServiceError::bad_request(
            "password_invalid",
            "a password is 8 to 256 characters",
        ));
    }
    Ok(())
}

fn validate_pin(p: &str) -> Result<(), ServiceError> {
    if p.len() != 6 || !p.chars().all(|c| c.is_ascii_digit()) {
        return Err(ServiceError::bad_request(
            "pin_invalid",
            "a PIN is 6 digits",
        ));
    }
    Ok(())
}

impl Auth {
    /// Opens (or creates) the SQLite store in `dir` (`service.sqlite`, and the PIN key
    /// `pin.key`). `fast_hashing` lowers argon2's cost for tests only.
    pub fn open(dir: &Path, fast_hashing: bool) -> anyhow::Result<Auth> {
        std::fs::create_dir_all(dir)?;
        let store = Arc::new(SqliteService::open_in(dir)?);
        let pin_key = load_or_create_key(&dir.join("pin.key"))?;
        Auth::with_stores(ServiceStores::all_in(store), pin_key, fast_hashing)
    }

    /// Runs over the given stores (another database than SQLite, or a test double),
    /// with the service's secret key (`pin_key`: PINs, codes, account numbers).
    /// Gives old users their folded logins and loads the live sessions.
    pub fn with_stores(
        stores: ServiceStores,
        pin_key: [u8; 32],
        fast_hashing: bool,
    ) -> anyhow::Result<Auth> {
        let argon = if fast_hashing {
            Params::new(256, 1, 1, None)
        } else {
            Params::new(19 * 1024, 2, 1, None)
        }
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        fold_login_keys(&*stores.users)?;
        let sessions = load_sessions(&*stores.sessions)?;
        Ok(Auth {
            pin_key: Secret::new(pin_key),
            stores,
            sessions: Mutex::new(sessions),
            pin_checks: std::array::from_fn(|_| PinStripe::default()),
            sign_ins: Mutex::new(SignInGuard::default()),
            dummy_hash: Mutex::new(None),
            hashing: Arc::new(Semaphore::new(HASHING_AT_ONCE)),
            hashing_waiting: std::sync::atomic::AtomicUsize::new(0),
            hashers: crate::hashing::Hashers::new(HASHING_AT_ONCE)?,
            session_ttl: Duration::from_secs(12 * 3600),
            argon,
        })
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.argon.clone())
    }

    /// A turn at password hashing, or 503 when too many already wait for one.
    async fn hashing_turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ServiceError> {
        use std::sync::atomic::Ordering;
        if let Ok(permit) = self.hashing.try_acquire() {
            return Ok(permit);
        }
        /// Counts one waiter for as long as it waits (also when its request is dropped).
        struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let waiting = Waiting(&self.hashing_waiting);
        if waiting.0.fetch_add(1, Ordering::AcqRel) >= HASHING_WAITING_MAX {
            return Err(ServiceError::busy(2));
        }
        let permit = self.hashing.acquire().await;
        drop(waiting);
        permit.map_err(|e| ServiceError::internal(e.to_string()))
    }

    async fn hash(&self, secret: String) -> Result<String, ServiceError> {
        let _permit = self.hashing_turn().await?;
        let argon = self.argon();
        self.hashers
            .run(move || {
                let mut salt = [0u8; 16];
                rand::rng().fill_bytes(&mut salt);
                let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
                argon
                    .hash_password(secret.as_bytes(), &salt)
                    .map(|h| h.to_string())
                    .map_err(|e| e.to_string())
            })
            .await
            .ok_or_else(|| ServiceError::internal("the hashing threads stopped"))?
            .map_err(ServiceError::internal)
    }

    async fn verify(&self, secret: String, stored: String) -> Result<bool, ServiceError> {
        let _permit = self.hashing_turn().await?;
        let argon = self.argon();
        self.hashers
            .run(move || {
                PasswordHash::new(&stored)
                    .map(|h| argon.verify_password(secret.as_bytes(), &h).is_ok())
                    .unwrap_or(false)
            })
            .await
            .ok_or_else(|| ServiceError::internal("the hashing threads stopped"))
    }

    async fn dummy_hash(&self) -> Result<String, ServiceError> {
        if let Some(h) = self.dummy_hash.lock().clone() {
            return Ok(h);
        }
        let h = self.hash("not a password of anyone".into()).await?;
        *self.dummy_hash.lock() = Some(h.clone());
        Ok(h)
    }

    /// Checks a password again (before a sensitive change such as re-linking a bank).
    pub async fn confirm_password(&self, user_id: i64, password: &str) -> Result<(), ServiceError> {
        let hash = self.stores.users.password_hash(user_id)?;
        let ok = match hash {
            Some(h) if password.len() <= 256 => self.verify(password.to_owned(), h).await?,
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(ServiceError::new(
                StatusCode::UNAUTHORIZED,
                "password_wrong",
                "비밀번호가 맞지 않습니다.",
                "The password is wrong.",
            ))
        }
    }

    /// Creates a user; `account` is filled in by `set_account` once the ledger has
    /// opened it.
    pub async fn create(&self, u: NewUser) -> Result<i64, ServiceError> {
        validate_login(&u.login)?;
        validate_password(u.password.expose())?;
        if let Some(pin) = &u.pin {
            validate_pin(pin.expose())?;
        }
        let password = self.hash(u.password.expose().clone()).await?;
        let pin_hash = u.pin.as_ref().map(|p| self.pin_hash(&u.login, p.expose()));
        let created = self.stores.users.create_user(&NewUserRecord {
            login_key: login_key(&u.login),
            login: u.login,
            role: u.role,
            password_hash: password,
            pin_hash,
            currency: u.currency,
            currencies: u.currencies,
            created_s: now_s(),
            setup: u.setup,
        })?;
        match created {
            Created::Id(id) => Ok(id),
            // The login, or one that folds to the same (`login_key` is unique).
            Created::LoginTaken => Err(ServiceError::new(
                StatusCode::CONFLICT,
                "login_taken",
                "이미 사용 중인 아이디입니다. 다른 아이디를 골라 주세요.",
                "This login is taken. Please choose another.",
            )),
        }
    }

    /// Records the user's ledger account: the set-up is done.
    pub fn set_account(&self, user_id: i64, account: u64) -> Result<(), ServiceError> {
        self.stores.users.set_account(user_id, account)?;
        // Sessions opened before the set-up finished learn the account (rare: a scan).
        for s in self.sessions.lock().values_mut() {
            if s.caller.user_id == user_id {
                s.caller.account = Some(account);
            }
        }
        Ok(())
    }

    /// The set-up still owed to a user (a sign-up cut off before the ledger answered).
    pub fn pending_setup(&self, user_id: i64) -> Option<String> {
        self.stores
            .users
            .pending_setup(user_id)
            .unwrap_or_else(|e| logged(e, None))
    }

    /// Every user whose set-up is unfinished, with it and their currency (at start).
    pub fn pending_setups(&self) -> Vec<(i64, String, String)> {
        self.stores
            .users
            .pending_setups()
            .unwrap_or_else(|e| logged(e, Vec::new()))
            .into_iter()
            .map(|p| (p.user_id, p.setup, p.currency))
            .collect()
    }

    pub fn delete_user(&self, user_id: i64) {
        let _ = self.stores.sessions.remove_user_sessions(user_id);
        let _ = self.stores.users.delete_user(user_id);
        self.sessions
            .lock()
            .retain(|_, s| s.caller.user_id != user_id);
    }

    /// Counts an attempt of `key` (a folded login) from `address` before the password
    /// is checked (so concurrent guesses are counted too), or says how long to wait.
    fn admit_attempt(&self, key: &str, address: u128) -> Result<(), ServiceError> {
        self.sign_ins.lock().admit(key, address, now_s())
    }

    /// The password was right (see `SignInGuard::signed_in`).
    fn signed_in_from(&self, key: &str, address: u128) {
        self.sign_ins.lock().signed_in(key, address, now_s());
    }

    /// Signs in: a session token and when it expires. `from` is the client's address
    /// (none for in-process calls, which all count as one address).
    pub async fn sign_in(
        &self,
        login: &str,
        password: &str,
        from: Option<IpAddr>,
    ) -> Result<(String, u64, Role), ServiceError> {
        // A login that could never have been created fails like a wrong password,
        // without being remembered. Any variant of a login (case, full-width letters)
        // finds its user.
        let key = if login.len() <= LOGIN_INPUT_BYTES_MAX {
            login_key(login)
        } else {
            String::new()
        };
        if validate_login(&key).is_err() || password.len() > 256 {
            return Err(ServiceError::new(
                StatusCode::UNAUTHORIZED,
                "sign_in_failed",
                "아이디 또는 비밀번호가 맞지 않습니다.",
                "The login or password is wrong.",
            ));
        }
        let address = from.map_or(NO_ADDRESS, crate::limits::address_key);
        self.admit_attempt(&key, address)?;
        // The exact login first: of two users whose logins fold alike (made before
        // logins were folded, see `fold_login_keys`) each signs in with its own.
        let row = self.stores.users.sign_in_candidate(login, &key)?;
        let wrong = || {
            ServiceError::new(
                StatusCode::UNAUTHORIZED,
                "sign_in_failed",
                "아이디 또는 비밀번호가 맞지 않습니다.",
                "The login or password is wrong.",
            )
        };
        let Some(found) = row else {
            // As slow as a real check: the answer's timing does not tell whether the
            // login exists.
            let dummy = self.dummy_hash().await?;
            let _ = self.verify(password.to_owned(), dummy).await?;
            return Err(wrong());
        };
        let id = found.user.id;
        if !self
            .verify(password.to_owned(), found.password_hash)
            .await?
        {
            tracing::info!(user = id, "sign-in failed");
            return Err(wrong());
        }
        self.signed_in_from(&key, address);
        let role = found.user.role;
        let mut token = [0u8; 32];
        rand::rng().fill_bytes(&mut token);
        let expires_at = now_s() + self.session_ttl.as_secs();
        let session = *blake3::hash(&token).as_bytes();
        let caller = caller_of(found.user, session);
        // Kept on disk first: a session that is answered survives a restart.
        self.stores
            .sessions
            .insert_session(&session, id, expires_at)?;
        {
            let mut sessions = self.sessions.lock();
            if sessions.len() >= SESSIONS_MAX {
                let now = now_s();
                sessions.retain(|_, s| s.expires_at > now);
                let _ = self.stores.sessions.remove_expired_sessions(now);
                if sessions.len() >= SESSIONS_MAX {
                    let _ = self.stores.sessions.remove_session(&session);
                    return Err(ServiceError::busy(60));
                }
            }
            sessions.insert(session, Session { caller, expires_at });
        }
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token);
        Ok((token, expires_at, role))
    }

    /// The caller behind a bearer token.
    pub fn caller(&self, token: &str) -> Option<Caller> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()?;
        let key = *blake3::hash(&raw).as_bytes();
        let mut sessions = self.sessions.lock();
        let s = sessions.get(&key)?;
        if s.expires_at <= now_s() {
            sessions.remove(&key);
            return None;
        }
        Some(s.caller.clone())
    }

    pub fn sign_out(&self, token: &str) {
        if let Ok(raw) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token) {
            let key = *blake3::hash(&raw).as_bytes();
            self.sessions.lock().remove(&key);
            let _ = self.stores.sessions.remove_session(&key);
        }
    }

    /// Whether the session behind `caller` is still signed in and unexpired (long-lived
    /// streams ask this, so signing out ends them).
    pub fn session_live(&self, caller: &Caller) -> bool {
        self.sessions
            .lock()
            .get(&caller.session)
            .is_some_and(|s| s.expires_at > now_s())
    }

    fn pin_hash(&self, login: &str, pin: &str) -> String {
        let mut input = Vec::with_capacity(login.len() + 8);
        input.extend_from_slice(login.as_bytes());
        input.push(0);
        input.extend_from_slice(pin.as_bytes());
        blake3::keyed_hash(self.pin_key.expose(), &input)
            .to_hex()
            .to_string()
    }

    /// Checks a payment PIN; five wrong ones lock payments for 30 minutes. The read,
    /// the comparison and the count happen under one lock, so concurrent guesses are
    /// all counted and none can undo a lock.
    pub async fn check_pin(&self, user_id: i64, pin: &str) -> Result<(), ServiceError> {
        self.verify_pin(user_id, pin, WrongPin::Count)
    }

    /// Whether `pin` is the user's payment PIN and payments are not locked, counting
    /// nothing when it is not: for a request that may need no PIN at all (the retry of
    /// a payment already made), which calls [`Auth::check_pin`] only when this says no.
    pub fn pin_is_right(&self, user_id: i64, pin: &str) -> bool {
        self.verify_pin(user_id, pin, WrongPin::Ignore).is_ok()
    }

    fn verify_pin(&self, user_id: i64, pin: &str, wrong: WrongPin) -> Result<(), ServiceError> {
        let stripe = user_id.rem_euclid(PIN_CHECK_STRIPES as i64) as usize;
        let turn = self.pin_checks[stripe].0.lock();
        let state =
            self.stores.users.pin_state(user_id)?.ok_or_else(|| {
                ServiceError::internal(format!("no user {user_id} for a PIN check"))
            })?;
        let (failures, locked_until, login) = (
            i64::from(state.failures),
            i64::try_from(state.locked_until_s).unwrap_or(i64::MAX),
            state.login,
        );
        let Some(hash) = state.pin_hash else {
            return Err(ServiceError::bad_request(
                "pin_not_set",
                "no payment PIN is set",
            ));
        };
        let now = now_s() as i64;
        if locked_until > now {
            return Err(ServiceError {
                retry_after_s: Some((locked_until - now) as u64),
                ..ServiceError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "pin_locked",
                    "비밀번호를 여러 번 틀려 결제가 30분 동안 잠겼습니다.",
                    "Too many wrong PINs: payments are locked for 30 minutes.",
                )
            });
        }
        let given = self.pin_hash(&login, pin);
        if constant_time_eq(given.as_bytes(), hash.as_bytes()) {
            // A write only when there is something to reset: payments stay read-only here.
            if failures > 0 {
                let _ = self.stores.users.reset_pin_failures(user_id);
            }
            return Ok(());
        }
        if wrong == WrongPin::Ignore {
            return Err(pin_wrong());
        }
        let failures = failures + 1;
        let lock = if failures >= PIN_FAILURES_MAX {
            now + PIN_LOCK_S as i64
        } else {
            0
        };
        let _ = self.stores.users.set_pin_failures(
            user_id,
            if lock > 0 { 0 } else { failures as u32 },
            lock.max(0) as u64,
        );
        drop(turn);
        tracing::info!(user = user_id, failures, "wrong payment PIN");
        Err(pin_wrong().detail(format!(
            "{} tries left before a 30-minute lock",
            PIN_FAILURES_MAX - failures.min(PIN_FAILURES_MAX)
        )))
    }

    /// The service's secret key (`pin.key`): keyed hashes of PINs, codes and account
    /// numbers.
    pub(crate) fn secret_key(&self) -> &[u8; 32] {
        self.pin_key.expose()
    }
}

/// What a PIN check does with a wrong PIN.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WrongPin {
    /// Counts it towards the lock (a PIN the request needs).
    Count,
    /// Counts nothing (a look before deciding whether the PIN is needed).
    Ignore,
}

fn pin_wrong() -> ServiceError {
    ServiceError::new(
        StatusCode::UNAUTHORIZED,
        "pin_wrong",
        "결제 비밀번호가 맞지 않습니다.",
        "The payment PIN is wrong.",
    )
}

/// Gives every user the folded form of its login (`login_key`, unique), for stores
/// made before logins were folded.
///
/// Such a store may hold two logins that fold alike (`Minji` and `minji`). Neither is
/// dropped or merged, and start-up goes on: the older user (smaller id) owns the
/// folded form, so every variant signs in to it and no one can sign up under any of
/// them; the younger keeps no folded form and signs in with its exact login only.
/// Each start logs such users (by id) as a warning until an operator renames one.
/// Returns them as (younger, older) pairs.
fn fold_login_keys(users: &dyn UserStore) -> Result<Vec<(i64, i64)>, StoreError> {
    let collisions = users.fold_login_keys(&login_key)?;
    for (user, owner) in &collisions {
        tracing::warn!(
            user,
            owner,
            "this user's login differs from an older user's only in case or width: \
             the older one signs in with any variant, this one with its exact login only; \
             rename one of them"
        );
    }
    Ok(collisions)
}

fn caller_of(user: UserRecord, session: [u8; 32]) -> Caller {
    Caller {
        user_id: user.id,
        role: user.role,
        account: user.account,
        currency: user.currency,
        currencies: user.currencies,
        session,
    }
}

/// A failed read that the caller answers as "nothing there" (as it always did): the
/// cause goes to the log.
fn logged<T>(e: StoreError, fallback: T) -> T {
    tracing::error!(cause = %e, "a store read failed");
    fallback
}

/// The unexpired sessions on disk, with their callers (at start); expired ones are
/// deleted.
fn load_sessions(store: &dyn SessionStore) -> Result<HashMap<[u8; 32], Session>, StoreError> {
    Ok(store
        .live_sessions(now_s())?
        .into_iter()
        .map(|s| {
            let caller = caller_of(s.user, s.token_hash);
            (
                s.token_hash,
                Session {
                    caller,
                    expires_at: s.expires_at_s,
                },
            )
        })
        .collect())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A secret key: 32 random bytes in `path`, created (owner-only) on first start (the
/// PIN key, the consumer-code key).
pub fn load_or_create_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    if let Ok(bytes) = std::fs::read(path) {
        return bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("{} is not a 32-byte key", path.display()));
    }
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        #[cfg(unix)]
        use std::os::unix::fs::OpenOptionsExt;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(&key)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(key)
}

/// A demo citizen: a user whose wallet already exists in the ledger.
#[derive(Clone, Debug)]
pub struct SeededCitizen {
    pub login: String,
    pub account: u64,
    pub name: String,
    pub address: String,
}

impl Auth {
    /// Adds the demo's citizens in one transaction, all with the same (published)
    /// password and PIN: the password is hashed once. Logins already there are left
    /// as they are. Returns how many were added.
    pub async fn seed_citizens(
        &self,
        currency: &str,
        citizens: &[SeededCitizen],
        password: &str,
        pin: &str,
    ) -> anyhow::Result<usize> {
        let hash = self
            .hash(password.to_owned())
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.en))?;
        let users: Vec<SeedUser> = citizens
            .iter()
            .map(|c| SeedUser {
                login: c.login.clone(),
                login_key: login_key(&c.login),
                password_hash: hash.clone(),
                pin_hash: Some(self.pin_hash(&c.login, pin)),
                account: c.account,
                person: Some(Person {
                    name: c.name.clone(),
                    address: c.address.clone(),
                }),
            })
            .collect();
        Ok(self
            .stores
            .users
            .seed_users(Role::Citizen, currency, now_s(), &users)?)
    }

    /// Adds merchant logins for existing merchant accounts in one transaction, all with
    /// the same (published) password, hashed once: `(login, account)` pairs. Logins
    /// already there are left as they are. Returns how many were added.
    pub async fn seed_merchants(
        &self,
        currency: &str,
        merchants: &[(String, u64)],
        password: &str,
    ) -> anyhow::Result<usize> {
        let hash = self
            .hash(password.to_owned())
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.en))?;
        let users: Vec<SeedUser> = merchants
            .iter()
            .map(|(login, account)| SeedUser {
                login: login.clone(),
                login_key: login_key(login),
                password_hash: hash.clone(),
                pin_hash: None,
                account: *account,
                person: None,
            })
            .collect();
        Ok(self
            .stores
            .users
            .seed_users(Role::Merchant, currency, now_s(), &users)?)
    }

    /// A user's name and address, where the service keeps them (demo citizens).
    pub fn person(&self, user_id: i64) -> Option<(String, String)> {
        self.stores
            .users
            .person(user_id)
            .unwrap_or_else(|e| logged(e, None))
            .map(|p| (p.name, p.address))
    }
}

/// A notice an operator publishes to a currency's users.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Notice {
    pub id: i64,
    pub currency: String,
    pub title_ko: String,
    pub title_en: String,
    pub body_ko: String,
    pub body_en: String,
    /// Unix seconds.
    pub at: u64,
}

/// Notices listed at most per request.
pub const NOTICES_PAGE_MAX: usize = 100;

impl Auth {
    pub fn publish_notice(&self, n: &Notice) -> Result<i64, ServiceError> {
        Ok(self.stores.notices.publish_notice(n, now_s())?)
    }

    /// The newest notices of a currency, newest first.
    pub fn notices(&self, currency: &str, limit: usize) -> Vec<Notice> {
        self.stores
            .notices
            .notices(currency, limit.min(NOTICES_PAGE_MAX))
            .unwrap_or_else(|e| logged(e, Vec::new()))
    }
}

/// Stored answers older than this are forgotten (as keys are everywhere else).
const STORED_ANSWERS_KEPT_S: u64 = 24 * 3600;

impl Auth {
    /// The answer stored under `(user, key)`, if any (and not too old).
    pub fn stored_answer(
        &self,
        user: i64,
        key: &[u8],
    ) -> Result<Option<crate::idempotency::StoredAnswer>, ServiceError> {
        let cutoff = now_s().saturating_sub(STORED_ANSWERS_KEPT_S);
        Ok(self.stores.answers.stored_answer(user, key, cutoff)?)
    }

    /// Keeps the first answer under `(user, key)`; old ones are swept at the same time.
    pub fn store_answer(
        &self,
        user: i64,
        key: &[u8],
        answer: &crate::idempotency::StoredAnswer,
    ) -> Result<(), ServiceError> {
        let now = now_s();
        let answers = &self.stores.answers;
        answers.forget_answers_before(now.saturating_sub(STORED_ANSWERS_KEPT_S))?;
        Ok(answers.store_answer(user, key, answer, now)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn citizen(login: &str) -> NewUser {
        NewUser {
            login: login.into(),
            password: "s3cret-pass".into(),
            pin: None,
            role: Role::Citizen,
            currency: "busan".into(),
            currencies: Vec::new(),
            setup: None,
        }
    }

    /// The user a sign-in reached.
    async fn signed_in_as(auth: &Auth, login: &str) -> Option<i64> {
        let (token, _, _) = auth.sign_in(login, "s3cret-pass", None).await.ok()?;
        auth.caller(&token).map(|c| c.user_id)
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    async fn code_of(auth: &Auth, login: &str, password: &str, from: &str) -> String {
        match auth.sign_in(login, password, ip(from)).await {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.code,
        }
    }

    #[test]
    fn the_per_login_delay_grows_gently_and_stays_short() {
        for (attempts, delay_s) in [
            (0, 0),
            (19, 0),
            (20, 1),
            (29, 1),
            (30, 2),
            (40, 4),
            (70, 32),
        ] {
            assert_eq!(login_delay_s(attempts), delay_s, "{attempts}");
        }
        assert_eq!(login_delay_s(u32::MAX), LOGIN_DELAY_MAX_S);
    }

    /// Regression: five wrong passwords from anywhere locked the login everywhere.
    #[tokio::test]
    async fn failures_count_per_login_and_address() {
        let dir = tempfile::tempdir().expect("temp dir");
        let auth = Auth::open(dir.path(), true).expect("open");
        auth.create(citizen("minji")).await.expect("minji");
        auth.create(citizen("jun")).await.expect("jun");
        for _ in 0..5 {
            assert_eq!(
                code_of(&auth, "minji", "guess-guess", "10.0.0.1").await,
                "sign_in_failed"
            );
        }
        // That address waits, for that login, told how long; a variant of the login
        // (another case) is the same login.
        let e = auth
            .sign_in("MINJI", "s3cret-pass", ip("10.0.0.1"))
            .await
            .err();
        assert_eq!(
            e.as_ref().map(|e| e.code.as_str()),
            Some("too_many_sign_in_failures")
        );
        assert!(
            e.and_then(|e| e.retry_after_s)
                .is_some_and(|s| (1..=SIGN_IN_WINDOW_S).contains(&s))
        );
        // The owner elsewhere, and the same address for another login, go on.
        assert_eq!(
            code_of(&auth, "minji", "s3cret-pass", "10.0.0.2").await,
            "ok"
        );
        assert_eq!(code_of(&auth, "jun", "s3cret-pass", "10.0.0.1").await, "ok");
        // IPv6 counts per /64: another address of the same /64 is the same address.
        for _ in 0..5 {
            code_of(&auth, "jun", "guess-guess", "2001:db8:1:2::1").await;
        }
        assert_eq!(
            code_of(&auth, "jun", "s3cret-pass", "2001:db8:1:2::99").await,
            "too_many_sign_in_failures"
        );
        assert_eq!(
            code_of(&auth, "jun", "s3cret-pass", "2001:db8:1:3::1").await,
            "ok"
        );
    }

    /// Many addresses guessing one login slow it down (a short wait, never a lock);
    /// the owner's own address is not slowed. Time is passed in.
    #[test]
    fn many_addresses_slow_a_login_down_but_not_its_owner() {
        let mut g = SignInGuard::default();
        let t = 1_000_000;
        let owner = 99;
        let slowed = |r: Result<(), ServiceError>| match r {
            Err(e) if e.code == "sign_in_slowed" => e.retry_after_s,
            _ => None,
        };
        assert!(g.admit("minji", owner, t).is_ok());
        g.signed_in("minji", owner, t);
        // Four addresses, five wrong passwords each: 20, no wait yet.
        for a in 1..=4 {
            for _ in 0..5 {
                assert!(g.admit("minji", a, t).is_ok());
            }
        }
        // A fifth address waits a second, and is told so.
        assert_eq!(slowed(g.admit("minji", 5, t)), Some(1));
        // The owner does not wait.
        assert!(g.admit("minji", owner, t).is_ok());
        g.signed_in("minji", owner, t);
        // A second later the fifth is heard.
        assert!(g.admit("minji", 5, t + 1).is_ok());
        // The waits grow with the failures but never pass a minute.
        let mut now = t + 1;
        let mut longest = 0;
        for a in 6..100 {
            if let Some(wait_s) = slowed(g.admit("minji", a, now)) {
                assert!((1..=LOGIN_DELAY_MAX_S).contains(&wait_s), "{wait_s}");
                longest = longest.max(wait_s);
                now += wait_s;
                assert!(g.admit("minji", a, now).is_ok());
            }
        }
        assert_eq!(longest, LOGIN_DELAY_MAX_S);
        assert!(g.admit("minji", owner, now).is_ok(), "the owner still");
        // Another login is not slowed, and a new window starts afresh.
        assert!(g.admit("jun", 5, now).is_ok());
        assert!(g.admit("minji", 500, t + LOGIN_WINDOW_S).is_ok());
        assert!(g.admit("minji", 501, t + LOGIN_WINDOW_S).is_ok());
    }

    #[test]
    fn logins_fold_by_nfkc_and_case() {
        for (given, key) in [
            ("citizen-0001", "citizen-0001"),
            ("CITIZEN-0001", "citizen-0001"),
            ("Ｍｉｎｊｉ", "minji"),
            // The Kelvin sign folds to a plain k.
            ("\u{212A}im", "kim"),
        ] {
            assert_eq!(login_key(given), key, "{given}");
        }
    }

    /// A store made before logins were folded, holding `Minji` and `minji`: start-up
    /// goes on, both are kept, the older owns every variant, the younger signs in with
    /// its exact login, and no third variant can sign up.
    #[tokio::test]
    async fn a_store_made_before_folding_keeps_both_of_two_logins_that_fold_alike() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (minji, jun) = {
            let auth = Auth::open(dir.path(), true).expect("open");
            let minji = auth.create(citizen("Minji")).await.expect("Minji");
            let jun = auth.create(citizen("jun")).await.expect("jun");
            (minji, jun)
        };
        {
            // As such a store was: no folded column, a second login differing in case
            // (made before migrations too: schema version 0).
            crate::store::sqlite::execute_batch_for_tests(
                &dir.path().join("service.sqlite"),
                "PRAGMA user_version = 0;
                 DROP INDEX users_login_key;
                 ALTER TABLE users DROP COLUMN login_key;
                 INSERT INTO users (login, role, password, currency, created)
                     SELECT 'minji', role, password, currency, created FROM users
                     WHERE login = 'Minji';",
            )
            .expect("an old store");
        }
        let auth = Auth::open(dir.path(), true).expect("start-up goes on");
        let younger = minji + 2;
        assert_eq!(signed_in_as(&auth, "Minji").await, Some(minji));
        assert_eq!(signed_in_as(&auth, "MINJI").await, Some(minji));
        assert_eq!(signed_in_as(&auth, "minji").await, Some(younger));
        assert_eq!(signed_in_as(&auth, "JUN").await, Some(jun));
        for taken in ["mInJi", "JUN"] {
            let e = auth.create(citizen(taken)).await.err();
            assert_eq!(e.map(|e| e.code), Some("login_taken".to_owned()), "{taken}");
        }
        // A second start finds the same and changes nothing.
        drop(auth);
        let auth = Auth::open(dir.path(), true).expect("second start");
        assert_eq!(signed_in_as(&auth, "minji").await, Some(younger));
        assert_eq!(signed_in_as(&auth, "MinJi").await, Some(minji));
    }

    /// Regression: `Debug` of the store (inside `AppState`) printed the PIN key, and
    /// that of a new user the password and PIN.
    #[test]
    fn the_debug_of_the_store_and_of_a_new_user_shows_no_secret() {
        let dir = tempfile::tempdir().expect("temp dir");
        let auth = Auth::open(dir.path(), true).expect("open");
        let key = format!("{:?}", auth.secret_key());
        assert!(!format!("{auth:?}").contains(&key));
        let user = NewUser {
            login: "minji".into(),
            password: "hunter2-secret".into(),
            pin: Some("987654".into()),
            role: Role::Citizen,
            currency: "busan".into(),
            currencies: Vec::new(),
            setup: None,
        };
        let shown = format!("{user:?}");
        assert!(shown.contains("minji"), "{shown}");
        assert!(
            !shown.contains("hunter2-secret") && !shown.contains("987654"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn sessions_survive_a_restart_and_sign_out_is_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (kept, dropped) = {
            let auth = Auth::open(dir.path(), true).expect("open");
            auth.create(NewUser {
                login: "minji".into(),
                password: "s3cret-pass".into(),
                pin: None,
                role: Role::Citizen,
                currency: "busan".into(),
                currencies: Vec::new(),
                setup: None,
            })
            .await
            .expect("create");
            let (a, _, _) = auth.sign_in("minji", "s3cret-pass", None).await.expect("a");
            let (b, _, _) = auth.sign_in("minji", "s3cret-pass", None).await.expect("b");
            auth.sign_out(&b);
            (a, b)
        };
        let auth = Auth::open(dir.path(), true).expect("reopen");
        let caller = auth.caller(&kept).expect("a session survives a restart");
        assert!(auth.session_live(&caller));
        assert!(
            auth.caller(&dropped).is_none(),
            "a signed-out session stays out"
        );
        assert!(auth.caller("not-a-token").is_none());
    }
}
