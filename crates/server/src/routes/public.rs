//! What anyone may read without signing in: the merchant directory (nearby, by name,
//! one merchant) and a currency's notices. Thin over `service::public`.

use service::public::{MerchantCard, NameParams, NearbyParams, SearchAnswer};

use super::prelude::*;

#[derive(OpenApi)]
#[openapi(
    paths(notices, nearby, search_names, merchant_card, sale),
    components(schemas(MerchantCard, SearchAnswer))
)]
#[derive(Debug)]
pub struct Doc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/notices/{currency}", get(notices))
        .route("/api/v1/sales/{currency}", get(sale))
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
    Ok(Json(service::public::notices(&state.service, code).await?))
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
    Ok(Json(
        service::public::nearby(&state.service, code, q).await?,
    ))
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
    Ok(Json(
        service::public::search_names(&state.service, code, q).await?,
    ))
}

/// One merchant's card (any status: a citizen can see that a shop is suspended).
#[utoipa::path(get, path = "/api/v1/directory/{currency}/merchants/{merchant}",
    params(("currency" = String, Path), ("merchant" = u64, Path)),
    responses((status = 200, body = MerchantCard)))]
async fn merchant_card(
    State(state): State<Arc<AppState>>,
    PathParams((code, merchant)): PathParams<(String, u64)>,
) -> Result<Json<MerchantCard>, ApiError> {
    Ok(Json(
        service::public::merchant_card(&state.service, (code, merchant)).await?,
    ))
}

/// The currency's sale day, if one is scheduled, and where it stands: before the
/// opening, open, sold out (the discount budget spent) or ended. Apps show it; the
/// waiting room holds purchases by it.
#[utoipa::path(get, path = "/api/v1/sales/{currency}",
    params(("currency" = String, Path)),
    responses((status = 200, body = service::sale::SaleView), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn sale(
    State(state): State<Arc<AppState>>,
    PathParams(code): PathParams<String>,
) -> Result<Json<service::sale::SaleView>, ApiError> {
    Ok(Json(service::sale::status(&state.service, &code)?))
}
