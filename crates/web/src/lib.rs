//! maeul's web pages: server-rendered HTML (maud) served by `maeul serve` itself on the
//! same origin as the API, with htmx (vendored, built into the binary) for the few
//! partial updates, and no JavaScript build step.
//!
//! The pages are a second thin layer over the `service` crate, beside the HTTP API:
//! signed-in pages (sign-in, the citizen's wallet) call the same use cases the API does
//! and only read forms and render answers. The public status page still comes in
//! through a small trait the binary implements ([`StatusSource`]). This crate never
//! depends on `server`.
//!
//! Signed in, the session is the service's token in an `HttpOnly; SameSite=Strict`
//! cookie, and every state-changing form carries a CSRF token (see [`session`]).
//!
//! Every page is in Korean by default and in English on a switch (`lang` cookie, else
//! `Accept-Language`), has a large-text mode (`text` cookie), and works without
//! JavaScript. Page responses carry a strict Content-Security-Policy: no inline script
//! or style, everything from `/assets`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, VARY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::Markup;
use service::Role;
use tower_http::timeout::RequestBodyTimeoutLayer;

mod account;
pub mod assets;
mod audit;
mod citizen;
mod console;
pub mod i18n;
mod layout;
pub mod map_tiles;
mod pages;
pub mod prefs;
pub mod session;
mod shop;
mod signed;
pub mod status;
pub mod time;
mod upload;
pub mod waiting;
pub mod wallet;

pub use i18n::{Lang, M, Text, Words};
pub use prefs::Prefs;
pub use status::{
    CurrencyStatus, Notice, NoticeKind, Reason, ReasonCode, ServiceState, StatusDocument,
    StatusSource, Works,
};

/// What the page handlers share.
#[derive(Clone)]
pub struct Pages {
    pub status: Arc<dyn StatusSource>,
    pub service: Arc<service::Service>,
    /// What signed-in forms' tokens are derived under (random per process).
    pub csrf: session::CsrfKey,
    /// What the deployment set for the pages.
    pub settings: Arc<PageSettings>,
}

/// What a deployment sets for the pages (`maeul serve`'s flags).
#[derive(Clone, Debug, Default)]
pub struct PageSettings {
    /// A tile server under `/nearby`'s map; without one the map is drawn plain.
    pub map_tiles: Option<map_tiles::MapTiles>,
}

impl PageSettings {
    /// The pages' Content-Security-Policy: [`CONTENT_SECURITY_POLICY_VALUE`], with images
    /// also from the tile server when there is one.
    pub fn content_security_policy(&self) -> HeaderValue {
        match &self.map_tiles {
            None => HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
            Some(tiles) => {
                let policy = format!(
                    "{CONTENT_SECURITY_POLICY_VALUE}; img-src 'self' {}",
                    tiles.origin()
                );
                // `MapTiles` refuses origins that are not header-safe; should one slip
                // through, the strict policy stands and the tiles do not load.
                HeaderValue::from_str(&policy)
                    .unwrap_or(HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE))
            }
        }
    }
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages").finish_non_exhaustive()
    }
}

/// The policy for every page: scripts, styles, images and requests only from this
/// origin (so no inline script or style), never framed.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

/// How long a request's body may pause before the request fails (a slow upload must
/// not hold its memory and a connection for ever).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// The forms that take uploads of megabytes, and who may send one.
const UPLOADS: &[(&str, Role)] = &[
    ("/console/registry/preview", Role::Operator),
    ("/console/aliases", Role::Operator),
    ("/pay/scan", Role::Citizen),
    ("/shop/scan", Role::Merchant),
];

/// An upload (a registry file, a photo) may be megabytes: only a signed-in person of the
/// form's role gets to send one. Anyone else is refused before the body is read.
async fn uploads_need_their_role(State(pages): State<Pages>, req: Request, next: Next) -> Response {
    if req.method() == Method::POST
        && let Some((_, role)) = UPLOADS.iter().find(|(path, _)| req.uri().path() == *path)
        && !session::signed_in(&pages.service, req.headers())
            .is_some_and(|s| s.caller.role == *role)
    {
        return account::refused(Prefs::from_headers(req.headers()));
    }
    next.run(req).await
}

/// The pages' routes, with no fallback (so they can be merged into another router).
pub fn routes(status: Arc<dyn StatusSource>, service: Arc<service::Service>) -> Router {
    routes_with(status, service, PageSettings::default())
}

/// The same with a deployment's settings.
pub fn routes_with(
    status: Arc<dyn StatusSource>,
    service: Arc<service::Service>,
    settings: PageSettings,
) -> Router {
    let policy = settings.content_security_policy();
    let pages = Pages {
        status,
        service,
        csrf: session::CsrfKey::random(),
        settings: Arc::new(settings),
    };
    Router::new()
        .route("/", get(pages::home))
        .route("/status", get(status::page_handler))
        .route("/status/live", get(status::fragment))
        .route("/status.json", get(status::json))
        .route(
            "/sign-in",
            get(account::sign_in_page).post(account::sign_in),
        )
        .route("/sign-out", post(account::sign_out))
        .route("/me", get(account::me))
        .route("/wallet", get(wallet::wallet))
        .merge(citizen::routes())
        .merge(shop::routes())
        .merge(console::routes())
        .merge(audit::routes())
        .route("/lang", get(prefs::switch_lang))
        .route("/text", get(prefs::switch_text))
        .route("/manifest.webmanifest", get(assets::manifest))
        .route("/assets/{file}", get(assets::serve))
        .layer(axum::middleware::from_fn_with_state(
            pages.clone(),
            uploads_need_their_role,
        ))
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        .layer(axum::middleware::map_response(move |r| {
            secure(r, policy.clone())
        }))
        .with_state(pages)
}

/// The whole site: the pages, then `api` for every other request. A 404 from `api`
/// outside `/api/` becomes the friendly page-not-found page in the visitor's language;
/// under `/api/` the API's own answer (problem+json) is kept.
///
/// `api` keeps its own fallback, which is why this is not a plain `Router::merge`
/// (axum refuses to merge two routers that both have one).
pub fn site(api: Router, status: Arc<dyn StatusSource>, service: Arc<service::Service>) -> Router {
    site_with(api, status, service, PageSettings::default())
}

/// The same with a deployment's settings.
pub fn site_with(
    api: Router,
    status: Arc<dyn StatusSource>,
    service: Arc<service::Service>,
    settings: PageSettings,
) -> Router {
    routes_with(status, service, settings).fallback(move |req: Request| {
        let mut api = api.clone();
        async move {
            let path = req.uri().path().to_owned();
            let here = req
                .uri()
                .path_and_query()
                .map_or_else(|| path.clone(), |p| p.as_str().to_owned());
            let prefs = Prefs::from_headers(req.headers());
            let response = match tower_service::Service::call(&mut api, req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            if response.status() == StatusCode::NOT_FOUND && !is_api_path(&path) {
                let policy = HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE);
                secure(pages::not_found(prefs, &here), policy).await
            } else {
                response
            }
        }
    })
}

/// Whether a path belongs to the API (whose errors are its own).
fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Adds the security headers to a page response.
async fn secure(mut response: Response, policy: HeaderValue) -> Response {
    set_security_headers(response.headers_mut(), policy);
    response
}

/// The security headers every page carries.
fn set_security_headers(h: &mut axum::http::HeaderMap, policy: HeaderValue) {
    h.insert(CONTENT_SECURITY_POLICY, policy);
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// An HTML answer that depends on the visitor's cookies and languages: never reused for
/// someone else, always revalidated.
fn html_response(markup: Markup) -> Response {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
            (VARY, "Cookie, Accept-Language"),
        ],
        markup.into_string(),
    )
        .into_response()
}

/// A page for one signed-in person (or carrying a form token): never stored by any
/// cache, the browser's included.
fn private_response(markup: Markup) -> Response {
    let mut response = html_response(markup);
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
