//! The client against a bank that answers nonsense: every answer maps to the right
//! error kind, in particular anything unclear about a transfer is ambiguous, and nothing
//! panics or loops.
// Helper functions (not #[test] themselves) unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bank::{Bank, BankError, HttpBank, OrderStatus};
use common::*;
use serde_json::json;

fn completed(reference: &str) -> serde_json::Value {
    json!({"reference": reference, "status": "completed", "bank_tx_id": 1, "amount": 5, "at_ms": 1})
}

/// Behaviour chosen by the first path segment, so one server plays many broken banks.
async fn broken_bank(uri: Uri) -> Response {
    let path = uri.path().to_owned();
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let mode = parts.next().unwrap_or("");
    let rest = parts.next().unwrap_or("");
    let line = |id: u64| json!({"bank_tx_id": id, "reference": "r", "counterparty": "x", "amount": 1, "balance_after": 1, "at_ms": 5});
    match mode {
        "garbage" => (StatusCode::OK, "not json").into_response(),
        "wrongref" => (StatusCode::OK, axum::Json(completed("someone-else"))).into_response(),
        "contradict" => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(completed("r1")),
        )
            .into_response(),
        "unknown" => (
            StatusCode::OK,
            axum::Json(json!({"reference": "r1", "status": "unknown"})),
        )
            .into_response(),
        "newcode" => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(
                json!({"reference": "r1", "status": "rejected", "code": "new_code", "message": ""}),
            ),
        )
            .into_response(),
        "huge" => (StatusCode::OK, vec![b'['; 9 << 20]).into_response(),
        "redirect" => (
            StatusCode::TEMPORARY_REDIRECT,
            [("location", "/garbage/v1/transfers")],
        )
            .into_response(),
        "e400" => (StatusCode::BAD_REQUEST, "bad").into_response(),
        "e404" => StatusCode::NOT_FOUND.into_response(),
        "e500" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"error": "boom", "message": "down"})),
        )
            .into_response(),
        "hang" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            StatusCode::OK.into_response()
        }
        // A statement whose cursor never advances.
        "loop" if rest.ends_with("statement") => {
            axum::Json(json!({"lines": [line(1)], "next_after_tx": 1})).into_response()
        }
        "emptycursor" => axum::Json(json!({"lines": [], "next_after_tx": 7})).into_response(),
        "badcursor" => axum::Json(json!({"lines": [line(1)], "next_after_tx": 9})).into_response(),
        "disorder" => axum::Json(json!({"answers": [
            {"seq": 3, "reference": "a", "status": "unknown"},
            {"seq": 2, "reference": "b", "status": "unknown"}], "last_seq": 3}))
        .into_response(),
        "toomany" => axum::Json(json!({"answers": [
            {"seq": 1, "reference": "a", "status": "unknown"},
            {"seq": 2, "reference": "b", "status": "unknown"},
            {"seq": 3, "reference": "c", "status": "unknown"}], "last_seq": 3}))
        .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn serve_broken_bank() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, Router::new().fallback(broken_bank))
            .await
            .unwrap();
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transfer_answers_are_classified_safely() {
    let base = serve_broken_bank().await;
    let o = order_for("r1", "a", "b", 5, 10_000);
    let bank = |mode: &str| {
        // Generous: under load, 9 MB over loopback can take a while; only "hang" must time out.
        let ms = if mode == "hang" { 300 } else { 5_000 };
        HttpBank::with_timeout(&format!("{base}/{mode}"), Duration::from_millis(ms)).unwrap()
    };
    // Anything that might hide an execution is ambiguous.
    for mode in [
        "garbage",
        "wrongref",
        "contradict",
        "unknown",
        "newcode",
        "huge",
        "redirect",
        "e500",
    ] {
        let err = bank(mode).pull(&o).await.unwrap_err();
        assert!(matches!(err, BankError::Transport(_)), "{mode}: {err:?}");
        assert!(err.is_ambiguous(), "{mode}");
        let err = bank(mode).pay(&o).await.unwrap_err();
        assert!(err.is_ambiguous(), "{mode}");
    }
    assert_eq!(bank("hang").pull(&o).await, Err(BankError::Timeout));
    // A refusal to read the request cannot have executed it.
    for mode in ["e400", "e404"] {
        let err = bank(mode).pull(&o).await.unwrap_err();
        assert!(matches!(err, BankError::Protocol(_)), "{mode}: {err:?}");
        assert!(!err.is_ambiguous());
    }
    let BankError::Transport(msg) = bank("e500").pull(&o).await.unwrap_err() else {
        panic!()
    };
    assert!(msg.contains("boom") && msg.contains("down"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_answers_are_checked() {
    let base = serve_broken_bank().await;
    let bank = |mode: &str| {
        // Generous: under load, 9 MB over loopback can take a while; only "hang" must time out.
        let ms = if mode == "hang" { 300 } else { 5_000 };
        HttpBank::with_timeout(&format!("{base}/{mode}"), Duration::from_millis(ms)).unwrap()
    };
    let r = reference("r1");
    for mode in ["garbage", "wrongref", "huge", "e404", "redirect"] {
        let err = bank(mode).status(&r).await.unwrap_err();
        assert!(matches!(err, BankError::Protocol(_)), "{mode}: {err:?}");
    }
    assert!(matches!(
        bank("e500").status(&r).await,
        Err(BankError::Transport(_))
    ));
    assert_eq!(bank("hang").status(&r).await, Err(BankError::Timeout));
    assert_eq!(bank("unknown").status(&r).await, Ok(OrderStatus::Unknown));
    for mode in ["loop", "emptycursor", "badcursor", "garbage"] {
        let err = bank(mode)
            .statement(&acct("a"), 0, u64::MAX)
            .await
            .unwrap_err();
        assert!(matches!(err, BankError::Protocol(_)), "{mode}: {err:?}");
    }
    // Lines outside the asked window are refused, not passed on.
    assert!(bank("loop").statement(&acct("a"), 10, 20).await.is_err());
    for (mode, limit) in [("disorder", 10), ("toomany", 2), ("huge", 10)] {
        let err = bank(mode).answers(0, limit).await.unwrap_err();
        assert!(matches!(err, BankError::Protocol(_)), "{mode}: {err:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_bank_at_all() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let c = HttpBank::new(&url).unwrap();
    let err = c
        .pull(&order_for("r1", "a", "b", 5, 10_000))
        .await
        .unwrap_err();
    assert!(matches!(err, BankError::Transport(_)), "{err:?}");
    assert!(err.is_ambiguous());
    assert!(matches!(
        c.status(&reference("r1")).await,
        Err(BankError::Transport(_))
    ));
}

#[test]
fn base_urls_are_checked() {
    for bad in [
        "https://bank.example",
        "ftp://x",
        "not a url",
        "http://x/?q=1",
        "mailto:x@y",
    ] {
        assert!(HttpBank::new(bad).is_err(), "{bad}");
    }
    assert!(HttpBank::with_timeout("http://x", Duration::ZERO).is_err());
    let c = HttpBank::new("http://127.0.0.1:9/bank/").unwrap();
    assert_eq!(c.base_url(), "http://127.0.0.1:9/bank/");
    assert_eq!(c.timeout(), HttpBank::DEFAULT_TIMEOUT);
}
