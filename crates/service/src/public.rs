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

/// A shop near someone, as a citizen's "nearby" page lists it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NearbyShop {
    #[serde(flatten)]
    pub card: MerchantCard,
    /// Open now by its posted hours (Korea time); absent when it posts none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_now: Option<bool>,
    /// The scheme category's name (Korean), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category_name: Option<String>,
}

/// An area (시군구) of the currency's town, centred on its approved shops.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Area {
    pub name: String,
    /// Degrees: the mean position of its approved shops.
    pub lat: f64,
    pub lon: f64,
    pub shops: u32,
}

/// Shops around a point, with where that point came from.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NearbyView {
    /// The centre searched around (degrees).
    pub lat: f64,
    pub lon: f64,
    pub radius_m: u32,
    /// The area the centre is, when it was chosen by area (or is the town centre).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    pub shops: Vec<NearbyShop>,
    /// Every area, most shops first (the first is the town centre).
    pub areas: Vec<Area>,
}

/// Where to look: a position (the browser's), else an area by name, else the town
/// centre (the area with the most approved shops).
#[derive(Debug, Default, Deserialize)]
pub struct NearbyAt {
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub area: Option<String>,
    pub radius_m: Option<u32>,
    pub limit: Option<u32>,
}

/// The areas of a currency's town from its approved shops, most shops first.
pub fn areas(currency: &Currency) -> Vec<Area> {
    let mut sums: std::collections::BTreeMap<String, (f64, f64, u32)> = Default::default();
    currency.merchants.read(|reg| {
        for m in reg.records() {
            if m.status != Status::Approved {
                continue;
            }
            let (Some(area), Some(at)) = (m.profile.sigungu.as_ref(), m.profile.location) else {
                continue;
            };
            let e = sums.entry(area.clone()).or_insert((0.0, 0.0, 0));
            e.0 += at.lat();
            e.1 += at.lon();
            e.2 += 1;
        }
    });
    let mut out: Vec<Area> = sums
        .into_iter()
        .map(|(name, (lat, lon, n))| Area {
            name,
            lat: lat / f64::from(n),
            lon: lon / f64::from(n),
            shops: n,
        })
        .collect();
    out.sort_by(|a, b| b.shops.cmp(&a.shops).then_with(|| a.name.cmp(&b.name)));
    out
}

/// Whether hours say open at `now_us` in Korea (UTC+9 all year).
pub fn open_at(hours: &directory::OpeningHours, now_us: u64) -> bool {
    let local_s = now_us / 1_000_000 + 9 * 3600;
    let days = local_s / 86_400;
    // 1970-01-01 was a Thursday.
    let weekday = directory::Weekday::ALL[usize::try_from((days + 3) % 7).unwrap_or(0)];
    let minute = u16::try_from(local_s % 86_400 / 60).unwrap_or(0);
    hours.is_open_at(weekday, minute)
}

/// Approved shops near a citizen (or the town centre, or an area), nearest first, with
/// whether each is open now and its category's name.
pub async fn nearby_view(
    service: &Service,
    code: String,
    at: NearbyAt,
) -> Result<NearbyView, ServiceError> {
    let currency = service.currency(&code)?;
    let areas = areas(currency);
    let chosen = at
        .area
        .as_deref()
        .and_then(|name| areas.iter().find(|a| a.name == name));
    let (lat, lon, area) = match (at.lat, at.lon, chosen) {
        (Some(lat), Some(lon), _) => (lat, lon, None),
        (None, None, Some(a)) => (a.lat, a.lon, Some(a.name.clone())),
        (None, None, None) => match areas.first() {
            Some(a) => (a.lat, a.lon, Some(a.name.clone())),
            None => return Err(ServiceError::not_found("area")),
        },
        _ => {
            return Err(ServiceError::bad_request(
                "point_incomplete",
                "give both lat and lon, or neither",
            ));
        }
    };
    let radius_m = at.radius_m.unwrap_or(2_000).clamp(100, 20_000);
    let query = NearbyQuery {
        at: point(lat, lon)?,
        radius_m,
        filter: filter(None, None, None)?,
        page: Page {
            offset: 0,
            limit: at.limit.unwrap_or(20).clamp(1, 50),
        },
    };
    let now = crate::now_us();
    let shops = currency.merchants.read(|reg| {
        reg.nearby(&query).map(|page| {
            page.hits
                .iter()
                .filter_map(|h| reg.get(h.id).map(|m| (m, h.distance_m)))
                .map(|(m, d)| NearbyShop {
                    card: MerchantCard::of(m, d),
                    open_now: m.profile.hours.as_ref().map(|h| open_at(h, now)),
                    category_name: m
                        .profile
                        .category
                        .and_then(|c| directory::synth::CATEGORY_NAMES.get(usize::from(c)))
                        .map(|s| (*s).to_owned()),
                })
                .collect::<Vec<_>>()
        })
    });
    Ok(NearbyView {
        lat,
        lon,
        radius_m,
        area,
        shops: shops.map_err(search_error)?,
        areas,
    })
}

#[cfg(test)]
mod nearby_tests {
    use super::*;

    #[test]
    fn open_now_counts_in_korea_time() {
        let hours = directory::OpeningHours::parse("월-금 09:00-18:00").expect("hours");
        // 2026-12-04 (a Friday) 00:30 UTC is 09:30 in Korea: open.
        let friday_0930_kst = 1_796_344_200_000_000;
        assert!(open_at(&hours, friday_0930_kst));
        // 09:30 UTC is 18:30 in Korea: closed.
        assert!(!open_at(&hours, friday_0930_kst + 9 * 3_600_000_000));
        // Saturday morning in Korea: closed.
        assert!(!open_at(&hours, friday_0930_kst + 24 * 3_600_000_000));
    }
}
