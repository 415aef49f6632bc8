//! The console's notices (`GET /console/notices`): the currency's notices, newest first
//! (`service::public::notices`, what `/status` and citizens' `/notices` show), and a form
//! to publish one in Korean and English (`POST /console/notices`,
//! `service::operator::desk::publish_notice`, the API's use case) with an idempotency key
//! made when the form is drawn.

use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;
use service::Role;
use service::auth::Notice;
use service::operator::desk::{self, NewNotice};

use super::{Tab, fresh_key, tabs};
use crate::audit::{
    CurrencyQuery, chosen_currency, console_form, currency_switch, error_page, see_other_currency,
    staff,
};
use crate::i18n::{Lang, Words};
use crate::layout::{Nav, page};
use crate::prefs::Prefs;
use crate::session::CSRF_FIELD;
use crate::time::Kst;
use crate::{Pages, private_response};

const PATH: &str = "/console/notices";

pub fn routes() -> Router<Pages> {
    Router::new().route(PATH, get(notices_page).post(publish))
}

/// The notices page's own words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum N {
    Title,
    Lead,
    NewTitle,
    TitleKo,
    TitleEn,
    BodyKo,
    BodyEn,
    Publish,
    ListTitle,
    None,
}

impl Words for N {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            N::Title => ("공지", "Notices"),
            N::Lead => (
                "공지는 서비스 상태 페이지와 시민의 공지 목록에 바로 보입니다. 한국어와 영어로 모두 적어 주세요.",
                "Notices show at once on the status page and in citizens' notices. Write each in Korean and English.",
            ),
            N::NewTitle => ("새 공지", "New notice"),
            N::TitleKo => ("제목 (한국어)", "Title (Korean)"),
            N::TitleEn => ("제목 (영어)", "Title (English)"),
            N::BodyKo => ("내용 (한국어)", "Text (Korean)"),
            N::BodyEn => ("내용 (영어)", "Text (English)"),
            N::Publish => ("공지 올리기", "Publish"),
            N::ListTitle => ("올린 공지", "Published notices"),
            N::None => ("아직 공지가 없습니다.", "No notices yet."),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct NoticeForm {
    csrf: Option<String>,
    currency: Option<String>,
    title_ko: Option<String>,
    title_en: Option<String>,
    body_ko: Option<String>,
    body_en: Option<String>,
    key: Option<String>,
}

async fn notices_page(
    State(pages): State<Pages>,
    parts: Parts,
    query: Result<Query<CurrencyQuery>, QueryRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let session = match staff(&pages, &parts, &[Role::Operator], PATH, Nav::Console) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let caller = &session.caller;
    let asked = query.as_ref().ok().and_then(|q| q.currency.as_deref());
    let code = chosen_currency(caller, asked).unwrap_or_default();
    let list = match service::public::notices(&pages.service, code.clone()).await {
        Ok(l) => l,
        Err(e) => return error_page(prefs, PATH, Nav::Console, &e),
    };
    let csrf = pages.csrf.for_session(&session.token);
    let lang = prefs.lang;
    let body = html! {
        (tabs(lang, Tab::Notices))
        h1 { (lang.t(N::Title)) " · " span.currency-code { (code) } }
        p.lead { (lang.t(N::Lead)) }
        (currency_switch(lang, caller, &code, PATH))
        (notice_form(lang, &code, &csrf))
        (notice_list(lang, &list))
    };
    private_response(page(prefs, PATH, Nav::Console, lang.t(N::Title), body))
}

fn notice_form(lang: Lang, currency: &str, csrf: &str) -> Markup {
    let field = |id: &str, label: N, long: bool| {
        html! {
            div.field {
                label for=(id) { (lang.t(label)) }
                @if long {
                    textarea #(id) name=(id) rows="4" maxlength="4096" required {}
                } @else {
                    input #(id) type="text" name=(id) maxlength="200" required;
                }
            }
        }
    };
    html! {
        section.card aria-labelledby="new-notice-title" {
            h2 #new-notice-title { (lang.t(N::NewTitle)) }
            form.form method="post" action=(PATH) {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                input type="hidden" name="currency" value=(currency);
                input type="hidden" name="key" value=(fresh_key());
                (field("title_ko", N::TitleKo, false))
                (field("body_ko", N::BodyKo, true))
                (field("title_en", N::TitleEn, false))
                (field("body_en", N::BodyEn, true))
                button.button type="submit" { (lang.t(N::Publish)) }
            }
        }
    }
}

/// The text in the page's language.
fn pick<'a>(lang: Lang, ko: &'a str, en: &'a str) -> &'a str {
    match lang {
        Lang::Ko => ko,
        Lang::En => en,
    }
}

fn notice_list(lang: Lang, list: &[Notice]) -> Markup {
    html! {
        section.card aria-labelledby="notice-list-title" {
            h2 #notice-list-title { (lang.t(N::ListTitle)) }
            @if list.is_empty() {
                p { (lang.t(N::None)) }
            } @else {
                ul.console-notices #notice-list {
                    @for n in list {
                        li data-id=(n.id) {
                            h3 { (pick(lang, &n.title_ko, &n.title_en)) }
                            p.meta { time datetime=(Kst::from_ms(n.at * 1000).rfc3339()) { (Kst::from_ms(n.at * 1000).display()) } }
                            p.notice-body { (pick(lang, &n.body_ko, &n.body_en)) }
                        }
                    }
                }
            }
        }
    }
}

/// `POST /console/notices`: publishes, then back to the list (303); the form again with
/// the service's words if it refused.
async fn publish(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<NoticeForm>, FormRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let (session, code) = match console_form(
        &pages,
        &parts,
        PATH,
        form.csrf.as_deref(),
        form.currency.as_deref(),
    ) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let caller = &session.caller;
    let req = NewNotice {
        title_ko: form.title_ko.unwrap_or_default(),
        title_en: form.title_en.unwrap_or_default(),
        body_ko: form.body_ko.unwrap_or_default(),
        body_en: form.body_en.unwrap_or_default(),
    };
    match desk::publish_notice(&pages.service, caller, form.key.as_deref(), &code, req).await {
        Ok(_) => see_other_currency(PATH, &code),
        Err(e) => error_page(prefs, PATH, Nav::Console, &e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::audit::tests::assert_operators_only;

    #[tokio::test]
    async fn the_notices_page_is_an_operators() {
        assert_operators_only(PATH, &[Role::Auditor]).await;
    }

    #[test]
    fn the_form_has_both_languages_and_a_key() {
        let s = notice_form(Lang::En, "demo", "tok").into_string();
        for f in ["title_ko", "title_en", "body_ko", "body_en"] {
            assert!(s.contains(&format!(r#"<label for="{f}""#)), "{f}: {s}");
        }
        assert!(s.contains(r#"name="key" value="page-"#));
        let n = Notice {
            id: 7,
            currency: "demo".into(),
            title_ko: "<b>점검</b>".into(),
            title_en: "Maintenance".into(),
            body_ko: "내용".into(),
            body_en: "Text".into(),
            at: 1,
        };
        let s = notice_list(Lang::Ko, &[n]).into_string();
        assert!(s.contains("&lt;b&gt;점검"), "escaped: {s}");
        assert!(
            notice_list(Lang::En, &[])
                .into_string()
                .contains("No notices yet.")
        );
    }
}
