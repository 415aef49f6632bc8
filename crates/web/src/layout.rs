//! The frame every page shares: skip link, header with the name, menu and the language
//! and text-size switches, `<main>`, footer.

use maud::{DOCTYPE, Markup, html};

use crate::assets;
use crate::i18n::M;
use crate::prefs::{Prefs, lang_link, text_link};

/// htmx's settings, read from a `<meta>` (no inline script): no inline indicator styles
/// (the CSP forbids them), no `eval`, no scripts in swapped HTML, no page snapshots in
/// local storage.
const HTMX_CONFIG: &str = r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"historyCacheSize":0,"selfRequestsOnly":true}"#;

/// Which menu entry is the current page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav {
    Home,
    Status,
    /// A citizen's pages.
    Wallet,
    /// A merchant's pages.
    Shop,
    /// An operator's console.
    Console,
    /// An auditor's desk.
    Audit,
    None,
}

/// A whole page. `here` is the path (and query) of this page, where the switches come
/// back to; `title` is the page's own title (the site name is added).
pub fn page(prefs: Prefs, here: &str, current: Nav, title: &str, body: Markup) -> Markup {
    let lang = prefs.lang;
    let other = lang.other();
    let current_attr = |nav: Nav| (current == nav).then_some("page");
    // One menu entry for everyone's own desk: `/me` sends each role to theirs.
    let mine = matches!(current, Nav::Wallet | Nav::Shop | Nav::Console | Nav::Audit);
    html! {
        (DOCTYPE)
        html lang=(lang.code()) class=[prefs.large_text.then_some("large-text")] {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · maeul" }
                meta name="description" content=(lang.t(M::SiteTagline));
                meta name="theme-color" content="#0b5d4b";
                meta name="htmx-config" content=(HTMX_CONFIG);
                link rel="stylesheet" href=(assets::url("maeul.css"));
                link rel="icon" type="image/svg+xml" href=(assets::url("icon.svg"));
                link rel="apple-touch-icon" href=(assets::url("icon-192.png"));
                link rel="manifest" href="/manifest.webmanifest";
                script src=(assets::url("htmx.min.js")) defer {}
            }
            body {
                a.skip-link href="#main" { (lang.t(M::SkipToMain)) }
                header.site-header {
                    div.bar {
                        a.brand href="/" {
                            "maeul" small { (lang.t(M::SiteTagline)) }
                        }
                        nav.site-nav aria-label=(lang.t(M::NavLabel)) {
                            ul {
                                li { a href="/" aria-current=[current_attr(Nav::Home)] { (lang.t(M::NavHome)) } }
                                li { a href="/status" aria-current=[current_attr(Nav::Status)] { (lang.t(M::NavStatus)) } }
                                li { a href="/me" aria-current=[mine.then_some("page")] { (lang.t(M::NavMine)) } }
                            }
                        }
                    }
                    div.prefs {
                        ul aria-label=(lang.t(M::PrefsLabel)) {
                            li {
                                a href=(lang_link(other, here)) lang=(other.code()) hreflang=(other.code()) {
                                    (other.own_name())
                                }
                            }
                            li {
                                @if prefs.large_text {
                                    a href=(text_link(false, here)) { (lang.t(M::LargeTextOff)) }
                                } @else {
                                    a href=(text_link(true, here)) { (lang.t(M::LargeTextOn)) }
                                }
                            }
                        }
                    }
                }
                main #main tabindex="-1" {
                    (body)
                }
                footer.site-footer {
                    div.bar {
                        p { (lang.t(M::FooterAbout)) }
                        p { (lang.t(M::FooterDevelopers)) }
                        ul {
                            li { a href="/status.json" { (lang.t(M::StatusJson)) } }
                            li { a href="/api/v1/openapi.json" { (lang.t(M::OpenApi)) } }
                        }
                    }
                }
            }
        }
    }
}
