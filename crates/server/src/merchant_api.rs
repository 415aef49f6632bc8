//! Routes for merchants as places: the directory (nearby and name search), QR codes
//! (download, scan, pay by scanning either way), registry sync, QR aliases, and the
//! merchant lifecycle an operator runs. Money still moves only through the ledger's
//! scheme commands (`api.rs` helpers).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::Engine as _;
use directory::{
    Filter, GeoPoint, Mcc, Merchant, MerchantProfile, NameQuery, NearbyQuery, Page, Revenue,
    RevenueBand, SourceFilter, SourceMask, Status, StatusSet,
};
use ledger::scheme::{AnnualRevenue, SchemeCommand};
use ledger::{
    AccountId, AccountKind, Applied, ClientId, Command, Envelope, IdempotencyKey, MerchantId,
    Source, SourceSet, Text, WalletId, Won,
};
use qr::{MerchantCode, QrOptions, Recognised, ScanAnswer, Sticker};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::api::{
    JsonBody, PathParams, PaymentAnswer, QueryParams, idempotency, operator_of, paid_answer,
    require, run_scheme, submit, won,
};
use crate::auth::{Caller, Role};
use crate::error::{ApiError, Problem};
use crate::{AppState, Currency};

/// Registry and alias files up to this size are taken through the API (about 300,000
/// registry rows); larger ones go through `maeul admin sync-registry`.
pub const FILE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Camera images up to this size.
pub const IMAGE_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Ledger commands per submission when the ledger follows the registry.
const MIRROR_CHUNK: usize = 512;

#[derive(OpenApi)]
#[openapi(
    paths(
        nearby,
        search_names,
        merchant_card,
        scan,
        scan_image,
        consumer_code,
        my_qr,
        merchant_qr,
        consumer_payment,
        list_merchants,
        close_merchant,
        reopen_merchant,
        registry_sync,
        import_aliases
    ),
    components(schemas(
        MerchantCard,
        SearchAnswer,
        ScanRequest,
        ScanView,
        ConsumerCodeRequest,
        ConsumerCodeAnswer,
        ConsumerPaymentRequest,
        SyncAnswer,
        AliasImportAnswer,
        AliasRejected,
        MerchantList
    ))
)]
#[derive(Debug)]
pub struct MerchantDoc;

pub fn routes() -> Router<Arc<AppState>> {
    use axum::extract::DefaultBodyLimit;
    use axum::routing::{get, post};
    Router::new()
        .route("/api/v1/directory/{currency}/nearby", get(nearby))
        .route("/api/v1/directory/{currency}/search", get(search_names))
        .route(
            "/api/v1/directory/{currency}/merchants/{merchant}",
            get(merchant_card),
        )
        .route("/api/v1/me/scan", post(scan))
        .route(
            "/api/v1/me/scan-image",
            post(scan_image).layer(DefaultBodyLimit::max(IMAGE_BYTES_MAX)),
        )
        .route("/api/v1/me/consumer-code", post(consumer_code))
        .route("/api/v1/me/qr", get(my_qr))
        .route("/api/v1/me/consumer-payments", post(consumer_payment))
        .route("/api/v1/operator/{currency}/merchants", get(list_merchants))
        .route(
            "/api/v1/operator/{currency}/merchants/{merchant}/qr",
            get(merchant_qr),
        )
        .route(
            "/api/v1/operator/{currency}/merchants/{merchant}/close",
            post(close_merchant),
        )
        .route(
            "/api/v1/operator/{currency}/merchants/{merchant}/reopen",
            post(reopen_merchant),
        )
        .route(
            "/api/v1/operator/{currency}/registry-sync",
            post(registry_sync).layer(DefaultBodyLimit::max(FILE_BYTES_MAX)),
        )
        .route(
            "/api/v1/operator/{currency}/qr-aliases",
            post(import_aliases).layer(DefaultBodyLimit::max(FILE_BYTES_MAX)),
        )
}

/// Wall-clock microseconds since the Unix epoch (what the registry and QR codes are
/// given as `now`).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

// ----- what a merchant looks like from outside ----------------------------------------

/// A merchant as citizens see it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MerchantCard {
    pub id: u64,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_en: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcc: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub road_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sido: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigungu: Option<String>,
    /// Degrees (WGS84).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    /// e.g. `월-금 09:00-18:00, 토 10:00-14:00`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hours: Option<String>,
    /// Money sources it takes: purchased, allowance, cashback, gift, correction.
    pub accepts: Vec<String>,
    /// applied, approved, suspended, closed
    pub status: String,
    /// From the search point, metres.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<u32>,
}

impl MerchantCard {
    fn of(m: &Merchant, distance_m: Option<u32>) -> MerchantCard {
        let p = &m.profile;
        MerchantCard {
            id: m.id.0,
            name: p.name.clone(),
            name_en: p.name_en.clone(),
            mcc: p.mcc.map(Mcc::code),
            category: p.category,
            road_address: p.road_address.clone(),
            sido: p.sido.clone(),
            sigungu: p.sigungu.clone(),
            lat: p.location.map(|l| l.lat()),
            lon: p.location.map(|l| l.lon()),
            hours: p.hours.as_ref().map(ToString::to_string),
            accepts: p.accepts.iter().map(|s| s.as_str().to_owned()).collect(),
            status: m.status.as_str().to_owned(),
            distance_m,
        }
    }
}

fn point(lat: f64, lon: f64) -> Result<GeoPoint, ApiError> {
    GeoPoint::from_degrees(lat, lon).map_err(|e| ApiError::bad_request(e.code(), e.to_string()))
}

fn sources(list: Option<&str>) -> Result<SourceFilter, ApiError> {
    let Some(list) = list.filter(|l| !l.trim().is_empty()) else {
        return Ok(SourceFilter::Any);
    };
    SourceMask::parse(list)
        .map(SourceFilter::AcceptsAnyOf)
        .map_err(|e| ApiError::bad_request(e.code(), e.to_string()))
}

fn filter(
    category: Option<u16>,
    mcc: Option<u16>,
    accepts: Option<&str>,
) -> Result<Filter, ApiError> {
    Ok(Filter {
        statuses: StatusSet::CITIZEN,
        mcc: mcc
            .map(Mcc::new)
            .transpose()
            .map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?,
        category,
        sources: sources(accepts)?,
    })
}

fn search_error(e: directory::SearchError) -> ApiError {
    ApiError::bad_request(e.code(), e.to_string())
}

// ----- directory (public) -------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NearbyParams {
    /// Degrees.
    pub lat: f64,
    pub lon: f64,
    /// Metres, 1..=50000 (default 2000).
    pub radius_m: Option<u32>,
    /// The scheme's own category.
    pub category: Option<u16>,
    pub mcc: Option<u16>,
    /// Comma-separated sources the merchant must take one of (the citizen's money),
    /// e.g. `allowance,purchased`.
    pub accepts: Option<String>,
    pub offset: Option<u32>,
    /// 1..=100 (default 20).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchAnswer {
    pub merchants: Vec<MerchantCard>,
    /// Pass as `offset` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u32>,
}

fn answer(currency: &Currency, page: directory::SearchPage) -> SearchAnswer {
    currency.merchants.read(|reg| SearchAnswer {
        merchants: page
            .hits
            .iter()
            .filter_map(|h| reg.get(h.id).map(|m| MerchantCard::of(m, h.distance_m)))
            .collect(),
        next_offset: page.next_offset,
    })
}

/// Approved merchants nearest a point, by real distance, within a radius.
#[utoipa::path(get, path = "/api/v1/directory/{currency}/nearby",
    params(("currency" = String, Path), NearbyParams),
    responses((status = 200, body = SearchAnswer)))]
async fn nearby(
    State(state): State<Arc<AppState>>,
    PathParams(code): PathParams<String>,
    QueryParams(q): QueryParams<NearbyParams>,
) -> Result<Json<SearchAnswer>, ApiError> {
    let currency = state.currency(&code)?;
    let query = NearbyQuery {
        at: point(q.lat, q.lon)?,
        radius_m: q.radius_m.unwrap_or(2_000),
        filter: filter(q.category, q.mcc, q.accepts.as_deref())?,
        page: Page {
            offset: q.offset.unwrap_or(0),
            limit: q.limit.unwrap_or(20),
        },
    };
    let page = currency
        .merchants
        .read(|reg| reg.nearby(&query))
        .map_err(search_error)?;
    Ok(Json(answer(currency, page)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NameParams {
    /// Part of a Korean or English name, or initial consonants (초성, e.g. `ㄱㄷㅅㅈ`).
    pub q: String,
    /// With `lon`: order matches by distance from here.
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub category: Option<u16>,
    pub mcc: Option<u16>,
    pub accepts: Option<String>,
    pub offset: Option<u32>,
    pub limit: Option<u32>,
}

/// Approved merchants by name: partial Korean names, initial consonants, English names.
#[utoipa::path(get, path = "/api/v1/directory/{currency}/search",
    params(("currency" = String, Path), NameParams),
    responses((status = 200, body = SearchAnswer)))]
async fn search_names(
    State(state): State<Arc<AppState>>,
    PathParams(code): PathParams<String>,
    QueryParams(q): QueryParams<NameParams>,
) -> Result<Json<SearchAnswer>, ApiError> {
    let currency = state.currency(&code)?;
    let near = match (q.lat, q.lon) {
        (Some(lat), Some(lon)) => Some(point(lat, lon)?),
        (None, None) => None,
        _ => {
            return Err(ApiError::bad_request(
                "point_incomplete",
                "give both lat and lon, or neither",
            ));
        }
    };
    let query = NameQuery {
        text: q.q,
        near,
        filter: filter(q.category, q.mcc, q.accepts.as_deref())?,
        page: Page {
            offset: q.offset.unwrap_or(0),
            limit: q.limit.unwrap_or(20),
        },
    };
    let page = currency
        .merchants
        .read(|reg| reg.search_name(&query))
        .map_err(search_error)?;
    Ok(Json(answer(currency, page)))
}

/// One merchant's card (any status: a citizen can see that a shop is suspended).
#[utoipa::path(get, path = "/api/v1/directory/{currency}/merchants/{merchant}",
    params(("currency" = String, Path), ("merchant" = u64, Path)),
    responses((status = 200, body = MerchantCard)))]
async fn merchant_card(
    State(state): State<Arc<AppState>>,
    PathParams((code, merchant)): PathParams<(String, u64)>,
) -> Result<Json<MerchantCard>, ApiError> {
    let currency = state.currency(&code)?;
    // Applicants (often sole traders) are not public until approved.
    currency
        .merchants
        .get(merchant)
        .filter(|m| m.status != Status::Applied)
        .map(|m| Json(MerchantCard::of(&m, None)))
        .ok_or_else(|| ApiError::not_found("merchant"))
}

// ----- scanning -----------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// The scanned text, exactly as the camera read it.
    pub payload: String,
}

/// What a scan is, in words for people and a stable code for apps.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScanView {
    /// `merchant_found`, `payer_found`, `bad_checksum`, `malformed_emv`, `not_payment_code`,
    /// `unknown_merchant`, `merchant_suspended`, `merchant_closed`, `other_currency`, …
    pub code: String,
    pub payable: bool,
    pub message_ko: String,
    pub message_en: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant: Option<MerchantCard>,
    /// Fixed by a kiosk's code, in won.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<u64>,
    /// How it was recognised: `maeul_static`, `maeul_dynamic`, `alias`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recognised: Option<String>,
    /// The scheme the code belongs to, when it is not ours (e.g. `zeropay`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
}

fn scan_view(currency: &Currency, a: &ScanAnswer) -> ScanView {
    let (merchant, amount, recognised, scheme) = match a {
        ScanAnswer::Merchant(t) => (
            Some(t.merchant),
            t.amount_won,
            Some(match t.via {
                Recognised::MaeulStatic => "maeul_static",
                Recognised::MaeulDynamic => "maeul_dynamic",
                Recognised::Alias { .. } => "alias",
            }),
            None,
        ),
        ScanAnswer::UnknownMerchant { scheme, .. } => (None, None, None, Some(scheme.code())),
        ScanAnswer::MerchantSuspended { merchant, .. }
        | ScanAnswer::MerchantClosed { merchant } => (Some(*merchant), None, None, None),
        _ => (None, None, None, None),
    };
    ScanView {
        code: a.code().to_owned(),
        payable: a.is_payable(),
        message_ko: a.message_ko().into_owned(),
        message_en: a.message_en().into_owned(),
        merchant: merchant
            .and_then(|m| currency.merchants.get(m))
            .map(|m| MerchantCard::of(&m, None)),
        amount,
        recognised: recognised.map(str::to_owned),
        scheme: scheme.map(str::to_owned),
    }
}

/// A refusal that says exactly what the scan was.
fn scan_refusal(a: &ScanAnswer) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        a.code(),
        &a.message_ko(),
        &a.message_en(),
    )
}

/// What a scanned code is, before paying (a citizen's app shows the shop and amount).
#[utoipa::path(post, path = "/api/v1/me/scan", request_body = ScanRequest, security(("bearer" = [])),
    responses((status = 200, body = ScanView), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn scan(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    JsonBody(req): JsonBody<ScanRequest>,
) -> Result<Json<ScanView>, ApiError> {
    require(&caller, Role::Citizen)?;
    let currency = state.currency(&caller.currency)?;
    let a = currency
        .merchants
        .classify_for_citizen(req.payload.as_bytes(), now_us());
    Ok(Json(scan_view(currency, &a)))
}

/// The same from a camera image (PNG or JPEG body).
#[utoipa::path(post, path = "/api/v1/me/scan-image", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "image/png"),
    responses((status = 200, body = ScanView), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn scan_image(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<ScanView>, ApiError> {
    require(&caller, Role::Citizen)?;
    let currency = state.currency(&caller.currency)?.clone();
    // Image decoding is CPU work: off the async threads.
    let found = tokio::task::spawn_blocking(move || qr::decode_image(&body))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                e.code(),
                e.message_ko(),
                e.message_en(),
            )
        })?;
    let first = found.first().cloned().unwrap_or_default();
    let a = currency.merchants.classify_for_citizen(&first, now_us());
    Ok(Json(scan_view(&currency, &a)))
}

/// The merchant and amount a citizen's payment by scanned code goes to.
pub(crate) fn payment_target(
    currency: &Currency,
    code: &str,
    amount: Option<i64>,
) -> Result<(u64, Won), ApiError> {
    let a = currency
        .merchants
        .classify_for_citizen(code.as_bytes(), now_us());
    let ScanAnswer::Merchant(target) = &a else {
        return Err(scan_refusal(&a));
    };
    let amount = match (target.amount_won, amount) {
        (Some(fixed), Some(given)) if i64::try_from(fixed).ok() != Some(given) => {
            return Err(ApiError::bad_request(
                "amount_differs_from_code",
                format!("the code asks for {fixed} won, the request says {given}"),
            ));
        }
        (Some(fixed), _) => i64::try_from(fixed)
            .map_err(|_| ApiError::bad_request("amount_invalid", "amount too large"))?,
        (None, Some(given)) => given,
        (None, None) => {
            return Err(ApiError::bad_request(
                "amount_required",
                "this code has no amount: give one",
            ));
        }
    };
    Ok((target.merchant, won(amount)?))
}

// ----- consumer-presented codes -------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumerCodeRequest {
    pub pin: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsumerCodeAnswer {
    /// Show as a QR code; the merchant scans it and enters the amount. Once only.
    pub code: String,
    /// Unix microseconds; at most three minutes from now.
    pub expires_at_us: u64,
    /// The code as a PNG image, base64.
    pub png_base64: String,
}

/// A one-time payment code for the till (valid three minutes; asks the payment PIN).
#[utoipa::path(post, path = "/api/v1/me/consumer-code", request_body = ConsumerCodeRequest, security(("bearer" = [])),
    responses((status = 200, body = ConsumerCodeAnswer), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn consumer_code(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    JsonBody(req): JsonBody<ConsumerCodeRequest>,
) -> Result<Json<ConsumerCodeAnswer>, ApiError> {
    let wallet = require(&caller, Role::Citizen)?;
    // Each code takes a place in a bounded table: the per-user write limit applies.
    state
        .writes
        .admit(caller.user_id)
        .map_err(crate::api::too_many)?;
    state.auth.check_pin(caller.user_id, &req.pin).await?;
    let currency = state.currency(&caller.currency)?;
    let issued = currency.merchants.issue_consumer_code(wallet, now_us())?;
    let png = qr::render_png(&issued.text, &QrOptions::default())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(ConsumerCodeAnswer {
        code: issued.text,
        expires_at_us: issued.expires_at_us,
        png_base64: base64::engine::general_purpose::STANDARD.encode(png),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumerPaymentRequest {
    /// What the till scanned from the citizen's app.
    pub code: String,
    pub amount: i64,
}

/// A merchant charges a citizen by scanning the citizen's one-time code. The citizen's
/// app sees the payment on its live stream.
#[utoipa::path(post, path = "/api/v1/me/consumer-payments", request_body = ConsumerPaymentRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "the same key repeats the first answer")),
    responses((status = 200, body = PaymentAnswer), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn consumer_payment(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(req): JsonBody<ConsumerPaymentRequest>,
) -> Result<Json<PaymentAnswer>, ApiError> {
    let merchant = require(&caller, Role::Merchant)?;
    let (client, key) = idempotency(&state, &headers, &caller)?;
    let amount = won(req.amount)?;
    let currency = state.currency(&caller.currency)?;
    // A retry after the code was used gets the first answer (the code is gone by then).
    let earlier = currency.engine.read(|l| l.remembered(client, key).cloned());
    if let Some(Ok(Applied::Scheme(s))) = earlier {
        if let ledger::scheme::SchemeApplied::Paid { amount: paid, .. } = &*s
            && *paid != amount
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                "이미 다른 결제에 쓰인 요청 번호입니다. 새로 결제해 주세요.",
                "This request key was used for another sale. Please start a new sale.",
            ));
        }
        return paid_answer(*s);
    }
    // A retry whose first try used the code up but got no answer (busy, deadline)
    // charges the same wallet under the same key: never a second code, never twice.
    let payer = match currency.merchants.redeemed_for(client.0, key.0) {
        Some(wallet) => wallet,
        None => {
            let a = currency
                .merchants
                .classify_for_merchant(req.code.as_bytes(), now_us());
            let ScanAnswer::Payer(code) = &a else {
                return Err(scan_refusal(&a));
            };
            currency
                .merchants
                .payer_of(code, client.0, key.0)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "consumer_code_unknown",
                        "확인할 수 없는 결제 코드입니다. 손님께 새 코드를 보여 달라고 해 주세요.",
                        "This payment code is not known. Ask the customer to show a new one.",
                    )
                })?
        }
    };
    let applied = run_scheme(
        currency,
        client,
        key,
        SchemeCommand::Pay {
            payer: WalletId(AccountId(payer)),
            merchant: MerchantId(AccountId(merchant)),
            amount,
        },
    )
    .await?;
    paid_answer(applied)
}

// ----- QR downloads -------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QrParams {
    /// `png` (default), `svg`, `sticker.svg` (A6, printable), `sticker.png`, or `text`
    /// (the payload itself).
    pub format: Option<String>,
    /// Won, for a kiosk's one-sale code; absent for the shop's sticker.
    pub amount: Option<u64>,
}

fn qr_response(currency_code: &str, m: &Merchant, p: &QrParams) -> Result<Response, ApiError> {
    let city = m
        .profile
        .sigungu
        .clone()
        .or_else(|| m.profile.sido.clone())
        .unwrap_or_else(|| "KR".into());
    let mcc = m.profile.mcc.map_or(5499, Mcc::code);
    // EMVCo allows 25 characters of name and 15 of city; the registry allows more.
    let mut code = MerchantCode::new_static(
        currency_code,
        m.id.0,
        mcc,
        truncate_chars(&m.profile.name, 25),
        truncate_chars(&city, 15),
    );
    if let Some(amount) = p.amount {
        if amount == 0 || i64::try_from(amount).is_err() {
            return Err(ApiError::bad_request("amount_invalid", "1 won or more"));
        }
        code = code.with_amount(amount);
    }
    let payload = code
        .encode()
        .map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?;
    let render = |e: qr::RenderError| ApiError::internal(e.to_string());
    let (mime, body): (&str, Vec<u8>) = match p.format.as_deref().unwrap_or("png") {
        "png" => (
            "image/png",
            qr::render_png(&payload, &QrOptions::default()).map_err(render)?,
        ),
        "svg" => (
            "image/svg+xml",
            qr::render_svg(&payload, &QrOptions::default())
                .map_err(render)?
                .into_bytes(),
        ),
        "sticker.svg" | "sticker.png" => {
            let sticker = Sticker {
                payload: &payload,
                merchant_name: &m.profile.name,
                currency_name: currency_code,
                call_to_action: qr::CALL_TO_ACTION,
            };
            if p.format.as_deref() == Some("sticker.svg") {
                (
                    "image/svg+xml",
                    qr::render_sticker_svg(&sticker)
                        .map_err(render)?
                        .into_bytes(),
                )
            } else {
                let png = qr::render_sticker_png(
                    &sticker,
                    &qr::StickerPngOptions {
                        dpi: 300,
                        font: None,
                    },
                )
                .map_err(render)?;
                ("image/png", png.png)
            }
        }
        "text" => ("text/plain; charset=utf-8", payload.into_bytes()),
        other => {
            return Err(ApiError::bad_request(
                "format_unknown",
                format!("{other}: use png, svg, sticker.svg, sticker.png or text"),
            ));
        }
    };
    Ok(([(header::CONTENT_TYPE, mime)], body).into_response())
}

/// The merchant's own QR code: the shop's sticker, or a one-sale code with `amount`.
#[utoipa::path(get, path = "/api/v1/me/qr", security(("bearer" = [])), params(QrParams),
    responses((status = 200, description = "image/png, image/svg+xml or text/plain"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn my_qr(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    QueryParams(p): QueryParams<QrParams>,
) -> Result<Response, ApiError> {
    let merchant = require(&caller, Role::Merchant)?;
    let currency = state.currency(&caller.currency)?;
    let m = currency
        .merchants
        .get(merchant)
        .ok_or_else(|| ApiError::not_found("merchant record"))?;
    qr_response(&caller.currency, &m, &p)
}

/// A merchant's QR code, for an operator printing stickers.
#[utoipa::path(get, path = "/api/v1/operator/{currency}/merchants/{merchant}/qr", security(("bearer" = [])),
    params(("currency" = String, Path), ("merchant" = u64, Path), QrParams),
    responses((status = 200, description = "image/png, image/svg+xml or text/plain"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn merchant_qr(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParams((code, merchant)): PathParams<(String, u64)>,
    QueryParams(p): QueryParams<QrParams>,
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let m = currency
        .merchants
        .get(merchant)
        .ok_or_else(|| ApiError::not_found("merchant"))?;
    qr_response(&code, &m, &p)
}

// ----- operators: the merchant lifecycle, sync, aliases -------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// applied (applications waiting), approved, suspended or closed.
    pub status: Option<String>,
    pub offset: Option<u32>,
    /// 1..=200 (default 50).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MerchantList {
    pub merchants: Vec<MerchantCard>,
    pub total: usize,
}

/// The currency's merchants, e.g. the applications waiting for approval (`status=applied`).
#[utoipa::path(get, path = "/api/v1/operator/{currency}/merchants", security(("bearer" = [])),
    params(("currency" = String, Path), ListParams),
    responses((status = 200, body = MerchantList), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn list_merchants(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParams(code): PathParams<String>,
    QueryParams(p): QueryParams<ListParams>,
) -> Result<Json<MerchantList>, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let status = match p.status.as_deref() {
        None => None,
        Some(s) => Some(
            Status::ALL
                .into_iter()
                .find(|st| st.as_str() == s)
                .ok_or_else(|| ApiError::bad_request("status_unknown", s.to_owned()))?,
        ),
    };
    let offset = p.offset.unwrap_or(0) as usize;
    let limit = p.limit.unwrap_or(50).clamp(1, 200) as usize;
    Ok(Json(currency.merchants.read(|reg| {
        let matching = reg
            .records()
            .iter()
            .filter(|m| status.is_none_or(|s| m.status == s));
        let total = matching.clone().count();
        MerchantList {
            merchants: matching
                .skip(offset)
                .take(limit)
                .map(|m| MerchantCard::of(m, None))
                .collect(),
            total,
        }
    })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LifecycleReason {
    pub reason: String,
}

/// Closes a merchant (폐업 or withdrawn): its codes stop paying and say why.
#[utoipa::path(post, path = "/api/v1/operator/{currency}/merchants/{merchant}/close", request_body = LifecycleReason, security(("bearer" = [])),
    params(("currency" = String, Path), ("merchant" = u64, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn close_merchant(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    PathParams((code, merchant)): PathParams<(String, u64)>,
    JsonBody(req): JsonBody<LifecycleReason>,
) -> Result<StatusCode, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    idempotency(&state, &headers, &caller)?;
    move_merchant(currency, merchant, Status::Closed, &req.reason).await
}

/// Reopens a closed merchant with the same id (its old stickers work again).
#[utoipa::path(post, path = "/api/v1/operator/{currency}/merchants/{merchant}/reopen", request_body = LifecycleReason, security(("bearer" = [])),
    params(("currency" = String, Path), ("merchant" = u64, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn reopen_merchant(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    PathParams((code, merchant)): PathParams<(String, u64)>,
    JsonBody(req): JsonBody<LifecycleReason>,
) -> Result<StatusCode, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    idempotency(&state, &headers, &caller)?;
    move_merchant(currency, merchant, Status::Approved, &req.reason).await
}

/// Moves a merchant in the registry and has the ledger follow. Moving to where it
/// already is succeeds (a retried request).
pub(crate) async fn move_merchant(
    currency: &Currency,
    merchant: u64,
    to: Status,
    reason: &str,
) -> Result<StatusCode, ApiError> {
    let Some(m) = currency.merchants.get(merchant) else {
        return Err(ApiError::not_found("merchant"));
    };
    if m.status != to {
        currency
            .merchants
            .transition(merchant, to, reason, now_us())?;
    }
    mirror_in_ledger(currency, &[merchant]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The ledger's view of a merchant, made to follow the registry: an account for every
/// record, the profile the scheme rules read, and an operator suspension exactly when
/// the merchant is not approved. Reads the ledger first and sends only what differs, so
/// running it again changes nothing. Returns the commands applied.
pub async fn mirror_in_ledger(currency: &Currency, ids: &[u64]) -> Result<usize, ApiError> {
    // One at a time per currency: two runs planning from the same reads could land in
    // the wrong order (a reinstatement after a later close).
    let _turn = currency.merchants.mirror_turn().await;
    let mut applied = 0;
    for chunk in ids.chunks(MIRROR_CHUNK) {
        let records: Vec<Merchant> = chunk
            .iter()
            .filter_map(|id| currency.merchants.get(*id))
            .collect();
        let commands: Vec<Command> = currency.engine.read(|l| {
            let mut out = Vec::new();
            for m in &records {
                let id = MerchantId(AccountId(m.id.0));
                let (category, revenue) = ledger_profile(&m.profile);
                if l.account(id.account()).is_none() {
                    out.push(Command::OpenAccount {
                        account: id.account(),
                        kind: AccountKind::Merchant,
                        accepts: source_set(m.profile.accepts),
                    });
                }
                let profile = l.merchant_profile(id.account());
                if profile.is_none_or(|p| p.category != category || p.annual_revenue != revenue) {
                    out.push(Command::Scheme(Box::new(
                        SchemeCommand::SetMerchantProfile {
                            merchant: id,
                            category,
                            annual_revenue: revenue,
                        },
                    )));
                }
                let suspended = profile.is_some_and(|p| p.operator_suspension.is_some());
                let should_be = m.status != Status::Approved;
                if should_be && !suspended {
                    let why = match m.status {
                        Status::Applied => "awaiting approval".to_owned(),
                        Status::Closed => format!("closed: {}", m.last_change.reason),
                        _ => m.last_change.reason.clone(),
                    };
                    // Never skipped: a reason too long for the journal is cut (at a
                    // character boundary), an empty one replaced.
                    let reason = Text::new(truncate_bytes(&why, Text::BYTES_MAX))
                        .or_else(|_| Text::new("not approved"));
                    if let Ok(reason) = reason {
                        out.push(Command::Scheme(Box::new(SchemeCommand::SuspendMerchant {
                            merchant: id,
                            reason,
                        })));
                    }
                } else if !should_be && suspended {
                    out.push(Command::Scheme(Box::new(
                        SchemeCommand::ReinstateMerchant { merchant: id },
                    )));
                }
            }
            out
        });
        if commands.is_empty() {
            continue;
        }
        let envelopes: Vec<Envelope> = commands
            .into_iter()
            .map(|command| {
                let mut key = [0u8; 16];
                rand::rng().fill_bytes(&mut key);
                Envelope {
                    client: ClientId(u64::MAX - 2),
                    key: IdempotencyKey(u128::from_le_bytes(key)),
                    command,
                }
            })
            .collect();
        for out in submit(currency, envelopes).await? {
            match out.result {
                Ok(_) => applied += 1,
                Err(r) => {
                    tracing::warn!(rejection = ?r, "the ledger refused to follow the registry")
                }
            }
        }
    }
    Ok(applied)
}

/// The longest prefix of `s` of at most `max` bytes that ends at a character boundary.
pub(crate) fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// At most `n` characters of `s`.
fn truncate_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// The category and annual revenue the scheme rules read, from a registry profile (a
/// revenue band counts as its upper bound; the general band as above every cap). A
/// revenue the registry does not know is unknown to the ledger too, which gives it the
/// least generous treatment (never the zero revenue that earns the top cash-back).
pub fn ledger_profile(p: &MerchantProfile) -> (u16, AnnualRevenue) {
    let category = p.category.or(p.mcc.map(Mcc::code)).unwrap_or(0);
    let revenue = match p.revenue {
        Some(Revenue::AnnualWon(w)) => AnnualRevenue::Known(w),
        Some(Revenue::Band(b)) => AnnualRevenue::Known(Won::new(match b {
            RevenueBand::Small => 300_000_000,
            RevenueBand::Medium1 => 500_000_000,
            RevenueBand::Medium2 => 1_000_000_000,
            RevenueBand::Medium3 => 3_000_000_000,
            RevenueBand::General => 100_000_000_000,
        })),
        // A range is only known when it is one amount (the scheme decides the rest).
        Some(Revenue::Range(r)) if r.max_won() == Some(r.min_won()) => {
            AnnualRevenue::Known(r.min_won())
        }
        Some(Revenue::Range(_)) | None => AnnualRevenue::Unknown,
    };
    (category, revenue)
}

pub fn source_set(mask: SourceMask) -> SourceSet {
    let sources: Vec<Source> = mask.iter().collect();
    SourceSet::of(&sources)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SyncParams {
    /// `false`: only say what would change (default `true`).
    pub apply: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SyncAnswer {
    pub applied: bool,
    pub added: usize,
    pub changed: usize,
    pub suspended: usize,
    pub resumed: usize,
    pub reopened: usize,
    pub closed: usize,
    /// Left as an operator decided, whatever the file says.
    pub held: usize,
    pub unchanged: u64,
    pub rejected: usize,
    /// Approved or suspended merchants the file does not mention (not closed: an
    /// operator decides).
    pub absent: usize,
    /// Ledger commands sent so the ledger follows the registry.
    pub ledger_commands: usize,
    /// Every row: added (with ids), changed (with fields), status moves, rejected rows
    /// with line and code.
    #[schema(value_type = Object)]
    pub report: serde_json::Value,
}

/// Imports a merchant registry file (CSV, UTF-8 or CP949; Korean or English headers):
/// upsert by business registration number, with the diff. Ids, QR codes and aliases
/// survive every sync.
#[utoipa::path(post, path = "/api/v1/operator/{currency}/registry-sync", security(("bearer" = [])),
    params(("currency" = String, Path), ("Idempotency-Key" = String, Header), SyncParams),
    request_body(content = Vec<u8>, content_type = "text/csv"),
    responses((status = 200, body = SyncAnswer), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn registry_sync(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
    QueryParams(p): QueryParams<SyncParams>,
    body: Bytes,
) -> Result<Json<SyncAnswer>, ApiError> {
    let currency = operator_of(&state, &caller, &code)?.clone();
    idempotency(&state, &headers, &caller)?;
    let apply = p.apply.unwrap_or(true);
    let merchants = Arc::clone(&currency.merchants);
    let (report, touched) =
        tokio::task::spawn_blocking(move || merchants.sync(&body, apply, now_us()))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??;
    let ledger_commands = mirror_in_ledger(&currency, &touched).await?;
    Ok(Json(SyncAnswer {
        applied: apply,
        added: report.added.len(),
        changed: report.changed.len(),
        suspended: report.suspended.len(),
        resumed: report.resumed.len(),
        reopened: report.reopened.len(),
        closed: report.closed.len(),
        held: report.held.len(),
        unchanged: report.unchanged,
        rejected: report.rejected.len(),
        absent: report.absent.len(),
        ledger_commands,
        report: serde_json::to_value(&report).map_err(|e| ApiError::internal(e.to_string()))?,
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AliasRejected {
    pub line: u64,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AliasImportAnswer {
    pub added: usize,
    pub identical_duplicates: usize,
    pub rejected: Vec<AliasRejected>,
    /// Lines whose merchant account was also claimed for another merchant (they match
    /// nothing).
    pub account_conflicts: Vec<u64>,
}

/// Imports a previous operator's QR codes (CSV `payload,merchant_id[,note]`), so the
/// stickers already in shops pay the right merchants.
#[utoipa::path(post, path = "/api/v1/operator/{currency}/qr-aliases", security(("bearer" = [])),
    params(("currency" = String, Path), ("Idempotency-Key" = String, Header)),
    request_body(content = Vec<u8>, content_type = "text/csv"),
    responses((status = 200, body = AliasImportAnswer), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn import_aliases(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
    body: Bytes,
) -> Result<Json<AliasImportAnswer>, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    idempotency(&state, &headers, &caller)?;
    let r = currency.merchants.import_aliases(&body, now_us())?;
    Ok(Json(AliasImportAnswer {
        added: r.added,
        identical_duplicates: r.identical_duplicates,
        rejected: r
            .rejected
            .iter()
            .map(|x| AliasRejected {
                line: x.line,
                code: x.problem.code().to_owned(),
                message: x.problem.to_string(),
            })
            .collect(),
        account_conflicts: r.account_conflicts.iter().map(|c| c.line).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        let s = "가나다라"; // 3 bytes each
        assert_eq!(truncate_bytes(s, 12), s);
        assert_eq!(truncate_bytes(s, 7), "가나");
        assert_eq!(truncate_bytes(s, 2), "");
        assert_eq!(truncate_chars("경동시장 행복상회 본점 2호", 4), "경동시장");
    }
}
