//! Linking a bank account: ownership is checked before the account is ever charged or
//! paid, as Korean services do before a withdrawal account is used.
//!
//! ```text
//! POST /me/bank-account/verification {bank_account, holder_name?, password}
//!   1. 예금주 조회: the bank's holder name must match the user's name (the one the
//!      service knows, else the one given), after Unicode NFKC, trimming, one space
//!      for any run of whitespace and lower case. A mismatch says so without the name.
//!   2. 1원 인증: 1 won from the issuer's bank account, memo "maeul 1234"
//!      (the operator's cost, outside the ledger: see treasury/src/verification.rs)
//!   → 201 {id, status: code_sent, bank_account: masked, expires_at, tries_left, consent}
//!     (202 in_progress when the bank's answer was not had: GET it again later)
//! POST /me/bank-account/verification/{id}/confirm {code, consent: true}
//!   3. the code read in the banking app (5 wrong ones lock it; it lasts 10 minutes)
//!   4. 출금 동의: the consent (text version, time, user, keyed hash and masked number)
//!   → 200 {bank_account, consent_version, linked_at}: only now is the account linked
//!     (`bank_links` and the treasury's `LinkedAccounts`)
//! ```
//!
//! Starts are bounded per user (5 a day, each holder enquiry included, so the enquiry
//! is no oracle for whose account a number is). Verifications, consents and links are
//! kept in the service's `BankLinkStore` (`service.sqlite`); only verified links are loaded at start, so an account
//! linked by the old one-step route (which now answers 410) must be verified again.
//! People's names and account numbers are never logged (users by id only).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::StatusCode;
use ledger::AccountId;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use treasury::{Settled, VerificationDeposit};
use unicode_normalization::UnicodeNormalization;
use utoipa::ToSchema;

use crate::auth::{Auth, Caller, Role};
use crate::error::ServiceError;
use crate::idempotency::{Answered, Fingerprint, claim_key};
use crate::store::{InsertedVerification, NewVerification, VerifiedLink};
use crate::{Currency, Service};

/// The version of the consent text below; recorded with every consent. Change it (and
/// the words) together.
pub const CONSENT_VERSION: &str = "2026-01";

const CONSENT_CITIZEN_KO: &str = "본인은 위 계좌의 예금주로서, 마을 지역화폐 충전 대금을 이 계좌에서 출금하는 것과 환불금을 이 계좌로 입금하는 것에 동의합니다. 동의는 계좌를 바꾸거나 해지하면 끝납니다.";
const CONSENT_CITIZEN_EN: &str = "As the holder of this account I agree that maeul withdraws the price of the vouchers I charge from it and pays refunds into it. The consent ends when I change or remove the account.";
const CONSENT_MERCHANT_KO: &str = "본 사업자는 위 계좌의 예금주로서, 지역화폐 환전(정산) 대금을 이 계좌로 입금받는 것에 동의합니다. 동의는 계좌를 바꾸거나 해지하면 끝납니다.";
const CONSENT_MERCHANT_EN: &str = "As the holder of this account the business agrees that its redemptions are paid into it. The consent ends when the account is changed or removed.";

/// How the flow is bounded (`Service::with_bank_link`).
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// How long a code can be confirmed.
    pub code_ttl: Duration,
    /// Wrong codes before a verification locks.
    pub code_tries: u32,
    /// Verifications a user may start in 24 hours (every holder enquiry counts).
    pub starts_per_day: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            code_ttl: Duration::from_secs(10 * 60),
            code_tries: 5,
            starts_per_day: 5,
        }
    }
}

const DAY_MS: u64 = 24 * 3600 * 1000;
/// Longest holder name taken (a business name can be long).
const HOLDER_NAME_CHARS_MAX: usize = 100;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

// ----- names, numbers, codes ----------------------------------------------------------

/// A name as compared: NFKC (so decomposed Hangul, full-width letters and compatibility
/// jamo compare equal to their usual forms), trimmed, every run of whitespace one
/// space, lower case.
pub fn normalize_name(name: &str) -> String {
    let nfkc: String = name.nfkc().collect();
    nfkc.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The account number as shown back: every letter and digit but the last four hidden,
/// hyphens kept (`110-000005` → `***-**0005`).
pub fn mask_account(number: &str) -> String {
    let shown = number.chars().filter(char::is_ascii_alphanumeric).count();
    let mut hide = shown.saturating_sub(4);
    number
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() && hide > 0 {
                hide -= 1;
                '*'
            } else {
                c
            }
        })
        .collect()
}

/// What the user typed, as compared with the code: `maeul 1234`, ` 1234 ` and `1234`
/// are the same.
fn normalize_code(input: &str) -> String {
    let compact: String = input
        .nfkc()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    compact.strip_prefix("maeul").unwrap_or(&compact).to_owned()
}

fn memo(code: &str) -> String {
    format!("maeul {code}")
}

// ----- problems -----------------------------------------------------------------------

fn problem(status: StatusCode, code: &str, ko: &str, en: &str) -> ServiceError {
    ServiceError::new(status, code, ko, en)
}

fn holder_mismatch() -> ServiceError {
    problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "holder_name_mismatch",
        "계좌의 예금주가 회원님의 이름과 다릅니다. 본인 명의의 계좌만 연결할 수 있습니다.",
        "The account is not held in your name. Only an account in your own name can be linked.",
    )
}

fn account_not_found() -> ServiceError {
    problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "bank_account_not_found",
        "은행에서 이 계좌를 찾을 수 없습니다. 계좌번호를 확인해 주세요.",
        "The bank does not know this account (or it is closed). Please check the number.",
    )
}

fn deposit_refused(detail: String) -> ServiceError {
    problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_deposit_refused",
        "은행이 확인용 1원 입금을 받지 않았습니다. 계좌를 확인한 뒤 다시 시작해 주세요.",
        "The bank refused the 1-won check deposit. Please check the account and start again.",
    )
    .detail(detail)
}

fn bank_unavailable() -> ServiceError {
    ServiceError {
        retry_after_s: Some(5),
        ..problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "bank_unavailable",
            "은행이 응답하지 않습니다. 잠시 후 다시 시도해 주세요. 계좌는 연결되지 않았습니다.",
            "The bank is not answering. Please try again shortly; nothing was linked.",
        )
    }
}

fn verification_not_found() -> ServiceError {
    problem(
        StatusCode::NOT_FOUND,
        "verification_not_found",
        "계좌 인증 요청을 찾을 수 없습니다. 처음부터 다시 시작해 주세요.",
        "No such account verification. Please start again.",
    )
}

fn expired(detail: &str) -> ServiceError {
    problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_expired",
        "인증 시간이 지났습니다. 계좌 인증을 다시 시작해 주세요.",
        "The verification has expired. Please start again.",
    )
    .detail(detail.to_owned())
}

fn locked() -> ServiceError {
    problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_locked",
        "인증번호를 여러 번 틀려 이 인증이 잠겼습니다. 계좌 인증을 다시 시작해 주세요.",
        "Too many wrong codes: this verification is locked. Please start again.",
    )
}

fn failed() -> ServiceError {
    problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_failed",
        "이 계좌 인증은 끝났습니다(예금주 불일치 또는 입금 실패). 다시 시작해 주세요.",
        "This verification ended without a code (holder mismatch or deposit refused). Please start again.",
    )
}

fn in_progress() -> ServiceError {
    ServiceError {
        retry_after_s: Some(5),
        ..problem(
            StatusCode::CONFLICT,
            "verification_in_progress",
            "확인용 1원을 보내는 중입니다. 잠시 후 은행 앱에서 입금 내역을 확인하고 다시 시도해 주세요.",
            "The 1-won check deposit is still on its way. Please look in your banking app shortly and try again.",
        )
    }
}

fn consent_required() -> ServiceError {
    problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "consent_required",
        "출금 동의가 필요합니다. 동의 내용을 읽고 동의해 주세요. 인증번호는 아직 확인하지 않았습니다.",
        "Your consent is needed: please read it and agree. The code was not checked yet.",
    )
}

fn consent_outdated() -> ServiceError {
    problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "consent_version_outdated",
        "동의 내용이 바뀌었습니다. 새 내용을 읽고 다시 동의해 주세요.",
        "The consent text has changed. Please read the new one and agree again.",
    )
    .detail(format!("the current version is {CONSENT_VERSION}"))
}

fn code_wrong(tries_left: u32) -> ServiceError {
    problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_code_wrong",
        "인증번호가 맞지 않습니다. 은행 앱의 입금자명(적요) 'maeul' 뒤 숫자를 확인해 주세요.",
        "The code is wrong. Look for the digits after 'maeul' on the 1-won deposit in your banking app.",
    )
    .detail(format!("{tries_left} tries left"))
}

fn too_many_starts(wait_s: u64) -> ServiceError {
    ServiceError {
        retry_after_s: Some(wait_s.max(1)),
        ..problem(
            StatusCode::TOO_MANY_REQUESTS,
            "verification_limit",
            "오늘은 계좌 인증을 더 시작할 수 없습니다. 내일 다시 시도해 주세요.",
            "No more account verifications today. Please try again tomorrow.",
        )
    }
}

fn key_reused() -> ServiceError {
    problem(
        StatusCode::CONFLICT,
        "idempotency_key_reused",
        "같은 요청 번호가 다른 내용으로 이미 쓰였습니다.",
        "This Idempotency-Key was already used for a different request.",
    )
}

// ----- the store ----------------------------------------------------------------------

/// Where a verification stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The holder did not match: no deposit, no code.
    HolderMismatch,
    /// The bank has no open account under the number.
    NoAccount,
    /// The deposit is recorded and sent; the bank's answer was not had.
    Sending,
    /// The deposit arrived: waiting for the code.
    CodeSent,
    /// The bank refused the deposit, or never executed it before its deadline.
    DepositFailed,
    Locked,
    /// A newer verification of the same user replaced it.
    Superseded,
    Linked,
}

impl Stage {
    /// The stage's stable name (as stored).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::HolderMismatch => "holder_mismatch",
            Stage::NoAccount => "no_account",
            Stage::Sending => "sending",
            Stage::CodeSent => "code_sent",
            Stage::DepositFailed => "deposit_failed",
            Stage::Locked => "locked",
            Stage::Superseded => "superseded",
            Stage::Linked => "linked",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        [
            Stage::HolderMismatch,
            Stage::NoAccount,
            Stage::Sending,
            Stage::CodeSent,
            Stage::DepositFailed,
            Stage::Locked,
            Stage::Superseded,
            Stage::Linked,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// A bank-account verification as kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    pub id: String,
    pub user_id: i64,
    pub account: u64,
    pub currency: String,
    /// What the start asked (account number and name given), hashed.
    pub fingerprint: Vec<u8>,
    pub bank_account: String,
    /// The code's keyed hash.
    pub code_hash: Option<Vec<u8>>,
    /// The plain code, kept only while its deposit may have to be sent again.
    pub code: Option<String>,
    /// Unix ms.
    pub created_ms: u64,
    pub expires_ms: u64,
    pub stage: Stage,
    /// Wrong codes so far.
    pub failures: u32,
    pub detail: Option<String>,
    /// The request key of the latest wrong code.
    pub last_try_key: Option<Vec<u8>>,
}

impl Verification {
    fn deposit(&self) -> Option<VerificationDeposit> {
        Some(VerificationDeposit {
            id: self.id.clone(),
            to: bank::AccountNo::new(self.bank_account.clone()).ok()?,
            memo: memo(self.code.as_deref()?),
            created_ms: self.created_ms,
        })
    }
}

impl Auth {
    /// A keyed hash (under the service's secret key) of `bytes` for `purpose`: account
    /// numbers in consents, codes in verifications. Not reversible by trying every
    /// account number without the key.
    fn keyed(&self, purpose: &str, bytes: &[u8]) -> [u8; 32] {
        let mut input = Vec::with_capacity(purpose.len() + 1 + bytes.len());
        input.extend_from_slice(purpose.as_bytes());
        input.push(0);
        input.extend_from_slice(bytes);
        *blake3::keyed_hash(self.secret_key(), &input).as_bytes()
    }

    fn verification(&self, id: &str) -> Result<Option<Verification>, ServiceError> {
        Ok(self.stores.bank_links.verification(id)?)
    }

    fn verification_by_key(
        &self,
        user_id: i64,
        request_key: &[u8],
    ) -> Result<Option<Verification>, ServiceError> {
        Ok(self
            .stores
            .bank_links
            .verification_by_key(user_id, request_key)?)
    }

    /// Starts in the last 24 hours, and when the oldest of them was.
    fn starts_since(&self, user_id: i64, since_ms: u64) -> Result<(u32, u64), ServiceError> {
        Ok(self
            .stores
            .bank_links
            .verification_starts(user_id, since_ms)?)
    }

    /// Writes a new verification (durably, before any money is sent for it); open
    /// verifications of the same user are superseded when it carries a code.
    fn insert_verification(
        &self,
        v: &NewVerification<'_>,
    ) -> Result<InsertedVerification, ServiceError> {
        Ok(self.stores.bank_links.insert_verification(v)?)
    }

    /// Moves a verification on, only from the stage it was read in (a concurrent
    /// request that moved it first wins; the caller reads it again).
    fn advance(
        &self,
        id: &str,
        from: Stage,
        to: Stage,
        detail: Option<&str>,
    ) -> Result<bool, ServiceError> {
        Ok(self
            .stores
            .bank_links
            .advance_verification(id, from, to, detail)?)
    }

    /// Counts a wrong code (atomically in the store, so concurrent guesses all count);
    /// the tries now used, and whether this locked it.
    fn wrong_code(
        &self,
        id: &str,
        try_key: &[u8],
        tries: u32,
    ) -> Result<(u32, bool), ServiceError> {
        let failures = self
            .stores
            .bank_links
            .count_wrong_code(id, try_key, tries)?
            .unwrap_or(tries);
        Ok((failures, failures >= tries))
    }

    /// Links the verified account: the consent, the link and the verification's end in
    /// one transaction. `false` if the verification was no longer waiting for its code.
    fn link_verified(
        &self,
        v: &Verification,
        purpose: &str,
        at_ms: u64,
    ) -> Result<bool, ServiceError> {
        let hash = blake3::Hash::from(self.keyed("bank-account", v.bank_account.as_bytes()))
            .to_hex()
            .to_string();
        let masked = mask_account(&v.bank_account);
        Ok(self.stores.bank_links.link_verified(&VerifiedLink {
            verification: &v.id,
            user_id: v.user_id,
            account: v.account,
            currency: &v.currency,
            bank_account: &v.bank_account,
            bank_account_hash: &hash,
            bank_account_masked: &masked,
            purpose,
            text_version: CONSENT_VERSION,
            at_ms,
        })?)
    }

    /// Every verified bank link (loaded into the treasury at start). Links made before
    /// verification existed are not: those accounts must be verified first.
    pub fn bank_links(&self) -> Vec<(u64, String)> {
        self.stores.bank_links.bank_links().unwrap_or_else(|e| {
            tracing::error!(cause = %e, "the bank links could not be read");
            Vec::new()
        })
    }

    /// The recorded consents of a user: (text version, masked account, Unix ms), newest
    /// first.
    pub fn bank_consents(&self, user_id: i64) -> Vec<(String, String, u64)> {
        self.stores
            .bank_links
            .bank_consents(user_id)
            .unwrap_or_else(|e| {
                tracing::error!(cause = %e, user = user_id, "the consents could not be read");
                Vec::new()
            })
            .into_iter()
            .map(|c| (c.text_version, c.bank_account_masked, c.at_ms))
            .collect()
    }

    /// The consent given with verification `id`: (text version, Unix ms).
    fn consent_of(&self, id: &str) -> Option<(String, u64)> {
        self.stores
            .bank_links
            .consent_of(id)
            .ok()
            .flatten()
            .map(|c| (c.text_version, c.at_ms))
    }
}

// ----- the use cases ------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationStart {
    /// The bank account number (at the simulated bank in the demo).
    pub bank_account: String,
    /// The name the account is held under: the citizen's own name, or for a merchant
    /// the business name or its representative's. Not needed when the service knows
    /// the citizen's name (that one is compared).
    #[serde(default)]
    pub holder_name: Option<String>,
    /// The caller's password again: charges are taken from this account and refunds
    /// and redemptions paid into it.
    #[schema(value_type = String)]
    pub password: crate::Secret<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsentText {
    /// Send back (optional) with the confirmation; recorded with the consent.
    pub version: String,
    pub text_ko: String,
    pub text_en: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VerificationView {
    pub id: String,
    /// `code_sent` (look for the 1-won deposit, memo `maeul NNNN`), `in_progress` (the
    /// deposit's answer is not in yet: ask again shortly), `linked`, `expired`,
    /// `locked` or `failed` (start again).
    pub status: String,
    /// The account, masked (`***-**0005`).
    pub bank_account: String,
    /// Unix seconds: the code can be confirmed until then.
    pub expires_at: u64,
    pub tries_left: u32,
    /// What the user consents to when confirming.
    pub consent: ConsentText,
    pub message_ko: String,
    pub message_en: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationConfirm {
    /// The digits after `maeul` in the 1-won deposit's memo (`maeul 1234` is taken too).
    #[schema(value_type = String)]
    pub code: crate::Secret<String>,
    /// The user agrees to the consent text (출금 동의); without it nothing is linked.
    pub consent: bool,
    /// The consent text version shown; refused if it is not the current one.
    #[serde(default)]
    pub consent_version: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BankLinked {
    /// The linked account, masked.
    pub bank_account: String,
    pub consent_version: String,
    /// Unix seconds.
    pub linked_at: u64,
}

/// The caller's ledger account, for citizens and merchants.
fn owner(caller: &Caller) -> Result<u64, ServiceError> {
    if !matches!(caller.role, Role::Citizen | Role::Merchant) {
        return Err(ServiceError::forbidden());
    }
    caller.account.ok_or_else(ServiceError::forbidden)
}

fn consent_text(role: Role) -> ConsentText {
    let (ko, en) = match role {
        Role::Merchant => (CONSENT_MERCHANT_KO, CONSENT_MERCHANT_EN),
        _ => (CONSENT_CITIZEN_KO, CONSENT_CITIZEN_EN),
    };
    ConsentText {
        version: CONSENT_VERSION.into(),
        text_ko: ko.into(),
        text_en: en.into(),
    }
}

fn purpose(role: Role) -> &'static str {
    match role {
        Role::Merchant => "redemption_payouts",
        _ => "charge_withdrawals_and_refunds",
    }
}

/// The verification as the user sees it, with the HTTP status a start answers it with.
fn view_of(v: &Verification, role: Role, settings: &Settings) -> (StatusCode, VerificationView) {
    let now = now_ms();
    let (http, status, ko, en) = match v.stage {
        Stage::Linked => (
            StatusCode::OK,
            "linked",
            "계좌가 연결되었습니다.",
            "The account is linked.",
        ),
        _ if matches!(v.stage, Stage::CodeSent | Stage::Sending) && now > v.expires_ms => (
            StatusCode::OK,
            "expired",
            "인증 시간이 지났습니다. 다시 시작해 주세요.",
            "The verification has expired. Please start again.",
        ),
        Stage::CodeSent => (
            StatusCode::CREATED,
            "code_sent",
            "계좌로 1원을 보냈습니다. 은행 앱의 입금 내역에서 'maeul' 뒤의 숫자 4자리를 입력해 주세요.",
            "1 won was sent to the account. Enter the 4 digits after 'maeul' on that deposit in your banking app.",
        ),
        Stage::Sending => (
            StatusCode::ACCEPTED,
            "in_progress",
            "확인용 1원을 보내는 중입니다. 잠시 후 입금 내역을 확인해 주세요.",
            "The 1-won check deposit is on its way. Please look for it shortly.",
        ),
        Stage::Locked => (
            StatusCode::OK,
            "locked",
            "인증번호를 여러 번 틀려 잠겼습니다. 다시 시작해 주세요.",
            "Locked after too many wrong codes. Please start again.",
        ),
        Stage::Superseded => (
            StatusCode::OK,
            "expired",
            "더 새로운 인증 요청이 있습니다. 그 인증을 이용해 주세요.",
            "A newer verification replaced this one. Please use that one.",
        ),
        Stage::HolderMismatch | Stage::NoAccount | Stage::DepositFailed => (
            StatusCode::OK,
            "failed",
            "이 계좌 인증은 끝났습니다. 다시 시작해 주세요.",
            "This verification has ended. Please start again.",
        ),
    };
    (
        http,
        VerificationView {
            id: v.id.clone(),
            status: status.into(),
            bank_account: mask_account(&v.bank_account),
            expires_at: v.expires_ms / 1_000,
            tries_left: settings.code_tries.saturating_sub(v.failures),
            consent: consent_text(role),
            message_ko: ko.into(),
            message_en: en.into(),
        },
    )
}

/// Applies the bank's word on a deposit in flight; the verification as it now stands.
async fn settle_deposit(
    auth: &Auth,
    currency: &Currency,
    v: Verification,
) -> Result<Verification, ServiceError> {
    if v.stage != Stage::Sending {
        return Ok(v);
    }
    let Some(deposit) = v.deposit() else {
        return Err(ServiceError::internal("a verification without its deposit"));
    };
    let settled = currency
        .treasury
        .settle_verification_deposit(&deposit)
        .await?;
    record_deposit(auth, &v, settled)?;
    auth.verification(&v.id)?
        .ok_or_else(|| ServiceError::internal("verification vanished"))
}

fn record_deposit(auth: &Auth, v: &Verification, settled: Settled) -> Result<(), ServiceError> {
    match settled {
        Settled::Completed => {
            auth.advance(&v.id, Stage::Sending, Stage::CodeSent, None)?;
        }
        Settled::Refused { code, message } => {
            tracing::info!(user = v.user_id, verification = %v.id, reject = %code, "verification deposit refused");
            auth.advance(
                &v.id,
                Stage::Sending,
                Stage::DepositFailed,
                Some(&format!("{code}: {message}")),
            )?;
        }
        Settled::InDoubt => {}
    }
    Ok(())
}

/// The answer a start gives for a verification (new or repeated).
fn start_answer(
    v: &Verification,
    role: Role,
    settings: &Settings,
) -> Result<(StatusCode, VerificationView), ServiceError> {
    match v.stage {
        Stage::HolderMismatch => Err(holder_mismatch()),
        Stage::NoAccount => Err(account_not_found()),
        Stage::DepositFailed => Err(deposit_refused(v.detail.clone().unwrap_or_default())),
        _ => Ok(view_of(v, role, settings)),
    }
}

/// Starts verifying a bank account: the holder-name enquiry, then 1 won with a code in
/// its memo. Nothing is linked until the code comes back with the user's consent.
pub async fn start_verification(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    req: VerificationStart,
) -> Result<Answered<(StatusCode, VerificationView)>, ServiceError> {
    let account = owner(caller)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of(
            "bank_verification_start",
            &(req.bank_account.trim(), req.holder_name.as_deref()),
        ),
    )?
    .key;
    let settings = service.bank_link;
    let number = bank::AccountNo::new(req.bank_account.trim())
        .map_err(|e| ServiceError::bad_request("bank_account_invalid", e.to_string()))?;
    let given = req.holder_name.as_deref().map(normalize_name);
    if let Some(g) = &given
        && (g.is_empty() || g.chars().count() > HOLDER_NAME_CHARS_MAX)
    {
        return Err(ServiceError::bad_request(
            "holder_name_invalid",
            format!("a holder name is 1 to {HOLDER_NAME_CHARS_MAX} characters"),
        ));
    }
    service
        .auth
        .confirm_password(caller.user_id, req.password.expose())
        .await?;
    let currency = service.currency(&caller.currency)?;
    let auth = &service.auth;
    let request_key = key.0.to_le_bytes();
    let fingerprint =
        blake3::hash(format!("{}\0{}", number.as_str(), given.as_deref().unwrap_or("")).as_bytes());
    if let Some(v) = auth.verification_by_key(caller.user_id, &request_key)? {
        return repeat(auth, currency, v, fingerprint.as_bytes(), caller, &settings)
            .await
            .map(Answered::replayed);
    }
    let now = now_ms();
    let (starts, oldest) = auth.starts_since(caller.user_id, now.saturating_sub(DAY_MS))?;
    if starts >= settings.starts_per_day {
        let wait_ms = (oldest + DAY_MS).saturating_sub(now);
        return Err(too_many_starts(wait_ms.div_ceil(1_000)));
    }
    // The name to compare: the one the service knows, else the one given.
    let known = match caller.role {
        Role::Citizen => auth
            .person(caller.user_id)
            .map(|(name, _)| normalize_name(&name)),
        _ => None,
    };
    let expected = match (&known, &given) {
        (Some(k), _) => k.clone(),
        (None, Some(g)) => g.clone(),
        (None, None) => {
            return Err(ServiceError::bad_request(
                "holder_name_required",
                "give holder_name: the name the account is held under",
            ));
        }
    };
    // 예금주 조회.
    let holder = match currency.treasury.account_holder(&number).await {
        Ok(h) => h,
        Err(_) => return Err(bank_unavailable()),
    };
    let mut id_bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut id_bytes);
    let id: String = id_bytes.iter().map(|b| format!("{b:02x}")).collect();
    let stage = match holder {
        None => Stage::NoAccount,
        Some(h) if normalize_name(&h) != expected => Stage::HolderMismatch,
        // A name the user gave that differs from the one the service knows.
        Some(_) if given.as_ref().is_some_and(|g| *g != expected) => Stage::HolderMismatch,
        Some(_) => Stage::Sending,
    };
    let code =
        (stage == Stage::Sending).then(|| format!("{:04}", rand::rng().random_range(0..10_000u32)));
    let code_hash = code
        .as_deref()
        .map(|c| auth.keyed("verification-code", format!("{id}\0{c}").as_bytes()));
    let new = NewVerification {
        id: &id,
        user_id: caller.user_id,
        account,
        currency: &caller.currency,
        request_key: &request_key,
        fingerprint: fingerprint.as_bytes(),
        bank_account: number.as_str(),
        code: code.as_deref(),
        code_hash: code_hash.as_ref().map(|h| &h[..]),
        created_ms: now,
        expires_ms: now + settings.code_ttl.as_millis() as u64,
        stage,
    };
    if let InsertedVerification::Repeat(v) = auth.insert_verification(&new)? {
        return repeat(
            auth,
            currency,
            *v,
            fingerprint.as_bytes(),
            caller,
            &settings,
        )
        .await
        .map(Answered::replayed);
    }
    tracing::info!(user = caller.user_id, verification = %id, stage = stage.as_str(), "bank account verification started");
    let v = auth
        .verification(&id)?
        .ok_or_else(|| ServiceError::internal("verification vanished"))?;
    if v.stage == Stage::Sending {
        // 1원 인증: recorded above before the money is sent.
        let deposit = v
            .deposit()
            .ok_or_else(|| ServiceError::internal("a verification without its deposit"))?;
        let settled = currency
            .treasury
            .send_verification_deposit(&deposit)
            .await?;
        record_deposit(auth, &v, settled)?;
    }
    let v = auth
        .verification(&id)?
        .ok_or_else(|| ServiceError::internal("verification vanished"))?;
    start_answer(&v, caller.role, &settings).map(Answered::first)
}

/// A start repeated under the same key: the first verification, as it now stands.
async fn repeat(
    auth: &Auth,
    currency: &Currency,
    v: Verification,
    fingerprint: &[u8],
    caller: &Caller,
    settings: &Settings,
) -> Result<(StatusCode, VerificationView), ServiceError> {
    if v.fingerprint != fingerprint {
        return Err(key_reused());
    }
    let v = settle_deposit(auth, currency, v).await?;
    start_answer(&v, caller.role, settings)
}

/// One of the caller's verifications, or 404 (someone else's is not found either).
fn own(auth: &Auth, caller: &Caller, id: &str) -> Result<Verification, ServiceError> {
    let valid = (1..=32).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric());
    match valid.then(|| auth.verification(id)).transpose()?.flatten() {
        Some(v) if v.user_id == caller.user_id && v.currency == caller.currency => Ok(v),
        _ => Err(verification_not_found()),
    }
}

/// Where a verification stands (settles a deposit whose answer was not had).
pub async fn verification_status(
    service: &Service,
    caller: &Caller,
    id: &str,
) -> Result<VerificationView, ServiceError> {
    owner(caller)?;
    let currency = service.currency(&caller.currency)?;
    let v = own(&service.auth, caller, id)?;
    let v = settle_deposit(&service.auth, currency, v).await?;
    Ok(view_of(&v, caller.role, &service.bank_link).1)
}

/// Confirms the code from the 1-won deposit, with the user's consent: the account is
/// linked (and only now charged from or paid to).
pub async fn confirm_verification(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    id: &str,
    req: VerificationConfirm,
) -> Result<BankLinked, ServiceError> {
    owner(caller)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of(
            "bank_verification_confirm",
            &(
                &id,
                req.code.expose().trim(),
                req.consent,
                req.consent_version.as_deref(),
            ),
        ),
    )?
    .key;
    let try_key = key.0.to_le_bytes();
    let settings = service.bank_link;
    let auth = &service.auth;
    let currency = service.currency(&caller.currency)?;
    let v = own(auth, caller, id)?;
    if v.stage == Stage::Linked {
        return Ok(linked_answer(auth, &v));
    }
    if !req.consent {
        return Err(consent_required());
    }
    if req
        .consent_version
        .as_deref()
        .is_some_and(|given| given != CONSENT_VERSION)
    {
        return Err(consent_outdated());
    }
    let v = settle_deposit(auth, currency, v).await?;
    match v.stage {
        Stage::Linked => return Ok(linked_answer(auth, &v)),
        Stage::Locked => return Err(locked()),
        Stage::Superseded => return Err(expired("a newer verification replaced this one")),
        Stage::HolderMismatch | Stage::NoAccount | Stage::DepositFailed => return Err(failed()),
        Stage::Sending | Stage::CodeSent if now_ms() > v.expires_ms => {
            return Err(expired("the code is valid for a limited time"));
        }
        Stage::Sending => return Err(in_progress()),
        Stage::CodeSent => {}
    }
    // A wrong code sent again under the same key is answered, not counted again.
    if v.last_try_key.as_deref() == Some(&try_key[..]) {
        return Err(code_wrong(settings.code_tries.saturating_sub(v.failures)));
    }
    let given = normalize_code(req.code.expose());
    let given_hash = auth.keyed("verification-code", format!("{}\0{given}", v.id).as_bytes());
    let right = v
        .code_hash
        .as_deref()
        .is_some_and(|h| constant_time_eq(h, &given_hash));
    if !right {
        let (used, now_locked) = auth.wrong_code(&v.id, &try_key, settings.code_tries)?;
        tracing::info!(user = caller.user_id, verification = %v.id, used, "wrong verification code");
        return Err(if now_locked {
            locked()
        } else {
            code_wrong(settings.code_tries.saturating_sub(used))
        });
    }
    let at = now_ms();
    if !auth.link_verified(&v, purpose(caller.role), at)? {
        // Moved by a concurrent request: answer from where it now is.
        let now = own(auth, caller, id)?;
        return match now.stage {
            Stage::Linked => Ok(linked_answer(auth, &now)),
            Stage::Locked => Err(locked()),
            _ => Err(expired("the verification changed meanwhile")),
        };
    }
    let number = bank::AccountNo::new(v.bank_account.clone())
        .map_err(|e| ServiceError::internal(e.to_string()))?;
    currency
        .treasury
        .accounts()
        .link(AccountId(v.account), number);
    tracing::info!(user = caller.user_id, verification = %v.id, "bank account linked after verification and consent");
    Ok(BankLinked {
        bank_account: mask_account(&v.bank_account),
        consent_version: CONSENT_VERSION.into(),
        linked_at: at / 1_000,
    })
}

fn linked_answer(auth: &Auth, v: &Verification) -> BankLinked {
    let (version, at) = auth
        .consent_of(&v.id)
        .unwrap_or((CONSENT_VERSION.to_owned(), v.created_ms));
    BankLinked {
        bank_account: mask_account(&v.bank_account),
        consent_version: version,
        linked_at: at / 1_000,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BankLinkState {
    /// The linked account, masked; none before one is verified and linked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank_account: Option<String>,
    /// Whether a verification must be given the holder's name (the service does not
    /// know the caller's own name to compare).
    pub holder_name_needed: bool,
}

/// The caller's linked account (masked), and what starting a verification needs.
pub fn link_state(service: &Service, caller: &Caller) -> Result<BankLinkState, ServiceError> {
    let account = owner(caller)?;
    let currency = service.currency(&caller.currency)?;
    let known = caller.role == Role::Citizen && service.auth.person(caller.user_id).is_some();
    Ok(BankLinkState {
        bank_account: currency
            .treasury
            .accounts()
            .get(AccountId(account))
            .map(|n| mask_account(n.as_str())),
        holder_name_needed: !known,
    })
}

/// The one-step link of earlier versions, which linked any number without checking
/// whose it was. Gone: it answers 410 and names the verification flow.
pub fn link_without_verification(caller: &Caller) -> Result<(), ServiceError> {
    owner(caller)?;
    Err(problem(
        StatusCode::GONE,
        "bank_verification_required",
        "계좌는 본인 확인(예금주 조회와 1원 인증) 후에만 연결할 수 있습니다. 계좌 인증을 시작해 주세요.",
        "A bank account is linked only after it is verified (holder name and a 1-won code). Please start a verification.",
    )
    .detail("POST /api/v1/me/bank-account/verification, then POST /api/v1/me/bank-account/verification/{id}/confirm"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_after_normalisation() {
        // Decomposed Hangul (as some keyboards send it), spaces, full-width letters.
        let decomposed = "\u{1100}\u{1175}\u{11B7}\u{1106}\u{1175}\u{11AB}\u{110C}\u{1175}";
        assert_eq!(normalize_name(decomposed), normalize_name("김민지"));
        assert_eq!(normalize_name("  김민지 "), "김민지");
        assert_eq!(normalize_name("KIM  Min\tJi"), "kim min ji");
        assert_eq!(normalize_name("ＫＩＭ"), "kim");
        assert_ne!(normalize_name("김민지"), normalize_name("김민재"));
    }

    #[test]
    fn account_numbers_are_masked_but_the_last_four() {
        assert_eq!(mask_account("110-000005"), "***-**0005");
        assert_eq!(mask_account("L0001-000002"), "*****-**0002");
        assert_eq!(mask_account("123"), "123");
    }

    #[test]
    fn codes_are_read_as_typed() {
        assert_eq!(normalize_code(" 1234 "), "1234");
        assert_eq!(normalize_code("maeul 1234"), "1234");
        assert_eq!(normalize_code("MAEUL1234"), "1234");
        assert_eq!(normalize_code("１２３４"), "1234");
    }
}
