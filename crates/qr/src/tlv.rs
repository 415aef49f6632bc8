//! The EMVCo tag-length-value grammar: a two-digit tag, a two-digit length, then the value.
//!
//! **Lengths count characters.** EMVCo defines the length as the number of characters of
//! the value, and its own worked example proves it: `64200002ZH0104最佳运输0202北京` has
//! length 20 because `最佳运输` counts as 4. We encode that way (Korean merchant names are
//! counted in characters, not UTF-8 bytes).
//!
//! **Decoding is tolerant.** Some generators count UTF-8 bytes instead. For ASCII the two
//! readings agree; for a non-ASCII payload that does not parse with character lengths the
//! caller ([`crate::emv`]) retries with byte lengths, so such codes still scan.
//!
//! The reader is an iterator over borrowed slices: it never allocates, which is most of why
//! a decode costs well under a microsecond.

use std::fmt;

/// How a length field counts its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LengthUnit {
    /// Unicode scalar values: what EMVCo specifies and what we write.
    Chars,
    /// UTF-8 bytes: what some other generators write.
    Bytes,
}

/// One data object: its tag, its value and the byte offset of its tag in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    pub tag: u8,
    pub value: &'a str,
    pub offset: usize,
}

/// Why a TLV sequence could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlvProblem {
    /// The two characters where a tag belongs are not digits.
    TagNotDigits,
    /// The two characters where a length belongs are not digits.
    LengthNotDigits,
    /// The input ends inside a tag or a length.
    TruncatedHeader,
    /// The length says more than what is left.
    TruncatedValue,
    /// With byte lengths: the value would end inside a multi-byte character.
    SplitsCharacter,
}

impl TlvProblem {
    pub fn code(self) -> &'static str {
        match self {
            TlvProblem::TagNotDigits => "tag_not_digits",
            TlvProblem::LengthNotDigits => "length_not_digits",
            TlvProblem::TruncatedHeader => "truncated_header",
            TlvProblem::TruncatedValue => "truncated_value",
            TlvProblem::SplitsCharacter => "length_splits_character",
        }
    }
}

impl fmt::Display for TlvProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlvProblem::TagNotDigits => "tag is not two digits",
            TlvProblem::LengthNotDigits => "length is not two digits",
            TlvProblem::TruncatedHeader => "input ends inside a tag or length",
            TlvProblem::TruncatedValue => "length runs past the end of the input",
            TlvProblem::SplitsCharacter => "length ends inside a multi-byte character",
        })
    }
}

/// A TLV error and where it happened (byte offset into the input that was iterated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlvError {
    pub offset: usize,
    /// The tag being read, when its two digits were readable.
    pub tag: Option<u8>,
    pub problem: TlvProblem,
}

/// Iterates over the data objects of `input`. After the first error it yields nothing more.
pub fn fields(input: &str, unit: LengthUnit) -> Fields<'_> {
    Fields {
        input,
        pos: 0,
        unit,
        done: false,
    }
}

/// See [`fields`].
#[derive(Clone, Debug)]
pub struct Fields<'a> {
    input: &'a str,
    pos: usize,
    unit: LengthUnit,
    done: bool,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.input.len() {
            return None;
        }
        let offset = self.pos;
        let rest = &self.input.as_bytes()[offset..];
        let fail = |this: &mut Self, tag, problem| {
            this.done = true;
            Some(Err(TlvError {
                offset,
                tag,
                problem,
            }))
        };
        if rest.len() < 2 {
            return fail(self, None, TlvProblem::TruncatedHeader);
        }
        let Some(tag) = two_digits(rest[0], rest[1]) else {
            return fail(self, None, TlvProblem::TagNotDigits);
        };
        if rest.len() < 4 {
            return fail(self, Some(tag), TlvProblem::TruncatedHeader);
        }
        let Some(len) = two_digits(rest[2], rest[3]) else {
            return fail(self, Some(tag), TlvProblem::LengthNotDigits);
        };
        // The four header bytes are ASCII digits, so `offset + 4` is a char boundary.
        let value_and_rest = &self.input[offset + 4..];
        let split = match self.unit {
            LengthUnit::Chars => split_chars(value_and_rest, usize::from(len)),
            LengthUnit::Bytes => split_bytes(value_and_rest, usize::from(len)),
        };
        match split {
            Ok(value) => {
                self.pos = offset + 4 + value.len();
                Some(Ok(Field { tag, value, offset }))
            }
            Err(problem) => fail(self, Some(tag), problem),
        }
    }
}

fn two_digits(a: u8, b: u8) -> Option<u8> {
    if a.is_ascii_digit() && b.is_ascii_digit() {
        Some((a - b'0') * 10 + (b - b'0'))
    } else {
        None
    }
}

/// The first `n` characters of `s`.
fn split_chars(s: &str, n: usize) -> Result<&str, TlvProblem> {
    let bytes = s.as_bytes();
    // Fast path: almost every value is ASCII, where characters are bytes.
    if n <= bytes.len() && bytes[..n].is_ascii() {
        return Ok(&s[..n]);
    }
    match s.char_indices().nth(n) {
        Some((end, _)) => Ok(&s[..end]),
        None if s.chars().count() == n => Ok(s),
        None => Err(TlvProblem::TruncatedValue),
    }
}

/// The first `n` bytes of `s`, which must end on a character boundary.
fn split_bytes(s: &str, n: usize) -> Result<&str, TlvProblem> {
    if n > s.len() {
        return Err(TlvProblem::TruncatedValue);
    }
    s.get(..n).ok_or(TlvProblem::SplitsCharacter)
}

/// The number of characters EMVCo counts for `value`.
pub fn char_len(value: &str) -> usize {
    if value.is_ascii() {
        value.len()
    } else {
        value.chars().count()
    }
}

/// Appends one data object. The caller has checked that `value` is at most 99 characters.
pub(crate) fn push_field(out: &mut String, tag: u8, value: &str) {
    debug_assert!(tag < 100);
    let len = char_len(value);
    debug_assert!(
        len < 100,
        "value longer than 99 characters reached push_field"
    );
    push_two_digits(out, tag);
    push_two_digits(out, u8::try_from(len).unwrap_or(99));
    out.push_str(value);
}

fn push_two_digits(out: &mut String, n: u8) {
    out.push(char::from(b'0' + n / 10 % 10));
    out.push(char::from(b'0' + n % 10));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, unit: LengthUnit, expected: &[(u8, &str)], error: Option<TlvProblem>) {
        let mut got = Vec::new();
        let mut err = None;
        for field in fields(input, unit) {
            match field {
                Ok(f) => got.push((f.tag, f.value)),
                Err(e) => err = Some(e.problem),
            }
        }
        assert_eq!(got, expected, "fields of {input:?}");
        assert_eq!(err, error, "error of {input:?}");
    }

    #[test]
    fn reads_ascii() {
        check(
            "000201010211",
            LengthUnit::Chars,
            &[(0, "01"), (1, "11")],
            None,
        );
        check("", LengthUnit::Chars, &[], None);
        check("0000", LengthUnit::Chars, &[(0, "")], None);
    }

    #[test]
    fn counts_characters_like_the_emvco_example() {
        check(
            "0002ZH0104最佳运输0202北京",
            LengthUnit::Chars,
            &[(0, "ZH"), (1, "最佳运输"), (2, "北京")],
            None,
        );
        check(
            "5906마을가게상점",
            LengthUnit::Chars,
            &[(59, "마을가게상점")],
            None,
        );
    }

    #[test]
    fn byte_lengths_are_readable_too() {
        check("5906마을", LengthUnit::Bytes, &[(59, "마을")], None);
        check(
            "5904마을",
            LengthUnit::Bytes,
            &[],
            Some(TlvProblem::SplitsCharacter),
        );
    }

    #[test]
    fn reports_the_first_error() {
        check(
            "0",
            LengthUnit::Chars,
            &[],
            Some(TlvProblem::TruncatedHeader),
        );
        check(
            "00",
            LengthUnit::Chars,
            &[],
            Some(TlvProblem::TruncatedHeader),
        );
        check(
            "0A0201",
            LengthUnit::Chars,
            &[],
            Some(TlvProblem::TagNotDigits),
        );
        check(
            "00X201",
            LengthUnit::Chars,
            &[],
            Some(TlvProblem::LengthNotDigits),
        );
        check(
            "000201010511",
            LengthUnit::Chars,
            &[(0, "01")],
            Some(TlvProblem::TruncatedValue),
        );
        check(
            "5903마을",
            LengthUnit::Chars,
            &[],
            Some(TlvProblem::TruncatedValue),
        );
    }

    #[test]
    fn writes_character_lengths() {
        let mut out = String::new();
        push_field(&mut out, 59, "마을가게");
        push_field(&mut out, 0, "01");
        assert_eq!(out, "5904마을가게000201");
    }
}
