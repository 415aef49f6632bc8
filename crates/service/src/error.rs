//! The one error type of the service: every failure has a stable `code`, a message for
//! the citizen in Korean and English that says what to do, (for operators) the cause,
//! and the HTTP status that says what kind of failure it is. The API answers it as
//! `application/problem+json` ([`Problem`]); pages show its words.
//!
//! The kind is an `http::StatusCode`: a shared vocabulary (not found, conflict,
//! unavailable…) from the `http` types crate, not a dependency on a server.

use http::StatusCode;
use ledger::{AccountId, Rejection, RejectionCode};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

/// The body of every error answer (RFC 9457 problem details plus maeul's fields).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// `https://maeul.dev/problems/<code>`
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// Stable machine code (never renamed).
    pub code: String,
    pub message_ko: String,
    pub message_en: String,
    /// The cause in words, for operators and support (never Rust debug text, never
    /// another party's data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The cause as data an app can use: a limit and how much of it is used, the
    /// amount asked for, the merchant... Only what the caller may see: a till told that
    /// a customer's balance is short is not told the customer's balance.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub fields: Option<Map<String, Value>>,
    /// The payment scheme a scanned code belongs to when it is not ours (`zeropay`,
    /// `pix`, …), as in the scan answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ServiceError {
    pub status: StatusCode,
    pub code: String,
    pub ko: String,
    pub en: String,
    /// The cause in words, structured fields and the foreign scheme, when there are
    /// any (boxed: errors travel in every `Result`).
    pub extra: Option<Box<ProblemExtra>>,
    pub retry_after_s: Option<u64>,
}

/// What few errors carry besides words: see [`Problem::fields`] and [`Problem::scheme`].
#[derive(Debug, Clone, Default)]
pub struct ProblemExtra {
    pub detail: Option<String>,
    pub fields: Option<Map<String, Value>>,
    pub scheme: Option<String>,
}

impl ServiceError {
    pub fn new(status: StatusCode, code: &str, ko: &str, en: &str) -> ServiceError {
        ServiceError {
            status,
            code: code.to_owned(),
            ko: ko.to_owned(),
            en: en.to_owned(),
            extra: None,
            retry_after_s: None,
        }
    }

    /// The cause in words, if any.
    pub fn detail_text(&self) -> Option<&str> {
        self.extra.as_ref().and_then(|e| e.detail.as_deref())
    }

    pub fn detail(mut self, d: impl Into<String>) -> ServiceError {
        self.extra.get_or_insert_with(Box::default).detail = Some(d.into());
        self
    }

    pub fn bad_request(code: &str, detail: impl Into<String>) -> ServiceError {
        ServiceError::new(
            StatusCode::BAD_REQUEST,
            code,
            "요청 내용이 올바르지 않습니다. 입력값을 확인해 주세요.",
            "The request is not valid. Please check what was entered.",
        )
        .detail(detail)
    }

    /// A per-user or per-address limit was reached: try again after `wait_s`.
    pub fn too_many(wait_s: u64) -> ServiceError {
        ServiceError {
            retry_after_s: Some(wait_s),
            ..ServiceError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "요청이 너무 많습니다. 잠시 후 다시 시도해 주세요.",
                "Too many requests. Please try again shortly.",
            )
        }
    }

    pub fn unauthorized() -> ServiceError {
        ServiceError::new(
            StatusCode::UNAUTHORIZED,
            "sign_in_required",
            "로그인이 필요합니다. 다시 로그인해 주세요.",
            "Please sign in (again).",
        )
    }

    pub fn forbidden() -> ServiceError {
        ServiceError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "이 기능을 사용할 권한이 없습니다.",
            "You are not allowed to do this.",
        )
    }

    pub fn not_found(what: &str) -> ServiceError {
        ServiceError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "찾을 수 없습니다.",
            "Not found.",
        )
        .detail(what.to_owned())
    }

    pub fn busy(retry_after_s: u64) -> ServiceError {
        ServiceError {
            retry_after_s: Some(retry_after_s.max(1)),
            ..ServiceError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "지금 이용자가 많습니다. 잠시 후 다시 시도해 주세요. 결제는 이뤄지지 않았습니다.",
                "Too many requests right now. Please try again shortly; nothing was charged.",
            )
        }
    }

    /// Too many people at once: the caller holds a ticket for the waiting room (its
    /// place in line and the estimated wait are in the answer's fields).
    pub fn waiting_room(position: u64, estimate_s: f64) -> ServiceError {
        let ahead = position.saturating_sub(1);
        let (ko, en) = if estimate_s < 60.0 {
            let s = estimate_s.ceil().max(1.0) as u64;
            (format!("약 {s}초"), format!("about {s} s"))
        } else {
            let m = (estimate_s / 60.0).ceil() as u64;
            (format!("약 {m}분"), format!("about {m} min"))
        };
        ServiceError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting_room",
            &format!(
                "접속자가 많아 순서대로 모시고 있습니다. 앞에 {ahead}명, {ko} 기다려 주세요. 받은 대기표로 다시 요청하면 순서가 유지됩니다. 처리된 것은 없습니다."
            ),
            &format!(
                "Many people are here at once, so we are letting them in in order: {ahead} ahead of you, {en}. Send the ticket back with your request to keep your place. Nothing was done yet."
            ),
        )
    }

    /// A purchase before a sale opens: in the line that is drawn at the opening.
    pub fn before_sale(waiting: u64, to_opening_s: f64) -> ServiceError {
        let minutes = (to_opening_s / 60.0).ceil().max(1.0) as u64;
        ServiceError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "sale_not_open",
            &format!(
                "할인 판매는 약 {minutes}분 뒤에 시작합니다. 지금 {waiting}명이 기다리고 있으며, 시작 전에 오신 분들의 순서는 시작 시각에 공정하게 추첨합니다. 받은 대기표로 다시 요청해 주세요. 처리된 것은 없습니다."
            ),
            &format!(
                "The discounted sale opens in about {minutes} min. {waiting} are waiting; the order of everyone who came before the opening is drawn fairly at the opening. Send the ticket back with your request. Nothing was done yet."
            ),
        )
    }

    /// The body is larger than the route takes (said by `Content-Length` or found while
    /// reading).
    pub fn body_too_large(limit_bytes: usize) -> ServiceError {
        ServiceError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "보낸 내용이 너무 큽니다. 크기를 줄여 다시 보내 주세요.",
            "What was sent is too large. Please make it smaller and send it again.",
        )
        .detail(format!("at most {limit_bytes} bytes"))
    }

    /// The body did not arrive in time: a pause longer than the body timeout, or the
    /// whole body slower than the slowest upload allowed. Nothing was done.
    pub fn body_timeout() -> ServiceError {
        ServiceError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            "보낸 내용이 제때 도착하지 않았습니다. 연결 상태를 확인한 뒤 다시 보내 주세요. 결제는 이뤄지지 않았습니다.",
            "What was sent did not arrive in time. Please check your connection and send it again; nothing was charged.",
        )
    }

    /// The caller holds as many live streams as one user may (`limit`): closing one
    /// helps, waiting does not, so there is no `Retry-After`.
    pub fn too_many_streams(limit: usize) -> ServiceError {
        let mut fields = Map::new();
        fields.insert("limit".into(), json!(limit));
        ServiceError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_streams",
            "실시간 결제 알림이 이미 여러 곳에서 열려 있습니다. 다른 기기나 창의 알림을 닫고 다시 시도해 주세요.",
            "Live payment updates are already open in too many places. Close them on another device or tab, then try again.",
        )
        .fields(fields)
    }

    /// The service holds as many live streams as it takes: try again later.
    pub fn streams_full(retry_after_s: u64) -> ServiceError {
        ServiceError {
            retry_after_s: Some(retry_after_s.max(1)),
            ..ServiceError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "streams_full",
                "지금은 실시간 결제 알림을 더 열 수 없습니다. 잠시 후 다시 시도해 주세요. 결제와 내역 조회는 그대로 됩니다.",
                "Live payment updates cannot be opened right now. Please try again shortly; payments and history work as usual.",
            )
        }
    }

    pub fn unavailable(detail: impl Into<String>) -> ServiceError {
        ServiceError {
            retry_after_s: Some(5),
            ..ServiceError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "잠시 서비스를 이용할 수 없습니다. 잠시 후 같은 요청을 다시 보내 주세요.",
                "The service is briefly unavailable. Please send the same request again shortly.",
            )
            .detail(detail)
        }
    }

    /// The service's own store (users, sessions, the registry) is busy or cannot be
    /// reached: nothing was written, the same request may be sent again shortly.
    pub fn store_unavailable(detail: impl Into<String>) -> ServiceError {
        let detail = detail.into();
        tracing::warn!(cause = %detail, "the store is unavailable");
        ServiceError {
            retry_after_s: Some(2),
            ..ServiceError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "잠시 서비스를 이용할 수 없습니다. 잠시 후 같은 요청을 다시 보내 주세요.",
                "The service is briefly unavailable. Please send the same request again shortly.",
            )
        }
    }

    /// A fault of ours: the cause goes to the log (it may name internals), the caller
    /// is told what to do.
    pub fn internal(detail: impl Into<String>) -> ServiceError {
        let detail = detail.into();
        tracing::error!(cause = %detail, "internal error answered 500");
        ServiceError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "처리 중 문제가 생겼습니다. 고객센터에 문의해 주세요.",
            "Something went wrong on our side. Please contact support.",
        )
    }

    /// With structured fields (see [`Problem::fields`]).
    pub fn fields(mut self, fields: Map<String, Value>) -> ServiceError {
        if !fields.is_empty() {
            self.extra.get_or_insert_with(Box::default).fields = Some(fields);
        }
        self
    }

    /// With the payment scheme a scanned code belongs to (see [`Problem::scheme`]).
    pub fn scheme(mut self, scheme: Option<&str>) -> ServiceError {
        if let Some(s) = scheme {
            self.extra.get_or_insert_with(Box::default).scheme = Some(s.to_owned());
        }
        self
    }

    /// The ledger refused: the words for its code, and the fields `own` (the caller's
    /// account, when there is one) may see.
    pub fn refused(r: &Rejection, own: Option<AccountId>) -> ServiceError {
        let code = r.code();
        let (status, ko, en) = words(code);
        let mut e =
            ServiceError::new(status, code.as_str(), ko, en).fields(rejection_fields(r, own));
        if code == RejectionCode::CurrencyHalted {
            e.retry_after_s = Some(30);
        }
        e
    }

    /// The treasury could not finish: refusals as the ledger's, the rest typed.
    pub fn treasury(e: treasury::TreasuryError, own: Option<AccountId>) -> ServiceError {
        use treasury::TreasuryError as T;
        match e {
            T::Refused(r) => ServiceError::refused(&r, own),
            T::NoLinkedAccount(_) => ServiceError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no_linked_account",
                "연결된 은행 계좌가 없습니다. 먼저 계좌를 연결해 주세요.",
                "No bank account is linked. Please link one first.",
            ),
            T::NotTaken(e) => e.into(),
            T::NotAnswered(e) => e.into(),
            T::Bank(e) => ServiceError {
                retry_after_s: Some(5),
                ..ServiceError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "bank_unavailable",
                    "은행 응답이 늦어지고 있습니다. 같은 요청 번호로 잠시 후 다시 확인해 주세요.",
                    "The bank is slow to answer. Check again shortly with the same Idempotency-Key.",
                )
                .detail(e.to_string())
            },
            T::Journal(d) | T::Unexpected(d) | T::Reference(d) => ServiceError::internal(d),
        }
    }
}

impl ServiceError {
    /// The body this error is answered with.
    pub fn problem(self) -> Problem {
        let extra = self.extra.map(|e| *e).unwrap_or_default();
        Problem {
            kind: format!("https://maeul.dev/problems/{}", self.code),
            title: self.en.clone(),
            status: self.status.as_u16(),
            code: self.code,
            message_ko: self.ko,
            message_en: self.en,
            detail: extra.detail,
            fields: extra.fields,
            scheme: extra.scheme,
        }
    }
}

/// What a citizen or merchant is told for each ledger refusal: in Korean first, with
/// what to do. Every code is listed: a new one does not compile until it has words.
fn words(code: RejectionCode) -> (StatusCode, &'static str, &'static str) {
    use RejectionCode as C;
    let conflict = StatusCode::CONFLICT;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let bad = StatusCode::BAD_REQUEST;
    let cannot = (
        unprocessable,
        "요청을 처리할 수 없습니다. 내용을 확인한 뒤 다시 시도해 주세요.",
        "The request cannot be carried out. Please check it and try again.",
    );
    match code {
        C::InsufficientFunds | C::InsufficientEligibleFunds => (
            unprocessable,
            "잔액이 부족합니다. 충전한 뒤 다시 결제해 주세요. (이 가게에서 쓸 수 없는 돈은 제외됩니다)",
            "Not enough balance (money this shop cannot take does not count). Please charge and try again.",
        ),
        C::MerchantSuspended => (
            unprocessable,
            "이 가게는 지금 결제를 받을 수 없습니다. 다른 결제 수단을 이용해 주세요.",
            "This shop cannot take payments right now. Please pay another way.",
        ),
        C::MerchantNotRegistered => (
            unprocessable,
            "등록되지 않은 가게입니다.",
            "This shop is not registered for this currency.",
        ),
        C::MonthlyPurchaseLimit | C::ChannelMonthlyLimit => (
            unprocessable,
            "이번 달 구매 한도를 넘었습니다. 다음 달에 다시 구매할 수 있습니다.",
            "This month's purchase limit is reached. You can buy again next month.",
        ),
        C::YearlyPurchaseLimit => (
            unprocessable,
            "올해 구매 한도를 넘었습니다.",
            "This year's purchase limit is reached.",
        ),
        C::HoldingCap => (
            unprocessable,
            "보유 한도를 넘습니다. 사용한 뒤 다시 충전해 주세요.",
            "That would exceed the most you may hold. Spend some first, then charge.",
        ),
        C::SubsidyBudgetExhausted => (
            unprocessable,
            "할인 예산이 모두 소진되었습니다. 할인 없이 구매하시려면 다시 요청해 주세요.",
            "The discount budget is used up. Ask again to buy at full price.",
        ),
        C::PurchaseWindowClosed => (
            unprocessable,
            "오늘은 출생연도 홀짝제 구매일입니다. 해당하는 날에 구매해 주세요.",
            "Today purchases are open by birth year (even/odd). Please buy on your day.",
        ),
        C::PurchaseAmountInvalid => (
            unprocessable,
            "구매 금액 단위나 범위가 맞지 않습니다.",
            "The amount is not a valid purchase amount (unit, minimum or maximum).",
        ),
        C::PurchasesClosed => (
            unprocessable,
            "지금은 구매할 수 없습니다. 공지사항을 확인해 주세요.",
            "Purchases are closed right now. Please see the notices.",
        ),
        C::ChannelUnknown => (
            bad,
            "구매 경로가 올바르지 않습니다.",
            "The purchase channel is not known.",
        ),
        C::GiftSentMonthlyLimit | C::GiftReceivedMonthlyLimit => (
            unprocessable,
            "이번 달 선물 한도를 넘었습니다.",
            "This month's gift limit is reached.",
        ),
        C::GiftsDisabled | C::GiftsPausedToday => (
            unprocessable,
            "지금은 선물하기를 이용할 수 없습니다.",
            "Gifts are not available right now.",
        ),
        C::RefundThresholdNotReached => (
            unprocessable,
            "아직 잔액 환불 조건(60% 이상 사용)을 채우지 못했습니다.",
            "The balance can be refunded once 60% of it has been used.",
        ),
        C::NothingToRefund => (
            unprocessable,
            "환불할 잔액이 없습니다.",
            "There is nothing to refund.",
        ),
        C::ChargeInProgress => (
            conflict,
            "충전이 아직 처리 중입니다. 충전이 끝난 뒤 다시 시도해 주세요.",
            "A charge is still in progress. Please try again once it is done.",
        ),
        C::PurchaseNotFound => (
            StatusCode::NOT_FOUND,
            "구매 내역을 찾을 수 없습니다.",
            "No such purchase.",
        ),
        C::PurchaseNotPending | C::PurchaseNotPosted => (
            conflict,
            "이 구매는 지금 상태에서 취소할 수 없습니다.",
            "This purchase cannot be changed in its current state.",
        ),
        C::CancelWindowPassed => (
            unprocessable,
            "구매 취소 기간이 지났습니다. 잔액 환불을 이용해 주세요.",
            "The cancellation period has passed. Please use a balance refund instead.",
        ),
        C::PurchasePartlyUsed => (
            unprocessable,
            "일부를 사용한 구매는 취소할 수 없습니다. 잔액 환불을 이용해 주세요.",
            "A purchase partly used cannot be cancelled. Please use a balance refund instead.",
        ),
        C::PaymentNotFound => (
            StatusCode::NOT_FOUND,
            "결제 내역을 찾을 수 없습니다. 환불 기간이 지났을 수 있습니다.",
            "No such payment (its refund period may have passed).",
        ),
        C::RefundExceedsPayment => (
            unprocessable,
            "남은 결제 금액보다 많이 환불할 수 없습니다.",
            "The refund is more than what is left of the payment.",
        ),
        C::SchemeRefundRequired => cannot,
        C::CurrencyHalted => (
            StatusCode::SERVICE_UNAVAILABLE,
            "운영 점검 중입니다. 잠시 후 다시 시도해 주세요. 결제는 이뤄지지 않았습니다.",
            "Payments are paused for maintenance. Please try again later; nothing was charged.",
        ),
        C::InvariantViolation => (
            StatusCode::SERVICE_UNAVAILABLE,
            "시스템 점검이 필요해 처리를 멈췄습니다. 결제는 이뤄지지 않았습니다. 잠시 후 다시 시도해 주세요.",
            "Processing stopped for a safety check; nothing was charged. Please try again later.",
        ),
        C::TooManyPending => (
            StatusCode::SERVICE_UNAVAILABLE,
            "처리 대기 중인 요청이 많습니다. 잠시 후 다시 시도해 주세요.",
            "Too many operations are in progress. Please try again shortly.",
        ),
        C::SchemeNotConfigured => (
            StatusCode::SERVICE_UNAVAILABLE,
            "아직 운영 규칙이 정해지지 않았습니다. 잠시 후 다시 시도해 주세요.",
            "The currency's rules are not set yet. Please try again later.",
        ),
        C::IdempotencyKeyReused => (
            conflict,
            "같은 요청 번호가 다른 요청에 이미 쓰였습니다. 새 요청 번호로 다시 보내 주세요.",
            "This Idempotency-Key was already used for a different request. Send it again with a new key.",
        ),
        C::AccountFrozen | C::AccountClosed => (
            unprocessable,
            "계정이 정지되었거나 해지되었습니다. 고객센터에 문의해 주세요.",
            "The account is frozen or closed. Please contact support.",
        ),
        C::AmountNotPositive | C::AmountTooLarge => {
            (bad, "금액이 올바르지 않습니다.", "The amount is not valid.")
        }
        C::AccountNotFound | C::CitizenNotRegistered => (
            StatusCode::NOT_FOUND,
            "받는 분이나 계정을 찾을 수 없습니다.",
            "The account or recipient was not found.",
        ),
        C::AutoChargeDisabled | C::AutoChargeInvalid => (
            unprocessable,
            "자동 충전 설정을 쓸 수 없습니다. 날짜(1-28일)와 금액을 확인해 주세요.",
            "This auto-charge setting cannot be used. Check the day (1-28) and the amount.",
        ),
        C::SchemeInvalid
        | C::SchemeEffectiveTooEarly
        | C::SchemeVersionsFull
        | C::SchemeNotWithdrawable => (
            unprocessable,
            "운영 규칙 변경을 적용할 수 없습니다. 내용을 확인해 주세요.",
            "The scheme change cannot be applied. Please check it.",
        ),
        C::NotHalted => (
            conflict,
            "중지된 상태가 아닙니다.",
            "The currency is not halted.",
        ),
        // Reached by operators and the service's own commands only.
        C::AccountExists
        | C::AccountIdInvalid
        | C::AccountKindMismatch
        | C::AccountNotEmpty
        | C::SameAccount
        | C::PendingNotAllowed
        | C::PendingTimeoutInvalid
        | C::PendingNotFound
        | C::PendingAlreadyEnded
        | C::PostExceedsPending
        | C::NothingToExpire
        | C::LinkedEmpty
        | C::LinkedTooLong
        | C::LinkedFailed
        | C::NotARedemption => cannot,
    }
}

/// A refusal's details as data, with what would tell about another party left out:
/// an account that is not `own`, its balance, another citizen's usage.
fn rejection_fields(r: &Rejection, own: Option<AccountId>) -> Map<String, Value> {
    use Rejection as R;
    let mine = |a: &AccountId| own == Some(*a);
    let mut f = Map::new();
    let mut put = |k: &str, v: Value| {
        f.insert(k.to_owned(), v);
    };
    match r {
        R::InsufficientFunds {
            account,
            available,
            requested,
        } => {
            put("requested", json!(requested.get()));
            if mine(account) {
                put("available", json!(available.get()));
            }
        }
        R::InsufficientEligibleFunds {
            account,
            eligible,
            requested,
        } => {
            put("requested", json!(requested.get()));
            if mine(account) {
                put("eligible", json!(eligible.get()));
            }
        }
        R::AccountFrozen { account }
        | R::AccountClosed { account }
        | R::AccountNotEmpty { account }
        | R::AccountExists { account } => {
            if mine(account) {
                put("account", json!(account.0));
            }
        }
        R::AccountNotFound { .. }
        | R::AccountKindMismatch { .. }
        | R::CitizenNotRegistered { .. }
        | R::NothingToRefund { .. }
        | R::ChargeInProgress { .. }
        | R::NothingToExpire { .. } => {}
        R::PendingNotAllowed { kind } => put("kind", json!(kind.as_str())),
        R::TooManyPending { max } => put("max", json!(max)),
        R::PendingNotFound { id } | R::NotARedemption { id } => put("transfer", json!(id.0)),
        R::PendingAlreadyEnded { id, end } => {
            put("transfer", json!(id.0));
            put(
                "ended",
                json!(match end {
                    ledger::PendingEnd::Posted => "posted",
                    ledger::PendingEnd::Voided => "voided",
                    ledger::PendingEnd::Expired => "expired",
                }),
            );
        }
        R::PostExceedsPending { id, pending } => {
            put("transfer", json!(id.0));
            put("pending", json!(pending.get()));
        }
        R::PaymentNotFound { payment } | R::SchemeRefundRequired { payment } => {
            put("payment", json!(payment.0))
        }
        R::RefundExceedsPayment {
            payment,
            refundable,
        } => {
            put("payment", json!(payment.0));
            put("refundable", json!(refundable.get()));
        }
        R::LinkedTooLong { max } => put("max", json!(max)),
        R::LinkedFailed { index, cause } => {
            put("index", json!(index));
            put("cause", json!(cause.code().as_str()));
        }
        R::SchemeInvalid { problem } => put("problem", json!(problem.as_str())),
        R::SchemeEffectiveTooEarly { earliest } => put("earliest", json!(earliest.as_micros())),
        R::SchemeVersionsFull { max } => put("max", json!(max)),
        R::SchemeNotWithdrawable { version } => put("version", json!(version)),
        R::MerchantNotRegistered { merchant } => put("merchant", json!(merchant.0)),
        R::MerchantSuspended { merchant, reason } => {
            put("merchant", json!(merchant.0));
            put("reason", json!(reason.as_str()));
        }
        R::PurchaseAmountInvalid { unit, min, max } => {
            put("unit", json!(unit.get()));
            put("min", json!(min.get()));
            put("max", json!(max.get()));
        }
        R::ChannelUnknown { channel } => put("channel", json!(channel)),
        R::PurchaseWindowClosed { allowed } => put(
            "birth_year_allowed",
            json!(match allowed {
                ledger::scheme::BirthYearParity::Even => "even",
                ledger::scheme::BirthYearParity::Odd => "odd",
            }),
        ),
        R::MonthlyPurchaseLimit { limit, used }
        | R::YearlyPurchaseLimit { limit, used }
        | R::GiftSentMonthlyLimit { limit, used } => {
            put("limit", json!(limit.get()));
            put("used", json!(used.get()));
        }
        R::ChannelMonthlyLimit {
            channel,
            limit,
            used,
        } => {
            put("channel", json!(channel));
            put("limit", json!(limit.get()));
            put("used", json!(used.get()));
        }
        // The recipient's usage is theirs.
        R::GiftReceivedMonthlyLimit { limit, .. } => put("limit", json!(limit.get())),
        R::HoldingCap { cap, holding } => {
            put("cap", json!(cap.get()));
            put("holding", json!(holding.get()));
        }
        R::SubsidyBudgetExhausted { available, .. } => {
            put("budget_available", json!(available.get()))
        }
        R::PurchaseNotFound { purchase }
        | R::PurchaseNotPending { purchase }
        | R::PurchaseNotPosted { purchase } => put("purchase", json!(purchase.0)),
        R::CancelWindowPassed { purchase, until } => {
            put("purchase", json!(purchase.0));
            put("until", json!(until.as_micros()));
        }
        R::PurchasePartlyUsed { purchase, unused } => {
            put("purchase", json!(purchase.0));
            put("unused", json!(unused.get()));
        }
        R::RefundThresholdNotReached {
            used_bp,
            required_bp,
        } => {
            put("used_bp", json!(used_bp));
            put("required_bp", json!(required_bp));
        }
        R::AmountNotPositive
        | R::AmountTooLarge
        | R::AccountIdInvalid
        | R::SameAccount
        | R::PendingTimeoutInvalid
        | R::IdempotencyKeyReused
        | R::LinkedEmpty
        | R::CurrencyHalted
        | R::InvariantViolation
        | R::NotHalted
        | R::SchemeNotConfigured
        | R::PurchasesClosed
        | R::GiftsDisabled
        | R::GiftsPausedToday
        | R::AutoChargeDisabled
        | R::AutoChargeInvalid => {}
    }
    f
}

impl From<Rejection> for ServiceError {
    /// Without knowing whose account the caller is: nothing about any account.
    fn from(r: Rejection) -> ServiceError {
        ServiceError::refused(&r, None)
    }
}

impl From<engine::SubmitError> for ServiceError {
    fn from(e: engine::SubmitError) -> ServiceError {
        use engine::SubmitError as S;
        match e {
            S::Busy { retry_after } => ServiceError::busy(retry_after.as_secs().max(1)),
            S::ReadOnly { cause } => ServiceError {
                retry_after_s: Some(60),
                ..ServiceError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "currency_halted",
                    "운영 점검 중이라 지금은 조회만 할 수 있습니다. 결제는 이뤄지지 않았습니다. 공지사항을 확인해 주세요.",
                    "The currency is read-only while the operator checks it; nothing was charged. Please see the notices.",
                )
                .detail(cause)
            },
            S::Unavailable { cause } => ServiceError::unavailable(cause),
            S::Stopped => ServiceError::unavailable("the currency is stopping"),
            S::TooLarge { max } => ServiceError::bad_request(
                "too_many_commands",
                format!("at most {max} commands in one request"),
            ),
            S::LinkedTooLong { max } => ServiceError::bad_request(
                "linked_too_long",
                format!("at most {max} transfers linked"),
            ),
        }
    }
}

impl From<engine::CommitError> for ServiceError {
    fn from(e: engine::CommitError) -> ServiceError {
        use engine::CommitError as C;
        match e {
            // The outcome is unknown: the same key again gets the answer, whichever.
            C::NotDurable { cause } => ServiceError {
                retry_after_s: Some(1),
                ..ServiceError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "outcome_unknown",
                    "처리 결과를 확인하지 못했습니다. 같은 요청 번호로 다시 보내면 결과를 알려 드립니다. 두 번 처리되지 않습니다.",
                    "The outcome could not be confirmed. Send the same request with the same Idempotency-Key to learn it; it will not be carried out twice.",
                )
                .detail(cause)
            },
            C::NotApplied { cause } => ServiceError::unavailable(cause),
            C::Stopped => ServiceError::unavailable("the currency stopped before answering"),
        }
    }
}

impl From<treasury::TreasuryError> for ServiceError {
    fn from(e: treasury::TreasuryError) -> ServiceError {
        ServiceError::treasury(e, None)
    }
}
