//! `/wallet/auto-charge`: the auto-charge as it stands (`service::session::me`) and
//! changing or removing it (`service::citizen::set_auto_charge`; the scheme decides
//! what is allowed and its refusals are shown as they are).

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::request::Parts;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use service::ServiceError;
use service::citizen::AutoCharge;
use service::session::AutoChargeState;

use super::{
    amount_invalid, citizen, citizen_page, citizen_post, error_box, form_key, fresh_key, hidden,
    parse_won, with_status,
};
use crate::Pages;
use crate::citizen::Tab;
use crate::i18n::{Lang, Words};
use crate::prefs::Prefs;
use crate::session::SignedIn;
use crate::signed::{self, Banner};
use crate::time::Kst;
use crate::wallet::won;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum A {
    Title,
    Lead,
    NowTitle,
    Off,
    Day,
    DayValue,
    Monthly,
    MonthlyHint,
    TopUp,
    TopUpHint,
    Save,
    Remove,
    Saved,
    Removed,
    ThisMonth,
    StateCharged,
    StatePending,
    StateFailed,
    StateNone,
    NextAttempt,
    Yes,
    No,
    ChangeTitle,
}

impl Words for A {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            A::Title => ("자동 충전", "Auto-charge"),
            A::Lead => (
                "매달 정한 날에 정한 금액을 연결한 계좌에서 충전하거나, 결제할 때 잔액이 모자라면 모자란 만큼 충전합니다.",
                "Charge a set amount from your linked account on a set day each month, or top up what is missing when a payment finds your wallet short.",
            ),
            A::NowTitle => ("지금 설정", "Current setting"),
            A::Off => ("자동 충전을 쓰고 있지 않습니다.", "Auto-charge is off."),
            A::Day => ("매달 충전하는 날", "Day of the month"),
            A::DayValue => ("일", ""),
            A::Monthly => ("매달 충전할 금액 (원)", "Monthly amount (won)"),
            A::MonthlyHint => (
                "0으로 두면 매달 충전은 하지 않고 모자랄 때만 충전합니다.",
                "0: no monthly charge, only top-ups.",
            ),
            A::TopUp => ("결제할 때 모자라면 충전", "Top up when a payment is short"),
            A::TopUpHint => (
                "모자란 금액을 지역의 충전 단위로 올려 충전합니다.",
                "The shortfall is charged, rounded up to the town's unit.",
            ),
            A::Save => ("저장", "Save"),
            A::Remove => ("자동 충전 끄기", "Turn auto-charge off"),
            A::Saved => ("자동 충전 설정을 저장했습니다.", "Auto-charge saved."),
            A::Removed => ("자동 충전을 껐습니다.", "Auto-charge is off."),
            A::ThisMonth => ("이번 달", "This month"),
            A::StateCharged => ("충전됨", "Charged"),
            A::StatePending => ("은행 확인 중", "Waiting for the bank"),
            A::StateFailed => ("실패", "Failed"),
            A::StateNone => ("아직 없음", "Not yet"),
            A::NextAttempt => ("다음 시도", "Next attempt"),
            A::Yes => ("예", "Yes"),
            A::No => ("아니요", "No"),
            A::ChangeTitle => ("설정 바꾸기", "Change it"),
        }
    }
}

/// What was just done, said only when the address is signed for this session
/// (`signed`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AutoQuery {
    saved: bool,
    removed: bool,
}

const SAVED: &str = "auto-charge-saved";
const REMOVED: &str = "auto-charge-removed";

impl AutoQuery {
    fn read(pages: &Pages, session: &SignedIn, parts: &Parts) -> AutoQuery {
        let signed =
            |kind, name| signed::read(pages, &session.token, &parts.uri, kind, &[name]).is_some();
        AutoQuery {
            saved: signed(SAVED, "saved"),
            removed: signed(REMOVED, "removed"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct AutoForm {
    day: Option<String>,
    monthly_face: Option<String>,
    topup: Option<String>,
    remove: Option<String>,
    csrf: Option<String>,
    key: Option<String>,
}

pub async fn page(State(pages): State<Pages>, parts: Parts) -> Response {
    let (prefs, session) = match citizen(&pages, &parts) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let q = AutoQuery::read(&pages, &session, &parts);
    render(prefs, &pages, &session, &q, None).await
}

pub async fn submit(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<AutoForm>, FormRejection>,
) -> Response {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    let (prefs, session) = match citizen_post(&pages, &parts, f.csrf.as_deref()) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let none = AutoQuery::default();
    let setting = if f.remove.is_some() {
        None
    } else {
        let day = f
            .day
            .as_deref()
            .and_then(|d| d.trim().parse::<u8>().ok())
            .unwrap_or(0);
        let Some(monthly_face) = parse_won(f.monthly_face.as_deref().or(Some("0"))) else {
            return render(prefs, &pages, &session, &none, Some(&amount_invalid())).await;
        };
        Some(AutoCharge {
            day,
            monthly_face,
            channel: 0,
            topup: f.topup.is_some(),
        })
    };
    let removing = setting.is_none();
    let answer = service::citizen::set_auto_charge(
        &pages.service,
        &session.caller,
        form_key(f.key.as_deref()),
        setting,
    )
    .await;
    match answer {
        Ok(_) if removing => Banner::new(REMOVED).field("removed", 1).see_other(
            &pages,
            &session.token,
            "/wallet/auto-charge",
        ),
        Ok(_) => Banner::new(SAVED).field("saved", 1).see_other(
            &pages,
            &session.token,
            "/wallet/auto-charge",
        ),
        Err(e) => render(prefs, &pages, &session, &none, Some(&e)).await,
    }
}

fn state_words(s: &AutoChargeState) -> A {
    match s.this_month.as_str() {
        "charged" => A::StateCharged,
        "pending" => A::StatePending,
        "failed" => A::StateFailed,
        _ => A::StateNone,
    }
}

async fn render(
    prefs: Prefs,
    pages: &Pages,
    session: &SignedIn,
    q: &AutoQuery,
    error: Option<&ServiceError>,
) -> Response {
    let lang = prefs.lang;
    let me = match service::session::me(&pages.service, &session.caller).await {
        Ok(m) => m,
        Err(e) => {
            let body = html! { h1 { (lang.t(A::Title)) } (error_box(lang, "auto-error", &e)) };
            return with_status(
                citizen_page(
                    prefs,
                    "/wallet/auto-charge",
                    Tab::AutoCharge,
                    lang.t(A::Title),
                    body,
                ),
                e.status,
            );
        }
    };
    let current = me.auto_charge.as_ref();
    let day_now = current.map_or(1, |c| c.day);
    let face_now = current.map_or(0, |c| c.monthly_face);
    let topup_now = current.is_some_and(|c| c.topup);
    let invalid = error.map(|_| "true");
    let body = html! {
        h1 { (lang.t(A::Title)) }
        p { (lang.t(A::Lead)) }
        @if q.saved {
            div.alert.alert-ok #auto-done role="status" { p { (lang.t(A::Saved)) } }
        }
        @if q.removed {
            div.alert.alert-ok #auto-done role="status" { p { (lang.t(A::Removed)) } }
        }
        @if let Some(e) = error {
            (error_box(lang, "auto-error", e))
        }
        section.card aria-labelledby="auto-now" {
            h2 #auto-now { (lang.t(A::NowTitle)) }
            @match current {
                None => p #auto-state data-state="off" { (lang.t(A::Off)) },
                Some(c) => {
                    dl.facts #auto-state data-state="on" {
                        div { dt { (lang.t(A::Day)) } dd #auto-day { (day_label(lang, c.day)) } }
                        div { dt { (lang.t(A::Monthly)) } dd #auto-face data-amount=(c.monthly_face) { (won(lang, c.monthly_face)) } }
                        div { dt { (lang.t(A::TopUp)) } dd #auto-topup { (lang.t(if c.topup { A::Yes } else { A::No })) } }
                        div { dt { (lang.t(A::ThisMonth)) } dd data-state=(c.this_month) { (lang.t(state_words(c))) } }
                        @if let Some(next) = c.next_attempt_at {
                            @let at = Kst::from_ms(next / 1000);
                            div { dt { (lang.t(A::NextAttempt)) } dd { time datetime=(at.rfc3339()) { (at.display()) } } }
                        }
                    }
                }
            }
        }
        section aria-labelledby="auto-change" {
            h2 #auto-change { (lang.t(A::ChangeTitle)) }
            form.form method="post" action="/wallet/auto-charge" {
                (hidden(pages, session, Some(&fresh_key())))
                div.field {
                    label for="day" { (lang.t(A::Day)) }
                    select #day name="day" aria-invalid=[invalid] {
                        @for d in 1u8..=28 {
                            option value=(d) selected[d == day_now] { (day_label(lang, d)) }
                        }
                    }
                }
                div.field {
                    label for="monthly_face" { (lang.t(A::Monthly)) }
                    input #monthly_face type="text" name="monthly_face" inputmode="numeric"
                        maxlength="20" value=(face_now) aria-invalid=[invalid]
                        aria-describedby="monthly-hint";
                    p.hint #monthly-hint { (lang.t(A::MonthlyHint)) }
                }
                div.check {
                    input #topup type="checkbox" name="topup" value="yes" checked[topup_now]
                        aria-describedby="topup-hint";
                    label for="topup" { (lang.t(A::TopUp)) }
                }
                p.hint #topup-hint { (lang.t(A::TopUpHint)) }
                button.button type="submit" #auto-save { (lang.t(A::Save)) }
            }
            @if current.is_some() {
                form method="post" action="/wallet/auto-charge" {
                    (hidden(pages, session, Some(&fresh_key())))
                    input type="hidden" name="remove" value="yes";
                    button.button.secondary type="submit" #auto-remove { (lang.t(A::Remove)) }
                }
            }
        }
    };
    let response = citizen_page(
        prefs,
        "/wallet/auto-charge",
        Tab::AutoCharge,
        lang.t(A::Title),
        body,
    );
    match error {
        Some(e) => with_status(response, e.status),
        None => response,
    }
}

fn day_label(lang: Lang, day: u8) -> String {
    match lang {
        Lang::Ko => format!("{day}{}", A::DayValue.words().0),
        Lang::En => format!("Day {day}"),
    }
}
