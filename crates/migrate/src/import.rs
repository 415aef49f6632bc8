//! `maeul import`: an interchange set into a data directory, checked before it lands.
//!
//! Order, so that a kill at any point leaves either nothing or something a rerun
//! finishes: (1) the manifest and every file's size and SHA-256; (2) people's data
//! decrypted (a wrong key stops here, before anything is written); (3) the journal
//! copied beside the data directory's currencies and replayed, every outcome and
//! state hash checked, and the set's files compared with what the replayed ledger
//! says; only then is it renamed into place; (4) registry, QR aliases, notices, people
//! and keys, each written so that a rerun adds nothing twice.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use engine::FileStorage;
use journal::FileJournalConfig;
use serde::de::DeserializeOwned;
use service::store::sqlite::{SqliteRegistry, SqliteService};
use service::store::{
    BankLinkStore, CarriedSession, ExportedUser, LinkRecord, NoticeStore, Person, RegistryStore,
    RegistryWrite, SessionStore, UserStore,
};

use crate::export::{From, Replayed, currency_code, currency_dir, replay};
use crate::format::{self, AliasRow, Manifest, MerchantRow, NoticeRow, PeopleRow, Sums, files};
use crate::views::{self, Row, RowSink};
use crate::{MigrateError, Progress, people};

/// What to import, where, and the key that opens people's data.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub set: PathBuf,
    pub data_dir: PathBuf,
    /// The successor's key file's text (`AGE-SECRET-KEY-…`).
    pub identity: String,
    /// The data directory holds this currency's journal already, as a follower wrote
    /// it: the set's `journal.dat` is not read (it need not be there); the local
    /// journal is replayed to the cut and must reach the manifest's head and state
    /// hashes, and say what the set's ledger files say where it has them (a set made
    /// for a follower leaves them out).
    pub journal_here: bool,
    /// With `journal_here`: the cut the caller itself replayed the local journal to,
    /// every record checked, just now (a follower at its cutover). When it is the
    /// manifest's cut, head and state hash, the journal is not replayed again: its
    /// state hash already proves every row the set's files could state.
    pub verified_cut: Option<VerifiedCut>,
    /// How people and registry are taken.
    pub taking: Taking,
}

/// How a set's people and registry are taken into the data directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Taking {
    /// Added where absent: an import into a new data directory (a rerun adds nothing).
    #[default]
    Fresh,
    /// A follower's base set, taken while the old node serves: the currency's people
    /// and registry here are made equal to the set's (rows put, rows it lacks removed).
    /// Its journal is not looked at (the follower's is its own).
    Base,
    /// A follower's set at the cutover, that holds only what changed since the base
    /// of this id (when the old node could make one; a whole set is made equal, as a
    /// base is).
    Delta { base_id: String },
}

/// A cut a follower reached and checked: its record, chain head and state hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCut {
    pub seq: u64,
    pub head_hash: String,
    pub state_hash: String,
}

/// How the journal got there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum JournalStep {
    #[default]
    Copied,
    /// The data directory already held this set's journal (a rerun): it was checked
    /// again, not copied.
    AlreadyThere,
}

/// What an import did, for the operator.
#[derive(Clone, Debug, Default)]
pub struct ImportReport {
    pub manifest: Option<Manifest>,
    pub journal: JournalStep,
    pub users_in_set: usize,
    pub users_added: usize,
    pub links_added: usize,
    pub sessions_added: usize,
    pub merchants: usize,
    /// Merchants taken away (a follower's set: gone at the old node).
    pub merchants_removed: usize,
    /// The revenue-band table was written.
    pub revenue_bands_set: bool,
    pub alias_files_added: usize,
    pub notices_added: usize,
    pub keys_written: Vec<String>,
    /// Files in the set's directory the manifest does not list (not read).
    pub unlisted_files: Vec<String>,
    /// How long each step took.
    pub steps: Vec<(&'static str, Duration)>,
}

/// Longest line of a set's JSONL file.
const LINE_MAX: u64 = 16 << 20;
/// Registry records written per transaction.
const REGISTRY_CHUNK: usize = 10_000;

fn read_manifest(set: &Path) -> Result<Manifest, MigrateError> {
    let path = set.join(files::MANIFEST);
    let text = std::fs::read(&path).map_err(MigrateError::io(&path))?;
    // The version is read first, so that a newer set says so rather than failing on a
    // field this build does not know.
    let head: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| MigrateError::Set(format!("{}: {e}", files::MANIFEST)))?;
    if head.get("format").and_then(|f| f.as_str()) != Some(format::FORMAT) {
        return Err(MigrateError::Set(format!(
            "{} is not a {} manifest",
            path.display(),
            format::FORMAT
        )));
    }
    let version = head
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| MigrateError::Set("the manifest has no version".into()))?;
    if version > u64::from(format::VERSION) {
        return Err(MigrateError::NewerFormat {
            found: u32::try_from(version).unwrap_or(u32::MAX),
            reads: format::VERSION,
        });
    }
    serde_json::from_slice(&text)
        .map_err(|e| MigrateError::Set(format!("{}: {e}", files::MANIFEST)))
}

/// Every listed file has its size and SHA-256; answers the files not listed.
fn check_files(
    set: &Path,
    manifest: &Manifest,
    journal_here: bool,
    progress: Progress<'_>,
) -> Result<Vec<String>, MigrateError> {
    let required = [
        files::JOURNAL,
        files::ACCOUNTS,
        files::CITIZENS,
        files::PURCHASES,
        files::PAYMENTS,
        files::CASHBACKS,
        files::PENDING,
        files::PAYOUTS,
        files::SCHEMES,
        files::BUDGETS,
        files::MERCHANTS,
        files::ALIASES,
        files::NOTICES,
        files::PEOPLE,
    ];
    // A follower's set (made at a cutover) has no journal and no ledger files: the
    // follower's own journal holds them.
    let ledger_file = |name: &str| name == files::JOURNAL || files::LEDGER.contains(&name);
    for name in required {
        let listed = manifest.files.iter().any(|f| f.name == name);
        let held_here = journal_here && ledger_file(name);
        if !listed && !held_here {
            return Err(MigrateError::Set(format!(
                "the manifest does not list {name}"
            )));
        }
    }
    let total: u64 = manifest.files.iter().map(|f| f.bytes).sum();
    let mut done = 0;
    for entry in &manifest.files {
        if journal_here && entry.name == files::JOURNAL {
            continue;
        }
        if entry.name.contains(['/', '\\']) || entry.name.starts_with('.') {
            return Err(MigrateError::Set(format!(
                "the manifest names {:?}, which is not a file of the set",
                entry.name
            )));
        }
        let path = set.join(&entry.name);
        let (bytes, sha256) = crate::sha::of_file(&path).map_err(MigrateError::io(&path))?;
        if bytes != entry.bytes || sha256 != entry.sha256 {
            return Err(MigrateError::Set(format!(
                "{} is {bytes} bytes with SHA-256 {sha256}; the manifest says {} bytes with {}: \
                 the file was changed or cut after the set was written",
                entry.name, entry.bytes, entry.sha256
            )));
        }
        done += bytes;
        progress("checking the files", done, total);
    }
    let mut unlisted = Vec::new();
    for e in std::fs::read_dir(set).map_err(MigrateError::io(set))? {
        let name = e.map_err(MigrateError::io(set))?.file_name();
        let name = name.to_string_lossy().into_owned();
        if name != files::MANIFEST && !manifest.files.iter().any(|f| f.name == name) {
            unlisted.push(name);
        }
    }
    unlisted.sort();
    Ok(unlisted)
}

pub(crate) fn read_jsonl<T: DeserializeOwned>(
    set: &Path,
    name: &str,
) -> Result<Vec<T>, MigrateError> {
    let path = set.join(name);
    let file = std::fs::File::open(&path).map_err(MigrateError::io(&path))?;
    let mut reader = BufReader::new(file);
    let mut rows = Vec::new();
    let mut line = String::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(LINE_MAX)
            .read_line(&mut line)
            .map_err(MigrateError::io(&path))?;
        if n == 0 {
            break;
        }
        number += 1;
        rows.push(
            serde_json::from_str(line.trim_end_matches(['\n', '\r']))
                .map_err(|e| MigrateError::Set(format!("{name} line {number}: {e}")))?,
        );
    }
    Ok(rows)
}

/// Compares the set's ledger files with the replayed ledger's rows one line at a time,
/// adding up the control totals on the way: neither side is held whole.
struct SameRows<'s> {
    set: &'s Path,
    /// The file being compared: its name, reader and the last line read.
    current: Option<(&'static str, BufReader<std::fs::File>, u64)>,
    line: String,
    sums: Sums,
}

impl SameRows<'_> {
    /// The next line of the current file as a row, `None` at its end.
    fn next<T: DeserializeOwned>(&mut self) -> Result<Option<T>, MigrateError> {
        let Some((name, reader, number)) = self.current.as_mut() else {
            return Err(MigrateError::Set("a row before its file".into()));
        };
        self.line.clear();
        let n = reader
            .take(LINE_MAX)
            .read_line(&mut self.line)
            .map_err(MigrateError::io(self.set.join(*name)))?;
        if n == 0 {
            return Ok(None);
        }
        *number += 1;
        serde_json::from_str(self.line.trim_end_matches(['\n', '\r']))
            .map(Some)
            .map_err(|e| MigrateError::Set(format!("{name} line {number}: {e}")))
    }

    fn same<T: DeserializeOwned + PartialEq + std::fmt::Debug>(
        &mut self,
        ours: T,
    ) -> Result<(), MigrateError> {
        let theirs: Option<T> = self.next()?;
        if theirs.as_ref() != Some(&ours) {
            let (name, number) = self.current.as_ref().map_or(("?", 0), |(n, _, l)| (*n, *l));
            return Err(MigrateError::Set(format!(
                "{name} line {number} says {theirs:?}; the replayed journal says {ours:?}"
            )));
        }
        Ok(())
    }

    /// The file just compared must end where the journal's rows do.
    fn finish_file(&mut self) -> Result<(), MigrateError> {
        if self.current.is_none() {
            return Ok(());
        }
        let extra: Option<serde_json::Value> = self.next()?;
        if let (Some(extra), Some((name, _, number))) = (extra, self.current.take()) {
            return Err(MigrateError::Set(format!(
                "{name} line {number} says {extra}; the replayed journal has no more rows"
            )));
        }
        Ok(())
    }
}

impl RowSink for SameRows<'_> {
    fn file(&mut self, name: &'static str) -> Result<(), MigrateError> {
        self.finish_file()?;
        let path = self.set.join(name);
        let file = std::fs::File::open(&path).map_err(MigrateError::io(&path))?;
        self.current = Some((name, BufReader::new(file), 0));
        Ok(())
    }

    fn row(&mut self, row: Row) -> Result<(), MigrateError> {
        match row {
            Row::Account(r) => {
                views::add_account(&mut self.sums, &r)?;
                self.same(r)
            }
            Row::Pending(r) => {
                views::add_pending(&mut self.sums, &r)?;
                self.same(r)
            }
            Row::Citizen(r) => self.same(r),
            Row::Purchase(r) => self.same(r),
            Row::Payment(r) => self.same(r),
            Row::Cashback(r) => self.same(r),
            Row::Payout(r) => self.same(r),
            Row::Scheme(r) => self.same(r),
            Row::Budget(r) => self.same(r),
        }
    }
}

/// `follower`: the set is a follower's (made at a cutover without ledger files); its
/// state hash, checked here, is the proof, and there are no rows to compare.
fn check_ledger(
    set: &Path,
    manifest: &Manifest,
    replayed: &Replayed,
    follower: bool,
) -> Result<(), MigrateError> {
    if replayed.currency != manifest.currency {
        return Err(MigrateError::Set(format!(
            "the journal is of currency {}, the manifest says {}",
            replayed.currency, manifest.currency
        )));
    }
    if replayed.last_seq != manifest.cut.seq {
        return Err(MigrateError::Set(format!(
            "the journal ends at record {}, the manifest's cut is record {}",
            replayed.last_seq, manifest.cut.seq
        )));
    }
    let head = replayed.head_hash.to_string();
    if head != manifest.cut.head_hash {
        return Err(MigrateError::Set(format!(
            "record {}'s chain hash is {head}, the manifest says {}",
            manifest.cut.seq, manifest.cut.head_hash
        )));
    }
    let state = replayed.ledger.state_hash().to_string();
    if state != manifest.state_hash {
        return Err(MigrateError::Set(format!(
            "the replayed state hash is {state}, the manifest says {}",
            manifest.state_hash
        )));
    }
    if follower && !manifest.files.iter().any(|f| f.name == files::ACCOUNTS) {
        let sums = views::sums_of(&replayed.ledger)?;
        if sums != manifest.sums {
            return Err(MigrateError::Set(format!(
                "the control totals differ: the journal gives {sums:?}, the manifest says {:?}",
                manifest.sums
            )));
        }
        return Ok(());
    }
    let mut compare = SameRows {
        set,
        current: None,
        line: String::new(),
        sums: Sums::default(),
    };
    views::visit_rows(&replayed.ledger, &mut compare)?;
    compare.finish_file()?;
    let sums = compare.sums;
    if sums != manifest.sums {
        return Err(MigrateError::Set(format!(
            "the control totals differ: the journal gives {sums:?}, the manifest says {:?}",
            manifest.sums
        )));
    }
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Puts the set's journal into the data directory, checked; or, when this set's
/// journal is there already (a rerun), checks it again.
fn place_journal(
    options: &ImportOptions,
    manifest: &Manifest,
    progress: Progress<'_>,
) -> Result<JournalStep, MigrateError> {
    let code = currency_code(&manifest.currency)?;
    let dir = currency_dir(&options.data_dir, &code);
    let storage = |d: &Path| FileStorage::new(d, FileJournalConfig::default());
    if dir.join(journal::JOURNAL_FILE_NAME).exists() {
        if let (true, Some(v)) = (options.journal_here, &options.verified_cut)
            && v.seq == manifest.cut.seq
            && v.head_hash == manifest.cut.head_hash
            && v.state_hash == manifest.state_hash
        {
            return Ok(JournalStep::AlreadyThere);
        }
        // A follower's own journal: from its snapshot (it checked every record as it
        // came); otherwise from the first record.
        let from = if options.journal_here {
            From::Snapshot
        } else {
            From::Genesis
        };
        let replayed = replay(&storage(&dir), Some(manifest.cut.seq), from, progress)?;
        if replayed.last_seq < manifest.cut.seq {
            return Err(MigrateError::Target(format!(
                "{} already has a currency {code} whose journal ends at record {}, before this \
                 set's cut ({}): it is not this set's",
                options.data_dir.display(),
                replayed.last_seq,
                manifest.cut.seq
            )));
        }
        check_ledger(&options.set, manifest, &replayed, options.journal_here).map_err(|e| {
            MigrateError::Target(format!(
                "{} already has a currency {code} that is not this set's: {e}",
                options.data_dir.display()
            ))
        })?;
        return Ok(JournalStep::AlreadyThere);
    }
    if options.journal_here {
        return Err(MigrateError::Target(format!(
            "{} has no journal of {code} to check against the set",
            options.data_dir.display()
        )));
    }
    let parent = options.data_dir.join("currencies");
    let staging = parent.join(format!(".{code}.importing"));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(MigrateError::io(&staging))?;
    }
    std::fs::create_dir_all(&staging).map_err(MigrateError::io(&staging))?;
    let from = options.set.join(files::JOURNAL);
    let to = staging.join(journal::JOURNAL_FILE_NAME);
    std::fs::copy(&from, &to).map_err(MigrateError::io(&to))?;
    std::fs::File::open(&to)
        .and_then(|f| f.sync_all())
        .map_err(MigrateError::io(&to))?;
    let replayed = replay(&storage(&staging), None, From::Genesis, progress)?;
    check_ledger(&options.set, manifest, &replayed, false)?;
    std::fs::write(
        staging.join("imported-from.json"),
        serde_json::to_vec_pretty(manifest).map_err(|e| MigrateError::Set(e.to_string()))?,
    )
    .map_err(MigrateError::io(&staging))?;
    sync_dir(&staging);
    std::fs::rename(&staging, &dir).map_err(MigrateError::io(&dir))?;
    sync_dir(&parent);
    Ok(JournalStep::Copied)
}

/// The alias files as they are written back: one CSV per original file.
pub(crate) fn alias_files(rows: &[AliasRow]) -> Result<Vec<Vec<u8>>, MigrateError> {
    let mut out: Vec<(u32, csv::Writer<Vec<u8>>)> = Vec::new();
    for row in rows {
        if out.last().is_none_or(|(file, _)| *file != row.file) {
            out.push((row.file, csv::Writer::from_writer(Vec::new())));
        }
        if let Some((_, w)) = out.last_mut() {
            let merchant = row.merchant.to_string();
            let mut fields = vec![row.payload.as_str(), merchant.as_str()];
            if let Some(note) = &row.note {
                fields.push(note);
            }
            w.write_record(&fields)
                .map_err(|e| MigrateError::Set(format!("{}: {e}", files::ALIASES)))?;
        }
    }
    out.into_iter()
        .map(|(_, w)| {
            w.into_inner()
                .map_err(|e| MigrateError::Set(format!("{}: {e}", files::ALIASES)))
        })
        .collect()
}

/// Puts the set's merchants (inserted or replaced by id), alias files and revenue
/// bands; answers the merchants' ids.
pub(crate) fn import_registry(
    options: &ImportOptions,
    manifest: &Manifest,
    report: &mut ImportReport,
) -> Result<HashSet<u64>, MigrateError> {
    let code = manifest.currency.as_str();
    let registry = SqliteRegistry::open_in(&options.data_dir).map_err(MigrateError::store)?;
    let rows: Vec<MerchantRow> = read_jsonl(&options.set, files::MERCHANTS)?;
    let mut merchants = Vec::with_capacity(rows.len());
    for row in rows {
        let m: directory::Merchant = serde_json::from_value(row.registry).map_err(|e| {
            MigrateError::Set(format!("{} merchant {}: {e}", files::MERCHANTS, row.id))
        })?;
        merchants.push(m);
    }
    for chunk in merchants.chunks(REGISTRY_CHUNK) {
        let records: Vec<&directory::Merchant> = chunk.iter().collect();
        registry
            .write(
                code,
                &RegistryWrite {
                    records: &records,
                    ..RegistryWrite::default()
                },
            )
            .map_err(MigrateError::store)?;
    }
    report.merchants = merchants.len();
    let ids = merchants.iter().map(|m| m.id.0).collect();
    let existing = registry.alias_files(code).map_err(MigrateError::store)?;
    for file in alias_files(&read_jsonl(&options.set, files::ALIASES)?)? {
        if !existing.contains(&file) {
            registry
                .write(
                    code,
                    &RegistryWrite {
                        alias_file: Some(&file),
                        at_us: service::now_us(),
                        ..RegistryWrite::default()
                    },
                )
                .map_err(MigrateError::store)?;
            report.alias_files_added += 1;
        }
    }
    if manifest
        .files
        .iter()
        .any(|f| f.name == files::REVENUE_BANDS)
    {
        let path = options.set.join(files::REVENUE_BANDS);
        let bands = std::fs::read(&path).map_err(MigrateError::io(&path))?;
        if registry
            .revenue_bands(code)
            .map_err(MigrateError::store)?
            .as_deref()
            != Some(&bands[..])
        {
            registry
                .set_revenue_bands(code, &bands, service::now_us())
                .map_err(MigrateError::store)?;
            report.revenue_bands_set = true;
        }
    }
    Ok(ids)
}

fn import_notices(
    options: &ImportOptions,
    store: &SqliteService,
    code: &str,
) -> Result<usize, MigrateError> {
    let have: HashSet<(u64, String, String)> = store
        .notices(code, i64::MAX as usize)
        .map_err(MigrateError::store)?
        .into_iter()
        .map(|n| (n.at, n.title_ko, n.body_ko))
        .collect();
    let mut added = 0;
    for n in read_jsonl::<NoticeRow>(&options.set, files::NOTICES)? {
        if have.contains(&(n.at_s, n.title_ko.clone(), n.body_ko.clone())) {
            continue;
        }
        let notice = service::auth::Notice {
            id: 0,
            currency: code.to_owned(),
            title_ko: n.title_ko,
            title_en: n.title_en,
            body_ko: n.body_ko,
            body_en: n.body_en,
            at: n.at_s,
        };
        store
            .publish_notice(&notice, n.at_s)
            .map_err(MigrateError::store)?;
        added += 1;
    }
    Ok(added)
}

/// A key the set carries, and whether the data directory has it already; one already
/// there must be the same key (PIN hashes are keyed by it: another key would lock
/// every citizen out). Checked before anything is written.
fn check_key(data_dir: &Path, name: &str, base64: &str) -> Result<(Vec<u8>, bool), MigrateError> {
    if !crate::export::KEY_FILES.contains(&name) {
        return Err(MigrateError::People(format!("unknown key file {name:?}")));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64)
        .map_err(|e| MigrateError::People(format!("key {name}: {e}")))?;
    let path = data_dir.join(name);
    match std::fs::read(&path) {
        Ok(existing) if existing == bytes => Ok((bytes, true)),
        Ok(_) => Err(MigrateError::Target(format!(
            "{} holds another {name} than the set's: the carried PINs and codes would not \
             verify. Import into a new data directory",
            data_dir.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((bytes, false)),
        Err(e) => Err(MigrateError::io(&path)(e)),
    }
}

/// Writes a key file the set carries, unless the same one is there; answers whether
/// it wrote it.
fn place_key(data_dir: &Path, name: &str, base64: &str) -> Result<bool, MigrateError> {
    let (bytes, there) = check_key(data_dir, name, base64)?;
    if there {
        return Ok(false);
    }
    let path = data_dir.join(name);
    std::fs::create_dir_all(data_dir).map_err(MigrateError::io(data_dir))?;
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp).map_err(MigrateError::io(&tmp))?;
        f.write_all(&bytes).map_err(MigrateError::io(&tmp))?;
        f.sync_all().map_err(MigrateError::io(&tmp))?;
    }
    std::fs::rename(&tmp, &path).map_err(MigrateError::io(&path))?;
    Ok(true)
}

/// A people file's rows by kind, checked; key files written as they come.
#[derive(Default)]
pub(crate) struct PeopleRows {
    pub users: Vec<ExportedUser>,
    pub links: Vec<LinkRecord>,
    pub sessions: Vec<CarriedSession>,
}

pub(crate) fn sort_people(
    options: &ImportOptions,
    rows: Vec<PeopleRow>,
    report: &mut ImportReport,
) -> Result<PeopleRows, MigrateError> {
    let mut out = PeopleRows::default();
    for row in rows {
        match row {
            PeopleRow::User {
                id,
                role,
                login,
                login_key,
                password_hash,
                pin_hash,
                account,
                created_s,
                name,
                address,
            } => {
                let role = match role.as_str() {
                    "citizen" => service::Role::Citizen,
                    "merchant" => service::Role::Merchant,
                    other => {
                        return Err(MigrateError::People(format!(
                            "user {login:?} has role {other:?}; a set carries citizens and merchants"
                        )));
                    }
                };
                out.users.push(ExportedUser {
                    id,
                    role,
                    login,
                    login_key,
                    password_hash,
                    pin_hash,
                    account,
                    created_s,
                    person: name.map(|name| Person {
                        name,
                        address: address.unwrap_or_default(),
                    }),
                });
            }
            PeopleRow::BankLink {
                account,
                bank_account,
                verified_ms,
            } => out.links.push(LinkRecord {
                account,
                bank_account,
                verified_ms,
            }),
            PeopleRow::Key { name, base64 } => {
                if place_key(&options.data_dir, &name, &base64)? {
                    report.keys_written.push(name);
                }
            }
            PeopleRow::Session {
                login,
                token_hash,
                expires_at_s,
            } => out.sessions.push(CarriedSession {
                token_hash: hash_of(&token_hash).ok_or_else(|| {
                    MigrateError::People(format!("a session of {login:?} has no 32-byte hash"))
                })?,
                login,
                expires_at_s,
            }),
        }
    }
    report.users_in_set = out.users.len();
    Ok(out)
}

fn import_people(
    options: &ImportOptions,
    store: &SqliteService,
    code: &str,
    rows: Vec<PeopleRow>,
    report: &mut ImportReport,
) -> Result<(), MigrateError> {
    let PeopleRows {
        users,
        links,
        sessions,
    } = sort_people(options, rows, report)?;
    report.users_added = store
        .restore_users(code, &users)
        .map_err(MigrateError::store)?;
    report.links_added = store.restore_links(&links).map_err(MigrateError::store)?;
    // After the users: a session is put for the user with its login.
    report.sessions_added = store
        .restore_sessions(&sessions)
        .map_err(MigrateError::store)?;
    Ok(())
}

/// 64 hex digits as 32 bytes.
pub(crate) fn hash_of(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Checks the set and puts its currency into `options.data_dir`. Rerunning it after a
/// kill, or after it finished, gives the same data directory.
pub fn import(
    options: &ImportOptions,
    progress: Progress<'_>,
) -> Result<ImportReport, MigrateError> {
    let mut report = ImportReport::default();
    let mut step = Instant::now();
    let mut lap = |report: &mut ImportReport, name: &'static str| {
        report.steps.push((name, step.elapsed()));
        step = Instant::now();
    };
    let manifest = read_manifest(&options.set)?;
    let delta = match (&manifest.base, &options.taking) {
        (Some(id), Taking::Delta { base_id }) if id == base_id => true,
        (Some(id), _) => {
            return Err(MigrateError::Set(format!(
                "this set holds only what changed since base set {id}: only a follower that \
                 holds that base takes it"
            )));
        }
        (None, _) => false,
    };
    let identity = people::parse_identity(&options.identity)?;
    let journal_here = options.journal_here || options.taking == Taking::Base;
    report.unlisted_files = check_files(&options.set, &manifest, journal_here, progress)?;
    if delta && !manifest.files.iter().any(|f| f.name == files::REMOVED) {
        return Err(MigrateError::Set(format!(
            "a delta set lists {}",
            files::REMOVED
        )));
    }
    lap(&mut report, "check files");
    progress("decrypting people's data", 0, 0);
    let people_rows = people::read(&options.set.join(files::PEOPLE), &identity)?;
    for row in &people_rows {
        if let PeopleRow::Key { name, base64 } = row {
            check_key(&options.data_dir, name, base64)?;
        }
    }
    lap(&mut report, "decrypt people");
    std::fs::create_dir_all(options.data_dir.join("currencies"))
        .map_err(MigrateError::io(&options.data_dir))?;
    if options.taking != Taking::Base {
        report.journal = place_journal(options, &manifest, progress)?;
        lap(&mut report, "journal: copy, replay, compare");
    }
    progress("writing the registry, notices and people", 0, 0);
    let code = manifest.currency.clone();
    let store = SqliteService::open_in(&options.data_dir).map_err(MigrateError::store)?;
    let removed: Vec<format::RemovedRow> = if delta {
        read_jsonl(&options.set, files::REMOVED)?
    } else {
        Vec::new()
    };
    match &options.taking {
        Taking::Fresh => {
            import_registry(options, &manifest, &mut report)?;
            report.notices_added = import_notices(options, &store, &code)?;
            import_people(options, &store, &code, people_rows, &mut report)?;
        }
        Taking::Base | Taking::Delta { .. } => {
            let registry =
                SqliteRegistry::open_in(&options.data_dir).map_err(MigrateError::store)?;
            crate::take::registry(options, &manifest, &registry, delta, &removed, &mut report)?;
            report.notices_added = import_notices(options, &store, &code)?;
            crate::take::people(
                options,
                &store,
                &registry,
                &code,
                people_rows,
                delta.then_some(&removed[..]),
                &mut report,
            )?;
        }
    }
    lap(&mut report, "registry, notices, people");
    report.manifest = Some(manifest);
    Ok(report)
}
