//! Reading a legacy dump: CSV in the old vendor's shape (UTF-8 or CP949, CRLF, quoted
//! fields), through the mapping, into rows maeul can import. Every row ends up imported
//! or in the report; nothing is dropped silently.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;

use directory::{Brn, MerchantProfile, Revenue};
use ledger::{Source, Timestamp, Won};

use super::mapping::{DumpEncoding, Mapping, MemberStatus, MerchantStatus, WalletKind};
use super::report::{Outcome, Problem, ReportRow};
use crate::MigrateError;

/// Largest dump file read (it is held in memory while read).
pub const FILE_BYTES_MAX: u64 = 4 << 30;
/// Most rows one file may have.
pub const ROWS_MAX: usize = 30_000_000;
/// Most balance rows one member may have (each is a lot of its wallet): a member's
/// lots, each with its budget funding, and the reset before them fit one linked group.
pub const LOTS_PER_MEMBER_MAX: usize = 31;

/// A file as a header and its rows, each with its line.
struct Table {
    file: String,
    columns: HashMap<String, usize>,
    width: usize,
    rows: Vec<(u64, Vec<String>)>,
}

impl Table {
    fn read(
        dir: &Path,
        file: &str,
        encoding: DumpEncoding,
        report: &mut Vec<ReportRow>,
    ) -> Result<Table, MigrateError> {
        let path = dir.join(file);
        let size = std::fs::metadata(&path)
            .map_err(MigrateError::io(&path))?
            .len();
        if size > FILE_BYTES_MAX {
            return Err(MigrateError::Usage(format!(
                "{file}: {size} bytes, more than the {FILE_BYTES_MAX} a dump file may have"
            )));
        }
        let bytes = std::fs::read(&path).map_err(MigrateError::io(&path))?;
        let text = match encoding {
            DumpEncoding::Auto => directory::sync::decode(&bytes).0,
            DumpEncoding::Utf8 => {
                let b = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
                std::str::from_utf8(b)
                    .map(std::borrow::Cow::Borrowed)
                    .map_err(|e| MigrateError::Usage(format!("{file}: not UTF-8: {e}")))?
            }
            DumpEncoding::Cp949 => encoding_rs::EUC_KR.decode_without_bom_handling(&bytes).0,
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut lines = directory::lines::LineCounter::new(text.as_bytes());
        let mut header: Option<Vec<String>> = None;
        let mut rows = Vec::new();
        let mut record = csv::StringRecord::new();
        loop {
            let at = reader.position().byte();
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    let line = lines.line_at(at);
                    report.push(ReportRow::new(
                        file,
                        line,
                        "",
                        "",
                        Outcome::Rejected,
                        &Problem::Unreadable(e.to_string()),
                    ));
                    continue;
                }
            }
            let line = lines.line_at(record.position().map_or(at, |p| p.byte()));
            let fields: Vec<String> = record.iter().map(|f| f.trim().to_owned()).collect();
            if fields.iter().all(String::is_empty) {
                continue; // a blank line
            }
            if header.is_none() {
                header = Some(fields);
                continue;
            }
            if rows.len() >= ROWS_MAX {
                return Err(MigrateError::Usage(format!(
                    "{file}: more than {ROWS_MAX} rows"
                )));
            }
            rows.push((line, fields));
        }
        let header =
            header.ok_or_else(|| MigrateError::Usage(format!("{file}: the file is empty")))?;
        let width = header.len();
        let columns = header
            .into_iter()
            .enumerate()
            .map(|(i, name)| (name, i))
            .collect();
        Ok(Table {
            file: file.to_owned(),
            columns,
            width,
            rows,
        })
    }

    /// The column's index; a column the mapping names but the file lacks stops the
    /// import before anything is written.
    fn column(&self, name: &str) -> Result<usize, MigrateError> {
        self.columns.get(name.trim()).copied().ok_or_else(|| {
            MigrateError::Usage(format!(
                "{}: no column \"{name}\" in the header (the mapping names it) / \
                 매핑 파일이 지정한 열 \"{name}\"이 머리글에 없습니다",
                self.file
            ))
        })
    }

    fn optional(&self, name: &Option<String>) -> Result<Option<usize>, MigrateError> {
        name.as_deref().map(|n| self.column(n)).transpose()
    }
}

/// A balance of one wallet type with one expiry: a lot in the member's wallet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LotRow {
    pub line: u64,
    pub wallet_id: String,
    pub source: Source,
    pub amount: Won,
    pub expires_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct MemberRow {
    pub line: u64,
    pub legacy_id: String,
    pub name: Option<String>,
    pub address: Option<String>,
    pub birth_year: Option<u16>,
    pub frozen: bool,
    pub lots: Vec<LotRow>,
}

#[derive(Clone, Debug)]
pub struct MerchantRow {
    pub line: u64,
    pub legacy_id: String,
    pub brn: Brn,
    pub profile: MerchantProfile,
    pub status: directory::Status,
    pub unpaid: Won,
    pub qr: Option<String>,
}

/// What the dump itself says, rows rejected included: set beside the operator's control
/// totals and what was imported, it shows where a difference comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct InDump {
    pub member_rows: u64,
    pub wallet_rows: u64,
    pub merchant_rows: u64,
    /// Won by mapped wallet kind (rows whose amount could be read).
    pub value_by_kind: std::collections::BTreeMap<String, i64>,
    pub unpaid: i64,
}

#[derive(Debug)]
pub struct Dump {
    pub members: Vec<MemberRow>,
    pub merchants: Vec<MerchantRow>,
    pub report: Vec<ReportRow>,
    pub in_dump: InDump,
}

/// Reads the three files of a dump through the mapping. `now` decides which balances
/// have expired.
pub fn read_dump(dir: &Path, mapping: &Mapping, now: Timestamp) -> Result<Dump, MigrateError> {
    let mut report = Vec::new();
    let mut in_dump = InDump::default();
    let members = read_members(dir, mapping, &mut report, &mut in_dump)?;
    let members = attach_wallets(dir, mapping, members, now, &mut report, &mut in_dump)?;
    let merchants = read_merchants(dir, mapping, &mut report, &mut in_dump)?;
    Ok(Dump {
        members,
        merchants,
        report,
        in_dump,
    })
}

fn cell(row: &[String], i: usize) -> &str {
    row.get(i).map_or("", String::as_str)
}

fn opt_cell(row: &[String], i: Option<usize>) -> Option<&str> {
    i.map(|i| cell(row, i)).filter(|v| !v.is_empty())
}

/// Longest id of the old system taken (it becomes part of a login and of notes).
pub const ID_CHARS_MAX: usize = 64;

/// Why an id cannot be taken, if it cannot: empty, too long, or with control or
/// undecodable characters.
fn id_problem(v: &str) -> Option<Problem> {
    if v.is_empty() {
        return Some(Problem::Missing);
    }
    clean_text(v, ID_CHARS_MAX).err().map(Problem::BadText)
}

/// What the dump says, added up: a sum past what i64 holds stays at its largest
/// (30 million rows of the largest transfer would not fit).
fn add_won(slot: &mut i64, w: Won) {
    *slot = slot.saturating_add(w.get());
}

/// Checks the row's width; a short or long row is not guessed at.
fn width_ok(t: &Table, line: u64, row: &[String], report: &mut Vec<ReportRow>) -> bool {
    if row.len() == t.width {
        return true;
    }
    report.push(ReportRow::new(
        &t.file,
        line,
        row.first().map_or("", String::as_str),
        "",
        Outcome::Rejected,
        &Problem::Unreadable(format!(
            "{} fields where the header has {} / 머리글은 {}칸, 이 행은 {}칸",
            row.len(),
            t.width,
            t.width,
            row.len()
        )),
    ));
    false
}

/// Text kept for a person or a shop: no control characters, no replacement characters
/// (a wrongly decoded file), at most `max` characters.
fn clean_text(v: &str, max: usize) -> Result<String, String> {
    if v.chars().count() > max {
        return Err(format!("longer than {max} characters"));
    }
    if v.chars().any(|c| c.is_control() || c == '\u{FFFD}') {
        return Err("control or undecodable characters (wrong encoding?)".into());
    }
    Ok(v.to_owned())
}

fn read_members(
    dir: &Path,
    mapping: &Mapping,
    report: &mut Vec<ReportRow>,
    in_dump: &mut InDump,
) -> Result<Vec<(MemberRow, MemberStatus)>, MigrateError> {
    let m = &mapping.members;
    let t = Table::read(dir, &m.file, mapping.encoding, report)?;
    let id = t.column(&m.id)?;
    let name = t.optional(&m.name)?;
    let address = t.optional(&m.address)?;
    let birth = t.optional(&m.birth_year)?;
    let status = t.optional(&m.status)?;
    let mut out: Vec<Option<(MemberRow, MemberStatus, Vec<String>)>> = Vec::new();
    let mut seen: HashMap<String, (u64, usize)> = HashMap::new();
    for (line, row) in &t.rows {
        in_dump.member_rows += 1;
        if !width_ok(&t, *line, row, report) {
            continue;
        }
        let legacy_id = cell(row, id);
        let reject = |field: &str, p: Problem, report: &mut Vec<ReportRow>| {
            report.push(ReportRow::new(
                &t.file,
                *line,
                legacy_id,
                field,
                Outcome::Rejected,
                &p,
            ));
        };
        if let Some(p) = id_problem(legacy_id) {
            reject(&m.id, p, report);
            continue;
        }
        match seen.entry(legacy_id.to_owned()) {
            Entry::Occupied(first) => {
                let (first_line, index) = *first.get();
                let same = out[index].as_ref().is_some_and(|(_, _, r)| r == row);
                if same {
                    report.push(ReportRow::new(
                        &t.file,
                        *line,
                        legacy_id,
                        &m.id,
                        Outcome::Warning,
                        &Problem::DuplicateId { first_line },
                    ));
                } else {
                    reject(&m.id, Problem::ConflictingDuplicate { first_line }, report);
                    if out[index].take().is_some() {
                        report.push(ReportRow::new(
                            &t.file,
                            first_line,
                            legacy_id,
                            &m.id,
                            Outcome::Rejected,
                            &Problem::ConflictingDuplicate { first_line: *line },
                        ));
                    }
                }
                continue;
            }
            Entry::Vacant(v) => {
                v.insert((*line, out.len()));
            }
        }
        let text = |col: Option<usize>, field: &Option<String>, report: &mut Vec<ReportRow>| {
            let v = opt_cell(row, col)?;
            match clean_text(v, 100) {
                Ok(v) => Some(v),
                Err(e) => {
                    report.push(ReportRow::new(
                        &t.file,
                        *line,
                        legacy_id,
                        field.as_deref().unwrap_or(""),
                        Outcome::Defaulted,
                        &Problem::BadText(e),
                    ));
                    None
                }
            }
        };
        let person_name = text(name, &m.name, report);
        let person_address = text(address, &m.address, report);
        let birth_year = match opt_cell(row, birth) {
            None => None,
            Some(v) => match v.parse::<u16>() {
                Ok(y) if (1900..=2100).contains(&y) => Some(y),
                _ => {
                    report.push(ReportRow::new(
                        &t.file,
                        *line,
                        legacy_id,
                        m.birth_year.as_deref().unwrap_or(""),
                        Outcome::Defaulted,
                        &Problem::BadBirthYear(v.to_owned()),
                    ));
                    None
                }
            },
        };
        let state = match opt_cell(row, status) {
            None => MemberStatus::Active,
            Some(v) => match m.statuses.get(v) {
                Some(s) => *s,
                None => {
                    report.push(ReportRow::new(
                        &t.file,
                        *line,
                        legacy_id,
                        m.status.as_deref().unwrap_or(""),
                        Outcome::Defaulted,
                        &Problem::UnknownMemberStatus(v.to_owned()),
                    ));
                    MemberStatus::Frozen
                }
            },
        };
        out.push(Some((
            MemberRow {
                line: *line,
                legacy_id: legacy_id.to_owned(),
                name: person_name,
                address: person_address,
                birth_year,
                frozen: state != MemberStatus::Active,
                lots: Vec::new(),
            },
            state,
            row.clone(),
        )));
    }
    Ok(out.into_iter().flatten().map(|(m, s, _)| (m, s)).collect())
}

/// An amount of won as dumps write it: digits with optional thousands separators, a
/// trailing 원, a `.00` tail; anything else is not guessed at.
pub fn parse_won(v: &str) -> Result<Won, Problem> {
    let s: String = v
        .trim()
        .trim_end_matches('원')
        .chars()
        .filter(|c| *c != ',' && !c.is_whitespace())
        .collect();
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.as_str()),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::BadAmount(v.to_owned()));
    }
    if let Some(f) = fraction {
        if !f.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Problem::BadAmount(v.to_owned()));
        }
        if f.bytes().any(|b| b != b'0') {
            return Err(Problem::FractionOfWon);
        }
    }
    let n: i64 = whole
        .parse()
        .map_err(|_| Problem::BadAmount(v.to_owned()))?;
    if negative && n != 0 {
        return Err(Problem::NegativeAmount);
    }
    if n > Won::TRANSFER_MAX.get() {
        return Err(Problem::BadAmount(v.to_owned()));
    }
    Ok(Won::new(n))
}

/// Days from 1970-01-01 to the civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The last day a value may be used, as dumps write it, to the moment it ends: midnight
/// after that day in Korea (UTC+9).
pub fn parse_last_day(v: &str) -> Result<Timestamp, Problem> {
    let digits: String = v.chars().filter(char::is_ascii_digit).collect();
    let separators_ok = v
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '-' | '.' | '/' | ' '));
    if digits.len() != 8 || !separators_ok {
        return Err(Problem::BadDate(v.to_owned()));
    }
    let num = |r: std::ops::Range<usize>| digits[r].parse::<i64>().unwrap_or(0);
    let (y, m, d) = (num(0..4), num(4..6), num(6..8));
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || d < 1
        || d > month_days[(m - 1) as usize]
    {
        return Err(Problem::BadDate(v.to_owned()));
    }
    let end_s = (days_from_civil(y, m, d) + 1) * 86_400 - 9 * 3_600;
    Ok(Timestamp::from_micros(end_s.max(0) as u64 * 1_000_000))
}

fn kind_name(k: WalletKind) -> &'static str {
    match k {
        WalletKind::Purchased => "purchased",
        WalletKind::Allowance => "allowance",
        WalletKind::Cashback => "cashback",
        WalletKind::Ignore => "ignore",
    }
}

fn attach_wallets(
    dir: &Path,
    mapping: &Mapping,
    members: Vec<(MemberRow, MemberStatus)>,
    now: Timestamp,
    report: &mut Vec<ReportRow>,
    in_dump: &mut InDump,
) -> Result<Vec<MemberRow>, MigrateError> {
    let w = &mapping.wallets;
    let t = Table::read(dir, &w.file, mapping.encoding, report)?;
    let id = t.column(&w.id)?;
    let member = t.column(&w.member)?;
    let kind = t.column(&w.kind)?;
    let balance = t.column(&w.balance)?;
    let expires = t.optional(&w.expires)?;
    let index: HashMap<String, usize> = members
        .iter()
        .enumerate()
        .map(|(i, (m, _))| (m.legacy_id.clone(), i))
        .collect();
    let mut members = members;
    // Wallet id → (first line, member index, the lot) for duplicates.
    let mut seen: HashMap<String, (u64, Option<(usize, LotRow)>)> = HashMap::new();
    let mut conflicted: Vec<(usize, String)> = Vec::new();
    for (line, row) in &t.rows {
        in_dump.wallet_rows += 1;
        if !width_ok(&t, *line, row, report) {
            continue;
        }
        let wallet_id = cell(row, id);
        let reject = |field: &str, p: Problem, report: &mut Vec<ReportRow>| {
            report.push(ReportRow::new(
                &t.file,
                *line,
                wallet_id,
                field,
                Outcome::Rejected,
                &p,
            ));
        };
        if let Some(p) = id_problem(wallet_id) {
            reject(&w.id, p, report);
            continue;
        }
        let amount = match parse_won(cell(row, balance)) {
            Ok(a) => a,
            Err(p) => {
                let p = if cell(row, balance).is_empty() {
                    Problem::Missing
                } else {
                    p
                };
                reject(&w.balance, p, report);
                continue;
            }
        };
        let kind_word = cell(row, kind);
        let Some(k) = w.kinds.get(kind_word).copied() else {
            add_won(
                in_dump.value_by_kind.entry("unmapped".into()).or_default(),
                amount,
            );
            reject(
                &w.kind,
                Problem::UnknownWalletKind(kind_word.to_owned()),
                report,
            );
            continue;
        };
        add_won(
            in_dump
                .value_by_kind
                .entry(kind_name(k).into())
                .or_default(),
            amount,
        );
        let source = match k {
            WalletKind::Purchased => Source::Purchased,
            WalletKind::Allowance => Source::Allowance,
            WalletKind::Cashback => Source::Cashback,
            WalletKind::Ignore => {
                reject(&w.kind, Problem::NotMoney(kind_word.to_owned()), report);
                continue;
            }
        };
        let expires_at = match opt_cell(row, expires) {
            None => Timestamp::MAX,
            Some(v) => match parse_last_day(v) {
                Ok(t) => t,
                Err(p) => {
                    reject(w.expires.as_deref().unwrap_or(""), p, report);
                    continue;
                }
            },
        };
        if expires_at <= now {
            let day = opt_cell(row, expires).unwrap_or_default().to_owned();
            reject(
                w.expires.as_deref().unwrap_or(""),
                Problem::Expired(day),
                report,
            );
            continue;
        }
        let member_id = cell(row, member);
        let Some(&m) = index.get(member_id) else {
            reject(&w.member, Problem::OrphanWallet, report);
            continue;
        };
        let lot = LotRow {
            line: *line,
            wallet_id: wallet_id.to_owned(),
            source,
            amount,
            expires_at,
        };
        match seen.entry(wallet_id.to_owned()) {
            Entry::Occupied(mut first) => {
                let (first_line, kept) = first.get_mut();
                let first_line = *first_line;
                let same = kept.as_ref().is_some_and(|(fm, l)| {
                    *fm == m
                        && LotRow {
                            line: *line,
                            ..l.clone()
                        } == lot
                });
                if same {
                    report.push(ReportRow::new(
                        &t.file,
                        *line,
                        wallet_id,
                        &w.id,
                        Outcome::Warning,
                        &Problem::DuplicateId { first_line },
                    ));
                } else {
                    reject(&w.id, Problem::ConflictingDuplicate { first_line }, report);
                    if let Some((fm, _)) = kept.take() {
                        conflicted.push((fm, wallet_id.to_owned()));
                        report.push(ReportRow::new(
                            &t.file,
                            first_line,
                            wallet_id,
                            &w.id,
                            Outcome::Rejected,
                            &Problem::ConflictingDuplicate { first_line: *line },
                        ));
                    }
                }
                continue;
            }
            Entry::Vacant(v) => {
                v.insert((*line, Some((m, lot.clone()))));
            }
        }
        if amount.get() == 0 {
            continue;
        }
        let lots = &mut members[m].0.lots;
        if lots.len() >= LOTS_PER_MEMBER_MAX {
            reject(&w.id, Problem::TooManyLots, report);
            continue;
        }
        lots.push(lot);
    }
    for (m, wallet_id) in conflicted {
        members[m].0.lots.retain(|l| l.wallet_id != wallet_id);
    }
    // Closed members come in only with value left, then frozen.
    let mut out = Vec::with_capacity(members.len());
    for (mut row, status) in members {
        if status == MemberStatus::Closed {
            let field = mapping.members.status.as_deref().unwrap_or("");
            if row.lots.is_empty() {
                report.push(ReportRow::new(
                    &mapping.members.file,
                    row.line,
                    &row.legacy_id,
                    field,
                    Outcome::Rejected,
                    &Problem::ClosedMemberSkipped,
                ));
                continue;
            }
            report.push(ReportRow::new(
                &mapping.members.file,
                row.line,
                &row.legacy_id,
                field,
                Outcome::Defaulted,
                &Problem::ClosedWithValue,
            ));
            row.frozen = true;
        }
        out.push(row);
    }
    Ok(out)
}

fn read_merchants(
    dir: &Path,
    mapping: &Mapping,
    report: &mut Vec<ReportRow>,
    in_dump: &mut InDump,
) -> Result<Vec<MerchantRow>, MigrateError> {
    let s = &mapping.merchants;
    let t = Table::read(dir, &s.file, mapping.encoding, report)?;
    let id = t.column(&s.id)?;
    let brn_col = t.column(&s.brn)?;
    let name = t.column(&s.name)?;
    let status = t.optional(&s.status)?;
    let band = t.optional(&s.revenue_band)?;
    let unpaid = t.optional(&s.unpaid)?;
    let qr = t.optional(&s.qr)?;
    let address = t.optional(&s.address)?;
    let mut bands: HashMap<&str, Revenue> = HashMap::new();
    for (legacy, label) in &s.revenue_bands {
        let revenue = directory::revenue::parse_label(label).map_err(|e| {
            MigrateError::Usage(format!(
                "mapping: revenue band \"{legacy}\" → \"{label}\": {e:?}"
            ))
        })?;
        bands.insert(legacy.as_str(), revenue);
    }
    let mut out: Vec<Option<MerchantRow>> = Vec::new();
    let mut by_id: HashMap<String, (u64, usize, Vec<String>)> = HashMap::new();
    let mut by_brn: HashMap<Brn, (u64, usize, String)> = HashMap::new();
    for (line, row) in &t.rows {
        in_dump.merchant_rows += 1;
        if !width_ok(&t, *line, row, report) {
            continue;
        }
        let legacy_id = cell(row, id);
        let push = |field: &str, outcome, p: Problem, report: &mut Vec<ReportRow>| {
            report.push(ReportRow::new(
                &t.file, *line, legacy_id, field, outcome, &p,
            ));
        };
        if let Some(p) = id_problem(legacy_id) {
            push(&s.id, Outcome::Rejected, p, report);
            continue;
        }
        let owed = match opt_cell(row, unpaid) {
            None => Won::ZERO,
            Some(v) => match parse_won(v) {
                Ok(w) => w,
                Err(p) => {
                    push(
                        s.unpaid.as_deref().unwrap_or(""),
                        Outcome::Rejected,
                        p,
                        report,
                    );
                    continue;
                }
            },
        };
        add_won(&mut in_dump.unpaid, owed);
        if let Some(&(first_line, index, ref first_row)) = by_id.get(legacy_id) {
            if first_row == row {
                push(
                    &s.id,
                    Outcome::Warning,
                    Problem::DuplicateId { first_line },
                    report,
                );
            } else {
                push(
                    &s.id,
                    Outcome::Rejected,
                    Problem::ConflictingDuplicate { first_line },
                    report,
                );
                if out[index].take().is_some() {
                    report.push(ReportRow::new(
                        &t.file,
                        first_line,
                        legacy_id,
                        &s.id,
                        Outcome::Rejected,
                        &Problem::ConflictingDuplicate { first_line: *line },
                    ));
                }
            }
            continue;
        }
        by_id.insert(legacy_id.to_owned(), (*line, out.len(), row.clone()));
        let brn_text = cell(row, brn_col);
        let brn = match Brn::parse(brn_text) {
            Ok(b) => b,
            Err(_) => {
                push(
                    &s.brn,
                    Outcome::Rejected,
                    Problem::BadBrn(brn_text.to_owned()),
                    report,
                );
                out.push(None);
                continue;
            }
        };
        if let Some((first_line, index, first_id)) = by_brn.get(&brn) {
            let (first_line, index) = (*first_line, *index);
            push(
                &s.brn,
                Outcome::Rejected,
                Problem::DuplicateBrn { first_line },
                report,
            );
            if out[index].take().is_some() {
                report.push(ReportRow::new(
                    &t.file,
                    first_line,
                    first_id,
                    &s.brn,
                    Outcome::Rejected,
                    &Problem::DuplicateBrn { first_line: *line },
                ));
            }
            out.push(None);
            continue;
        }
        by_brn.insert(brn, (*line, out.len(), legacy_id.to_owned()));
        let mut profile = MerchantProfile::named(cell(row, name));
        if let Some(a) = opt_cell(row, address) {
            profile.road_address = Some(a.to_owned());
        }
        if let Some(v) = opt_cell(row, band) {
            match bands.get(v) {
                Some(r) => profile.revenue = Some(*r),
                None => push(
                    s.revenue_band.as_deref().unwrap_or(""),
                    Outcome::Defaulted,
                    Problem::UnknownRevenueBand(v.to_owned()),
                    report,
                ),
            }
        }
        if let Err(e) = profile.validate() {
            push(
                &s.name,
                Outcome::Rejected,
                Problem::BadText(format!("{e:?}")),
                report,
            );
            out.push(None);
            continue;
        }
        let status = match opt_cell(row, status) {
            None => directory::Status::Approved,
            Some(v) => match s.statuses.get(v) {
                Some(MerchantStatus::Approved) => directory::Status::Approved,
                Some(MerchantStatus::Suspended) => directory::Status::Suspended,
                Some(MerchantStatus::Closed) => directory::Status::Closed,
                Some(MerchantStatus::Applied) => directory::Status::Applied,
                None => {
                    push(
                        s.status.as_deref().unwrap_or(""),
                        Outcome::Defaulted,
                        Problem::UnknownMerchantStatus(v.to_owned()),
                        report,
                    );
                    directory::Status::Suspended
                }
            },
        };
        out.push(Some(MerchantRow {
            line: *line,
            legacy_id: legacy_id.to_owned(),
            brn,
            profile,
            status,
            unpaid: owed,
            qr: opt_cell(row, qr).map(str::to_owned),
        }));
    }
    Ok(out.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_as_dumps_write_them() {
        assert_eq!(parse_won("1,234원").unwrap(), Won::new(1234));
        assert_eq!(parse_won(" 50000 ").unwrap(), Won::new(50_000));
        assert_eq!(parse_won("700.00").unwrap(), Won::new(700));
        assert_eq!(parse_won("-0").unwrap(), Won::ZERO);
        assert_eq!(parse_won("700.5"), Err(Problem::FractionOfWon));
        assert_eq!(parse_won("-5"), Err(Problem::NegativeAmount));
        assert!(matches!(parse_won("1e5"), Err(Problem::BadAmount(_))));
        assert!(matches!(parse_won(""), Err(Problem::BadAmount(_))));
        assert!(matches!(
            parse_won("99999999999999999999"),
            Err(Problem::BadAmount(_))
        ));
    }

    #[test]
    fn a_last_day_ends_at_midnight_in_korea() {
        // 2026-12-31 ends at 2027-01-01 00:00 KST = 2026-12-31 15:00 UTC.
        let t = parse_last_day("2026-12-31").unwrap();
        assert_eq!(t.as_micros() / 1_000_000, 1_798_729_200);
        assert_eq!(parse_last_day("20261231").unwrap(), t);
        assert_eq!(parse_last_day("2026.12.31").unwrap(), t);
        assert!(parse_last_day("2026-02-30").is_err());
        assert!(parse_last_day("2026-13-01").is_err());
        assert!(parse_last_day("31/12/2026x").is_err());
        assert_eq!(parse_last_day("2028-02-29").map(|_| ()), Ok(()));
    }
}
