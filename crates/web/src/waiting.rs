//! The pages a browser held at the gate on a hard day is shown, in the site's layout
//! and the visitor's language and text size: the waiting room (place in line and the
//! wait), a sale not open yet, sold out, a feature paused for the sale day. The gate
//! (`server::gate`) decides and sets the status, Retry-After, the `Refresh` that moves
//! the page on by itself, and the ticket's cookie; these pages only say it.

use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;
use service::sale::Feature;
use service::waiting::Notice;

use crate::i18n::{Lang, Words};
use crate::layout::{Nav, page};
use crate::prefs::{Prefs, safe_back};
use crate::time::Kst;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum W {
    WaitTitle,
    WaitLead,
    Ahead,
    Estimate,
    Next,
    KeepOpen,
    TryNow,
    SaleLead,
    Opens,
    WaitingNow,
    SoldOutTitle,
    SoldOutText,
    PausedTitle,
    PausedSearch,
    PausedGifts,
    PausedBack,
    GoWallet,
}

impl Words for W {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            W::WaitTitle => ("잠시 기다려 주세요", "Please wait"),
            W::WaitLead => (
                "접속하신 분이 많아 순서대로 모시고 있습니다. 처리된 것은 아직 없습니다.",
                "Many people are here at once, so we are letting them in in order. Nothing was done yet.",
            ),
            W::Ahead => ("내 앞 대기", "Ahead of you"),
            W::Estimate => ("예상 대기", "Estimated wait"),
            W::Next => ("다음 차례입니다", "You are next"),
            W::KeepOpen => (
                "이 창을 닫지 마세요. 차례가 되면 자동으로 넘어갑니다. 새로 고쳐도 순서는 그대로입니다.",
                "Keep this page open: it moves on by itself when it is your turn. Reloading keeps your place.",
            ),
            W::TryNow => ("지금 다시 시도", "Try now"),
            W::SaleLead => (
                "할인 판매가 아직 시작되지 않았습니다. 시작 전에 오신 분들의 순서는 시작 시각에 공정하게 추첨하므로, 일찍 오셔도 늦게 오셔도 (시작 전이라면) 같습니다.",
                "The discounted sale has not opened yet. Everyone who comes before the opening is put in an order drawn fairly at the opening: coming earlier (before it) does not help.",
            ),
            W::Opens => ("판매 시작", "Opens at"),
            W::WaitingNow => ("지금 기다리는 분", "Waiting now"),
            W::SoldOutTitle => ("할인 판매 마감", "Sold out"),
            W::SoldOutText => (
                "이번 할인 판매는 준비된 예산이 모두 소진되어 마감되었습니다. 기다리셔도 할인 구매는 할 수 없습니다.",
                "This discounted sale is over: its budget is spent. Waiting will not get a discounted voucher.",
            ),
            W::PausedTitle => ("잠시 쉬는 기능", "Paused for the sale day"),
            W::PausedSearch => (
                "판매일에는 결제와 충전을 위해 가맹점 검색을 잠시 쉽니다. 가맹점의 QR 코드로 결제하시면 됩니다.",
                "Shop search is paused for the sale day, so that payments and purchases go through. Pay by scanning the shop's QR code.",
            ),
            W::PausedGifts => (
                "판매일에는 결제와 충전을 위해 선물하기를 잠시 쉽니다.",
                "Gifts are paused for the sale day, so that payments and purchases go through.",
            ),
            W::PausedBack => ("다시 여는 때", "Back at"),
            W::GoWallet => ("내 지갑으로", "To my wallet"),
        }
    }
}

/// A wait as people say it (`service::waiting::wait_words`), in `lang`.
fn wait(lang: Lang, seconds: f64) -> String {
    let (ko, en) = service::waiting::wait_words(seconds);
    match lang {
        Lang::Ko => ko,
        Lang::En => en,
    }
}

/// The page for `notice`, for a visitor with these headers who asked for `here`.
pub fn gate_page(headers: &HeaderMap, here: &str, notice: &Notice) -> Response {
    let prefs = Prefs::from_headers(headers);
    let lang = prefs.lang;
    let here = safe_back(Some(here));
    let (title, body) = match notice {
        Notice::Waiting {
            position,
            estimate_s,
            ..
        } => (
            lang.t(W::WaitTitle),
            html! {
                h1 { (lang.t(W::WaitTitle)) }
                p.lead { (lang.t(W::WaitLead)) }
                dl.waiting #waiting data-position=(position) {
                    @if *position <= 1 {
                        dt { (lang.t(W::Ahead)) }
                        dd #waiting-ahead { (lang.t(W::Next)) }
                    } @else {
                        dt { (lang.t(W::Ahead)) }
                        dd #waiting-ahead { (position - 1) }
                    }
                    dt { (lang.t(W::Estimate)) }
                    dd #waiting-estimate data-seconds=(estimate_s.ceil() as u64) { (wait(lang, *estimate_s)) }
                }
                p role="status" { (lang.t(W::KeepOpen)) }
                p { a.button.secondary href=(here) { (lang.t(W::TryNow)) } }
            },
        ),
        Notice::BeforeSale {
            waiting,
            opens_at_us,
            to_opening_s,
        } => {
            let opens = Kst::from_ms(opens_at_us / 1000);
            (
                lang.t(W::WaitTitle),
                html! {
                    h1 { (lang.t(W::WaitTitle)) }
                    p.lead { (lang.t(W::SaleLead)) }
                    dl.waiting #waiting data-opens-at=(opens_at_us) {
                        dt { (lang.t(W::Opens)) }
                        dd { time #sale-opens datetime=(opens.rfc3339()) { (opens.display()) }
                            " (" (wait(lang, *to_opening_s)) ")" }
                        dt { (lang.t(W::WaitingNow)) }
                        dd #sale-waiting { (waiting) }
                    }
                    p role="status" { (lang.t(W::KeepOpen)) }
                },
            )
        }
        Notice::SoldOut => (
            lang.t(W::SoldOutTitle),
            html! {
                h1 { (lang.t(W::SoldOutTitle)) }
                p #sold-out role="alert" { (lang.t(W::SoldOutText)) }
                p { a href="/wallet" { (lang.t(W::GoWallet)) } }
            },
        ),
        Notice::Paused {
            feature,
            back_at_us,
        } => {
            let back = Kst::from_ms(back_at_us / 1000);
            let text = match feature {
                Feature::Search => W::PausedSearch,
                Feature::Gifts => W::PausedGifts,
            };
            (
                lang.t(W::PausedTitle),
                html! {
                    h1 { (lang.t(W::PausedTitle)) }
                    p #paused data-feature=(format!("{feature:?}").to_lowercase()) { (lang.t(text)) }
                    p { (lang.t(W::PausedBack)) ": " time datetime=(back.rfc3339()) { (back.display()) } }
                    p { a href="/wallet" { (lang.t(W::GoWallet)) } }
                },
            )
        }
    };
    let mut response = crate::private_response(page(prefs, here, Nav::None, title, body));
    crate::set_security_headers(
        response.headers_mut(),
        axum::http::HeaderValue::from_static(crate::CONTENT_SECURITY_POLICY_VALUE),
    );
    response
}
