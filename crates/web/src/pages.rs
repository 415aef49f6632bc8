//! The home page and the page for addresses that lead nowhere.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use crate::i18n::M;
use crate::layout::{Nav, page};
use crate::prefs::{Prefs, safe_back};
use crate::status::{state_badge, summary};
use crate::{Pages, html_response};

/// `GET /`: what maeul is, a welcome, the status in short, and where to go next.
pub async fn home(State(pages): State<Pages>, prefs: Prefs) -> Response {
    let lang = prefs.lang;
    let currencies = pages.status.status();
    let body = html! {
        h1 { (lang.t(M::HomeTitle)) }
        p.lead { (lang.t(M::HomeLead)) }
        p { (lang.t(M::HomeWelcome)) }

        section.card aria-labelledby="home-status" {
            h2 #home-status { (lang.t(M::HomeStatusTitle)) }
            p { (summary(lang, &currencies)) }
            @if !currencies.is_empty() {
                ul.summary-list {
                    @for c in &currencies {
                        li data-currency=(c.code) data-state=(c.state.code()) {
                            strong { (c.code) }
                            (state_badge(lang, c.state))
                        }
                    }
                }
            }
            p { a href="/status" { (lang.t(M::HomeStatusMore)) } }
        }

        section aria-labelledby="home-what" {
            h2 #home-what { (lang.t(M::HomeWhatTitle)) }
            ul {
                li { (lang.t(M::HomeWhat1)) }
                li { (lang.t(M::HomeWhat2)) }
                li { (lang.t(M::HomeWhat3)) }
            }
        }

        section aria-labelledby="home-developers" {
            h2 #home-developers { (lang.t(M::HomeDevelopersTitle)) }
            p { (lang.t(M::HomeDevelopersText)) }
            ul {
                li { a href="/status.json" { (lang.t(M::StatusJson)) } }
                li { a href="/api/v1/openapi.json" { (lang.t(M::OpenApi)) } }
            }
        }
    };
    html_response(page(prefs, "/", Nav::Home, lang.t(M::HomeTitle), body))
}

/// The friendly 404: in the visitor's language, with where to go instead. The switches
/// come back to the same address (`path`), so switching language keeps the visitor
/// where they were.
pub fn not_found(prefs: Prefs, path: &str) -> Response {
    let lang = prefs.lang;
    let body = html! {
        h1 { (lang.t(M::NotFoundTitle)) }
        p { (lang.t(M::NotFoundText)) }
        p { (lang.t(M::NotFoundWhatNow)) }
        ul {
            li { a href="/" { (lang.t(M::GoHome)) } }
            li { a href="/status" { (lang.t(M::GoStatus)) } }
        }
    };
    let mut response = html_response(page(
        prefs,
        safe_back(Some(path)),
        Nav::None,
        lang.t(M::NotFoundTitle),
        body,
    ));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}
