//! EMVCo merchant-presented payloads: a reader for anyone's, and maeul's own merchant code.
//!
//! Korea's FSC QR standard follows EMVCo MPM, so a maeul sticker is an ordinary EMV payload
//! that other readers can parse. Ours carries:
//!
//! | tag | content |
//! |---|---|
//! | 00 | `01` (payload format) — always first |
//! | 01 | `11` static sticker, `12` dynamic (one sale, with an amount) |
//! | 26 | merchant account: 00 `KR.MAEUL`, 01 currency id, 02 merchant id (decimal `u64`) |
//! | 52 | merchant category code, 4 digits |
//! | 53 | `410` (KRW) |
//! | 54 | amount in whole won, dynamic codes only (`5000`; KRW has no minor unit) |
//! | 58 | `KR` |
//! | 59 | merchant name, may be Korean (≤ 25 characters) |
//! | 60 | city (≤ 15 characters) |
//! | 62 | optional: 05 reference label, 07 terminal label (kiosks) |
//! | 64 | optional: 00 language, 01 name, 02 city in another language |
//! | 63 | CRC-16/CCITT-FALSE over everything before it including `6304` — always last |
//!
//! Lengths count characters (see [`crate::tlv`]). Tag 59 holds the Korean name directly:
//! EMVCo would have it in its common character set with the local-language name in 64,
//! but the scanners that matter here are maeul's own apps and Korean wallet apps, which
//! show 59; 64 is available for an English or other-language name.
//!
//! [`EmvPayload::parse`] reads any scheme's payload without allocating: the checksum
//! first (so a damaged code says "damaged", not some downstream field error), then the
//! structure. [`MerchantCode::parse`] adds maeul's rules on top.
//!
//! **Whole, damaged, malformed or incomplete.** A payload that ends in a checksum field
//! (`6304` and four hex digits) is whole: if the checksum disagrees it is
//! [`EmvError::BadChecksum`], and if the checksum agrees but the structure breaks the
//! rules it is [`EmvError::Malformed`] — a badly made code, which a new scan cannot fix.
//! A payload that stops short is [`EmvError::Incomplete`]: it ends inside a tag, a length
//! or a value (`TruncatedHeader`, `TruncatedValue`), its fields are read to the end with no
//! checksum field at all (`MissingCrc`), or it ends inside the checksum field itself
//! (`…6304`, `…6304A1`). That is a cut-off scan, and scanning again is the remedy. A cut
//! inside the checksum is incomplete even when the last eight characters happen to look
//! like a checksum field, because the fields, read from the start, end inside tag 63.

use std::fmt;

use crate::crc::{crc_hex, crc16, parse_crc_hex};
use crate::tlv::{self, LengthUnit, TlvProblem, char_len, push_field};

/// The longest input any reader in this crate looks at. A real payload is 60–300 bytes;
/// anything near this is not a payment code, and the bound keeps offsets in `u16`.
pub const PAYLOAD_BYTES_MAX: usize = 4096;

/// maeul's globally unique identifier in the merchant account template.
pub const MAEUL_GUID: &str = "KR.MAEUL";

/// The merchant account template tag maeul writes (any of 26–51 is read).
pub const MAEUL_TEMPLATE_TAG: u8 = 26;

/// ISO 4217 numeric code of the won.
pub const KRW_NUMERIC: &str = "410";

/// EMVCo limits that maeul's encoder enforces (in characters).
pub const NAME_CHARS_MAX: usize = 25;
pub const CITY_CHARS_MAX: usize = 15;
pub const LABEL_CHARS_MAX: usize = 25;
pub const CURRENCY_ID_CHARS_MAX: usize = 32;
/// EMVCo allows 13 characters for tag 54: up to 9,999,999,999,999 won.
pub const AMOUNT_DIGITS_MAX: usize = 13;

/// A tag, or a sub-tag inside a template, as `26.02`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FieldPath {
    pub tag: u8,
    pub sub: Option<u8>,
}

impl FieldPath {
    pub const fn top(tag: u8) -> FieldPath {
        FieldPath { tag, sub: None }
    }
    pub const fn sub(tag: u8, sub: u8) -> FieldPath {
        FieldPath {
            tag,
            sub: Some(sub),
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.sub {
            Some(sub) => write!(f, "{:02}.{:02}", self.tag, sub),
            None => write!(f, "{:02}", self.tag),
        }
    }
}

/// What is wrong with a field (or with the payload as a whole).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    Tlv(TlvProblem),
    PayloadTooLong,
    /// The payload does not begin with tag 00.
    NoFormatIndicator,
    /// Tag 00 is not `01`.
    UnsupportedFormat,
    DuplicateTag,
    MissingCrc,
    CrcNotLast,
    CrcNotFourHexDigits,
    /// A required field is absent.
    Missing,
    Empty,
    TooLong {
        chars_max: u8,
    },
    NotDigits,
    /// A number does not fit (merchant id above `u64`, MCC above 9999).
    OutOfRange,
    /// Tag 01 is neither `11` nor `12`.
    BadInitiation,
    /// Tag 53 is not `410`.
    NotKrw,
    /// Tag 58 is not `KR`.
    NotKorea,
    /// The amount has a non-zero fraction of a won.
    AmountHasFraction,
    AmountZero,
    /// A static code (`11`) with an amount; maeul's fixed-amount codes are dynamic.
    AmountInStaticCode,
    /// A control character, or a character the field does not allow.
    BadCharacter,
}

impl Problem {
    pub fn code(self) -> &'static str {
        match self {
            Problem::Tlv(p) => p.code(),
            Problem::PayloadTooLong => "payload_too_long",
            Problem::NoFormatIndicator => "no_format_indicator",
            Problem::UnsupportedFormat => "unsupported_format",
            Problem::DuplicateTag => "duplicate_tag",
            Problem::MissingCrc => "missing_crc",
            Problem::CrcNotLast => "crc_not_last",
            Problem::CrcNotFourHexDigits => "crc_not_hex",
            Problem::Missing => "missing_field",
            Problem::Empty => "empty_field",
            Problem::TooLong { .. } => "field_too_long",
            Problem::NotDigits => "not_digits",
            Problem::OutOfRange => "out_of_range",
            Problem::BadInitiation => "bad_initiation_method",
            Problem::NotKrw => "currency_not_krw",
            Problem::NotKorea => "country_not_kr",
            Problem::AmountHasFraction => "amount_has_fraction",
            Problem::AmountZero => "amount_zero",
            Problem::AmountInStaticCode => "amount_in_static_code",
            Problem::BadCharacter => "bad_character",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Tlv(p) => p.fmt(f),
            Problem::PayloadTooLong => write!(f, "payload longer than {PAYLOAD_BYTES_MAX} bytes"),
            Problem::NoFormatIndicator => f.write_str("payload does not start with tag 00"),
            Problem::UnsupportedFormat => f.write_str("payload format indicator is not 01"),
            Problem::DuplicateTag => f.write_str("tag appears twice"),
            Problem::MissingCrc => f.write_str("no CRC (tag 63)"),
            Problem::CrcNotLast => f.write_str("CRC (tag 63) is not the last field"),
            Problem::CrcNotFourHexDigits => f.write_str("CRC is not four hex digits"),
            Problem::Missing => f.write_str("required field is missing"),
            Problem::Empty => f.write_str("field is empty"),
            Problem::TooLong { chars_max } => write!(f, "longer than {chars_max} characters"),
            Problem::NotDigits => f.write_str("not decimal digits"),
            Problem::OutOfRange => f.write_str("number out of range"),
            Problem::BadInitiation => f.write_str("initiation method is neither 11 nor 12"),
            Problem::NotKrw => f.write_str("transaction currency is not 410 (KRW)"),
            Problem::NotKorea => f.write_str("country code is not KR"),
            Problem::AmountHasFraction => f.write_str("amount has a fraction of a won"),
            Problem::AmountZero => f.write_str("amount is zero"),
            Problem::AmountInStaticCode => f.write_str("static code carries an amount"),
            Problem::BadCharacter => f.write_str("character not allowed here"),
        }
    }
}

/// Why a payload was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmvError {
    /// The payload's own checksum disagrees with its content: a damaged or altered code.
    #[error("checksum mismatch: tag 63 says {found:04X}, the payload gives {expected:04X}")]
    BadChecksum { expected: u16, found: u16 },
    /// The checksum is fine (or absent) but the structure or a field breaks the rules.
    #[error("malformed EMV payload at byte {offset}{}: {problem}", field_suffix(.field))]
    Malformed {
        field: Option<FieldPath>,
        offset: usize,
        problem: Problem,
    },
    /// The payload stops short: it ends inside a field, before its checksum field or
    /// inside it. `problem` is `Tlv(TruncatedHeader)`, `Tlv(TruncatedValue)` or
    /// `MissingCrc`; `field` is the tag being read where it ends.
    #[error("incomplete EMV payload, cut at byte {offset}{}: {problem}", field_suffix(.field))]
    Incomplete {
        field: Option<FieldPath>,
        offset: usize,
        problem: Problem,
    },
    /// A well-formed EMV payload of another scheme.
    #[error("EMV payload of another scheme, not a maeul merchant code")]
    NotMaeul,
}

fn field_suffix(field: &Option<FieldPath>) -> String {
    match field {
        Some(path) => format!(" (tag {path})"),
        None => String::new(),
    }
}

impl EmvError {
    pub fn code(&self) -> &'static str {
        match self {
            EmvError::BadChecksum { .. } => "emv_bad_checksum",
            EmvError::Malformed { .. } => "emv_malformed",
            EmvError::Incomplete { .. } => "emv_incomplete",
            EmvError::NotMaeul => "emv_not_maeul",
        }
    }

    fn at(path: FieldPath, offset: usize, problem: Problem) -> EmvError {
        EmvError::Malformed {
            field: Some(path),
            offset,
            problem,
        }
    }
}

/// Static sticker or one-sale code (tag 01).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Initiation {
    Static,
    Dynamic,
}

/// Where a top-level value sits in the payload. `start == 0` means absent: a value can
/// never start at byte 0, which is where the first tag is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: u16,
    len: u16,
}

impl Span {
    const ABSENT: Span = Span { start: 0, len: 0 };
}

/// A structurally valid EMV payload with a correct checksum, any scheme. Borrowed: no
/// field is copied.
#[derive(Clone)]
pub struct EmvPayload<'a> {
    raw: &'a str,
    spans: [Span; 100],
    unit: LengthUnit,
    crc: u16,
}

impl fmt::Debug for EmvPayload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.fields()).finish()
    }
}

impl<'a> EmvPayload<'a> {
    /// Reads `raw` (already trimmed by the caller if it came from a scanner).
    pub fn parse(raw: &'a str) -> Result<EmvPayload<'a>, EmvError> {
        if raw.len() > PAYLOAD_BYTES_MAX {
            return Err(EmvError::Malformed {
                field: None,
                offset: PAYLOAD_BYTES_MAX,
                problem: Problem::PayloadTooLong,
            });
        }
        // Checksum first, whenever the payload ends like a CRC field: if the bytes are
        // damaged, "damaged" is the true answer, whatever the structure then looks like.
        // Unless the fields, read from the start, end inside tag 63: then the scan was
        // cut inside its real checksum and the tail only looks like one by chance.
        let checked = match check_tail_crc(raw) {
            Ok(checked) => checked,
            Err(damaged) => {
                return Err(match Self::read_both(raw) {
                    Err((first, second)) => [Some(first), second]
                        .into_iter()
                        .flatten()
                        .find_map(|e| cut_inside_crc(&e))
                        .unwrap_or(damaged),
                    Ok(_) => damaged,
                });
            }
        };
        let payload = match Self::read_both(raw) {
            Ok(p) => p,
            // No checksum field at the end: a read that ran off the end, or found no
            // tag 63, is a scan cut short. With a whole checksum field the code is
            // complete, and a structural error is the generator's.
            Err((first, second)) if !checked => {
                return Err([Some(first), second]
                    .into_iter()
                    .flatten()
                    .find_map(|e| cut_short(&e))
                    .unwrap_or(first));
            }
            Err((first, _)) => return Err(first),
        };
        if !checked {
            // `read` only succeeds when tag 63 is last with four hex digits, which is
            // exactly when the tail check runs; this is a second look, not a path.
            let body = raw
                .as_bytes()
                .get(..raw.len().saturating_sub(4))
                .unwrap_or_default();
            let expected = crc16(body);
            if expected != payload.crc {
                return Err(EmvError::BadChecksum {
                    expected,
                    found: payload.crc,
                });
            }
        }
        Ok(payload)
    }

    /// Reads with character lengths, then (non-ASCII only) with byte lengths: a generator
    /// that counted UTF-8 bytes may have written this one, and ASCII reads the same
    /// either way. On failure, both errors (the second when it was tried).
    fn read_both(raw: &'a str) -> Result<EmvPayload<'a>, (EmvError, Option<EmvError>)> {
        match Self::read(raw, LengthUnit::Chars) {
            Ok(p) => Ok(p),
            Err(first) if !raw.is_ascii() => match Self::read(raw, LengthUnit::Bytes) {
                Ok(p) => Ok(p),
                Err(second) => Err((first, Some(second))),
            },
            Err(first) => Err((first, None)),
        }
    }

    fn read(raw: &'a str, unit: LengthUnit) -> Result<EmvPayload<'a>, EmvError> {
        let mut spans = [Span::ABSENT; 100];
        let mut crc = None;
        let mut first = true;
        for field in tlv::fields(raw, unit) {
            let f = field.map_err(|e| EmvError::Malformed {
                field: e.tag.map(FieldPath::top),
                offset: e.offset,
                problem: Problem::Tlv(e.problem),
            })?;
            let path = FieldPath::top(f.tag);
            if crc.is_some() {
                return Err(EmvError::at(
                    FieldPath::top(63),
                    f.offset,
                    Problem::CrcNotLast,
                ));
            }
            if first {
                if f.tag != 0 {
                    return Err(EmvError::Malformed {
                        field: None,
                        offset: 0,
                        problem: Problem::NoFormatIndicator,
                    });
                }
                if f.value != "01" {
                    return Err(EmvError::at(path, f.offset, Problem::UnsupportedFormat));
                }
                first = false;
            }
            let slot = &mut spans[usize::from(f.tag)];
            if *slot != Span::ABSENT {
                return Err(EmvError::at(path, f.offset, Problem::DuplicateTag));
            }
            // Offsets fit: the payload is at most PAYLOAD_BYTES_MAX bytes.
            *slot = Span {
                start: u16::try_from(f.offset + 4).unwrap_or(u16::MAX),
                len: u16::try_from(f.value.len()).unwrap_or(u16::MAX),
            };
            if f.tag == 63 {
                let value = parse_crc_hex(f.value).ok_or(EmvError::at(
                    path,
                    f.offset,
                    Problem::CrcNotFourHexDigits,
                ))?;
                crc = Some(value);
            }
        }
        if first {
            return Err(EmvError::Malformed {
                field: None,
                offset: 0,
                problem: Problem::NoFormatIndicator,
            });
        }
        let crc = crc.ok_or(EmvError::at(
            FieldPath::top(63),
            raw.len(),
            Problem::MissingCrc,
        ))?;
        Ok(EmvPayload {
            raw,
            spans,
            unit,
            crc,
        })
    }

    /// The whole payload as scanned.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The checksum the payload carries (already verified).
    pub fn crc(&self) -> u16 {
        self.crc
    }

    /// How this payload's lengths were counted.
    pub fn length_unit(&self) -> LengthUnit {
        self.unit
    }

    /// The value of top-level tag `tag`.
    pub fn get(&self, tag: u8) -> Option<&'a str> {
        let span = *self.spans.get(usize::from(tag))?;
        if span == Span::ABSENT {
            return None;
        }
        let start = usize::from(span.start);
        self.raw.get(start..start + usize::from(span.len))
    }

    /// Every present top-level field, in tag order.
    pub fn fields(&self) -> impl Iterator<Item = (u8, &'a str)> + '_ {
        (0u8..100).filter_map(move |tag| self.get(tag).map(|v| (tag, v)))
    }

    /// Reads sub-field `sub` of template `tag` (26–51, 62, 64, 80–99).
    pub fn sub(&self, tag: u8, sub: u8) -> Result<Option<&'a str>, EmvError> {
        match self.get(tag) {
            Some(value) => template_get(value, self.unit, tag, sub, self.offset_of(tag)),
            None => Ok(None),
        }
    }

    fn offset_of(&self, tag: u8) -> usize {
        self.spans
            .get(usize::from(tag))
            .map_or(0, |s| usize::from(s.start))
    }

    /// Tag 01.
    pub fn initiation(&self) -> Option<Initiation> {
        match self.get(1)? {
            "11" => Some(Initiation::Static),
            "12" => Some(Initiation::Dynamic),
            _ => None,
        }
    }

    /// Merchant account information, tags 02–51, in tag order. 02–25 are primitive values
    /// reserved for card networks; 26–51 are templates whose sub-tag 00 is a GUID.
    pub fn accounts(&self) -> impl Iterator<Item = MerchantAccount<'a>> + '_ {
        (2u8..=51).filter_map(move |tag| {
            self.get(tag).map(|value| MerchantAccount {
                tag,
                value,
                unit: self.unit,
            })
        })
    }

    /// The first merchant account template whose GUID equals `guid` (ignoring ASCII case,
    /// as GUIDs are written both ways in the wild: `br.gov.bcb.pix`, `BR.GOV.BCB.PIX`).
    pub fn account_with_guid(&self, guid: &str) -> Option<MerchantAccount<'a>> {
        self.accounts()
            .find(|a| a.guid().is_some_and(|g| g.eq_ignore_ascii_case(guid)))
    }
}

/// One merchant account field of an EMV payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MerchantAccount<'a> {
    pub tag: u8,
    pub value: &'a str,
    unit: LengthUnit,
}

impl<'a> MerchantAccount<'a> {
    /// Templates (26–51) name their scheme in sub-tag 00; card-network tags do not.
    pub fn is_template(&self) -> bool {
        (26..=51).contains(&self.tag)
    }

    /// The template's GUID (sub-tag 00), if it is a readable template.
    pub fn guid(&self) -> Option<&'a str> {
        if !self.is_template() {
            return None;
        }
        template_get(self.value, self.unit, self.tag, 0, 0)
            .ok()
            .flatten()
    }

    /// The template's sub-fields other than the GUID, or `None` if it does not parse.
    pub fn sub_fields(&self) -> Option<impl Iterator<Item = (u8, &'a str)> + 'a> {
        if !self.is_template() {
            return None;
        }
        if tlv::fields(self.value, self.unit).any(|f| f.is_err()) {
            return None;
        }
        Some(
            tlv::fields(self.value, self.unit)
                .filter_map(Result::ok)
                .map(|f| (f.tag, f.value)),
        )
    }
}

/// Finds `sub` in a template value. A template that does not parse is an error; a
/// template that parses without `sub` is `Ok(None)`.
fn template_get(
    value: &str,
    unit: LengthUnit,
    tag: u8,
    sub: u8,
    base_offset: usize,
) -> Result<Option<&str>, EmvError> {
    let mut found = None;
    for field in tlv::fields(value, unit) {
        let f = field.map_err(|e| EmvError::Malformed {
            field: Some(FieldPath { tag, sub: e.tag }),
            offset: base_offset + e.offset,
            problem: Problem::Tlv(e.problem),
        })?;
        if f.tag == sub {
            if found.is_some() {
                return Err(EmvError::at(
                    FieldPath::sub(tag, sub),
                    base_offset + f.offset,
                    Problem::DuplicateTag,
                ));
            }
            found = Some(f.value);
        }
    }
    Ok(found)
}

/// The same error as [`EmvError::Incomplete`] when it says the input ran out: it ended
/// inside a tag, a length or a value, or had no checksum field at all.
fn cut_short(e: &EmvError) -> Option<EmvError> {
    match *e {
        EmvError::Malformed {
            field,
            offset,
            problem:
                problem @ (Problem::Tlv(TlvProblem::TruncatedHeader | TlvProblem::TruncatedValue)
                | Problem::MissingCrc),
        } => Some(EmvError::Incomplete {
            field,
            offset,
            problem,
        }),
        _ => None,
    }
}

/// [`cut_short`], only when the input ran out inside tag 63, the checksum field.
fn cut_inside_crc(e: &EmvError) -> Option<EmvError> {
    match cut_short(e)? {
        cut @ EmvError::Incomplete {
            field: Some(FieldPath { tag: 63, .. }),
            problem: Problem::Tlv(_),
            ..
        } => Some(cut),
        _ => None,
    }
}

/// Verifies the checksum when the payload ends in `6304XXXX`. Returns whether it ran.
fn check_tail_crc(raw: &str) -> Result<bool, EmvError> {
    let bytes = raw.as_bytes();
    let n = bytes.len();
    if n < 8 || &bytes[n - 8..n - 4] != b"6304" {
        return Ok(false);
    }
    let Some(found) = raw.get(n - 4..).and_then(parse_crc_hex) else {
        return Ok(false);
    };
    let expected = crc16(&bytes[..n - 4]);
    if expected == found {
        Ok(true)
    } else {
        Err(EmvError::BadChecksum { expected, found })
    }
}

/// The fields of a maeul merchant code, borrowed from the payload. This is what the
/// classifier uses: it needs no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaeulView<'a> {
    pub currency: &'a str,
    pub merchant: u64,
    pub mcc: u16,
    pub name: &'a str,
    pub city: &'a str,
    pub amount_won: Option<u64>,
    pub reference: Option<&'a str>,
    pub terminal: Option<&'a str>,
    pub alternate: Option<AlternateView<'a>>,
}

/// Tag 64, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlternateView<'a> {
    pub language: &'a str,
    pub name: &'a str,
    pub city: Option<&'a str>,
}

impl<'a> MaeulView<'a> {
    /// `Ok(None)` when the payload has no `KR.MAEUL` template (another scheme's code);
    /// an error when it has one but breaks maeul's rules.
    pub fn from_payload(p: &EmvPayload<'a>) -> Result<Option<MaeulView<'a>>, EmvError> {
        let Some(account) = p.account_with_guid(MAEUL_GUID) else {
            return Ok(None);
        };
        let t = account.tag;
        let base = p.offset_of(t);
        let sub = |s| template_get(account.value, p.unit, t, s, base);
        let currency = require(sub(1)?, FieldPath::sub(t, 1), base)?;
        check_currency_id(currency).map_err(|e| EmvError::at(FieldPath::sub(t, 1), base, e))?;
        let merchant_digits = require(sub(2)?, FieldPath::sub(t, 2), base)?;
        let merchant = parse_merchant_id(merchant_digits)
            .map_err(|e| EmvError::at(FieldPath::sub(t, 2), base, e))?;

        let top = |tag: u8| (p.get(tag), FieldPath::top(tag), p.offset_of(tag));
        let initiation = match top(1) {
            (Some("11"), ..) => Initiation::Static,
            (Some("12"), ..) => Initiation::Dynamic,
            (Some(_), path, at) => return Err(EmvError::at(path, at, Problem::BadInitiation)),
            (None, path, _) => return Err(EmvError::at(path, 0, Problem::Missing)),
        };
        let (mcc, path, at) = top(52);
        let mcc = parse_mcc(require(mcc, path, at)?).map_err(|e| EmvError::at(path, at, e))?;
        let (cur, path, at) = top(53);
        if require(cur, path, at)? != KRW_NUMERIC {
            return Err(EmvError::at(path, at, Problem::NotKrw));
        }
        let (country, path, at) = top(58);
        if require(country, path, at)? != "KR" {
            return Err(EmvError::at(path, at, Problem::NotKorea));
        }
        let amount_won = match (top(54), initiation) {
            ((None, path, at), Initiation::Dynamic) => {
                return Err(EmvError::at(path, at, Problem::Missing));
            }
            ((None, ..), Initiation::Static) => None,
            ((Some(_), path, at), Initiation::Static) => {
                return Err(EmvError::at(path, at, Problem::AmountInStaticCode));
            }
            ((Some(v), path, at), Initiation::Dynamic) => {
                Some(parse_amount(v).map_err(|e| EmvError::at(path, at, e))?)
            }
        };
        // Names are read leniently (any length, any printable text): a sticker printed
        // with a long name must still pay. Only the encoder enforces EMVCo's limits.
        let (name, path, at) = top(59);
        let name = require(name, path, at)?;
        let (city, path, at) = top(60);
        let city = require(city, path, at)?;
        let reference = p.sub(62, 5)?;
        let terminal = p.sub(62, 7)?;
        let alternate = match p.get(64) {
            None => None,
            Some(_) => {
                let base = p.offset_of(64);
                let language = require(p.sub(64, 0)?, FieldPath::sub(64, 0), base)?;
                let name = require(p.sub(64, 1)?, FieldPath::sub(64, 1), base)?;
                Some(AlternateView {
                    language,
                    name,
                    city: p.sub(64, 2)?,
                })
            }
        };
        Ok(Some(MaeulView {
            currency,
            merchant,
            mcc,
            name,
            city,
            amount_won,
            reference,
            terminal,
            alternate,
        }))
    }

    pub fn initiation(&self) -> Initiation {
        if self.amount_won.is_some() {
            Initiation::Dynamic
        } else {
            Initiation::Static
        }
    }

    pub fn to_owned_code(&self) -> MerchantCode {
        MerchantCode {
            currency: self.currency.to_owned(),
            merchant: self.merchant,
            mcc: self.mcc,
            name: self.name.to_owned(),
            city: self.city.to_owned(),
            amount_won: self.amount_won,
            reference: self.reference.map(str::to_owned),
            terminal: self.terminal.map(str::to_owned),
            alternate: self.alternate.map(|a| AlternateLanguage {
                language: a.language.to_owned(),
                name: a.name.to_owned(),
                city: a.city.map(str::to_owned),
            }),
        }
    }
}

fn require(value: Option<&str>, path: FieldPath, offset: usize) -> Result<&str, EmvError> {
    match value {
        None => Err(EmvError::at(path, offset, Problem::Missing)),
        Some("") => Err(EmvError::at(path, offset, Problem::Empty)),
        Some(v) => Ok(v),
    }
}

/// A currency id as maeul writes it: 1–32 of `A–Z a–z 0–9 . _ -` (e.g. `busan-dongbaek`).
pub fn check_currency_id(id: &str) -> Result<(), Problem> {
    if id.is_empty() {
        return Err(Problem::Empty);
    }
    if id.len() > CURRENCY_ID_CHARS_MAX {
        return Err(Problem::TooLong {
            chars_max: CURRENCY_ID_CHARS_MAX as u8,
        });
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(Problem::BadCharacter);
    }
    Ok(())
}

/// A merchant id: 1–20 decimal digits that fit a `u64`.
pub fn parse_merchant_id(digits: &str) -> Result<u64, Problem> {
    if digits.is_empty() {
        return Err(Problem::Empty);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::NotDigits);
    }
    digits.parse::<u64>().map_err(|_| Problem::OutOfRange)
}

fn parse_mcc(digits: &str) -> Result<u16, Problem> {
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::NotDigits);
    }
    digits.parse::<u16>().map_err(|_| Problem::OutOfRange)
}

/// Tag 54 in whole won. Integer digits; a fraction is tolerated only if it is all zeros
/// (`5000.00`, which some generators write for every currency). Never a float.
pub fn parse_amount(value: &str) -> Result<u64, Problem> {
    if value.is_empty() {
        return Err(Problem::Empty);
    }
    if value.len() > AMOUNT_DIGITS_MAX {
        return Err(Problem::TooLong {
            chars_max: AMOUNT_DIGITS_MAX as u8,
        });
    }
    let (whole, fraction) = match value.split_once('.') {
        Some((w, f)) => (w, f),
        None => (value, ""),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::NotDigits);
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::NotDigits);
    }
    if fraction.bytes().any(|b| b != b'0') {
        return Err(Problem::AmountHasFraction);
    }
    let won = whole.parse::<u64>().map_err(|_| Problem::OutOfRange)?;
    if won == 0 {
        return Err(Problem::AmountZero);
    }
    Ok(won)
}

/// A maeul merchant code, owned: what the server builds to print a sticker or show a
/// one-sale code, and what [`MerchantCode::parse`] gives back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerchantCode {
    /// The currency id, e.g. `busan-dongbaek`.
    pub currency: String,
    pub merchant: u64,
    /// Merchant category code (ISO 18245), 0–9999.
    pub mcc: u16,
    pub name: String,
    pub city: String,
    /// `Some` makes a dynamic (one-sale) code; `None` a static sticker.
    pub amount_won: Option<u64>,
    /// Tag 62.05, e.g. an order number on a dynamic code.
    pub reference: Option<String>,
    /// Tag 62.07, e.g. a kiosk's terminal label.
    pub terminal: Option<String>,
    /// Tag 64, the name in another language.
    pub alternate: Option<AlternateLanguage>,
}

/// Tag 64: merchant information in an alternate language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlternateLanguage {
    /// ISO 639-1, two letters, e.g. `EN`.
    pub language: String,
    pub name: String,
    pub city: Option<String>,
}

/// Why a [`MerchantCode`] cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode tag {field}: {problem}")]
pub struct EncodeError {
    pub field: FieldPath,
    pub problem: Problem,
}

impl EncodeError {
    pub fn code(&self) -> &'static str {
        "qr_encode_invalid_field"
    }
}

impl MerchantCode {
    /// A static sticker code.
    pub fn new_static(
        currency: impl Into<String>,
        merchant: u64,
        mcc: u16,
        name: impl Into<String>,
        city: impl Into<String>,
    ) -> MerchantCode {
        MerchantCode {
            currency: currency.into(),
            merchant,
            mcc,
            name: name.into(),
            city: city.into(),
            amount_won: None,
            reference: None,
            terminal: None,
            alternate: None,
        }
    }

    /// The same merchant, as a one-sale code for `amount_won`.
    pub fn with_amount(mut self, amount_won: u64) -> MerchantCode {
        self.amount_won = Some(amount_won);
        self
    }

    pub fn with_reference(mut self, reference: impl Into<String>) -> MerchantCode {
        self.reference = Some(reference.into());
        self
    }

    pub fn with_terminal(mut self, terminal: impl Into<String>) -> MerchantCode {
        self.terminal = Some(terminal.into());
        self
    }

    pub fn with_alternate(mut self, alternate: AlternateLanguage) -> MerchantCode {
        self.alternate = Some(alternate);
        self
    }

    pub fn initiation(&self) -> Initiation {
        if self.amount_won.is_some() {
            Initiation::Dynamic
        } else {
            Initiation::Static
        }
    }

    /// Reads a maeul merchant code. Another scheme's valid payload is
    /// [`EmvError::NotMaeul`].
    pub fn parse(payload: &str) -> Result<MerchantCode, EmvError> {
        let p = EmvPayload::parse(payload)?;
        match MaeulView::from_payload(&p)? {
            Some(view) => Ok(view.to_owned_code()),
            None => Err(EmvError::NotMaeul),
        }
    }

    /// The EMV payload string, checksum included.
    pub fn encode(&self) -> Result<String, EncodeError> {
        let err = |field, problem| EncodeError { field, problem };
        check_currency_id(&self.currency).map_err(|p| err(FieldPath::sub(26, 1), p))?;
        if self.mcc > 9999 {
            return Err(err(FieldPath::top(52), Problem::OutOfRange));
        }
        check_text(&self.name, NAME_CHARS_MAX).map_err(|p| err(FieldPath::top(59), p))?;
        check_text(&self.city, CITY_CHARS_MAX).map_err(|p| err(FieldPath::top(60), p))?;
        let mut additional = String::new();
        if let Some(reference) = &self.reference {
            check_text(reference, LABEL_CHARS_MAX).map_err(|p| err(FieldPath::sub(62, 5), p))?;
            push_field(&mut additional, 5, reference);
        }
        if let Some(terminal) = &self.terminal {
            check_text(terminal, LABEL_CHARS_MAX).map_err(|p| err(FieldPath::sub(62, 7), p))?;
            push_field(&mut additional, 7, terminal);
        }
        let mut language = String::new();
        if let Some(alt) = &self.alternate {
            if alt.language.len() != 2 || !alt.language.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(err(FieldPath::sub(64, 0), Problem::BadCharacter));
            }
            check_text(&alt.name, NAME_CHARS_MAX).map_err(|p| err(FieldPath::sub(64, 1), p))?;
            push_field(&mut language, 0, &alt.language);
            push_field(&mut language, 1, &alt.name);
            if let Some(city) = &alt.city {
                check_text(city, CITY_CHARS_MAX).map_err(|p| err(FieldPath::sub(64, 2), p))?;
                push_field(&mut language, 2, city);
            }
        }

        let mut account = String::with_capacity(64);
        push_field(&mut account, 0, MAEUL_GUID);
        push_field(&mut account, 1, &self.currency);
        push_field(&mut account, 2, &self.merchant.to_string());

        let mut out = String::with_capacity(160);
        push_field(&mut out, 0, "01");
        let initiation = match self.amount_won {
            Some(_) => "12",
            None => "11",
        };
        push_field(&mut out, 1, initiation);
        push_field(&mut out, MAEUL_TEMPLATE_TAG, &account);
        push_field(&mut out, 52, &format!("{:04}", self.mcc));
        push_field(&mut out, 53, KRW_NUMERIC);
        if let Some(amount) = self.amount_won {
            if amount == 0 {
                return Err(err(FieldPath::top(54), Problem::AmountZero));
            }
            let digits = amount.to_string();
            if digits.len() > AMOUNT_DIGITS_MAX {
                return Err(err(FieldPath::top(54), Problem::OutOfRange));
            }
            push_field(&mut out, 54, &digits);
        }
        push_field(&mut out, 58, "KR");
        push_field(&mut out, 59, &self.name);
        push_field(&mut out, 60, &self.city);
        if !additional.is_empty() {
            push_field(&mut out, 62, &additional);
        }
        if !language.is_empty() {
            push_field(&mut out, 64, &language);
        }
        out.push_str("6304");
        let crc = crc_hex(crc16(out.as_bytes()));
        out.extend(crc.iter().map(|&b| char::from(b)));
        debug_assert!(MerchantCode::parse(&out).as_ref() == Ok(self));
        Ok(out)
    }
}

/// Text for a printed field: non-empty, at most `chars_max` characters, no control
/// characters (a newline in a name would break a sticker and confuse a reader).
fn check_text(value: &str, chars_max: usize) -> Result<(), Problem> {
    if value.trim().is_empty() {
        return Err(Problem::Empty);
    }
    if char_len(value) > chars_max {
        return Err(Problem::TooLong {
            chars_max: u8::try_from(chars_max).unwrap_or(u8::MAX),
        });
    }
    if value.chars().any(char::is_control) {
        return Err(Problem::BadCharacter);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> MerchantCode {
        MerchantCode::new_static("busan-dongbaek", 1_234_567, 5812, "마을식당", "부산")
    }

    #[test]
    fn static_round_trip_has_the_documented_layout() {
        let payload = shop().encode().unwrap();
        assert!(payload.starts_with("000201010211"), "{payload}");
        assert!(
            payload.contains("26410008KR.MAEUL0114busan-dongbaek02071234567"),
            "{payload}"
        );
        assert!(payload.contains("5204581253034105802KR5904마을식당6002부산6304"));
        assert_eq!(MerchantCode::parse(&payload).unwrap(), shop());
    }

    #[test]
    fn dynamic_round_trip_with_every_optional_field() {
        let code = shop()
            .with_amount(12_500)
            .with_reference("ORDER-77")
            .with_terminal("KIOSK1")
            .with_alternate(AlternateLanguage {
                language: "EN".into(),
                name: "Maeul Diner".into(),
                city: Some("Busan".into()),
            });
        let payload = code.encode().unwrap();
        assert!(payload.starts_with("000201010212"));
        assert!(payload.contains("540512500"));
        assert_eq!(MerchantCode::parse(&payload).unwrap(), code);
    }

    #[test]
    fn encoder_refuses_what_emvco_or_maeul_forbid() {
        let check = |code: MerchantCode, field: FieldPath, problem: Problem| {
            assert_eq!(
                code.encode(),
                Err(EncodeError { field, problem }),
                "{code:?}"
            );
        };
        let mut c = shop();
        c.name = "가".repeat(26);
        check(c, FieldPath::top(59), Problem::TooLong { chars_max: 25 });
        let mut c = shop();
        c.city = " ".into();
        check(c, FieldPath::top(60), Problem::Empty);
        let mut c = shop();
        c.currency = "busan dongbaek".into();
        check(c, FieldPath::sub(26, 1), Problem::BadCharacter);
        let mut c = shop();
        c.name = "line\nbreak".into();
        check(c, FieldPath::top(59), Problem::BadCharacter);
        check(
            shop().with_amount(0),
            FieldPath::top(54),
            Problem::AmountZero,
        );
        check(
            shop().with_amount(10_000_000_000_000),
            FieldPath::top(54),
            Problem::OutOfRange,
        );
        let mut c = shop();
        c.mcc = 10_000;
        check(c, FieldPath::top(52), Problem::OutOfRange);
    }

    #[test]
    fn amounts_are_whole_won() {
        assert_eq!(parse_amount("5000"), Ok(5000));
        assert_eq!(parse_amount("5000.00"), Ok(5000));
        assert_eq!(parse_amount("5000."), Ok(5000));
        assert_eq!(parse_amount("5000.50"), Err(Problem::AmountHasFraction));
        assert_eq!(parse_amount("0"), Err(Problem::AmountZero));
        assert_eq!(parse_amount(".5"), Err(Problem::NotDigits));
        assert_eq!(parse_amount("-5"), Err(Problem::NotDigits));
        assert_eq!(parse_amount("1e5"), Err(Problem::NotDigits));
        assert_eq!(
            parse_amount("99999999999999"),
            Err(Problem::TooLong { chars_max: 13 })
        );
    }

    #[test]
    fn byte_counted_korean_lengths_still_read() {
        // Another generator counted UTF-8 bytes for the name: 마을식당 is 12 bytes.
        let mut body = String::from(
            "00020101021126410008KR.MAEUL0114busan-dongbaek020712345675204581253034105802KR",
        );
        body.push_str("5912마을식당6006부산6304");
        let crc = crc_hex(crc16(body.as_bytes()));
        body.push_str(std::str::from_utf8(&crc).unwrap());
        let p = EmvPayload::parse(&body).unwrap();
        assert_eq!(p.length_unit(), LengthUnit::Bytes);
        assert_eq!(MerchantCode::parse(&body).unwrap(), shop());
    }
}
