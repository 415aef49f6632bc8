//! Currency codes: the name of a currency's directory and journal.

use std::fmt;

use ledger::codec::{DecodeError, Put, Reader};

/// A currency's short code, e.g. `busan-dongbaek`: 1 to 32 of `a-z`, `0-9`, `-`,
/// starting with a letter or digit. Safe as a directory name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CurrencyCode(String);

impl CurrencyCode {
    pub const LEN_MAX: usize = 32;

    pub fn new(code: &str) -> Result<CurrencyCode, String> {
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if code.is_empty()
            || code.len() > Self::LEN_MAX
            || !code.chars().all(ok_char)
            || code.starts_with('-')
        {
            return Err(format!(
                "currency code {code:?} must be 1-{} characters of a-z, 0-9 and '-', not starting with '-'",
                Self::LEN_MAX
            ));
        }
        Ok(CurrencyCode(code.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl CurrencyCode {
    /// As stored in genesis records and snapshots: a length byte, then the ASCII code.
    pub(crate) fn put(&self, out: &mut Vec<u8>) {
        // At most LEN_MAX (32) bytes, so the length fits in a byte.
        out.put_u8(self.0.len() as u8);
        out.put_bytes(self.0.as_bytes());
    }

    pub(crate) fn get(r: &mut Reader<'_>) -> Result<CurrencyCode, DecodeError> {
        let n = usize::from(r.u8("currency length")?);
        let offset = r.position();
        let raw = r.bytes(n, "currency code")?;
        std::str::from_utf8(raw)
            .ok()
            .and_then(|s| CurrencyCode::new(s).ok())
            .ok_or(DecodeError {
                offset,
                what: "currency code",
            })
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
