//! What anyone may read without signing in: the merchant directory (nearby, by name,
//! one merchant, each as a card also shown in scan answers) and a currency's notices.

use directory::{
    Filter, GeoPoint, Mcc, Merchant, NameQuery, NearbyQuery, Page, SourceFilter, SourceMask,
    Status, StatusSet,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ServiceError;
use crate::{Currency, Service};

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
    pub fn of(m: &Merchant, distance_m: Option<u32>) -> MerchantCard {
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
/// The currency's notices, newest first (public).
pub async fn notices(
    service: &Service,
    code: String,
) -> Result<Vec<crate::auth::Notice>, ServiceError> {
    service.currency(&code)?;
    Ok(service.auth.notices(&code, crate::auth::NOTICES_PAGE_MAX))
}

pub fn point(lat: f64, lon: f64) -> Result<GeoPoint, ServiceError> {
    GeoPoint::from_degrees(lat, lon).map_err(|e| ServiceError::bad_request(e.code(), e.to_string()))
}

pub fn sources(list: Option<&str>) -> Result<SourceFilter, ServiceError> {
    let Some(list) = list.filter(|l| !l.trim().is_empty()) else {
        return Ok(SourceFilter::Any);
    };
    SourceMask::parse(list)
        .map(SourceFilter::AcceptsAnyOf)
        .map_err(|e| ServiceError::bad_request(e.code(), e.to_string()))
}

pub fn filter(
    category: Option<u16>,
    mcc: Option<u16>,
    accepts: Option<&str>,
) -> Result<Filter, ServiceError> {
    Ok(Filter {
        statuses: StatusSet::CITIZEN,
        mcc: mcc
            .map(Mcc::new)
            .transpose()
            .map_err(|e| ServiceError::bad_request(e.code(), e.to_string()))?,
        category,
        sources: sources(accepts)?,
    })
}

pub fn search_error(e: directory::SearchError) -> ServiceError {
    ServiceError::bad_request(e.code(), e.to_string())
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

pub fn answer(currency: &Currency, page: directory::SearchPage) -> SearchAnswer {
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
pub async fn nearby(
    service: &Service,
    code: String,
    q: NearbyParams,
) -> Result<SearchAnswer, ServiceError> {
    let currency = service.currency(&code)?;
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
    Ok(answer(currency, page))
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
pub async fn search_names(
    service: &Service,
    code: String,
    q: NameParams,
) -> Result<SearchAnswer, ServiceError> {
    let currency = service.currency(&code)?;
    let near = match (q.lat, q.lon) {
        (Some(lat), Some(lon)) => Some(point(lat, lon)?),
        (None, None) => None,
        _ => {
            return Err(ServiceError::bad_request(
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
    Ok(answer(currency, page))
}

/// One merchant's card (any status: a citizen can see that a shop is suspended).
pub async fn merchant_card(
    service: &Service,
    (code, merchant): (String, u64),
) -> Result<MerchantCard, ServiceError> {
    let currency = service.currency(&code)?;
    // Applicants (often sole traders) are not public until approved.
    currency
        .merchants
        .get(merchant)
        .filter(|m| m.status != Status::Applied)
        .map(|m| MerchantCard::of(&m, None))
        .ok_or_else(|| ServiceError::not_found("merchant"))
}
