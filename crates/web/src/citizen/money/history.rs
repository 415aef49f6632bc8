//! `GET /wallet/history`: the whole history, newest first, a page at a time
//! (`service::citizen::history` with its cursor), with a link to older entries.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use service::citizen::Paging;

use super::{citizen, citizen_page, error_box, with_status};
use crate::Pages;
use crate::citizen::Tab;
use crate::i18n::{M, Words};
use crate::time::Kst;
use crate::wallet::{entry_label, signed_won};

/// Entries on one page.
pub const PAGE_ENTRIES: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum H {
    Title,
    Older,
    Newest,
    Counterparty,
    End,
}

impl Words for H {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            H::Title => ("이용 내역", "History"),
            H::Older => ("이전 내역 보기", "Older entries"),
            H::Newest => ("최근 내역으로", "Back to the newest"),
            H::Counterparty => ("상대", "With"),
            H::End => ("더 이전 내역이 없습니다.", "There are no older entries."),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct HistoryQuery {
    before: Option<u64>,
}

pub async fn page(
    State(pages): State<Pages>,
    parts: Parts,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Response {
    let (prefs, session) = match citizen(&pages, &parts) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let lang = prefs.lang;
    let before = query.ok().and_then(|Query(q)| q.before);
    let here = match before {
        Some(b) => format!("/wallet/history?before={b}"),
        None => "/wallet/history".to_owned(),
    };
    let answer = service::citizen::history(
        &pages.service,
        &session.caller,
        Paging {
            before,
            limit: Some(PAGE_ENTRIES),
        },
    )
    .await;
    let entries = match answer {
        Ok(e) => e,
        Err(e) => {
            let body = html! { h1 { (lang.t(H::Title)) } (error_box(lang, "history-error", &e)) };
            return with_status(
                citizen_page(prefs, &here, Tab::History, lang.t(H::Title), body),
                e.status,
            );
        }
    };
    // A full page may have more behind it; the next page starts below its last entry.
    let older = (entries.len() == PAGE_ENTRIES)
        .then(|| entries.last().map(|e| e.cursor))
        .flatten();
    let body = html! {
        h1 { (lang.t(H::Title)) }
        @if entries.is_empty() {
            p #history-empty {
                @if before.is_some() { (lang.t(H::End)) } @else { (lang.t(M::NoHistory)) }
            }
        } @else {
            // Focusable, so that a keyboard can scroll it on a narrow screen.
            div.table-wrap tabindex="0" role="region" aria-label=(lang.t(M::HistoryCaption)) {
                table.history #history {
                    caption { (lang.t(M::HistoryCaption)) }
                    thead { tr {
                        th scope="col" { (lang.t(M::When)) }
                        th scope="col" { (lang.t(M::What)) }
                        th scope="col" { (lang.t(H::Counterparty)) }
                        th scope="col" .num { (lang.t(M::Amount)) }
                    } }
                    tbody {
                        @for e in &entries {
                            @let at = Kst::from_ms(e.at / 1000);
                            tr data-kind=(e.kind) data-cursor=(e.cursor) {
                                td { time datetime=(at.rfc3339()) { (at.display()) } }
                                td { (entry_label(lang, &e.kind)) }
                                td { @if let Some(c) = e.counterparty { (c) } }
                                td.num data-amount=(e.amount) { (signed_won(lang, e.amount)) }
                            }
                        }
                    }
                }
            }
        }
        nav.pager aria-label=(lang.t(H::Title)) {
            ul {
                @if before.is_some() {
                    li { a href="/wallet/history" { (lang.t(H::Newest)) } }
                }
                @if let Some(c) = older {
                    li { a #older href=(format!("/wallet/history?before={c}")) rel="next" { (lang.t(H::Older)) } }
                }
            }
        }
    };
    citizen_page(prefs, &here, Tab::History, lang.t(H::Title), body)
}
