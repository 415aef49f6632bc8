//! The dashboard: its gate, its numbers and its charts.
#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use service::dashboard::{CurrencyHealth, Window};

use super::*;
use crate::audit::tests::{app_with, assert_operators_only, get};

#[tokio::test]
async fn the_dashboard_is_an_operators() {
    assert_operators_only("/console", &[Role::Auditor]).await;
    let (app, cookie) = app_with(Role::Operator).await;
    let (status, _, body) = get(&app, "/console/live", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(r#"role="alert""#), "{body}");
}

#[test]
fn rates_are_in_tenths_without_floats() {
    assert_eq!(per_second_x10(0, 10), 0);
    assert_eq!(per_second_x10(7, 10), 7);
    assert_eq!(decimal(per_second_x10(7, 10)), "0.7");
    assert_eq!(decimal(per_second_x10(1234, 10)), "123.4");
    assert_eq!(decimal(per_second_x10(5, 0)), "5.0", "no division by zero");
}

#[test]
fn bars_scale_to_the_largest_and_skip_zeros() {
    let s = bars(&[0, 5, 10, -3], "b").into_string();
    assert_eq!(s.matches("<rect").count(), 2, "{s}");
    assert!(
        s.contains(r#"height="120""#),
        "the largest fills the chart: {s}"
    );
    assert!(s.contains(r#"height="60""#), "{s}");
    assert!(s.contains(r#"aria-hidden="true""#));
    // Huge amounts do not overflow.
    let s = bars(&[i64::MAX, i64::MAX / 2], "b").into_string();
    assert!(
        s.contains(r#"height="120""#) && s.contains(r#"height="59""#),
        "{s}"
    );
    let s = bars(&[], "b").into_string();
    assert!(!s.contains("<rect"));
}

#[test]
fn a_flat_line_is_drawn_in_the_middle() {
    let s = line(&[5, 5, 5], "l").into_string();
    assert!(s.contains(r#"points="0,60 300,60 600,60""#), "{s}");
    let s = line(&[0, 100], "l").into_string();
    assert!(s.contains(r#"points="0,116 600,4""#), "{s}");
}

fn dashboard(halted: Option<&str>) -> Dashboard {
    let points = (0..60u64)
        .map(|i| Point {
            start_us: 1_796_284_800_000_000 + i * 10_000_000,
            payments: i % 3,
            payments_won: 1_000 * (i % 3) as i64,
            sales_won: if i == 59 { 50_000 } else { 0 },
            subsidy_won: 100,
            budget_left_won: 1_000_000 - 100 * i as i64,
        })
        .collect::<Vec<_>>();
    Dashboard {
        currency: "demo".into(),
        at_us: 1_796_284_800_000_000 + 595_000_000,
        bucket_s: 10,
        window: Window::of(&points, 10).unwrap(),
        points,
        since_us: Some(1_796_284_700_000_000),
        budget_left_won: 994_100,
        queue_depth: 3,
        commands: 12_345,
        health: CurrencyHealth {
            engine: "running".into(),
            cause: None,
            halted: halted.map(str::to_owned),
            payments: halted.is_none(),
            charging: halted.is_none(),
            redemption: halted.is_none(),
            audit_failure: None,
        },
    }
}

#[test]
fn the_live_part_says_in_words_what_the_charts_draw() {
    let s = live_part(Lang::En, &dashboard(None)).into_string();
    // 0+1+2 per three buckets, 20 times: 60 payments in 600 s.
    assert!(s.contains(r#"data-total="60""#), "{s}");
    assert!(s.contains("Mean 0.1/s"), "{s}");
    assert!(s.contains("Peak 0.2/s"), "{s}");
    assert!(s.contains("Total ₩50,000"), "{s}");
    assert!(s.contains("Left now ₩994,100"), "{s}");
    assert!(s.contains("Subsidy paid in 10 minutes ₩6,000"), "{s}");
    assert!(s.contains(r#"id="queue-depth" data-depth="3""#), "{s}");
    assert!(s.contains(r#"data-halted="false""#));
    assert_eq!(s.matches("<table").count(), 3);
    assert_eq!(s.matches(r#"<li data-works="true""#).count(), 3);
    let s = live_part(Lang::Ko, &dashboard(Some("Operator <x>"))).into_string();
    assert!(s.contains(r#"data-halted="true""#));
    assert!(s.contains("Operator &lt;x&gt;"), "escaped: {s}");
    assert_eq!(s.matches(r#"<li data-works="false""#).count(), 3);
    assert!(s.contains("초당 결제"));
}
