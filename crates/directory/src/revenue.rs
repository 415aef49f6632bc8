//! Annual revenue as registry files write it, read into a [`Revenue`].
//!
//! A migrating operator's dump rarely has the amount; it has a band label. A label that
//! is not understood must never end up as "no revenue" (which once earned the highest
//! cash-back): it is reported, and the merchant's revenue stays unknown, which the
//! ledger answers with the scheme's least generous rate.
//!
//! # What is read
//! - **Amounts**: `1234000000`, `1,234,000,000`, `1,234,000,000원`, `12억`, `12억원`,
//!   `1.5억`, `1억 5천만`, `5000만`, `3천만원`. Units: 조, 억, 천만, 백만, 십만, 만, 천. An
//!   amount alone is the revenue itself.
//! - **One bound**: `1억 미만` (below), `10억 이하`/`이내` (up to and including),
//!   `30억 초과` (above), `30억 이상` (from and including).
//! - **Two bounds**: `10억~30억`, `10억-30억`, `10 ~ 30억` (the unit of the right side
//!   applies to a bare left number), `3억 초과 10억 이하`, `1억 이상 ~ 3억 미만`. Without
//!   words a range is **above the lower bound and up to and including the upper one**
//!   (`10억~30억` is 10억 초과 30억 이하), the card-fee (우대수수료) convention that
//!   `30억 초과` and `1억 미만` complete; `~1억` is up to 1억, `30억~` above 30억.
//! - **Card-fee bands**: 영세 (up to 3억), 중소1 (3억 초과 5억 이하), 중소2 (to 10억),
//!   중소3 (to 30억), 일반 (above 30억), and their English names (`small`, `medium1`, …).
//! - **A table of labels** ([`RevenueBands`]): the built-in one holds the labels public
//!   dumps use (`1억 미만`, `1억~3억`, `3억~10억`, `10억~30억`, `30억 초과`); an operator's
//!   file adds or overrides labels (a previous operator's own grades, "A등급"). Labels
//!   are compared without spaces and case. Order: the operator's table, the built-in
//!   one, the card-fee bands, then the grammar above.
//!
//! # The operator's table
//! CSV, UTF-8 or CP949, an optional header row, one label a row:
//!
//! ```text
//! label,min_won,max_won
//! A등급,0,99999999
//! B등급,100000000,299999999
//! C등급,3억,
//! ```
//!
//! Both bounds are **inclusive** whole won (`10억 초과 30억 이하` is
//! `1000000001,3000000000`); an empty `min_won` is 0 and an empty `max_won` means no
//! upper bound. Amounts may be written as above (`3억`, `1,000,000`). At most
//! [`TABLE_ENTRIES_MAX`] labels of at most [`LABEL_CHARS_MAX`] characters; a label may
//! appear once; a table with any bad row is refused as a whole (with every bad line).
//!
//! # Deciding a scheme's rules
//! A range is turned into one revenue only where the scheme is known (the server), with
//! [`crate::RevenueRange::decide`]: a range wholly inside one cash-back band and on one
//! side of every revenue cap decides every rule the same way as any amount inside it; a
//! range that straddles one of those thresholds does not, and stays unknown.

use rustc_hash::FxHashMap;

use ledger::Won;

use crate::lines::LineCounter;
use crate::model::{Revenue, RevenueBand, RevenueRange};

/// Longest label in an operator's table, in characters.
pub const LABEL_CHARS_MAX: usize = 100;
/// Most labels in an operator's table.
pub const TABLE_ENTRIES_MAX: usize = 1_000;
/// Largest table file.
pub const TABLE_BYTES_MAX: usize = 256 * 1024;
/// Largest amount read (1경 won): far above any business, far below overflow.
const WON_MAX: i128 = 10_000_000_000_000_000;
/// Most problems listed for a refused table.
const TABLE_ERRORS_MAX: usize = 50;

/// Why a revenue cell was not understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("the revenue cell is empty")]
    Empty,
    #[error("the revenue label is not an amount, a range or a known band")]
    Unreadable,
    #[error("the lower bound of the revenue range is above its upper bound")]
    Backwards,
    #[error("the revenue amount is implausibly large")]
    TooLarge,
}

impl LabelError {
    /// The reason in Korean, without a closing period (it is quoted inside a sentence).
    pub const fn message_ko(self) -> &'static str {
        match self {
            LabelError::Empty => "매출 칸이 비어 있음",
            LabelError::Unreadable => "금액, 구간, 알려진 등급 어느 것으로도 읽을 수 없음",
            LabelError::Backwards => "구간의 하한이 상한보다 큼",
            LabelError::TooLarge => "금액이 지나치게 큼",
        }
    }
}

/// `12억`, `1억 5000만`, `3000만`, `12,345원`: what [`parse_label`] reads back.
pub fn format_won_ko(w: Won) -> String {
    const EOK: i64 = 100_000_000;
    const MAN: i64 = 10_000;
    let v = w.get();
    if v < 0 {
        return format!("{v}원");
    }
    if v == 0 {
        return "0원".into();
    }
    if v % EOK == 0 {
        format!("{}억", v / EOK)
    } else if v > EOK && v % MAN == 0 {
        format!("{}억 {}만", v / EOK, (v % EOK) / MAN)
    } else if v % MAN == 0 {
        format!("{}만", v / MAN)
    } else {
        let digits = v.to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 3);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out.push('원');
        out
    }
}

/// What a label is compared by: no spaces, lower case.
fn label_key(label: &str) -> String {
    label
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

const UNITS: [(&str, i128); 7] = [
    ("천만", 10_000_000),
    ("백만", 1_000_000),
    ("십만", 100_000),
    ("조", 1_000_000_000_000),
    ("억", 100_000_000),
    ("만", 10_000),
    ("천", 1_000),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Qual {
    /// 이상: from, inclusive.
    From,
    /// 초과: above.
    Above,
    /// 이하 / 이내: up to, inclusive.
    UpTo,
    /// 미만: below.
    Below,
}

const QUALS: [(&str, Qual); 5] = [
    ("이상", Qual::From),
    ("초과", Qual::Above),
    ("이하", Qual::UpTo),
    ("이내", Qual::UpTo),
    ("미만", Qual::Below),
];

const SEPARATORS: [char; 7] = ['~', '-', '∼', '〜', '～', '–', '—'];

#[derive(Clone, Copy, Debug)]
struct Amount {
    won: i128,
    /// The factor of the first unit written, if any.
    first_unit: Option<i128>,
}

struct Cursor {
    chars: Vec<char>,
    at: usize,
}

impl Cursor {
    fn new(text: &str) -> Cursor {
        Cursor {
            chars: text
                .chars()
                .filter(|c| !c.is_whitespace() && *c != ',' && *c != '원')
                .collect(),
            at: 0,
        }
    }

    fn done(&self) -> bool {
        self.at >= self.chars.len()
    }

    fn eat(&mut self, word: &str) -> bool {
        let n = word.chars().count();
        let matches = self
            .chars
            .get(self.at..self.at + n)
            .is_some_and(|s| s.iter().copied().eq(word.chars()));
        if matches {
            self.at += n;
        }
        matches
    }

    fn separator(&mut self) -> bool {
        match self.chars.get(self.at) {
            Some(c) if SEPARATORS.contains(c) => {
                self.at += 1;
                true
            }
            _ => false,
        }
    }

    fn qual(&mut self) -> Option<Qual> {
        QUALS
            .iter()
            .find(|(word, _)| self.eat(word))
            .map(|(_, q)| *q)
    }

    fn unit(&mut self) -> Option<i128> {
        UNITS
            .iter()
            .find(|(word, _)| self.eat(word))
            .map(|(_, f)| *f)
    }

    /// Digits with an optional decimal part: (mantissa, 10^decimals).
    fn number(&mut self) -> Result<Option<(i128, i128)>, LabelError> {
        let mut mantissa: i128 = 0;
        let mut scale: i128 = 1;
        let mut digits = 0;
        let mut point = false;
        while let Some(&c) = self.chars.get(self.at) {
            if let Some(d) = c.to_digit(10).filter(|_| c.is_ascii_digit()) {
                mantissa = mantissa * 10 + i128::from(d);
                if point {
                    scale *= 10;
                }
                digits += 1;
                if digits > 20 {
                    return Err(LabelError::TooLarge);
                }
            } else if c == '.' && !point && digits > 0 {
                point = true;
            } else {
                break;
            }
            self.at += 1;
        }
        Ok((digits > 0).then_some((mantissa, scale)))
    }

    /// An amount: terms of a number and a unit in falling units (`1억5천만`), the last
    /// possibly without a unit. `None` if nothing here is an amount.
    fn amount(&mut self) -> Result<Option<Amount>, LabelError> {
        let mut total: i128 = 0;
        let mut first_unit = None;
        let mut last_factor = i128::MAX;
        let mut any = false;
        loop {
            let number = self.number()?;
            if number.is_none() && any {
                // A unit alone only starts an amount (천만원), it never continues one.
                break;
            }
            let unit = self.unit();
            let (mantissa, scale) = match (number, unit) {
                (None, None) => break,
                (Some(n), _) => n,
                // A unit alone is one of it (천만원 미만).
                (None, Some(_)) => (1, 1),
            };
            let factor = unit.unwrap_or(1);
            if factor >= last_factor {
                return Err(LabelError::Unreadable);
            }
            last_factor = factor;
            if unit.is_some() && first_unit.is_none() && !any {
                first_unit = unit;
            }
            let scaled = mantissa.checked_mul(factor).ok_or(LabelError::TooLarge)?;
            if scaled % scale != 0 {
                // 1.5 won: not a whole amount.
                return Err(LabelError::Unreadable);
            }
            total = total
                .checked_add(scaled / scale)
                .ok_or(LabelError::TooLarge)?;
            if total > WON_MAX {
                return Err(LabelError::TooLarge);
            }
            any = true;
            if unit.is_none() {
                break;
            }
        }
        Ok(any.then_some(Amount {
            won: total,
            first_unit,
        }))
    }
}

fn won(v: i128) -> Result<Won, LabelError> {
    i64::try_from(v)
        .map(Won::new)
        .map_err(|_| LabelError::TooLarge)
}

fn range(
    lower: Option<(i128, bool)>,
    upper: Option<(i128, bool)>,
) -> Result<RevenueRange, LabelError> {
    let (lo, lo_incl) = lower.unwrap_or((0, true));
    let upper = match upper {
        Some((u, incl)) => Some((won(u)?, incl)),
        None => None,
    };
    RevenueRange::new(
        won(lo)?,
        lo_incl,
        upper.map(|(u, _)| u),
        upper.is_none_or(|(_, incl)| incl),
    )
    .map_err(|_| LabelError::Backwards)
}

/// Reads one amount (`3억`, `1,000,000원`), nothing else.
pub fn parse_amount(text: &str) -> Result<Won, LabelError> {
    let mut c = Cursor::new(text);
    if c.done() {
        return Err(LabelError::Empty);
    }
    let a = c.amount()?.ok_or(LabelError::Unreadable)?;
    if !c.done() {
        return Err(LabelError::Unreadable);
    }
    won(a.won)
}

/// Reads an amount or a band label by the grammar in the module docs (not the tables:
/// see [`RevenueBands::read`]).
pub fn parse_label(text: &str) -> Result<Revenue, LabelError> {
    let mut c = Cursor::new(text);
    if c.done() {
        return Err(LabelError::Empty);
    }
    // `~1억`: up to 1억.
    if c.separator() {
        let right = c.amount()?.ok_or(LabelError::Unreadable)?;
        let q = c.qual().unwrap_or(Qual::UpTo);
        if !c.done() || !matches!(q, Qual::UpTo | Qual::Below) {
            return Err(LabelError::Unreadable);
        }
        return range(None, Some((right.won, q == Qual::UpTo))).map(Revenue::Range);
    }
    let mut left = c.amount()?.ok_or(LabelError::Unreadable)?;
    let left_q = c.qual();
    if c.done() {
        let r = match left_q {
            None => return won(left.won).map(Revenue::AnnualWon),
            Some(Qual::Below) => range(None, Some((left.won, false))),
            Some(Qual::UpTo) => range(None, Some((left.won, true))),
            Some(Qual::Above) => range(Some((left.won, false)), None),
            Some(Qual::From) => range(Some((left.won, true)), None),
        };
        return r.map(Revenue::Range);
    }
    let had_separator = c.separator();
    if !had_separator && left_q.is_none() {
        return Err(LabelError::Unreadable);
    }
    let lower_inclusive = match left_q {
        None | Some(Qual::Above) => false,
        Some(Qual::From) => true,
        Some(Qual::UpTo | Qual::Below) => return Err(LabelError::Unreadable),
    };
    // `30억~`: above 30억.
    if c.done() {
        return range(Some((left.won, lower_inclusive)), None).map(Revenue::Range);
    }
    let right = c.amount()?.ok_or(LabelError::Unreadable)?;
    let upper_inclusive = match c.qual() {
        None | Some(Qual::UpTo) => true,
        Some(Qual::Below) => false,
        Some(Qual::From | Qual::Above) => return Err(LabelError::Unreadable),
    };
    if !c.done() {
        return Err(LabelError::Unreadable);
    }
    // `10~30억`: the right side's unit applies to a bare left number.
    if left.first_unit.is_none()
        && let Some(f) = right.first_unit
    {
        left.won = left.won.checked_mul(f).ok_or(LabelError::TooLarge)?;
        if left.won > WON_MAX {
            return Err(LabelError::TooLarge);
        }
    }
    range(
        Some((left.won, lower_inclusive)),
        Some((right.won, upper_inclusive)),
    )
    .map(Revenue::Range)
}

/// The labels public registry dumps use, with the meaning this module gives them.
pub fn builtin_labels() -> [(&'static str, RevenueRange); 5] {
    let eok = |n: i64| Won::new(n * 100_000_000);
    [
        ("1억 미만", RevenueRange::below(eok(1))),
        ("1억~3억", RevenueRange::over_up_to(eok(1), eok(3))),
        ("3억~10억", RevenueRange::over_up_to(eok(3), eok(10))),
        ("10억~30억", RevenueRange::over_up_to(eok(10), eok(30))),
        ("30억 초과", RevenueRange::over(eok(30))),
    ]
}

/// A problem in an operator's table of labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableError {
    /// 1-based line of the file; 0 for the file as a whole.
    pub line: u64,
    pub message_ko: String,
    pub message_en: String,
}

/// The table of revenue labels a sync reads: the built-in labels plus an operator's own
/// (see the module docs for the file).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevenueBands {
    /// The operator's labels in file order, with their ranges.
    entries: Vec<(String, RevenueRange)>,
    index: FxHashMap<String, usize>,
}

impl RevenueBands {
    /// The built-in labels only.
    pub fn new() -> RevenueBands {
        RevenueBands::default()
    }

    /// The operator's labels.
    pub fn entries(&self) -> &[(String, RevenueRange)] {
        &self.entries
    }

    /// Reads an operator's table; refused as a whole, with every bad line (at most 50),
    /// if any row is wrong.
    pub fn from_csv(bytes: &[u8]) -> Result<RevenueBands, Vec<TableError>> {
        let whole = |ko: &str, en: String| {
            vec![TableError {
                line: 0,
                message_ko: ko.to_owned(),
                message_en: en,
            }]
        };
        if bytes.len() > TABLE_BYTES_MAX {
            return Err(whole(
                "매출 구간표 파일이 너무 큽니다.",
                format!("the table is larger than {TABLE_BYTES_MAX} bytes"),
            ));
        }
        let (text, _) = crate::sync::decode(bytes);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut lines = LineCounter::new(text.as_bytes());
        let mut table = RevenueBands::default();
        let mut errors = Vec::new();
        let mut record = csv::StringRecord::new();
        let mut first = true;
        loop {
            let mut fail = |line: u64, ko: String, en: String| {
                if errors.len() < TABLE_ERRORS_MAX {
                    errors.push(TableError {
                        line,
                        message_ko: ko,
                        message_en: en,
                    });
                }
            };
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    let line = lines.line_at(e.position().map_or(0, |p| p.byte()));
                    fail(
                        line,
                        format!("CSV 형식으로 읽을 수 없습니다: {e}"),
                        format!("not readable as CSV: {e}"),
                    );
                    break;
                }
            }
            let line = lines.line_at(record.position().map_or(0, |p| p.byte()));
            let is_first = std::mem::replace(&mut first, false);
            let cell = |i: usize| record.get(i).map_or("", str::trim);
            if record.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            let key = label_key(cell(0));
            if is_first && matches!(key.as_str(), "label" | "구간" | "매출구간" | "라벨") {
                continue;
            }
            if record.len() > 3 {
                fail(
                    line,
                    "칸은 label, min_won, max_won 세 개입니다.".into(),
                    "a row has three cells: label, min_won, max_won".into(),
                );
                continue;
            }
            let label = cell(0);
            if label.is_empty()
                || label.chars().count() > LABEL_CHARS_MAX
                || label.chars().any(|c| c.is_control() || c == '\u{FFFD}')
            {
                fail(
                    line,
                    format!("구간 이름은 1~{LABEL_CHARS_MAX}자의 글자여야 합니다."),
                    format!("the label must be 1 to {LABEL_CHARS_MAX} printable characters"),
                );
                continue;
            }
            let bound = |text: &str| -> Result<Option<Won>, LabelError> {
                if text.is_empty() {
                    Ok(None)
                } else {
                    parse_amount(text).map(Some)
                }
            };
            let (min, max) = match (bound(cell(1)), bound(cell(2))) {
                (Ok(min), Ok(max)) => (min.unwrap_or(Won::ZERO), max),
                _ => {
                    fail(
                        line,
                        "min_won과 max_won은 원 단위 금액(예: 300000000, 3억)이거나 비어 있어야 합니다.".into(),
                        "min_won and max_won are amounts in won (300000000, 3억) or empty".into(),
                    );
                    continue;
                }
            };
            let Ok(range) = RevenueRange::new(min, true, max, true) else {
                fail(
                    line,
                    "min_won이 max_won보다 크거나 음수입니다.".into(),
                    "min_won is above max_won, or negative".into(),
                );
                continue;
            };
            if let Some(&earlier) = table.index.get(&key) {
                let entry = earlier + 1;
                fail(
                    line,
                    format!("같은 구간 이름이 앞에 있습니다 ({entry}번째 항목)."),
                    format!("the label already appears (entry {entry})"),
                );
                continue;
            }
            if table.entries.len() >= TABLE_ENTRIES_MAX {
                fail(
                    line,
                    format!("구간은 최대 {TABLE_ENTRIES_MAX}개입니다."),
                    format!("at most {TABLE_ENTRIES_MAX} labels"),
                );
                break;
            }
            table.index.insert(key, table.entries.len());
            table.entries.push((label.to_owned(), range));
        }
        if errors.is_empty() {
            Ok(table)
        } else {
            Err(errors)
        }
    }

    /// Reads a revenue cell: the operator's labels, the built-in ones, the card-fee
    /// bands, then the grammar of [`parse_label`].
    pub fn read(&self, cell: &str) -> Result<Revenue, LabelError> {
        let key = label_key(cell);
        if key.is_empty() {
            return Err(LabelError::Empty);
        }
        if let Some(&i) = self.index.get(&key)
            && let Some((_, r)) = self.entries.get(i)
        {
            return Ok(Revenue::Range(*r));
        }
        if let Some((_, r)) = builtin_labels()
            .into_iter()
            .find(|(label, _)| label_key(label) == key)
        {
            return Ok(Revenue::Range(r));
        }
        if let Ok(b) = RevenueBand::parse(cell) {
            return Ok(Revenue::Band(b));
        }
        parse_label(cell)
    }

    /// The table in force as the file format above (`label,min_won,max_won`): the
    /// operator's labels, then the built-in ones and the card-fee bands they do not
    /// override. Uploading it back changes nothing.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("label,min_won,max_won\n");
        let mut row = |label: &str, r: RevenueRange| {
            let quoted = if label.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", label.replace('"', "\"\""))
            } else {
                label.to_owned()
            };
            let max = r.max_won().map(|m| m.get().to_string()).unwrap_or_default();
            out.push_str(&format!("{quoted},{},{max}\n", r.min_won().get()));
        };
        for (label, r) in &self.entries {
            row(label, *r);
        }
        for (label, r) in builtin_labels() {
            if !self.index.contains_key(&label_key(label)) {
                row(label, r);
            }
        }
        for b in RevenueBand::ALL {
            if !self.index.contains_key(&label_key(b.label_ko())) {
                row(b.label_ko(), b.range());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EOK: i64 = 100_000_000;

    fn range_of(text: &str) -> (i64, Option<i64>) {
        let r = RevenueBands::new()
            .read(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .range();
        (r.min_won().get(), r.max_won().map(Won::get))
    }

    #[test]
    fn public_dump_labels() {
        assert_eq!(range_of("1억 미만"), (0, Some(EOK - 1)));
        assert_eq!(range_of("1억~3억"), (EOK + 1, Some(3 * EOK)));
        assert_eq!(range_of("3억~10억"), (3 * EOK + 1, Some(10 * EOK)));
        assert_eq!(range_of("10억~30억"), (10 * EOK + 1, Some(30 * EOK)));
        assert_eq!(range_of("30억 초과"), (30 * EOK + 1, None));
        // Spaces, dashes, other words and units.
        assert_eq!(range_of(" 10억 ~ 30억 "), range_of("10억~30억"));
        assert_eq!(range_of("10억-30억"), range_of("10억~30억"));
        assert_eq!(range_of("10 ~ 30억"), range_of("10억~30억"));
        assert_eq!(range_of("10억원 초과 30억원 이하"), range_of("10억~30억"));
        assert_eq!(range_of("1억 이상 ~ 3억 미만"), (EOK, Some(3 * EOK - 1)));
        assert_eq!(range_of("30억이상"), (30 * EOK, None));
        assert_eq!(range_of("5천만원 이하"), (0, Some(50_000_000)));
        assert_eq!(range_of("천만원 미만"), (0, Some(9_999_999)));
        assert_eq!(range_of("1억5천만~3억"), (150_000_001, Some(3 * EOK)));
        assert_eq!(range_of("~1억"), (0, Some(EOK)));
        assert_eq!(range_of("30억~"), (30 * EOK + 1, None));
        assert_eq!(range_of("5000만-1억"), (50_000_001, Some(EOK)));
        // Card-fee bands.
        assert_eq!(range_of("영세"), (0, Some(3 * EOK)));
        assert_eq!(range_of("중소3"), (10 * EOK + 1, Some(30 * EOK)));
        assert_eq!(range_of("일반"), (30 * EOK + 1, None));
    }

    #[test]
    fn amounts() {
        for (text, won) in [
            ("1234000000", 1_234_000_000),
            ("1,234,000,000", 1_234_000_000),
            ("1,234,000,000원", 1_234_000_000),
            ("12억", 12 * EOK),
            ("12억원", 12 * EOK),
            ("1.5억", 150_000_000),
            ("1억 5천만", 150_000_000),
            ("1억 5,000만", 150_000_000),
            ("3천만원", 30_000_000),
            ("0", 0),
        ] {
            assert_eq!(
                RevenueBands::new().read(text),
                Ok(Revenue::AnnualWon(Won::new(won))),
                "{text}"
            );
            assert_eq!(parse_amount(text), Ok(Won::new(won)), "{text}");
        }
    }

    #[test]
    fn unreadable_labels_say_so() {
        for text in [
            "대박",
            "약 3억",
            "30억 초과 10억 이하",
            "3억 이하 ~ 10억",
            "1억 1억",
            "1.5",
            "abc",
            "3억 만",
            "99999999999999999999999",
        ] {
            let r = RevenueBands::new().read(text);
            assert!(r.is_err(), "{text}: {r:?}");
        }
        assert_eq!(RevenueBands::new().read("  "), Err(LabelError::Empty));
        assert_eq!(
            RevenueBands::new().read("30억~10억"),
            Err(LabelError::Backwards)
        );
    }

    #[test]
    fn words_round_trip() {
        for text in [
            "1억 미만",
            "10억~30억",
            "30억 초과",
            "1억 이상 3억 미만",
            "5천만 이하",
            "1억 5천만 초과 2억 이하",
            "12,345원 이상",
        ] {
            let r = RevenueBands::new().read(text).unwrap().range();
            let label = r.label_ko();
            assert_eq!(
                RevenueBands::new().read(&label).map(Revenue::range),
                Ok(r),
                "{text} → {label}"
            );
        }
        assert_eq!(format_won_ko(Won::new(150_000_000)), "1억 5000만");
        assert_eq!(format_won_ko(Won::new(12_345)), "12,345원");
        assert_eq!(format_won_ko(Won::new(3_000_000_000)), "30억");
    }

    #[test]
    fn an_operator_table_adds_and_overrides_labels() {
        let table = "label,min_won,max_won\r\n\
                     A등급,0,99999999\r\n\
                     \"B 등급\",\"100,000,000\",3억\r\n\
                     1억 미만,0,49999999\r\n\
                     C등급,300000001,\r\n";
        let bands = RevenueBands::from_csv(table.as_bytes()).unwrap();
        assert_eq!(bands.entries().len(), 4);
        let read = |t: &str| bands.read(t).unwrap().range();
        assert_eq!(read("a등급").max_won(), Some(Won::new(99_999_999)));
        assert_eq!(read("B등급").min_won(), Won::new(EOK));
        assert_eq!(read("C등급").max_won(), None);
        // The operator's meaning wins over the built-in one.
        assert_eq!(read("1억미만").max_won(), Some(Won::new(49_999_999)));
        // Labels it does not have still read.
        assert_eq!(read("30억 초과").min_won(), Won::new(30 * EOK + 1));
        // Its CSV form reads back to the same table (plus the built-in labels, which
        // mean the same).
        let again = RevenueBands::from_csv(bands.to_csv().as_bytes()).unwrap();
        for (label, r) in bands.entries() {
            assert_eq!(again.read(label).map(Revenue::range), Ok(*r));
        }

        let bad = "label,min_won,max_won\nA,0,10\nA,0,20\nB,30,20\nC,lots,\n,1,2\nD,1,2,3\n";
        let errors = RevenueBands::from_csv(bad.as_bytes()).unwrap_err();
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 7]);
        assert!(errors.iter().all(|e| !e.message_ko.is_empty()));
    }
}
