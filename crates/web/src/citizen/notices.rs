//! `/notices`: the citizen's currency's notices, newest first (the service's
//! `public::notices`, as the API's `GET /notices/{currency}`).

use axum::Router;
use axum::extract::State;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use maud::html;

use super::Tab;
use super::pay::{citizen, citizen_page, error_page};
use crate::Pages;
use crate::i18n::{Lang, Words};
use crate::time::Kst;

pub fn routes() -> Router<Pages> {
    Router::new().route("/notices", get(notices))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum W {
    Title,
    Lead,
    None,
}

impl Words for W {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            W::Title => ("공지", "Notices"),
            W::Lead => (
                "지역화폐 운영기관이 알리는 소식입니다. 최근 것부터 보여 줍니다.",
                "News from the currency's operator, newest first.",
            ),
            W::None => ("아직 공지가 없습니다.", "No notices yet."),
        }
    }
}

async fn notices(State(pages): State<Pages>, parts: Parts) -> Response {
    let (prefs, session) = match citizen(&pages, &parts, "/notices") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let lang = prefs.lang;
    let list = match service::public::notices(&pages.service, session.caller.currency.clone()).await
    {
        Ok(l) => l,
        Err(e) => return error_page(prefs, "/notices", Tab::Notices, &e),
    };
    let body = html! {
        h1 { (lang.t(W::Title)) }
        p.lead { (lang.t(W::Lead)) }
        @if list.is_empty() {
            p #no-notices { (lang.t(W::None)) }
        } @else {
            ol.notice-list {
                @for n in &list {
                    @let at = Kst::from_ms(n.at.saturating_mul(1000));
                    @let (title, text) = match lang {
                        Lang::Ko => (&n.title_ko, &n.body_ko),
                        Lang::En => (&n.title_en, &n.body_en),
                    };
                    li data-notice=(n.id) {
                        article aria-labelledby=(format!("notice-{}", n.id)) {
                            h2 #(format!("notice-{}", n.id)) { (title) }
                            p.meta { time datetime=(at.rfc3339()) { (at.display()) } }
                            @for para in text.split("\n\n") {
                                p { (para) }
                            }
                        }
                    }
                }
            }
        }
    };
    citizen_page(prefs, "/notices", Tab::Notices, lang.t(W::Title), body)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use axum::http::StatusCode;

    use super::super::pay::tests::{app_with, send};

    #[tokio::test]
    async fn notices_are_a_citizens_and_show_the_services_words() {
        let (app, token) = app_with(service::Role::Citizen).await;
        let (status, _, body) = send(
            &app,
            "GET",
            "/notices",
            &[("cookie", &format!("maeul_session={token}"))],
            Vec::new(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains(r#"data-code="not_found""#), "{body}");
        assert!(body.contains(r#"aria-current="page">공지<"#), "{body}");
        let (status, _, _) = send(&app, "GET", "/notices", &[], Vec::new()).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
}
