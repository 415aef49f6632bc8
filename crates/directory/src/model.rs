//! The merchant record and its status lifecycle.
//!
//! A merchant has two identities: the business registration number ([`Brn`]), which the
//! national registry uses and which a sync matches on, and the maeul id
//! ([`MerchantId`]), which QR stickers, aliases and ledger accounts point at. The id is
//! given once and never changes, whatever a later registry file says: that is the
//! guarantee the 2025 Onnuri switch broke ("유효하지 않는 QR이에요").
//!
//! Values are validated when they are built (newtypes with private fields and
//! `serde(try_from)`), so a record read back from storage is as valid as one that was
//! registered; only cross-record rules (unique id, unique BRN) are checked by the
//! [`crate::Registry`].

use std::fmt;

use ledger::{Source, Won};

use crate::brn::Brn;
use crate::error::{DirectoryError, FieldError};
use crate::geo::GeoPoint;
use crate::hours::OpeningHours;

/// Longest merchant name, in characters.
pub const NAME_CHARS_MAX: usize = 100;
/// Longest address, in characters.
pub const ADDRESS_CHARS_MAX: usize = 200;
/// Longest 시도 or 시군구 name, in characters.
pub const REGION_CHARS_MAX: usize = 40;
/// Longest status-change reason, in characters.
pub const REASON_CHARS_MAX: usize = 500;

/// maeul's own merchant id, allocated by the caller (the server's id allocator).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct MerchantId(pub u64);

impl fmt::Display for MerchantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A card-scheme merchant category code: four digits, 0000..=9999.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "u16", into = "u16")]
pub struct Mcc(u16);

impl Mcc {
    pub fn new(code: u16) -> Result<Mcc, FieldError> {
        if code > 9999 {
            return Err(FieldError::BadMcc);
        }
        Ok(Mcc(code))
    }

    /// Exactly four ASCII digits ("5812", "0742").
    pub fn parse(text: &str) -> Result<Mcc, FieldError> {
        let t = text.trim();
        if t.len() != 4 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldError::BadMcc);
        }
        t.parse::<u16>()
            .map_err(|_| FieldError::BadMcc)
            .and_then(Mcc::new)
    }

    pub fn code(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for Mcc {
    type Error = FieldError;
    fn try_from(v: u16) -> Result<Self, Self::Error> {
        Mcc::new(v)
    }
}

impl From<Mcc> for u16 {
    fn from(m: Mcc) -> u16 {
        m.0
    }
}

impl fmt::Display for Mcc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

/// The card-fee revenue bands (우대수수료 구간) that Korean registries publish when they do
/// not publish the revenue itself. Schemes use them for eligibility (many exclude
/// merchants above 30억 won a year).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RevenueBand {
    /// 영세: up to 3억 won a year.
    Small,
    /// 중소1: 3억 to 5억.
    Medium1,
    /// 중소2: 5억 to 10억.
    Medium2,
    /// 중소3: 10억 to 30억.
    Medium3,
    /// 일반: above 30억.
    General,
}

impl RevenueBand {
    /// Upper bounds of the bands in won (inclusive).
    const BOUNDS_WON: [i64; 4] = [300_000_000, 500_000_000, 1_000_000_000, 3_000_000_000];

    pub const ALL: [RevenueBand; 5] = [
        RevenueBand::Small,
        RevenueBand::Medium1,
        RevenueBand::Medium2,
        RevenueBand::Medium3,
        RevenueBand::General,
    ];

    pub fn of(annual: Won) -> RevenueBand {
        let w = annual.get();
        match Self::BOUNDS_WON.iter().position(|&b| w <= b) {
            Some(0) => RevenueBand::Small,
            Some(1) => RevenueBand::Medium1,
            Some(2) => RevenueBand::Medium2,
            Some(3) => RevenueBand::Medium3,
            _ => RevenueBand::General,
        }
    }

    /// The band as a range of won: 영세 up to 3억 inclusive, then each band above the
    /// previous bound and up to its own (중소3: over 10억, up to 30억), 일반 over 30억.
    pub fn range(self) -> RevenueRange {
        let bound = |i: usize| Won::new(Self::BOUNDS_WON[i]);
        match self {
            RevenueBand::Small => RevenueRange::up_to(bound(0)),
            RevenueBand::Medium1 => RevenueRange::over_up_to(bound(0), bound(1)),
            RevenueBand::Medium2 => RevenueRange::over_up_to(bound(1), bound(2)),
            RevenueBand::Medium3 => RevenueRange::over_up_to(bound(2), bound(3)),
            RevenueBand::General => RevenueRange::over(bound(3)),
        }
    }

    pub const fn label_ko(self) -> &'static str {
        match self {
            RevenueBand::Small => "영세",
            RevenueBand::Medium1 => "중소1",
            RevenueBand::Medium2 => "중소2",
            RevenueBand::Medium3 => "중소3",
            RevenueBand::General => "일반",
        }
    }

    /// Reads the Korean labels above and the snake_case English names.
    pub fn parse(text: &str) -> Result<RevenueBand, FieldError> {
        let t = text.trim();
        Self::ALL
            .into_iter()
            .find(|b| b.label_ko() == t || t.eq_ignore_ascii_case(b.as_str()))
            .ok_or(FieldError::BadRevenue)
    }

    /// The serialised (snake_case) name.
    pub const fn as_str(self) -> &'static str {
        match self {
            RevenueBand::Small => "small",
            RevenueBand::Medium1 => "medium1",
            RevenueBand::Medium2 => "medium2",
            RevenueBand::Medium3 => "medium3",
            RevenueBand::General => "general",
        }
    }
}

/// A range of annual revenue in won, as a band label states it: a lower bound (0 when
/// the label gives none) that is in the range (이상) or not (초과), and an upper bound that
/// is in it (이하) or not (미만), or none (open above). Never empty, never negative.
///
/// Won are whole numbers, so every range is also `min_won..=max_won`; the bound kinds are
/// kept as written so that a report can say back what was understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "RevenueRangeRaw")]
pub struct RevenueRange {
    lower: Won,
    lower_inclusive: bool,
    upper: Option<Won>,
    upper_inclusive: bool,
}

#[derive(serde::Deserialize)]
struct RevenueRangeRaw {
    lower: Won,
    lower_inclusive: bool,
    upper: Option<Won>,
    upper_inclusive: bool,
}

impl TryFrom<RevenueRangeRaw> for RevenueRange {
    type Error = FieldError;
    fn try_from(r: RevenueRangeRaw) -> Result<Self, Self::Error> {
        RevenueRange::new(r.lower, r.lower_inclusive, r.upper, r.upper_inclusive)
    }
}

impl RevenueRange {
    /// A range; refused if a bound is negative or the range holds no whole won.
    pub fn new(
        lower: Won,
        lower_inclusive: bool,
        upper: Option<Won>,
        upper_inclusive: bool,
    ) -> Result<RevenueRange, FieldError> {
        let r = RevenueRange {
            lower,
            lower_inclusive,
            upper,
            // One form for "no upper bound".
            upper_inclusive: upper.is_some() && upper_inclusive,
        };
        if lower.is_negative() || upper.is_some_and(|u| u.is_negative()) {
            return Err(FieldError::BadRevenue);
        }
        let min = r.min_won_i128();
        if r.max_won_i128().is_some_and(|max| max < min) {
            return Err(FieldError::BadRevenue);
        }
        Ok(r)
    }

    /// Exactly `w` won.
    pub fn exactly(w: Won) -> RevenueRange {
        RevenueRange {
            lower: w,
            lower_inclusive: true,
            upper: Some(w),
            upper_inclusive: true,
        }
    }

    /// 0 up to and including `w` (이하).
    pub fn up_to(w: Won) -> RevenueRange {
        RevenueRange {
            lower: Won::ZERO,
            lower_inclusive: true,
            upper: Some(w),
            upper_inclusive: true,
        }
    }

    /// 0 up to but not including `w` (미만).
    pub fn below(w: Won) -> RevenueRange {
        RevenueRange {
            lower: Won::ZERO,
            lower_inclusive: true,
            upper: Some(w),
            upper_inclusive: false,
        }
    }

    /// Above `w`, no upper bound (초과).
    pub fn over(w: Won) -> RevenueRange {
        RevenueRange {
            lower: w,
            lower_inclusive: false,
            upper: None,
            upper_inclusive: false,
        }
    }

    /// Above `lower`, up to and including `upper` (`lower` 초과 `upper` 이하).
    pub fn over_up_to(lower: Won, upper: Won) -> RevenueRange {
        RevenueRange {
            lower,
            lower_inclusive: false,
            upper: Some(upper),
            upper_inclusive: true,
        }
    }

    pub fn lower(self) -> Won {
        self.lower
    }

    pub fn lower_inclusive(self) -> bool {
        self.lower_inclusive
    }

    pub fn upper(self) -> Option<Won> {
        self.upper
    }

    pub fn upper_inclusive(self) -> bool {
        self.upper_inclusive
    }

    fn min_won_i128(self) -> i128 {
        i128::from(self.lower.get()) + i128::from(!self.lower_inclusive)
    }

    fn max_won_i128(self) -> Option<i128> {
        self.upper
            .map(|u| i128::from(u.get()) - i128::from(!self.upper_inclusive))
    }

    /// The smallest whole won in the range.
    pub fn min_won(self) -> Won {
        Won::new(i64::try_from(self.min_won_i128()).unwrap_or(i64::MAX))
    }

    /// The largest whole won in the range; `None` when it is open above.
    pub fn max_won(self) -> Option<Won> {
        self.max_won_i128()
            .map(|m| Won::new(i64::try_from(m).unwrap_or(i64::MAX)))
    }

    pub fn contains(self, w: Won) -> bool {
        let w = i128::from(w.get());
        w >= self.min_won_i128() && self.max_won_i128().is_none_or(|m| w <= m)
    }

    /// Whether the range decides every rule that splits revenue at one of `thresholds`
    /// into "at or under" and "over" (a scheme's cash-back band bounds and revenue caps):
    /// `Ok` with a revenue inside the range that every such rule treats as the whole
    /// range would be treated, or `Err` with the first threshold the range straddles.
    pub fn decide(self, thresholds: &[Won]) -> Result<Won, Won> {
        let min = self.min_won_i128();
        let max = self.max_won_i128();
        let mut sorted: Vec<Won> = thresholds.to_vec();
        sorted.sort_unstable();
        for t in sorted {
            let t128 = i128::from(t.get());
            if min <= t128 && max.is_none_or(|m| m > t128) {
                return Err(t);
            }
        }
        Ok(self.min_won())
    }

    /// The range in words that [`crate::revenue::parse_label`] reads back, e.g.
    /// `10억 초과 30억 이하`, `1억 미만`, `30억 초과`.
    pub fn label_ko(self) -> String {
        let lower = crate::revenue::format_won_ko(self.lower);
        let lower_word = if self.lower_inclusive {
            "이상"
        } else {
            "초과"
        };
        match self.upper {
            Some(u) if self.lower_inclusive && self.upper_inclusive && u == self.lower => lower,
            Some(u) => {
                let upper = crate::revenue::format_won_ko(u);
                let upper_word = if self.upper_inclusive {
                    "이하"
                } else {
                    "미만"
                };
                if self.lower == Won::ZERO && self.lower_inclusive {
                    format!("{upper} {upper_word}")
                } else {
                    format!("{lower} {lower_word} {upper} {upper_word}")
                }
            }
            None => format!("{lower} {lower_word}"),
        }
    }
}

/// Annual revenue: the amount when known, else the range a registry file gives (a
/// card-fee band, or a band label such as "10억~30억").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Revenue {
    AnnualWon(Won),
    Band(RevenueBand),
    Range(RevenueRange),
}

impl Revenue {
    /// The revenue as a range of won (an amount is a range of one).
    pub fn range(self) -> RevenueRange {
        match self {
            Revenue::AnnualWon(w) => RevenueRange::exactly(w),
            Revenue::Band(b) => b.range(),
            Revenue::Range(r) => r,
        }
    }

    /// The card-fee band, when the revenue lies wholly inside one.
    pub fn band(self) -> Option<RevenueBand> {
        match self {
            Revenue::AnnualWon(w) => Some(RevenueBand::of(w)),
            Revenue::Band(b) => Some(b),
            Revenue::Range(r) => {
                let b = RevenueBand::of(r.min_won());
                let top = b.range().max_won();
                match (r.max_won(), top) {
                    (_, None) => Some(b),
                    (Some(max), Some(top)) if max <= top => Some(b),
                    _ => None,
                }
            }
        }
    }

    /// What a report shows: the amount, the band's name, or the range in words.
    pub fn label_ko(self) -> String {
        match self {
            Revenue::AnnualWon(w) => crate::revenue::format_won_ko(w),
            Revenue::Band(b) => b.label_ko().to_owned(),
            Revenue::Range(r) => r.label_ko(),
        }
    }
}

/// The money sources a merchant accepts. Same bit layout as `ledger::SourceSet`
/// (`1 << source as u8`), so `SourceMask::from_bits(set.bits())` converts; serialised as
/// a list of source names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SourceMask(u8);

impl SourceMask {
    pub const NONE: SourceMask = SourceMask(0);
    pub const ALL: SourceMask = SourceMask(0b1_1111);

    pub fn of(sources: &[Source]) -> SourceMask {
        SourceMask(sources.iter().fold(0, |acc, s| acc | 1 << *s as u8))
    }

    pub fn from_bits(bits: u8) -> Option<SourceMask> {
        (bits & !Self::ALL.0 == 0).then_some(SourceMask(bits))
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn contains(self, s: Source) -> bool {
        self.0 & (1 << s as u8) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Every source in `other` is in `self`.
    pub fn contains_all(self, other: SourceMask) -> bool {
        self.0 & other.0 == other.0
    }

    /// At least one source in `other` is in `self`.
    pub fn intersects(self, other: SourceMask) -> bool {
        self.0 & other.0 != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Source> {
        Source::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// Reads a list such as `purchased|gift` or `구매, 선물, 수당`. Separators: `| , ; / space`.
    pub fn parse(text: &str) -> Result<SourceMask, FieldError> {
        let mut mask = SourceMask::NONE;
        for word in text.split(['|', ',', ';', '/', ' ']) {
            let w = word.trim();
            if w.is_empty() {
                continue;
            }
            let s = match w.to_ascii_lowercase().as_str() {
                "purchased" | "구매" | "충전" => Source::Purchased,
                "allowance" | "수당" | "정책수당" | "정책" => Source::Allowance,
                "cashback" | "캐시백" => Source::Cashback,
                "gift" | "선물" => Source::Gift,
                "correction" | "정정" => Source::Correction,
                "all" | "전체" => return Ok(SourceMask::ALL),
                _ => return Err(FieldError::BadSources),
            };
            mask.0 |= 1 << s as u8;
        }
        Ok(mask)
    }
}

impl fmt::Display for SourceMask {
    /// `purchased|cashback|gift`, what [`SourceMask::parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in self.iter() {
            if !first {
                f.write_str("|")?;
            }
            first = false;
            f.write_str(s.as_str())?;
        }
        Ok(())
    }
}

impl serde::Serialize for SourceMask {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for SourceMask {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let list = Vec::<Source>::deserialize(d)?;
        Ok(SourceMask::of(&list))
    }
}

/// Where a merchant is in its life as a payee.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Applied to join; not payable, not listed.
    Applied,
    /// Payable and listed in citizen search.
    Approved,
    /// Temporarily not payable (휴업, or an operator's hold).
    Suspended,
    /// Gone (폐업, or withdrawn); can be reopened with the same id.
    Closed,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Applied,
        Status::Approved,
        Status::Suspended,
        Status::Closed,
    ];

    /// The lifecycle: Applied → Approved → Suspended ⇄ Approved; any open state → Closed;
    /// Closed → Approved (reopen). An application that is never approved is closed.
    pub fn can_become(self, to: Status) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (Applied, Approved)
                | (Applied, Closed)
                | (Approved, Suspended)
                | (Approved, Closed)
                | (Suspended, Approved)
                | (Suspended, Closed)
                | (Closed, Approved)
        )
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Applied => "applied",
            Status::Approved => "approved",
            Status::Suspended => "suspended",
            Status::Closed => "closed",
        }
    }
}

/// A set of statuses, for search filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StatusSet(u8);

impl StatusSet {
    /// What citizens see: approved merchants only.
    pub const CITIZEN: StatusSet = StatusSet(1 << Status::Approved as u8);
    pub const ALL: StatusSet = StatusSet(0b1111);

    pub fn of(statuses: &[Status]) -> StatusSet {
        StatusSet(statuses.iter().fold(0, |acc, s| acc | 1 << *s as u8))
    }

    pub fn contains(self, s: Status) -> bool {
        self.0 & (1 << s as u8) != 0
    }
}

/// Who changed a status. A registry sync may undo only what a registry sync did: an
/// operator's suspension for fraud is not lifted because the public file says 영업.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    Operator,
    RegistrySync,
}

/// The last status change, kept on the record (the full history lives in the server's log).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatusChange {
    /// `None` when the merchant was created in this status.
    pub from: Option<Status>,
    pub reason: String,
    /// Microseconds since the Unix epoch, as passed by the caller.
    pub at_us: u64,
    pub by: Actor,
}

/// The fields a merchant's profile has, for diffs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Name,
    NameEn,
    Mcc,
    Category,
    Revenue,
    RoadAddress,
    JibunAddress,
    Sido,
    Sigungu,
    Location,
    Hours,
    Accepts,
}

impl Field {
    pub const ALL: [Field; 12] = [
        Field::Name,
        Field::NameEn,
        Field::Mcc,
        Field::Category,
        Field::Revenue,
        Field::RoadAddress,
        Field::JibunAddress,
        Field::Sido,
        Field::Sigungu,
        Field::Location,
        Field::Hours,
        Field::Accepts,
    ];
}

/// A set of [`Field`]s; serialised as a list of names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FieldSet(u16);

impl FieldSet {
    pub const EMPTY: FieldSet = FieldSet(0);

    pub fn of(fields: &[Field]) -> FieldSet {
        FieldSet(fields.iter().fold(0, |acc, f| acc | 1 << *f as u16))
    }

    pub fn insert(&mut self, f: Field) {
        self.0 |= 1 << f as u16;
    }

    pub fn contains(self, f: Field) -> bool {
        self.0 & (1 << f as u16) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Field> {
        Field::ALL.into_iter().filter(move |f| self.contains(*f))
    }
}

impl serde::Serialize for FieldSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for FieldSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(FieldSet::of(&Vec::<Field>::deserialize(d)?))
    }
}

/// Everything about a merchant that its owner, an operator or a registry file may change.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MerchantProfile {
    /// Korean trade name (상호), e.g. "경동시장 행복상회".
    pub name: String,
    /// English or romanised name, e.g. "Haengbok Store".
    pub name_en: Option<String>,
    pub mcc: Option<Mcc>,
    /// The scheme's own category (its menu of 음식점, 마트 …).
    pub category: Option<u16>,
    pub revenue: Option<Revenue>,
    /// 도로명주소, e.g. "부산광역시 해운대구 해운대로 123".
    pub road_address: Option<String>,
    /// 지번주소, e.g. "부산광역시 해운대구 우동 1234-5".
    pub jibun_address: Option<String>,
    /// 시도, e.g. "부산광역시".
    pub sido: Option<String>,
    /// 시군구, e.g. "해운대구" or "수원시 팔달구".
    pub sigungu: Option<String>,
    /// Where the shop is; a merchant without it is found by name but not by distance.
    pub location: Option<GeoPoint>,
    pub hours: Option<OpeningHours>,
    /// The money sources it accepts.
    pub accepts: SourceMask,
}

fn check_text(field: &'static str, text: &str, max_chars: usize) -> Result<(), FieldError> {
    if text.chars().count() > max_chars {
        return Err(FieldError::TooLong(field));
    }
    if text.chars().any(|c| c.is_control() || c == '\u{FFFD}') {
        return Err(FieldError::BadText(field));
    }
    Ok(())
}

impl MerchantProfile {
    /// A minimal profile: a name, everything else unknown, accepting every source.
    pub fn named(name: &str) -> MerchantProfile {
        MerchantProfile {
            name: name.to_string(),
            name_en: None,
            mcc: None,
            category: None,
            revenue: None,
            road_address: None,
            jibun_address: None,
            sido: None,
            sigungu: None,
            location: None,
            hours: None,
            accepts: SourceMask::ALL,
        }
    }

    /// Checks what the types cannot: text lengths, no control characters, a name with at
    /// least one letter or digit (else the merchant could never be found by name), and a
    /// non-negative revenue.
    pub fn validate(&self) -> Result<(), FieldError> {
        if crate::hangul::normalize(&self.name).is_empty() {
            return Err(FieldError::MissingName);
        }
        check_text("name", &self.name, NAME_CHARS_MAX)?;
        if let Some(n) = &self.name_en {
            check_text("name_en", n, NAME_CHARS_MAX)?;
        }
        for (field, value, max) in [
            ("road_address", &self.road_address, ADDRESS_CHARS_MAX),
            ("jibun_address", &self.jibun_address, ADDRESS_CHARS_MAX),
            ("sido", &self.sido, REGION_CHARS_MAX),
            ("sigungu", &self.sigungu, REGION_CHARS_MAX),
        ] {
            if let Some(v) = value {
                check_text(field, v, max)?;
            }
        }
        if let Some(Revenue::AnnualWon(w)) = self.revenue
            && w.is_negative()
        {
            return Err(FieldError::BadRevenue);
        }
        Ok(())
    }

    /// The fields in which `other` differs from `self`.
    pub fn diff(&self, other: &MerchantProfile) -> FieldSet {
        let mut set = FieldSet::EMPTY;
        let mut mark = |differs: bool, f: Field| {
            if differs {
                set.insert(f);
            }
        };
        mark(self.name != other.name, Field::Name);
        mark(self.name_en != other.name_en, Field::NameEn);
        mark(self.mcc != other.mcc, Field::Mcc);
        mark(self.category != other.category, Field::Category);
        mark(self.revenue != other.revenue, Field::Revenue);
        mark(self.road_address != other.road_address, Field::RoadAddress);
        mark(
            self.jibun_address != other.jibun_address,
            Field::JibunAddress,
        );
        mark(self.sido != other.sido, Field::Sido);
        mark(self.sigungu != other.sigungu, Field::Sigungu);
        mark(self.location != other.location, Field::Location);
        mark(self.hours != other.hours, Field::Hours);
        mark(self.accepts != other.accepts, Field::Accepts);
        set
    }
}

/// One merchant as the registry holds it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "MerchantRecord")]
pub struct Merchant {
    pub id: MerchantId,
    pub brn: Brn,
    pub profile: MerchantProfile,
    pub status: Status,
    pub last_change: StatusChange,
    /// The BRN's check digit is wrong: a registry import kept it as written because an
    /// operator asked it to (real files carry typos). Such a merchant is created awaiting
    /// review; an operator checks the number before approving it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub brn_unverified: bool,
}

/// A stored merchant as read back: the BRN's check digit is checked unless the record
/// says it is unverified.
#[derive(serde::Deserialize)]
struct MerchantRecord {
    id: MerchantId,
    brn: String,
    profile: MerchantProfile,
    status: Status,
    last_change: StatusChange,
    #[serde(default)]
    brn_unverified: bool,
}

impl TryFrom<MerchantRecord> for Merchant {
    type Error = crate::error::BrnError;
    fn try_from(r: MerchantRecord) -> Result<Self, Self::Error> {
        let brn = if r.brn_unverified {
            Brn::parse_unverified(&r.brn)?
        } else {
            Brn::parse(&r.brn)?
        };
        Ok(Merchant {
            id: r.id,
            brn,
            profile: r.profile,
            status: r.status,
            last_change: r.last_change,
            brn_unverified: r.brn_unverified,
        })
    }
}

impl Merchant {
    /// Checks a reason text for a status change.
    pub(crate) fn check_reason(reason: &str) -> Result<(), DirectoryError> {
        if reason.trim().is_empty()
            || reason.chars().count() > REASON_CHARS_MAX
            || reason.chars().any(|c| c.is_control() && c != '\n')
        {
            return Err(DirectoryError::BadReason);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_table() {
        use Status::*;
        let allowed = [
            (Applied, Approved),
            (Applied, Closed),
            (Approved, Suspended),
            (Approved, Closed),
            (Suspended, Approved),
            (Suspended, Closed),
            (Closed, Approved),
        ];
        for from in Status::ALL {
            for to in Status::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
    }

    #[test]
    fn source_mask_parse_and_display() {
        let m = SourceMask::parse("구매, 선물|cashback").unwrap();
        assert_eq!(m.to_string(), "purchased|cashback|gift");
        assert_eq!(SourceMask::parse(&m.to_string()), Ok(m));
        assert_eq!(SourceMask::parse("전체"), Ok(SourceMask::ALL));
        assert_eq!(SourceMask::parse("coupon"), Err(FieldError::BadSources));
        assert_eq!(
            SourceMask::from_bits(ledger::SourceSet::ALL.bits()),
            Some(SourceMask::ALL)
        );
    }

    #[test]
    fn revenue_bands() {
        assert_eq!(RevenueBand::of(Won::new(300_000_000)), RevenueBand::Small);
        assert_eq!(RevenueBand::of(Won::new(300_000_001)), RevenueBand::Medium1);
        assert_eq!(
            RevenueBand::of(Won::new(5_000_000_000)),
            RevenueBand::General
        );
        assert_eq!(RevenueBand::parse("중소2"), Ok(RevenueBand::Medium2));
        assert_eq!(RevenueBand::parse("general"), Ok(RevenueBand::General));
        assert_eq!(RevenueBand::parse("big"), Err(FieldError::BadRevenue));
        // Each band is the range of amounts `of` puts in it.
        for w in [
            0,
            300_000_000,
            300_000_001,
            1_000_000_000,
            3_000_000_000,
            3_000_000_001,
        ] {
            let w = Won::new(w);
            assert!(RevenueBand::of(w).range().contains(w), "{w:?}");
            assert_eq!(Revenue::AnnualWon(w).band(), Some(RevenueBand::of(w)));
        }
    }

    #[test]
    fn revenue_ranges() {
        let r = RevenueRange::over_up_to(Won::new(1_000_000_000), Won::new(3_000_000_000));
        assert_eq!(r.min_won(), Won::new(1_000_000_001));
        assert_eq!(r.max_won(), Some(Won::new(3_000_000_000)));
        assert_eq!(r.label_ko(), "10억 초과 30억 이하");
        assert_eq!(Revenue::Range(r).band(), Some(RevenueBand::Medium3));
        // Inside one band of a Busan-like scheme (≤ 10억, ≤ 30억, above): decided.
        let busan = [Won::new(1_000_000_000), Won::new(3_000_000_000)];
        assert_eq!(r.decide(&busan), Ok(Won::new(1_000_000_001)));
        assert_eq!(
            RevenueRange::over(Won::new(3_000_000_000)).decide(&busan),
            Ok(Won::new(3_000_000_001))
        );
        // 5억 초과 20억 이하 straddles 10억.
        let wide = RevenueRange::over_up_to(Won::new(500_000_000), Won::new(2_000_000_000));
        assert_eq!(wide.decide(&busan), Err(Won::new(1_000_000_000)));
        // Empty or negative ranges do not exist.
        assert_eq!(
            RevenueRange::new(Won::new(5), false, Some(Won::new(5)), true),
            Err(FieldError::BadRevenue)
        );
        assert!(RevenueRange::new(Won::new(5), true, Some(Won::new(5)), true).is_ok());
        assert!(RevenueRange::new(Won::new(-1), true, None, false).is_err());
        let json = r#"{"lower":5,"lower_inclusive":false,"upper":5,"upper_inclusive":true}"#;
        assert!(serde_json::from_str::<RevenueRange>(json).is_err());
    }

    #[test]
    fn stored_revenue_json_still_reads() {
        let old: Revenue = serde_json::from_str(r#"{"annual_won":120000000}"#).unwrap();
        assert_eq!(old, Revenue::AnnualWon(Won::new(120_000_000)));
        let band: Revenue = serde_json::from_str(r#"{"band":"medium3"}"#).unwrap();
        assert_eq!(band, Revenue::Band(RevenueBand::Medium3));
        let range = Revenue::Range(RevenueRange::over(Won::new(3_000_000_000)));
        let json = serde_json::to_string(&range).unwrap();
        assert_eq!(serde_json::from_str::<Revenue>(&json).unwrap(), range);
    }

    #[test]
    fn mcc_is_four_digits() {
        assert_eq!(Mcc::parse("0742").map(|m| m.to_string()), Ok("0742".into()));
        assert_eq!(Mcc::parse("742"), Err(FieldError::BadMcc));
        assert_eq!(Mcc::parse("58120"), Err(FieldError::BadMcc));
        assert!(serde_json::from_str::<Mcc>("10000").is_err());
    }
}
