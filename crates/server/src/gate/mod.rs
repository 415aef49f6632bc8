//! The gate in front of everything the node serves (the API and the pages): each request
//! is sorted into a class by one table (`classes.rs`), received whole, and given a place
//! among those in flight by class (`places.rs`). Under overload a counter payment still
//! gets the next free place; whoever cannot be let in soon is told "busy, retry in a
//! second" (counter payments, operators) or handed a ticket for the waiting room
//! (`room.rs`) with their place in line and an honest estimate of the wait.
//!
//! Saying "busy" costs almost nothing: the answer is made once, and no route, trace or
//! label lookup runs for it.

pub mod classes;
pub mod places;
pub mod room;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub use classes::{CLASSES, Class, Passage, SaleRoute};
pub use places::{ClassPolicy, Place, Places, Policy};
pub use room::{Pace, Room, Ticket, Verdict, Waiting};

use crate::problem::{ApiError, ErrorCode};
use crate::{AppState, BODY_BYTES_MAX};
use service::waiting::Notice;

/// Renders what a browser held at the gate is told (`service::waiting::Notice`) as a
/// page of the site, for the request's headers (language, text size) and path. The
/// gate sets the status and its own headers (Retry-After, Refresh, the ticket cookie).
#[derive(Clone)]
pub struct GatePages(pub Arc<RenderNotice>);

/// Renders a notice for a request's headers and path: see [`GatePages`].
pub type RenderNotice = dyn Fn(&HeaderMap, &str, &Notice) -> Response + Send + Sync;

impl std::fmt::Debug for GatePages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GatePages")
    }
}

/// The header a client sends its ticket back in (the pages use a cookie per class).
pub const TICKET_HEADER: &str = "maeul-ticket";

/// What happened to requests at the gate, counted per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Given a place at once.
    Admitted = 0,
    /// Given a place after waiting in line at the gate.
    Waited = 1,
    /// Told busy (retry in a second).
    Busy = 2,
    /// Handed (or told again) a ticket for the waiting room.
    Ticketed = 3,
}

const OUTCOMES: [(Outcome, &str); 4] = [
    (Outcome::Admitted, "admitted"),
    (Outcome::Waited, "waited"),
    (Outcome::Busy, "busy"),
    (Outcome::Ticketed, "ticketed"),
];

/// The places and the waiting room, with what happened at the gate.
#[derive(Debug)]
pub struct Gate {
    pub places: Places,
    pub room: Room,
    counts: [[AtomicU64; 4]; CLASSES],
    /// The opening of the sale whose line was let go when it sold out (0: none).
    sold_out_cleared: AtomicU64,
}

impl Gate {
    pub fn new(policy: Policy, room_key: [u8; 32]) -> Gate {
        Gate {
            places: Places::new(policy),
            room: Room::new(room_key),
            counts: Default::default(),
            sold_out_cleared: AtomicU64::new(0),
        }
    }

    fn count(&self, class: Class, outcome: Outcome) {
        self.counts[class.index()][outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// How many requests of `class` met `outcome` since the start.
    pub fn counted(&self, class: Class, outcome: Outcome) -> u64 {
        self.counts[class.index()][outcome as usize].load(Ordering::Relaxed)
    }

    /// How fast `class` can be served: see `Places::pace`.
    fn pace(&self, class: Class) -> room::Pace {
        self.places.pace(class)
    }

    /// The counts as Prometheus text.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(
            out,
            "# HELP maeul_admission_total Requests at the gate by class and outcome.\n# TYPE maeul_admission_total counter"
        );
        for class in Class::ALL {
            for (outcome, name) in OUTCOMES {
                let _ = writeln!(
                    out,
                    "maeul_admission_total{{class=\"{}\",outcome=\"{name}\"}} {}",
                    class.name(),
                    self.counted(class, outcome)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP maeul_waiting_room_tickets Tickets waiting to be let in, by class.\n# TYPE maeul_waiting_room_tickets gauge"
        );
        for line in self.room.report() {
            let _ = writeln!(
                out,
                "maeul_waiting_room_tickets{{class=\"{}\"}} {}",
                line.class.name(),
                line.waiting
            );
        }
    }
}

/// The gate as a middleware: see the module's words.
pub(crate) async fn admit(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let class = match classes::passage(req.method(), req.uri().path()) {
        Passage::Exempt | Passage::Upload => return next.run(req).await,
        Passage::Gated(class) => class,
    };
    let gate = &state.gate;
    // A sale day: paused features, purchases before the opening and after the budget
    // is spent are answered here, before anything is read.
    let mut opening = None;
    let now = service::now_us();
    if let Some((opens, _)) = state.service.sale.on_at(now) {
        match classes::sale_route(req.method(), req.uri().path()) {
            Some(SaleRoute::Feature(feature)) => {
                if let Some(back) = state.service.sale.paused(feature, now) {
                    return paused_answer(&state, &req, feature, back, now);
                }
            }
            Some(SaleRoute::Purchase) => {
                if state.service.sale.sold_out(&state.service, now) {
                    if gate.sold_out_cleared.swap(opens, Ordering::Relaxed) != opens {
                        // Nobody waits behind a purchase that cannot be made.
                        gate.room.clear_sale();
                        tracing::info!(opens_at = opens, "sale sold out: the line is told");
                    }
                    return sold_out_answer(&state, &req);
                }
                if now < opens {
                    let bound_to = room::binding(credential(req.headers()));
                    let presented = presented_ticket(req.headers(), class);
                    let w = gate.room.before_opening(class, presented, bound_to, opens);
                    gate.count(class, Outcome::Ticketed);
                    return waiting_answer(&state, &req, &w);
                }
                opening = Some(opens);
            }
            None => {}
        }
    }
    // The body arrives whole before a place is taken: a client that stalls costs a
    // connection, never a place.
    let (mut req, pending) = match crate::admission::receive_body(&state, BODY_BYTES_MAX, req).await
    {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(crate::admission::Received);
    let mut let_in = None;
    let mut bound_to = 0;
    if class.waits_in_room() {
        bound_to = room::binding(credential(req.headers()));
        let presented = presented_ticket(req.headers(), class);
        match gate
            .room
            .check(class, presented, bound_to, gate.pace(class), opening)
        {
            Verdict::Wait(w) => {
                gate.count(class, Outcome::Ticketed);
                return waiting_answer(&state, &req, &w);
            }
            Verdict::Enter(t) => let_in = t,
        }
    }
    let place = if let_in.is_some() {
        gate.places.enter_let_in(class).await
    } else {
        gate.places.enter(class).await
    };
    match place {
        Ok(place) if let_in.as_ref().is_some_and(|t| !gate.room.used(t)) => {
            // Its uses ran out while it waited for the place: to the back of the line.
            drop(place);
            gate.count(class, Outcome::Ticketed);
            let w = gate.room.issue(class, bound_to, opening);
            waiting_answer(&state, &req, &w)
        }
        Ok(place) => {
            gate.count(
                class,
                if place.waited {
                    Outcome::Waited
                } else {
                    Outcome::Admitted
                },
            );
            drop(pending);
            let response = next.run(req).await;
            drop(place);
            response
        }
        Err(full) if class.waits_in_room() => {
            gate.count(class, Outcome::Ticketed);
            let w = match let_in {
                // Let in, but no place came free: the ticket is kept, and tried again
                // in a second.
                Some(ticket) => Waiting {
                    ticket,
                    position: 0,
                    estimate: full.expected,
                    retry_after_s: 1,
                    opens_at: None,
                },
                None => gate.room.issue(class, bound_to, opening),
            };
            waiting_answer(&state, &req, &w)
        }
        Err(_) => {
            gate.count(class, Outcome::Busy);
            busy()
        }
    }
}

/// 503 busy, Retry-After 1, made once.
pub fn busy() -> Response {
    static BODY: std::sync::OnceLock<axum::body::Bytes> = std::sync::OnceLock::new();
    let body = BODY.get_or_init(|| {
        let problem = service::ServiceError::busy(1).problem();
        serde_json::to_vec(&problem).unwrap_or_default().into()
    });
    let mut response = Response::new(Body::from(body.clone()));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response.extensions_mut().insert(ErrorCode("busy".into()));
    response
}

/// The ticket presented for `class`: the header, or the pages' cookie for the class.
fn presented_ticket(headers: &HeaderMap, class: Class) -> Option<&str> {
    if let Some(t) = headers.get(TICKET_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(t.trim());
    }
    cookie(headers, &cookie_name(class))
}

fn cookie_name(class: Class) -> String {
    format!("maeul_ticket_{}", class.name())
}

/// A cookie's value.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The caller's credential, if any: the bearer token, or the pages' session cookie.
fn credential(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes)
        .or_else(|| cookie(headers, "maeul_session").map(str::as_bytes))
}

/// Whether the request is a page's (HTML wanted, outside the API).
fn wants_page(req: &Request) -> bool {
    let path = req.uri().path();
    !(path == "/api" || path.starts_with("/api/"))
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
}

/// 503 with the ticket, the place in line, the estimate and Retry-After: as
/// problem+json for apps, as a page that moves on by itself for browsers.
fn waiting_answer(state: &AppState, req: &Request, w: &Waiting) -> Response {
    let sealed = w.ticket.seal(state.gate.room.key());
    let estimate_s = w.estimate.as_secs_f64();
    let page = wants_page(req);
    let mut response = if page {
        let notice = match w.opens_at {
            Some(opens_at_us) => Notice::BeforeSale {
                waiting: w.position,
                opens_at_us,
                to_opening_s: estimate_s,
            },
            None => Notice::Waiting {
                position: w.position,
                estimate_s: if w.position == 0 { 0.0 } else { estimate_s },
                retry_after_s: w.retry_after_s,
            },
        };
        let mut response = page_answer(state, req, &notice, StatusCode::SERVICE_UNAVAILABLE);
        // Back to where it was asked at the time told, by itself (no script needed).
        if let Ok(v) = HeaderValue::from_str(&format!("{}; url={}", w.retry_after_s, here(req))) {
            response.headers_mut().insert("refresh", v);
        }
        response
    } else {
        let mut fields = serde_json::Map::new();
        fields.insert("ticket".into(), sealed.clone().into());
        fields.insert("class".into(), w.ticket.class.name().into());
        fields.insert("position".into(), w.position.into());
        fields.insert(
            "estimated_wait_s".into(),
            ((estimate_s * 10.0).round() / 10.0).into(),
        );
        fields.insert("retry_after_s".into(), w.retry_after_s.into());
        let error = match w.opens_at {
            Some(opens) => {
                fields.insert("opens_at".into(), opens.into());
                service::ServiceError::before_sale(w.position, estimate_s)
            }
            None => service::ServiceError::waiting_room(w.position, estimate_s),
        };
        ApiError(error)
            .fields(fields)
            .retry_after(w.retry_after_s)
            .into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&sealed) {
        h.insert(TICKET_HEADER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&w.retry_after_s.to_string()) {
        h.insert(header::RETRY_AFTER, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if page {
        let cookie = format!(
            "{}={sealed}; Max-Age={}; Path=/; HttpOnly; SameSite=Lax",
            cookie_name(w.ticket.class),
            room::TICKET_LIFETIME.as_secs()
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            h.insert(header::SET_COOKIE, v);
        }
    }
    response
}

/// A purchase after the sale's budget is spent: told at once.
fn sold_out_answer(state: &AppState, req: &Request) -> Response {
    let error = service::sale::sold_out_error();
    if wants_page(req) {
        return page_answer(state, req, &Notice::SoldOut, error.status);
    }
    ApiError(error).into_response()
}

/// A feature paused for the sale day.
fn paused_answer(
    state: &AppState,
    req: &Request,
    feature: service::sale::Feature,
    back_at_us: u64,
    now_us: u64,
) -> Response {
    let (error, wait_s) = service::sale::paused_error(feature, back_at_us, now_us);
    // Retry-After at most an hour: a sale called off early brings the feature back.
    let retry = wait_s.min(3600);
    let mut response = if wants_page(req) {
        let notice = Notice::Paused {
            feature,
            back_at_us,
        };
        page_answer(state, req, &notice, error.status)
    } else {
        ApiError(error).retry_after(retry).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&retry.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// The page for `notice`: the site's (`AppState::gate_pages`) or the gate's own plain
/// one, with `status`, never kept by a cache.
fn page_answer(state: &AppState, req: &Request, notice: &Notice, status: StatusCode) -> Response {
    let mut response = match &state.gate_pages {
        Some(pages) => (pages.0)(req.headers(), here(req), notice),
        None => plain_page(notice),
    };
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Where the request was asked, to come back to: a path of this site only (a path
/// like `//elsewhere` would send the browser to another site).
fn here(req: &Request) -> &str {
    let here = req.uri().path_and_query().map_or("/", |p| p.as_str());
    if here.starts_with('/') && !here.starts_with("//") && !here.contains('\\') {
        here
    } else {
        "/"
    }
}

/// The gate's own page for `notice`, in Korean and English (for a server that serves
/// no pages of its own).
fn plain_page(notice: &Notice) -> Response {
    let (title, lines) = match notice {
        Notice::Waiting {
            position,
            estimate_s,
            ..
        } => {
            let (ko, en) = service::waiting::wait_words(*estimate_s);
            let ahead = position.saturating_sub(1);
            (
                ("잠시 기다려 주세요", "Please wait"),
                vec![
                    (
                        "접속하신 분이 많아 순서대로 모시고 있습니다. 이 창을 닫지 마세요. 차례가 되면 자동으로 넘어갑니다.".to_owned(),
                        "Many people are here at once, so we are letting them in in order. Keep this page open; it moves on by itself when it is your turn.".to_owned(),
                    ),
                    (
                        format!("내 앞 대기 {ahead}명 · 예상 대기 {ko}"),
                        format!("Ahead of you: {ahead} · estimated wait {en}"),
                    ),
                ],
            )
        }
        Notice::BeforeSale {
            waiting,
            to_opening_s,
            ..
        } => {
            let (ko, en) = service::waiting::wait_words(*to_opening_s);
            (
                ("잠시 기다려 주세요", "Please wait"),
                vec![
                    (
                        "할인 판매가 아직 시작되지 않았습니다. 시작 전에 오신 분들의 순서는 시작 시각에 공정하게 추첨합니다.".to_owned(),
                        "The discounted sale has not opened yet. Everyone who came before the opening is put in a fairly drawn order at the opening.".to_owned(),
                    ),
                    (
                        format!("지금 {waiting}명이 기다리고 있습니다 · 시작까지 {ko}"),
                        format!("{waiting} waiting now · opens in {en}"),
                    ),
                ],
            )
        }
        Notice::SoldOut => {
            let e = service::sale::sold_out_error();
            (("할인 판매 마감", "Sold out"), vec![(e.ko, e.en)])
        }
        Notice::Paused {
            feature,
            back_at_us,
        } => {
            let (e, _) = service::sale::paused_error(*feature, *back_at_us, 0);
            (
                ("잠시 쉬는 기능", "Paused for the sale day"),
                vec![(e.ko, e.en)],
            )
        }
    };
    notice_page(title, &lines)
}

/// A small page the gate answers browsers with itself: a title and lines in Korean and
/// English.
fn notice_page(title: (&str, &str), lines: &[(String, String)]) -> Response {
    use std::fmt::Write;
    let mut html = String::with_capacity(2048);
    let _ = write!(
        html,
        "<!doctype html><html lang=\"ko\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{} · {}</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}\
p.n{{font-size:1.4rem;font-weight:700}}</style></head><body>\
<h1>{} <small lang=\"en\">{}</small></h1>",
        escape(title.0),
        escape(title.1),
        escape(title.0),
        escape(title.1)
    );
    for (i, (ko, en)) in lines.iter().enumerate() {
        let class = if i == 1 { " class=\"n\"" } else { "" };
        let _ = write!(
            html,
            "<p{class}>{}</p><p lang=\"en\">{}</p>",
            escape(ko),
            escape(en)
        );
    }
    html.push_str("</body></html>");
    let mut response = html.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Text made safe for an HTML attribute or text.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_page_comes_back_only_to_this_site() {
        let at = |uri: &str| {
            let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
            here(&req).to_owned()
        };
        assert_eq!(at("/wallet/charge?face=10000"), "/wallet/charge?face=10000");
        assert_eq!(at("//evil.example/x"), "/");
        assert_eq!(at("/\\evil.example"), "/");
        assert_eq!(at("http://evil.example/wallet"), "/wallet");
    }
}
