//! Static files, built into the binary (`maeul serve` needs nothing beside it and
//! fetches nothing at run time).
//!
//! Each file is served at `/assets/<stem>.<hash>.<ext>` (the hash is the first 16 hex
//! digits of the content's blake3), which may be cached for a year as `immutable`: a new
//! build with a changed file links a new name. The plain `/assets/<name>` is also served,
//! revalidated by its ETag, for anyone who links it by hand.
//!
//! Text files (CSS, scripts, SVG) are also kept gzip-compressed, made once on first use,
//! and sent so to browsers that accept it: htmx alone is 52 KB plain and 16 KB gzipped,
//! most of a phone's first load. Pages themselves are not compressed: they carry form
//! tokens beside echoed input, which compression would leak (BREACH).

use std::io::Write;
use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::i18n::parse_quality;

/// One built-in file.
#[derive(Debug)]
pub struct Asset {
    /// The plain name, e.g. `maeul.css`.
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

/// Every built-in file.
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "maeul.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../assets/maeul.css"),
    },
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/htmx.min.js"),
    },
    Asset {
        name: "htmx.LICENSE",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../assets/htmx.LICENSE"),
    },
    Asset {
        name: "scan.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/scan.js"),
    },
    Asset {
        name: "code.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/code.js"),
    },
    Asset {
        name: "nearby.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/nearby.js"),
    },
    Asset {
        name: "copy.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/copy.js"),
    },
    Asset {
        name: "till.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/till.js"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../assets/icon.svg"),
    },
    Asset {
        name: "icon-192.png",
        content_type: "image/png",
        bytes: include_bytes!("../assets/icon-192.png"),
    },
    Asset {
        name: "icon-512.png",
        content_type: "image/png",
        bytes: include_bytes!("../assets/icon-512.png"),
    },
];

/// An asset with its hash, computed once.
#[derive(Debug)]
struct Hashed {
    asset: &'static Asset,
    /// `maeul.1a2b3c4d5e6f7a8b.css`
    hashed_name: String,
    /// `"1a2b3c4d5e6f7a8b"`
    etag: String,
    /// The gzip-compressed bytes, for text files that shrink; their ETag is `etag`
    /// with `-gz` inside the quotes (a different representation of the same file).
    gzip: Option<(Vec<u8>, String)>,
}

/// Whether a file of this type is worth compressing (text; PNG is compressed already).
fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/") || content_type.starts_with("image/svg+xml")
}

/// `bytes` gzipped at the best level (done once per file), if that makes them smaller.
fn gzipped(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 2), Compression::best());
    encoder.write_all(bytes).ok()?;
    let out = encoder.finish().ok()?;
    (out.len() < bytes.len()).then_some(out)
}

/// Whether the request's `Accept-Encoding` takes gzip (named, or `*`, with a quality
/// above zero).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(ACCEPT_ENCODING).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    // A bound on the work one header can cause.
    value.split(',').take(32).any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let named = coding.eq_ignore_ascii_case("gzip") || coding == "*";
        // An unreadable quality counts as a refusal: the plain file is always safe.
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .is_some_and(|q| parse_quality(q.trim()).is_none_or(|q| q == 0))
        });
        named && !refused
    })
}

fn table() -> &'static [Hashed] {
    static TABLE: OnceLock<Vec<Hashed>> = OnceLock::new();
    TABLE.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| {
                let hash = blake3::hash(asset.bytes).to_hex();
                let short = &hash.as_str()[..16];
                let hashed_name = match asset.name.split_once('.') {
                    Some((stem, ext)) => format!("{stem}.{short}.{ext}"),
                    None => format!("{}.{short}", asset.name),
                };
                let gzip = compressible(asset.content_type)
                    .then(|| gzipped(asset.bytes))
                    .flatten()
                    .map(|bytes| (bytes, format!("\"{short}-gz\"")));
                Hashed {
                    asset,
                    hashed_name,
                    etag: format!("\"{short}\""),
                    gzip,
                }
            })
            .collect()
    })
}

/// The URL of a built-in file, with its content hash: `/assets/maeul.<hash>.css`.
///
/// # Panics
/// When `name` is not a built-in file: a page linking a file that does not exist is a
/// programmer's error, caught by any test that renders the page.
pub fn url(name: &str) -> String {
    match table().iter().find(|h| h.asset.name == name) {
        Some(h) => format!("/assets/{}", h.hashed_name),
        None => panic!("no built-in asset named {name}"),
    }
}

/// `GET /assets/{file}`.
pub async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let table = table();
    let (found, immutable) = match table.iter().find(|h| h.hashed_name == file) {
        Some(h) => (h, true),
        None => match table.iter().find(|h| h.asset.name == file) {
            Some(h) => (h, false),
            None => return StatusCode::NOT_FOUND.into_response(),
        },
    };
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "public, no-cache"
    };
    let (bytes, etag, encoded) = match &found.gzip {
        Some((gz, gz_etag)) if accepts_gzip(&headers) => (gz.as_slice(), gz_etag, true),
        _ => (found.asset.bytes, &found.etag, false),
    };
    // Either representation's tag names the same content.
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|t| {
                let t = t.trim();
                t == found.etag || found.gzip.as_ref().is_some_and(|(_, g)| t == g) || t == "*"
            })
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        bytes.into_response()
    };
    let h = response.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(found.asset.content_type),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    if found.gzip.is_some() {
        h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if encoded && !fresh {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if let Ok(etag) = HeaderValue::from_str(etag) {
        h.insert(ETAG, etag);
    }
    response
}

/// `GET /manifest.webmanifest`: what a phone needs to install the pages as an app.
pub async fn manifest() -> Response {
    let body = serde_json::json!({
        "name": "maeul 마을 지역화폐",
        "short_name": "maeul",
        "description": "우리 동네 지역화폐 · Regional digital currencies",
        "lang": "ko",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0b5d4b",
        "icons": [
            { "src": url("icon-192.png"), "sizes": "192x192", "type": "image/png" },
            { "src": url("icon-512.png"), "sizes": "512x512", "type": "image/png" },
            { "src": url("icon.svg"), "sizes": "any", "type": "image/svg+xml" },
        ],
    });
    (
        [
            (CONTENT_TYPE, "application/manifest+json"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        body.to_string(),
    )
        .into_response()
}
