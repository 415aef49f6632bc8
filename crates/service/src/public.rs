//! What anyone may see of a merchant: its card in the directory and in scan answers.

use directory::{Mcc, Merchant};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
