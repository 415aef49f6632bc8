//! The mapping file: which column of a legacy dump means what, and how the old system's
//! wallet types, statuses and revenue bands become ours (`docs/legacy-import.md`).
//!
//! Unknown keys are an error (a misspelt column name must not be silently ignored); a
//! value the mapping does not list is reported per row and gets the safe default.

use std::collections::BTreeMap;

use serde::Deserialize;

/// How the dump files are encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DumpEncoding {
    /// UTF-8 when the bytes are valid UTF-8 (a BOM is dropped), else CP949.
    #[default]
    Auto,
    Utf8,
    Cp949,
}

/// What a legacy wallet type is in maeul. `ignore` is for kinds that are not money of
/// the currency (points, coupons): their rows are reported, never imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WalletKind {
    Purchased,
    Allowance,
    Cashback,
    Ignore,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    Active,
    /// Kept with their value, but no payment until the operator unfreezes them.
    Frozen,
    /// Gone: imported only if value is left (then frozen, and reported).
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MerchantStatus {
    Approved,
    Suspended,
    Closed,
    Applied,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// The old system's name: part of every row's provenance and of the users' logins,
    /// so two legacy systems imported into one currency never collide.
    pub system: String,
    #[serde(default)]
    pub encoding: DumpEncoding,
    pub members: MembersMap,
    pub wallets: WalletsMap,
    pub merchants: MerchantsMap,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembersMap {
    pub file: String,
    /// Column names (the header row's words, trimmed).
    pub id: String,
    pub name: Option<String>,
    pub address: Option<String>,
    pub birth_year: Option<String>,
    pub status: Option<String>,
    /// Legacy status word → ours.
    #[serde(default)]
    pub statuses: BTreeMap<String, MemberStatus>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletsMap {
    pub file: String,
    /// The wallet row's own id in the old system (provenance, duplicates).
    pub id: String,
    /// The member the balance belongs to (the members file's id).
    pub member: String,
    pub kind: String,
    pub balance: String,
    /// The last day the value may be used (YYYYMMDD, YYYY-MM-DD, YYYY.MM.DD, YYYY/MM/DD);
    /// without it, or in a row where it is empty, the value does not expire.
    pub expires: Option<String>,
    /// Legacy wallet type → ours.
    pub kinds: BTreeMap<String, WalletKind>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantsMap {
    pub file: String,
    pub id: String,
    /// 사업자등록번호: the key maeul's registry knows merchants by.
    pub brn: String,
    pub name: String,
    pub status: Option<String>,
    pub revenue_band: Option<String>,
    /// What the old system owes the merchant (sold, not yet paid out).
    pub unpaid: Option<String>,
    /// The payload of the merchant's old QR sticker: becomes an alias.
    pub qr: Option<String>,
    pub address: Option<String>,
    #[serde(default)]
    pub statuses: BTreeMap<String, MerchantStatus>,
    /// Legacy band → a revenue label maeul reads ("영세", "3억 이하", "10억~30억",
    /// "30억 초과", or an amount).
    #[serde(default)]
    pub revenue_bands: BTreeMap<String, String>,
}

impl Mapping {
    pub fn parse(text: &str) -> Result<Mapping, String> {
        let m: Mapping = toml::from_str(text).map_err(|e| e.to_string())?;
        if m.system.trim().is_empty()
            || m.system.len() > 40
            || !m
                .system
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(
                "`system` must be 1 to 40 ASCII letters, digits, '-' or '_' (it is part of \
                 every imported user's login)"
                    .into(),
            );
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_key_is_an_error_not_a_default() {
        let good = r#"
system = "old-pay"
[members]
file = "m.csv"
id = "회원번호"
[wallets]
file = "w.csv"
id = "지갑번호"
member = "회원번호"
kind = "구분"
balance = "잔액"
kinds = { "일반" = "purchased" }
[merchants]
file = "s.csv"
id = "가맹점번호"
brn = "사업자번호"
name = "상호"
"#;
        assert!(Mapping::parse(good).is_ok());
        let bad = good.replace("balance =", "balanse =");
        assert!(Mapping::parse(&bad).is_err());
        let bad = good.replace("old-pay", "old pay");
        assert!(Mapping::parse(&bad).is_err());
    }
}
