//! A citizen's pages beyond the wallet itself: money in and out (`money`: bank link,
//! charge, gifts, refunds, auto-charge, history) and paying (`pay`: scan or search a
//! shop, the one-time code, nearby shops, notices). The wallet page (`crate::wallet`) is
//! their home; [`tabs`] is the menu every citizen page shows.

use axum::Router;
use maud::{Markup, html};

use crate::Pages;
use crate::i18n::{Lang, Words};

mod code;
mod money;
mod nearby;
mod notices;
mod pay;

pub(crate) use money::sign_up::link as sign_up_link;

/// The routes of the citizen's pages.
pub fn routes() -> Router<Pages> {
    Router::new()
        .merge(money::routes())
        .merge(pay::routes())
        .merge(code::routes())
        .merge(nearby::routes())
        .merge(notices::routes())
}

/// A citizen page, for the menu.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Wallet,
    Pay,
    Code,
    Charge,
    Gift,
    History,
    Refund,
    AutoCharge,
    Bank,
    Nearby,
    Notices,
}

impl Tab {
    pub const ALL: [Tab; 11] = [
        Tab::Wallet,
        Tab::Pay,
        Tab::Code,
        Tab::Charge,
        Tab::Gift,
        Tab::History,
        Tab::Refund,
        Tab::AutoCharge,
        Tab::Bank,
        Tab::Nearby,
        Tab::Notices,
    ];

    pub fn href(self) -> &'static str {
        match self {
            Tab::Wallet => "/wallet",
            Tab::Pay => "/pay",
            Tab::Code => "/wallet/code",
            Tab::Charge => "/wallet/charge",
            Tab::Gift => "/wallet/gift",
            Tab::History => "/wallet/history",
            Tab::Refund => "/wallet/refund",
            Tab::AutoCharge => "/wallet/auto-charge",
            Tab::Bank => "/wallet/bank",
            Tab::Nearby => "/nearby",
            Tab::Notices => "/notices",
        }
    }
}

impl Words for Tab {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Tab::Wallet => ("지갑", "Wallet"),
            Tab::Pay => ("결제", "Pay"),
            Tab::Code => ("결제 코드", "Pay code"),
            Tab::Charge => ("충전", "Charge"),
            Tab::Gift => ("선물", "Gift"),
            Tab::History => ("이용 내역", "History"),
            Tab::Refund => ("환불", "Refunds"),
            Tab::AutoCharge => ("자동 충전", "Auto-charge"),
            Tab::Bank => ("계좌 연결", "Bank account"),
            Tab::Nearby => ("주변 가맹점", "Nearby shops"),
            Tab::Notices => ("공지", "Notices"),
        }
    }
}

/// The citizen's menu, `current` marked for screen readers and the eye.
pub fn tabs(lang: Lang, current: Tab) -> Markup {
    let label = match lang {
        Lang::Ko => "지갑 메뉴",
        Lang::En => "Wallet menu",
    };
    html! {
        nav.tabs aria-label=(label) {
            ul {
                @for tab in Tab::ALL {
                    li { a href=(tab.href()) aria-current=[(tab == current).then_some("page")] { (lang.t(tab)) } }
                }
            }
        }
    }
}
