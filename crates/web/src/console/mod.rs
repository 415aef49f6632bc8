//! An operator's console for their own currency: the dashboard, report, scheme, budgets,
//! notices and halting (`desk`), and the merchants: applications, registry sync and QR
//! aliases (`merchants`). [`tabs`] is the menu every console page shows.

use axum::Router;
use maud::{Markup, html};

use crate::Pages;
use crate::i18n::{Lang, Words};

mod desk;
mod halt;
mod merchants;
mod notices;

/// The routes of the operator's console.
pub fn routes() -> Router<Pages> {
    Router::new()
        .merge(desk::routes())
        .merge(merchants::routes())
        .merge(halt::routes())
        .merge(notices::routes())
}

/// A console page, for the menu.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Dashboard,
    Merchants,
    Registry,
    Aliases,
    Scheme,
    Budgets,
    Notices,
    Report,
    Halt,
}

impl Tab {
    pub const ALL: [Tab; 9] = [
        Tab::Dashboard,
        Tab::Merchants,
        Tab::Registry,
        Tab::Aliases,
        Tab::Scheme,
        Tab::Budgets,
        Tab::Notices,
        Tab::Report,
        Tab::Halt,
    ];

    pub fn href(self) -> &'static str {
        match self {
            Tab::Dashboard => "/console",
            Tab::Merchants => "/console/merchants",
            Tab::Registry => "/console/registry",
            Tab::Aliases => "/console/aliases",
            Tab::Scheme => "/console/scheme",
            Tab::Budgets => "/console/budgets",
            Tab::Notices => "/console/notices",
            Tab::Report => "/console/report",
            Tab::Halt => "/console/halt",
        }
    }
}

impl Words for Tab {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Tab::Dashboard => ("현황", "Dashboard"),
            Tab::Merchants => ("가맹점 신청·관리", "Merchants"),
            Tab::Registry => ("등록부 동기화", "Registry sync"),
            Tab::Aliases => ("기존 QR 등록", "Old QR codes"),
            Tab::Scheme => ("운영 규칙", "Scheme"),
            Tab::Budgets => ("예산", "Budgets"),
            Tab::Notices => ("공지", "Notices"),
            Tab::Report => ("보고서", "Report"),
            Tab::Halt => ("중지·재개", "Halt and resume"),
        }
    }
}

/// The console's menu, `current` marked for screen readers and the eye.
pub fn tabs(lang: Lang, current: Tab) -> Markup {
    let label = match lang {
        Lang::Ko => "운영 메뉴",
        Lang::En => "Console menu",
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
