//! Coordinates and great-circle distance.
//!
//! A position is stored as integer micro-degrees (`i32`, about 11 cm of latitude per
//! unit): exact to compare, so a registry re-import never sees a "changed" coordinate
//! because of float printing, and half the size of two `f64`s. For distance, a position
//! becomes a point on the unit sphere. The straight-line (chord) distance between two
//! such points grows strictly with the great-circle distance, so an R-tree over those 3-D
//! points (rstar) returns merchants in exact great-circle order, with no error near the
//! poles or across a longitude band that a flat lat/lon index would have.

use crate::error::GeoError;

/// Mean Earth radius (IUGG), metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The box coordinates must fall in: South Korea with its islands (Marado at 33.11°N,
/// Dokdo at 131.87°E) and a margin. A point outside it is almost always a swapped
/// latitude/longitude or a coordinate in another projection, so it is refused.
pub const LAT_MIN_E6: i32 = 32_800_000;
pub const LAT_MAX_E6: i32 = 38_900_000;
pub const LON_MIN_E6: i32 = 124_000_000;
pub const LON_MAX_E6: i32 = 132_100_000;

/// A position in micro-degrees (WGS84), inside the Korean box.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "GeoPointRaw")]
pub struct GeoPoint {
    lat_e6: i32,
    lon_e6: i32,
}

#[derive(serde::Deserialize)]
struct GeoPointRaw {
    lat_e6: i32,
    lon_e6: i32,
}

impl TryFrom<GeoPointRaw> for GeoPoint {
    type Error = GeoError;
    fn try_from(raw: GeoPointRaw) -> Result<Self, Self::Error> {
        GeoPoint::new(raw.lat_e6, raw.lon_e6)
    }
}

impl GeoPoint {
    /// Validates micro-degrees against the Korean box.
    pub fn new(lat_e6: i32, lon_e6: i32) -> Result<GeoPoint, GeoError> {
        if !(LAT_MIN_E6..=LAT_MAX_E6).contains(&lat_e6)
            || !(LON_MIN_E6..=LON_MAX_E6).contains(&lon_e6)
        {
            return Err(GeoError::OutOfRange);
        }
        Ok(GeoPoint { lat_e6, lon_e6 })
    }

    /// From degrees as `f64`, rounded to the micro-degree. NaN and infinities are refused.
    pub fn from_degrees(lat: f64, lon: f64) -> Result<GeoPoint, GeoError> {
        if !lat.is_finite() || !lon.is_finite() {
            return Err(GeoError::Malformed);
        }
        let to_e6 = |d: f64| -> Result<i32, GeoError> {
            let e6 = (d * 1e6).round();
            if e6.abs() > 1e9 {
                return Err(GeoError::OutOfRange);
            }
            Ok(e6 as i32)
        };
        GeoPoint::new(to_e6(lat)?, to_e6(lon)?)
    }

    /// Parses decimal degrees as text ("37.571234") exactly, without going through a
    /// float: up to six decimals are kept, further ones must be rounding noise and are
    /// rounded half away from zero.
    pub fn parse(lat: &str, lon: &str) -> Result<GeoPoint, GeoError> {
        GeoPoint::new(parse_e6(lat)?, parse_e6(lon)?)
    }

    pub fn lat_e6(self) -> i32 {
        self.lat_e6
    }

    pub fn lon_e6(self) -> i32 {
        self.lon_e6
    }

    pub fn lat(self) -> f64 {
        f64::from(self.lat_e6) / 1e6
    }

    pub fn lon(self) -> f64 {
        f64::from(self.lon_e6) / 1e6
    }

    /// The point on the unit sphere (x towards 0°E on the equator, z towards the north pole).
    pub fn unit_vector(self) -> [f64; 3] {
        let lat = self.lat().to_radians();
        let lon = self.lon().to_radians();
        [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
    }

    /// Great-circle distance in metres.
    pub fn distance_m(self, other: GeoPoint) -> f64 {
        distance_m(&self.unit_vector(), &other.unit_vector())
    }

    /// `"37.571234"`, `"127.009876"`: six decimals, what [`GeoPoint::parse`] reads back.
    pub fn lat_text(self) -> String {
        format_e6(self.lat_e6)
    }

    pub fn lon_text(self) -> String {
        format_e6(self.lon_e6)
    }
}

fn format_e6(v: i32) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    format!("{sign}{}.{:06}", a / 1_000_000, a % 1_000_000)
}

fn parse_e6(text: &str) -> Result<i32, GeoError> {
    let t = text.trim();
    let (negative, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int_part, frac_part) = body.split_once('.').unwrap_or((body, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(GeoError::Malformed);
    }
    if int_part.len() > 3
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
        || frac_part.len() > 15
    {
        return Err(GeoError::Malformed);
    }
    let mut value: i64 = int_part
        .bytes()
        .fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0'));
    let frac = frac_part.as_bytes();
    for i in 0..6 {
        value = value * 10 + frac.get(i).map_or(0, |b| i64::from(b - b'0'));
    }
    if frac.get(6).is_some_and(|&b| b >= b'5') {
        value += 1;
    }
    if negative {
        value = -value;
    }
    i32::try_from(value).map_err(|_| GeoError::OutOfRange)
}

/// Squared chord between two unit vectors, summed in a fixed order so that the index and
/// the brute-force reference compute bit-identical values.
#[inline]
pub fn chord2(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    let dx = a[0] - b[0];
    let dy = a[1] - b[1];
    let dz = a[2] - b[2];
    dx * dx + dy * dy + dz * dz
}

/// Great-circle distance in metres between two unit vectors: `2R·asin(chord/2)`, which is
/// the haversine formula written for vectors.
#[inline]
pub fn distance_m(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    chord2_to_m(chord2(a, b))
}

#[inline]
pub fn chord2_to_m(c2: f64) -> f64 {
    2.0 * EARTH_RADIUS_M * (c2.sqrt() / 2.0).min(1.0).asin()
}

/// The squared chord of a great-circle distance: the inverse of [`chord2_to_m`].
pub fn m_to_chord2(m: f64) -> f64 {
    let half_angle = (m / (2.0 * EARTH_RADIUS_M)).min(std::f64::consts::FRAC_PI_2);
    let chord = 2.0 * half_angle.sin();
    chord * chord
}

/// The classic haversine formula on degrees, kept as an independent check of
/// [`distance_m`].
pub fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_exact() {
        let check = |lat: &str, lon: &str, expected: Result<(i32, i32), GeoError>| {
            assert_eq!(
                GeoPoint::parse(lat, lon).map(|p| (p.lat_e6(), p.lon_e6())),
                expected,
                "{lat},{lon}"
            );
        };
        check("37.571234", "127.009876", Ok((37_571_234, 127_009_876)));
        check(" 37.5 ", "127", Ok((37_500_000, 127_000_000)));
        check("37.5712345", "127.0000004", Ok((37_571_235, 127_000_000)));
        check("127.0", "37.5", Err(GeoError::OutOfRange));
        check("0", "0", Err(GeoError::OutOfRange));
        check("37.5x", "127", Err(GeoError::Malformed));
        check("", "127", Err(GeoError::Malformed));
        check(".", "127", Err(GeoError::Malformed));
        check("NaN", "127", Err(GeoError::Malformed));
    }

    #[test]
    fn text_round_trip() {
        let p = GeoPoint::new(33_250_001, 126_560_100).unwrap();
        assert_eq!(GeoPoint::parse(&p.lat_text(), &p.lon_text()), Ok(p));
    }

    #[test]
    fn vector_distance_matches_haversine() {
        // Seoul City Hall to Busan City Hall is about 325 km.
        let seoul = GeoPoint::new(37_566_500, 126_978_000).unwrap();
        let busan = GeoPoint::new(35_179_800, 129_075_000).unwrap();
        let d = seoul.distance_m(busan);
        let h = haversine_m(seoul.lat(), seoul.lon(), busan.lat(), busan.lon());
        assert!((d - h).abs() < 1e-3, "{d} vs {h}");
        assert!((320_000.0..330_000.0).contains(&d), "{d}");
        let near = GeoPoint::new(37_566_500, 126_979_000).unwrap();
        assert!((seoul.distance_m(near) - 88.2).abs() < 0.5);
        assert!((chord2_to_m(m_to_chord2(2_000.0)) - 2_000.0).abs() < 1e-6);
    }
}
