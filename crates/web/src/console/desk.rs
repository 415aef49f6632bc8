//! The console's own desk: the dashboard of the operator's currency (`GET /console`, its
//! live part `GET /console/live`, refreshed by htmx every few seconds): payments per
//! second, sales and the subsidy budgets over the last minutes as server-drawn SVG
//! charts (each with a summary and a table for screen readers), the sequencer's queue,
//! and whether the currency is halted and what works.
//!
//! The numbers are `service::dashboard`'s (a projection of the journal's money events
//! and the engine's own gauges); this only draws them. Charts scale amounts to pixels;
//! the amounts shown are the service's integers.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use maud::{Markup, PreEscaped, html};
use service::Role;
use service::dashboard::{Dashboard, Point, per_second_x10};

use super::{Tab, tabs};
use crate::audit::{
    CurrencyQuery, chosen_currency, currency_switch, error_fragment, error_page, staff,
};
use crate::i18n::{Lang, Words};
use crate::layout::{Nav, page};
use crate::prefs::Prefs;
use crate::time::Kst;
use crate::wallet::won;
use crate::{Pages, private_response};

/// Seconds between refreshes of the live part.
pub const REFRESH_S: u64 = 5;

pub fn routes() -> Router<Pages> {
    Router::new()
        .route("/console", get(dashboard_page))
        .route("/console/live", get(live))
}

/// The dashboard's own words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum D {
    Title,
    Lead,
    Updated,
    HealthTitle,
    Engine,
    Running,
    Recovering,
    Failed,
    ReadOnly,
    Stopped,
    Halted,
    NotHalted,
    WhatWorks,
    Payments,
    Charging,
    Redemption,
    Works,
    DoesNotWork,
    QueueDepth,
    CommandsApplied,
    AuditFailure,
    PaymentsTitle,
    PaymentsPerSecond,
    SalesTitle,
    BudgetTitle,
    BudgetLeftNow,
    ChartTable,
    Time,
    Sales,
    BudgetLeft,
    Peak,
    Total,
    Mean,
    Since,
    LastMinutes,
    SpentInWindow,
}

impl Words for D {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            D::Title => ("운영 현황", "Dashboard"),
            D::Lead => (
                "최근 10분의 결제, 판매, 보조금 예산과 지금의 처리 상태입니다. 몇 초마다 새로 고칩니다.",
                "Payments, sales and subsidy budgets over the last 10 minutes, and how the currency is running now. Refreshed every few seconds.",
            ),
            D::Updated => ("갱신", "Updated"),
            D::HealthTitle => ("처리 상태", "Health"),
            D::Engine => ("처리 엔진", "Engine"),
            D::Running => ("정상", "Running"),
            D::Recovering => ("복구 중", "Recovering"),
            D::Failed => ("실패(쓰기 중지)", "Failed (no writes)"),
            D::ReadOnly => ("읽기 전용", "Read-only"),
            D::Stopped => ("멈춤", "Stopped"),
            D::Halted => ("중지됨", "Halted"),
            D::NotHalted => ("중지되지 않음", "Not halted"),
            D::WhatWorks => ("되는 일", "What works"),
            D::Payments => ("결제", "Payments"),
            D::Charging => ("충전", "Charging"),
            D::Redemption => ("가맹점 환전", "Redemption"),
            D::Works => ("가능", "Works"),
            D::DoesNotWork => ("불가", "Does not work"),
            D::QueueDepth => ("대기 중인 요청", "Queue depth"),
            D::CommandsApplied => ("시작 후 처리한 명령", "Commands applied since start"),
            D::AuditFailure => ("백그라운드 감사가 찾은 문제", "The background audit found"),
            D::PaymentsTitle => ("초당 결제", "Payments per second"),
            D::PaymentsPerSecond => ("초당 결제 수", "Payments per second"),
            D::SalesTitle => ("판매액", "Sales"),
            D::BudgetTitle => ("보조금 예산 잔액", "Subsidy budget left"),
            D::BudgetLeftNow => ("지금 남은 예산", "Left now"),
            D::ChartTable => ("표로 보기", "As a table"),
            D::Time => ("시각", "Time"),
            D::Sales => ("판매액", "Sales"),
            D::BudgetLeft => ("예산 잔액", "Budget left"),
            D::Peak => ("최고", "Peak"),
            D::Total => ("합계", "Total"),
            D::Mean => ("평균", "Mean"),
            D::Since => ("집계 시작", "Counted since"),
            D::LastMinutes => ("최근 10분", "Last 10 minutes"),
            D::SpentInWindow => ("10분간 쓴 보조금", "Subsidy paid in 10 minutes"),
        }
    }
}

async fn dashboard_page(
    State(pages): State<Pages>,
    parts: Parts,
    query: Result<Query<CurrencyQuery>, QueryRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let lang = prefs.lang;
    let session = match staff(&pages, &parts, &[Role::Operator], "/console", Nav::Console) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let caller = &session.caller;
    let asked = query.as_ref().ok().and_then(|q| q.currency.as_deref());
    let code = chosen_currency(caller, asked).unwrap_or_default();
    let d = match service::dashboard::dashboard(&pages.service, caller, &code) {
        Ok(d) => d,
        Err(e) => return error_page(prefs, "/console", Nav::Console, &e),
    };
    let body = html! {
        (tabs(lang, Tab::Dashboard))
        h1 { (lang.t(D::Title)) " · " span.currency-code { (d.currency) } }
        p.lead { (lang.t(D::Lead)) }
        (currency_switch(lang, caller, &d.currency, "/console"))
        div #dash-live
            hx-get={"/console/live?currency=" (d.currency)}
            hx-trigger={"every " (REFRESH_S) "s"}
            hx-swap="innerHTML" {
            (live_part(lang, &d))
        }
    };
    private_response(page(
        prefs,
        "/console",
        Nav::Console,
        lang.t(D::Title),
        body,
    ))
}

/// `GET /console/live`: the part of the dashboard that refreshes.
async fn live(
    State(pages): State<Pages>,
    parts: Parts,
    query: Result<Query<CurrencyQuery>, QueryRejection>,
) -> Response {
    let lang = Prefs::from_headers(&parts.headers).lang;
    let session = match staff(&pages, &parts, &[Role::Operator], "/console", Nav::Console) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let caller = &session.caller;
    let asked = query.as_ref().ok().and_then(|q| q.currency.as_deref());
    let code = chosen_currency(caller, asked).unwrap_or_default();
    match service::dashboard::dashboard(&pages.service, caller, &code) {
        Ok(d) => private_response(live_part(lang, &d)),
        Err(e) => error_fragment(lang, &e),
    }
}

fn live_part(lang: Lang, d: &Dashboard) -> Markup {
    let at = Kst::from_ms(d.at_us / 1000);
    let pps: Vec<u64> = d
        .points
        .iter()
        .map(|p| per_second_x10(p.payments, d.bucket_s))
        .collect();
    let sales: Vec<i64> = d.points.iter().map(|p| p.sales_won).collect();
    let left: Vec<i64> = d.points.iter().map(|p| p.budget_left_won).collect();
    let w = &d.window;
    let (payments_total, mean_x10, peak_x10) =
        (w.payments, w.mean_per_second_x10, w.peak_per_second_x10);
    let (sales_total, subsidy_total) = (w.sales_won, w.subsidy_won);
    html! {
        p.updated {
            (lang.t(D::Updated)) " " time datetime=(at.rfc3339()) { (at.display()) }
            @if let Some(since) = d.since_us {
                @let s = Kst::from_ms(since / 1000);
                " · " (lang.t(D::Since)) " " time datetime=(s.rfc3339()) { (s.display()) }
            }
        }
        (health(lang, d))
        div.charts {
            figure.chart #chart-payments aria-labelledby="chart-payments-title" {
                h2 #chart-payments-title { (lang.t(D::PaymentsTitle)) }
                p.chart-summary #payments-summary data-total=(payments_total) {
                    (lang.t(D::LastMinutes)) ": " (lang.t(D::Total)) " " (payments_total) " · "
                    (lang.t(D::Mean)) " " (decimal(mean_x10)) "/s · "
                    (lang.t(D::Peak)) " " (decimal(peak_x10)) "/s"
                }
                (bars(&pps.iter().map(|v| *v as i64).collect::<Vec<_>>(), "bars-payments"))
                (axis(lang, d))
                details {
                    summary { (lang.t(D::ChartTable)) }
                    (table(lang, d, D::PaymentsPerSecond, |p| decimal(per_second_x10(p.payments, d.bucket_s))))
                }
            }
            figure.chart #chart-sales aria-labelledby="chart-sales-title" {
                h2 #chart-sales-title { (lang.t(D::SalesTitle)) }
                p.chart-summary #sales-summary data-total=(sales_total) {
                    (lang.t(D::LastMinutes)) ": " (lang.t(D::Total)) " " (won(lang, sales_total))
                }
                (bars(&sales, "bars-sales"))
                (axis(lang, d))
                details {
                    summary { (lang.t(D::ChartTable)) }
                    (table(lang, d, D::Sales, |p| won(lang, p.sales_won)))
                }
            }
            figure.chart #chart-budget aria-labelledby="chart-budget-title" {
                h2 #chart-budget-title { (lang.t(D::BudgetTitle)) }
                p.chart-summary #budget-summary data-left=(d.budget_left_won) {
                    (lang.t(D::BudgetLeftNow)) " " (won(lang, d.budget_left_won)) " · "
                    (lang.t(D::SpentInWindow)) " " (won(lang, subsidy_total))
                }
                (line(&left, "line-budget"))
                (axis(lang, d))
                details {
                    summary { (lang.t(D::ChartTable)) }
                    (table(lang, d, D::BudgetLeft, |p| won(lang, p.budget_left_won)))
                }
            }
        }
    }
}

fn health(lang: Lang, d: &Dashboard) -> Markup {
    let h = &d.health;
    let (engine_words, engine_class) = match h.engine.as_str() {
        "running" => (D::Running, "state-running"),
        "recovering" => (D::Recovering, "state-degraded"),
        "failed" => (D::Failed, "state-halted"),
        "read_only" => (D::ReadOnly, "state-halted"),
        _ => (D::Stopped, "state-halted"),
    };
    let works = |ok: bool| {
        html! {
            @if ok { span.yes { "✓ " (lang.t(D::Works)) } } @else { span.no { "✗ " (lang.t(D::DoesNotWork)) } }
        }
    };
    html! {
        section.card.health aria-labelledby="health-title" {
            h2 #health-title { (lang.t(D::HealthTitle)) }
            dl.health-list {
                div {
                    dt { (lang.t(D::Engine)) }
                    dd #engine-state data-state=(h.engine) { span.state.(engine_class) { (lang.t(engine_words)) } }
                }
                div {
                    dt { (lang.t(D::Halted)) }
                    dd #halt-state data-halted=(h.halted.is_some()) {
                        @match &h.halted {
                            Some(why) => { span.state.state-halted { (lang.t(D::Halted)) } " " span.meta { (why) } },
                            None => (lang.t(D::NotHalted)),
                        }
                    }
                }
                div {
                    dt { (lang.t(D::QueueDepth)) }
                    dd #queue-depth data-depth=(d.queue_depth) { (d.queue_depth) }
                }
                div {
                    dt { (lang.t(D::CommandsApplied)) }
                    dd #commands-applied { (d.commands) }
                }
            }
            @if let Some(cause) = &h.cause {
                p.meta { (cause) }
            }
            @if let Some(found) = &h.audit_failure {
                p.alert.alert-error { (lang.t(D::AuditFailure)) ": " (found) }
            }
            h3 { (lang.t(D::WhatWorks)) }
            ul.works #works {
                li data-works=(h.payments) { span { (lang.t(D::Payments)) } (works(h.payments)) }
                li data-works=(h.charging) { span { (lang.t(D::Charging)) } (works(h.charging)) }
                li data-works=(h.redemption) { span { (lang.t(D::Redemption)) } (works(h.redemption)) }
            }
        }
    }
}

/// Tenths as `12.3`.
pub fn decimal(x10: u64) -> String {
    format!("{}.{}", x10 / 10, x10 % 10)
}

const CHART_W: i64 = 600;
const CHART_H: i64 = 120;

/// A chart's time axis: the window's first and last bucket.
fn axis(_lang: Lang, d: &Dashboard) -> Markup {
    let first = d.points.first().map_or(0, |p| p.start_us);
    let last = d.points.last().map_or(0, |p| p.start_us);
    let (a, b) = (Kst::from_ms(first / 1000), Kst::from_ms(last / 1000));
    html! {
        p.chart-axis aria-hidden="true" {
            span { (format!("{:02}:{:02}", a.hour, a.minute)) }
            span { (format!("{:02}:{:02}", b.hour, b.minute)) }
        }
    }
}

/// Bars of non-negative values (a negative one draws as none), scaled to the largest.
/// Hidden from screen readers: the summary and the table say the same.
pub fn bars(values: &[i64], class: &str) -> Markup {
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let n = values.len().max(1) as i64;
    let slot = CHART_W / n;
    let mut rects = String::new();
    for (i, v) in values.iter().enumerate() {
        let v = (*v).max(0);
        let h =
            i64::try_from(i128::from(v) * i128::from(CHART_H) / i128::from(max)).unwrap_or(CHART_H);
        if h == 0 {
            continue;
        }
        let x = i as i64 * slot;
        rects.push_str(&format!(
            r#"<rect x="{}" y="{}" width="{}" height="{}"></rect>"#,
            x + 1,
            CHART_H - h,
            (slot - 2).max(1),
            h
        ));
    }
    html! {
        svg.chart-svg.(class) viewBox={"0 0 " (CHART_W) " " (CHART_H)} preserveAspectRatio="none" aria-hidden="true" focusable="false" {
            line.baseline x1="0" y1=(CHART_H) x2=(CHART_W) y2=(CHART_H) {}
            (PreEscaped(rects))
        }
    }
}

/// A line through the values, scaled between their least and largest.
pub fn line(values: &[i64], class: &str) -> Markup {
    let lo = values.iter().copied().min().unwrap_or(0);
    let hi = values.iter().copied().max().unwrap_or(0);
    let span = i128::from(hi) - i128::from(lo);
    let n = values.len().max(2) as i64;
    let mut points = String::new();
    for (i, v) in values.iter().enumerate() {
        let x = i as i64 * CHART_W / (n - 1);
        let y = if span == 0 {
            CHART_H / 2
        } else {
            // Top margin of 4 so the line is not cut at the largest value.
            let above = (i128::from(*v) - i128::from(lo)) * i128::from(CHART_H - 8) / span;
            CHART_H - 4 - i64::try_from(above).unwrap_or(0)
        };
        if !points.is_empty() {
            points.push(' ');
        }
        points.push_str(&format!("{x},{y}"));
    }
    html! {
        svg.chart-svg.(class) viewBox={"0 0 " (CHART_W) " " (CHART_H)} preserveAspectRatio="none" aria-hidden="true" focusable="false" {
            line.baseline x1="0" y1=(CHART_H) x2=(CHART_W) y2=(CHART_H) {}
            polyline points=(points) vector-effect="non-scaling-stroke" {}
        }
    }
}

/// The chart's numbers as a table (newest first).
fn table(lang: Lang, d: &Dashboard, column: D, value: impl Fn(&Point) -> String) -> Markup {
    html! {
        div.table-wrap {
            table.chart-table {
                thead { tr {
                    th scope="col" { (lang.t(D::Time)) }
                    th scope="col" .num { (lang.t(column)) }
                } }
                tbody {
                    @for p in d.points.iter().rev() {
                        @let k = Kst::from_ms(p.start_us / 1000);
                        tr {
                            th scope="row" { time datetime=(k.rfc3339()) { (format!("{:02}:{:02}:{:02}", k.hour, k.minute, k.second)) } }
                            td.num { (value(p)) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "desk_tests.rs"]
mod tests;
