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
//! - A bad row is rejected with its line number; it never stops the rest.
//! - Merchants missing from the file are reported as `absent`, never closed: an operator
//!   decides (a partial file must not close half a city).
//! - Columns the file does not have leave those fields as they are; a column that is
//!   present but empty in a row clears an optional field (except `accepts` and `status`,
//!   where empty means "not stated").
//! - A sync only undoes statuses a sync set: an operator's suspension is not lifted
//!   because the file says 영업 (reported as `held`). 폐업 in the file closes whatever the
//!   status.
//!
//! # Encodings
//! Bytes that are valid UTF-8 (with or without BOM) are UTF-8; anything else is decoded
//! as EUC-KR, which in the WHATWG encoding standard implemented by encoding_rs is
//! windows-949 (CP949/UHC), the superset Korean public data is exported in. A row with
//! bytes undecodable in either is rejected as `bad_encoding`.
//!
//! # Accepted headers
//! Matched after trimming, lower-casing and removing spaces, `_`, `-` and a BOM:
//!
//! | field | headers |
//! |---|---|
//! | BRN (required) | 사업자등록번호, 사업자번호, brn, business_registration_number, bizno |
//! | name (required) | 상호명, 상호, 가맹점명, 업소명, 사업장명, name, merchant_name, business_name |
//! | English name | 영문상호, 영문상호명, 영문명, name_en, english_name, romanized_name |
//! | MCC | mcc, 업종코드, 가맹점업종코드 |
//! | scheme category | category, scheme_category, 분류코드, 업종분류코드, 카테고리 |
//! | annual revenue (won) | 연매출, 연매출액, annual_revenue, revenue_won |
//! | revenue band | 매출구간, 매출규모, revenue_band (영세, 중소1..3, 일반) |
//! | road address | 도로명주소, 소재지도로명주소, road_address, address |
//! | 지번 address | 지번주소, 소재지지번주소, jibun_address, lot_address |
//! | 시도 | 시도, 시도명, sido, province |
//! | 시군구 | 시군구, 시군구명, sigungu, district |
//! | latitude / longitude | 위도 / 경도, latitude / longitude, lat / lon, lng |
//! | status | 영업상태, 영업상태명, 상태, status, business_status (영업·정상·운영 / 휴업·정지 / 폐업) |
//! | opening hours | 영업시간, hours, opening_hours (see [`crate::hours`]) |
//! | accepted sources | 사용가능재원, 결제가능재원, accepts, accepted_sources |
//! | ignored | 전화번호, 연락처, phone, tel, and any unknown header (listed in the report) |
//!
//! Without 시도/시군구 columns they are taken from the address ("부산광역시 해운대구 …").

use std::borrow::Cow;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::brn::Brn;
use crate::error::{DirectoryError, FieldError, GeoError, RowError, SyncError};
use crate::geo::GeoPoint;
use crate::hours::OpeningHours;
use crate::model::{
    Actor, FieldSet, Mcc, Merchant, MerchantId, MerchantProfile, Revenue, RevenueBand, SourceMask,
    Status, StatusChange,
};
use crate::registry::{MERCHANTS_MAX, Registry};

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
        match text.trim().to_ascii_lowercase().as_str() {
            "영업" | "영업중" | "정상" | "정상영업" | "운영" | "운영중" | "계속사업자" | "open"
            | "active" | "approved" => Some(RegistryStatus::Open),
            "휴업" | "휴업중" | "일시중지" | "정지" | "휴업자" | "paused" | "suspended" => {
                Some(RegistryStatus::Paused)
            }
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

/// Options of a sync.
#[derive(Clone, Copy, Debug)]
pub struct SyncOptions {
    /// What new merchants accept when the file has no sources column.
    pub default_accepts: SourceMask,
}

impl Default for SyncOptions {
    fn default() -> SyncOptions {
        SyncOptions {
            default_accepts: SourceMask::ALL,
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
    pub from: Status,
}

/// A merchant whose file status disagrees with an operator's decision, left as it is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeldRow {
    pub line: u64,
    pub id: MerchantId,
    pub status: Status,
    pub registry_status: RegistryStatus,
}

/// A rejected row.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RejectedRow {
    pub line: u64,
    /// The BRN cell as written, if there was one.
    pub brn: Option<String>,
    /// Stable code (`bad_brn_checksum`, `missing_name`, …).
    pub code: String,
    pub message: String,
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
    /// Rows of unknown merchants already 폐업: not added.
    pub skipped_closed: u64,
    /// Approved or suspended merchants the file does not mention.
    pub absent: Vec<MerchantId>,
    pub rejected: Vec<RejectedRow>,
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
    profile: MerchantProfile,
    status: Status,
    reason: &'static str,
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

    /// The registry generation this plan applies to.
    pub fn generation(&self) -> u64 {
        self.generation
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
    Ignored,
}

const COL_COUNT: usize = 16;

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
        &["연매출", "연매출액", "annualrevenue", "revenuewon"],
    ),
    (Col::RevenueBand, &["매출구간", "매출규모", "revenueband"]),
    (
        Col::Road,
        &["도로명주소", "소재지도로명주소", "roadaddress", "address"],
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
}

impl Columns {
    fn from_header(header: &csv::StringRecord) -> Result<(Columns, Vec<String>), SyncError> {
        let mut index = [None; COL_COUNT];
        let mut ignored = Vec::new();
        for (i, h) in header.iter().enumerate() {
            let n = normalize_header(h);
            let col = HEADERS
                .iter()
                .find(|(_, names)| names.contains(&n.as_str()))
                .map(|(c, _)| *c);
            match col {
                None | Some(Col::Ignored) => ignored.push(h.trim().to_string()),
                Some(c) => {
                    let slot = &mut index[c as usize];
                    if slot.is_some() {
                        return Err(SyncError::DuplicateColumn(col_name(c)));
                    }
                    *slot = Some(i);
                }
            }
        }
        let cols = Columns {
            index,
            width: header.len(),
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

fn parse_won(cell: &str) -> Result<ledger::Won, FieldError> {
    let digits: String = cell.chars().filter(|c| *c != ',').collect();
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError::BadRevenue);
    }
    digits
        .parse::<i64>()
        .map(ledger::Won::new)
        .map_err(|_| FieldError::BadRevenue)
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

/// Writes the row's present columns over `p`.
fn fill_profile(
    p: &mut MerchantProfile,
    row: &csv::StringRecord,
    cols: &Columns,
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
    let annual = cols.get(row, Col::AnnualRevenue);
    let band = cols.get(row, Col::RevenueBand);
    if annual.is_some() || band.is_some() {
        p.revenue = match (annual.unwrap_or(""), band.unwrap_or("")) {
            ("", "") => None,
            ("", b) => {
                let b = RevenueBand::parse(b)?;
                // A band that agrees with a known amount keeps the amount.
                match p.revenue {
                    Some(r @ Revenue::AnnualWon(_)) if r.band() == b => Some(r),
                    _ => Some(Revenue::Band(b)),
                }
            }
            (a, _) => Some(Revenue::AnnualWon(parse_won(a)?)),
        };
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
    if let (Some(lat), Some(lon)) = (cols.get(row, Col::Lat), cols.get(row, Col::Lon)) {
        p.location = match (lat.is_empty(), lon.is_empty()) {
            (true, true) => None,
            (false, false) => Some(GeoPoint::parse(lat, lon)?),
            _ => return Err(GeoError::Half.into()),
        };
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

impl Registry {
    /// Reads a registry file and diffs it against the registry, changing nothing.
    pub fn plan_sync(&self, bytes: &[u8], options: &SyncOptions) -> Result<SyncPlan, SyncError> {
        if bytes.is_empty() {
            return Err(SyncError::EmptyFile);
        }
        if bytes.len() > SYNC_FILE_BYTES_MAX {
            return Err(SyncError::FileTooLarge {
                max: SYNC_FILE_BYTES_MAX,
            });
        }
        let (text, encoding) = decode(bytes);
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
                skipped_closed: 0,
                absent: Vec::new(),
                rejected: Vec::new(),
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
            let line = reader.position().line();
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    // The csv reader resumes after a bad record; if it did not move, stop
                    // rather than loop.
                    let at = reader.position().byte();
                    plan.report.rows += 1;
                    plan.report.rejected.push(RejectedRow {
                        line,
                        brn: None,
                        code: RowError::Csv(String::new()).code().to_string(),
                        message: e.to_string(),
                    });
                    if at == last_position {
                        break;
                    }
                    last_position = at;
                    continue;
                }
            }
            let line = record.position().map_or(line, |p| p.line());
            plan.report.rows += 1;
            if plan.report.rows as usize > SYNC_ROWS_MAX {
                return Err(SyncError::TooManyRows { max: SYNC_ROWS_MAX });
            }
            if let Err(e) = self.plan_row(&record, line, &cols, options, &mut seen, &mut plan) {
                let brn = cols.get(&record, Col::Brn).filter(|b| !b.is_empty());
                plan.report.rejected.push(RejectedRow {
                    line,
                    brn: brn.map(|b| b.chars().take(40).collect()),
                    code: e.code().to_string(),
                    message: e.to_string(),
                });
            }
        }
        plan.report.absent = self
            .merchants
            .iter()
            .filter(|m| matches!(m.status, Status::Approved | Status::Suspended))
            .filter(|m| !seen.contains_key(&m.brn))
            .map(|m| m.id)
            .collect();
        Ok(plan)
    }

    fn plan_row(
        &self,
        row: &csv::StringRecord,
        line: u64,
        cols: &Columns,
        options: &SyncOptions,
        seen: &mut FxHashMap<Brn, u64>,
        plan: &mut SyncPlan,
    ) -> Result<(), RowError> {
        if row.len() != cols.width {
            return Err(RowError::WrongColumnCount {
                expected: cols.width,
                found: row.len(),
            });
        }
        if row.iter().any(|cell| cell.contains('\u{FFFD}')) {
            return Err(RowError::BadEncoding);
        }
        let brn = Brn::parse(cols.get(row, Col::Brn).unwrap_or(""))?;
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
        let report = &mut plan.report;
        match self.by_brn.get(&brn).copied() {
            None => {
                let mut profile = MerchantProfile::named("");
                profile.accepts = options.default_accepts;
                fill_profile(&mut profile, row, cols)?;
                let status = match file_status {
                    Some(RegistryStatus::Gone) => {
                        report.skipped_closed += 1;
                        return Ok(());
                    }
                    Some(RegistryStatus::Paused) => Status::Suspended,
                    Some(RegistryStatus::Open) | None => Status::Approved,
                };
                plan.adds.push(PlannedAdd {
                    report_index: report.added.len(),
                    brn,
                    profile,
                    status,
                    reason: file_status.unwrap_or(RegistryStatus::Open).reason(),
                });
                report.added.push(AddedRow {
                    line,
                    brn,
                    id: None,
                    status,
                });
            }
            Some(slot) => {
                let m = &self.merchants[slot as usize];
                let mut profile = m.profile.clone();
                fill_profile(&mut profile, row, cols)?;
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
                        from: m.status,
                    };
                    match reconcile(m.status, m.last_change.by, fs) {
                        Reconcile::Keep => {}
                        Reconcile::Held => {
                            quiet = false;
                            report.held.push(HeldRow {
                                line,
                                id: m.id,
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
                }
            }
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
            mut report,
            adds,
            updates,
            moves,
            ..
        } = plan;
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
        for (add, id) in adds.into_iter().zip(new_ids) {
            if let Some(row) = report.added.get_mut(add.report_index) {
                row.id = Some(id);
            }
            let m = Merchant {
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
            };
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
        options: &SyncOptions,
        ids: &mut dyn IdAllocator,
        now_us: u64,
    ) -> Result<SyncReport, DirectoryError> {
        let plan = self.plan_sync(bytes, options)?;
        self.apply_sync(plan, ids, now_us)
    }
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
