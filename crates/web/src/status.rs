//! The public status page: for each currency, whether it runs, since when, what works
//! now and its notices and incidents; as HTML (`/status`, refreshed every 15 s through
//! the fragment `/status/live`) and as JSON (`/status.json`) for other sites and apps.
//!
//! The pages do not compute any of this: the composition root hands in a
//! [`StatusSource`]. The JSON is its own wire type ([`StatusDocument`]), so the shape
//! promised to other sites does not follow internal renames.

use axum::extract::State;
use axum::http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use crate::i18n::{Lang, M, Text, Words};
use crate::layout::{Nav, page};
use crate::prefs::Prefs;
use crate::time::{Kst, now_ms};
use crate::{Pages, html_response};

/// The notices shown per currency, newest first.
pub const NOTICES_SHOWN_MAX: usize = 20;

/// What the pages know of the currencies being served. Implemented by the binary over
/// the running engines; called on every status request, so it should be cheap.
pub trait StatusSource: Send + Sync + 'static {
    fn status(&self) -> Vec<CurrencyStatus>;
}

/// One currency's state, as the service sees it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrencyStatus {
    /// The currency's code, e.g. `demo`, `busan`.
    pub code: String,
    pub state: ServiceState,
    /// When this state began (Unix milliseconds), if known.
    pub since_ms: Option<u64>,
    /// Why it is not running normally (`None` when running).
    pub reason: Option<Reason>,
    pub works: Works,
    /// Newest first.
    pub notices: Vec<Notice>,
}

/// The three states people are told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// Everything that should work works.
    Running,
    /// Some things work (reading balances, say), others not, for a while.
    Degraded,
    /// Payments are stopped until an operator acts.
    Halted,
}

impl ServiceState {
    pub fn label(self, lang: Lang) -> &'static str {
        lang.t(match self {
            ServiceState::Running => M::StateRunning,
            ServiceState::Degraded => M::StateDegraded,
            ServiceState::Halted => M::StateHalted,
        })
    }

    /// The wire name, also the CSS class suffix.
    pub fn code(self) -> &'static str {
        match self {
            ServiceState::Running => "running",
            ServiceState::Degraded => "degraded",
            ServiceState::Halted => "halted",
        }
    }

    /// A shape beside the words, so the state is never told by colour alone.
    fn symbol(self) -> &'static str {
        match self {
            ServiceState::Running => "✓",
            ServiceState::Degraded => "!",
            ServiceState::Halted => "✕",
        }
    }
}

/// Why a currency is not running normally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    pub code: ReasonCode,
    /// The operator's own words, when an operator halted it and said why.
    pub note: Option<String>,
}

/// The kinds of reasons, each with words for the public in both languages (internal
/// causes, such as an error message, never reach the page).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// An operator halted the currency.
    OperatorHalt,
    /// The ledger halted itself: a batch broke an invariant.
    LedgerCheck,
    /// The journal failed and the state is being rebuilt from disk.
    Recovering,
    /// Rebuilding failed; retried.
    StorageFailed,
    /// Started read-only: this build decides some records differently.
    ReadOnly,
    /// The background audit found a problem.
    AuditFailed,
    /// The engine is stopped.
    Stopped,
}

impl ReasonCode {
    pub fn words(self) -> M {
        match self {
            ReasonCode::OperatorHalt => M::ReasonOperatorHalt,
            ReasonCode::LedgerCheck => M::ReasonLedgerCheck,
            ReasonCode::Recovering => M::ReasonRecovering,
            ReasonCode::StorageFailed => M::ReasonStorageFailed,
            ReasonCode::ReadOnly => M::ReasonReadOnly,
            ReasonCode::AuditFailed => M::ReasonAuditFailed,
            ReasonCode::Stopped => M::ReasonStopped,
        }
    }
}

/// What a citizen or a shop can do now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Works {
    /// Paying at a shop.
    pub payments: bool,
    /// Buying (charging) the currency with money from a bank account.
    pub charging: bool,
    /// A shop turning what it received into money in its bank account.
    pub redemption: bool,
}

/// A notice from the operator, or an incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    /// When it was published or happened (Unix milliseconds).
    pub at_ms: u64,
    pub title: Text,
    pub body: Text,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Notice,
    Incident,
}

impl NoticeKind {
    fn label(self, lang: Lang) -> &'static str {
        lang.t(match self {
            NoticeKind::Notice => M::KindNotice,
            NoticeKind::Incident => M::KindIncident,
        })
    }
}

// ----- JSON ----------------------------------------------------------------------------

/// `GET /status.json`. Field names are stable; new fields may be added.
///
/// ```json
/// {
///   "version": 1,
///   "generated_at_ms": 1796284800000,
///   "generated_at": "2026-12-03T18:00:00+09:00",
///   "currencies": [{
///     "code": "demo",
///     "state": "running" | "degraded" | "halted",
///     "since_ms": 1796284000000 | null,
///     "since": "2026-12-03T17:46:40+09:00" | null,
///     "reason": null | {"code": "operator_halt", "message": {"ko": "…", "en": "…"}, "note": "…" | null},
///     "works": {"payments": true, "charging": true, "redemption": true},
///     "notices": [{"kind": "notice" | "incident", "at_ms": 0, "at": "…+09:00",
///                  "title": {"ko": "…", "en": "…"}, "body": {"ko": "…", "en": "…"}}]
///   }]
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusDocument {
    /// The shape's version: 1.
    pub version: u32,
    pub generated_at_ms: u64,
    /// The same moment in Korea time (RFC 3339, `+09:00`).
    pub generated_at: String,
    pub currencies: Vec<CurrencyJson>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyJson {
    pub code: String,
    pub state: ServiceState,
    pub since_ms: Option<u64>,
    pub since: Option<String>,
    pub reason: Option<ReasonJson>,
    pub works: Works,
    pub notices: Vec<NoticeJson>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonJson {
    pub code: ReasonCode,
    /// What the page says, in both languages.
    pub message: Text,
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeJson {
    pub kind: NoticeKind,
    pub at_ms: u64,
    pub at: String,
    pub title: Text,
    pub body: Text,
}

impl StatusDocument {
    pub fn new(currencies: &[CurrencyStatus], now_ms: u64) -> StatusDocument {
        StatusDocument {
            version: 1,
            generated_at_ms: now_ms,
            generated_at: Kst::from_ms(now_ms).rfc3339(),
            currencies: currencies
                .iter()
                .map(|c| CurrencyJson {
                    code: c.code.clone(),
                    state: c.state,
                    since_ms: c.since_ms,
                    since: c.since_ms.map(|ms| Kst::from_ms(ms).rfc3339()),
                    reason: c.reason.as_ref().map(|r| {
                        let (ko, en) = r.code.words().words();
                        ReasonJson {
                            code: r.code,
                            message: Text::new(ko, en),
                            note: r.note.clone(),
                        }
                    }),
                    works: c.works,
                    notices: c
                        .notices
                        .iter()
                        .take(NOTICES_SHOWN_MAX)
                        .map(|n| NoticeJson {
                            kind: n.kind,
                            at_ms: n.at_ms,
                            at: Kst::from_ms(n.at_ms).rfc3339(),
                            title: n.title.clone(),
                            body: n.body.clone(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// `GET /status.json`: readable by any site (CORS `*`): it is public and needs no
/// credentials.
pub async fn json(State(pages): State<Pages>) -> Response {
    let doc = StatusDocument::new(&pages.status.status(), now_ms());
    let body = serde_json::to_string(&doc).unwrap_or_else(|_| "{}".to_owned());
    (
        [
            (CONTENT_TYPE, "application/json"),
            (CACHE_CONTROL, "no-cache"),
            (ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        body,
    )
        .into_response()
}

// ----- HTML ----------------------------------------------------------------------------

/// `GET /status`.
pub async fn page_handler(State(pages): State<Pages>, prefs: Prefs) -> Response {
    let lang = prefs.lang;
    let currencies = pages.status.status();
    let body = html! {
        h1 { (lang.t(M::StatusTitle)) }
        p.lead { (lang.t(M::StatusLead)) }
        (live(lang, &currencies, now_ms()))
        p {
            (lang.t(M::StatusAutoRefresh)) " "
            a href="/status" { (lang.t(M::StatusRefresh)) }
        }
    };
    html_response(page(
        prefs,
        "/status",
        Nav::Status,
        lang.t(M::StatusTitle),
        body,
    ))
}

/// `GET /status/live`: the part of `/status` that htmx fetches every 15 seconds.
pub async fn fragment(State(pages): State<Pages>, prefs: Prefs) -> Response {
    html_response(live(prefs.lang, &pages.status.status(), now_ms()))
}

/// The refreshed part: the summary, every currency, the time of this answer. It
/// replaces itself (`outerHTML`), so it carries its own polling attributes.
pub fn live(lang: Lang, currencies: &[CurrencyStatus], now_ms: u64) -> Markup {
    html! {
        div #status-live hx-get="/status/live" hx-trigger="every 15s" hx-swap="outerHTML" {
            p.summary { strong { (summary(lang, currencies)) } }
            p.updated {
                (lang.t(M::StatusLastUpdated)) ": " (time(lang, now_ms))
            }
            @for c in currencies {
                (card(lang, c))
            }
        }
    }
}

/// One sentence about all currencies.
pub fn summary(lang: Lang, currencies: &[CurrencyStatus]) -> &'static str {
    if currencies.is_empty() {
        lang.t(M::StatusNoCurrencies)
    } else if currencies.iter().all(|c| c.state == ServiceState::Running) {
        lang.t(M::StatusAllRunning)
    } else {
        lang.t(M::StatusSomeNotRunning)
    }
}

/// The state in words with its symbol.
pub fn state_badge(lang: Lang, state: ServiceState) -> Markup {
    html! {
        span class=(format!("state state-{}", state.code())) {
            span.symbol aria-hidden="true" { (state.symbol()) }
            span.label { (state.label(lang)) }
        }
    }
}

/// `<time>` in Korea time.
fn time(lang: Lang, ms: u64) -> Markup {
    let k = Kst::from_ms(ms);
    html! {
        time datetime=(k.rfc3339()) { (k.display()) " (" (lang.t(M::KstSuffix)) ")" }
    }
}

fn card(lang: Lang, c: &CurrencyStatus) -> Markup {
    let heading = format!("currency-{}", css_id(&c.code));
    let yes_no = |ok: bool| {
        html! {
            @if ok {
                span.yes { span aria-hidden="true" { "✓ " } (lang.t(M::Available)) }
            } @else {
                span.no { span aria-hidden="true" { "✕ " } (lang.t(M::Unavailable)) }
            }
        }
    };
    html! {
        section.card.currency aria-labelledby=(heading) data-currency=(c.code) data-state=(c.state.code()) {
            h2 #(heading) {
                (lang.t(M::CurrencyLabel)) " " (c.code)
            }
            p { (state_badge(lang, c.state)) }
            p.meta {
                (lang.t(M::Since)) ": "
                @match c.since_ms {
                    Some(ms) => (time(lang, ms)),
                    None => (lang.t(M::SinceUnknown)),
                }
            }
            @if let Some(r) = &c.reason {
                p.reason { strong { (lang.t(M::Reason)) ": " } (lang.t(r.code.words())) }
                @if let Some(note) = &r.note {
                    p.note { strong { (lang.t(M::OperatorNote)) ": " } (note) }
                }
            }
            h3 { (lang.t(M::WorksTitle)) }
            ul.works {
                li data-works="payments" { span { (lang.t(M::Payments)) } (yes_no(c.works.payments)) }
                li data-works="charging" { span { (lang.t(M::Charging)) } (yes_no(c.works.charging)) }
                li data-works="redemption" { span { (lang.t(M::Redemption)) } (yes_no(c.works.redemption)) }
            }
            h3 { (lang.t(M::NoticesTitle)) }
            @if c.notices.is_empty() {
                p { (lang.t(M::NoNotices)) }
            } @else {
                ul.notices {
                    @for n in c.notices.iter().take(NOTICES_SHOWN_MAX) {
                        li class=(match n.kind { NoticeKind::Notice => "notice", NoticeKind::Incident => "incident" }) {
                            p.meta {
                                span.kind { (n.kind.label(lang)) } " · " (time(lang, n.at_ms))
                            }
                            p { strong { (n.title.get(lang)) } }
                            @if !n.body.get(lang).is_empty() {
                                p { (n.body.get(lang)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A currency code as an HTML id: letters, digits, `-` and `_` kept, the rest `-`.
fn css_id(code: &str) -> String {
    code.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}
