//! `maeul export`: a currency as an interchange set.

use std::collections::BTreeSet;
use std::io::{BufWriter, Read, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use engine::{CurrencyCode, FileStorage, Replayer, Storage};
use journal::FileJournalConfig;
use ledger::{AccountKind, Ledger, Rules};
use service::store::sqlite::{SqliteRegistry, SqliteService};
use service::store::{
    BankLinkStore, ChangeLogStore, NoticeStore, RegistryStore, SessionStore, UserStore,
};

use crate::base::{self, Position};
use crate::format::{
    self, AliasRow, Cut, FileEntry, Manifest, MerchantRow, NoticeRow, PeopleRow, PeopleSummary,
    RemovedRow, files,
};
use crate::sha::HashingWriter;
use crate::{MigrateError, Progress, people, views};

/// What to export, and to whom.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    pub data_dir: PathBuf,
    pub currency: String,
    /// A directory that does not exist yet, or holds an unfinished export.
    pub out: PathBuf,
    /// The successor's age public key (`age1…`): people's data is encrypted to it.
    pub recipient: String,
}

/// Rows looked up in the ledger under one read: a serving engine waits for no more.
const READ_CHUNK: usize = 10_000;

/// The key files of a data directory that travel with people's data.
pub(crate) const KEY_FILES: [&str; 2] = ["pin.key", "qr.key"];

/// Where a currency's journal lives in a data directory.
pub(crate) fn currency_dir(data_dir: &Path, code: &CurrencyCode) -> PathBuf {
    data_dir.join("currencies").join(code.as_str())
}

pub(crate) fn currency_code(code: &str) -> Result<CurrencyCode, MigrateError> {
    CurrencyCode::new(code).map_err(|e| MigrateError::Usage(format!("currency {code:?}: {e}")))
}

/// The ledger replayed from genesis with every outcome and state hash checked, up to
/// record `until` (or the end), and where the last record read ends in the file.
pub(crate) struct Replayed {
    /// The currency the journal is of.
    pub currency: String,
    pub ledger: Ledger,
    pub last_seq: u64,
    pub last_time_us: u64,
    pub head_hash: journal::RecordHash,
    pub end_offset: u64,
}

/// Where a replay starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum From {
    /// The first record: every record re-decided.
    Genesis,
    /// This build's newest snapshot at or before the end (a state this build computed
    /// and checked when it wrote it), else the first record.
    Snapshot,
}

pub(crate) fn replay(
    storage: &dyn Storage,
    until: Option<u64>,
    from: From,
    progress: Progress<'_>,
) -> Result<Replayed, MigrateError> {
    let rules = Rules::this_build();
    let snapshot = match from {
        From::Genesis => None,
        From::Snapshot => storage
            .list_snapshots()
            .unwrap_or_default()
            .into_iter()
            .rev()
            .filter(|seq| until.is_none_or(|u| *seq <= u))
            .find_map(|seq| {
                let s = storage.load_snapshot(seq).ok()?;
                Replayer::from_snapshot(s.seq, s.chain_hash, &s.payload, &rules).ok()
            }),
    };
    let mut replayer = snapshot.unwrap_or_else(|| Replayer::from_genesis(&rules));
    let start = replayer.last_seq() + 1;
    let expected = (start > 1).then(|| replayer.last_hash());
    let mut failure = None;
    // (seq, time, end offset) of the last record read; a snapshot's own record ends
    // where the file says only when a record after it is read.
    let mut last = (
        replayer.last_seq(),
        replayer
            .ledger()
            .map_or(0, |l| l.last_timestamp().as_micros()),
        0u64,
    );
    let total = until.unwrap_or(0);
    if until.is_none_or(|u| u >= start) {
        storage
            .read_records(start, expected, &mut |rec| {
                if let Err(d) = replayer.apply(&rec) {
                    failure = Some(d.to_string());
                    return ControlFlow::Break(());
                }
                last = (
                    rec.seq,
                    rec.timestamp_us,
                    rec.offset + journal::record_len(rec.payload.len() as u64),
                );
                if rec.seq % 4096 == 0 {
                    progress("replaying the journal", rec.seq, total);
                }
                if until.is_some_and(|u| rec.seq >= u) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .map_err(|e| MigrateError::Journal(e.to_string()))?;
    }
    if let Some(f) = failure {
        return Err(MigrateError::Journal(f));
    }
    progress("replaying the journal", last.0, total.max(last.0));
    let head_hash = replayer.last_hash();
    let (currency, ledger) = replayer
        .into_parts()
        .ok_or_else(|| MigrateError::Journal("the journal holds no currency".into()))?;
    Ok(Replayed {
        currency: currency.as_str().to_owned(),
        ledger,
        last_seq: last.0,
        last_time_us: last.1,
        head_hash,
        end_offset: last.2,
    })
}

/// One JSONL file being written, hashed on the way.
pub(crate) struct JsonlWriter {
    name: &'static str,
    path: PathBuf,
    w: HashingWriter<BufWriter<std::fs::File>>,
    rows: u64,
}

impl JsonlWriter {
    pub(crate) fn create(dir: &Path, name: &'static str) -> Result<JsonlWriter, MigrateError> {
        let path = dir.join(name);
        let file = std::fs::File::create(&path).map_err(MigrateError::io(&path))?;
        Ok(JsonlWriter {
            name,
            path,
            w: HashingWriter::new(BufWriter::new(file)),
            rows: 0,
        })
    }

    pub(crate) fn write<T: serde::Serialize>(&mut self, row: &T) -> Result<(), MigrateError> {
        serde_json::to_writer(&mut self.w, row)
            .map_err(|e| MigrateError::Set(format!("{}: {e}", self.name)))?;
        self.w
            .write_all(b"\n")
            .map_err(MigrateError::io(&self.path))?;
        self.rows += 1;
        Ok(())
    }

    /// Flushed and synced; the manifest's entry for the file.
    pub(crate) fn finish(self) -> Result<FileEntry, MigrateError> {
        let (buffered, bytes, sha256) = self.w.finish();
        let path = self.path;
        let file = buffered
            .into_inner()
            .map_err(|e| MigrateError::io(&path)(e.into_error()))?;
        file.sync_all().map_err(MigrateError::io(&path))?;
        Ok(FileEntry {
            name: self.name.to_owned(),
            rows: self.rows,
            bytes,
            sha256,
        })
    }
}

/// Writes `rows` as JSON lines; answers the manifest's entry for the file.
pub(crate) fn write_jsonl<T: serde::Serialize>(
    dir: &Path,
    name: &'static str,
    rows: &[T],
) -> Result<FileEntry, MigrateError> {
    let mut w = JsonlWriter::create(dir, name)?;
    for row in rows {
        w.write(row)?;
    }
    w.finish()
}

/// The ledger's files written as the ledger is walked, one row at a time.
struct LedgerFiles<'d> {
    dir: &'d Path,
    current: Option<JsonlWriter>,
    entries: Vec<FileEntry>,
    /// The control totals, added up on the way.
    sums: crate::format::Sums,
}

impl LedgerFiles<'_> {
    fn finish_file(&mut self) -> Result<(), MigrateError> {
        if let Some(w) = self.current.take() {
            self.entries.push(w.finish()?);
        }
        Ok(())
    }
}

impl views::RowSink for LedgerFiles<'_> {
    fn file(&mut self, name: &'static str) -> Result<(), MigrateError> {
        self.finish_file()?;
        self.current = Some(JsonlWriter::create(self.dir, name)?);
        Ok(())
    }

    fn row(&mut self, row: views::Row) -> Result<(), MigrateError> {
        let Some(w) = self.current.as_mut() else {
            return Err(MigrateError::Set("a row before its file".into()));
        };
        match &row {
            views::Row::Account(r) => {
                views::add_account(&mut self.sums, r)?;
                w.write(r)
            }
            views::Row::Pending(r) => {
                views::add_pending(&mut self.sums, r)?;
                w.write(r)
            }
            views::Row::Citizen(r) => w.write(r),
            views::Row::Purchase(r) => w.write(r),
            views::Row::Payment(r) => w.write(r),
            views::Row::Cashback(r) => w.write(r),
            views::Row::Payout(r) => w.write(r),
            views::Row::Scheme(r) => w.write(r),
            views::Row::Budget(r) => w.write(r),
        }
    }
}

fn write_bytes(dir: &Path, name: &str, bytes: &[u8], rows: u64) -> Result<FileEntry, MigrateError> {
    let path = dir.join(name);
    let mut w = HashingWriter::new(std::fs::File::create(&path).map_err(MigrateError::io(&path))?);
    w.write_all(bytes).map_err(MigrateError::io(&path))?;
    let (file, bytes, sha256) = w.finish();
    file.sync_all().map_err(MigrateError::io(&path))?;
    Ok(FileEntry {
        name: name.to_owned(),
        rows,
        bytes,
        sha256,
    })
}

/// Copies the journal's first `end` bytes (records 1 ..= cut) into the set.
fn copy_journal(
    source: &Path,
    out: &Path,
    end: u64,
    records: u64,
    progress: Progress<'_>,
) -> Result<FileEntry, MigrateError> {
    let from = source.join(journal::JOURNAL_FILE_NAME);
    let to = out.join(files::JOURNAL);
    let input = std::fs::File::open(&from).map_err(MigrateError::io(&from))?;
    let mut input = input.take(end);
    let mut w = HashingWriter::new(std::fs::File::create(&to).map_err(MigrateError::io(&to))?);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buf).map_err(MigrateError::io(&from))?;
        if n == 0 {
            break;
        }
        w.write_all(&buf[..n]).map_err(MigrateError::io(&to))?;
        progress("copying the journal", w.bytes, end);
    }
    let (file, bytes, sha256) = w.finish();
    if bytes != end {
        return Err(MigrateError::Journal(format!(
            "{} ended at byte {bytes} of {end} while being copied",
            from.display()
        )));
    }
    file.sync_all().map_err(MigrateError::io(&to))?;
    Ok(FileEntry {
        name: files::JOURNAL.to_owned(),
        rows: records,
        bytes,
        sha256,
    })
}

/// The alias files' rows, as their CSV says (`payload,merchant_id[,note]`); a row whose
/// merchant id is not a number (a header) is not an alias.
fn alias_rows(alias_files: &[Vec<u8>]) -> Vec<AliasRow> {
    let mut rows = Vec::new();
    for (i, file) in alias_files.iter().enumerate() {
        let data = file.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(file);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(data);
        for record in reader.records().map_while(Result::ok) {
            let (Some(payload), Some(merchant)) = (record.get(0), record.get(1)) else {
                continue;
            };
            let Ok(merchant) = merchant.trim().parse::<u64>() else {
                continue;
            };
            rows.push(AliasRow {
                file: u32::try_from(i + 1).unwrap_or(u32::MAX),
                payload: payload.to_owned(),
                merchant,
                note: record.get(2).filter(|n| !n.is_empty()).map(str::to_owned),
            });
        }
    }
    rows
}

/// The ledger's view of a merchant: category, annual revenue (`None`: unknown) and
/// the operator's suspension.
type LedgerProfile = (u16, Option<i64>, Option<String>);

/// The merchants as rows. Only the ledger lookups run under the ledger's read: on a
/// serving node (a base set) the stickers' encoding must not hold up its writes.
fn merchant_rows(
    code: &CurrencyCode,
    merchants: &[directory::Merchant],
    ledger: &impl LedgerAccess,
) -> Result<Vec<MerchantRow>, MigrateError> {
    let mut profiles: Vec<Option<LedgerProfile>> = Vec::with_capacity(merchants.len());
    for chunk in merchants.chunks(READ_CHUNK) {
        ledger.read(|l| {
            profiles.extend(chunk.iter().map(|m| {
                l.merchant_profile(ledger::AccountId(m.id.0)).map(|p| {
                    (
                        p.category,
                        p.annual_revenue.known().map(ledger::Won::get),
                        p.operator_suspension
                            .as_ref()
                            .map(|t| t.as_str().to_owned()),
                    )
                })
            }));
        });
    }
    let mut rows = Vec::with_capacity(merchants.len());
    for (m, profile) in merchants.iter().zip(profiles) {
        let sticker = service::merchant::sticker_code(code.as_str(), m)
            .encode()
            .map_err(|e| MigrateError::Set(format!("merchant {}'s sticker: {e}", m.id.0)))?;
        let (category, annual_revenue, operator_suspension) = match profile {
            Some((c, r, s)) => (Some(c), Some(r), s),
            None => (None, None, None),
        };
        rows.push(MerchantRow {
            id: m.id.0,
            registry: serde_json::to_value(m)
                .map_err(|e| MigrateError::Set(format!("merchant {}: {e}", m.id.0)))?,
            category,
            annual_revenue,
            operator_suspension,
            sticker_payload: sticker,
        });
    }
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// Everything people-related of the currency, as the encrypted file's rows.
fn people_rows(
    data_dir: &Path,
    code: &CurrencyCode,
    ledger: &impl LedgerAccess,
    summary: &mut PeopleSummary,
) -> Result<Vec<PeopleRow>, MigrateError> {
    let mut rows = Vec::new();
    let store = SqliteService::open_in(data_dir).map_err(MigrateError::store)?;
    let users = store.users_of(code.as_str()).map_err(MigrateError::store)?;
    summary.unfinished_sign_ups = users.unfinished_sign_ups as u64;
    let mut accounts = BTreeSet::new();
    for u in users.users {
        accounts.insert(u.account);
        rows.push(user_row(u));
        summary.users += 1;
    }
    let links = store.verified_links().map_err(MigrateError::store)?;
    rows.extend(link_rows(ledger, &accounts, links, summary));
    for s in store
        .sessions_of(code.as_str(), service::now_us() / 1_000_000)
        .map_err(MigrateError::store)?
    {
        rows.push(PeopleRow::Session {
            login: s.login,
            token_hash: crate::sha::hex(&s.token_hash),
            expires_at_s: s.expires_at_s,
        });
        summary.sessions += 1;
    }
    key_rows(data_dir, &mut rows, summary)?;
    Ok(rows)
}

/// The key files people's hashes and codes depend on, as rows (in every set: they
/// are small, and a successor checks they are the same).
fn key_rows(
    data_dir: &Path,
    rows: &mut Vec<PeopleRow>,
    summary: &mut PeopleSummary,
) -> Result<(), MigrateError> {
    for name in KEY_FILES {
        let path = data_dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => {
                rows.push(PeopleRow::Key {
                    name: name.to_owned(),
                    base64: base64::engine::general_purpose::STANDARD.encode(bytes),
                });
                summary.keys.push(name.to_owned());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(MigrateError::io(&path)(e)),
        }
    }
    Ok(())
}

fn user_row(u: service::store::ExportedUser) -> PeopleRow {
    PeopleRow::User {
        id: u.id,
        role: u.role.as_str().to_owned(),
        login: u.login,
        login_key: u.login_key,
        password_hash: u.password_hash,
        pin_hash: u.pin_hash,
        account: u.account,
        created_s: u.created_s,
        name: u.person.as_ref().map(|p| p.name.clone()),
        address: u.person.map(|p| p.address),
    }
}

/// The links of this currency, as rows. Links are kept by ledger account: a link is
/// this currency's when its account is a user's here (`user_accounts`), or a wallet
/// or merchant account of this ledger.
fn link_rows(
    ledger: &impl LedgerAccess,
    user_accounts: &BTreeSet<u64>,
    links: Vec<service::store::LinkRecord>,
    summary: &mut PeopleSummary,
) -> Vec<PeopleRow> {
    let mut ours: Vec<bool> = Vec::with_capacity(links.len());
    for chunk in links.chunks(READ_CHUNK) {
        ledger.read(|l| {
            ours.extend(chunk.iter().map(|link| {
                user_accounts.contains(&link.account)
                    || l.account(ledger::AccountId(link.account)).is_some_and(|a| {
                        matches!(a.kind, AccountKind::CitizenWallet | AccountKind::Merchant)
                    })
            }));
        });
    }
    let mut rows = Vec::new();
    for (link, ours) in links.into_iter().zip(ours) {
        if ours {
            summary.bank_links += 1;
            rows.push(PeopleRow::BankLink {
                account: link.account,
                bank_account: link.bank_account,
                verified_ms: link.verified_ms,
            });
        }
    }
    rows
}

/// What changed since a base, as a delta set carries it.
struct Changed {
    people: Vec<PeopleRow>,
    merchants: Vec<MerchantRow>,
    removed: Vec<RemovedRow>,
}

/// The rows the change logs name since `position`, read as they are now; the keys of
/// those no longer there (or no longer of this currency) are removed.
fn changed_rows(
    data_dir: &Path,
    store: &SqliteService,
    registry: &SqliteRegistry,
    code: &CurrencyCode,
    ledger: &impl LedgerAccess,
    position: &Position,
    summary: &mut PeopleSummary,
) -> Result<Changed, MigrateError> {
    let c = code.as_str();
    let now_s = service::now_us() / 1_000_000;
    let mut keys = store
        .changed_since(c, position.people_after)
        .map_err(MigrateError::store)?;
    keys.extend(
        registry
            .changed_since(c, position.registry_after)
            .map_err(MigrateError::store)?,
    );
    keys.sort();
    let mut out = Changed {
        people: Vec::new(),
        merchants: Vec::new(),
        removed: Vec::new(),
    };
    let mut links = Vec::new();
    let mut merchants = Vec::new();
    let bad = |k: &str| MigrateError::Store(format!("the change log holds {k:?}, not a row key"));
    for key in keys {
        let (kind, id) = base::split_key(&key).ok_or_else(|| bad(&key))?;
        let found = match kind {
            "user" => {
                let id = id.parse().map_err(|_| bad(&key))?;
                store
                    .carried_user(c, id)
                    .map_err(MigrateError::store)?
                    .map(|u| {
                        summary.users += 1;
                        out.people.push(user_row(u));
                    })
            }
            "session" => {
                let hash = crate::import::hash_of(id).ok_or_else(|| bad(&key))?;
                store
                    .carried_session(c, &hash, now_s)
                    .map_err(MigrateError::store)?
                    .map(|s| {
                        summary.sessions += 1;
                        out.people.push(PeopleRow::Session {
                            login: s.login,
                            token_hash: crate::sha::hex(&s.token_hash),
                            expires_at_s: s.expires_at_s,
                        });
                    })
            }
            "bank_link" => {
                let account = id.parse().map_err(|_| bad(&key))?;
                store
                    .verified_link(account)
                    .map_err(MigrateError::store)?
                    .map(|l| links.push(l))
            }
            "merchant" => {
                let id = id.parse().map_err(|_| bad(&key))?;
                registry
                    .merchant(c, id)
                    .map_err(MigrateError::store)?
                    .map(|m| merchants.push(m))
            }
            _ => return Err(bad(&key)),
        };
        if found.is_none() {
            out.removed.push(RemovedRow { key });
        }
    }
    let user_accounts: BTreeSet<u64> = out
        .people
        .iter()
        .filter_map(|r| match r {
            PeopleRow::User { account, .. } => Some(*account),
            _ => None,
        })
        .collect();
    let link_rows = link_rows(ledger, &user_accounts, links, summary);
    out.people.extend(link_rows);
    out.merchants = merchant_rows(code, &merchants, ledger)?;
    key_rows(data_dir, &mut out.people, summary)?;
    Ok(out)
}

/// Makes `out` ready: new, or an unfinished export's leftovers cleared. A finished set
/// (one with a manifest) is never overwritten.
fn prepare_out(out: &Path) -> Result<(), MigrateError> {
    if out.join(files::MANIFEST).exists() {
        return Err(MigrateError::Target(format!(
            "{} already holds a finished set (it has a {}); choose another directory",
            out.display(),
            files::MANIFEST
        )));
    }
    if out.exists() {
        let entries = std::fs::read_dir(out).map_err(MigrateError::io(out))?;
        for entry in entries {
            let entry = entry.map_err(MigrateError::io(out))?;
            let name = entry.file_name();
            let ours = name.to_str().is_some_and(|n| {
                n.ends_with(".jsonl")
                    || n.ends_with(".age")
                    || n.ends_with(".csv")
                    || n == files::JOURNAL
                    || n.ends_with(".tmp")
            });
            if !ours {
                return Err(MigrateError::Target(format!(
                    "{} holds {:?}, which an export did not write; choose an empty or new directory",
                    out.display(),
                    name
                )));
            }
            std::fs::remove_file(entry.path()).map_err(MigrateError::io(entry.path()))?;
        }
    }
    std::fs::create_dir_all(out).map_err(MigrateError::io(out))
}

/// Writes the manifest last, atomically: a set with a manifest is a whole set.
pub(crate) fn write_manifest(out: &Path, manifest: &Manifest) -> Result<(), MigrateError> {
    let tmp = out.join(format!("{}.tmp", files::MANIFEST));
    let path = out.join(files::MANIFEST);
    let text = serde_json::to_vec_pretty(manifest)
        .map_err(|e| MigrateError::Set(format!("manifest: {e}")))?;
    let mut file = std::fs::File::create(&tmp).map_err(MigrateError::io(&tmp))?;
    file.write_all(&text).map_err(MigrateError::io(&tmp))?;
    file.sync_all().map_err(MigrateError::io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(MigrateError::io(&path))?;
    if let Ok(dir) = std::fs::File::open(out) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Writes the currency's interchange set into `options.out`. The journal is replayed
/// and checked first: a journal that does not verify is not exported.
pub fn export(options: &ExportOptions, progress: Progress<'_>) -> Result<Manifest, MigrateError> {
    let code = currency_code(&options.currency)?;
    let recipient = people::parse_recipient(&options.recipient)?;
    let dir = currency_dir(&options.data_dir, &code);
    if !dir.join(journal::JOURNAL_FILE_NAME).exists() {
        return Err(MigrateError::Usage(format!(
            "{} has no currency {code} (no {})",
            options.data_dir.display(),
            dir.join(journal::JOURNAL_FILE_NAME).display()
        )));
    }
    prepare_out(&options.out)?;
    let storage = FileStorage::new(&dir, FileJournalConfig::default());
    let replayed = replay(&storage, None, From::Genesis, progress)?;
    if replayed.currency != code.as_str() {
        return Err(MigrateError::Journal(format!(
            "{} is the journal of currency {}, not {code}",
            dir.display(),
            replayed.currency
        )));
    }
    let entries = vec![copy_journal(
        &dir,
        &options.out,
        replayed.end_offset,
        replayed.last_seq,
        progress,
    )?];
    let cut = Cut {
        seq: replayed.last_seq,
        time_us: replayed.last_time_us,
        head_hash: replayed.head_hash.to_string(),
    };
    write_set(
        options,
        &SetMode::Full,
        &code,
        &recipient,
        &replayed.ledger,
        cut,
        entries,
        progress,
    )
}

/// How a set reads the ledger: one held (a replay's, or a sealed engine's under one
/// read), or a serving engine's, one short read at a time so that payments go on.
pub(crate) trait LedgerAccess {
    fn read<R>(&self, f: impl FnOnce(&Ledger) -> R) -> R;
}

impl LedgerAccess for Ledger {
    fn read<R>(&self, f: impl FnOnce(&Ledger) -> R) -> R {
        f(self)
    }
}

struct Serving<'a>(&'a engine::Engine);

impl LedgerAccess for Serving<'_> {
    fn read<R>(&self, f: impl FnOnce(&Ledger) -> R) -> R {
        self.0.read(f)
    }
}

/// What kind of set is written.
pub(crate) enum SetMode {
    /// Everything, the journal and the ledger's files included (`maeul export`).
    Full,
    /// For a follower at the cutover: no journal, no ledger files (its own journal,
    /// replayed record by record to this cut and equal in head and state hash,
    /// already holds every row), only their sums.
    Follower,
    /// A follower's set made while serving, kept with the change logs' position: a
    /// first copy of people and registry ([`crate::base`]).
    Base,
    /// A follower's set with only what changed since the base of this id.
    Delta { base_id: String, position: Position },
}

/// A follower's set, from the live engine of the node that is handing the currency
/// over, once it is sealed (its last record is the handover's halt): the ledger in
/// memory is the state at the cut, so nothing is read back from disk or replayed.
/// With `base` (the directory of a base set this node made, and the id the follower
/// names), only what changed since that base.
pub fn export_live(
    options: &ExportOptions,
    engine: &engine::Engine,
    base: Option<(&Path, &str)>,
) -> Result<Manifest, MigrateError> {
    let code = currency_code(&options.currency)?;
    if engine.currency() != &code {
        return Err(MigrateError::Usage(format!(
            "the engine runs currency {}, not {code}",
            engine.currency()
        )));
    }
    let recipient = people::parse_recipient(&options.recipient)?;
    // A base that cannot be read any more (its files removed by hand) gives a whole
    // follower's set: slower to take, but the follower makes its copy equal to it.
    let mode = match base {
        None => SetMode::Follower,
        Some((dir, id)) => match (base_id(dir), Position::read(&dir.join(base::POSITION))) {
            (Ok(Some(held)), Ok(position)) if held == id => SetMode::Delta {
                base_id: id.to_owned(),
                position,
            },
            (held, position) => {
                tracing::warn!(
                    base = id,
                    held = ?held.ok().flatten(),
                    position = ?position.err().map(|e| e.to_string()),
                    "the base set named is not readable here: making a whole set"
                );
                SetMode::Follower
            }
        },
    };
    prepare_out(&options.out)?;
    // Sealed: what was queued before the seal is applied and written, then nothing.
    // Wait for that, then take the durable head and the ledger under one read (no
    // batch can be applied meanwhile) and check the head did not move: the ledger is
    // then exactly the state after the head record.
    for _ in 0..200 {
        if engine.queue_depth() == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    for _ in 0..50 {
        let before = engine.durable_head();
        let manifest = engine.read(|ledger| {
            let (seq, head) = engine.durable_head();
            let cut = Cut {
                seq,
                time_us: ledger.last_timestamp().as_micros(),
                head_hash: head.to_string(),
            };
            write_set(
                options,
                &mode,
                &code,
                &recipient,
                ledger,
                cut,
                Vec::new(),
                &|_, _, _| {},
            )
        })?;
        if engine.durable_head() == before {
            return Ok(manifest);
        }
        std::fs::remove_file(options.out.join(files::MANIFEST))
            .map_err(MigrateError::io(&options.out))?;
        prepare_out(&options.out)?;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Err(MigrateError::Journal(format!(
        "currency {code} still writes: it is not sealed"
    )))
}

/// A base set of a serving currency into `options.out` (replacing an earlier one),
/// with the change logs' position beside it; answers its manifest and id. The engine is read
/// in short pieces: payments go on meanwhile. The cut and state hash it states are
/// where it was taken, for information: the delta at the cutover is what counts.
pub fn export_base(
    options: &ExportOptions,
    engine: &engine::Engine,
) -> Result<(Manifest, String), MigrateError> {
    let code = currency_code(&options.currency)?;
    let recipient = people::parse_recipient(&options.recipient)?;
    if options.out.exists() {
        std::fs::remove_dir_all(&options.out).map_err(MigrateError::io(&options.out))?;
    }
    prepare_out(&options.out)?;
    let (seq, head) = engine.durable_head();
    let cut = Cut {
        seq,
        time_us: engine.read(|l| l.last_timestamp().as_micros()),
        head_hash: head.to_string(),
    };
    let manifest = write_set(
        options,
        &SetMode::Base,
        &code,
        &recipient,
        &Serving(engine),
        cut,
        Vec::new(),
        &|_, _, _| {},
    )?;
    let id = base_id(&options.out)?
        .ok_or_else(|| MigrateError::Set("the base set has no manifest".into()))?;
    Ok((manifest, id))
}

/// The id of the base set in `dir` (the SHA-256 of its manifest), if there is one.
pub fn base_id(dir: &Path) -> Result<Option<String>, MigrateError> {
    use sha2::Digest as _;
    let path = dir.join(files::MANIFEST);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(crate::sha::hex(&sha2::Sha256::digest(&bytes)))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(MigrateError::io(&path)(e)),
    }
}

/// The set's files after the journal's (in `entries`), and the manifest last.
#[allow(clippy::too_many_arguments)]
fn write_set(
    options: &ExportOptions,
    mode: &SetMode,
    code: &CurrencyCode,
    recipient: &age::x25519::Recipient,
    ledger: &impl LedgerAccess,
    cut: Cut,
    mut entries: Vec<FileEntry>,
    progress: Progress<'_>,
) -> Result<Manifest, MigrateError> {
    // Where the time goes, for the operator (the cutover's set is in the pause).
    let mut laps: Vec<(&str, u64)> = Vec::new();
    let mut lap_at = std::time::Instant::now();
    let mut lap = |name: &'static str| {
        laps.push((name, lap_at.elapsed().as_millis() as u64));
        lap_at = std::time::Instant::now();
    };
    let out = options.out.as_path();
    let sums = match mode {
        SetMode::Full => {
            progress("writing the ledger's files", 0, 0);
            let mut files_written = LedgerFiles {
                dir: out,
                current: None,
                entries: Vec::new(),
                sums: crate::format::Sums::default(),
            };
            ledger.read(|l| views::visit_rows(l, &mut files_written))?;
            files_written.finish_file()?;
            entries.extend(files_written.entries);
            files_written.sums
        }
        // A base states no cut, so no sums: reading every account would hold up the
        // serving node's writes.
        SetMode::Base => crate::format::Sums::default(),
        SetMode::Follower | SetMode::Delta { .. } => ledger.read(views::sums_of)?,
    };
    lap("sums");

    progress("writing the registry and notices", 0, 0);
    let registry = SqliteRegistry::open_in(&options.data_dir).map_err(MigrateError::store)?;
    let store = SqliteService::open_in(&options.data_dir).map_err(MigrateError::store)?;
    let mut people_summary = PeopleSummary {
        encryption: people::ENCRYPTION.to_owned(),
        recipient: recipient.to_string(),
        ..PeopleSummary::default()
    };
    let alias_files = registry
        .alias_files(code.as_str())
        .map_err(MigrateError::store)?;
    // A base notes where the change logs stand before its rows are read: a change
    // made while they are read is then sent again at the cutover, never missed.
    let position = match mode {
        SetMode::Base => Some(Position {
            people_after: store.start_change_log().map_err(MigrateError::store)?,
            registry_after: registry.start_change_log().map_err(MigrateError::store)?,
            alias_files: alias_files.len() as u64,
        }),
        _ => None,
    };
    let (merchants, people_rows, aliases, base) = match mode {
        SetMode::Delta { base_id, position } => {
            let changed = changed_rows(
                &options.data_dir,
                &store,
                &registry,
                code,
                ledger,
                position,
                &mut people_summary,
            )?;
            lap("changed rows");
            entries.push(write_jsonl(out, files::REMOVED, &changed.removed)?);
            let aliases: Vec<AliasRow> = alias_rows(&alias_files)
                .into_iter()
                .filter(|a| u64::from(a.file) > position.alias_files)
                .collect();
            (
                changed.merchants,
                changed.people,
                aliases,
                Some(base_id.clone()),
            )
        }
        _ => {
            let merchants = registry
                .merchants(code.as_str())
                .map_err(MigrateError::store)?;
            lap("registry read");
            let merchants = merchant_rows(code, &merchants, ledger)?;
            lap("merchant rows");
            let people_rows = people_rows(&options.data_dir, code, ledger, &mut people_summary)?;
            lap("people rows");
            (merchants, people_rows, alias_rows(&alias_files), None)
        }
    };
    if let Some(position) = position {
        position.write(&out.join(base::POSITION))?;
    }
    entries.push(write_jsonl(out, files::MERCHANTS, &merchants)?);
    entries.push(write_jsonl(out, files::ALIASES, &aliases)?);
    if let Some(bands) = registry
        .revenue_bands(code.as_str())
        .map_err(MigrateError::store)?
    {
        let lines = bands
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        entries.push(write_bytes(
            out,
            files::REVENUE_BANDS,
            &bands,
            lines as u64,
        )?);
    }
    let mut notices = store
        .notices(code.as_str(), i64::MAX as usize)
        .map_err(MigrateError::store)?;
    notices.sort_by_key(|n| (n.at, n.id));
    let notices: Vec<NoticeRow> = notices
        .into_iter()
        .map(|n| NoticeRow {
            at_s: n.at,
            title_ko: n.title_ko,
            title_en: n.title_en,
            body_ko: n.body_ko,
            body_en: n.body_en,
        })
        .collect();
    entries.push(write_jsonl(out, files::NOTICES, &notices)?);
    lap("registry and notices written");

    progress("encrypting people's data", 0, 0);
    let (bytes, sha256) = people::write(&out.join(files::PEOPLE), &people_rows, recipient)?;
    lap("people encrypted");
    entries.push(FileEntry {
        name: files::PEOPLE.to_owned(),
        rows: people_rows.len() as u64,
        bytes,
        sha256,
    });

    let manifest = Manifest {
        format: format::FORMAT.to_owned(),
        version: format::VERSION,
        currency: code.as_str().to_owned(),
        written_by: format!(
            "maeul {} (rules {})",
            env!("CARGO_PKG_VERSION"),
            Rules::this_build().id().short()
        ),
        written_at_us: service::now_us(),
        cut,
        state_hash: ledger.read(|l| l.state_hash().to_string()),
        files: entries,
        sums,
        people: people_summary,
        base,
    };
    write_manifest(out, &manifest)?;
    lap("manifest");
    tracing::info!(currency = %code, rows = people_rows.len(), ms = ?laps, "set written");
    Ok(manifest)
}
