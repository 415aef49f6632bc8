//! The merchant registry as the server holds it, per currency: the directory (records,
//! lifecycle, search), the previous operators' QR aliases, and the consumer codes citizens
//! show at the till.
//!
//! - The directory is the truth about who may be paid; the ledger mirrors it (a merchant
//!   account for every record, suspended unless approved: `api::mirror_in_ledger`).
//!   Money rules never read the directory, so a registry outage cannot move money.
//! - Records are kept in a `RegistryStore` (`directory.sqlite` in the data directory:
//!   one JSON row per merchant) and loaded with one bulk build at start. Every change is
//!   written first and made in memory only once the write succeeded, so the registry
//!   never serves what a restart would lose (a failed write changes nothing). Alias
//!   files are kept as imported and replayed in order, so the table after a restart is
//!   the table before it. Every status change is also appended to a log.
//! - A merchant's id never changes (its QR codes and aliases point at it), whatever a
//!   registry sync does.
//! - Consumer codes carry a random token, never a person: which wallet a token stands for
//!   is kept here, in memory, for the code's few minutes (bounded).
//! - A registry sync also takes the file's previous-operator QR column into the alias
//!   table in the same run (as an alias file, replayed like the others), and reads
//!   revenue labels with the operator's table of labels, stored here once per currency
//!   (`revenue_bands`) so that every later sync reads them the same way.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use directory::sync::LegacyQrRow;
use directory::{
    Actor, Brn, DirectoryError, Merchant, MerchantId, MerchantProfile, NewStatus, Registry,
    ReportRow, RevenueBands, SourceMask, Status, SyncOptions, SyncReport,
};
use http::StatusCode;
use ledger::Won;
use parking_lot::{Mutex, RwLock};
use qr::{
    AliasHit, AliasQuery, AliasTable, ConsumerCodes, ConsumerConfig, ConsumerError, ConsumerSecret,
    ImportReport, IssuedCode, MerchantInfo, MerchantStatus, Probe, RowProblem, ScanAnswer,
    ScanContext, TokenId, VerifiedCode,
};
use rand::RngCore;

use crate::error::ServiceError;
use crate::store::sqlite::SqliteRegistry;
use crate::store::{RegistryStore, RegistryWrite};

/// A consumer code a till used for a sale under its `(client, key)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TillSale {
    pub wallet: u64,
    /// A digest of the code as scanned.
    pub code_digest: [u8; 16],
    pub token: TokenId,
    /// When the code itself expires (µs).
    pub code_expires_us: u64,
}

/// The digest a till sale keeps of the code it scanned.
pub fn code_digest(code: &str) -> [u8; 16] {
    let mut d = [0u8; 16];
    d.copy_from_slice(&blake3::hash(code.trim().as_bytes()).as_bytes()[..16]);
    d
}

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
    /// The operator's table of revenue labels (the built-in labels when none was given).
    revenue_bands: RwLock<RevenueBands>,
    consumer: Mutex<ConsumerCodes>,
    /// Token → (wallet account, expires at µs) of outstanding consumer codes.
    payers: Mutex<HashMap<[u8; 10], (u64, u64)>>,
    /// Codes already used by a till: (client, key) → the sale, so a retry of that sale
    /// charges the same wallet once the code is gone, and another code under the same
    /// key is told apart.
    redeemed: Mutex<HashMap<(u64, u128), TillSale>>,
    store: Arc<dyn RegistryStore>,
    /// Changes of the alias table one at a time (an alias file, a sync's QR column):
    /// each is made on a copy, written, then swapped in, so scans never wait for a
    /// file being read and a failed write changes nothing.
    alias_writes: Mutex<()>,
    next_synced: AtomicU64,
    /// The ledger follows the registry one run at a time.
    mirror: tokio::sync::Mutex<()>,
}

fn directory_error(e: DirectoryError) -> ServiceError {
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
    ServiceError::new(status, e.code(), ko, en).detail(e.to_string())
}

impl Merchants {
    /// Opens (or creates) the registry of `currency` in `dir` (`directory.sqlite`) and
    /// loads it.
    pub fn open(dir: &Path, currency: &str, secret: [u8; 32]) -> anyhow::Result<Merchants> {
        std::fs::create_dir_all(dir)?;
        let store = Arc::new(SqliteRegistry::open_in(dir)?);
        Merchants::with_store(store, currency, secret)
    }

    /// Loads the registry of `currency` from `store` (another database than SQLite, or
    /// a test double). `secret` keys the consumer codes.
    pub fn with_store(
        store: Arc<dyn RegistryStore>,
        currency: &str,
        secret: [u8; 32],
    ) -> anyhow::Result<Merchants> {
        let records = store
            .merchants(currency)
            .map_err(|e| anyhow::anyhow!("stored merchant registry of {currency}: {e}"))?;
        let next_synced = records
            .iter()
            .map(|m| m.id.0)
            .filter(|id| *id >= SYNCED_BASE)
            .max()
            .map_or(SYNCED_BASE, |m| m + 1);
        let registry = Registry::from_records(records)
            .map_err(|e| anyhow::anyhow!("stored merchant registry of {currency}: {e}"))?;
        let mut aliases = AliasTable::new();
        for file in store.alias_files(currency)? {
            let _ = aliases.import_csv(&file);
        }
        let stored_bands = store.revenue_bands(currency)?;
        let revenue_bands = match stored_bands {
            None => RevenueBands::new(),
            Some(csv) => RevenueBands::from_csv(&csv).map_err(|errors| {
                anyhow::anyhow!(
                    "stored revenue labels of {currency}: {}",
                    errors.first().map_or("", |e| e.message_en.as_str())
                )
            })?,
        };
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
            revenue_bands: RwLock::new(revenue_bands),
            consumer: Mutex::new(consumer),
            payers: Mutex::new(HashMap::new()),
            redeemed: Mutex::new(HashMap::new()),
            store,
            alias_writes: Mutex::new(()),
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
    fn persist(&self, records: &[&Merchant], log_status: bool) -> Result<(), ServiceError> {
        self.write(&RegistryWrite {
            records,
            log_status,
            ..RegistryWrite::default()
        })
    }

    fn write(&self, write: &RegistryWrite<'_>) -> Result<(), ServiceError> {
        Ok(self.store.write(&self.currency, write)?)
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
    ) -> Result<Merchant, ServiceError> {
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
        self.persist(&[&m], true)?;
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
            let _ = self.store.remove_merchant(&self.currency, id);
            return Err(directory_error(e));
        }
        Ok(m)
    }

    /// Creates many at once (the demo's population), in one transaction: all are
    /// checked, then written, and only then taken into the registry. Ids already there
    /// are skipped.
    pub fn create_many(&self, merchants: Vec<Merchant>) -> Result<usize, ServiceError> {
        let mut reg = self.registry.write();
        let mut ids = std::collections::HashSet::new();
        let mut brns = HashMap::new();
        let mut made = Vec::with_capacity(merchants.len());
        for m in merchants {
            if reg.get(m.id).is_some() || !ids.insert(m.id) {
                continue;
            }
            reg.check_create(m.id, m.brn, &m.profile, &m.last_change.reason)
                .map_err(directory_error)?;
            if let Some(existing) = brns.insert(m.brn, m.id) {
                return Err(directory_error(DirectoryError::BrnTaken {
                    brn: m.brn.to_string(),
                    existing,
                }));
            }
            if reg.len().saturating_add(made.len()) >= directory::registry::MERCHANTS_MAX {
                return Err(directory_error(DirectoryError::Full(
                    directory::registry::MERCHANTS_MAX,
                )));
            }
            // As the registry makes it (a new record has no previous status).
            made.push(Merchant {
                last_change: directory::StatusChange {
                    from: None,
                    ..m.last_change
                },
                brn_unverified: false,
                ..m
            });
        }
        let records: Vec<&Merchant> = made.iter().collect();
        self.persist(&records, false)?;
        for m in &made {
            let c = &m.last_change;
            reg.create(
                m.id,
                m.brn,
                m.profile.clone(),
                m.status,
                &c.reason,
                c.by,
                c.at_us,
            )
            .map_err(directory_error)?;
        }
        Ok(made.len())
    }

    /// Moves a merchant through its lifecycle (an operator's decision): written first,
    /// then made.
    pub fn transition(
        &self,
        id: u64,
        to: Status,
        reason: &str,
        now_us: u64,
    ) -> Result<Merchant, ServiceError> {
        let mut reg = self.registry.write();
        let next = reg
            .transitioned(MerchantId(id), to, reason, Actor::Operator, now_us)
            .map_err(directory_error)?;
        self.persist(&[&next], true)?;
        let m = reg
            .transition(MerchantId(id), to, reason, Actor::Operator, now_us)
            .map_err(directory_error)?
            .clone();
        debug_assert_eq!(m, next, "a transition makes what it announced");
        Ok(m)
    }

    /// Plans a registry-file sync and, with `apply`, applies it, with the file's QR
    /// column taken into the alias table in the same step. Returns the report, every
    /// row's outcomes, and the ids whose records changed (for the ledger's mirror).
    pub fn sync(
        &self,
        file: &[u8],
        request: &SyncRequest,
        now_us: u64,
    ) -> Result<SyncOutcome, ServiceError> {
        let bands = match &request.revenue_bands {
            Some(b) => b.clone(),
            None => self.revenue_bands.read().clone(),
        };
        let options = SyncOptions {
            default_accepts: SourceMask::ALL,
            new_status: request.new_status,
            unverified_brn: request.unverified_brn,
            revenue_bands: Some(&bands),
            revenue_thresholds: &request.revenue_thresholds,
        };
        let sync_error = |e: directory::SyncError| {
            ServiceError::new(
                StatusCode::BAD_REQUEST,
                e.code(),
                "가맹점 목록 파일을 읽을 수 없습니다. 파일 형식을 확인해 주세요.",
                "The registry file cannot be read. Please check its format.",
            )
            .detail(e.to_string())
        };
        if !request.apply {
            let report = self
                .registry
                .read()
                .plan_sync(file, &options)
                .map_err(sync_error)?
                .into_report();
            let decisions = plan_aliases(&self.aliases.read(), &report.legacy_qr);
            let (alias_rows, aliases) = alias_outcomes(&decisions, &[]);
            return Ok(SyncOutcome::new(report, alias_rows, aliases, Vec::new()));
        }
        // One change of the alias table at a time (taken before the registry, as
        // `import_aliases` takes it).
        let _alias_turn = self.alias_writes.lock();
        // Planned and applied under one write lock: nothing changes in between.
        let mut reg = self.registry.write();
        let plan = reg.plan_sync(file, &options).map_err(sync_error)?;
        let first_id = self.next_synced.load(Ordering::Relaxed);
        let next = &self.next_synced;
        let mut ids = || Some(MerchantId(next.fetch_add(1, Ordering::Relaxed)));
        // Ids handed out by a sync that then changes nothing are handed out again (only
        // syncs take them, one at a time under the registry's lock).
        let unallocate = |e: ServiceError| {
            next.store(first_id, Ordering::Relaxed);
            e
        };
        let prepared = reg
            .prepare_sync(plan, &mut ids, now_us)
            .map_err(|e| unallocate(directory_error(e)))?;
        let report = prepared.report();
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
        let mut records: Vec<&Merchant> = prepared.records().iter().collect();
        records.sort_by_key(|m| m.id);
        // The old stickers pay from this moment: their aliases are imported into a copy
        // of the table, written (as an alias file, replayed at start) with the records
        // in one transaction, and swapped in with the registry's change.
        let legacy_qr = report.legacy_qr.clone();
        let decisions = plan_aliases(&self.aliases.read(), &legacy_qr);
        let (csv, lines) = alias_file(&decisions);
        let aliases = (!lines.is_empty()).then(|| {
            let mut table = self.aliases.read().clone();
            let imported = table.import_csv(&csv);
            (table, imported)
        });
        let alias_file = aliases
            .as_ref()
            .filter(|(_, imported)| imported.added > 0)
            .map(|_| csv.as_slice());
        self.write(&RegistryWrite {
            records: &records,
            log_status: true,
            alias_file,
            at_us: now_us,
        })
        .map_err(unallocate)?;
        drop(records);
        let report = reg.commit_sync(prepared).map_err(directory_error)?;
        let mut shared = Vec::new();
        if let Some((table, imported)) = aliases {
            *self.aliases.write() = table;
            // Alias-file line n + 2 is decision lines[n].
            let decision_of = |alias_line: u64| {
                usize::try_from(alias_line.saturating_sub(2))
                    .ok()
                    .and_then(|i| lines.get(i).copied())
            };
            shared = imported
                .account_conflicts
                .iter()
                .filter_map(|c| decision_of(c.line))
                .collect();
            if !imported.rejected.is_empty() {
                tracing::warn!(
                    rejected = imported.rejected.len(),
                    "aliases of a registry sync refused after their check"
                );
            }
        }
        let (alias_rows, aliases) = alias_outcomes(&decisions, &shared);
        Ok(SyncOutcome::new(report, alias_rows, aliases, touched))
    }

    /// The operator's revenue labels (CSV `label,min_won,max_won`, see
    /// `directory::revenue`): checked, stored, and used by every sync from now on.
    /// An empty table (a header alone) goes back to the built-in labels.
    pub fn set_revenue_bands(&self, file: &[u8], now_us: u64) -> Result<usize, ServiceError> {
        let table = RevenueBands::from_csv(file).map_err(|errors| {
            let detail: Vec<String> = errors
                .iter()
                .map(|e| format!("line {}: {}", e.line, e.message_en))
                .collect();
            ServiceError::new(
                StatusCode::BAD_REQUEST,
                "revenue_bands_invalid",
                &format!(
                    "매출 구간표를 쓸 수 없습니다: {}",
                    errors
                        .iter()
                        .map(|e| format!("{}번째 줄 {}", e.line, e.message_ko))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                "The table of revenue labels cannot be used; see the detail for each line.",
            )
            .detail(detail.join("; "))
        })?;
        let mut bands = self.revenue_bands.write();
        self.store.set_revenue_bands(&self.currency, file, now_us)?;
        let n = table.entries().len();
        *bands = table;
        Ok(n)
    }

    /// The revenue labels in force, as CSV (`label,min_won,max_won`).
    pub fn revenue_bands_csv(&self) -> String {
        self.revenue_bands.read().to_csv()
    }

    /// Imports a previous operator's QR aliases (CSV `payload,merchant_id[,note]`). Kept
    /// only if at least one row was taken. The file (up to megabytes) is read into a
    /// copy of the table while scans go on with the table as it is; the copy is swapped
    /// in once the file is written, so a failed write changes nothing. Blocking: async
    /// callers run it on the blocking pool.
    pub fn import_aliases(&self, file: &[u8], now_us: u64) -> Result<ImportReport, ServiceError> {
        let _turn = self.alias_writes.lock();
        let mut table = self.aliases.read().clone();
        let report = table.import_csv(file);
        if report.added > 0 {
            self.write(&RegistryWrite {
                alias_file: Some(file),
                at_us: now_us,
                ..RegistryWrite::default()
            })?;
        }
        *self.aliases.write() = table;
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
    pub fn issue_consumer_code(
        &self,
        wallet: u64,
        now_us: u64,
    ) -> Result<IssuedCode, ServiceError> {
        let mut payers = self.payers.lock();
        if payers.len() >= CONSUMER_CODES_MAX {
            payers.retain(|_, (_, expires)| *expires > now_us);
            if payers.len() >= CONSUMER_CODES_MAX {
                return Err(ServiceError::busy(10));
            }
        }
        let mut token = [0u8; 10];
        rand::rng().fill_bytes(&mut token);
        let issued = self.consumer.lock().issue(TokenId(token), now_us);
        payers.insert(token, (wallet, issued.expires_at_us));
        Ok(issued)
    }

    /// The sale behind a verified consumer code (once: the entry is taken), now bound
    /// to the till's `(client, key)` until a minute after the code would have expired.
    pub fn payer_of(
        &self,
        code: &VerifiedCode,
        scanned: &str,
        client: u64,
        key: u128,
    ) -> Option<TillSale> {
        let (wallet, expires) = self.payers.lock().remove(&code.token.0)?;
        let sale = TillSale {
            wallet,
            code_digest: code_digest(scanned),
            token: code.token,
            code_expires_us: expires,
        };
        let mut redeemed = self.redeemed.lock();
        if redeemed.len() >= CONSUMER_CODES_MAX {
            let now = crate::now_us();
            redeemed.retain(|_, s| s.code_expires_us.saturating_add(60_000_000) > now);
        }
        if redeemed.len() < CONSUMER_CODES_MAX {
            redeemed.insert((client, key), sale);
        }
        Some(sale)
    }

    /// The sale a till's earlier try under `(client, key)` was making.
    pub fn redeemed_for(&self, client: u64, key: u128) -> Option<TillSale> {
        let now = crate::now_us();
        self.redeemed
            .lock()
            .get(&(client, key))
            .filter(|s| s.code_expires_us.saturating_add(60_000_000) > now)
            .copied()
    }

    /// A sale the ledger refused (nothing was charged): the code is the customer's
    /// again until it expires, and the till's key no longer holds it.
    pub fn give_back(&self, sale: &TillSale, client: u64, key: u128) {
        let now = crate::now_us();
        self.redeemed.lock().remove(&(client, key));
        if sale.code_expires_us <= now {
            return;
        }
        if self.consumer.lock().release(sale.token, now) {
            self.payers
                .lock()
                .insert(sale.token.0, (sale.wallet, sale.code_expires_us));
        }
    }

    /// The turn to make the ledger follow this registry.
    pub async fn mirror_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.mirror.lock().await
    }
}

/// How an operator asked a registry file to be taken.
#[derive(Clone, Debug, Default)]
pub struct SyncRequest {
    /// `false`: only say what would change.
    pub apply: bool,
    pub new_status: NewStatus,
    /// Take rows whose BRN fails its check digit as unverified merchants awaiting review.
    pub unverified_brn: bool,
    /// Where the scheme in force splits revenue (`mirror::revenue_thresholds`).
    pub revenue_thresholds: Vec<Won>,
    /// Revenue labels for this run only, instead of the stored table (a dry run with a
    /// table not stored yet).
    pub revenue_bands: Option<RevenueBands>,
}

/// What the file's QR column did to the alias table (or would do, in a dry run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AliasCounts {
    /// Payloads now paying the row's merchant.
    pub added: usize,
    /// Payloads already paying that merchant.
    pub unchanged: usize,
    /// Payloads refused: another merchant's, twice in the file, or unusable.
    pub refused: usize,
}

/// A registry sync, as the API and the command line report it.
#[derive(Debug)]
pub struct SyncOutcome {
    pub report: SyncReport,
    /// Every outcome of every row, the QR column's included, by line.
    pub rows: Vec<ReportRow>,
    pub aliases: AliasCounts,
    /// Merchants whose records changed (for the ledger's mirror).
    pub touched: Vec<u64>,
}

impl SyncOutcome {
    fn new(
        report: SyncReport,
        alias_rows: Vec<ReportRow>,
        aliases: AliasCounts,
        touched: Vec<u64>,
    ) -> SyncOutcome {
        let mut rows = report.rows();
        let absent_from = rows
            .iter()
            .position(|r| r.line.is_none())
            .unwrap_or(rows.len());
        let absent = rows.split_off(absent_from);
        rows.extend(alias_rows);
        // Stable: each line keeps its order (the row's outcome, warnings, then its QR code).
        rows.sort_by_key(|r| r.line.unwrap_or(u64::MAX));
        rows.extend(absent);
        SyncOutcome {
            report,
            rows,
            aliases,
            touched,
        }
    }
}

/// What the alias table makes of one QR cell of a sync.
#[derive(Clone, Debug, PartialEq, Eq)]
enum AliasVerdict {
    New,
    Same,
    Other {
        merchant: u64,
    },
    Refused,
    /// The same payload on another row (another merchant) of the file.
    TwiceInFile {
        other_line: u64,
    },
    Unusable(RowProblem),
    LineBreak,
}

#[derive(Clone, Debug)]
struct AliasDecision<'r> {
    row: &'r LegacyQrRow,
    verdict: AliasVerdict,
}

/// Checks each QR cell against the table and the rest of the file, changing nothing. A
/// payload that already pays another shop is never taken from it: the row is reported.
fn plan_aliases<'r>(table: &AliasTable, rows: &'r [LegacyQrRow]) -> Vec<AliasDecision<'r>> {
    let mut by_payload: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        by_payload
            .entry(qr::alias::normalize(&r.payload).into_owned())
            .or_default()
            .push(i);
    }
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let normalized = qr::alias::normalize(&row.payload);
            let twin = by_payload
                .get(normalized.as_ref())
                .and_then(|all| all.iter().find(|&&j| j != i))
                .and_then(|&j| rows.get(j));
            // A merchant being added has no aliases yet: any holder is another shop.
            let merchant = row.id.map_or(u64::MAX, |m| m.0);
            let verdict = if normalized.contains(['\r', '\n']) {
                AliasVerdict::LineBreak
            } else {
                match table.probe(&row.payload, merchant) {
                    // Claimed by two rows of the file and by no one yet: neither gets it.
                    Ok(Probe::New) => match twin {
                        Some(other) => AliasVerdict::TwiceInFile {
                            other_line: other.line,
                        },
                        None => AliasVerdict::New,
                    },
                    Ok(Probe::Same) => AliasVerdict::Same,
                    Ok(Probe::Other { merchant, .. }) => AliasVerdict::Other { merchant },
                    Ok(Probe::Refused) => AliasVerdict::Refused,
                    Err(p) => AliasVerdict::Unusable(p),
                }
            };
            AliasDecision { row, verdict }
        })
        .collect()
}

/// The alias file of the new aliases (`payload,merchant_id,note`, one row a line) and,
/// for its n-th data row, the index of its decision.
fn alias_file(decisions: &[AliasDecision<'_>]) -> (Vec<u8>, Vec<usize>) {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut csv = String::from("payload,merchant_id,note\n");
    let mut lines = Vec::new();
    for (i, d) in decisions.iter().enumerate() {
        if let (AliasVerdict::New, Some(id)) = (&d.verdict, d.row.id) {
            csv.push_str(&format!(
                "{},{},{}\n",
                quote(&d.row.payload),
                id.0,
                quote(&format!("registry sync line {}", d.row.line))
            ));
            lines.push(i);
        }
    }
    (csv.into_bytes(), lines)
}

/// The report rows of the QR column, and their counts. `shared` lists decisions whose
/// EMV account key is now shared with another merchant's code.
fn alias_outcomes(
    decisions: &[AliasDecision<'_>],
    shared: &[usize],
) -> (Vec<ReportRow>, AliasCounts) {
    let mut counts = AliasCounts::default();
    let mut rows = Vec::with_capacity(decisions.len() + shared.len());
    for (i, d) in decisions.iter().enumerate() {
        let shown: String = d.row.payload.chars().take(60).collect();
        let (code, ko, en) = match &d.verdict {
            AliasVerdict::New => {
                counts.added += 1;
                (
                    "alias_added",
                    format!("이전 운영사의 QR 코드({shown})로 이 가맹점에 결제됩니다."),
                    format!("The previous operator's QR code ({shown}) pays this merchant."),
                )
            }
            AliasVerdict::Same => {
                counts.unchanged += 1;
                (
                    "alias_unchanged",
                    format!("이전 QR 코드({shown})는 이미 이 가맹점에 연결되어 있습니다."),
                    format!("The previous QR code ({shown}) already pays this merchant."),
                )
            }
            AliasVerdict::Other { merchant } => {
                counts.refused += 1;
                (
                    "alias_conflict",
                    format!(
                        "이 QR 코드({shown})는 이미 다른 가맹점({merchant})에 연결되어 있어 연결하지 않습니다."
                    ),
                    format!(
                        "This QR code ({shown}) already pays another merchant ({merchant}); not linked."
                    ),
                )
            }
            AliasVerdict::Refused => {
                counts.refused += 1;
                (
                    "alias_conflict",
                    format!(
                        "이 QR 코드({shown})는 앞서 두 가맹점에 연결하려다 거부된 코드라 연결하지 않습니다."
                    ),
                    format!(
                        "This QR code ({shown}) was refused earlier as claimed by two merchants; not linked."
                    ),
                )
            }
            AliasVerdict::TwiceInFile { other_line } => {
                counts.refused += 1;
                (
                    "alias_conflict",
                    format!(
                        "같은 QR 코드({shown})가 {other_line}번째 줄의 다른 가맹점에도 있어 어느 쪽도 연결하지 않습니다."
                    ),
                    format!(
                        "The same QR code ({shown}) is on line {other_line} for another merchant; neither is linked."
                    ),
                )
            }
            AliasVerdict::Unusable(p) => {
                counts.refused += 1;
                let ko = match p {
                    RowProblem::PayloadTooLong => "너무 깁니다",
                    _ => "비어 있습니다",
                };
                (
                    "alias_invalid",
                    format!("QR 코드 칸을 쓸 수 없습니다: {ko}."),
                    format!("The QR code cell cannot be used: {p}."),
                )
            }
            AliasVerdict::LineBreak => {
                counts.refused += 1;
                (
                    "alias_invalid",
                    "QR 코드 칸에 줄바꿈이 있어 쓸 수 없습니다.".to_owned(),
                    "The QR code cell contains a line break; not used.".to_owned(),
                )
            }
        };
        let row = |code: &str, ko: String, en: String| ReportRow {
            line: Some(d.row.line),
            brn: Some(d.row.brn.to_string()),
            outcome: "alias".to_owned(),
            code: code.to_owned(),
            message_ko: ko,
            message_en: en,
            merchant_id: d.row.id,
            field: None,
        };
        rows.push(row(code, ko, en));
        if shared.contains(&i) {
            rows.push(row(
                "alias_account_shared",
                "이 QR 코드의 가맹점 계정이 다른 가맹점의 코드와 같아, 똑같은 코드만 결제됩니다.".into(),
                "This code's merchant account is shared with another merchant's code: only this exact code pays.".into(),
            ));
        }
    }
    (rows, counts)
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use directory::synth::{CsvEncoding, HeaderStyle, Synth, write_registry_csv};

    use super::*;
    use crate::store::StoreError;

    const NOW: u64 = 1_760_000_000_000_000;

    /// A registry store whose writes fail while `failing` is set (a full disk): reads
    /// and the writes it lets through go to a real SQLite store.
    #[derive(Debug)]
    struct FlakyStore {
        inner: SqliteRegistry,
        failing: AtomicBool,
        writes: std::sync::atomic::AtomicUsize,
    }

    impl FlakyStore {
        fn refuse(&self) -> Result<(), StoreError> {
            self.writes.fetch_add(1, Ordering::Relaxed);
            if self.failing.load(Ordering::Relaxed) {
                Err(StoreError::Failed("database or disk is full".into()))
            } else {
                Ok(())
            }
        }
    }

    impl RegistryStore for FlakyStore {
        fn merchants(&self, currency: &str) -> Result<Vec<Merchant>, StoreError> {
            self.inner.merchants(currency)
        }
        fn merchant(&self, currency: &str, id: u64) -> Result<Option<Merchant>, StoreError> {
            self.inner.merchant(currency, id)
        }
        fn alias_files(&self, currency: &str) -> Result<Vec<Vec<u8>>, StoreError> {
            self.inner.alias_files(currency)
        }
        fn revenue_bands(&self, currency: &str) -> Result<Option<Vec<u8>>, StoreError> {
            self.inner.revenue_bands(currency)
        }
        fn write(&self, currency: &str, write: &RegistryWrite<'_>) -> Result<(), StoreError> {
            self.refuse()?;
            self.inner.write(currency, write)
        }
        fn remove_merchant(&self, currency: &str, id: u64) -> Result<(), StoreError> {
            self.refuse()?;
            self.inner.remove_merchant(currency, id)
        }
        fn set_revenue_bands(
            &self,
            currency: &str,
            csv: &[u8],
            at_us: u64,
        ) -> Result<(), StoreError> {
            self.refuse()?;
            self.inner.set_revenue_bands(currency, csv, at_us)
        }
    }

    /// Everything a reader of the registry can see.
    fn seen(m: &Merchants) -> (Vec<Merchant>, u64, usize, String) {
        (
            m.read(|r| r.records().to_vec()),
            m.read(Registry::generation),
            m.aliases.read().len(),
            m.revenue_bands_csv(),
        )
    }

    fn alias_csv(pairs: &[(&str, u64)]) -> Vec<u8> {
        let mut csv = String::from("payload,merchant_id\n");
        for (payload, id) in pairs {
            csv.push_str(&format!("{payload},{id}\n"));
        }
        csv.into_bytes()
    }

    /// Regression: a transition, a sync, a batch of creations and an alias import
    /// changed memory before writing, so a failed write (disk full) left the registry
    /// serving what a restart would lose. Now a failed write changes nothing; once the
    /// store works again the same changes go through and survive a restart.
    #[test]
    fn a_failed_write_changes_nothing_in_memory() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(FlakyStore {
            inner: SqliteRegistry::open_in(dir.path()).expect("open"),
            failing: AtomicBool::new(false),
            writes: Default::default(),
        });
        let merchants =
            Merchants::with_store(store.clone(), "busan", [7; 32]).expect("open registry");
        let mut synth = Synth::new(3);
        let first = synth.merchants(20, 10, NOW);
        assert_eq!(merchants.create_many(first.clone()).expect("created"), 20);
        let approved = first
            .iter()
            .find(|m| m.status == Status::Approved)
            .map(|m| m.id.0)
            .expect("a merchant to suspend");
        let shop = first[0].id.0;
        merchants
            .import_aliases(&alias_csv(&[("OLD-STICKER-1", shop)]), NOW)
            .expect("aliases");

        store.failing.store(true, Ordering::Relaxed);
        let before = seen(&merchants);
        let more = synth.merchants(5, 100, NOW);
        let mut file_rows = first.clone();
        file_rows
            .iter_mut()
            .for_each(|m| m.profile.name.push_str(" 본점"));
        let new_rows = synth.merchants(5, 200, NOW);
        // A closed shop the registry does not know is not added.
        let opened = new_rows
            .iter()
            .filter(|m| m.status != Status::Closed)
            .count();
        file_rows.extend(new_rows);
        let file = write_registry_csv(&file_rows, CsvEncoding::Utf8, HeaderStyle::Korean);
        let apply = SyncRequest {
            apply: true,
            ..SyncRequest::default()
        };
        let bands =
            b"label,min_won,max_won\n10\xec\x96\xb5 \xec\x9d\xb4\xed\x95\x98,0,1000000000\n";

        let writes = store.writes.load(Ordering::Relaxed);
        assert!(
            merchants
                .transition(approved, Status::Suspended, "checked", NOW)
                .is_err()
        );
        assert!(merchants.create_many(more.clone()).is_err());
        assert!(merchants.sync(&file, &apply, NOW).is_err());
        assert!(
            merchants
                .import_aliases(&alias_csv(&[("OLD-STICKER-2", shop)]), NOW)
                .is_err()
        );
        assert!(merchants.set_revenue_bands(bands, NOW).is_err());
        let brn = Synth::new(4).merchants(1, 1, NOW)[0].brn;
        assert!(
            merchants
                .create(
                    900,
                    brn,
                    MerchantProfile::named("새 가게"),
                    Status::Applied,
                    "applied",
                    NOW
                )
                .is_err()
        );
        assert_eq!(
            store.writes.load(Ordering::Relaxed),
            writes + 6,
            "each change tried to write"
        );
        assert_eq!(seen(&merchants), before, "memory is as it was");
        assert_eq!(
            merchants.next_synced.load(Ordering::Relaxed),
            SYNCED_BASE,
            "a failed sync hands its ids out again"
        );

        // The store works again: the same changes go through, and a restart finds them.
        store.failing.store(false, Ordering::Relaxed);
        merchants
            .transition(approved, Status::Suspended, "checked", NOW)
            .expect("transition");
        assert_eq!(merchants.create_many(more).expect("created"), 5);
        let outcome = merchants.sync(&file, &apply, NOW).expect("sync");
        assert_eq!(outcome.report.added.len(), opened);
        assert!(
            outcome
                .report
                .added
                .iter()
                .all(|a| a.id.is_some_and(|id| id.0 >= SYNCED_BASE))
        );
        merchants
            .import_aliases(&alias_csv(&[("OLD-STICKER-2", shop)]), NOW)
            .expect("aliases");
        merchants.set_revenue_bands(bands, NOW).expect("bands");
        let after = seen(&merchants);
        assert_ne!(after, before);
        let reopened = Merchants::open(dir.path(), "busan", [7; 32]).expect("reopen");
        let mut kept = seen(&reopened);
        let mut now = after;
        kept.0.sort_by_key(|m| m.id);
        now.0.sort_by_key(|m| m.id);
        assert_eq!((kept.0, kept.2, kept.3), (now.0, now.2, now.3));
        assert_eq!(
            reopened.get(approved).map(|m| m.status),
            Some(Status::Suspended)
        );
    }

    /// A sync's records and the aliases of its QR column are one write: both or neither.
    #[test]
    fn a_sync_writes_its_records_and_aliases_at_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(FlakyStore {
            inner: SqliteRegistry::open_in(dir.path()).expect("open"),
            failing: AtomicBool::new(false),
            writes: Default::default(),
        });
        let merchants =
            Merchants::with_store(store.clone(), "busan", [7; 32]).expect("open registry");
        let rows = Synth::new(5).merchants(10, 1, NOW);
        let file = write_registry_csv(&rows, CsvEncoding::Utf8, HeaderStyle::Korean);
        let writes = store.writes.load(Ordering::Relaxed);
        let outcome = merchants
            .sync(
                &file,
                &SyncRequest {
                    apply: true,
                    ..SyncRequest::default()
                },
                NOW,
            )
            .expect("sync");
        assert!(!outcome.touched.is_empty());
        assert_eq!(
            store.writes.load(Ordering::Relaxed),
            writes + 1,
            "one write"
        );
        let stored = store.merchants("busan").expect("read");
        assert_eq!(stored.len(), merchants.read(Registry::len));
        // A dry run writes nothing.
        merchants
            .sync(&file, &SyncRequest::default(), NOW)
            .expect("plan");
        assert_eq!(store.writes.load(Ordering::Relaxed), writes + 1);
    }
}
