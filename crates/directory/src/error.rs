//! Every expected rejection, each with a stable snake_case code.
//!
//! The codes are what the server puts in problem+json answers and what operators see in a
//! sync report; they never change once released, while the human messages may.

use crate::model::{MerchantId, Status};

/// Why a business registration number was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BrnError {
    #[error("a business registration number has 10 digits, optionally as 123-45-67890")]
    Format,
    #[error("the check digit of the business registration number is wrong")]
    Checksum,
}

impl BrnError {
    pub const fn code(self) -> &'static str {
        match self {
            BrnError::Format => "bad_brn_format",
            BrnError::Checksum => "bad_brn_checksum",
        }
    }

    /// The reason in Korean (the English one is `Display`).
    pub const fn message_ko(self) -> &'static str {
        match self {
            BrnError::Format => "사업자등록번호는 숫자 10자리입니다 (예: 123-45-67890).",
            BrnError::Checksum => {
                "사업자등록번호의 검증번호(마지막 자리)가 맞지 않습니다. 오타일 수 있습니다."
            }
        }
    }
}

/// Why a coordinate was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GeoError {
    #[error("a coordinate is not a decimal number of degrees")]
    Malformed,
    #[error("the position is outside Korea (latitude 32.8..38.9, longitude 124..132.1)")]
    OutOfRange,
    #[error("latitude and longitude must both be given or both be empty")]
    Half,
}

impl GeoError {
    pub const fn code(self) -> &'static str {
        match self {
            GeoError::Malformed => "bad_coordinates",
            GeoError::OutOfRange => "coordinates_out_of_range",
            GeoError::Half => "half_coordinates",
        }
    }

    /// The reason in Korean (the English one is `Display`).
    pub const fn message_ko(self) -> &'static str {
        match self {
            GeoError::Malformed => "좌표가 도(°) 단위의 십진수가 아닙니다.",
            GeoError::OutOfRange => {
                "위치가 국내 범위(위도 32.8~38.9, 경도 124~132.1)를 벗어납니다. 위도와 경도가 바뀌었을 수 있습니다."
            }
            GeoError::Half => "위도와 경도는 둘 다 쓰거나 둘 다 비워야 합니다.",
        }
    }
}

/// Why opening hours were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    #[error("opening hours are empty")]
    Empty,
    #[error("opening hours are too long")]
    TooLong,
    #[error("opening hours read like `월-금 09:00-18:00, 토 10:00-14:00`")]
    Syntax,
    #[error("unknown weekday in opening hours")]
    UnknownDay,
    #[error("a time must be HH:MM between 00:00 and 24:00, and an interval not empty")]
    BadTime,
    #[error("a weekday is given twice in opening hours")]
    DuplicateDay,
}

impl HoursError {
    pub const fn code(self) -> &'static str {
        match self {
            HoursError::Empty => "hours_empty",
            HoursError::TooLong => "hours_too_long",
            HoursError::Syntax => "hours_syntax",
            HoursError::UnknownDay => "hours_unknown_day",
            HoursError::BadTime => "hours_bad_time",
            HoursError::DuplicateDay => "hours_duplicate_day",
        }
    }

    /// The reason in Korean (the English one is `Display`).
    pub const fn message_ko(self) -> &'static str {
        match self {
            HoursError::Empty => "영업시간이 비어 있습니다.",
            HoursError::TooLong => "영업시간이 너무 깁니다.",
            HoursError::Syntax => "영업시간은 `월-금 09:00-18:00, 토 10:00-14:00`처럼 씁니다.",
            HoursError::UnknownDay => "영업시간에 알 수 없는 요일이 있습니다.",
            HoursError::BadTime => {
                "시각은 00:00~24:00 사이의 HH:MM이어야 하고, 시간대가 비어 있으면 안 됩니다."
            }
            HoursError::DuplicateDay => "영업시간에 같은 요일이 두 번 있습니다.",
        }
    }
}

/// A profile field that failed validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("the merchant's name is empty")]
    MissingName,
    #[error("the field `{0}` is longer than allowed")]
    TooLong(&'static str),
    #[error("the MCC must be 4 digits")]
    BadMcc,
    #[error("the scheme category must be an integer 0..65535")]
    BadCategory,
    #[error("the revenue must be a non-negative number of won or a known band")]
    BadRevenue,
    #[error("unknown money source (purchased, allowance, cashback, gift, correction)")]
    BadSources,
    #[error("the field `{0}` contains a control character or undecodable text")]
    BadText(&'static str),
}

impl FieldError {
    /// The field at fault, named as in the registry's records (`name`, `mcc`, …).
    pub const fn field(self) -> &'static str {
        match self {
            FieldError::MissingName => "name",
            FieldError::TooLong(f) | FieldError::BadText(f) => f,
            FieldError::BadMcc => "mcc",
            FieldError::BadCategory => "category",
            FieldError::BadRevenue => "revenue",
            FieldError::BadSources => "sources",
        }
    }

    pub const fn code(self) -> &'static str {
        match self {
            FieldError::MissingName => "missing_name",
            FieldError::TooLong(_) => "field_too_long",
            FieldError::BadMcc => "bad_mcc",
            FieldError::BadCategory => "bad_category",
            FieldError::BadRevenue => "bad_revenue",
            FieldError::BadSources => "bad_sources",
            FieldError::BadText(_) => "bad_text",
        }
    }

    /// The reason in Korean (the English one is `Display`).
    pub fn message_ko(self) -> String {
        match self {
            FieldError::MissingName => "상호명이 비어 있습니다.".into(),
            FieldError::TooLong(f) => format!("`{f}` 항목이 허용된 길이보다 깁니다."),
            FieldError::BadMcc => "업종코드(MCC)는 숫자 4자리입니다.".into(),
            FieldError::BadCategory => "분류코드는 0~65535의 정수입니다.".into(),
            FieldError::BadRevenue => {
                "매출은 0 이상의 원 단위 금액이나 알려진 매출 구간이어야 합니다.".into()
            }
            FieldError::BadSources => {
                "알 수 없는 재원입니다 (구매, 수당, 캐시백, 선물, 정정).".into()
            }
            FieldError::BadText(f) => {
                format!("`{f}` 항목에 제어 문자나 읽을 수 없는 글자가 있습니다.")
            }
        }
    }
}

/// Rejections of registry operations (register, update, transition, load, apply a sync).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("no merchant with id {0}")]
    UnknownMerchant(MerchantId),
    #[error("merchant id {0} is already in use")]
    IdTaken(MerchantId),
    #[error("business registration number {brn} already belongs to merchant {existing}")]
    BrnTaken { brn: String, existing: MerchantId },
    #[error("a merchant cannot go from {from:?} to {to:?}")]
    IllegalTransition { from: Status, to: Status },
    #[error("the reason for a status change is empty or too long")]
    BadReason,
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error("the sync plan was made against an older state of the registry; plan again")]
    StalePlan,
    #[error("the id allocator gave no id")]
    IdAllocatorExhausted,
    #[error("the registry is full ({0} merchants)")]
    Full(usize),
    #[error(transparent)]
    File(#[from] SyncError),
}

impl DirectoryError {
    pub fn code(&self) -> &'static str {
        match self {
            DirectoryError::UnknownMerchant(_) => "unknown_merchant",
            DirectoryError::IdTaken(_) => "id_taken",
            DirectoryError::BrnTaken { .. } => "brn_taken",
            DirectoryError::IllegalTransition { .. } => "illegal_transition",
            DirectoryError::BadReason => "bad_reason",
            DirectoryError::Field(e) => e.code(),
            DirectoryError::StalePlan => "stale_plan",
            DirectoryError::IdAllocatorExhausted => "id_allocator_exhausted",
            DirectoryError::Full(_) => "registry_full",
            DirectoryError::File(e) => e.code(),
        }
    }
}

/// Rejections of a search request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("limit must be 1..={max}")]
    BadLimit { max: u32 },
    #[error("offset must be at most {max}")]
    OffsetTooLarge { max: u32 },
    #[error("radius must be 1..={max} metres")]
    BadRadius { max: u32 },
    #[error("the query has no letters or digits")]
    EmptyQuery,
    #[error("the query is longer than {max} characters")]
    QueryTooLong { max: usize },
    #[error("the query is too broad: type two characters, or one syllable")]
    QueryTooBroad,
}

impl SearchError {
    pub const fn code(self) -> &'static str {
        match self {
            SearchError::BadLimit { .. } => "bad_limit",
            SearchError::OffsetTooLarge { .. } => "offset_too_large",
            SearchError::BadRadius { .. } => "bad_radius",
            SearchError::EmptyQuery => "empty_query",
            SearchError::QueryTooLong { .. } => "query_too_long",
            SearchError::QueryTooBroad => "query_too_broad",
        }
    }
}

/// A whole registry file refused (as opposed to single rows, see [`RowError`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("the file is empty")]
    EmptyFile,
    #[error("the file is larger than {max} bytes")]
    FileTooLarge { max: usize },
    #[error("the file has more than {max} rows")]
    TooManyRows { max: usize },
    #[error("the header has no column for {0}")]
    MissingColumn(&'static str),
    #[error("two header columns mean {0}")]
    DuplicateColumn(&'static str),
    #[error("the header cannot be read: {0}")]
    BadHeader(String),
}

impl SyncError {
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::EmptyFile => "empty_file",
            SyncError::FileTooLarge { .. } => "file_too_large",
            SyncError::TooManyRows { .. } => "too_many_rows",
            SyncError::MissingColumn(_) => "missing_column",
            SyncError::DuplicateColumn(_) => "duplicate_column",
            SyncError::BadHeader(_) => "bad_header",
        }
    }
}

/// Why one row of a registry file was rejected; the rest of the file still imports.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("the row has {found} columns, the header {expected}")]
    WrongColumnCount { expected: usize, found: usize },
    #[error("the row cannot be read as CSV: {0}")]
    Csv(String),
    #[error("the row contains bytes that are not valid in its encoding")]
    BadEncoding,
    #[error(transparent)]
    Brn(#[from] BrnError),
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error(transparent)]
    Geo(#[from] GeoError),
    #[error(transparent)]
    Hours(#[from] HoursError),
    #[error("unknown business status `{0}` (영업, 휴업, 폐업)")]
    UnknownStatus(String),
    #[error("the business registration number already appeared on line {first_line}")]
    DuplicateBrn { first_line: u64 },
}

impl RowError {
    /// The field at fault (`brn`, `name`, `location`, …), if the row's problem is one
    /// field's rather than the line's (its columns, its CSV, its encoding).
    pub fn field(&self) -> Option<&'static str> {
        match self {
            RowError::WrongColumnCount { .. } | RowError::Csv(_) | RowError::BadEncoding => None,
            RowError::Brn(_) | RowError::DuplicateBrn { .. } => Some("brn"),
            RowError::Field(e) => Some(e.field()),
            RowError::Geo(_) => Some("location"),
            RowError::Hours(_) => Some("hours"),
            RowError::UnknownStatus(_) => Some("status"),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            RowError::WrongColumnCount { .. } => "wrong_column_count",
            RowError::Csv(_) => "csv_syntax",
            RowError::BadEncoding => "bad_encoding",
            RowError::Brn(e) => e.code(),
            RowError::Field(e) => e.code(),
            RowError::Geo(e) => e.code(),
            RowError::Hours(e) => e.code(),
            RowError::UnknownStatus(_) => "unknown_status",
            RowError::DuplicateBrn { .. } => "duplicate_brn",
        }
    }

    /// The reason in Korean (the English one is `Display`).
    pub fn message_ko(&self) -> String {
        match self {
            RowError::WrongColumnCount { expected, found } => {
                format!("이 줄의 칸 수({found})가 머리글의 칸 수({expected})와 다릅니다.")
            }
            RowError::Csv(e) => format!("CSV 형식으로 읽을 수 없는 줄입니다: {e}"),
            RowError::BadEncoding => {
                "이 줄에 파일의 문자 인코딩으로 읽을 수 없는 바이트가 있습니다.".into()
            }
            RowError::Brn(e) => e.message_ko().into(),
            RowError::Field(e) => e.message_ko(),
            RowError::Geo(e) => e.message_ko().into(),
            RowError::Hours(e) => e.message_ko().into(),
            RowError::UnknownStatus(s) => {
                format!("알 수 없는 영업상태 `{s}`입니다 (영업, 휴업, 폐업).")
            }
            RowError::DuplicateBrn { first_line } => {
                format!("같은 사업자등록번호가 {first_line}번째 줄에 이미 있습니다.")
            }
        }
    }
}
