//! Routes for merchants as places: the directory (nearby and name search), QR codes
//! (download, scan, pay by scanning either way), registry sync, QR aliases, and the
//! merchant lifecycle an operator runs. Money still moves only through the ledger's
//! scheme commands (`api.rs` helpers).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::Engine as _;
use directory::{
    Filter, GeoPoint, Mcc, Merchant, NameQuery, NearbyQuery, NewStatus, Page, ReportRow,
    SourceFilter, SourceMask, Status, StatusSet,
};
use ledger::scheme::SchemeCommand;
use ledger::{AccountId, Command, Envelope, MerchantId, WalletId, Won};
use qr::{MerchantCode, QrOptions, Recognised, ScanAnswer, Sticker};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use service::ledger_ops::{remembered, require, scheme_answer, won};
use service::merchants::SyncRequest;
use service::mirror::{mirror_in_ledger, move_merchant, thresholds_in_force};
use service::{Currency, Problem, Role};

use crate::AppState;
use crate::api::{
    Answer, Fingerprint, JsonBody, PathParams, PaymentAnswer, QueryParams, SignedIn, idempotency,
    operator_of, paid_answer,
};
use crate::problem::ApiError;

/// At most `n` characters of `s`.
fn truncate_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Registry and alias files up to this size are taken through the API (about 300,000
/// registry rows); larger ones go through `maeul admin sync-registry`.
pub const FILE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Camera images up to this size.
pub const IMAGE_BYTES_MAX: usize = 8 * 1024 * 1024;

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
        revenue_bands,
        set_revenue_bands,
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
        SyncRow,
        RevenueBandsAnswer,
        AliasImportAnswer,
        AliasRejected,
        MerchantList
    ))
)]
#[derive(Debug)]
pub struct MerchantDoc;

pub fn routes() -> Router<Arc<AppState>> {
    // Body limits per route: `api::body_limit`.
    use axum::routing::{get, post};
    Router::new()
        .route("/api/v1/directory/{currency}/nearby", get(nearby))
        .route("/api/v1/directory/{currency}/search", get(search_names))
        .route(
            "/api/v1/directory/{currency}/merchants/{merchant}",
            get(merchant_card),
        )
        .route("/api/v1/me/scan", post(scan))
        .route("/api/v1/me/scan-image", post(scan_image))
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
            post(registry_sync),
        )
        .route(
            "/api/v1/operator/{currency}/revenue-bands",
            get(revenue_bands).put(set_revenue_bands),
        )
        .route(
            "/api/v1/operator/{currency}/qr-aliases",
            post(import_aliases),
        )
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
    /// The 사업자등록번호 failed its check digit and was imported as written (a registry
    /// sync an operator allowed): check it before approving.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub brn_unverified: bool,
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
            brn_unverified: m.brn_unverified,
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
    /// `merchant_found`, `payer_found`, `incomplete_scan` (cut short or damaged: scan
    /// again), `bad_checksum`, `malformed_emv`, `not_payment_code`,
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
    let (merchant, amount, recognised) = match a {
        ScanAnswer::Merchant(t) => (
            Some(t.merchant),
            t.amount_won,
            Some(match t.via {
                Recognised::MaeulStatic => "maeul_static",
                Recognised::MaeulDynamic => "maeul_dynamic",
                Recognised::Alias { .. } => "alias",
            }),
        ),
        ScanAnswer::MerchantSuspended { merchant, .. }
        | ScanAnswer::MerchantClosed { merchant } => (Some(*merchant), None, None),
        _ => (None, None, None),
    };
    let scheme = a.scheme();
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
    // The same machine-readable field as the scan answer: an app need not parse words.
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        a.code(),
        &a.message_ko(),
        &a.message_en(),
    )
    .scheme(a.scheme())
}

/// What a scanned code is, before paying (a citizen's app shows the shop and amount).
#[utoipa::path(post, path = "/api/v1/me/scan", request_body = ScanRequest, security(("bearer" = [])),
    responses((status = 200, body = ScanView), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn scan(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    JsonBody(req): JsonBody<ScanRequest>,
) -> Result<Json<ScanView>, ApiError> {
    require(&caller, Role::Citizen)?;
    let currency = state.currency(&caller.currency)?;
    let a = currency
        .merchants
        .classify_for_citizen(req.payload.as_bytes(), service::now_us());
    Ok(Json(scan_view(currency, &a)))
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
    require(&caller, Role::Citizen)?;
    let currency = state.currency(&caller.currency)?.clone();
    // What the header alone refuses (a decompression bomb, a GIF) is answered before a
    // decode place is taken: a burst of bombs must not crowd out real photos.
    qr::check_image_header(&body).map_err(image_refusal)?;
    // A decode may take `qr::DECODE_MEMORY_MAX_BYTES` and seconds of a core: only a few
    // run at once, and one more is answered 503 at once rather than queued (a queue of
    // images would hold their memory and answer after the citizen gave up).
    let permit = Arc::clone(&state.image_decodes)
        .try_acquire_owned()
        .map_err(|_| ApiError::busy(1))?;
    // Image decoding is CPU work: off the async threads. The permit goes with the work,
    // which goes on even if the request is dropped.
    let found = tokio::task::spawn_blocking(move || {
        let found = qr::decode_image(&body);
        drop(permit);
        found
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(image_refusal)?;
    let first = found.first().cloned().unwrap_or_default();
    let a = currency
        .merchants
        .classify_for_citizen(&first, service::now_us());
    Ok(Json(scan_view(&currency, &a)))
}

/// An image that could not be read for codes: 422 with the decoder's code and words.
fn image_refusal(e: qr::ImageDecodeError) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        e.code(),
        e.message_ko(),
        e.message_en(),
    )
}

/// The merchant and amount a citizen's payment by scanned code goes to.
pub(crate) fn payment_target(
    currency: &Currency,
    code: &str,
    amount: Option<i64>,
) -> Result<(u64, Won), ApiError> {
    let a = currency
        .merchants
        .classify_for_citizen(code.as_bytes(), service::now_us());
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
    #[schema(value_type = String)]
    pub pin: crate::Secret<String>,
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
    SignedIn(caller): SignedIn,
    JsonBody(req): JsonBody<ConsumerCodeRequest>,
) -> Result<Json<ConsumerCodeAnswer>, ApiError> {
    let wallet = require(&caller, Role::Citizen)?;
    // Each code takes a place in a bounded table: the per-user write limit applies.
    state
        .writes
        .admit(caller.user_id)
        .map_err(ApiError::too_many)?;
    state
        .auth
        .check_pin(caller.user_id, req.pin.expose())
        .await?;
    let currency = state.currency(&caller.currency)?;
    let issued = currency
        .merchants
        .issue_consumer_code(wallet, service::now_us())?;
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
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    JsonBody(req): JsonBody<ConsumerPaymentRequest>,
) -> Result<Answer<Json<PaymentAnswer>>, ApiError> {
    let merchant = require(&caller, Role::Merchant)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("consumer_payment", &(req.code.trim(), req.amount)),
    )?;
    let amount = won(req.amount)?;
    let currency = state.currency(&caller.currency)?;
    // The same sale again gets its first answer (the code is used up by then).
    if key.is_repeat()
        && let Some(first) = remembered(currency, &key)
    {
        let applied = first.map_err(|r| ApiError::refused(&r, Some(AccountId(merchant))))?;
        return Ok(Answer {
            value: paid_answer(scheme_answer(applied)?)?,
            replayed: true,
        });
    }
    // A retry whose first try used the code up but got no answer (busy, deadline)
    // charges the same wallet under the same key: never a second code, never twice.
    // Another code under that key is another sale: refused, not answered as the first.
    let (sale, newly_used) = match currency.merchants.redeemed_for(key.client.0, key.key.0) {
        Some(sale) if sale.code_digest == crate::merchants::code_digest(&req.code) => (sale, false),
        Some(_) => return Err(ApiError(crate::idempotency::key_reused())),
        None => {
            let a = currency
                .merchants
                .classify_for_merchant(req.code.as_bytes(), service::now_us());
            let ScanAnswer::Payer(code) = &a else {
                return Err(scan_refusal(&a));
            };
            let sale = currency
                .merchants
                .payer_of(code, &req.code, key.client.0, key.key.0)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "consumer_code_unknown",
                        "확인할 수 없는 결제 코드입니다. 손님께 새 코드를 보여 달라고 해 주세요.",
                        "This payment code is not known. Ask the customer to show a new one.",
                    )
                })?;
            (sale, true)
        }
    };
    let envelope = Envelope {
        client: key.client,
        key: key.key,
        command: Command::Scheme(Box::new(SchemeCommand::Pay {
            payer: WalletId(AccountId(sale.wallet)),
            merchant: MerchantId(AccountId(merchant)),
            amount,
        })),
    };
    // Whatever the ledger did not do leaves the code usable until it expires: a sale
    // refused for the customer's balance can be tried again after they charge.
    let give_back = || {
        if newly_used {
            currency.merchants.give_back(&sale, key.client.0, key.key.0);
        }
    };
    let ticket = currency
        .engine
        .submit(vec![envelope])
        .inspect_err(|_| give_back())?;
    let out = match ticket.outcome().await {
        Ok(mut outs) => outs.pop().ok_or_else(|| ApiError::internal("no answer"))?,
        // Not known whether it was charged: the binding stays, a retry learns which.
        Err(e @ engine::CommitError::NotDurable { .. }) => return Err(e.into()),
        Err(e) => {
            give_back();
            return Err(e.into());
        }
    };
    match out.result {
        Ok(applied) => Ok(Answer {
            value: paid_answer(scheme_answer(applied)?)?,
            replayed: out.repeated,
        }),
        Err(r) => {
            if !out.repeated {
                give_back();
            }
            Err(ApiError::refused(&r, Some(AccountId(merchant))))
        }
    }
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
    SignedIn(caller): SignedIn,
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
    SignedIn(caller): SignedIn,
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
    SignedIn(caller): SignedIn,
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
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams((code, merchant)): PathParams<(String, u64)>,
    JsonBody(req): JsonBody<LifecycleReason>,
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("close_merchant", &(&code, merchant, &req.reason)),
    )?;
    Ok(crate::idempotency::once(&state, &key, async {
        move_merchant(currency, merchant, Status::Closed, &req.reason)
            .await
            .map(IntoResponse::into_response)
    })
    .await)
}

/// Reopens a closed merchant with the same id (its old stickers work again).
#[utoipa::path(post, path = "/api/v1/operator/{currency}/merchants/{merchant}/reopen", request_body = LifecycleReason, security(("bearer" = [])),
    params(("currency" = String, Path), ("merchant" = u64, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn reopen_merchant(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams((code, merchant)): PathParams<(String, u64)>,
    JsonBody(req): JsonBody<LifecycleReason>,
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("reopen_merchant", &(&code, merchant, &req.reason)),
    )?;
    Ok(crate::idempotency::once(&state, &key, async {
        move_merchant(currency, merchant, Status::Approved, &req.reason)
            .await
            .map(IntoResponse::into_response)
    })
    .await)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SyncParams {
    /// `false`: only say what would change (default `true`).
    pub apply: Option<bool>,
    /// `json` (default): the summary below. `csv`: the full row report as a file
    /// (`text/csv`, UTF-8 with BOM for Excel; columns `line,brn,outcome,code,message_ko,
    /// message_en,merchant_id`, one row per outcome, merchants absent from the file last).
    pub report: Option<String>,
    /// How merchants the sync adds start: `approved` (default: as the file says, 영업 →
    /// approved, 휴업 → suspended) or `applied` (all awaiting an operator's review).
    pub new_status: Option<String>,
    /// `accept`: a row whose 사업자등록번호 fails its check digit is imported as written,
    /// marked unverified and awaiting review (not payable until approved), and reported.
    /// `reject` (default): such rows are rejected (`bad_brn_checksum`).
    pub unverified_brn: Option<String>,
}

/// Rows shown in a sync's JSON answer, at most.
const SYNC_ATTENTION_MAX: usize = 100;
/// Absent merchants' ids shown in a sync's JSON answer, at most.
const SYNC_ABSENT_EXAMPLES_MAX: usize = 20;
/// Ignored column names shown, at most.
const SYNC_IGNORED_COLUMNS_MAX: usize = 50;

/// One outcome of one row of a registry file.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SyncRow {
    /// The file's line (the header is line 1); absent for merchants not in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brn: Option<String>,
    /// rejected, warning, held, alias, added, changed, …
    pub outcome: String,
    /// Stable code: `bad_brn_checksum`, `location_invalid`, `revenue_straddles`,
    /// `alias_conflict`, …
    pub code: String,
    pub message_ko: String,
    pub message_en: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<u64>,
}

impl SyncRow {
    fn of(r: &ReportRow) -> SyncRow {
        SyncRow {
            line: r.line,
            brn: r.brn.clone(),
            outcome: r.outcome.clone(),
            code: r.code.clone(),
            message_ko: r.message_ko.clone(),
            message_en: r.message_en.clone(),
            merchant_id: r.merchant_id.map(|m| m.0),
        }
    }

    /// Rows an operator must read: refusals, warnings, held decisions, refused QR codes.
    fn needs_attention(r: &ReportRow) -> bool {
        match r.outcome.as_str() {
            "rejected" | "warning" | "held" => true,
            "alias" => !matches!(r.code.as_str(), "alias_added" | "alias_unchanged"),
            _ => false,
        }
    }
}

/// A registry sync, summarised: counts, and what needs reading first. Every row's every
/// outcome is in the CSV report (`?report=csv`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SyncAnswer {
    pub applied: bool,
    /// How added merchants start: approved (as the file says) or applied.
    pub new_status: String,
    /// utf8, utf8_bom or euc_kr (CP949).
    pub encoding: String,
    /// Data rows read.
    pub rows: u64,
    pub added: usize,
    pub changed: usize,
    pub suspended: usize,
    pub resumed: usize,
    pub reopened: usize,
    pub closed: usize,
    /// Left as an operator decided, whatever the file says.
    pub held: usize,
    pub unchanged: u64,
    /// New merchants already 폐업 in the file: not added.
    pub skipped_closed: u64,
    pub rejected: usize,
    /// Rows taken with something to fix: no or unusable location, revenue left unknown
    /// (unreadable, missing, or straddling the scheme's bands: lowest cash-back rate),
    /// unverified 사업자등록번호.
    pub warnings: usize,
    /// Previous operator's QR codes (기존QR column) now paying their row's merchant (in
    /// a dry run: that would).
    pub aliases_added: usize,
    /// QR codes already paying that merchant.
    pub aliases_unchanged: usize,
    /// QR codes not linked: another merchant's, twice in the file, or unusable.
    pub aliases_refused: usize,
    /// Approved or suspended merchants the file does not mention (not closed: an
    /// operator decides).
    pub absent_total: usize,
    /// The first of them (at most 20); all are in the CSV report.
    pub absent_examples: Vec<u64>,
    /// Ledger commands sent so the ledger follows the registry.
    pub ledger_commands: usize,
    /// Header columns not used (at most 50).
    pub ignored_columns: Vec<String>,
    /// Rows an operator should read first (rejected, warnings, held, refused QR
    /// codes), by line, at most 100.
    pub attention: Vec<SyncRow>,
    /// How many such rows there are in all.
    pub attention_total: usize,
}

fn sync_request(p: &SyncParams) -> Result<SyncRequestParts, ApiError> {
    let new_status = match p.new_status.as_deref() {
        None => NewStatus::Approved,
        Some(s) => NewStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "new_status_unknown",
                format!("{s}: use approved or applied"),
            )
        })?,
    };
    let unverified_brn = match p.unverified_brn.as_deref() {
        None | Some("reject") => false,
        Some("accept") => true,
        Some(s) => {
            return Err(ApiError::bad_request(
                "unverified_brn_unknown",
                format!("{s}: use accept or reject"),
            ));
        }
    };
    let csv = match p.report.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(s) => {
            return Err(ApiError::bad_request(
                "report_format_unknown",
                format!("{s}: use json or csv"),
            ));
        }
    };
    Ok(SyncRequestParts {
        apply: p.apply.unwrap_or(true),
        new_status,
        unverified_brn,
        csv,
    })
}

struct SyncRequestParts {
    apply: bool,
    new_status: NewStatus,
    unverified_brn: bool,
    csv: bool,
}

/// Imports a merchant registry file (CSV, UTF-8 or CP949; Korean or English headers):
/// upsert by business registration number, with the diff. Ids, QR codes and aliases
/// survive every sync; a previous operator's QR column (기존QR) becomes aliases of the
/// rows' merchants in the same run. Revenue labels are read with the currency's table
/// (`/revenue-bands`) and judged against the scheme in force: one that cannot be read or
/// straddles the scheme's bands leaves revenue unknown (lowest cash-back) and is
/// reported per row. The answer is a summary; `report=csv` gives every row.
#[utoipa::path(post, path = "/api/v1/operator/{currency}/registry-sync", security(("bearer" = [])),
    params(("currency" = String, Path), ("Idempotency-Key" = String, Header), SyncParams),
    request_body(content = Vec<u8>, content_type = "text/csv"),
    responses(
        (status = 200, description = "the summary (JSON), or with `report=csv` the row report (text/csv)",
            content((SyncAnswer = "application/json"), (String = "text/csv"))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn registry_sync(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
    QueryParams(p): QueryParams<SyncParams>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?.clone();
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of(
            "registry_sync",
            &(
                &code,
                blake3::hash(&body).to_hex().as_str(),
                format!("{p:?}"),
            ),
        ),
    )?;
    Ok(crate::idempotency::once(&state, &key, run_registry_sync(currency, code, p, body)).await)
}

async fn run_registry_sync(
    currency: Currency,
    code: String,
    p: SyncParams,
    body: Bytes,
) -> Result<Response, ApiError> {
    let parts = sync_request(&p)?;
    let request = SyncRequest {
        apply: parts.apply,
        new_status: parts.new_status,
        unverified_brn: parts.unverified_brn,
        revenue_thresholds: thresholds_in_force(&currency).unwrap_or_default(),
        revenue_bands: None,
    };
    let merchants = Arc::clone(&currency.merchants);
    let outcome =
        tokio::task::spawn_blocking(move || merchants.sync(&body, &request, service::now_us()))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??;
    let ledger_commands = mirror_in_ledger(&currency, &outcome.touched).await?;
    if parts.csv {
        let csv = tokio::task::spawn_blocking(move || directory::report_csv(&outcome.rows))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let disposition = format!("attachment; filename=\"registry-sync-{code}.csv\"");
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            csv,
        )
            .into_response());
    }
    let r = &outcome.report;
    let attention: Vec<&ReportRow> = outcome
        .rows
        .iter()
        .filter(|r| SyncRow::needs_attention(r))
        .collect();
    Ok(Json(SyncAnswer {
        applied: parts.apply,
        new_status: parts.new_status.as_str().to_owned(),
        encoding: match r.encoding {
            directory::sync::FileEncoding::Utf8 => "utf8",
            directory::sync::FileEncoding::Utf8Bom => "utf8_bom",
            directory::sync::FileEncoding::EucKr => "euc_kr",
        }
        .to_owned(),
        rows: r.rows,
        added: r.added.len(),
        changed: r.changed.len(),
        suspended: r.suspended.len(),
        resumed: r.resumed.len(),
        reopened: r.reopened.len(),
        closed: r.closed.len(),
        held: r.held.len(),
        unchanged: r.unchanged,
        skipped_closed: r.skipped_closed,
        rejected: r.rejected.len(),
        warnings: r.warnings.len(),
        aliases_added: outcome.aliases.added,
        aliases_unchanged: outcome.aliases.unchanged,
        aliases_refused: outcome.aliases.refused,
        absent_total: r.absent.len(),
        absent_examples: r
            .absent
            .iter()
            .take(SYNC_ABSENT_EXAMPLES_MAX)
            .map(|a| a.id.0)
            .collect(),
        ledger_commands,
        ignored_columns: r
            .ignored_columns
            .iter()
            .take(SYNC_IGNORED_COLUMNS_MAX)
            .cloned()
            .collect(),
        attention_total: attention.len(),
        attention: attention
            .into_iter()
            .take(SYNC_ATTENTION_MAX)
            .map(SyncRow::of)
            .collect(),
    })
    .into_response())
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevenueBandsAnswer {
    /// The operator's labels now in force (beside the built-in ones).
    pub labels: usize,
}

/// The revenue labels registry syncs read, as CSV `label,min_won,max_won` (both bounds
/// inclusive whole won, an empty `max_won` is no upper bound): the operator's labels,
/// then the built-in ones (`1억 미만`, `1억~3억`, `3억~10억`, `10억~30억`, `30억 초과`,
/// 영세, 중소1..3, 일반) they do not override.
#[utoipa::path(get, path = "/api/v1/operator/{currency}/revenue-bands", security(("bearer" = [])),
    params(("currency" = String, Path)),
    responses((status = 200, body = String, content_type = "text/csv"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn revenue_bands(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        currency.merchants.revenue_bands_csv(),
    )
        .into_response())
}

/// Replaces the currency's own revenue labels (a previous operator's grades, say), read
/// by every registry sync from now on: CSV `label,min_won,max_won` (UTF-8 or CP949,
/// optional header; both bounds inclusive whole won, `3억` or `300000000`; empty
/// `max_won`: no upper bound). Stored once rather than sent with every file so that a
/// dry run and its sync, and every later sync, read labels the same way. A table with
/// any bad line is refused whole; a header alone goes back to the built-in labels.
#[utoipa::path(put, path = "/api/v1/operator/{currency}/revenue-bands", security(("bearer" = [])),
    params(("currency" = String, Path), ("Idempotency-Key" = String, Header)),
    request_body(content = Vec<u8>, content_type = "text/csv"),
    responses((status = 200, body = RevenueBandsAnswer), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn set_revenue_bands(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of(
            "set_revenue_bands",
            &(&code, blake3::hash(&body).to_hex().as_str()),
        ),
    )?;
    Ok(
        crate::idempotency::once::<_, ApiError>(&state, &key, async {
            let labels = currency
                .merchants
                .set_revenue_bands(&body, service::now_us())?;
            Ok(Json(RevenueBandsAnswer { labels }).into_response())
        })
        .await,
    )
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
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of(
            "import_aliases",
            &(&code, blake3::hash(&body).to_hex().as_str()),
        ),
    )?;
    Ok(
        crate::idempotency::once::<_, ApiError>(&state, &key, async {
            let r = currency
                .merchants
                .import_aliases(&body, service::now_us())?;
            Ok(alias_answer(&r).into_response())
        })
        .await,
    )
}

fn alias_answer(r: &qr::ImportReport) -> Json<AliasImportAnswer> {
    Json(AliasImportAnswer {
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate_chars("경동시장 행복상회 본점 2호", 4), "경동시장");
    }
}
