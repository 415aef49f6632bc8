//! Legacy aliases: stickers printed by the operators before maeul, mapped to maeul
//! merchants, so a shop does not need a new sticker on migration day.
//!
//! Anything can be on an old sticker: a URL, a bare number, another scheme's EMV payload,
//! a home-grown TLV layout. The import file is CSV (`payload,merchant_id[,note]`, UTF-8,
//! optional BOM, optional header row). Every row is checked on its own; bad rows are
//! reported with their line number and a reason, and the good ones still load.
//!
//! **Matching.** A scan matches an alias when, after [`normalize`], the strings are equal:
//! - surrounding whitespace and newlines are dropped (scanners add them);
//! - a URL's scheme and host compare without case, a default port (`:80`, `:443`) is
//!   dropped and an empty path is `/`; the path, query and fragment compare exactly,
//!   because servers treat them as case-sensitive and so do legacy ids inside them;
//! - everything else, numeric ids included, compares exactly (`0012345678` and
//!   `12345678` may be different shops on an old system).
//!
//! An EMV payload also matches by its **merchant account**: the GUID (without case) and the
//! remaining sub-fields of each template in tags 26–51, or the value of a card-network tag
//! 02–25. A re-printed sticker with another name, city, amount or checksum therefore still
//! reaches the same shop, while a sticker for another account never does. A scanned
//! payload must have a valid checksum to match by account (a damaged code is not guessed
//! at); an exact match needs no checksum, since some legacy generators wrote wrong ones.
//!
//! **Duplicates.** The same payload for the same merchant twice is fine. The same payload
//! for two merchants is refused on both rows: the table cannot know which is right, and a
//! payment landing in the wrong shop is worse than a scan that asks for a new sticker. Two
//! different payloads sharing one account key with different merchants keep their exact
//! matches, but the shared account key matches nothing; the report lists it as a warning.
//!
//! Lookups are one hash of the normalised scan (FxHash), plus one per account key for EMV.

use std::borrow::Cow;
use std::fmt;

use rustc_hash::FxHashMap;

use crate::emv::{EmvPayload, MerchantAccount, PAYLOAD_BYTES_MAX, parse_merchant_id};

/// Most rows one import reads; a file with more is cut off with a report entry.
pub const IMPORT_ROWS_MAX: usize = 2_000_000;
/// Longest note kept per row.
pub const NOTE_CHARS_MAX: usize = 200;

/// What an import row resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    merchant: u64,
    line: u64,
    /// Which import (or direct insert run) added it, so a later conflict in the same
    /// import can take it back out of that import's count.
    batch: u32,
    note: Option<Box<str>>,
}

/// How a scan matched an alias.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AliasMatch {
    /// The normalised scan equals an imported payload.
    Exact,
    /// An EMV merchant account in the scan equals one in an imported payload.
    Account,
}

/// A successful alias lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AliasHit {
    pub merchant: u64,
    /// The import file line the alias came from, for support staff.
    pub line: u64,
    pub matched: AliasMatch,
}

/// What the classifier asks an alias table: the normalised scan and, when the scan is a
/// valid EMV payload, that payload (for account matching).
#[derive(Clone, Copy, Debug)]
pub struct AliasQuery<'q, 'a> {
    pub normalized: &'q str,
    pub emv: Option<&'q EmvPayload<'a>>,
}

/// Why an import row was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RowProblem {
    /// The CSV itself could not be read at this point (e.g. an unterminated quote).
    Csv(String),
    NotUtf8,
    MissingMerchantId,
    EmptyPayload,
    PayloadTooLong,
    BadMerchantId,
    TooManyColumns,
    NoteTooLong,
    /// Same payload, another merchant, at `other_line`; both rows are refused.
    ConflictingDuplicate {
        other_line: u64,
    },
    /// The file has more than [`IMPORT_ROWS_MAX`] rows; this and later rows were skipped.
    TooManyRows,
}

impl RowProblem {
    pub fn code(&self) -> &'static str {
        match self {
            RowProblem::Csv(_) => "csv_syntax",
            RowProblem::NotUtf8 => "not_utf8",
            RowProblem::MissingMerchantId => "missing_merchant_id",
            RowProblem::EmptyPayload => "empty_payload",
            RowProblem::PayloadTooLong => "payload_too_long",
            RowProblem::BadMerchantId => "bad_merchant_id",
            RowProblem::TooManyColumns => "too_many_columns",
            RowProblem::NoteTooLong => "note_too_long",
            RowProblem::ConflictingDuplicate { .. } => "conflicting_duplicate",
            RowProblem::TooManyRows => "too_many_rows",
        }
    }

    /// Why, in Korean (the English words are `Display`).
    pub fn message_ko(&self) -> String {
        match self {
            RowProblem::Csv(e) => format!("CSV 형식으로 읽을 수 없는 줄입니다: {e}"),
            RowProblem::NotUtf8 => "UTF-8로 읽을 수 없는 줄입니다.".to_owned(),
            RowProblem::MissingMerchantId => "가맹점 번호(merchant_id) 칸이 없습니다.".to_owned(),
            RowProblem::EmptyPayload => "QR 내용(payload)이 비어 있습니다.".to_owned(),
            RowProblem::PayloadTooLong => {
                format!("QR 내용이 {PAYLOAD_BYTES_MAX}바이트보다 깁니다.")
            }
            RowProblem::BadMerchantId => {
                "가맹점 번호는 20자리 이하의 자연수여야 합니다.".to_owned()
            }
            RowProblem::TooManyColumns => "칸이 세 개보다 많습니다.".to_owned(),
            RowProblem::NoteTooLong => format!("메모가 {NOTE_CHARS_MAX}자보다 깁니다."),
            RowProblem::ConflictingDuplicate { other_line } => format!(
                "{other_line}번째 줄과 같은 QR 내용인데 가맹점이 다릅니다. 두 줄 모두 받지 않았습니다."
            ),
            RowProblem::TooManyRows => format!("줄이 {IMPORT_ROWS_MAX}개보다 많습니다."),
        }
    }
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowProblem::Csv(e) => write!(f, "CSV syntax: {e}"),
            RowProblem::NotUtf8 => f.write_str("row is not valid UTF-8"),
            RowProblem::MissingMerchantId => f.write_str("no merchant_id column"),
            RowProblem::EmptyPayload => f.write_str("payload is empty"),
            RowProblem::PayloadTooLong => {
                write!(f, "payload is longer than {PAYLOAD_BYTES_MAX} bytes")
            }
            RowProblem::BadMerchantId => {
                f.write_str("merchant_id is not a whole number of at most 20 digits")
            }
            RowProblem::TooManyColumns => f.write_str("more than three columns"),
            RowProblem::NoteTooLong => write!(f, "note is longer than {NOTE_CHARS_MAX} characters"),
            RowProblem::ConflictingDuplicate { other_line } => write!(
                f,
                "same payload as line {other_line} but another merchant; both refused"
            ),
            RowProblem::TooManyRows => write!(f, "more than {IMPORT_ROWS_MAX} rows"),
        }
    }
}

/// One refused row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedRow {
    /// 1-based line in the file where the row starts.
    pub line: u64,
    pub problem: RowProblem,
}

/// An account key claimed by two merchants: it will match nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountConflict {
    pub line: u64,
    pub other_line: u64,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Aliases now in the table from this import.
    pub added: usize,
    /// Rows that repeated an existing alias for the same merchant.
    pub identical_duplicates: usize,
    pub header_skipped: bool,
    pub rejected: Vec<RejectedRow>,
    pub account_conflicts: Vec<AccountConflict>,
}

/// Legacy payload → maeul merchant.
#[derive(Clone, Debug, Default)]
pub struct AliasTable {
    exact: FxHashMap<Box<str>, Entry>,
    /// Account key → entry; `None` once two merchants claimed it.
    accounts: FxHashMap<Box<str>, Option<Entry>>,
    /// Normalised payloads refused as conflicting: later rows with them are refused too.
    poisoned: FxHashMap<Box<str>, u64>,
    batch: u32,
}

impl AliasTable {
    pub fn new() -> AliasTable {
        AliasTable::default()
    }

    /// Number of exact aliases.
    pub fn len(&self) -> usize {
        self.exact.len()
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
    }

    /// Looks a scan up: exact first, then by EMV merchant account.
    pub fn lookup(&self, query: &AliasQuery<'_, '_>) -> Option<AliasHit> {
        if let Some(e) = self.exact.get(query.normalized) {
            return Some(AliasHit {
                merchant: e.merchant,
                line: e.line,
                matched: AliasMatch::Exact,
            });
        }
        let emv = query.emv?;
        if self.accounts.is_empty() {
            return None;
        }
        let mut key = String::new();
        let mut hit: Option<&Entry> = None;
        for account in emv.accounts() {
            if !account_key(&account, &mut key) {
                continue;
            }
            if let Some(Some(e)) = self.accounts.get(key.as_str()) {
                match hit {
                    // Two accounts of one payload name two merchants: no answer.
                    Some(h) if h.merchant != e.merchant => return None,
                    _ => hit = Some(e),
                }
            }
        }
        hit.map(|e| AliasHit {
            merchant: e.merchant,
            line: e.line,
            matched: AliasMatch::Account,
        })
    }

    /// Convenience for callers outside the classifier: normalises and parses `scanned`.
    pub fn lookup_scan(&self, scanned: &str) -> Option<AliasHit> {
        let normalized = normalize(scanned);
        let emv = EmvPayload::parse(&normalized).ok();
        self.lookup(&AliasQuery {
            normalized: &normalized,
            emv: emv.as_ref(),
        })
    }

    /// What an import of `payload` for `merchant` would meet, without changing anything
    /// (a registry sync checks its QR column with it, and reports conflicts per row
    /// instead of taking a working sticker away from another shop).
    pub fn probe(&self, payload: &str, merchant: u64) -> Result<Probe, RowProblem> {
        let normalized = normalize(payload);
        if normalized.is_empty() {
            return Err(RowProblem::EmptyPayload);
        }
        if normalized.len() > PAYLOAD_BYTES_MAX {
            return Err(RowProblem::PayloadTooLong);
        }
        if self.poisoned.contains_key(normalized.as_ref()) {
            return Ok(Probe::Refused);
        }
        Ok(match self.exact.get(normalized.as_ref()) {
            None => Probe::New,
            Some(e) if e.merchant == merchant => Probe::Same,
            Some(e) => Probe::Other {
                merchant: e.merchant,
                line: e.line,
            },
        })
    }

    /// The note imported with the exact alias for `scanned`, if any.
    pub fn note(&self, scanned: &str) -> Option<&str> {
        self.exact.get(normalize(scanned).as_ref())?.note.as_deref()
    }

    /// Adds one alias as if it were an import row at `line`.
    pub fn insert(
        &mut self,
        payload: &str,
        merchant: u64,
        note: Option<&str>,
        line: u64,
    ) -> Result<Inserted, RowProblem> {
        self.insert_row(payload, merchant, note, line)
            .map_err(|(p, _)| p)
    }

    /// Like [`AliasTable::insert`]; on a conflict with a row already in the table, also
    /// returns that row (now removed).
    fn insert_row(
        &mut self,
        payload: &str,
        merchant: u64,
        note: Option<&str>,
        line: u64,
    ) -> Result<Inserted, (RowProblem, Option<Entry>)> {
        let normalized = normalize(payload);
        if normalized.is_empty() {
            return Err((RowProblem::EmptyPayload, None));
        }
        if normalized.len() > PAYLOAD_BYTES_MAX {
            return Err((RowProblem::PayloadTooLong, None));
        }
        if let Some(note) = note
            && note.chars().count() > NOTE_CHARS_MAX
        {
            return Err((RowProblem::NoteTooLong, None));
        }
        if let Some(&other_line) = self.poisoned.get(normalized.as_ref()) {
            return Err((RowProblem::ConflictingDuplicate { other_line }, None));
        }
        if let Some(existing) = self.exact.get(normalized.as_ref()) {
            if existing.merchant == merchant {
                return Ok(Inserted::IdenticalDuplicate);
            }
            let key: Box<str> = normalized.as_ref().into();
            let removed = self.exact.remove(&key);
            let other_line = removed.as_ref().map_or(0, |e| e.line);
            self.poisoned.insert(key, other_line);
            self.rebuild_accounts();
            return Err((RowProblem::ConflictingDuplicate { other_line }, removed));
        }
        let entry = Entry {
            merchant,
            line,
            batch: self.batch,
            note: note.filter(|n| !n.is_empty()).map(Box::from),
        };
        let conflicts = self.add_accounts(&normalized, &entry);
        self.exact.insert(normalized.as_ref().into(), entry);
        Ok(Inserted::Added { conflicts })
    }

    /// Reads an import file into the table. See the module docs for the rules.
    pub fn import_csv(&mut self, data: &[u8]) -> ImportReport {
        let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        self.batch = self.batch.wrapping_add(1);
        let mut report = ImportReport::default();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::None)
            .from_reader(data);
        let mut record = csv::ByteRecord::new();
        let mut rows = 0usize;
        let mut first = true;
        // The csv reader does not count blank lines in its line numbers, so lines are
        // counted here from each record's byte offset.
        let mut lines = LineCounter::new(data);
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    let byte = e.position().map_or(0, |p| p.byte());
                    report.rejected.push(RejectedRow {
                        line: lines.line_at(byte),
                        problem: RowProblem::Csv(e.to_string()),
                    });
                    // The reader cannot resynchronise after a syntax error, so stop rather
                    // than misread the rest.
                    break;
                }
            }
            let line = lines.line_at(record.position().map_or(0, |p| p.byte()));
            rows += 1;
            if rows > IMPORT_ROWS_MAX {
                report.rejected.push(RejectedRow {
                    line,
                    problem: RowProblem::TooManyRows,
                });
                break;
            }
            let is_first = std::mem::replace(&mut first, false);
            if record.len() == 1 && record.get(0).is_some_and(|f| f.trim_ascii().is_empty()) {
                continue; // blank line
            }
            if is_first && is_header(&record) {
                report.header_skipped = true;
                continue;
            }
            match self.import_row(&record, line) {
                Ok(Inserted::Added { conflicts }) => {
                    report.added += 1;
                    report.account_conflicts.extend(
                        conflicts
                            .into_iter()
                            .map(|other_line| AccountConflict { line, other_line }),
                    );
                }
                Ok(Inserted::IdenticalDuplicate) => report.identical_duplicates += 1,
                Err((problem, removed)) => {
                    if let Some(earlier) = removed {
                        // The earlier row is refused too; if this import had counted it,
                        // take it back out.
                        if earlier.batch == self.batch {
                            report.added = report.added.saturating_sub(1);
                        }
                        report.rejected.push(RejectedRow {
                            line: earlier.line,
                            problem: RowProblem::ConflictingDuplicate { other_line: line },
                        });
                    }
                    report.rejected.push(RejectedRow { line, problem });
                }
            }
        }
        report.rejected.sort_by_key(|r| r.line);
        report
    }

    fn import_row(
        &mut self,
        record: &csv::ByteRecord,
        line: u64,
    ) -> Result<Inserted, (RowProblem, Option<Entry>)> {
        let refuse = |p| Err((p, None));
        if record.len() > 3 {
            return refuse(RowProblem::TooManyColumns);
        }
        let field = |i| -> Result<Option<&str>, RowProblem> {
            match record.get(i) {
                None => Ok(None),
                Some(bytes) => std::str::from_utf8(bytes)
                    .map(Some)
                    .map_err(|_| RowProblem::NotUtf8),
            }
        };
        let fields = (|| {
            let payload = field(0)?.unwrap_or("");
            let merchant = field(1)?.ok_or(RowProblem::MissingMerchantId)?;
            let note = field(2)?.map(str::trim);
            let merchant =
                parse_merchant_id(merchant.trim()).map_err(|_| RowProblem::BadMerchantId)?;
            Ok((payload, merchant, note))
        })();
        match fields {
            Ok((payload, merchant, note)) => self.insert_row(payload, merchant, note, line),
            Err(p) => refuse(p),
        }
    }

    /// Registers the EMV account keys of `normalized`. Returns lines it conflicts with.
    fn add_accounts(&mut self, normalized: &str, entry: &Entry) -> Vec<u64> {
        let Ok(emv) = EmvPayload::parse(normalized) else {
            return Vec::new();
        };
        let mut conflicts = Vec::new();
        let mut key = String::new();
        for account in emv.accounts() {
            if !account_key(&account, &mut key) {
                continue;
            }
            match self.accounts.get_mut(key.as_str()) {
                None => {
                    self.accounts
                        .insert(key.as_str().into(), Some(entry.clone()));
                }
                Some(slot) => match slot {
                    Some(e) if e.merchant == entry.merchant => {}
                    Some(e) => {
                        conflicts.push(e.line);
                        *slot = None;
                    }
                    None => {}
                },
            }
        }
        conflicts
    }

    fn rebuild_accounts(&mut self) {
        self.accounts.clear();
        let mut entries: Vec<(Box<str>, Entry)> = self
            .exact
            .iter()
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        entries.sort_by_key(|(_, e)| e.line);
        for (k, e) in entries {
            self.add_accounts(&k, &e);
        }
    }
}

/// Byte offset → 1-based line, for offsets that only increase.
struct LineCounter<'d> {
    data: &'d [u8],
    offset: usize,
    line: u64,
}

impl<'d> LineCounter<'d> {
    fn new(data: &'d [u8]) -> LineCounter<'d> {
        LineCounter {
            data,
            offset: 0,
            line: 1,
        }
    }

    /// The line of the first byte at or after `byte` that is not a line terminator: the
    /// reader reports a record as starting at the terminator bytes before it.
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut target = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.data.len());
        while target < self.data.len() && matches!(self.data[target], b'\r' | b'\n') {
            target += 1;
        }
        if target > self.offset {
            let newlines = self.data[self.offset..target]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.line += newlines as u64;
            self.offset = target;
        }
        self.line
    }
}

/// What [`AliasTable::probe`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Not in the table: an import would add it.
    New,
    /// Already an alias of this merchant.
    Same,
    /// An alias of another merchant (from `line` of an earlier import).
    Other { merchant: u64, line: u64 },
    /// Refused earlier as claimed by two merchants: it matches nothing, and an import
    /// of it is refused.
    Refused,
}

/// What [`AliasTable::insert`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// Added; `conflicts` lists lines whose account keys this one now shares with another
    /// merchant.
    Added {
        conflicts: Vec<u64>,
    },
    IdenticalDuplicate,
}

fn is_header(record: &csv::ByteRecord) -> bool {
    let cell = |i| {
        record
            .get(i)
            .map(|b| String::from_utf8_lossy(b).trim().to_ascii_lowercase())
    };
    cell(0).as_deref() == Some("payload") && cell(1).as_deref() == Some("merchant_id")
}

/// Writes the account key of `account` into `out`; false if it has none (an unreadable
/// template). Templates: `GUID-uppercased|sub-fields after the GUID as written`; card
/// network tags: `#tag|value`.
fn account_key(account: &MerchantAccount<'_>, out: &mut String) -> bool {
    out.clear();
    if account.is_template() {
        let Some(guid) = account.guid() else {
            return false;
        };
        let Some(subs) = account.sub_fields() else {
            return false;
        };
        out.extend(guid.chars().map(|c| c.to_ascii_uppercase()));
        out.push('|');
        for (tag, value) in subs.filter(|(tag, _)| *tag != 0) {
            out.push(char::from(b'0' + tag / 10));
            out.push(char::from(b'0' + tag % 10));
            out.push('=');
            out.push_str(value);
            out.push('\u{1F}');
        }
    } else {
        out.push('#');
        out.push(char::from(b'0' + account.tag / 10));
        out.push(char::from(b'0' + account.tag % 10));
        out.push('|');
        out.push_str(account.value);
    }
    true
}

/// Trims, and canonicalises a URL's scheme, host, default port and empty path. Borrows
/// when nothing changes, which is the common case for EMV payloads.
pub fn normalize(scanned: &str) -> Cow<'_, str> {
    let trimmed = scanned.trim_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}');
    match normalize_url(trimmed) {
        Some(url) if url != trimmed => Cow::Owned(url),
        _ => Cow::Borrowed(trimmed),
    }
}

/// `scheme://authority/path?query#fragment` with scheme and host lowercased; `None` when
/// `s` is not of that shape.
fn normalize_url(s: &str) -> Option<String> {
    let (scheme, rest) = s.split_once("://")?;
    let mut scheme_chars = scheme.chars();
    if !scheme_chars.next()?.is_ascii_alphabetic()
        || !scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // Userinfo (rare on stickers) is case-sensitive; only the host part is folded.
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let mut host = hostport.to_lowercase();
    let default_port = match scheme.as_str() {
        "http" => Some(":80"),
        "https" => Some(":443"),
        _ => None,
    };
    if let Some(port) = default_port
        && host.ends_with(port)
    {
        host.truncate(host.len() - port.len());
    }
    let mut out = String::with_capacity(s.len() + 1);
    out.push_str(&scheme);
    out.push_str("://");
    if let Some(u) = userinfo {
        out.push_str(u);
        out.push('@');
    }
    out.push_str(&host);
    // An empty path is `/` (RFC 3986 §6.2.3) for hierarchical web URLs; custom app
    // schemes (upi://pay?...) keep their shape, since their "host" is a verb.
    if default_port.is_some() && !tail.starts_with('/') {
        out.push('/');
    }
    out.push_str(tail);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_norm(input: &str, expected: &str) {
        assert_eq!(normalize(input), expected, "normalize({input:?})");
    }

    #[test]
    fn normalisation() {
        check_norm("  0012345678\r\n", "0012345678");
        check_norm("\u{FEFF}abc", "abc");
        check_norm(
            "HTTPS://Pay.Example.KR/m?id=123",
            "https://pay.example.kr/m?id=123",
        );
        check_norm(
            "https://pay.example.kr:443/m?ID=Ab",
            "https://pay.example.kr/m?ID=Ab",
        );
        check_norm("http://pay.example.kr:80", "http://pay.example.kr/");
        check_norm(
            "https://pay.example.kr?id=1",
            "https://pay.example.kr/?id=1",
        );
        check_norm(
            "https://pay.example.kr:8443/x",
            "https://pay.example.kr:8443/x",
        );
        check_norm("UPI://pay?pa=a@b", "upi://pay?pa=a@b");
        check_norm("https://User@Host.KR/P", "https://User@host.kr/P");
        check_norm("not a url: ://", "not a url: ://");
        check_norm("", "");
    }

    #[test]
    fn probe_changes_nothing_and_says_who_has_a_payload() {
        let mut t = AliasTable::new();
        assert_eq!(t.probe("  0012345678 ", 7), Ok(Probe::New));
        assert!(t.insert("0012345678", 7, None, 2).is_ok());
        assert_eq!(t.probe("0012345678\r\n", 7), Ok(Probe::Same));
        assert_eq!(
            t.probe("0012345678", 8),
            Ok(Probe::Other {
                merchant: 7,
                line: 2
            })
        );
        assert_eq!(t.probe(" ", 7), Err(RowProblem::EmptyPayload));
        assert!(t.insert("0012345678", 8, None, 3).is_err());
        assert_eq!(t.probe("0012345678", 7), Ok(Probe::Refused));
        assert_eq!(t.len(), 0);
    }
}
