//! Importing an outside merchant registry file (public data, a previous operator's
//! export) as a reviewable diff.
//!
//! The 2025 Onnuri switch showed what goes wrong: merchant data still "being synced" at
//! launch, QR stickers rejected, distance search gone. So a sync here is two steps. First
//! [`Registry::plan_sync`] reads the file without changing anything and answers a
//! [`SyncPlan`] whose [`SyncReport`] says what would be added, which fields of which
//! merchants would change, who would be suspended, resumed, reopened or closed, which rows
//! are rejected and why (line and code), and which merchants the file does not mention.
//! Then [`Registry::apply_sync`] applies exactly that plan, if the registry has not
//! changed since ([`Registry::generation`]), or nothing at all.
//!
//! Rules:
//! - Rows are matched on the business registration number. A known merchant keeps its
//!   maeul id forever; only new ones get ids, from the caller's [`IdAllocator`].
//! - Re-importing the same file changes nothing and reports every row unchanged.
//! - A bad row is rejected with its line number and a reason in Korean and English; it
//!   never stops the rest.
//! - Merchants missing from the file are reported as `absent`, never closed: an operator
//!   decides (a partial file must not close half a city).
//! - Columns the file does not have leave those fields as they are; a column that is
//!   present but empty in a row clears an optional field (except `accepts` and `status`,
//!   where empty means "not stated").
//! - A sync only undoes statuses a sync set: an operator's suspension is not lifted
//!   because the file says 영업 (reported as `held`). 폐업 in the file closes whatever the
//!   status.
//! - New merchants start as the file says (영업 → approved, 휴업 → suspended) or, when
//!   the operator asks ([`NewStatus::Applied`]), all awaiting review.
//! - A 사업자등록번호 whose check digit is wrong is rejected (`bad_brn_checksum`), unless
//!   the operator asks to take such rows ([`SyncOptions::unverified_brn`]): then the
//!   merchant is stored with the digits as written, flagged `brn_unverified`, awaiting
//!   review (not payable until an operator approves it), and the row is reported.
//! - A location that cannot be read (garbage, swapped, outside Korea, half given) does not
//!   reject the merchant: it is imported without one (a known merchant keeps the one it
//!   has) and the row is reported; so is every merchant left without a location (payable,
//!   but not found by distance until fixed).
//! - Revenue is read by [`crate::revenue`] (amounts, band labels, the operator's table of
//!   labels). A revenue that cannot be read leaves the merchant's revenue unknown (the
//!   ledger gives unknown revenue the scheme's lowest cash-back rate), and so does a band
//!   that straddles one of the scheme's thresholds ([`SyncOptions::revenue_thresholds`]);
//!   both are reported per row, and so is a revenue column left empty.
//! - A previous operator's QR payload column is carried as [`LegacyQrRow`]s: the caller
//!   (which holds the alias table) maps each payload to the row's merchant in the same
//!   run (new merchants have their id once the plan is applied).
//! - Line numbers are the file's own (1-based, the header is line 1), the same for LF,
//!   CRLF and quoted fields with line breaks inside.
//!
//! # Reports
//! [`SyncReport`] lists every row by outcome; [`SyncReport::rows`] flattens it into one
//! [`ReportRow`] per outcome (line, BRN, outcome, stable code, Korean and English words,
//! merchant id) and [`report_csv`] writes those as a CSV file Excel opens (UTF-8 with BOM).
//!
//! # Encodings
//! Bytes that are valid UTF-8 (with or without BOM) are UTF-8; anything else is decoded
//! as EUC-KR, which in the WHATWG encoding standard implemented by encoding_rs is
//! windows-949 (CP949/UHC), the superset Korean public data is exported in. A row with
//! bytes undecodable in either is rejected as `bad_encoding`.
//!
//! # Accepted headers
//! Matched after trimming, lower-casing and removing spaces, `_`, `-` and a BOM; a note in
//! brackets after a known name (`위도(WGS84)`, `연매출(천원)`) is allowed. Cells past the
//! header's width are allowed when empty (a trailing comma on some rows):
//!
//! | field | headers |
//! |---|---|
//! | BRN (required) | 사업자등록번호, 사업자번호, brn, business_registration_number, bizno |
//! | name (required) | 상호명, 상호, 가맹점명, 업소명, 사업장명, 업체명, 가맹점상호, name, merchant_name, business_name |
//! | English name | 영문상호, 영문상호명, 영문명, name_en, english_name, romanized_name |
//! | MCC | mcc, 업종코드, 가맹점업종코드 |
//! | scheme category | category, scheme_category, 분류코드, 업종분류코드, 카테고리 |
//! | annual revenue | 연매출, 연매출액, 연간매출, 연간매출액, 매출액, annual_revenue, revenue_won (won, `1,234,000,000원`, `12억`, or a band label; `연매출(천원)` and the like: bare numbers in that unit) |
//! | revenue band | 매출구간, 매출규모, 매출액구간, 연매출구간, 매출등급, revenue_band (`1억 미만`, `10억~30억`, `30억 초과`, 영세, 중소1..3, 일반, the operator's labels: [`crate::revenue`]) |
//! | road address | 도로명주소, 소재지도로명주소, 주소, 가맹점주소, 사업장주소, road_address, address |
//! | 지번 address | 지번주소, 소재지지번주소, jibun_address, lot_address |
//! | 시도 | 시도, 시도명, sido, province |
//! | 시군구 | 시군구, 시군구명, sigungu, district |
//! | latitude / longitude | 위도 / 경도, latitude / longitude, lat / lon, lng |
//! | status | 영업상태, 영업상태명, 상태, status, business_status (영업·정상·영업/정상·운영 / 휴업·정지 / 폐업) |
//! | opening hours | 영업시간, hours, opening_hours (see [`crate::hours`]) |
//! | accepted sources | 사용가능재원, 결제가능재원, accepts, accepted_sources |
//! | previous operator's QR | 기존QR, 기존QR코드, 이전QR, 이전QR코드, qr_payload, previous_qr, legacy_qr |
//! | ignored | 전화번호, 연락처, phone, tel, and any unknown header (listed in the report) |
//!
//! Without 시도/시군구 columns they are taken from the address ("부산광역시 해운대구 …").

use std::borrow::Cow;

use rustc_hash::{FxHashMap, FxHashSet};

use ledger::Won;

use crate::brn::Brn;
use crate::error::{BrnError, DirectoryError, FieldError, GeoError, RowError, SyncError};
use crate::geo::GeoPoint;
use crate::hours::OpeningHours;
use crate::lines::LineCounter;
use crate::model::{
    Actor, Field, FieldSet, Mcc, Merchant, MerchantId, MerchantProfile, Revenue, SourceMask,
    Status, StatusChange,
};
use crate::registry::{MERCHANTS_MAX, Registry};
use crate::revenue::{LabelError, RevenueBands};

/// Largest file accepted.
pub const SYNC_FILE_BYTES_MAX: usize = 2 << 30;
/// Most data rows accepted in one file.
pub const SYNC_ROWS_MAX: usize = 5_000_000;

/// Gives maeul ids to merchants a sync adds.
pub trait IdAllocator {
    /// The next free id, or `None` if none can be given.
    fn allocate(&mut self) -> Option<MerchantId>;
}

impl<F: FnMut() -> Option<MerchantId>> IdAllocator for F {
    fn allocate(&mut self) -> Option<MerchantId> {
        self()
    }
}

/// Ids counting up from a start: enough for tests and a single-writer server.
#[derive(Clone, Debug)]
pub struct SequentialIds {
    next: u64,
}

impl SequentialIds {
    pub fn starting_at(first: u64) -> SequentialIds {
        SequentialIds { next: first }
    }
}

impl IdAllocator for SequentialIds {
    fn allocate(&mut self) -> Option<MerchantId> {
        let id = self.next;
        self.next = self.next.checked_add(1)?;
        Some(MerchantId(id))
    }
}

/// How the file's bytes were read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileEncoding {
    Utf8,
    Utf8Bom,
    /// EUC-KR / CP949 (windows-949).
    EucKr,
}

/// Decodes a registry file: UTF-8 when valid (BOM removed), else CP949.
pub fn decode(bytes: &[u8]) -> (Cow<'_, str>, FileEncoding) {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return (String::from_utf8_lossy(rest), FileEncoding::Utf8Bom);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => (Cow::Borrowed(text), FileEncoding::Utf8),
        Err(_) => {
            let (text, _had_errors) = encoding_rs::EUC_KR.decode_without_bom_handling(bytes);
            (text, FileEncoding::EucKr)
        }
    }
}

/// A business status as registry files state it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryStatus {
    /// 영업 (trading).
    Open,
    /// 휴업 (temporarily closed).
    Paused,
    /// 폐업 (closed down).
    Gone,
}

impl RegistryStatus {
    pub fn parse(text: &str) -> Option<RegistryStatus> {
        let t: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect();
        match t.as_str() {
            "영업" | "영업중" | "정상" | "정상영업" | "영업/정상" | "운영" | "운영중"
            | "계속사업자" | "open" | "active" | "approved" => Some(RegistryStatus::Open),
            // 인허가 data's "취소/말소/만료/정지/중지" may be a suspension: suspend, do not close.
            "휴업"
            | "휴업중"
            | "일시중지"
            | "정지"
            | "휴업자"
            | "paused"
            | "suspended"
            | "취소/말소/만료/정지/중지" => Some(RegistryStatus::Paused),
            "폐업" | "폐업자" | "취소" | "해지" | "closed" | "gone" => {
                Some(RegistryStatus::Gone)
            }
            _ => None,
        }
    }

    pub const fn label_ko(self) -> &'static str {
        match self {
            RegistryStatus::Open => "영업",
            RegistryStatus::Paused => "휴업",
            RegistryStatus::Gone => "폐업",
        }
    }

    fn reason(self) -> &'static str {
        match self {
            RegistryStatus::Open => "registry sync: 영업",
            RegistryStatus::Paused => "registry sync: 휴업",
            RegistryStatus::Gone => "registry sync: 폐업",
        }
    }
}

/// What a sync does with a known merchant's status, given the file's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reconcile {
    Keep,
    Move(Status),
    Held,
}

fn reconcile(current: Status, by: Actor, file: RegistryStatus) -> Reconcile {
    use RegistryStatus::*;
    use Status::*;
    match (file, current) {
        (Open, Suspended | Closed) if by == Actor::RegistrySync => Reconcile::Move(Approved),
        (Open, Suspended | Closed) => Reconcile::Held,
        (Paused, Approved) => Reconcile::Move(Suspended),
        (Gone, Applied | Approved | Suspended) => Reconcile::Move(Closed),
        _ => Reconcile::Keep,
    }
}

/// The status merchants a sync adds start in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NewStatus {
    /// As the file says: 영업 (or no status) → approved, 휴업 → suspended.
    #[default]
    Approved,
    /// Every new merchant awaits an operator's review (applied), whatever the file says.
    Applied,
}

impl NewStatus {
    pub fn parse(text: &str) -> Option<NewStatus> {
        match text.trim() {
            "approved" => Some(NewStatus::Approved),
            "applied" => Some(NewStatus::Applied),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            NewStatus::Approved => "approved",
            NewStatus::Applied => "applied",
        }
    }
}

/// Options of a sync.
#[derive(Clone, Copy, Debug)]
pub struct SyncOptions<'a> {
    /// What new merchants accept when the file has no sources column.
    pub default_accepts: SourceMask,
    /// The status new merchants start in.
    pub new_status: NewStatus,
    /// Take rows whose BRN fails its check digit as unverified merchants awaiting review
    /// (otherwise they are rejected).
    pub unverified_brn: bool,
    /// The operator's revenue labels (`None`: the built-in ones only).
    pub revenue_bands: Option<&'a RevenueBands>,
    /// Where the scheme in force splits revenue (cash-back band bounds, revenue caps): a
    /// band that straddles one is reported. Empty: no scheme known, nothing reported.
    pub revenue_thresholds: &'a [Won],
}

impl Default for SyncOptions<'_> {
    fn default() -> Self {
        SyncOptions {
            default_accepts: SourceMask::ALL,
            new_status: NewStatus::Approved,
            unverified_brn: false,
            revenue_bands: None,
            revenue_thresholds: &[],
        }
    }
}

/// A merchant the sync adds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AddedRow {
    pub line: u64,
    pub brn: Brn,
    /// Given when the plan is applied.
    pub id: Option<MerchantId>,
    pub status: Status,
    /// The BRN's check digit is wrong (taken because the operator asked).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub brn_unverified: bool,
}

/// A known merchant whose profile changes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChangedRow {
    pub line: u64,
    pub id: MerchantId,
    pub brn: Brn,
    pub fields: FieldSet,
}

/// A known merchant whose status moves.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatusRow {
    pub line: u64,
    pub id: MerchantId,
    pub brn: Brn,
    pub from: Status,
}

/// A merchant whose file status disagrees with an operator's decision, left as it is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeldRow {
    pub line: u64,
    pub id: MerchantId,
    pub brn: Brn,
    pub status: Status,
    pub registry_status: RegistryStatus,
}

/// A row of a known merchant that changed nothing.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnchangedRow {
    pub line: u64,
    pub id: MerchantId,
    pub brn: Brn,
}

/// A row of an unknown merchant already 폐업: not added.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SkippedRow {
    pub line: u64,
    pub brn: Brn,
}

/// An approved or suspended merchant the file does not mention.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AbsentRow {
    pub id: MerchantId,
    pub brn: Brn,
}

/// A rejected row.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RejectedRow {
    pub line: u64,
    /// The BRN cell as written, if there was one.
    pub brn: Option<String>,
    /// The field at fault (`brn`, `name`, `location`, …), when it is one field's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Stable code (`bad_brn_checksum`, `missing_name`, …).
    pub code: String,
    pub message_ko: String,
    pub message_en: String,
}

/// Something about an imported row the operator should know (a merchant without a
/// location, a revenue left unknown, an unverified BRN): the row was still taken.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RowNote {
    pub line: u64,
    pub brn: Brn,
    /// The merchant (an added one's once the plan is applied).
    pub id: Option<MerchantId>,
    /// Stable code: `location_missing`, `location_invalid`, `revenue_missing`,
    /// `revenue_unreadable`, `revenue_straddles`, `brn_unverified`.
    pub code: String,
    pub message_ko: String,
    pub message_en: String,
}

/// A previous operator's QR payload from the file, for the alias table.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LegacyQrRow {
    pub line: u64,
    pub brn: Brn,
    /// The merchant it is to pay (an added one's once the plan is applied).
    pub id: Option<MerchantId>,
    /// The cell as written (trimmed).
    pub payload: String,
}

/// What a sync did (or, from a plan, would do).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncReport {
    pub encoding: FileEncoding,
    /// Data rows read (not counting the header).
    pub rows: u64,
    pub added: Vec<AddedRow>,
    pub changed: Vec<ChangedRow>,
    pub suspended: Vec<StatusRow>,
    /// Suspended → Approved.
    pub resumed: Vec<StatusRow>,
    /// Closed → Approved.
    pub reopened: Vec<StatusRow>,
    pub closed: Vec<StatusRow>,
    pub held: Vec<HeldRow>,
    /// Rows that matched a known merchant and changed nothing.
    pub unchanged: u64,
    pub unchanged_rows: Vec<UnchangedRow>,
    /// Rows of unknown merchants already 폐업: not added.
    pub skipped_closed: u64,
    pub skipped_closed_rows: Vec<SkippedRow>,
    /// Approved or suspended merchants the file does not mention.
    pub absent: Vec<AbsentRow>,
    pub rejected: Vec<RejectedRow>,
    /// Rows taken with something to fix.
    pub warnings: Vec<RowNote>,
    /// Previous operators' QR payloads of the rows taken.
    pub legacy_qr: Vec<LegacyQrRow>,
    pub ignored_columns: Vec<String>,
}

impl SyncReport {
    /// True if applying changes nothing.
    pub fn is_noop(&self) -> bool {
        self.added.is_empty()
            && self.changed.is_empty()
            && self.suspended.is_empty()
            && self.resumed.is_empty()
            && self.reopened.is_empty()
            && self.closed.is_empty()
    }
}

#[derive(Debug)]
struct PlannedAdd {
    report_index: usize,
    brn: Brn,
    brn_unverified: bool,
    profile: MerchantProfile,
    status: Status,
    reason: &'static str,
}

/// A plan with its new merchants' ids allocated, not yet applied
/// ([`Registry::prepare_sync`]).
#[derive(Debug)]
pub struct PreparedSync {
    generation: u64,
    report: SyncReport,
    /// Changed records by slot order, then the added ones.
    records: Vec<Merchant>,
    added: usize,
    updates: Vec<(u32, MerchantProfile, FieldSet)>,
    moves: Vec<(u32, Status, &'static str)>,
    now_us: u64,
}

impl PreparedSync {
    /// What applying will do, the added rows with their ids.
    pub fn report(&self) -> &SyncReport {
        &self.report
    }

    /// Every record applying changes or adds, as it will be.
    pub fn records(&self) -> &[Merchant] {
        &self.records
    }

    /// How many of [`PreparedSync::records`] are new merchants.
    pub fn added(&self) -> usize {
        self.added
    }
}

/// A sync read and diffed, not yet applied.
#[derive(Debug)]
pub struct SyncPlan {
    generation: u64,
    report: SyncReport,
    adds: Vec<PlannedAdd>,
    updates: Vec<(u32, MerchantProfile, FieldSet)>,
    moves: Vec<(u32, Status, &'static str)>,
}

impl SyncPlan {
    /// What applying would do (added rows have no id yet).
    pub fn report(&self) -> &SyncReport {
        &self.report
    }

    /// The report, for a plan that will not be applied (a dry run).
    pub fn into_report(self) -> SyncReport {
        self.report
    }

    /// The registry generation this plan applies to.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// Something to report about a row that was taken.
#[derive(Clone, Debug)]
enum Warn {
    LocationMissing,
    LocationInvalid {
        lat: String,
        lon: String,
        error: GeoError,
        kept: bool,
    },
    RevenueMissing,
    RevenueUnreadable {
        label: String,
        error: LabelError,
    },
    RevenueStraddles {
        label: String,
        threshold: Won,
    },
    BrnUnverified {
        brn: Brn,
    },
}

/// At most `n` characters of a cell, for messages.
fn clip(cell: &str, n: usize) -> String {
    let mut out: String = cell.chars().take(n).collect();
    if cell.chars().count() > n {
        out.push('…');
    }
    out
}

impl Warn {
    fn code(&self) -> &'static str {
        match self {
            Warn::LocationMissing => "location_missing",
            Warn::LocationInvalid { .. } => "location_invalid",
            Warn::RevenueMissing => "revenue_missing",
            Warn::RevenueUnreadable { .. } => "revenue_unreadable",
            Warn::RevenueStraddles { .. } => "revenue_straddles",
            Warn::BrnUnverified { .. } => "brn_unverified",
        }
    }

    fn message_ko(&self) -> String {
        const LOWEST_KO: &str =
            "매출을 모르는 것으로 두어 캐시백은 제도의 가장 낮은 비율이 적용됩니다.";
        match self {
            Warn::LocationMissing => {
                "위치(위도·경도)가 없습니다. 결제는 되지만 위치를 넣기 전에는 거리 검색에 나오지 않습니다.".into()
            }
            Warn::LocationInvalid {
                lat,
                lon,
                error,
                kept,
            } => format!(
                "위치({}, {})를 쓸 수 없습니다: {} {}",
                clip(lat, 20),
                clip(lon, 20),
                error.message_ko(),
                if *kept {
                    "기존 위치를 그대로 둡니다."
                } else {
                    "위치 없이 등록합니다. 결제는 되지만 고치기 전에는 거리 검색에 나오지 않습니다."
                }
            ),
            Warn::RevenueMissing => format!("매출 정보가 비어 있습니다. {LOWEST_KO}"),
            Warn::RevenueUnreadable { label, error } => format!(
                "매출 '{}'을(를) 읽을 수 없습니다 ({}). {LOWEST_KO}",
                clip(label, 40),
                error.message_ko()
            ),
            Warn::RevenueStraddles { label, threshold } => format!(
                "매출 구간 '{}'이(가) 제도의 기준 금액 {}에 걸쳐 있어 어느 비율인지 정할 수 없습니다. {LOWEST_KO}",
                clip(label, 40),
                crate::revenue::format_won_ko(*threshold)
            ),
            Warn::BrnUnverified { brn } => format!(
                "사업자등록번호 {brn}의 검증번호가 맞지 않아 '미확인'으로 적힌 그대로 등록합니다. 승인 대기 상태이며, 운영자가 번호를 확인하고 승인하기 전에는 결제할 수 없습니다."
            ),
        }
    }

    fn message_en(&self) -> String {
        const LOWEST_EN: &str =
            "revenue is treated as unknown, so the scheme's lowest cash-back rate applies.";
        match self {
            Warn::LocationMissing => {
                "No location (latitude/longitude): payable, but not found by distance until one is added.".into()
            }
            Warn::LocationInvalid {
                lat,
                lon,
                error,
                kept,
            } => format!(
                "The location ({}, {}) cannot be used: {error}; {}",
                clip(lat, 20),
                clip(lon, 20),
                if *kept {
                    "the location on record is kept."
                } else {
                    "imported without a location: payable, but not found by distance until fixed."
                }
            ),
            Warn::RevenueMissing => format!("No revenue given: {LOWEST_EN}"),
            Warn::RevenueUnreadable { label, error } => {
                format!("The revenue '{}' cannot be read ({error}): {LOWEST_EN}", clip(label, 40))
            }
            Warn::RevenueStraddles { label, threshold } => format!(
                "The revenue band '{}' spans the scheme's threshold of {} won, so no single rate applies: {LOWEST_EN}",
                clip(label, 40),
                threshold.get()
            ),
            Warn::BrnUnverified { brn } => format!(
                "The check digit of business registration number {brn} is wrong: imported as written, marked unverified and awaiting review; not payable until an operator checks the number and approves it."
            ),
        }
    }

    fn note(&self, line: u64, brn: Brn, id: Option<MerchantId>) -> RowNote {
        RowNote {
            line,
            brn,
            id,
            code: self.code().to_owned(),
            message_ko: self.message_ko(),
            message_en: self.message_en(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Col {
    Brn,
    Name,
    NameEn,
    Mcc,
    Category,
    AnnualRevenue,
    RevenueBand,
    Road,
    Jibun,
    Sido,
    Sigungu,
    Lat,
    Lon,
    Status,
    Hours,
    Accepts,
    LegacyQr,
    Ignored,
}

const COL_COUNT: usize = 17;

const HEADERS: &[(Col, &[&str])] = &[
    (
        Col::Brn,
        &[
            "사업자등록번호",
            "사업자번호",
            "brn",
            "businessregistrationnumber",
            "bizno",
        ],
    ),
    (
        Col::Name,
        &[
            "상호명",
            "상호",
            "가맹점명",
            "업소명",
            "사업장명",
            "업체명",
            "가맹점상호",
            "name",
            "merchantname",
            "businessname",
        ],
    ),
    (
        Col::NameEn,
        &[
            "영문상호",
            "영문상호명",
            "영문명",
            "nameen",
            "englishname",
            "romanizedname",
        ],
    ),
    (Col::Mcc, &["mcc", "업종코드", "가맹점업종코드"]),
    (
        Col::Category,
        &[
            "category",
            "schemecategory",
            "분류코드",
            "업종분류코드",
            "카테고리",
        ],
    ),
    (
        Col::AnnualRevenue,
        &[
            "연매출",
            "연매출액",
            "연간매출",
            "연간매출액",
            "매출액",
            "annualrevenue",
            "revenuewon",
        ],
    ),
    (
        Col::RevenueBand,
        &[
            "매출구간",
            "매출규모",
            "매출액구간",
            "연매출구간",
            "매출등급",
            "revenueband",
        ],
    ),
    (
        Col::Road,
        &[
            "도로명주소",
            "소재지도로명주소",
            "주소",
            "가맹점주소",
            "사업장주소",
            "roadaddress",
            "address",
        ],
    ),
    (
        Col::Jibun,
        &["지번주소", "소재지지번주소", "jibunaddress", "lotaddress"],
    ),
    (Col::Sido, &["시도", "시도명", "sido", "province"]),
    (Col::Sigungu, &["시군구", "시군구명", "sigungu", "district"]),
    (Col::Lat, &["위도", "latitude", "lat"]),
    (Col::Lon, &["경도", "longitude", "lon", "lng"]),
    (
        Col::Status,
        &["영업상태", "영업상태명", "상태", "status", "businessstatus"],
    ),
    (Col::Hours, &["영업시간", "hours", "openinghours"]),
    (
        Col::Accepts,
        &["사용가능재원", "결제가능재원", "accepts", "acceptedsources"],
    ),
    (
        Col::LegacyQr,
        &[
            "기존qr",
            "기존qr코드",
            "이전qr",
            "이전qr코드",
            "qrpayload",
            "previousqr",
            "legacyqr",
        ],
    ),
    (Col::Ignored, &["전화번호", "연락처", "phone", "tel"]),
];

fn col_name(c: Col) -> &'static str {
    HEADERS
        .iter()
        .find(|(col, _)| *col == c)
        .and_then(|(_, names)| names.first().copied())
        .unwrap_or("?")
}

fn normalize_header(h: &str) -> String {
    h.trim_start_matches('\u{FEFF}')
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Where each field is in a row.
#[derive(Debug)]
struct Columns {
    index: [Option<usize>; COL_COUNT],
    width: usize,
    /// The unit the annual revenue header gives bare numbers (`연매출(천원)`: "천").
    revenue_unit: Option<&'static str>,
}

/// The unit word a header's bracket note gives amounts: `천원` → `천`.
fn won_unit(note: &str) -> Option<&'static str> {
    match note {
        "원" | "won" => Some(""),
        "천원" => Some("천"),
        "만원" => Some("만"),
        "백만원" => Some("백만"),
        "억원" => Some("억"),
        _ => None,
    }
}

impl Columns {
    fn from_header(header: &csv::StringRecord) -> Result<(Columns, Vec<String>), SyncError> {
        let mut index = [None; COL_COUNT];
        let mut ignored = Vec::new();
        let mut revenue_unit = None;
        let find = |n: &str| {
            HEADERS
                .iter()
                .find(|(_, names)| names.contains(&n))
                .map(|(c, _)| *c)
        };
        for (i, h) in header.iter().enumerate() {
            let n = normalize_header(h);
            // `연매출(천원)`, `위도(y)`: a note in brackets after a known name.
            let (col, unit) = match find(&n) {
                Some(c) => (Some(c), None),
                None => match n.strip_suffix(')').and_then(|x| x.split_once('(')) {
                    Some((base, note)) => (find(base), won_unit(note)),
                    None => (None, None),
                },
            };
            match col {
                None | Some(Col::Ignored) => ignored.push(h.trim().to_string()),
                Some(c) => {
                    let slot = &mut index[c as usize];
                    if slot.is_some() {
                        return Err(SyncError::DuplicateColumn(col_name(c)));
                    }
                    *slot = Some(i);
                    if c == Col::AnnualRevenue {
                        revenue_unit = unit;
                    }
                }
            }
        }
        let cols = Columns {
            index,
            width: header.len(),
            revenue_unit,
        };
        for required in [Col::Brn, Col::Name] {
            if !cols.has(required) {
                return Err(SyncError::MissingColumn(col_name(required)));
            }
        }
        if cols.has(Col::Lat) != cols.has(Col::Lon) {
            let missing = if cols.has(Col::Lat) {
                Col::Lon
            } else {
                Col::Lat
            };
            return Err(SyncError::MissingColumn(col_name(missing)));
        }
        Ok((cols, ignored))
    }

    fn has(&self, c: Col) -> bool {
        self.index[c as usize].is_some()
    }

    /// The trimmed cell, `None` if the file has no such column.
    fn get<'r>(&self, row: &'r csv::StringRecord, c: Col) -> Option<&'r str> {
        self.index[c as usize].map(|i| row.get(i).unwrap_or("").trim())
    }
}

fn optional_text(cell: &str) -> Option<String> {
    (!cell.is_empty()).then(|| cell.to_string())
}

fn set_text(slot: &mut Option<String>, cell: &str) {
    if slot.as_deref() != Some(cell) || cell.is_empty() {
        *slot = optional_text(cell);
    }
}

/// "부산광역시 해운대구 해운대로 123" → ("부산광역시", "해운대구"); "경기도 수원시 팔달구
/// 정조로 825" → ("경기도", "수원시 팔달구").
pub fn region_from_address(address: &str) -> (Option<String>, Option<String>) {
    let mut tokens = address.split_whitespace();
    let Some(sido) = tokens
        .next()
        .filter(|t| t.ends_with('시') || t.ends_with('도'))
    else {
        return (None, None);
    };
    let sigungu = tokens
        .next()
        .filter(|t| t.ends_with('시') || t.ends_with('군') || t.ends_with('구'));
    let sigungu = sigungu.map(|s| match tokens.next() {
        Some(gu) if s.ends_with('시') && gu.ends_with('구') => format!("{s} {gu}"),
        _ => s.to_string(),
    });
    (Some(sido.to_string()), sigungu)
}

/// Writes the row's present columns over `p`; what the operator should know about the
/// row goes to `warns` (kept only if the row is taken).
fn fill_profile(
    p: &mut MerchantProfile,
    row: &csv::StringRecord,
    cols: &Columns,
    options: &SyncOptions<'_>,
    bands: &RevenueBands,
    warns: &mut Vec<Warn>,
) -> Result<(), RowError> {
    if let Some(name) = cols.get(row, Col::Name) {
        if name.is_empty() {
            return Err(FieldError::MissingName.into());
        }
        if p.name != name {
            p.name = name.to_string();
        }
    }
    if let Some(c) = cols.get(row, Col::NameEn) {
        set_text(&mut p.name_en, c);
    }
    if let Some(c) = cols.get(row, Col::Mcc) {
        p.mcc = if c.is_empty() {
            None
        } else {
            Some(Mcc::parse(c)?)
        };
    }
    if let Some(c) = cols.get(row, Col::Category) {
        p.category = if c.is_empty() {
            None
        } else {
            Some(c.parse::<u16>().map_err(|_| FieldError::BadCategory)?)
        };
    }
    if cols.has(Col::AnnualRevenue) || cols.has(Col::RevenueBand) {
        fill_revenue(p, row, cols, options, bands, warns);
    }
    if let Some(c) = cols.get(row, Col::Road) {
        set_text(&mut p.road_address, c);
    }
    if let Some(c) = cols.get(row, Col::Jibun) {
        set_text(&mut p.jibun_address, c);
    }
    if cols.has(Col::Sido) || cols.has(Col::Sigungu) {
        if let Some(c) = cols.get(row, Col::Sido) {
            set_text(&mut p.sido, c);
        }
        if let Some(c) = cols.get(row, Col::Sigungu) {
            set_text(&mut p.sigungu, c);
        }
    } else if cols.has(Col::Road) || cols.has(Col::Jibun) {
        let address = p.road_address.as_deref().or(p.jibun_address.as_deref());
        let (sido, sigungu) = address.map(region_from_address).unwrap_or((None, None));
        p.sido = sido;
        p.sigungu = sigungu;
    }
    let mut location_unreadable = false;
    if let (Some(lat), Some(lon)) = (cols.get(row, Col::Lat), cols.get(row, Col::Lon)) {
        let parsed = match (lat.is_empty(), lon.is_empty()) {
            (true, true) => Ok(None),
            (false, false) => GeoPoint::parse(lat, lon).map(Some),
            _ => Err(GeoError::Half),
        };
        match parsed {
            Ok(point) => p.location = point,
            // Garbage is no information: a known location stays, a new merchant has none.
            Err(error) => {
                location_unreadable = true;
                warns.push(Warn::LocationInvalid {
                    lat: lat.to_owned(),
                    lon: lon.to_owned(),
                    error,
                    kept: p.location.is_some(),
                });
            }
        }
    }
    if p.location.is_none() && !location_unreadable {
        warns.push(Warn::LocationMissing);
    }
    if let Some(c) = cols.get(row, Col::Hours) {
        p.hours = if c.is_empty() {
            None
        } else {
            Some(OpeningHours::parse(c)?)
        };
    }
    if let Some(c) = cols.get(row, Col::Accepts)
        && !c.is_empty()
    {
        p.accepts = SourceMask::parse(c)?;
    }
    p.validate()?;
    Ok(())
}

/// The revenue columns: the amount column first, then the band; what cannot be read, is
/// empty, or straddles a threshold of the scheme leaves or makes the revenue unknown and
/// says so. Never a generous default.
fn fill_revenue(
    p: &mut MerchantProfile,
    row: &csv::StringRecord,
    cols: &Columns,
    options: &SyncOptions<'_>,
    bands: &RevenueBands,
    warns: &mut Vec<Warn>,
) {
    let mut unreadable: Option<(&str, LabelError)> = None;
    let mut read: Option<(Revenue, &str)> = None;
    for col in [Col::AnnualRevenue, Col::RevenueBand] {
        let cell = cols.get(row, col).unwrap_or("");
        if cell.is_empty() || read.is_some() {
            continue;
        }
        // A bare number under `연매출(천원)` is in thousands of won.
        let scaled = match cols.revenue_unit {
            Some(unit)
                if col == Col::AnnualRevenue
                    && cell
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == ',' || c == '.') =>
            {
                Cow::Owned(format!("{cell}{unit}"))
            }
            _ => Cow::Borrowed(cell),
        };
        match bands.read(&scaled) {
            Ok(r) => read = Some((r, cell)),
            Err(e) => {
                unreadable.get_or_insert((cell, e));
            }
        }
    }
    match (read, unreadable) {
        (Some((r, label)), _) => {
            // A band that agrees with a known amount keeps the amount.
            p.revenue = match p.revenue {
                Some(Revenue::AnnualWon(w))
                    if !matches!(r, Revenue::AnnualWon(_)) && r.range().contains(w) =>
                {
                    Some(Revenue::AnnualWon(w))
                }
                _ => Some(r),
            };
            if let Some(r) = p.revenue
                && let Err(threshold) = r.range().decide(options.revenue_thresholds)
            {
                warns.push(Warn::RevenueStraddles {
                    label: label.to_owned(),
                    threshold,
                });
            }
        }
        (None, Some((label, error))) => {
            p.revenue = None;
            warns.push(Warn::RevenueUnreadable {
                label: label.to_owned(),
                error,
            });
        }
        (None, None) => {
            p.revenue = None;
            warns.push(Warn::RevenueMissing);
        }
    }
}

impl Registry {
    /// Reads a registry file and diffs it against the registry, changing nothing.
    pub fn plan_sync(
        &self,
        bytes: &[u8],
        options: &SyncOptions<'_>,
    ) -> Result<SyncPlan, SyncError> {
        if bytes.is_empty() {
            return Err(SyncError::EmptyFile);
        }
        if bytes.len() > SYNC_FILE_BYTES_MAX {
            return Err(SyncError::FileTooLarge {
                max: SYNC_FILE_BYTES_MAX,
            });
        }
        let (text, encoding) = decode(bytes);
        let builtin = RevenueBands::new();
        let bands = options.revenue_bands.unwrap_or(&builtin);
        let mut lines = LineCounter::new(text.as_bytes());
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut record = csv::StringRecord::new();
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Err(SyncError::EmptyFile),
            Err(e) => return Err(SyncError::BadHeader(e.to_string())),
        }
        let (cols, ignored_columns) = Columns::from_header(&record)?;

        let mut plan = SyncPlan {
            generation: self.generation,
            report: SyncReport {
                encoding,
                rows: 0,
                added: Vec::new(),
                changed: Vec::new(),
                suspended: Vec::new(),
                resumed: Vec::new(),
                reopened: Vec::new(),
                closed: Vec::new(),
                held: Vec::new(),
                unchanged: 0,
                unchanged_rows: Vec::new(),
                skipped_closed: 0,
                skipped_closed_rows: Vec::new(),
                absent: Vec::new(),
                rejected: Vec::new(),
                warnings: Vec::new(),
                legacy_qr: Vec::new(),
                ignored_columns,
            },
            adds: Vec::new(),
            updates: Vec::new(),
            moves: Vec::new(),
        };
        let mut seen: FxHashMap<Brn, u64> =
            FxHashMap::with_capacity_and_hasher(self.len().max(1024), Default::default());
        let mut last_position = u64::MAX;
        loop {
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    // The csv reader resumes after a bad record; if it did not move, stop
                    // rather than loop.
                    let at = reader.position().byte();
                    let line = lines.line_at(e.position().map_or(at, |p| p.byte()));
                    plan.report.rows += 1;
                    let error = RowError::Csv(e.to_string());
                    plan.report.rejected.push(RejectedRow {
                        line,
                        brn: None,
                        field: None,
                        code: error.code().to_string(),
                        message_ko: error.message_ko(),
                        message_en: error.to_string(),
                    });
                    if at == last_position {
                        break;
                    }
                    last_position = at;
                    continue;
                }
            }
            let line = lines.line_at(record.position().map_or(0, |p| p.byte()));
            plan.report.rows += 1;
            if plan.report.rows as usize > SYNC_ROWS_MAX {
                return Err(SyncError::TooManyRows { max: SYNC_ROWS_MAX });
            }
            let row = RowContext {
                line,
                cols: &cols,
                options,
                bands,
            };
            if let Err(e) = self.plan_row(&record, &row, &mut seen, &mut plan) {
                let brn = cols.get(&record, Col::Brn).filter(|b| !b.is_empty());
                plan.report.rejected.push(RejectedRow {
                    line,
                    brn: brn.map(|b| b.chars().take(40).collect()),
                    field: e.field().map(str::to_owned),
                    code: e.code().to_string(),
                    message_ko: e.message_ko(),
                    message_en: e.to_string(),
                });
            }
        }
        plan.report.absent = self
            .merchants
            .iter()
            .filter(|m| matches!(m.status, Status::Approved | Status::Suspended))
            .filter(|m| !seen.contains_key(&m.brn))
            .map(|m| AbsentRow {
                id: m.id,
                brn: m.brn,
            })
            .collect();
        Ok(plan)
    }

    fn plan_row(
        &self,
        row: &csv::StringRecord,
        ctx: &RowContext<'_, '_>,
        seen: &mut FxHashMap<Brn, u64>,
        plan: &mut SyncPlan,
    ) -> Result<(), RowError> {
        let (line, cols, options) = (ctx.line, ctx.cols, ctx.options);
        // Cells past the header's width are allowed when empty (a trailing comma).
        let extra_empty =
            row.len() > cols.width && row.iter().skip(cols.width).all(|c| c.trim().is_empty());
        if row.len() != cols.width && !extra_empty {
            return Err(RowError::WrongColumnCount {
                expected: cols.width,
                found: row.len(),
            });
        }
        if row.iter().any(|cell| cell.contains('\u{FFFD}')) {
            return Err(RowError::BadEncoding);
        }
        let brn_cell = cols.get(row, Col::Brn).unwrap_or("");
        let (brn, brn_unverified) = match Brn::parse(brn_cell) {
            Ok(b) => (b, false),
            Err(BrnError::Checksum) if options.unverified_brn => {
                (Brn::parse_unverified(brn_cell)?, true)
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(&first_line) = seen.get(&brn) {
            return Err(RowError::DuplicateBrn { first_line });
        }
        seen.insert(brn, line);
        let file_status = match cols.get(row, Col::Status) {
            None | Some("") => None,
            Some(s) => Some(
                RegistryStatus::parse(s)
                    .ok_or_else(|| RowError::UnknownStatus(s.chars().take(20).collect()))?,
            ),
        };
        let legacy_qr = cols
            .get(row, Col::LegacyQr)
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        let mut warns = Vec::new();
        let report = &mut plan.report;
        let id = match self.by_brn.get(&brn).copied() {
            None => {
                let mut profile = MerchantProfile::named("");
                profile.accepts = options.default_accepts;
                fill_profile(&mut profile, row, cols, options, ctx.bands, &mut warns)?;
                let status = match (file_status, brn_unverified, options.new_status) {
                    (Some(RegistryStatus::Gone), _, _) => {
                        report.skipped_closed += 1;
                        report.skipped_closed_rows.push(SkippedRow { line, brn });
                        return Ok(());
                    }
                    (_, true, _) | (_, _, NewStatus::Applied) => Status::Applied,
                    (Some(RegistryStatus::Paused), _, _) => Status::Suspended,
                    (Some(RegistryStatus::Open) | None, _, _) => Status::Approved,
                };
                let reason = if brn_unverified {
                    "registry sync: unverified BRN, awaiting review"
                } else if status == Status::Applied {
                    "registry sync: awaiting review"
                } else {
                    file_status.unwrap_or(RegistryStatus::Open).reason()
                };
                plan.adds.push(PlannedAdd {
                    report_index: report.added.len(),
                    brn,
                    brn_unverified,
                    profile,
                    status,
                    reason,
                });
                report.added.push(AddedRow {
                    line,
                    brn,
                    id: None,
                    status,
                    brn_unverified,
                });
                None
            }
            Some(slot) => {
                let m = &self.merchants[slot as usize];
                let mut profile = m.profile.clone();
                fill_profile(&mut profile, row, cols, options, ctx.bands, &mut warns)?;
                let fields = m.profile.diff(&profile);
                let mut quiet = true;
                if !fields.is_empty() {
                    quiet = false;
                    report.changed.push(ChangedRow {
                        line,
                        id: m.id,
                        brn,
                        fields,
                    });
                    plan.updates.push((slot, profile, fields));
                }
                if let Some(fs) = file_status {
                    let row_status = StatusRow {
                        line,
                        id: m.id,
                        brn,
                        from: m.status,
                    };
                    match reconcile(m.status, m.last_change.by, fs) {
                        Reconcile::Keep => {}
                        Reconcile::Held => {
                            quiet = false;
                            report.held.push(HeldRow {
                                line,
                                id: m.id,
                                brn,
                                status: m.status,
                                registry_status: fs,
                            });
                        }
                        Reconcile::Move(to) => {
                            quiet = false;
                            plan.moves.push((slot, to, fs.reason()));
                            match (m.status, to) {
                                (_, Status::Suspended) => report.suspended.push(row_status),
                                (Status::Suspended, Status::Approved) => {
                                    report.resumed.push(row_status)
                                }
                                (_, Status::Approved) => report.reopened.push(row_status),
                                _ => report.closed.push(row_status),
                            }
                        }
                    }
                }
                if quiet {
                    report.unchanged += 1;
                    report.unchanged_rows.push(UnchangedRow {
                        line,
                        id: m.id,
                        brn,
                    });
                }
                Some(m.id)
            }
        };
        if brn_unverified {
            warns.push(Warn::BrnUnverified { brn });
        }
        report
            .warnings
            .extend(warns.iter().map(|w| w.note(line, brn, id)));
        if let Some(payload) = legacy_qr {
            report.legacy_qr.push(LegacyQrRow {
                line,
                brn,
                id,
                payload,
            });
        }
        Ok(())
    }

    /// Applies a plan made by [`Registry::plan_sync`] on this same generation. Ids for new
    /// merchants are all allocated before anything changes, so a failure (stale plan,
    /// exhausted or colliding allocator) leaves the registry untouched.
    pub fn apply_sync(
        &mut self,
        plan: SyncPlan,
        ids: &mut dyn IdAllocator,
        now_us: u64,
    ) -> Result<SyncReport, DirectoryError> {
        let prepared = self.prepare_sync(plan, ids, now_us)?;
        self.commit_sync(prepared)
    }

    /// The first half of [`Registry::apply_sync`], changing nothing: allocates the new
    /// merchants' ids and answers every record as applying will leave it, so a caller
    /// can write them to its store before the registry serves them
    /// ([`Registry::commit_sync`] then applies exactly that).
    pub fn prepare_sync(
        &self,
        plan: SyncPlan,
        ids: &mut dyn IdAllocator,
        now_us: u64,
    ) -> Result<PreparedSync, DirectoryError> {
        if plan.generation != self.generation {
            return Err(DirectoryError::StalePlan);
        }
        if self.len().saturating_add(plan.adds.len()) > MERCHANTS_MAX {
            return Err(DirectoryError::Full(MERCHANTS_MAX));
        }
        let mut new_ids = Vec::with_capacity(plan.adds.len());
        let mut fresh = FxHashSet::default();
        for _ in &plan.adds {
            let id = ids.allocate().ok_or(DirectoryError::IdAllocatorExhausted)?;
            if self.by_id.contains_key(&id) || !fresh.insert(id) {
                return Err(DirectoryError::IdTaken(id));
            }
            new_ids.push(id);
        }
        let SyncPlan {
            generation,
            mut report,
            adds,
            updates,
            moves,
        } = plan;
        // Every record the plan touches, as it will be: profiles first, then moves, as
        // `commit_sync` applies them.
        let mut after: FxHashMap<u32, Merchant> = FxHashMap::default();
        for (slot, profile, _) in &updates {
            if let Some(m) = self.merchants.get(*slot as usize) {
                let m = after.entry(*slot).or_insert_with(|| m.clone());
                m.profile = profile.clone();
            }
        }
        for (slot, to, reason) in &moves {
            if let Some(m) = self.merchants.get(*slot as usize) {
                let m = after.entry(*slot).or_insert_with(|| m.clone());
                crate::registry::move_status(m, *to, reason, Actor::RegistrySync, now_us);
            }
        }
        let mut slots: Vec<u32> = after.keys().copied().collect();
        slots.sort_unstable();
        let mut records: Vec<Merchant> = slots
            .into_iter()
            .filter_map(|slot| after.remove(&slot))
            .collect();
        let added = adds.len();
        let mut added_by_line: FxHashMap<u64, MerchantId> = FxHashMap::default();
        for (add, id) in adds.into_iter().zip(new_ids) {
            if let Some(row) = report.added.get_mut(add.report_index) {
                row.id = Some(id);
                added_by_line.insert(row.line, id);
            }
            records.push(Merchant {
                id,
                brn: add.brn,
                profile: add.profile,
                status: add.status,
                last_change: StatusChange {
                    from: None,
                    reason: add.reason.to_string(),
                    at_us: now_us,
                    by: Actor::RegistrySync,
                },
                brn_unverified: add.brn_unverified,
            });
        }
        // Notes and QR payloads of added rows now know their merchant.
        for note in report.warnings.iter_mut().filter(|n| n.id.is_none()) {
            note.id = added_by_line.get(&note.line).copied();
        }
        for qr in report.legacy_qr.iter_mut().filter(|q| q.id.is_none()) {
            qr.id = added_by_line.get(&qr.line).copied();
        }
        Ok(PreparedSync {
            generation,
            report,
            records,
            added,
            updates,
            moves,
            now_us,
        })
    }

    /// Applies a [`PreparedSync`] made on this same generation: the records become
    /// exactly [`PreparedSync::records`].
    pub fn commit_sync(&mut self, prepared: PreparedSync) -> Result<SyncReport, DirectoryError> {
        if prepared.generation != self.generation {
            return Err(DirectoryError::StalePlan);
        }
        let PreparedSync {
            report,
            mut records,
            added,
            updates,
            moves,
            now_us,
            ..
        } = prepared;
        let adds = records.split_off(records.len().saturating_sub(added));
        let changed_anything = !adds.is_empty() || !updates.is_empty() || !moves.is_empty();
        for (slot, profile, fields) in updates {
            self.set_profile_unchecked(slot, profile, fields);
        }
        for (slot, to, reason) in moves {
            self.set_status_unchecked(slot, to, reason, Actor::RegistrySync, now_us);
        }
        // Many additions at once (a first import): rebuild the R-tree in bulk at the end.
        let bulk = adds.len() > 1_000 && adds.len() > self.spatial.size() / 4;
        let mut keys = Vec::new();
        for m in adds {
            self.insert_unchecked(m, &mut keys, !bulk);
        }
        if bulk {
            self.rebuild_spatial();
        }
        if changed_anything {
            self.generation += 1;
        }
        Ok(report)
    }

    /// Plans and applies in one call (no review step).
    pub fn sync(
        &mut self,
        bytes: &[u8],
        options: &SyncOptions<'_>,
        ids: &mut dyn IdAllocator,
        now_us: u64,
    ) -> Result<SyncReport, DirectoryError> {
        let plan = self.plan_sync(bytes, options)?;
        self.apply_sync(plan, ids, now_us)
    }
}

/// What every row of one file shares.
struct RowContext<'c, 'o> {
    line: u64,
    cols: &'c Columns,
    options: &'c SyncOptions<'o>,
    bands: &'c RevenueBands,
}

// ----- the row report -----------------------------------------------------------------

/// One outcome of one row, for people: what [`SyncReport::rows`] gives and
/// [`report_csv`] writes. A row can have several (changed and suspended, a warning).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReportRow {
    /// The file's line (header = 1); `None` for merchants the file does not mention.
    pub line: Option<u64>,
    pub brn: Option<String>,
    /// `added`, `changed`, `unchanged`, `suspended`, `resumed`, `reopened`, `closed`,
    /// `held`, `skipped`, `rejected`, `warning`, `absent` (and `alias`, added by the
    /// server for the QR payload column).
    pub outcome: String,
    /// Stable code: the outcome itself, or the rejection's or warning's code.
    pub code: String,
    pub message_ko: String,
    pub message_en: String,
    pub merchant_id: Option<MerchantId>,
    /// A rejected row's field at fault, when it is one field's (not in the CSV report,
    /// whose columns are fixed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

fn status_ko(s: Status) -> &'static str {
    match s {
        Status::Applied => "승인 대기",
        Status::Approved => "승인",
        Status::Suspended => "정지",
        Status::Closed => "폐업",
    }
}

fn field_ko(f: Field) -> &'static str {
    match f {
        Field::Name => "상호명",
        Field::NameEn => "영문상호",
        Field::Mcc => "업종코드",
        Field::Category => "분류코드",
        Field::Revenue => "매출",
        Field::RoadAddress => "도로명주소",
        Field::JibunAddress => "지번주소",
        Field::Sido => "시도",
        Field::Sigungu => "시군구",
        Field::Location => "위치",
        Field::Hours => "영업시간",
        Field::Accepts => "사용가능재원",
    }
}

fn field_en(f: Field) -> &'static str {
    match f {
        Field::Name => "name",
        Field::NameEn => "English name",
        Field::Mcc => "MCC",
        Field::Category => "category",
        Field::Revenue => "revenue",
        Field::RoadAddress => "road address",
        Field::JibunAddress => "jibun address",
        Field::Sido => "sido",
        Field::Sigungu => "sigungu",
        Field::Location => "location",
        Field::Hours => "hours",
        Field::Accepts => "accepted sources",
    }
}

impl ReportRow {
    #[allow(clippy::too_many_arguments)]
    fn of(
        line: Option<u64>,
        brn: Option<String>,
        outcome: &str,
        code: &str,
        ko: String,
        en: String,
        id: Option<MerchantId>,
    ) -> ReportRow {
        ReportRow {
            line,
            brn,
            outcome: outcome.to_owned(),
            code: code.to_owned(),
            message_ko: ko,
            message_en: en,
            merchant_id: id,
            field: None,
        }
    }
}

impl SyncReport {
    /// Every outcome of every row, by line (merchants the file does not mention last).
    pub fn rows(&self) -> Vec<ReportRow> {
        let mut out = Vec::with_capacity(
            (self.rows as usize)
                .saturating_add(self.warnings.len())
                .saturating_add(self.absent.len())
                .min(SYNC_ROWS_MAX),
        );
        let brn = |b: &Brn| Some(b.to_string());
        for r in &self.rejected {
            out.push(ReportRow {
                field: r.field.clone(),
                ..ReportRow::of(
                    Some(r.line),
                    r.brn.clone(),
                    "rejected",
                    &r.code,
                    r.message_ko.clone(),
                    r.message_en.clone(),
                    None,
                )
            });
        }
        for a in &self.added {
            let unverified_ko = if a.brn_unverified {
                ", 사업자등록번호 미확인"
            } else {
                ""
            };
            let unverified_en = if a.brn_unverified {
                ", BRN unverified"
            } else {
                ""
            };
            out.push(ReportRow::of(
                Some(a.line),
                brn(&a.brn),
                "added",
                "added",
                format!(
                    "새 가맹점입니다 (상태: {}{unverified_ko}).",
                    status_ko(a.status)
                ),
                format!(
                    "New merchant (status: {}{unverified_en}).",
                    a.status.as_str()
                ),
                a.id,
            ));
        }
        for c in &self.changed {
            let ko: Vec<&str> = c.fields.iter().map(field_ko).collect();
            let en: Vec<&str> = c.fields.iter().map(field_en).collect();
            out.push(ReportRow::of(
                Some(c.line),
                brn(&c.brn),
                "changed",
                "changed",
                format!("바뀐 항목: {}.", ko.join(", ")),
                format!("Changed: {}.", en.join(", ")),
                Some(c.id),
            ));
        }
        let moves: [(&[StatusRow], &str, &str, &str); 4] = [
            (
                &self.suspended,
                "suspended",
                "파일에 휴업으로 되어 있어 결제를 정지합니다.",
                "휴업 in the file: payments are suspended.",
            ),
            (
                &self.resumed,
                "resumed",
                "파일에 영업으로 되어 있어 정지를 풉니다.",
                "영업 in the file: the suspension is lifted.",
            ),
            (
                &self.reopened,
                "reopened",
                "파일에 영업으로 되어 있어 같은 번호로 다시 엽니다.",
                "영업 in the file: reopened with the same id.",
            ),
            (
                &self.closed,
                "closed",
                "파일에 폐업으로 되어 있어 폐업 처리합니다.",
                "폐업 in the file: closed.",
            ),
        ];
        for (rows, outcome, ko, en) in moves {
            for r in rows {
                out.push(ReportRow::of(
                    Some(r.line),
                    brn(&r.brn),
                    outcome,
                    outcome,
                    ko.to_owned(),
                    en.to_owned(),
                    Some(r.id),
                ));
            }
        }
        for h in &self.held {
            out.push(ReportRow::of(
                Some(h.line),
                brn(&h.brn),
                "held",
                "held",
                format!(
                    "파일에는 {}(으)로 되어 있지만 운영자가 정한 상태({})를 그대로 둡니다.",
                    h.registry_status.label_ko(),
                    status_ko(h.status)
                ),
                format!(
                    "The file says {}, but the operator's decision ({}) stands.",
                    h.registry_status.label_ko(),
                    h.status.as_str()
                ),
                Some(h.id),
            ));
        }
        for u in &self.unchanged_rows {
            out.push(ReportRow::of(
                Some(u.line),
                brn(&u.brn),
                "unchanged",
                "unchanged",
                "바뀐 것이 없습니다.".into(),
                "No change.".into(),
                Some(u.id),
            ));
        }
        for s in &self.skipped_closed_rows {
            out.push(ReportRow::of(
                Some(s.line),
                brn(&s.brn),
                "skipped",
                "skipped_closed",
                "폐업으로 되어 있는 새 가맹점이라 등록하지 않습니다.".into(),
                "Closed (폐업) and not known here: not added.".into(),
                None,
            ));
        }
        for w in &self.warnings {
            out.push(ReportRow::of(
                Some(w.line),
                brn(&w.brn),
                "warning",
                &w.code,
                w.message_ko.clone(),
                w.message_en.clone(),
                w.id,
            ));
        }
        // Stable: a line's main outcome stays before its warnings.
        out.sort_by_key(|r| r.line.unwrap_or(u64::MAX));
        for a in &self.absent {
            out.push(ReportRow::of(
                None,
                brn(&a.brn),
                "absent",
                "absent",
                "파일에 없는 가맹점입니다. 폐업 처리하지 않았습니다 (운영자가 결정합니다).".into(),
                "Not in the file; not closed (an operator decides).".into(),
                Some(a.id),
            ));
        }
        out
    }
}

/// A cell that a spreadsheet would run as a formula is shown as text.
fn spreadsheet_safe(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// The row report as CSV for people: UTF-8 with a BOM (so Excel reads the Korean),
/// columns `line,brn,outcome,code,message_ko,message_en,merchant_id`.
pub fn report_csv(rows: &[ReportRow]) -> Vec<u8> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    let mut w = csv::WriterBuilder::new().from_writer(&mut out);
    // Writing to a Vec cannot fail.
    let _ = w.write_record([
        "line",
        "brn",
        "outcome",
        "code",
        "message_ko",
        "message_en",
        "merchant_id",
    ]);
    for r in rows {
        let line = r.line.map(|l| l.to_string()).unwrap_or_default();
        let id = r.merchant_id.map(|m| m.0.to_string()).unwrap_or_default();
        let _ = w.write_record([
            line.as_str(),
            &spreadsheet_safe(r.brn.as_deref().unwrap_or("")),
            &r.outcome,
            &r.code,
            &spreadsheet_safe(&r.message_ko),
            &spreadsheet_safe(&r.message_en),
            id.as_str(),
        ]);
    }
    let _ = w.flush();
    drop(w);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_from_address_examples() {
        let check = |a: &str, sido: Option<&str>, sigungu: Option<&str>| {
            assert_eq!(
                region_from_address(a),
                (sido.map(String::from), sigungu.map(String::from)),
                "{a}"
            );
        };
        check(
            "부산광역시 해운대구 해운대로 123",
            Some("부산광역시"),
            Some("해운대구"),
        );
        check(
            "경기도 수원시 팔달구 정조로 825",
            Some("경기도"),
            Some("수원시 팔달구"),
        );
        check(
            "충청남도 부여군 부여읍 사비로 1",
            Some("충청남도"),
            Some("부여군"),
        );
        check(
            "세종특별자치시 한누리대로 2130",
            Some("세종특별자치시"),
            None,
        );
        check("123 Main St", None, None);
    }

    #[test]
    fn reconcile_table() {
        use Actor::*;
        use Reconcile::*;
        use RegistryStatus::*;
        use Status::*;
        let check = |cur, by, file, expected| {
            assert_eq!(
                reconcile(cur, by, file),
                expected,
                "{cur:?} {by:?} {file:?}"
            );
        };
        check(Approved, Operator, Open, Keep);
        check(Applied, Operator, Open, Keep);
        check(Suspended, RegistrySync, Open, Move(Approved));
        check(Suspended, Operator, Open, Held);
        check(Closed, RegistrySync, Open, Move(Approved));
        check(Closed, Operator, Open, Held);
        check(Approved, Operator, Paused, Move(Suspended));
        check(Suspended, Operator, Paused, Keep);
        check(Closed, RegistrySync, Paused, Keep);
        check(Applied, Operator, Paused, Keep);
        check(Suspended, Operator, Gone, Move(Closed));
        check(Applied, Operator, Gone, Move(Closed));
        check(Closed, Operator, Gone, Keep);
    }

    #[test]
    fn decode_detects_encodings() {
        let (t, e) = decode("상호명\n".as_bytes());
        assert_eq!((t.as_ref(), e), ("상호명\n", FileEncoding::Utf8));
        let (t, e) = decode("\u{FEFF}상호명\n".as_bytes());
        assert_eq!((t.as_ref(), e), ("상호명\n", FileEncoding::Utf8Bom));
        let (bytes, _, _) = encoding_rs::EUC_KR.encode("상호명,똠방각하\n");
        let (t, e) = decode(&bytes);
        assert_eq!((t.as_ref(), e), ("상호명,똠방각하\n", FileEncoding::EucKr));
    }
}
