//! The console's report (`GET /console/report`): the currency's flows in all, by month
//! and by day (`service::operator::desk::report`, the API's use case), and its CSV
//! files (`GET /console/report.csv?currency=..&by=day|month&encoding=utf8|cp949`,
//! written by `service::operator::report::report_csv`: formula-safe, UTF-8 with a BOM
//! or CP949 for older Excel).
//!
//! Building the report reads the whole journal, one at a time on a server: while
//! another report or a verification runs the answer is 503 with `Retry-After`, and the
//! page says to try again in a moment.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;
use service::operator::desk::{self, ReportAnswer};
use service::operator::report::{By, CsvEncoding, ReportRow, csv_file_name, report_csv};
use service::{Caller, Role, ServiceError};

use super::{Tab, tabs};
use crate::audit::{chosen_currency, currency_switch, error_page, staff};
use crate::i18n::{Lang, Words};
use crate::layout::{Nav, page};
use crate::prefs::Prefs;
use crate::wallet::won;
use crate::{Pages, private_response};

const PATH: &str = "/console/report";
const CSV_PATH: &str = "/console/report.csv";

/// Most days the page shows (the newest); the CSV has them all.
pub const DAYS_SHOWN_MAX: usize = 31;

pub fn routes() -> Router<Pages> {
    Router::new()
        .route(PATH, get(report_page))
        .route(CSV_PATH, get(report_file))
}

/// The report page's own words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum R {
    Title,
    Lead,
    BusyTitle,
    BusyText,
    TryAgain,
    TotalTitle,
    DownloadTitle,
    DownloadLead,
    ByDay,
    ByMonth,
    Utf8,
    Cp949,
    MonthsTitle,
    MonthsCaption,
    DaysTitle,
    DaysCaption,
    NoFlows,
    Period,
    Issuance,
    Sales,
    SubsidySpent,
    BudgetFunding,
    Payments,
    PaymentsCount,
    Redemptions,
    CashRefunds,
    Expiries,
    Total,
}

impl Words for R {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            R::Title => ("운영 보고서", "Operator report"),
            R::Lead => (
                "장부 전체에서 다시 계산한 발행, 판매, 보조금 집행, 결제, 환전, 환불, 소멸을 월별·일별(한국 시간)로 봅니다.",
                "Issuance, sales, subsidy, payments, redemptions, refunds and expiries, worked out again from the whole journal, by month and by day (Korea time).",
            ),
            R::BusyTitle => (
                "지금은 보고서를 만들 수 없습니다",
                "The report cannot be made right now",
            ),
            R::BusyText => (
                "보고서와 장부 검증은 장부 전체를 읽기 때문에 서버에서 한 번에 하나씩만 합니다. 지금 다른 보고서나 검증이 진행 중입니다. 잠시 후 다시 시도해 주세요.",
                "Reports and journal verifications read the whole journal, so a server makes one at a time, and another is running now. Please try again in a moment.",
            ),
            R::TryAgain => ("다시 시도", "Try again"),
            R::TotalTitle => ("전체 기간 합계", "Totals since the start"),
            R::DownloadTitle => ("CSV 내려받기", "Download as CSV"),
            R::DownloadLead => (
                "스프레드시트용 파일입니다. 최신 Excel은 UTF-8을, 예전 Excel에서 한글이 깨지면 CP949를 쓰세요. 모든 날과 모든 항목이 들어 있습니다.",
                "Files for spreadsheets. Use UTF-8 with a current Excel, CP949 if an older Excel garbles the Korean. They hold every day and every column.",
            ),
            R::ByDay => ("일별", "By day"),
            R::ByMonth => ("월별", "By month"),
            R::Utf8 => ("UTF-8", "UTF-8"),
            R::Cp949 => ("CP949 (예전 Excel)", "CP949 (older Excel)"),
            R::MonthsTitle => ("월별", "By month"),
            R::MonthsCaption => ("월별 흐름 (한국 시간)", "Flows by month (Korea time)"),
            R::DaysTitle => ("일별 (최근 31일)", "By day (the last 31 days)"),
            R::DaysCaption => (
                "일별 흐름, 최근 날부터 (한국 시간)",
                "Flows by day, newest first (Korea time)",
            ),
            R::NoFlows => ("아직 기록된 흐름이 없습니다.", "No flows recorded yet."),
            R::Period => ("기간", "Period"),
            R::Issuance => ("발행", "Issued"),
            R::Sales => ("판매", "Sales"),
            R::SubsidySpent => ("보조금 집행", "Subsidy spent"),
            R::BudgetFunding => ("예산 출연", "Budget funding"),
            R::Payments => ("결제", "Payments"),
            R::PaymentsCount => ("결제 건수", "Payments (count)"),
            R::Redemptions => ("환전", "Redeemed"),
            R::CashRefunds => ("현금 환불", "Cash refunds"),
            R::Expiries => ("소멸", "Expired"),
            R::Total => ("합계", "Total"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct CsvQuery {
    currency: Option<String>,
    by: Option<String>,
    encoding: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ReportQuery {
    currency: Option<String>,
}

async fn report_page(
    State(pages): State<Pages>,
    parts: Parts,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let lang = prefs.lang;
    let session = match staff(&pages, &parts, &[Role::Operator], PATH, Nav::Console) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let caller = &session.caller;
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let code = chosen_currency(caller, query.currency.as_deref()).unwrap_or_default();
    match desk::report(&pages.service, caller, &code).await {
        Ok(r) => private_response(page(
            prefs,
            PATH,
            Nav::Console,
            lang.t(R::Title),
            report_body(lang, caller, &r),
        )),
        Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => {
            let body = busy_body(lang, caller, &code, &e);
            with_retry_after(
                private_response(page(prefs, PATH, Nav::Console, lang.t(R::BusyTitle), body)),
                &e,
            )
        }
        Err(e) => error_page(prefs, PATH, Nav::Console, &e),
    }
}

/// The answer's status, and `Retry-After` when the service gave one.
fn with_retry_after(mut response: Response, e: &ServiceError) -> Response {
    *response.status_mut() = e.status;
    if let Some(s) = e.retry_after_s
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        response.headers_mut().insert(RETRY_AFTER, v);
    }
    response
}

fn busy_body(lang: Lang, caller: &Caller, code: &str, e: &ServiceError) -> Markup {
    let seconds = e.retry_after_s.unwrap_or(10);
    let wait = match lang {
        Lang::Ko => format!("약 {seconds}초 뒤에 다시 시도해 보세요."),
        Lang::En => format!("Try again in about {seconds} seconds."),
    };
    html! {
        (tabs(lang, Tab::Report))
        h1 { (lang.t(R::Title)) " · " span.currency-code { (code) } }
        (currency_switch(lang, caller, code, PATH))
        div.alert.alert-warn #report-busy role="alert" data-code=(e.code) data-retry-after=(seconds) {
            h2 { (lang.t(R::BusyTitle)) }
            p { (lang.t(R::BusyText)) " " (wait) }
        }
        p { a.button href={ (PATH) "?currency=" (code) } { (lang.t(R::TryAgain)) } }
    }
}

fn report_body(lang: Lang, caller: &Caller, r: &ReportAnswer) -> Markup {
    let code = &r.currency;
    let t = &r.total;
    let newest_days: Vec<&ReportRow> = r.days.iter().rev().take(DAYS_SHOWN_MAX).collect();
    let months: Vec<&ReportRow> = r.months.iter().rev().collect();
    html! {
        (tabs(lang, Tab::Report))
        h1 { (lang.t(R::Title)) " · " span.currency-code { (code) } }
        p.lead { (lang.t(R::Lead)) }
        (currency_switch(lang, caller, code, PATH))
        section.card aria-labelledby="report-total-title" {
            h2 #report-total-title { (lang.t(R::TotalTitle)) }
            dl.facts #report-total {
                (fact(lang, R::Issuance, "issuance", t.issuance))
                (fact(lang, R::Sales, "sales", t.sales))
                (fact(lang, R::SubsidySpent, "subsidy-spent", t.subsidy_spent))
                (fact(lang, R::BudgetFunding, "budget-funding", t.budget_funding))
                (fact(lang, R::Payments, "payments", t.payments))
                div { dt { (lang.t(R::PaymentsCount)) } dd data-field="payments-count" data-value=(t.payments_count) { (grouped(t.payments_count)) } }
                (fact(lang, R::Redemptions, "redemptions", t.redemptions))
                (fact(lang, R::CashRefunds, "cash-refunds", t.cash_refunds))
                (fact(lang, R::Expiries, "expiries", t.expiries))
            }
        }
        section.card aria-labelledby="report-download-title" {
            h2 #report-download-title { (lang.t(R::DownloadTitle)) }
            p { (lang.t(R::DownloadLead)) }
            ul.report-downloads #report-downloads {
                @for by in [By::Day, By::Month] {
                    @for enc in [CsvEncoding::Utf8, CsvEncoding::Cp949] {
                        li {
                            a href=(csv_href(code, by, enc)) download=(csv_file_name(code, by, enc))
                                data-by=(by.as_str()) data-encoding=(encoding_name(enc)) {
                                (lang.t(if by == By::Day { R::ByDay } else { R::ByMonth })) " CSV · "
                                (lang.t(if enc == CsvEncoding::Utf8 { R::Utf8 } else { R::Cp949 }))
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="report-months-title" {
            h2 #report-months-title { (lang.t(R::MonthsTitle)) }
            (rows_table(lang, "report-months", R::MonthsCaption, &months, Some(t)))
        }
        section aria-labelledby="report-days-title" {
            h2 #report-days-title { (lang.t(R::DaysTitle)) }
            (rows_table(lang, "report-days", R::DaysCaption, &newest_days, None))
        }
    }
}

fn fact(lang: Lang, label: R, field: &str, amount: i64) -> Markup {
    html! {
        div { dt { (lang.t(label)) } dd data-field=(field) data-value=(amount) { (won(lang, amount)) } }
    }
}

/// Groups of three digits.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn encoding_name(e: CsvEncoding) -> &'static str {
    match e {
        CsvEncoding::Utf8 => "utf8",
        CsvEncoding::Cp949 => "cp949",
    }
}

fn csv_href(code: &str, by: By, e: CsvEncoding) -> String {
    let mut href = format!("{CSV_PATH}?currency={code}&by={}", by.as_str());
    if e == CsvEncoding::Cp949 {
        href.push_str("&encoding=cp949");
    }
    href
}

/// A table of periods (a scrolling region a keyboard can reach on a phone), with the
/// total as its footer if given.
fn rows_table(
    lang: Lang,
    id: &str,
    caption: R,
    rows: &[&ReportRow],
    total: Option<&ReportRow>,
) -> Markup {
    let caption_id = format!("{id}-caption");
    let cells = |r: &ReportRow| {
        html! {
            td.num { (won(lang, r.issuance)) }
            td.num { (won(lang, r.sales)) }
            td.num { (won(lang, r.subsidy_spent)) }
            td.num { (won(lang, r.payments)) }
            td.num { (grouped(r.payments_count)) }
            td.num { (won(lang, r.redemptions)) }
            td.num { (won(lang, r.cash_refunds)) }
            td.num { (won(lang, r.expiries)) }
        }
    };
    html! {
        @if rows.is_empty() {
            p { (lang.t(R::NoFlows)) }
        } @else {
            div.table-wrap.report-table role="region" aria-labelledby=(caption_id) tabindex="0" {
                table #(id) {
                    caption #(caption_id) { (lang.t(caption)) }
                    thead { tr {
                        th scope="col" { (lang.t(R::Period)) }
                        @for h in [R::Issuance, R::Sales, R::SubsidySpent, R::Payments, R::PaymentsCount, R::Redemptions, R::CashRefunds, R::Expiries] {
                            th scope="col" .num { (lang.t(h)) }
                        }
                    } }
                    tbody {
                        @for r in rows {
                            tr data-period=(r.period) {
                                th scope="row" { (r.period) }
                                (cells(r))
                            }
                        }
                    }
                    @if let Some(t) = total {
                        tfoot { tr {
                            th scope="row" { (lang.t(R::Total)) }
                            (cells(t))
                        } }
                    }
                }
            }
        }
    }
}

/// `GET /console/report.csv`: the report's days or months as a CSV file to download.
async fn report_file(
    State(pages): State<Pages>,
    parts: Parts,
    query: Result<Query<CsvQuery>, QueryRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let lang = prefs.lang;
    let session = match staff(&pages, &parts, &[Role::Operator], PATH, Nav::Console) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let caller = &session.caller;
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let Some((by, encoding)) = csv_choice(query.by.as_deref(), query.encoding.as_deref()) else {
        let e = ServiceError::new(
            StatusCode::BAD_REQUEST,
            "report_csv_invalid",
            "by=day 또는 by=month, encoding=utf8 또는 encoding=cp949로 골라 주세요.",
            "Choose by=day or by=month, and encoding=utf8 or encoding=cp949.",
        );
        return error_page(prefs, PATH, Nav::Console, &e);
    };
    let code = chosen_currency(caller, query.currency.as_deref()).unwrap_or_default();
    let r = match desk::report(&pages.service, caller, &code).await {
        Ok(r) => r,
        Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => {
            let body = busy_body(lang, caller, &code, &e);
            return with_retry_after(
                private_response(page(prefs, PATH, Nav::Console, lang.t(R::BusyTitle), body)),
                &e,
            );
        }
        Err(e) => return error_page(prefs, PATH, Nav::Console, &e),
    };
    let rows = match by {
        By::Day => &r.days,
        By::Month => &r.months,
    };
    csv_response(
        report_csv(rows, encoding),
        &csv_file_name(&r.currency, by, encoding),
        encoding,
    )
}

/// The file's rows and encoding from the query (`by` is needed; UTF-8 by default).
fn csv_choice(by: Option<&str>, encoding: Option<&str>) -> Option<(By, CsvEncoding)> {
    let by = match by? {
        "day" => By::Day,
        "month" => By::Month,
        _ => return None,
    };
    let encoding = match encoding {
        None | Some("utf8" | "utf-8") => CsvEncoding::Utf8,
        Some("cp949") => CsvEncoding::Cp949,
        Some(_) => return None,
    };
    Some((by, encoding))
}

fn csv_response(bytes: Vec<u8>, file_name: &str, encoding: CsvEncoding) -> Response {
    let content_type = match encoding {
        CsvEncoding::Utf8 => "text/csv; charset=utf-8",
        // The IANA name browsers and Excel know for CP949's common part.
        CsvEncoding::Cp949 => "text/csv; charset=EUC-KR",
    };
    let disposition = format!("attachment; filename=\"{file_name}\"");
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(CONTENT_DISPOSITION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::audit::tests::{app_with, assert_operators_only, get};

    fn caller() -> Caller {
        Caller {
            user_id: 1,
            role: Role::Operator,
            account: None,
            currency: "demo".into(),
            currencies: vec!["demo".into()],
            session: [0; 32],
        }
    }

    fn row(period: &str, payments: i64) -> ReportRow {
        ReportRow {
            period: period.into(),
            issuance: 500_000,
            sales: 500_000,
            subsidy_spent: -1_500,
            payments,
            payments_count: 1_234,
            ..ReportRow::default()
        }
    }

    fn answer(days: usize) -> ReportAnswer {
        ReportAnswer {
            currency: "demo".into(),
            text: String::new(),
            issuance: 0,
            sales: 0,
            subsidy_spent: 0,
            payments: 0,
            redemptions: 0,
            cash_refunds: 0,
            expiries: 0,
            days: (1..=days)
                .map(|d| row(&format!("2026-03-{d:02}"), 1_000))
                .collect(),
            months: vec![row("2026-02", 5_000), row("2026-03", 7_000)],
            total: row("total", 12_000),
        }
    }

    #[tokio::test]
    async fn the_report_and_its_files_are_an_operators() {
        for path in [PATH, "/console/report.csv?by=day"] {
            assert_operators_only(path, &[Role::Auditor]).await;
        }
        let (app, cookie) = app_with(Role::Operator).await;
        for bad in ["by=week", "by=day&encoding=latin1", ""] {
            let (status, _, body) = get(&app, &format!("{CSV_PATH}?{bad}"), &cookie).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(body.contains("report_csv_invalid"), "{body}");
        }
    }

    #[test]
    fn the_page_shows_totals_months_and_the_newest_days() {
        let s = report_body(Lang::En, &caller(), &answer(40)).into_string();
        assert!(
            s.contains(r#"data-field="payments" data-value="12000""#),
            "{s}"
        );
        assert!(s.contains(r#"data-value="1234">1,234<"#), "{s}");
        // A negative amount is shown as one.
        assert!(s.contains("−₩1,500"), "{s}");
        // Months newest first, with the total as the footer.
        let feb = s.find(r#"data-period="2026-02""#).unwrap();
        let mar = s.find(r#"data-period="2026-03""#).unwrap();
        assert!(mar < feb, "{s}");
        assert!(s.contains("<tfoot>"), "{s}");
        // The last 31 of 40 days: the 10th to the 40th... of a 40-day month in a test.
        assert_eq!(
            s.matches(r#"<tr data-period="2026-03-"#).count(),
            DAYS_SHOWN_MAX
        );
        assert!(s.contains(r#"data-period="2026-03-40""#));
        assert!(!s.contains(r#"data-period="2026-03-09""#));
        // Four files, each named for the download.
        assert!(s.contains(r#"href="/console/report.csv?currency=demo&amp;by=day""#));
        assert!(
            s.contains(
                r#"href="/console/report.csv?currency=demo&amp;by=month&amp;encoding=cp949""#
            ),
            "{s}"
        );
        assert!(s.contains(r#"download="maeul-report-demo-month-cp949.csv""#));
        // Wide tables scroll in a region a keyboard can reach.
        assert_eq!(s.matches(r#"role="region""#).count(), 2);
        assert_eq!(s.matches(r#"tabindex="0""#).count(), 2);
        let s = report_body(Lang::Ko, &caller(), &{
            let mut a = answer(0);
            a.months.clear();
            a
        })
        .into_string();
        assert_eq!(s.matches("아직 기록된 흐름이 없습니다.").count(), 2, "{s}");
    }

    #[test]
    fn a_busy_server_says_to_try_again_in_a_moment() {
        let e = ServiceError::busy(10);
        let s = busy_body(Lang::En, &caller(), "demo", &e).into_string();
        assert!(s.contains(r#"data-retry-after="10""#), "{s}");
        assert!(s.contains("Try again in about 10 seconds."), "{s}");
        assert!(s.contains(r#"href="/console/report?currency=demo""#), "{s}");
        let r = with_retry_after(private_response(html! { p { "x" } }), &e);
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[RETRY_AFTER], "10");
    }

    #[test]
    fn files_are_chosen_by_rows_and_encoding() {
        assert_eq!(
            csv_choice(Some("day"), None),
            Some((By::Day, CsvEncoding::Utf8))
        );
        assert_eq!(
            csv_choice(Some("month"), Some("cp949")),
            Some((By::Month, CsvEncoding::Cp949))
        );
        assert_eq!(csv_choice(None, None), None);
        assert_eq!(csv_choice(Some("year"), None), None);
        assert_eq!(csv_choice(Some("day"), Some("euc-jp")), None);
        let r = csv_response(
            b"x".to_vec(),
            "maeul-report-demo-day-cp949.csv",
            CsvEncoding::Cp949,
        );
        assert_eq!(
            r.headers()[CONTENT_DISPOSITION],
            r#"attachment; filename="maeul-report-demo-day-cp949.csv""#
        );
        assert_eq!(r.headers()[CONTENT_TYPE], "text/csv; charset=EUC-KR");
        assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
    }
}
