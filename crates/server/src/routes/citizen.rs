//! Citizens' routes (`/api/v1/me/…`): thin over `service::citizen`. `/me/wallet` and
//! `/me/history` answer merchants too.

use service::citizen::{
    AutoCharge, BalanceRefundQuoteView, CancelQuoteView, ChargeAnswer, ChargeQuote, ChargeRequest,
    ConsumerCodeAnswer, ConsumerCodeRequest, GiftAnswer, GiftRequest, Lot, Paging, PaymentAnswer,
    PaymentRequest, PayoutAnswer, ScanRequest, ScanView, Wallet,
};

use super::prelude::*;
use crate::idempotency::idempotency_key;

#[derive(OpenApi)]
#[openapi(
    paths(
        wallet,
        charge,
        pay,
        history,
        gift,
        refund_balance,
        cancel_purchase,
        set_auto_charge,
        scan,
        scan_image,
        consumer_code,
        quote_charge,
        quote_cancel,
        quote_refund_balance
    ),
    components(schemas(
        Wallet,
        Lot,
        ChargeRequest,
        ChargeAnswer,
        PaymentRequest,
        PaymentAnswer,
        GiftRequest,
        GiftAnswer,
        PayoutAnswer,
        AutoCharge,
        ScanRequest,
        ScanView,
        ConsumerCodeRequest,
        ConsumerCodeAnswer,
        ChargeQuote,
        CancelQuoteView,
        BalanceRefundQuoteView
    ))
)]
#[derive(Debug)]
pub struct Doc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/me/wallet", get(wallet))
        .route("/api/v1/me/charges", post(charge))
        .route("/api/v1/me/charges/quote", post(quote_charge))
        .route("/api/v1/me/refund/quote", get(quote_refund_balance))
        .route("/api/v1/me/payments", post(pay))
        .route("/api/v1/me/history", get(history))
        .route("/api/v1/me/gifts", post(gift))
        .route("/api/v1/me/refund", post(refund_balance))
        .route(
            "/api/v1/me/purchases/{purchase}/cancel",
            post(cancel_purchase),
        )
        .route(
            "/api/v1/me/purchases/{purchase}/cancel/quote",
            get(quote_cancel),
        )
        .route(
            "/api/v1/me/auto-charge",
            axum::routing::put(set_auto_charge),
        )
        .route("/api/v1/me/scan", post(scan))
        .route("/api/v1/me/scan-image", post(scan_image))
        .route("/api/v1/me/consumer-code", post(consumer_code))
}

/// The caller's balance: a citizen's wallet by source of money; a merchant's balance,
/// what is on its way to its bank and what was paid out.
#[utoipa::path(get, path = "/api/v1/me/wallet", security(("bearer" = [])), responses(
    (status = 200, body = Wallet), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")
))]
async fn wallet(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
) -> Result<Json<Wallet>, ApiError> {
    Ok(Json(
        service::citizen::wallet(&state.service, &caller).await?,
    ))
}

/// Buys vouchers, paid from the linked bank account.
#[utoipa::path(post, path = "/api/v1/me/charges", request_body = ChargeRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "the same key repeats the first answer")),
    responses(
        (status = 200, body = ChargeAnswer), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")
))]
async fn charge(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    JsonBody(req): JsonBody<ChargeRequest>,
) -> Result<Answer<Json<ChargeAnswer>>, ApiError> {
    Ok(
        service::citizen::charge(&state.service, &caller, idempotency_key(&headers), req)
            .await?
            .map(Json)
            .into(),
    )
}

/// What a charge would do now, before it is made: what the wallet receives, what the
/// bank account pays, the discount, and what is left of this month's limits. Moves no
/// money (no idempotency key).
#[utoipa::path(post, path = "/api/v1/me/charges/quote", request_body = ChargeRequest, security(("bearer" = [])),
    responses(
        (status = 200, body = ChargeQuote), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")
))]
async fn quote_charge(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    JsonBody(req): JsonBody<ChargeRequest>,
) -> Result<Json<ChargeQuote>, ApiError> {
    Ok(Json(
        service::citizen::quote_charge(&state.service, &caller, &req).await?,
    ))
}

/// What cancelling a purchase would pay back now, and what goes back to the budget.
#[utoipa::path(get, path = "/api/v1/me/purchases/{purchase}/cancel/quote", security(("bearer" = [])),
    params(("purchase" = u64, Path)),
    responses((status = 200, body = CancelQuoteView), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn quote_cancel(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(purchase): PathParams<u64>,
) -> Result<Json<CancelQuoteView>, ApiError> {
    Ok(Json(
        service::citizen::quote_cancel(&state.service, &caller, purchase).await?,
    ))
}

/// What refunding the wallet's balance would pay to the bank now, and what goes back to
/// the budgets.
#[utoipa::path(get, path = "/api/v1/me/refund/quote", security(("bearer" = [])),
    responses((status = 200, body = BalanceRefundQuoteView), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn quote_refund_balance(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
) -> Result<Json<BalanceRefundQuoteView>, ApiError> {
    Ok(Json(
        service::citizen::quote_refund_balance(&state.service, &caller).await?,
    ))
}

/// Pays a merchant under the scheme's rules (cash-back as the scheme says).
#[utoipa::path(post, path = "/api/v1/me/payments", request_body = PaymentRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "the same key repeats the first answer")),
    responses(
        (status = 200, body = PaymentAnswer), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json")
))]
async fn pay(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    JsonBody(req): JsonBody<PaymentRequest>,
) -> Result<Answer<Json<PaymentAnswer>>, ApiError> {
    Ok(
        service::citizen::pay(&state.service, &caller, idempotency_key(&headers), req)
            .await?
            .map(Json)
            .into(),
    )
}

/// The caller's history (citizen or merchant), newest first, paged.
#[utoipa::path(get, path = "/api/v1/me/history", security(("bearer" = [])), params(Paging),
    responses((status = 200, body = Vec<crate::history::Entry>), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn history(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    QueryParams(paging): QueryParams<Paging>,
) -> Result<Json<Vec<crate::history::Entry>>, ApiError> {
    Ok(Json(
        service::citizen::history(&state.service, &caller, paging).await?,
    ))
}

/// Gives value to another citizen, within the scheme's gift rules.
#[utoipa::path(post, path = "/api/v1/me/gifts", request_body = GiftRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)),
    responses((status = 200, body = GiftAnswer), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")))]
async fn gift(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    JsonBody(req): JsonBody<GiftRequest>,
) -> Result<Answer<Json<GiftAnswer>>, ApiError> {
    Ok(
        service::citizen::gift(&state.service, &caller, idempotency_key(&headers), req)
            .await?
            .map(Json)
            .into(),
    )
}

/// Refunds the remaining bought value to the linked bank account, once the scheme's
/// used share is reached (the subsidy share goes back to its budget).
#[utoipa::path(post, path = "/api/v1/me/refund", security(("bearer" = [])), params(("Idempotency-Key" = String, Header)),
    responses((status = 200, body = PayoutAnswer), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")))]
async fn refund_balance(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
) -> Result<Answer<Json<PayoutAnswer>>, ApiError> {
    Ok(
        service::citizen::refund_balance(&state.service, &caller, idempotency_key(&headers))
            .await?
            .map(Json)
            .into(),
    )
}

/// Cancels an unused purchase within its window: what was paid goes back to the bank.
#[utoipa::path(post, path = "/api/v1/me/purchases/{purchase}/cancel", security(("bearer" = [])),
    params(("purchase" = u64, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, body = PayoutAnswer), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")))]
async fn cancel_purchase(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(purchase): PathParams<u64>,
) -> Result<Answer<Json<PayoutAnswer>>, ApiError> {
    Ok(service::citizen::cancel_purchase(
        &state.service,
        &caller,
        idempotency_key(&headers),
        purchase,
    )
    .await?
    .map(Json)
    .into())
}

/// Sets (or, with `null`, removes) the caller's auto-charge.
#[utoipa::path(put, path = "/api/v1/me/auto-charge", request_body = Option<AutoCharge>, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn set_auto_charge(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    JsonBody(req): JsonBody<Option<AutoCharge>>,
) -> Result<Response, ApiError> {
    let a =
        service::citizen::set_auto_charge(&state.service, &caller, idempotency_key(&headers), req)
            .await?;
    Ok(crate::idempotency::mark_replayed(
        StatusCode::NO_CONTENT.into_response(),
        a.replayed,
    ))
}

/// What a scanned code is, before paying (a citizen's app shows the shop and amount).
#[utoipa::path(post, path = "/api/v1/me/scan", request_body = ScanRequest, security(("bearer" = [])),
    responses((status = 200, body = ScanView), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn scan(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    JsonBody(req): JsonBody<ScanRequest>,
) -> Result<Json<ScanView>, ApiError> {
    Ok(Json(
        service::citizen::scan(&state.service, &caller, req).await?,
    ))
}

/// The same from a camera image (PNG or JPEG body).
#[utoipa::path(post, path = "/api/v1/me/scan-image", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "image/png"),
    responses((status = 200, body = ScanView), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn scan_image(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    body: Bytes,
) -> Result<Json<ScanView>, ApiError> {
    // Decoded under the service's limits (see `service::citizen::scan_image`), among
    // this server's decode places.
    Ok(Json(
        service::citizen::scan_image(&state.service, &caller, body, &state.image_decodes).await?,
    ))
}

/// A one-time payment code for the till (valid three minutes; asks the payment PIN).
#[utoipa::path(post, path = "/api/v1/me/consumer-code", request_body = ConsumerCodeRequest, security(("bearer" = [])),
    responses((status = 200, body = ConsumerCodeAnswer), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn consumer_code(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    JsonBody(req): JsonBody<ConsumerCodeRequest>,
) -> Result<Json<ConsumerCodeAnswer>, ApiError> {
    Ok(Json(
        service::citizen::consumer_code(&state.service, &caller, req).await?,
    ))
}
