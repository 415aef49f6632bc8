//! The per-row report of a legacy import: every row that was not imported exactly as
//! written says so, with its file, line, legacy id, field and a reason in Korean and
//! English. Codes are stable (scripts and the tests match on them).

use serde::Serialize;

/// What happened to the row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Not imported: nothing of it is in the currency.
    Rejected,
    /// Imported, with the safe default where it said something unknown.
    Defaulted,
    /// Imported; worth a look.
    Warning,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Rejected => "rejected",
            Outcome::Defaulted => "defaulted",
            Outcome::Warning => "warning",
        }
    }
}

/// Why. Each carries the words people read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    MissingColumn,
    Unreadable(String),
    Missing,
    BadAmount(String),
    NegativeAmount,
    FractionOfWon,
    BadDate(String),
    Expired(String),
    UnknownWalletKind(String),
    NotMoney(String),
    UnknownMemberStatus(String),
    UnknownMerchantStatus(String),
    UnknownRevenueBand(String),
    DuplicateId { first_line: u64 },
    ConflictingDuplicate { first_line: u64 },
    OrphanWallet,
    ClosedWithValue,
    ClosedMemberSkipped,
    BadBrn(String),
    DuplicateBrn { first_line: u64 },
    BadText(String),
    BadBirthYear(String),
    QrRefused(String),
    TooManyLots,
    Refused(String),
}

impl Problem {
    pub fn code(&self) -> &'static str {
        match self {
            Problem::MissingColumn => "missing_column",
            Problem::Unreadable(_) => "unreadable_row",
            Problem::Missing => "missing_value",
            Problem::BadAmount(_) => "bad_amount",
            Problem::NegativeAmount => "negative_amount",
            Problem::FractionOfWon => "fraction_of_won",
            Problem::BadDate(_) => "bad_date",
            Problem::Expired(_) => "expired_balance",
            Problem::UnknownWalletKind(_) => "unknown_wallet_kind",
            Problem::NotMoney(_) => "not_money",
            Problem::UnknownMemberStatus(_) => "unknown_member_status",
            Problem::UnknownMerchantStatus(_) => "unknown_merchant_status",
            Problem::UnknownRevenueBand(_) => "unknown_revenue_band",
            Problem::DuplicateId { .. } => "duplicate_id",
            Problem::ConflictingDuplicate { .. } => "conflicting_duplicate",
            Problem::OrphanWallet => "orphan_wallet",
            Problem::ClosedWithValue => "closed_with_value",
            Problem::ClosedMemberSkipped => "closed_member_skipped",
            Problem::BadBrn(_) => "bad_brn",
            Problem::DuplicateBrn { .. } => "duplicate_brn",
            Problem::BadText(_) => "bad_text",
            Problem::BadBirthYear(_) => "bad_birth_year",
            Problem::QrRefused(_) => "qr_refused",
            Problem::TooManyLots => "too_many_lots",
            Problem::Refused(_) => "ledger_refused",
        }
    }

    pub fn ko(&self) -> String {
        match self {
            Problem::MissingColumn => "매핑 파일이 지정한 열이 파일의 머리글에 없습니다.".into(),
            Problem::Unreadable(e) => format!("행을 읽을 수 없습니다: {e}"),
            Problem::Missing => "값이 비어 있습니다.".into(),
            Problem::BadAmount(v) => format!("금액으로 읽을 수 없습니다: \"{v}\""),
            Problem::NegativeAmount => "금액이 음수입니다.".into(),
            Problem::FractionOfWon => "원 단위 아래 금액은 받지 않습니다.".into(),
            Problem::BadDate(v) => format!("날짜로 읽을 수 없습니다: \"{v}\""),
            Problem::Expired(d) => {
                format!("유효기간({d})이 지난 잔액이라 가져오지 않았습니다.")
            }
            Problem::UnknownWalletKind(v) => format!(
                "매핑에 없는 지갑 구분 \"{v}\"이라 가져오지 않았습니다. 매핑에 추가하고 다시 실행하세요."
            ),
            Problem::NotMoney(v) => {
                format!("매핑에서 제외한 지갑 구분 \"{v}\"이라 가져오지 않았습니다.")
            }
            Problem::UnknownMemberStatus(v) => {
                format!("매핑에 없는 회원 상태 \"{v}\": 정지 상태로 가져왔습니다.")
            }
            Problem::UnknownMerchantStatus(v) => {
                format!("매핑에 없는 가맹점 상태 \"{v}\": 정지 상태로 가져왔습니다.")
            }
            Problem::UnknownRevenueBand(v) => format!(
                "매핑에 없는 매출 구간 \"{v}\": 매출을 모르는 것으로 가져왔습니다(가장 낮은 혜택)."
            ),
            Problem::DuplicateId { first_line } => {
                format!("{first_line}행과 같은 번호이고 내용도 같아 한 번만 가져왔습니다.")
            }
            Problem::ConflictingDuplicate { first_line } => {
                format!("{first_line}행과 같은 번호인데 내용이 달라 둘 다 가져오지 않았습니다.")
            }
            Problem::OrphanWallet => "회원 파일에 없는 회원의 잔액이라 가져오지 않았습니다.".into(),
            Problem::ClosedWithValue => {
                "탈퇴 회원이지만 잔액이 있어 정지 상태로 가져왔습니다.".into()
            }
            Problem::ClosedMemberSkipped => "잔액이 없는 탈퇴 회원이라 가져오지 않았습니다.".into(),
            Problem::BadBrn(v) => format!("사업자등록번호가 올바르지 않습니다: \"{v}\""),
            Problem::DuplicateBrn { first_line } => {
                format!("{first_line}행과 사업자등록번호가 같아 둘 다 가져오지 않았습니다.")
            }
            Problem::BadText(e) => format!("글자를 받을 수 없습니다: {e}"),
            Problem::BadBirthYear(v) => {
                format!("출생연도로 읽을 수 없어 비워 두었습니다: \"{v}\"")
            }
            Problem::QrRefused(code) if code == "conflicting_duplicate" => {
                "다른 가맹점에도 같은 이전 QR이 있어 둘 다 연결하지 않았습니다(가맹점은 가져옴). 새 스티커가 필요합니다.".into()
            }
            Problem::QrRefused(code) => {
                format!("이전 QR을 연결하지 못했습니다(가맹점은 가져옴): {code}")
            }
            Problem::TooManyLots => "한 회원의 잔액 행이 너무 많습니다.".into(),
            Problem::Refused(c) => format!("원장이 거절했습니다: {c}"),
        }
    }

    pub fn en(&self) -> String {
        match self {
            Problem::MissingColumn => {
                "A column the mapping names is not in the file's header.".into()
            }
            Problem::Unreadable(e) => format!("The row cannot be read: {e}"),
            Problem::Missing => "The value is empty.".into(),
            Problem::BadAmount(v) => format!("Not an amount: \"{v}\""),
            Problem::NegativeAmount => "The amount is negative.".into(),
            Problem::FractionOfWon => "Amounts below one won are not accepted.".into(),
            Problem::BadDate(v) => format!("Not a date: \"{v}\""),
            Problem::Expired(d) => format!("The value expired on {d}; not imported."),
            Problem::UnknownWalletKind(v) => format!(
                "Wallet type \"{v}\" is not in the mapping; not imported. Add it and run again."
            ),
            Problem::NotMoney(v) => {
                format!("Wallet type \"{v}\" is excluded by the mapping; not imported.")
            }
            Problem::UnknownMemberStatus(v) => {
                format!("Member status \"{v}\" is not in the mapping; imported frozen.")
            }
            Problem::UnknownMerchantStatus(v) => {
                format!("Merchant status \"{v}\" is not in the mapping; imported suspended.")
            }
            Problem::UnknownRevenueBand(v) => format!(
                "Revenue band \"{v}\" is not in the mapping; imported as unknown (least generous)."
            ),
            Problem::DuplicateId { first_line } => {
                format!("Same id and content as line {first_line}; imported once.")
            }
            Problem::ConflictingDuplicate { first_line } => {
                format!("Same id as line {first_line} with other content; neither is imported.")
            }
            Problem::OrphanWallet => {
                "The balance's member is not in the members file; not imported.".into()
            }
            Problem::ClosedWithValue => "A closed member with value left; imported frozen.".into(),
            Problem::ClosedMemberSkipped => "A closed member with no value; not imported.".into(),
            Problem::BadBrn(v) => format!("Not a valid business registration number: \"{v}\""),
            Problem::DuplicateBrn { first_line } => format!(
                "Same business registration number as line {first_line}; neither is imported."
            ),
            Problem::BadText(e) => format!("The text cannot be taken: {e}"),
            Problem::BadBirthYear(v) => format!("Not a birth year, left empty: \"{v}\""),
            Problem::QrRefused(code) if code == "conflicting_duplicate" => {
                "Another merchant has the same old QR payload, so neither is linked (the merchant was imported); a new sticker is needed.".into()
            }
            Problem::QrRefused(code) => {
                format!("The old QR code was not linked (the merchant was imported): {code}")
            }
            Problem::TooManyLots => "Too many balance rows for one member.".into(),
            Problem::Refused(c) => format!("The ledger refused it: {c}"),
        }
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReportRow {
    pub file: String,
    /// 1-based, as an editor shows it; 0 for the file as a whole.
    pub line: u64,
    pub legacy_id: String,
    pub field: String,
    pub outcome: Outcome,
    pub code: &'static str,
    pub message_ko: String,
    pub message_en: String,
}

impl ReportRow {
    pub fn new(
        file: &str,
        line: u64,
        legacy_id: &str,
        field: &str,
        outcome: Outcome,
        problem: &Problem,
    ) -> ReportRow {
        ReportRow {
            file: file.to_owned(),
            line,
            legacy_id: legacy_id.to_owned(),
            field: field.to_owned(),
            outcome,
            code: problem.code(),
            message_ko: problem.ko(),
            message_en: problem.en(),
        }
    }
}

/// The report as CSV, UTF-8 with a BOM (spreadsheets open it as Korean text).
pub fn report_csv(rows: &[ReportRow]) -> Vec<u8> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    let mut w = csv::Writer::from_writer(&mut out);
    let _ = w.write_record([
        "file",
        "line",
        "legacy_id",
        "field",
        "outcome",
        "code",
        "message_ko",
        "message_en",
    ]);
    for r in rows {
        let line = r.line.to_string();
        let _ = w.write_record([
            r.file.as_str(),
            line.as_str(),
            r.legacy_id.as_str(),
            r.field.as_str(),
            r.outcome.as_str(),
            r.code,
            r.message_ko.as_str(),
            r.message_en.as_str(),
        ]);
    }
    drop(w);
    out
}
