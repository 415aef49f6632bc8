//! What anyone may read without signing in: the merchant directory (nearby, by name, one merchant) and a currency's notices.

use service::public::MerchantCard;

use super::prelude::*;

#[derive(OpenApi)]
#[openapi(
    paths(notices, nearby, search_names, merchant_card),
    components(schemas(MerchantCard, SearchAnswer))
)]
#[derive(Debug)]
pub struct Doc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/notices/{currency}", get(notices))
        .route("/api/v1/directory/{currency}/nearby", get(nearby))
        .route("/api/v1/directory/{currency}/search", get(search_names))
        .route(
            "/api/v1/directory/{currency}/merchants/{merchant}",
            get(merchant_card),
        )
}

/// The currency's notices, newest first (public).
#[utoipa::path(get, path = "/api/v1/notices/{currency}", params(("currency" = String, Path)),
    responses((status = 200, body = Vec<crate::auth::Notice>), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn notices(
    State(state): State<Arc<AppState>>,
    PathParams(code): PathParams<String>,
) -> Result<Json<Vec<crate::auth::Notice>>, ApiError> {
    state.currency(&code)?;
    Ok(Json(
        state.auth.notices(&code, crate::auth::NOTICES_PAGE_MAX),
    ))
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
