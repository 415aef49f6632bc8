//! A merchant's routes: the till (payments charged from a customer's one-time code),
//! refunds, redemption to the bank, the settlement list, live payments as they arrive,
//! and the QR sticker. Thin over `service::merchant`.

use service::citizen::{Paging, PaymentAnswer, PayoutAnswer};
use service::merchant::{ConsumerPaymentRequest, QrParams, RedemptionRequest, RefundRequest};

use super::prelude::*;
use crate::idempotency::idempotency_key;

#[derive(OpenApi)]
#[openapi(
    paths(
        settlements,
        refund_payment,
        redeem,
        live_payments,
        consumer_payment,
        my_qr
    ),
    components(schemas(RefundRequest, RedemptionRequest, ConsumerPaymentRequest))
)]
#[derive(Debug)]
pub struct Doc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/me/settlements", get(settlements))
        .route("/api/v1/me/payments/{payment}/refund", post(refund_payment))
        .route("/api/v1/me/redemptions", post(redeem))
        .route("/api/v1/me/payments/live", get(live_payments))
        .route("/api/v1/me/qr", get(my_qr))
        .route("/api/v1/me/consumer-payments", post(consumer_payment))
}

/// A merchant's settlement history: each redemption to its bank (asked for, or made by
/// the daily settlement) and where it stands, newest first, paged by `before` (a
/// transfer id from an earlier page).
#[utoipa::path(get, path = "/api/v1/me/settlements", security(("bearer" = [])), params(Paging),
    responses((status = 200, body = Vec<crate::history::Settlement>), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn settlements(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    QueryParams(paging): QueryParams<Paging>,
) -> Result<Json<Vec<crate::history::Settlement>>, ApiError> {
    Ok(Json(
        service::merchant::settlements(&state.service, &caller, paging).await?,
    ))
}

/// A merchant cancels or refunds (part of) a payment it received; the cash-back the
/// payment earned goes back with it.
#[utoipa::path(post, path = "/api/v1/me/payments/{payment}/refund", request_body = RefundRequest, security(("bearer" = [])),
    params(("payment" = u64, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, body = PaymentAnswer), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn refund_payment(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(payment): PathParams<u64>,
    JsonBody(req): JsonBody<RefundRequest>,
) -> Result<Answer<Json<PaymentAnswer>>, ApiError> {
    Ok(service::merchant::refund_payment(
        &state.service,
        &caller,
        idempotency_key(&headers),
        payment,
        req,
    )
    .await?
    .map(Json)
    .into())
}

/// A merchant redeems part of its balance to its linked bank account.
#[utoipa::path(post, path = "/api/v1/me/redemptions", request_body = RedemptionRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)),
    responses((status = 200, body = PayoutAnswer), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")))]
async fn redeem(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    JsonBody(req): JsonBody<RedemptionRequest>,
) -> Result<Answer<Json<PayoutAnswer>>, ApiError> {
    Ok(
        service::merchant::redeem(&state.service, &caller, idempotency_key(&headers), req)
            .await?
            .map(Json)
            .into(),
    )
}

/// Payments as they happen (server-sent events, one `payment` event each, JSON data as
/// in the history): a merchant's incoming ones, a citizen's outgoing ones. A user holds
/// at most a few streams at once (429 `too_many_streams` beyond), and the service a
/// bounded number (503 `streams_full` with `Retry-After` beyond); a place comes back
/// when its client goes away.
#[utoipa::path(get, path = "/api/v1/me/payments/live", security(("bearer" = [])),
    responses((status = 200, description = "text/event-stream"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "This user holds as many live streams as one may (`too_many_streams`): close one first.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The service holds as many live streams as it takes (`streams_full`): try again after `Retry-After` seconds.", body = Problem, content_type = "application/problem+json")))]
async fn live_payments(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
) -> Result<
    axum::response::sse::Sse<
        impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
    >,
    ApiError,
> {
    // A merchant hears what it receives; a citizen what it pays. The stream, its place
    // among the streams and its end with the session are the service's (the till page
    // shares them).
    let live = service::merchant::live_payments(&state.service, &caller, &state.streams)?;
    let stream = futures_util::stream::unfold(live, |mut live| async move {
        let entry = live.next().await?;
        let data = serde_json::to_string(&entry).unwrap_or_default();
        let event = axum::response::sse::Event::default()
            .event("payment")
            .data(data);
        Some((Ok(event), live))
    });
    Ok(axum::response::sse::Sse::new(stream).keep_alive(axum::response::sse::KeepAlive::default()))
}

/// A merchant charges a citizen by scanning the citizen's one-time code. The citizen's
/// app sees the payment on its live stream.
#[utoipa::path(post, path = "/api/v1/me/consumer-payments", request_body = ConsumerPaymentRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "the same key repeats the first answer")),
    responses((status = 200, body = PaymentAnswer), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn consumer_payment(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    JsonBody(req): JsonBody<ConsumerPaymentRequest>,
) -> Result<Answer<Json<PaymentAnswer>>, ApiError> {
    Ok(
        service::merchant::consumer_payment(
            &state.service,
            &caller,
            idempotency_key(&headers),
            req,
        )
        .await?
        .map(Json)
        .into(),
    )
}

/// The merchant's own QR code: the shop's sticker, or a one-sale code with `amount`.
#[utoipa::path(get, path = "/api/v1/me/qr", security(("bearer" = [])), params(QrParams),
    responses((status = 200, description = "image/png, image/svg+xml or text/plain"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn my_qr(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    QueryParams(p): QueryParams<QrParams>,
) -> Result<Response, ApiError> {
    let image = service::merchant::my_qr(&state.service, &caller, &p)?;
    Ok(([(header::CONTENT_TYPE, image.content_type)], image.bytes).into_response())
}
