//! JSON bodies of the bank's HTTP API that are not domain types, shared by the client and
//! the simulated bank so the two cannot drift apart.

use serde::{Deserialize, Serialize};

use crate::types::{AccountNo, Answer, OrderStatus, Reference, StatementLine};

/// Largest page the bank serves for statements and the answer feed.
pub const PAGE_LIMIT_MAX: u32 = 1000;

/// Answer of `POST /v1/transfers` and `GET /v1/transfers/{reference}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusBody {
    pub reference: Reference,
    #[serde(flatten)]
    pub status: OrderStatus,
}

/// Answer of `GET /v1/accounts/{number}/statement`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementPage {
    pub lines: Vec<StatementLine>,
    /// Pass as `after_tx` for the next page; `None` when this was the last page.
    pub next_after_tx: Option<u64>,
}

/// Answer of `GET /v1/answers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswersPage {
    pub answers: Vec<Answer>,
    /// The highest seq in the feed, so a reader knows whether it has caught up.
    pub last_seq: u64,
}

/// Answer of `GET /v1/accounts/{number}/holder` (예금주 조회): the name an account is
/// held under, as banks answer before a transfer or a direct-debit agreement. Only open
/// accounts are answered; an unknown or closed number is a 404 `account_not_found`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolderBody {
    pub number: AccountNo,
    pub holder: String,
}

/// Body of every error answer (4xx/5xx): a stable code and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

/// Body of `POST /v1/accounts`, and one element of the binary's `--accounts` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub number: AccountNo,
    pub holder: String,
    pub balance: i64,
    #[serde(default)]
    pub allow_negative: bool,
}

/// Answer of `GET /v1/accounts/{number}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub number: AccountNo,
    pub holder: String,
    pub balance: i64,
    pub allow_negative: bool,
    pub closed: bool,
}
