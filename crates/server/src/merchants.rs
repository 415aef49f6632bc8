//! The merchant registry as the server holds it, per currency: the directory (records,
//! lifecycle, search), the previous operators' QR aliases, and the consumer codes citizens
//! show at the till.
//!
//! - The directory is the truth about who may be paid; the ledger mirrors it (a merchant
//!   account for every record, suspended unless approved: `api::mirror_in_ledger`).
//!   Money rules never read the directory, so a registry outage cannot move money.
//! - Records are kept in `directory.sqlite` in the data directory (one JSON row per
//!   merchant, written in the same step as the change) and loaded with one bulk build at
//!   start. Alias files are kept as imported and replayed in order, so the table after a
//!   restart is the table before it. Every status change is also appended to a log.
//! - A merchant's id never changes (its QR codes and aliases point at it), whatever a
//!   registry sync does.
//! - Consumer codes carry a random token, never a person: which wallet a token stands for
//!   is kept here, in memory, for the code's few minutes (bounded).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use directory::{
    Actor, Brn, DirectoryError, Merchant, MerchantId, MerchantProfile, Registry, Status,
    SyncOptions, SyncReport,
};
use parking_lot::{Mutex, RwLock};
use qr::{
    AliasHit, AliasQuery, AliasTable, ConsumerCodes, ConsumerConfig, ConsumerError, ConsumerSecret,
    ImportReport, IssuedCode, MerchantInfo, MerchantStatus, ScanAnswer, ScanContext, TokenId,
    VerifiedCode,
};
use rand::RngCore;
use rusqlite::{Connection, params};

use crate::error::ApiError;

/// Merchants created by a registry sync get ids from here up (signed-up merchants have
/// theirs from `api::MERCHANT_BASE`, the demo's are small numbers).
pub const SYNCED_BASE: u64 = 3_000_000_000;
/// At most this many consumer codes outstanding per currency (each lives ≤ 3 minutes).
const CONSUMER_CODES_MAX: usize = 200_000;

#[derive(Debug)]
pub struct Merchants {
    currency: String,
    registry: RwLock<Registry>,
    aliases: RwLock<AliasTable>,
    consumer: Mutex<ConsumerCodes>,
    /// Token → (wallet account, expires at µs) of outstanding consumer codes.
    payers: Mutex<HashMap<[u8; 10], (u64, u64)>>,
    /// Codes already used by a till: (client, key) → (wallet, expires µs), so a retry of
    /// that sale charges the same wallet once the code is gone.
    redeemed: Mutex<HashMap<(u64, u128), (u64, u64)>>,
    db: Mutex<Connection>,
    next_synced: AtomicU64,
    /// The ledger follows the registry one run at a time.
    mirror: tokio::sync::Mutex<()>,
}

fn directory_error(e: DirectoryError) -> ApiError {
    let status = match &e {
        DirectoryError::UnknownMerchant(_) => StatusCode::NOT_FOUND,
        DirectoryError::Full(_) => StatusCode::INSUFFICIENT_STORAGE,
        DirectoryError::IllegalTransition { .. } => StatusCode::CONFLICT,
        _ if e.code().ends_with("_taken") => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    let (ko, en) = match status {
        StatusCode::NOT_FOUND => ("가맹점을 찾을 수 없습니다.", "No such merchant."),
        StatusCode::CONFLICT => (
            "가맹점의 현재 상태에서는 할 수 없는 변경입니다.",
            "This change is not possible in the merchant's current state.",
        ),
        _ => (
            "가맹점 정보가 올바르지 않습니다. 입력값을 확인해 주세요.",
            "The merchant's details are not valid. Please check what was entered.",
        ),
    };
    ApiError::new(status, e.code(), ko, en).detail(e.to_string())
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

impl Merchants {
    /// Opens (or creates) the registry of `currency` in `dir` and loads it.
    pub fn open(dir: &Path, currency: &str, secret: [u8; 32]) -> anyhow::Result<Merchants> {
        std::fs::create_dir_all(dir)?;
        let db = Connection::open(dir.join("directory.sqlite"))?;
        db.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS merchants (
                 currency TEXT NOT NULL,
                 id INTEGER NOT NULL,
                 record TEXT NOT NULL,
                 PRIMARY KEY (currency, id)
             );
             CREATE TABLE IF NOT EXISTS alias_files (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 currency TEXT NOT NULL,
                 csv BLOB NOT NULL,
                 at_us INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS status_log (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 currency TEXT NOT NULL,
                 id INTEGER NOT NULL,
                 status TEXT NOT NULL,
                 reason TEXT NOT NULL,
                 by TEXT NOT NULL,
                 at_us INTEGER NOT NULL
             );",
        )?;
        let mut records = Vec::new();
        {
            let mut stmt = db.prepare("SELECT record FROM merchants WHERE currency = ?1")?;
            let rows = stmt.query_map(params![currency], |r| r.get::<_, String>(0))?;
            for row in rows {
                records.push(serde_json::from_str::<Merchant>(&row?)?);
            }
        }
        let next_synced = records
            .iter()
            .map(|m| m.id.0)
            .filter(|id| *id >= SYNCED_BASE)
            .max()
            .map_or(SYNCED_BASE, |m| m + 1);
        let registry = Registry::from_records(records)
            .map_err(|e| anyhow::anyhow!("stored merchant registry of {currency}: {e}"))?;
        let mut aliases = AliasTable::new();
        {
            let mut stmt =
                db.prepare("SELECT csv FROM alias_files WHERE currency = ?1 ORDER BY seq")?;
            let rows = stmt.query_map(params![currency], |r| r.get::<_, Vec<u8>>(0))?;
            for row in rows {
                let _ = aliases.import_csv(&row?);
            }
        }
        let consumer = ConsumerCodes::new(
            &ConsumerSecret(secret),
            currency,
            ConsumerConfig {
                replay_capacity: CONSUMER_CODES_MAX,
                ..ConsumerConfig::default()
            },
        )
        .map_err(|e| anyhow::anyhow!("consumer codes: {e}"))?;
        Ok(Merchants {
            currency: currency.to_owned(),
            registry: RwLock::new(registry),
            aliases: RwLock::new(aliases),
            consumer: Mutex::new(consumer),
            payers: Mutex::new(HashMap::new()),
            redeemed: Mutex::new(HashMap::new()),
            db: Mutex::new(db),
            mirror: tokio::sync::Mutex::new(()),
            next_synced: AtomicU64::new(next_synced),
        })
    }

    /// Reads the registry (searches, look-ups).
    pub fn read<R>(&self, f: impl FnOnce(&Registry) -> R) -> R {
        f(&self.registry.read())
    }

    pub fn get(&self, id: u64) -> Option<Merchant> {
        self.registry.read().get(MerchantId(id)).cloned()
    }

    /// Writes records (and their status changes) in one transaction.
    fn persist<'a>(
        &self,
        records: impl IntoIterator<Item = &'a Merchant>,
        log_status: bool,
    ) -> Result<(), ApiError> {
        let mut db = self.db.lock();
        let tx = db.transaction().map_err(internal)?;
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO merchants (currency, id, record) VALUES (?1, ?2, ?3)
                     ON CONFLICT(currency, id) DO UPDATE SET record = excluded.record",
                )
                .map_err(internal)?;
            let mut log = tx
                .prepare_cached(
                    "INSERT INTO status_log (currency, id, status, reason, by, at_us)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(internal)?;
            for m in records {
                let json = serde_json::to_string(m).map_err(internal)?;
                put.execute(params![self.currency, m.id.0 as i64, json])
                    .map_err(internal)?;
                if log_status {
                    let by = match m.last_change.by {
                        Actor::Operator => "operator",
                        Actor::RegistrySync => "registry_sync",
                    };
                    log.execute(params![
                        self.currency,
                        m.id.0 as i64,
                        m.status.as_str(),
                        m.last_change.reason,
                        by,
                        m.last_change.at_us as i64
                    ])
                    .map_err(internal)?;
                }
            }
        }
        tx.commit().map_err(internal)
    }

    /// Adds a merchant (a sign-up: `Applied`; the demo: `Approved`).
    pub fn create(
        &self,
        id: u64,
        brn: Brn,
        profile: MerchantProfile,
        status: Status,
        reason: &str,
        now_us: u64,
    ) -> Result<Merchant, ApiError> {
        let mut reg = self.registry.write();
        // Checked first and written to disk before the registry takes it: a record is
        // never served that a restart would lose.
        profile.validate().map_err(|e| directory_error(e.into()))?;
        if reg.get(MerchantId(id)).is_some() {
            return Err(directory_error(DirectoryError::IdTaken(MerchantId(id))));
        }
        if let Some(existing) = reg.get_by_brn(brn) {
            return Err(directory_error(DirectoryError::BrnTaken {
                brn: brn.to_string(),
                existing: existing.id,
            }));
        }
        let m = Merchant {
            id: MerchantId(id),
            brn,
            profile,
            status,
            last_change: directory::StatusChange {
                from: None,
                reason: reason.to_owned(),
                at_us: now_us,
                by: Actor::Operator,
            },
            brn_unverified: false,
        };
        self.persist([&m], true)?;
        let c = &m.last_change;
        if let Err(e) = reg.create(
            m.id,
            m.brn,
            m.profile.clone(),
            m.status,
            &c.reason,
            c.by,
            c.at_us,
        ) {
            let _ = self.db.lock().execute(
                "DELETE FROM merchants WHERE currency = ?1 AND id = ?2",
                params![self.currency, id as i64],
            );
            return Err(directory_error(e));
        }
        Ok(m)
    }

    /// Creates many at once (the demo's population), in one transaction.
    pub fn create_many(&self, merchants: Vec<Merchant>) -> Result<usize, ApiError> {
        let mut reg = self.registry.write();
        let mut made = Vec::with_capacity(merchants.len());
        for m in merchants {
            if reg.get(m.id).is_some() {
                continue;
            }
            let c = &m.last_change;
            let created = reg
                .create(
                    m.id,
                    m.brn,
                    m.profile.clone(),
                    m.status,
                    &c.reason,
                    c.by,
                    c.at_us,
                )
                .map_err(directory_error)?
                .clone();
            made.push(created);
        }
        self.persist(&made, false)?;
        Ok(made.len())
    }

    /// Moves a merchant through its lifecycle (an operator's decision).
    pub fn transition(
        &self,
        id: u64,
        to: Status,
        reason: &str,
        now_us: u64,
    ) -> Result<Merchant, ApiError> {
        let mut reg = self.registry.write();
        let m = reg
            .transition(MerchantId(id), to, reason, Actor::Operator, now_us)
            .map_err(directory_error)?
            .clone();
        self.persist([&m], true)?;
        Ok(m)
    }

    /// Plans a registry-file sync and, with `apply`, applies it. Returns the report and
    /// the ids whose records changed (for the ledger's mirror).
    pub fn sync(
        &self,
        file: &[u8],
        apply: bool,
        now_us: u64,
    ) -> Result<(SyncReport, Vec<u64>), ApiError> {
        let options = SyncOptions::default();
        let sync_error = |e: directory::SyncError| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                e.code(),
                "가맹점 목록 파일을 읽을 수 없습니다. 파일 형식을 확인해 주세요.",
                "The registry file cannot be read. Please check its format.",
            )
            .detail(e.to_string())
        };
        if !apply {
            let plan = self
                .registry
                .read()
                .plan_sync(file, &options)
                .map_err(sync_error)?;
            return Ok((plan.report().clone(), Vec::new()));
        }
        // Planned and applied under one write lock: nothing changes in between.
        let mut reg = self.registry.write();
        let plan = reg.plan_sync(file, &options).map_err(sync_error)?;
        let next = &self.next_synced;
        let mut ids = || Some(MerchantId(next.fetch_add(1, Ordering::Relaxed)));
        let report = reg
            .apply_sync(plan, &mut ids, now_us)
            .map_err(directory_error)?;
        let mut touched: Vec<u64> = report
            .added
            .iter()
            .filter_map(|a| a.id.map(|i| i.0))
            .chain(report.changed.iter().map(|c| c.id.0))
            .chain(
                [
                    &report.suspended,
                    &report.resumed,
                    &report.reopened,
                    &report.closed,
                ]
                .into_iter()
                .flatten()
                .map(|s| s.id.0),
            )
            .collect();
        touched.sort_unstable();
        touched.dedup();
        let records: Vec<&Merchant> = touched
            .iter()
            .filter_map(|id| reg.get(MerchantId(*id)))
            .collect();
        self.persist(records, true)?;
        Ok((report, touched))
    }

    /// Imports a previous operator's QR aliases (CSV `payload,merchant_id[,note]`). Kept
    /// only if at least one row was taken.
    pub fn import_aliases(&self, file: &[u8], now_us: u64) -> Result<ImportReport, ApiError> {
        let mut aliases = self.aliases.write();
        let report = aliases.import_csv(file);
        if report.added > 0 {
            self.db
                .lock()
                .execute(
                    "INSERT INTO alias_files (currency, csv, at_us) VALUES (?1, ?2, ?3)",
                    params![self.currency, file, now_us as i64],
                )
                .map_err(internal)?;
        }
        Ok(report)
    }

    /// What a citizen's scan of a code is (a consumer code is never redeemed here).
    pub fn classify_for_citizen(&self, scanned: &[u8], now_us: u64) -> ScanAnswer {
        self.classify(scanned, now_us, None)
    }

    /// What a merchant's scan is: a consumer code is checked and used up.
    pub fn classify_for_merchant(&self, scanned: &[u8], now_us: u64) -> ScanAnswer {
        self.classify(scanned, now_us, Some(&self.consumer))
    }

    fn classify(
        &self,
        scanned: &[u8],
        now_us: u64,
        consumer: Option<&Mutex<ConsumerCodes>>,
    ) -> ScanAnswer {
        let reg = self.registry.read();
        let aliases = self.aliases.read();
        let view = View {
            currency: &self.currency,
            registry: &reg,
            aliases: &aliases,
            consumer,
        };
        qr::classify(scanned, &view, now_us)
    }

    /// A new one-time consumer code for `wallet`.
    pub fn issue_consumer_code(&self, wallet: u64, now_us: u64) -> Result<IssuedCode, ApiError> {
        let mut payers = self.payers.lock();
        if payers.len() >= CONSUMER_CODES_MAX {
            payers.retain(|_, (_, expires)| *expires > now_us);
            if payers.len() >= CONSUMER_CODES_MAX {
                return Err(ApiError::busy(10));
            }
        }
        let mut token = [0u8; 10];
        rand::rng().fill_bytes(&mut token);
        let issued = self.consumer.lock().issue(TokenId(token), now_us);
        payers.insert(token, (wallet, issued.expires_at_us));
        Ok(issued)
    }

    /// The wallet behind a verified consumer code (once: the entry is taken), now bound
    /// to the till's `(client, key)` until a minute after the code would have expired.
    pub fn payer_of(&self, code: &VerifiedCode, client: u64, key: u128) -> Option<u64> {
        let (wallet, expires) = self.payers.lock().remove(&code.token.0)?;
        let mut redeemed = self.redeemed.lock();
        if redeemed.len() >= CONSUMER_CODES_MAX {
            let now = crate::merchant_api::now_us();
            redeemed.retain(|_, (_, e)| *e > now);
        }
        if redeemed.len() < CONSUMER_CODES_MAX {
            redeemed.insert((client, key), (wallet, expires.saturating_add(60_000_000)));
        }
        Some(wallet)
    }

    /// The wallet a till's earlier try under `(client, key)` was charging.
    pub fn redeemed_for(&self, client: u64, key: u128) -> Option<u64> {
        let now = crate::merchant_api::now_us();
        self.redeemed
            .lock()
            .get(&(client, key))
            .filter(|(_, e)| *e > now)
            .map(|(w, _)| *w)
    }

    /// The turn to make the ledger follow this registry.
    pub async fn mirror_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.mirror.lock().await
    }
}

/// The registry, aliases and (merchant side) consumer codes, as the classifier asks.
struct View<'a> {
    currency: &'a str,
    registry: &'a Registry,
    aliases: &'a AliasTable,
    consumer: Option<&'a Mutex<ConsumerCodes>>,
}

impl ScanContext for View<'_> {
    fn our_currency(&self) -> &str {
        self.currency
    }

    fn merchant(&self, id: u64) -> Option<MerchantInfo<'_>> {
        let m = self.registry.get(MerchantId(id))?;
        let status = match m.status {
            Status::Approved => MerchantStatus::Active,
            Status::Applied => MerchantStatus::Suspended {
                reason: "awaiting approval".into(),
            },
            Status::Suspended => MerchantStatus::Suspended {
                reason: m.last_change.reason.as_str().into(),
            },
            Status::Closed => MerchantStatus::Closed,
        };
        Some(MerchantInfo {
            status,
            currency: self.currency.into(),
        })
    }

    fn alias(&self, q: &AliasQuery<'_, '_>) -> Option<AliasHit> {
        self.aliases.lookup(q)
    }

    fn redeem_consumer_code(&self, code: &str, now_us: u64) -> Result<VerifiedCode, ConsumerError> {
        match self.consumer {
            Some(c) => c.lock().redeem(code, now_us),
            None => Err(ConsumerError::NotAcceptedHere),
        }
    }
}
