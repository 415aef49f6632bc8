//! `GET /shop/sales`: today's sales by hour and this month's by day (the service's
//! `merchant::sales`), each as server-rendered SVG bars with whole-won labels and, for
//! screen readers and anyone who prefers numbers, the same figures as a table.

use axum::Router;
use axum::extract::State;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use maud::{Markup, html};
use service::merchant::{Sales, SalesBar};

use super::{Tab, W, error_page, merchant, shop_page};
use crate::i18n::Lang;
use crate::wallet::won;
use crate::{Pages, private_response};

pub fn routes() -> Router<Pages> {
    Router::new().route("/shop/sales", get(sales_page))
}

/// `GET /shop/sales`.
pub async fn sales_page(State(pages): State<Pages>, parts: Parts) -> Response {
    let (prefs, session) = match merchant(&pages, &parts) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let s = match service::merchant::sales(&pages.service, &session.caller).await {
        Ok(s) => s,
        Err(e) => return error_page(prefs, &session, &pages, "/shop/sales", &e),
    };
    let lang = prefs.lang;
    let body = render(lang, &s);
    private_response(shop_page(
        prefs,
        &session,
        &pages,
        "/shop/sales",
        Some(Tab::Sales),
        lang.t(W::SalesTitle),
        body,
    ))
}

fn render(lang: Lang, s: &Sales) -> Markup {
    html! {
        h1 { (lang.t(W::SalesTitle)) }
        section.card aria-labelledby="sales-today" {
            h2 #sales-today { (lang.t(W::Today)) " " time datetime=(s.today) { (s.today) } }
            p.sales-total { (lang.t(W::TodayTotal)) ": " strong #sales-today-total data-amount=(s.today_total) { (won(lang, s.today_total)) } }
            (chart(lang, "hours", &s.hours, lang.t(W::HourUnit)))
            (table(lang, "hours", &s.hours, lang.t(W::Hour), lang.t(W::HourUnit), lang.t(W::TodayCaption)))
        }
        section.card aria-labelledby="sales-month" {
            h2 #sales-month { (lang.t(W::ThisMonth)) " " time datetime=(s.month) { (s.month) } }
            p.sales-total { (lang.t(W::MonthTotal)) ": " strong #sales-month-total data-amount=(s.month_total) { (won(lang, s.month_total)) } }
            @if !s.month_complete { p.meta #sales-partial { (lang.t(W::MonthPartial)) } }
            (chart(lang, "days", &s.days, lang.t(W::DayUnit)))
            (table(lang, "days", &s.days, lang.t(W::Day), lang.t(W::DayUnit), lang.t(W::MonthCaption)))
        }
    }
}

/// Bar geometry (SVG user units).
const WIDTH: i64 = 360;
const ROW: i64 = 22;
const LABEL: i64 = 44;
/// The longest bar leaves room for its amount.
const BAR_MAX: i64 = 200;

/// A bar's length for `total` when the largest is `max` (integer arithmetic; refunds
/// larger than the sales of a period draw no bar).
pub fn bar_len(total: i64, max: i64) -> i64 {
    if total <= 0 || max <= 0 {
        return 0;
    }
    let len = i128::from(total) * i128::from(BAR_MAX) / i128::from(max);
    (len as i64).clamp(1, BAR_MAX)
}

/// Horizontal bars, one row per period: its label, the bar, the amount in whole won.
/// Hidden from screen readers, who get the table.
fn chart(lang: Lang, id: &str, bars: &[SalesBar], unit: &str) -> Markup {
    let max = bars.iter().map(|b| b.total).max().unwrap_or(0);
    let height = ROW * bars.len() as i64 + 4;
    html! {
        div.chart {
            svg.bars id=(format!("chart-{id}")) xmlns="http://www.w3.org/2000/svg"
                viewBox=(format!("0 0 {WIDTH} {height}")) aria-hidden="true" focusable="false" {
                @for (i, b) in bars.iter().enumerate() {
                    @let y = ROW * i as i64 + 2;
                    @let len = bar_len(b.total, max);
                    text.bar-label x="0" y=(y + 15) { (b.label) (unit) }
                    @if len > 0 {
                        rect.bar x=(LABEL) y=(y + 3) width=(len) height=(ROW - 6) rx="2" {}
                    }
                    text.bar-value x=(LABEL + len + 6) y=(y + 15) { (won(lang, b.total)) }
                }
            }
        }
    }
}

fn table(lang: Lang, id: &str, bars: &[SalesBar], head: &str, unit: &str, caption: &str) -> Markup {
    html! {
        div.table-wrap {
            table.sales id=(format!("table-{id}")) {
                caption { (caption) }
                thead { tr {
                    th scope="col" { (head) }
                    th scope="col" .num { (lang.t(W::Sales)) }
                    th scope="col" .num { (lang.t(W::Payments)) }
                } }
                tbody {
                    @for b in bars {
                        tr {
                            th scope="row" { (b.label) (unit) }
                            td.num data-amount=(b.total) { (won(lang, b.total)) }
                            td.num { (b.count) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_with_integer_arithmetic() {
        assert_eq!(bar_len(0, 100), 0);
        assert_eq!(bar_len(-5, 100), 0);
        assert_eq!(bar_len(100, 100), BAR_MAX);
        assert_eq!(bar_len(50, 100), BAR_MAX / 2);
        assert_eq!(bar_len(1, i64::MAX), 1, "a sale is never invisible");
        assert_eq!(bar_len(i64::MAX, i64::MAX), BAR_MAX);
    }

    #[test]
    fn the_chart_labels_whole_won_and_hides_from_screen_readers() {
        let bars = vec![
            SalesBar {
                label: "09".into(),
                total: 12_345,
                count: 2,
            },
            SalesBar {
                label: "10".into(),
                total: 0,
                count: 0,
            },
        ];
        let svg = chart(Lang::Ko, "hours", &bars, "시").into_string();
        assert!(svg.contains("aria-hidden=\"true\""), "{svg}");
        assert!(svg.contains(">12,345원<"), "{svg}");
        assert!(svg.contains(">0원<"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 1, "{svg}");
        assert!(!svg.contains("style="), "{svg}");
        let t = table(Lang::En, "hours", &bars, "Hour", "h", "Today").into_string();
        assert!(
            t.contains(">₩12,345<") && t.contains("<caption>Today</caption>"),
            "{t}"
        );
    }
}
