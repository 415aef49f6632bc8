//! An operator's console for their own currency: the dashboard (`desk`), halting and
//! resuming (`halt`), notices (`notices`), and the merchants: applications (`merchants`),
//! registry sync and QR aliases (`registry`), the subsidy budgets and their funding
//! (`budgets`), the report by day and month with its CSV files (`report`), and the
//! scheme's versions with an editor (`scheme`). [`tabs`] is the menu every console page
//! shows.

use axum::Router;
use maud::{Markup, html};

use crate::Pages;
use crate::i18n::{Lang, Words};
use crate::session::{CSRF_FIELD, fresh_token};

mod budgets;
mod desk;
mod halt;
mod merchants;
mod notices;
mod registry;
mod report;
mod scheme;

/// The routes of the operator's console.
pub fn routes() -> Router<Pages> {
    Router::new()
        .merge(desk::routes())
        .merge(merchants::routes())
        .merge(halt::routes())
        .merge(notices::routes())
        .merge(budgets::routes())
        .merge(report::routes())
        .merge(scheme::routes())
}

/// A console page, for the menu.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Dashboard,
    Merchants,
    Registry,
    Aliases,
    Budgets,
    Report,
    Scheme,
    Notices,
    Halt,
}

impl Tab {
    pub const ALL: [Tab; 9] = [
        Tab::Dashboard,
        Tab::Merchants,
        Tab::Registry,
        Tab::Aliases,
        Tab::Budgets,
        Tab::Report,
        Tab::Scheme,
        Tab::Notices,
        Tab::Halt,
    ];

    pub fn href(self) -> &'static str {
        match self {
            Tab::Dashboard => "/console",
            Tab::Merchants => "/console/merchants",
            Tab::Registry => "/console/registry",
            Tab::Aliases => "/console/aliases",
            Tab::Budgets => "/console/budgets",
            Tab::Report => "/console/report",
            Tab::Scheme => "/console/scheme",
            Tab::Notices => "/console/notices",
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
            Tab::Budgets => ("보조금 예산", "Budgets"),
            Tab::Report => ("보고서", "Report"),
            Tab::Scheme => ("제도 설정", "Scheme"),
            Tab::Notices => ("공지", "Notices"),
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

/// A fresh idempotency key for a console form being drawn (a double submit then acts
/// once).
pub(crate) fn fresh_key() -> String {
    format!("page-{}", fresh_token())
}

/// The "yes, do it" step of a console action the operator confirms first: posts the
/// form token, the currency, `fields`, `confirmed=yes` and a key made now to `action`;
/// or goes back to `back` of the currency.
pub(crate) struct Confirm<'a> {
    pub action: &'a str,
    pub csrf: &'a str,
    pub currency: &'a str,
    pub fields: &'a [(&'a str, String)],
    /// The button's words, and its id (for tests and for focus).
    pub yes: &'a str,
    pub yes_id: Option<&'a str>,
    pub back: &'a str,
    pub no: &'a str,
}

impl Confirm<'_> {
    pub fn form(&self) -> Markup {
        html! {
            form.form method="post" action=(self.action) {
                input type="hidden" name=(CSRF_FIELD) value=(self.csrf);
                input type="hidden" name="currency" value=(self.currency);
                @for (name, value) in self.fields {
                    input type="hidden" name=(name) value=(value);
                }
                input type="hidden" name="confirmed" value="yes";
                input type="hidden" name="key" value=(fresh_key());
                div.halt-actions {
                    button.button id=[self.yes_id] type="submit" { (self.yes) }
                    " "
                    a.button.secondary href={ (self.back) "?currency=" (self.currency) } { (self.no) }
                }
            }
        }
    }
}
