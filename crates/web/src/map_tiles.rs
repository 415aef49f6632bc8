//! Map tiles under `/nearby`'s map, when the deployment names a tile server
//! (`maeul serve --map-tiles 'https://tiles.example/{z}/{x}/{y}.png'`). The map itself
//! (rings, numbered shops, the citizen) is drawn here whether or not tiles load: tiles
//! are `<image>`s beneath it, so an unreachable tile server leaves the plain map.
//!
//! Tiles are Web Mercator ("slippy map") tiles. The map places shops by metres east and
//! north of the centre; near one point Mercator is the same up to a scale, so a tile is
//! placed by its corner's distance from the centre in those metres. Floats here are for
//! drawing only.

use std::f64::consts::PI;

/// The equator's length in metres (WGS 84), which a zoom-0 tile spans.
const EQUATOR_M: f64 = 40_075_016.686;
/// The deepest zoom tile servers commonly serve.
const ZOOM_MAX: u8 = 19;

/// A tile server, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapTiles {
    template: String,
    /// `scheme://host[:port]`, for the pages' Content-Security-Policy.
    origin: String,
    /// Shown under the map, as tile servers' terms ask (for example
    /// `© OpenStreetMap contributors`).
    pub attribution: String,
}

/// Why a tile setting was refused (said at start-up).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TilesError {
    #[error("the map tile address must start with https:// or http://: {0}")]
    Scheme(String),
    #[error("the map tile address must contain {{z}}, {{x}} and {{y}}: {0}")]
    Placeholders(String),
    #[error("the map tile address is not a valid URL ({1}): {0}")]
    Invalid(String, String),
    #[error("the map tile address may not contain quotes, spaces or ';': {0}")]
    Characters(String),
}

/// One tile to draw: its address and its square's corner and side in map units.
#[derive(Clone, Debug, PartialEq)]
pub struct Tile {
    pub href: String,
    pub x: f64,
    pub y: f64,
    pub side: f64,
}

impl MapTiles {
    /// A tile server from its address template (`{z}`, `{x}`, `{y}` are replaced) and the
    /// attribution its terms ask for.
    pub fn new(template: &str, attribution: &str) -> Result<MapTiles, TilesError> {
        let template = template.trim();
        if !(template.starts_with("https://") || template.starts_with("http://")) {
            return Err(TilesError::Scheme(template.to_owned()));
        }
        if !["{z}", "{x}", "{y}"].iter().all(|p| template.contains(p)) {
            return Err(TilesError::Placeholders(template.to_owned()));
        }
        // The origin goes into a header: nothing that could end or extend the policy.
        if template
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | ';' | ','))
        {
            return Err(TilesError::Characters(template.to_owned()));
        }
        let sample = template
            .replace("{z}", "0")
            .replace("{x}", "0")
            .replace("{y}", "0");
        let url = url::Url::parse(&sample)
            .map_err(|e| TilesError::Invalid(template.to_owned(), e.to_string()))?;
        let origin = url.origin().ascii_serialization();
        if origin == "null" {
            return Err(TilesError::Invalid(template.to_owned(), "no host".into()));
        }
        Ok(MapTiles {
            template: template.to_owned(),
            origin,
            attribution: attribution.trim().chars().take(200).collect(),
        })
    }

    /// Where tiles come from, for `img-src`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn href(&self, z: u8, x: u64, y: u64) -> String {
        self.template
            .replace("{z}", &z.to_string())
            .replace("{x}", &x.to_string())
            .replace("{y}", &y.to_string())
    }

    /// The tiles covering a square map `size` units wide centred on (`lat`, `lon`), at
    /// `units_per_m` map units a metre, at the zoom whose tiles are between a quarter and
    /// half of the map wide (so at most 5 × 5 of them).
    pub fn around(&self, lat: f64, lon: f64, units_per_m: f64, size: f64) -> Vec<Tile> {
        if !(lat.is_finite() && lon.is_finite() && units_per_m > 0.0 && size > 0.0)
            || lat.abs() > 85.0
        {
            return Vec::new();
        }
        let m_per_zoom0_tile = EQUATOR_M * lat.to_radians().cos();
        // The zoom where a tile's side is closest to `size / 3` map units.
        let wanted = (m_per_zoom0_tile * units_per_m / (size / 3.0))
            .log2()
            .round();
        let z = wanted.clamp(0.0, f64::from(ZOOM_MAX)) as u8;
        let n = f64::from(1u32 << z);
        let side = m_per_zoom0_tile / n * units_per_m;
        // The centre in fractional tile numbers.
        let cx = (lon + 180.0) / 360.0 * n;
        let lat_r = lat.to_radians();
        let cy = (1.0 - (lat_r.tan() + 1.0 / lat_r.cos()).ln() / PI) / 2.0 * n;
        let half = size / 2.0;
        let reach = half / side;
        let (x0, x1) = ((cx - reach).floor() as i64, (cx + reach).floor() as i64);
        let (y0, y1) = ((cy - reach).floor() as i64, (cy + reach).floor() as i64);
        let count = 1i64 << z;
        let mut tiles = Vec::new();
        for ty in y0..=y1 {
            if !(0..count).contains(&ty) {
                continue;
            }
            for tx in x0..=x1 {
                tiles.push(Tile {
                    href: self.href(z, tx.rem_euclid(count) as u64, ty as u64),
                    x: half + (tx as f64 - cx) * side,
                    y: half + (ty as f64 - cy) * side,
                    side,
                });
            }
        }
        tiles
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const OSM: &str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";

    #[test]
    fn a_template_needs_a_web_scheme_a_host_and_its_placeholders() {
        let t = MapTiles::new(OSM, "© OpenStreetMap contributors").unwrap();
        assert_eq!(t.origin(), "https://tile.openstreetmap.org");
        assert_eq!(
            MapTiles::new("http://127.0.0.1:8081/t/{z}/{x}/{y}", "")
                .unwrap()
                .origin(),
            "http://127.0.0.1:8081"
        );
        assert!(matches!(
            MapTiles::new("ftp://x/{z}/{x}/{y}", ""),
            Err(TilesError::Scheme(_))
        ));
        assert!(matches!(
            MapTiles::new("https://x/{z}/{x}.png", ""),
            Err(TilesError::Placeholders(_))
        ));
        assert!(matches!(
            MapTiles::new("https://x/{z}/{x}/{y}.png; script-src *", ""),
            Err(TilesError::Characters(_))
        ));
        assert!(matches!(
            MapTiles::new("https://[::1/{z}/{x}/{y}", ""),
            Err(TilesError::Invalid(..))
        ));
    }

    #[test]
    fn the_tiles_cover_the_map_and_the_centre_falls_where_it_should() {
        let t = MapTiles::new(OSM, "").unwrap();
        // Busan city hall, a 2 km radius drawn as 150 units on a 320-unit map.
        let (lat, lon) = (35.1798, 129.0750);
        let units_per_m = 150.0 / 2000.0;
        let tiles = t.around(lat, lon, units_per_m, 320.0);
        assert!((4..=25).contains(&tiles.len()), "{}", tiles.len());
        let side = tiles[0].side;
        assert!((320.0 / 4.0..=320.0 / 1.5).contains(&side), "{side}");
        // Every point of the map is under some tile.
        for (px, py) in [
            (0.0, 0.0),
            (319.0, 0.0),
            (0.0, 319.0),
            (319.0, 319.0),
            (160.0, 160.0),
        ] {
            assert!(
                tiles
                    .iter()
                    .any(|t| t.x <= px && px < t.x + t.side && t.y <= py && py < t.y + t.side),
                "({px}, {py}) is not covered"
            );
        }
        // The tile under the centre is the one slippy-map arithmetic names.
        let z: u32 = tiles[0].href.split('/').nth(3).unwrap().parse().unwrap();
        let n = f64::from(1u32 << z);
        let x = ((lon + 180.0) / 360.0 * n).floor() as u64;
        let lat_r = lat.to_radians();
        let y = ((1.0 - lat_r.tan().asinh() / PI) / 2.0 * n).floor() as u64;
        let centre = tiles
            .iter()
            .find(|t| t.x <= 160.0 && 160.0 < t.x + t.side && t.y <= 160.0 && 160.0 < t.y + t.side)
            .unwrap();
        assert_eq!(
            centre.href,
            format!("https://tile.openstreetmap.org/{z}/{x}/{y}.png")
        );
    }

    #[test]
    fn the_pages_policy_lets_in_images_from_the_tile_server_only() {
        let plain = crate::PageSettings::default().content_security_policy();
        assert_eq!(plain, crate::CONTENT_SECURITY_POLICY_VALUE);
        let tiled = crate::PageSettings {
            map_tiles: Some(MapTiles::new(OSM, "").unwrap()),
        }
        .content_security_policy();
        let tiled = tiled.to_str().unwrap();
        assert!(
            tiled.starts_with(crate::CONTENT_SECURITY_POLICY_VALUE),
            "{tiled}"
        );
        assert!(
            tiled.ends_with("; img-src 'self' https://tile.openstreetmap.org"),
            "{tiled}"
        );
    }

    #[test]
    fn nonsense_positions_draw_no_tiles() {
        let t = MapTiles::new(OSM, "").unwrap();
        assert!(t.around(f64::NAN, 0.0, 0.1, 320.0).is_empty());
        assert!(t.around(89.9, 0.0, 0.1, 320.0).is_empty());
        assert!(t.around(35.0, 129.0, 0.0, 320.0).is_empty());
        // Across the date line the tile numbers wrap.
        let wrapped = t.around(0.0, 179.99, 150.0 / 2000.0, 320.0);
        assert!(
            wrapped.iter().any(|t| t.href.contains("/0/")),
            "{wrapped:?}"
        );
    }
}
