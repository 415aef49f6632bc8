//! `/nearby`: approved shops around the citizen, as a list (distance, category, open
//! now) and as a plain SVG map drawn here, around the citizen's position (from the
//! browser's geolocation through `nearby.js`), an area they pick, or the town centre.
//! Everything comes from the service's `public::nearby_view`. The map needs no network
//! beyond this page: where the deployment names a tile server (`map_tiles`), its tiles
//! are drawn beneath the points, and when they do not load the plain map remains.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;
use service::public::{NearbyAt, NearbyShop, NearbyView};

use super::Tab;
use super::pay::{W as PayW, citizen, citizen_page, error_page};
use crate::account::url_encode;
use crate::i18n::{Lang, Words};
use crate::map_tiles::MapTiles;
use crate::{Pages, assets};

/// The map's drawing size (SVG units); the rings are at half and the whole radius.
const MAP: f64 = 320.0;
const MAP_R: f64 = 150.0;

pub fn routes() -> Router<Pages> {
    Router::new().route("/nearby", get(nearby))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum W {
    Title,
    Lead,
    UseLocation,
    Locating,
    LocationFailed,
    AreaLabel,
    AreaButton,
    AroundYou,
    AroundArea,
    ListTitle,
    MapTitle,
    MapLabel,
    None,
    Open,
    Closed,
    NoHours,
    Distance,
    You,
    Centre,
}

impl Words for W {
    fn words(self) -> (&'static str, &'static str) {
        use W::*;
        match self {
            Title => ("주변 가맹점", "Nearby shops"),
            Lead => (
                "가까운 가맹점을 거리 순으로 보여 줍니다.",
                "Shops that take the currency, nearest first.",
            ),
            UseLocation => ("내 위치로 찾기", "Use my location"),
            Locating => ("위치를 확인하는 중입니다…", "Finding your location…"),
            LocationFailed => (
                "위치를 알 수 없습니다. 아래에서 동네를 골라 주세요.",
                "Your location is not available. Pick an area below.",
            ),
            AreaLabel => ("동네(구·군)", "Area"),
            AreaButton => ("이 동네 보기", "Show this area"),
            AroundYou => ("내 위치 주변", "Around you"),
            AroundArea => ("주변", "around"),
            ListTitle => ("가까운 순서", "Nearest first"),
            MapTitle => ("지도", "Map"),
            MapLabel => ("가맹점 위치 지도", "Map of the shops"),
            None => (
                "이 근처에는 가맹점이 없습니다. 다른 동네를 골라 보세요.",
                "No shops nearby. Try another area.",
            ),
            Open => ("영업 중", "Open now"),
            Closed => ("영업 전·후", "Closed now"),
            NoHours => ("영업시간 정보 없음", "No hours posted"),
            Distance => ("거리", "Distance"),
            You => ("나", "You"),
            Centre => ("중심", "Centre"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NearbyQuery {
    lat: Option<String>,
    lon: Option<String>,
    area: Option<String>,
}

/// A degree value from the address, or nothing.
fn degrees(s: Option<&str>) -> Option<f64> {
    let v: f64 = s?.trim().parse().ok()?;
    v.is_finite().then_some(v)
}

async fn nearby(
    State(pages): State<Pages>,
    parts: Parts,
    query: Result<Query<NearbyQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (prefs, session) = match citizen(&pages, &parts, "/nearby") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let lang = prefs.lang;
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let (lat, lon) = (degrees(q.lat.as_deref()), degrees(q.lon.as_deref()));
    let area: Option<String> = q
        .area
        .filter(|a| !a.trim().is_empty())
        .map(|a| a.chars().take(64).collect());
    let here = match (&lat, &lon, &area) {
        (Some(la), Some(lo), _) => format!("/nearby?lat={la:.5}&lon={lo:.5}"),
        (_, _, Some(a)) => format!("/nearby?area={}", url_encode(a)),
        _ => "/nearby".to_owned(),
    };
    let view = match service::public::nearby_view(
        &pages.service,
        session.caller.currency.clone(),
        NearbyAt {
            lat,
            lon,
            area,
            radius_m: None,
            limit: None,
        },
    )
    .await
    {
        Ok(v) => v,
        Err(e) => return error_page(prefs, &here, Tab::Nearby, &e),
    };
    let around = match &view.area {
        Some(a) => format!("{a} {}", lang.t(W::AroundArea)),
        None => lang.t(W::AroundYou).to_owned(),
    };
    let body = html! {
        h1 { (lang.t(W::Title)) }
        p.lead { (lang.t(W::Lead)) }
        div.where-from {
            div #locate hidden data-locating=(lang.t(W::Locating)) data-failed=(lang.t(W::LocationFailed)) {
                button.button.secondary #locate-button type="button" { (lang.t(W::UseLocation)) }
                p.meta #locate-status role="status" {}
            }
            form.form.area-form method="get" action="/nearby" {
                div.field {
                    label for="area" { (lang.t(W::AreaLabel)) }
                    select #area name="area" {
                        @for a in &view.areas {
                            option value=(a.name) selected[view.area.as_deref() == Some(a.name.as_str())] { (a.name) }
                        }
                    }
                }
                button.button.secondary type="submit" { (lang.t(W::AreaButton)) }
            }
        }
        h2 #around { (around) }
        @if view.shops.is_empty() {
            p { (lang.t(W::None)) }
        } @else {
            div.nearby {
                section.nearby-map aria-labelledby="map-title" {
                    h3 #map-title { (lang.t(W::MapTitle)) }
                    (map(lang, &view, pages.settings.map_tiles.as_ref()))
                }
                section aria-labelledby="list-title" {
                    h3 #list-title { (lang.t(W::ListTitle)) }
                    ol.shop-list.nearby-list {
                        @for (i, s) in view.shops.iter().enumerate() {
                            (shop_item(lang, i + 1, s))
                        }
                    }
                }
            }
        }
        script type="module" src=(assets::url("nearby.js")) {}
    };
    citizen_page(prefs, &here, Tab::Nearby, lang.t(W::Title), body)
}

/// Metres as people read them: `850m`, `1.2km`.
pub fn distance(m: u32) -> String {
    if m < 1000 {
        format!("{m}m")
    } else {
        format!("{}.{}km", m / 1000, m % 1000 / 100)
    }
}

fn shop_item(lang: Lang, n: usize, s: &NearbyShop) -> Markup {
    let c = &s.card;
    let name = match (lang, &c.name_en) {
        (Lang::En, Some(en)) => en.as_str(),
        _ => c.name.as_str(),
    };
    html! {
        li data-merchant=(c.id) data-distance-m=[c.distance_m] {
            h4.shop-name { span.pin-no aria-hidden="true" { (n) } " " (name) }
            dl.shop-facts {
                @if let Some(d) = c.distance_m {
                    div { dt { (lang.t(W::Distance)) } dd { (distance(d)) } }
                }
                @if let Some(cat) = &s.category_name {
                    div { dt { (lang.t(PayW::Category)) } dd lang="ko" { (cat) } }
                }
                div {
                    dt { (lang.t(PayW::Hours)) }
                    dd {
                        @match s.open_now {
                            Some(true) => { strong.open-now { (lang.t(W::Open)) } }
                            Some(false) => { span.closed-now { (lang.t(W::Closed)) } }
                            None => { (lang.t(W::NoHours)) }
                        }
                        @if let Some(h) = &c.hours { " · " (h) }
                    }
                }
                @if let Some(a) = &c.road_address {
                    div { dt { (lang.t(PayW::Address)) } dd { (a) } }
                }
            }
            a.button.secondary href=(format!("/pay/shop/{}", c.id)) {
                (lang.t(PayW::ChooseShop)) span.visually-hidden { ": " (name) }
            }
        }
    }
}

/// Where a point falls on the map: east-west and north-south metres from the centre,
/// scaled so the search radius is `MAP_R` (f64 for drawing only).
fn place(view: &NearbyView, lat: f64, lon: f64) -> (f64, f64) {
    let m_per_deg_lat = 111_132.0;
    let m_per_deg_lon = 111_320.0 * view.lat.to_radians().cos();
    let dx = (lon - view.lon) * m_per_deg_lon;
    let dy = (lat - view.lat) * m_per_deg_lat;
    let k = MAP_R / f64::from(view.radius_m.max(1));
    (MAP / 2.0 + dx * k, MAP / 2.0 - dy * k)
}

/// The shops as numbered points around the centre, with rings at half and the whole
/// radius (labelled with their distance), over the tile server's tiles if there is one.
fn map(lang: Lang, view: &NearbyView, tiles: Option<&MapTiles>) -> Markup {
    let c = MAP / 2.0;
    let half = view.radius_m / 2;
    let units_per_m = MAP_R / f64::from(view.radius_m.max(1));
    let under = tiles.map_or_else(Vec::new, |t| t.around(view.lat, view.lon, units_per_m, MAP));
    html! {
        svg.map.(if under.is_empty() { "" } else { "map-tiled" }) viewBox=(format!("0 0 {MAP} {MAP}")) role="img" aria-labelledby="map-svg-title"
            xmlns="http://www.w3.org/2000/svg" {
            title #map-svg-title { (lang.t(W::MapLabel)) }
            rect.map-ground x="0" y="0" width=(MAP) height=(MAP) {}
            @if !under.is_empty() {
                g.map-tiles {
                    @for t in &under {
                        image href=(t.href) x=(format!("{:.2}", t.x)) y=(format!("{:.2}", t.y))
                            width=(format!("{:.2}", t.side)) height=(format!("{:.2}", t.side)) {}
                    }
                }
            }
            circle.map-ring cx=(c) cy=(c) r=(MAP_R / 2.0) {}
            circle.map-ring cx=(c) cy=(c) r=(MAP_R) {}
            text.map-ring-label x=(c + 4.0) y=(c - MAP_R / 2.0 - 3.0) { (distance(half)) }
            text.map-ring-label x=(c + 4.0) y=(c - MAP_R - 3.0 + 12.0) { (distance(view.radius_m)) }
            @for (i, s) in view.shops.iter().enumerate().rev() {
                @if let (Some(lat), Some(lon)) = (s.card.lat, s.card.lon) {
                    @let (x, y) = place(view, lat, lon);
                    g.map-shop data-merchant=(s.card.id) {
                        circle cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="8" {}
                        text x=(format!("{x:.1}")) y=(format!("{:.1}", y + 3.5)) text-anchor="middle" { (i + 1) }
                    }
                }
            }
            circle.map-you cx=(c) cy=(c) r="6" {}
            text.map-you-label x=(c) y=(c + 18.0) text-anchor="middle" {
                @if view.area.is_some() { (lang.t(W::Centre)) } @else { (lang.t(W::You)) }
            }
        }
        @if let Some(t) = tiles.filter(|t| !under.is_empty() && !t.attribution.is_empty()) {
            p.meta.map-attribution { (t.attribution) }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use axum::http::StatusCode;

    use super::super::pay::tests::{app_with, send};
    use super::*;

    #[test]
    fn distances_read_in_metres_then_kilometres() {
        assert_eq!(distance(0), "0m");
        assert_eq!(distance(850), "850m");
        assert_eq!(distance(1_250), "1.2km");
        assert_eq!(distance(20_000), "20.0km");
        assert_eq!(degrees(Some("35.1")), Some(35.1));
        assert_eq!(degrees(Some("NaN")), None);
        assert_eq!(degrees(Some("x")), None);
    }

    #[tokio::test]
    async fn nearby_is_a_citizens_and_shows_the_services_words() {
        let (app, token) = app_with(service::Role::Citizen).await;
        let (status, _, body) = send(
            &app,
            "GET",
            "/nearby?lat=35.1&lon=129.0",
            &[("cookie", &format!("maeul_session={token}"))],
            Vec::new(),
        )
        .await;
        // No currency in the test service: its refusal, in its words.
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains(r#"data-code="not_found""#), "{body}");
        let (status, _, _) = send(&app, "GET", "/nearby", &[], Vec::new()).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
}
