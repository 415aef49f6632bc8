//! The one error type of the HTTP boundary: every failure is an
//! `application/problem+json` answer with a stable `code`, a message for the citizen in
//! Korean and English that says what to do, and (for operators) the cause.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ledger::{Rejection, RejectionCode};
use serde::Serialize;
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
    /// The cause, for operators and support.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub ko: String,
    pub en: String,
    pub detail: Option<String>,
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, ko: &str, en: &str) -> ApiError {
        ApiError {
            status,
            code: code.to_owned(),
            ko: ko.to_owned(),
            en: en.to_owned(),
            detail: None,
            retry_after_s: None,
        }
    }

    pub fn detail(mut self, d: impl Into<String>) -> ApiError {
        self.detail = Some(d.into());
        self
    }

    pub fn bad_request(code: &str, detail: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            code,
            "요청 내용이 올바르지 않습니다. 입력값을 확인해 주세요.",
            "The request is not valid. Please check what was entered.",
        )
        .detail(detail)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "sign_in_required",
            "로그인이 필요합니다. 다시 로그인해 주세요.",
            "Please sign in (again).",
        )
    }

    pub fn forbidden() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "이 기능을 사용할 권한이 없습니다.",
            "You are not allowed to do this.",
        )
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "찾을 수 없습니다.",
            "Not found.",
        )
        .detail(what.to_owned())
    }

    pub fn busy(retry_after_s: u64) -> ApiError {
        ApiError {
            retry_after_s: Some(retry_after_s.max(1)),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "지금 이용자가 많습니다. 잠시 후 다시 시도해 주세요. 결제는 이뤄지지 않았습니다.",
                "Too many requests right now. Please try again shortly; nothing was charged.",
            )
        }
    }

    pub fn unavailable(detail: impl Into<String>) -> ApiError {
        ApiError {
            retry_after_s: Some(5),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "잠시 서비스를 이용할 수 없습니다. 잠시 후 같은 요청을 다시 보내 주세요.",
                "The service is briefly unavailable. Please send the same request again shortly.",
            )
            .detail(detail)
        }
    }

    pub fn internal(detail: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "처리 중 문제가 생겼습니다. 고객센터에 문의해 주세요.",
            "Something went wrong on our side. Please contact support.",
        )
        .detail(detail)
    }
}

/// The stable code of an error answer, left on the response for the metrics layer.
#[derive(Clone, Debug)]
pub struct ErrorCode(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = ErrorCode(self.code.clone());
        let body = Problem {
            kind: format!("https://maeul.dev/problems/{}", self.code),
            title: self.en.clone(),
            status: self.status.as_u16(),
            code: self.code,
            message_ko: self.ko,
            message_en: self.en,
            detail: self.detail,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        response.extensions_mut().insert(code);
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = self.retry_after_s
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

/// What a citizen or merchant is told for each ledger refusal: in Korean first, with
/// what to do.
fn words(code: RejectionCode) -> (StatusCode, &'static str, &'static str) {
    use RejectionCode as C;
    let conflict = StatusCode::CONFLICT;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
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
        C::CurrencyHalted => (
            StatusCode::SERVICE_UNAVAILABLE,
            "운영 점검 중입니다. 잠시 후 다시 시도해 주세요. 결제는 이뤄지지 않았습니다.",
            "Payments are paused for maintenance. Please try again later; nothing was charged.",
        ),
        C::IdempotencyKeyReused => (
            conflict,
            "같은 요청 번호가 다른 내용으로 이미 쓰였습니다.",
            "This Idempotency-Key was already used for a different request.",
        ),
        C::AccountFrozen | C::AccountClosed => (
            unprocessable,
            "계정이 정지되었거나 해지되었습니다. 고객센터에 문의해 주세요.",
            "The account is frozen or closed. Please contact support.",
        ),
        C::AmountNotPositive | C::AmountTooLarge => (
            StatusCode::BAD_REQUEST,
            "금액이 올바르지 않습니다.",
            "The amount is not valid.",
        ),
        _ => (
            unprocessable,
            "요청을 처리할 수 없습니다.",
            "The request cannot be carried out.",
        ),
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> ApiError {
        let code = r.code();
        let (status, ko, en) = words(code);
        // Details name amounts and ids; where they would tell about someone else (a
        // recipient's gifts this month, whether an account exists) they are left out.
        let about_others = matches!(
            code,
            RejectionCode::GiftReceivedMonthlyLimit
                | RejectionCode::AccountNotFound
                | RejectionCode::AccountKindMismatch
                | RejectionCode::CitizenNotRegistered
        );
        let mut e = ApiError::new(status, code.as_str(), ko, en);
        if !about_others {
            e = e.detail(format!("{r:?}"));
        }
        if code == RejectionCode::CurrencyHalted {
            e.retry_after_s = Some(30);
        }
        e
    }
}

impl From<engine::SubmitError> for ApiError {
    fn from(e: engine::SubmitError) -> ApiError {
        match e {
            engine::SubmitError::Busy { retry_after } => {
                ApiError::busy(retry_after.as_secs().max(1))
            }
            other => ApiError::unavailable(other.to_string()),
        }
    }
}

impl From<treasury::TreasuryError> for ApiError {
    fn from(e: treasury::TreasuryError) -> ApiError {
        match e {
            treasury::TreasuryError::Refused(r) => r.into(),
            treasury::TreasuryError::NoLinkedAccount(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no_linked_account",
                "연결된 은행 계좌가 없습니다. 먼저 계좌를 연결해 주세요.",
                "No bank account is linked. Please link one first.",
            ),
            treasury::TreasuryError::Engine(d) => ApiError::unavailable(d),
            other => ApiError::unavailable(other.to_string()),
        }
    }
}
