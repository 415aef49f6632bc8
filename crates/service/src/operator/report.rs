//! The operator report's rows (one day, one month, or the whole life of the currency) as
//! the API, the console and a spreadsheet read them, and the report as a CSV file.
//!
//! The CSV is for Excel as much as for programs: RFC 4180 quoting, CRLF line ends, a
//! header row in Korean and English, UTF-8 with a byte-order mark (without it Excel
//! reads UTF-8 as the system's code page) or CP949 without one (older Excel in Korea).
//! It is safe against formula injection: a text cell that a spreadsheet would read as
//! a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) is written
//! with a leading `'`. Amounts are typed as numbers, never as text, so a negative
//! amount stays a number (`-1500`) and is never mangled.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use treasury::report::Period;
use utoipa::ToSchema;

/// One period of the report. Amounts are won; counts are transfers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReportRow {
    /// `2026-03-10` (a KST day), `2026-03` (a KST month) or `total`.
    pub period: String,
    /// Value issued into wallets: bought value plus every subsidy.
    pub issuance: i64,
    /// What citizens paid for vouchers (판매액).
    pub sales: i64,
    pub sales_count: u64,
    /// Discount paid by budgets at purchase.
    pub discount: i64,
    pub cashback: i64,
    /// Policy money (allowances) paid by budgets.
    pub allowance: i64,
    /// Subsidy that came back to budgets with refunds.
    pub subsidy_returned: i64,
    /// Subsidy spent, net of what came back (may be negative in a period of refunds).
    pub subsidy_spent: i64,
    pub budget_funding: i64,
    pub payments: i64,
    pub payments_count: u64,
    pub payment_refunds: i64,
    pub gifts: i64,
    pub redemptions: i64,
    /// Cash refunds to citizens (cancelled purchases and balance refunds).
    pub cash_refunds: i64,
    pub expiries: i64,
    /// Value that left circulation through the bank.
    pub settled: i64,
}

impl From<&Period> for ReportRow {
    fn from(p: &Period) -> ReportRow {
        ReportRow {
            period: p.label.clone(),
            issuance: p.issuance(),
            sales: p.sales.won,
            sales_count: p.sales.count,
            discount: p.discount.won,
            cashback: p.cashback.won,
            allowance: p.allowance.won,
            subsidy_returned: p.subsidy_returned.won,
            subsidy_spent: p.subsidy_spent(),
            budget_funding: p.budget_funding.won,
            payments: p.payments.won,
            payments_count: p.payments.count,
            payment_refunds: p.payment_refunds.won,
            gifts: p.gifts.won,
            redemptions: p.redemptions.won,
            cash_refunds: p.cash_refunds.won,
            expiries: p.expiries.won,
            settled: p.settled.won,
        }
    }
}

/// Which rows a CSV holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    Day,
    Month,
}

impl By {
    pub fn as_str(self) -> &'static str {
        match self {
            By::Day => "day",
            By::Month => "month",
        }
    }
}

/// The CSV's character encoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CsvEncoding {
    /// UTF-8 with a byte-order mark.
    #[default]
    Utf8,
    /// CP949 (Windows' Korean code page, a superset of EUC-KR), no byte-order mark.
    Cp949,
}

/// A column's value in a row.
type Value = fn(&ReportRow) -> Cell<'_>;

/// The CSV's columns: header (Korean and English) and the value of a row.
const COLUMNS: &[(&str, Value)] = &[
    ("기간 period", |r| Cell::Text(&r.period)),
    ("발행 issuance", |r| Cell::Int(r.issuance)),
    ("판매 sales", |r| Cell::Int(r.sales)),
    ("판매 건수 sales count", |r| Cell::Count(r.sales_count)),
    ("할인 discount", |r| Cell::Int(r.discount)),
    ("캐시백 cashback", |r| Cell::Int(r.cashback)),
    ("정책수당 allowance", |r| Cell::Int(r.allowance)),
    ("보조금 반환 subsidy returned", |r| {
        Cell::Int(r.subsidy_returned)
    }),
    ("보조금 집행 subsidy spent", |r| {
        Cell::Int(r.subsidy_spent)
    }),
    ("예산 출연 budget funding", |r| {
        Cell::Int(r.budget_funding)
    }),
    ("결제 payments", |r| Cell::Int(r.payments)),
    ("결제 건수 payments count", |r| {
        Cell::Count(r.payments_count)
    }),
    ("결제 취소 payment refunds", |r| {
        Cell::Int(r.payment_refunds)
    }),
    ("선물 gifts", |r| Cell::Int(r.gifts)),
    ("환전 redemptions", |r| Cell::Int(r.redemptions)),
    ("현금 환불 cash refunds", |r| Cell::Int(r.cash_refunds)),
    ("소멸 expiries", |r| Cell::Int(r.expiries)),
    ("정산 settled", |r| Cell::Int(r.settled)),
];

/// Most rows a CSV holds: a day a row is over 270 years.
pub const CSV_ROWS_MAX: usize = 100_000;

/// A cell: text (made formula-safe) or a number (written as a plain integer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell<'a> {
    Text(&'a str),
    Int(i64),
    Count(u64),
}

impl Cell<'_> {
    /// What is written in the file for this cell (before CSV quoting).
    pub fn written(&self) -> Cow<'_, str> {
        match self {
            Cell::Text(s) => formula_safe(s),
            Cell::Int(n) => Cow::Owned(n.to_string()),
            Cell::Count(n) => Cow::Owned(n.to_string()),
        }
    }
}

/// The characters with which a spreadsheet starts a formula (OWASP's list).
pub const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Text a spreadsheet will show as text: with a leading `'` if it starts like a formula.
pub fn formula_safe(s: &str) -> Cow<'_, str> {
    if s.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// The rows as a CSV file (header first), in `encoding`.
pub fn report_csv(rows: &[ReportRow], encoding: CsvEncoding) -> Vec<u8> {
    let header: Vec<Cell<'_>> = COLUMNS.iter().map(|(h, _)| Cell::Text(h)).collect();
    let body = rows.iter().take(CSV_ROWS_MAX).map(|r| {
        COLUMNS
            .iter()
            .map(|(_, value)| value(r))
            .collect::<Vec<_>>()
    });
    let text = csv_text(std::iter::once(header).chain(body));
    match encoding {
        CsvEncoding::Utf8 => {
            let mut out = Vec::with_capacity(text.len() + 3);
            out.extend_from_slice(b"\xEF\xBB\xBF");
            out.extend_from_slice(text.as_bytes());
            out
        }
        // CP949 is what WHATWG (and encoding_rs) call EUC-KR: Windows' code page 949
        // with every Hangul syllable. A character it lacks becomes a numeric character
        // reference; ours are all in it.
        CsvEncoding::Cp949 => encoding_rs::EUC_KR.encode(&text).0.into_owned(),
    }
}

/// Records of cells as RFC 4180 text: fields quoted when they need it, CRLF line ends.
pub fn csv_text<'a>(records: impl IntoIterator<Item = Vec<Cell<'a>>>) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for record in records {
        // Writing to a Vec cannot fail.
        let _ = writer.write_record(record.iter().map(|c| c.written().into_owned()));
    }
    let bytes = writer.into_inner().unwrap_or_default();
    // Every cell was a &str or a number: the bytes are UTF-8.
    String::from_utf8(bytes).unwrap_or_default()
}

/// The download's file name: `maeul-report-<currency>-day.csv` (`-cp949` before
/// `.csv` for the CP949 file). The currency is a code of letters, digits, `-` and `_`;
/// anything else is dropped so the name is always a safe header value.
pub fn csv_file_name(currency: &str, by: By, encoding: CsvEncoding) -> String {
    let code: String = currency
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(64)
        .collect();
    let suffix = match encoding {
        CsvEncoding::Utf8 => "",
        CsvEncoding::Cp949 => "-cp949",
    };
    format!("maeul-report-{code}-{}{suffix}.csv", by.as_str())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    fn row(period: &str, subsidy_spent: i64) -> ReportRow {
        ReportRow {
            period: period.into(),
            issuance: 1_050_000,
            sales: 1_000_000,
            sales_count: 3,
            subsidy_spent,
            payments: 250_000,
            payments_count: 7,
            ..ReportRow::default()
        }
    }

    fn utf8(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap()).unwrap()
    }

    #[test]
    fn text_that_looks_like_a_formula_is_written_as_text() {
        for (given, written) in [
            ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
            ("+1", "'+1"),
            ("-1+2", "'-1+2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("2026-03-10", "2026-03-10"),
            ("합계 total", "합계 total"),
            ("", ""),
        ] {
            assert_eq!(Cell::Text(given).written(), written, "{given:?}");
        }
        // A negative amount is a number, not text: written as it is.
        assert_eq!(Cell::Int(-1_500).written(), "-1500");
        assert_eq!(Cell::Int(i64::MIN).written(), i64::MIN.to_string());
        assert_eq!(Cell::Count(u64::MAX).written(), u64::MAX.to_string());
    }

    #[test]
    fn the_utf8_file_has_a_bom_a_header_and_crlf_rows() {
        let bytes = report_csv(
            &[row("2026-03", -1_500), row("2026-04", 20)],
            CsvEncoding::Utf8,
        );
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "Excel needs the BOM");
        let text = utf8(&bytes);
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(
            lines.len(),
            4,
            "header, two rows, and the last CRLF: {text:?}"
        );
        assert_eq!(lines[3], "");
        assert!(lines[0].starts_with("기간 period,발행 issuance,판매 sales,"));
        assert_eq!(lines[0].split(',').count(), COLUMNS.len());
        assert_eq!(
            lines[1],
            "2026-03,1050000,1000000,3,0,0,0,0,-1500,0,250000,7,0,0,0,0,0,0"
        );
        assert!(lines[2].starts_with("2026-04,"));
    }

    #[test]
    fn fields_are_quoted_as_rfc_4180_says() {
        let text = csv_text([vec![
            Cell::Text("a,b"),
            Cell::Text("say \"hi\""),
            Cell::Text("two\nlines"),
            Cell::Int(-3),
        ]]);
        assert_eq!(text, "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",-3\r\n");
    }

    #[test]
    fn the_cp949_file_has_no_bom_and_reads_back_in_korean() {
        let bytes = report_csv(&[row("2026-03", 5)], CsvEncoding::Cp949);
        assert!(!bytes.starts_with(b"\xEF\xBB\xBF"));
        // 기 in CP949 is B1 E2.
        assert_eq!(&bytes[..2], b"\xB1\xE2");
        let (text, had_errors) = encoding_rs::EUC_KR.decode_without_bom_handling(&bytes);
        assert!(!had_errors);
        assert_eq!(
            text,
            utf8(&report_csv(&[row("2026-03", 5)], CsvEncoding::Utf8)),
            "the same text in either encoding"
        );
    }

    #[test]
    fn file_names_say_the_currency_the_rows_and_the_encoding() {
        assert_eq!(
            csv_file_name("demo", By::Day, CsvEncoding::Utf8),
            "maeul-report-demo-day.csv"
        );
        assert_eq!(
            csv_file_name("busan-2", By::Month, CsvEncoding::Cp949),
            "maeul-report-busan-2-month-cp949.csv"
        );
        assert_eq!(
            csv_file_name("a\"b\r\n;c", By::Day, CsvEncoding::Utf8),
            "maeul-report-abc-day.csv"
        );
    }

    /// Every cell of a parsed CSV (after the BOM).
    fn cells(bytes: &[u8]) -> Vec<Vec<String>> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes));
        reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect()
    }

    fn is_integer(s: &str) -> bool {
        s.strip_prefix('-')
            .unwrap_or(s)
            .bytes()
            .all(|b| b.is_ascii_digit())
            && !s.is_empty()
            && s != "-"
    }

    proptest! {
        /// No cell of the file starts like a formula unless it is a plain integer (a
        /// negative amount); every text cell reads back as it was, behind the `'`.
        #[test]
        fn no_cell_starts_a_formula(
            texts in proptest::collection::vec(".{0,12}", 1..8),
            numbers in proptest::collection::vec(any::<i64>(), 1..8),
        ) {
            let mut rows = Vec::new();
            for (i, t) in texts.iter().enumerate() {
                let mut r = row(t, numbers[i % numbers.len()]);
                r.cash_refunds = numbers[(i + 1) % numbers.len()];
                rows.push(r);
            }
            let parsed = cells(&report_csv(&rows, CsvEncoding::Utf8));
            prop_assert_eq!(parsed.len(), rows.len() + 1);
            for (record, r) in parsed.iter().skip(1).zip(&rows) {
                for cell in record {
                    if cell.starts_with(FORMULA_STARTS) {
                        prop_assert!(is_integer(cell), "{:?}", cell);
                    }
                }
                let period = &record[0];
                if r.period.starts_with(FORMULA_STARTS) {
                    prop_assert_eq!(period, &format!("'{}", r.period));
                } else {
                    prop_assert_eq!(period, &r.period);
                }
                prop_assert_eq!(&record[8], &r.subsidy_spent.to_string());
                prop_assert_eq!(&record[15], &r.cash_refunds.to_string());
            }
        }

        /// Hangul (every syllable is in CP949) comes back from the CP949 file unchanged.
        #[test]
        fn cp949_keeps_hangul(text in "[가-힣 0-9a-z]{0,24}") {
            let rows = [row(&text, 1)];
            let bytes = report_csv(&rows, CsvEncoding::Cp949);
            let (decoded, had_errors) = encoding_rs::EUC_KR.decode_without_bom_handling(&bytes);
            prop_assert!(!had_errors);
            let utf8_bytes = report_csv(&rows, CsvEncoding::Utf8);
            prop_assert_eq!(decoded.as_ref(), utf8(&utf8_bytes));
            let parsed = cells(decoded.as_bytes());
            prop_assert_eq!(&parsed[1][0], &text);
        }
    }
}
