//! Currency codes: the name of a currency's directory and journal.

use std::fmt;

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

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
