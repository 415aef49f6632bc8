//! The interchange set, version 1: its manifest and the rows of each file.
//!
//! This is a promise to whoever takes over a currency (`docs/interchange.md` says it in
//! words). These types are the format, not views of maeul's internals: a later maeul
//! keeps reading version 1 through them, whatever its ledger becomes, and the fixture
//! in `tests/fixtures/` proves it. Money is integer won; times are Unix microseconds
//! (`*_us`), milliseconds (`*_ms`) or seconds (`*_s`) as the name says.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What `manifest.json` says it is.
pub const FORMAT: &str = "maeul-interchange";
/// The version this build writes and the newest it reads.
pub const VERSION: u32 = 1;

/// The files of a set, by name.
pub mod files {
    pub const MANIFEST: &str = "manifest.json";
    /// The journal's records 1 ..= cut, byte for byte (the journal crate's format 1).
    pub const JOURNAL: &str = "journal.dat";
    pub const ACCOUNTS: &str = "accounts.jsonl";
    pub const CITIZENS: &str = "citizens.jsonl";
    pub const PURCHASES: &str = "purchases.jsonl";
    pub const PAYMENTS: &str = "payments.jsonl";
    pub const CASHBACKS: &str = "cashbacks.jsonl";
    pub const PENDING: &str = "pending.jsonl";
    pub const PAYOUTS: &str = "payouts.jsonl";
    pub const SCHEMES: &str = "schemes.jsonl";
    pub const BUDGETS: &str = "budgets.jsonl";
    pub const MERCHANTS: &str = "merchants.jsonl";
    pub const ALIASES: &str = "aliases.jsonl";
    pub const REVENUE_BANDS: &str = "revenue_bands.csv";
    pub const NOTICES: &str = "notices.jsonl";
    /// People's data, encrypted to the successor's age (X25519) key.
    pub const PEOPLE: &str = "people.jsonl.age";
    /// In a delta set only: the keys of the base's rows that are gone since.
    pub const REMOVED: &str = "removed.jsonl";
    /// The ledger's files: what the journal says at the cut, as rows. A follower's set
    /// (made at a cutover) leaves them out with the journal.
    pub const LEDGER: [&str; 9] = [
        ACCOUNTS, CITIZENS, PURCHASES, PAYMENTS, CASHBACKS, PENDING, PAYOUTS, SCHEMES, BUDGETS,
    ];
}

/// `manifest.json`: what the set holds and how to check it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    pub version: u32,
    pub currency: String,
    /// The maeul version and rules that wrote it.
    pub written_by: String,
    pub written_at_us: u64,
    pub cut: Cut,
    /// The ledger's state hash after record `cut.seq` (32 hex digits).
    pub state_hash: String,
    /// Every file but the manifest, in the order written.
    pub files: Vec<FileEntry>,
    pub sums: Sums,
    pub people: PeopleSummary,
    /// Only in a **delta** set, made at a cutover for a follower that holds a base
    /// set already: the base's id (the SHA-256 of its `manifest.json`). Its people and
    /// merchant files then hold only the rows that are new or changed since the base,
    /// and `removed.jsonl` the keys of the base's rows that are gone. A reader that
    /// did not ask for a delta refuses one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
}

/// Where the set was cut from the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cut {
    /// The last journal record included.
    pub seq: u64,
    /// Its journal time.
    pub time_us: u64,
    /// Its chain hash (64 hex digits): the journal head a successor continues from.
    pub head_hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    /// Lines for JSONL and CSV files, records for the journal.
    pub rows: u64,
    pub bytes: u64,
    /// SHA-256 of the file's bytes (64 hex digits).
    pub sha256: String,
}

/// Control totals, in won, from the ledger at the cut.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sums {
    /// Posted balances summed by account kind (the issuer reserve is negative: it is
    /// where value comes from). They add up to zero.
    pub balances_by_account_kind: BTreeMap<String, i64>,
    /// Citizens' spendable value by source (`purchased`, `allowance`, `cashback`,
    /// `gift`, `correction`).
    pub wallets_by_source: BTreeMap<String, i64>,
    /// Won held by pending transfers, by transfer kind.
    pub pending_by_kind: BTreeMap<String, i64>,
    /// Accounts by kind.
    pub accounts_by_kind: BTreeMap<String, u64>,
}

/// What the encrypted people file holds (counts only: the rest is secret).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeopleSummary {
    /// `age-v1-x25519`: <https://age-encryption.org/v1>, to one X25519 recipient.
    pub encryption: String,
    /// The successor's public key (`age1…`) it is encrypted to.
    pub recipient: String,
    pub users: u64,
    pub bank_links: u64,
    /// Key files carried (`pin.key`: PIN hashes are keyed by it; `qr.key`).
    pub keys: Vec<String>,
    /// Sign-ups that had not reached the ledger: no money, not carried.
    pub unfinished_sign_ups: u64,
    /// Live sessions carried.
    #[serde(default)]
    pub sessions: u64,
}

// ----- ledger rows --------------------------------------------------------------------

/// `accounts.jsonl`: every ledger account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRow {
    pub id: u64,
    /// `citizen_wallet`, `merchant`, `issuer_reserve`, `subsidy_budget`,
    /// `settlement_clearing`, `fees`.
    pub kind: String,
    /// `active`, `frozen`, `closed`.
    pub state: String,
    /// Posted balance.
    pub balance: i64,
    pub debits_pending: i64,
    pub credits_pending: i64,
    /// Merchants: the sources they accept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepts: Option<Vec<String>>,
    /// Citizen wallets: spendable value by source and expiry, in spending order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lots: Vec<LotRow>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotRow {
    pub source: String,
    /// The scheme's sub-source (a purchase channel, a policy programme).
    pub tag: u16,
    pub expires_at_us: u64,
    pub amount: i64,
}

/// `citizens.jsonl`: each citizen's scheme counters (this month's and year's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CitizenRow {
    pub wallet: u64,
    pub birth_year: u16,
    /// The month the monthly counters are for (months since year 0, KST) and the year.
    pub counters_month: u32,
    pub counters_year: i32,
    pub purchased_month: i64,
    pub purchased_year: i64,
    /// (channel, won) bought this month.
    pub purchased_by_channel: Vec<(u16, i64)>,
    pub gift_sent_month: i64,
    pub gift_received_month: i64,
    pub cashback_spend_month: i64,
    pub cashback_month: i64,
    pub face_loaded: i64,
    /// (budget account, won) of discount loaded and not yet spent or returned.
    pub subsidy_loaded: Vec<(u64, i64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_charge: Option<AutoChargeRow>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoChargeRow {
    /// Day of the month.
    pub day: u8,
    pub monthly_face: i64,
    pub channel: u16,
    /// Top up to `monthly_face` rather than buy it whole.
    pub topup: bool,
}

/// `purchases.jsonl`: purchases still remembered for their cancellation window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseRow {
    pub charge: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subsidy: Option<u64>,
    pub wallet: u64,
    pub channel: u16,
    pub face: i64,
    pub paid: i64,
    pub discount: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<u64>,
    pub at_us: u64,
    /// Cancellable until then (if unused).
    pub cancellable_until_us: u64,
    /// `pending`, `posted`, `failed`, `cancelled`.
    pub state: String,
}

/// `payments.jsonl`: payments still refundable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRow {
    pub payment: u64,
    pub payer: u64,
    pub merchant: u64,
    pub amount: i64,
    pub refunded: i64,
    pub at_us: u64,
    /// The value a refund gives back, by source and expiry.
    pub drawn: Vec<LotRow>,
}

/// `cashbacks.jsonl`: cash-back still open to claw-back if its payment is refunded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashbackRow {
    pub payment: u64,
    pub payer: u64,
    pub amount: i64,
    pub refunded: i64,
    pub cashback: i64,
    pub clawed: i64,
    pub counted: i64,
    pub budget: u64,
    pub at_us: u64,
}

/// `pending.jsonl`: transfers held until posted, voided or expired (charges waiting
/// for a bank, payouts, redemptions).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRow {
    pub id: u64,
    pub kind: String,
    pub debit: u64,
    pub credit: u64,
    pub amount: i64,
    pub deadline_us: u64,
}

/// `payouts.jsonl`: cash refunds whose bank payout is still pending.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutRow {
    pub payout: u64,
    pub wallet: u64,
    pub amount: i64,
    pub at_us: u64,
}

/// `schemes.jsonl`: every version of the rules, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemeRow {
    pub number: u32,
    pub effective_at_us: u64,
    pub set_at_us: u64,
    pub operator: String,
    /// The scheme file (TOML), as `maeul scheme check` reads it.
    pub config_toml: String,
}

/// `budgets.jsonl`: each budget's balance and spending against its ceilings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetRow {
    pub budget: u64,
    pub balance: i64,
    pub usage_month: u32,
    pub spent_month: i64,
    pub spent_total: i64,
}

// ----- registry and public rows -------------------------------------------------------

/// `merchants.jsonl`: the registry record, the ledger's view of the merchant, and the
/// payload printed on its sticker (for a successor that must alias it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MerchantRow {
    pub id: u64,
    /// The registry record: 사업자등록번호, profile, status with who changed it, when
    /// and why (directory's `Merchant`, as JSON).
    pub registry: serde_json::Value,
    /// The ledger's scheme profile, when the ledger knows the merchant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<u16>,
    /// Annual revenue in won (`null`: unknown, which the rules treat as over the cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annual_revenue: Option<Option<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_suspension: Option<String>,
    /// The static EMVCo payload of its sticker.
    pub sticker_payload: String,
}

/// `aliases.jsonl`: QR payloads of earlier operators that pay a merchant here, in the
/// order their files were imported (`file` counts from 1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRow {
    pub file: u32,
    pub payload: String,
    pub merchant: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `notices.jsonl`: notices to citizens and merchants, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeRow {
    pub at_s: u64,
    pub title_ko: String,
    pub title_en: String,
    pub body_ko: String,
    pub body_en: String,
}

// ----- people (encrypted) -------------------------------------------------------------

/// `removed.jsonl` (delta sets only): a row of the base that is gone, by its key:
/// `user:<id>`, `bank_link:<account>`, `session:<token hash>`, `key:<name>` or
/// `merchant:<id>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedRow {
    pub key: String,
}

/// One line of the decrypted people file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PeopleRow {
    /// A citizen or merchant who signs in.
    User {
        /// The user's id: the successor keeps it, since it is the ledger's client id of
        /// every command the user sent (a retry after the switch is the same request).
        id: i64,
        /// `citizen` or `merchant`.
        role: String,
        login: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        login_key: Option<String>,
        /// argon2id PHC string.
        password_hash: String,
        /// Keyed by `pin.key` (carried below).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pin_hash: Option<String>,
        account: u64,
        created_s: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
    },
    /// A verified link of a ledger account to a bank account.
    BankLink {
        account: u64,
        bank_account: String,
        verified_ms: u64,
    },
    /// A key file of the data directory, base64.
    Key { name: String, base64: String },
    /// A live session of a citizen or merchant: the token's blake3 hash (hex), as
    /// maeul keeps it, so apps and pages signed in go on at the
    /// successor without signing in again.
    Session {
        login: String,
        token_hash: String,
        expires_at_s: u64,
    },
}
