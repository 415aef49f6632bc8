//! Load: how much do idle live payment streams cost another user's payments?
//!
//! Starts the real HTTP server on 127.0.0.1 (journal on disk, one fdatasync per write
//! group), then per round measures one citizen's payments (closed loop, `CONCURRENCY`
//! clients, cash-back on every payment) for `SECONDS` each with:
//! - no live streams open (the baseline of the round);
//! - `STREAMS` streams opened by one other citizen (the cap on streams per user refuses
//!   most of them where there is one: the refusals are counted);
//! - `STREAMS` streams spread over enough other citizens to stay within that cap.
//!
//! Prints payments/s and p99 latency per phase, and medians and ratios to the baseline
//! over the rounds (the machine is noisy: compare ratios). Ignored by default:
//!
//! ```sh
//! cargo test --release -p server --test streams_load -- --ignored --nocapture
//! ```
//!
//! Knobs (environment): `MAEUL_STREAMS` (1500), `MAEUL_STREAMS_PER_CITIZEN` (4),
//! `MAEUL_STREAMS_SECONDS` (5), `MAEUL_STREAMS_ROUNDS` (3), `MAEUL_STREAMS_CONCURRENCY` (4).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::EngineOptions;
use ledger::scheme::SchemeCommand;
use ledger::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

mod common;

use common::Service;
const PASSWORD: &str = "s3cret-pass";
const PIN: &str = "123456";

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The server as `e2e.rs` starts it, with the per-user write limit and the per-address
/// sign-up limit lifted (one load generator signs everyone up and pays as fast as it
/// can), and a counter for idempotency keys.
struct Load {
    svc: Service,
    key: std::sync::atomic::AtomicU64,
}

impl std::ops::Deref for Load {
    type Target = Service;

    fn deref(&self) -> &Service {
        &self.svc
    }
}

async fn start() -> Load {
    let unlimited = service::limits::WriteLimit {
        per_second: 1_000_000,
        burst: 1_000_000,
    };
    let svc = common::start_tuned_full(
        EngineOptions::default(),
        unlimited,
        unlimited,
        service::bank_link::Settings::default(),
        |s| s,
    )
    .await;
    Load {
        svc,
        key: std::sync::atomic::AtomicU64::new(1_000),
    }
}

impl Load {
    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(
                "Idempotency-Key",
                format!(
                    "k-{}",
                    self.key.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                ),
            )
            .json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A signed-in citizen: token and wallet.
    async fn citizen(&self, login: &str) -> (String, u64) {
        let (s, v) = self
            .post(
                "/api/v1/citizens",
                None,
                json!({"login": login, "password": PASSWORD, "pin": PIN, "birth_year": 1980, "currency": "busan"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let wallet = v["account"].as_u64().unwrap();
        (self.sign_in(login, PASSWORD).await, wallet)
    }

    /// Puts `face` won on a wallet the way the demo does (a posted purchase straight
    /// through the engine: the bank is not what is measured here).
    async fn fund(&self, wallet: u64, face: i64) {
        let key = self.key.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out = self
            .engine
            .submit(vec![Envelope {
                client: ClientId(9),
                key: IdempotencyKey(u128::from(key)),
                command: Command::Scheme(Box::new(SchemeCommand::Purchase {
                    wallet: WalletId::new(wallet),
                    face: Won::new(face),
                    channel: 0,
                    full_price_ok: true,
                    pending_timeout_us: None,
                })),
            }])
            .unwrap()
            .outcome()
            .await
            .unwrap();
        assert!(out.iter().all(Outcome::is_applied), "{out:?}");
    }

    async fn merchant(&self) -> u64 {
        let operator = self
            .sign_in("operator-busan", "correct horse battery")
            .await;
        let brn = directory::Brn::from_prefix(123_450_001)
            .unwrap()
            .to_string();
        let (s, m) = self
            .post(
                "/api/v1/merchants",
                None,
                json!({"login": "shop", "password": PASSWORD, "currency": "busan",
                       "category": 5812, "annual_revenue": 100000000, "brn": brn, "name": "shop"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        let id = m["account"].as_u64().unwrap();
        let (s, v) = self
            .post(
                &format!("/api/v1/operator/busan/merchants/{id}/approve"),
                Some(&operator),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
        id
    }
}

/// Live streams held open (dropping them closes their connections).
struct Streams {
    open: Vec<reqwest::Response>,
    refused: BTreeMap<u16, usize>,
}

/// Opens one stream per token (a token may repeat), 64 at a time, on their own
/// connections.
async fn open_streams(base: &str, tokens: &[String]) -> Streams {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut streams = Streams {
        open: Vec::new(),
        refused: BTreeMap::new(),
    };
    for chunk in tokens.chunks(64) {
        let answers = futures_util::future::join_all(chunk.iter().map(|t| {
            http.get(format!("{base}/api/v1/me/payments/live"))
                .bearer_auth(t)
                .send()
        }))
        .await;
        for a in answers {
            let a = a.unwrap();
            if a.status() == StatusCode::OK {
                streams.open.push(a);
            } else {
                *streams.refused.entry(a.status().as_u16()).or_default() += 1;
            }
        }
    }
    streams
}

#[derive(Debug, Clone, Copy)]
struct Measured {
    payments_per_s: u64,
    p50_us: u64,
    p99_us: u64,
}

/// One citizen pays the merchant for `seconds`, `concurrency` requests at a time.
async fn drive(
    svc: &Arc<Load>,
    payer: &str,
    merchant: u64,
    seconds: u64,
    concurrency: u64,
) -> Measured {
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let svc = Arc::clone(svc);
            let payer = payer.to_owned();
            tokio::spawn(async move {
                let mut latencies_us = Vec::new();
                let mut errors = BTreeMap::<String, u64>::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    let (s, v) = svc
                        .post(
                            "/api/v1/me/payments",
                            Some(&payer),
                            json!({"merchant": merchant, "amount": 10, "pin": PIN}),
                        )
                        .await;
                    if s == StatusCode::OK {
                        latencies_us.push(t.elapsed().as_micros() as u64);
                    } else {
                        *errors.entry(format!("{s} {}", v["code"])).or_default() += 1;
                    }
                }
                (latencies_us, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = BTreeMap::<String, u64>::new();
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        for (k, n) in e {
            *errors.entry(k).or_default() += n;
        }
    }
    let elapsed_us = started.elapsed().as_micros().max(1) as u64;
    assert!(errors.is_empty(), "payments refused: {errors:?}");
    all.sort_unstable();
    let at = |q: u64| {
        all.get((all.len() as u64 * q / 100) as usize)
            .copied()
            .unwrap_or(0)
    };
    Measured {
        payments_per_s: all.len() as u64 * 1_000_000 / elapsed_us,
        p50_us: at(50),
        p99_us: at(99),
    }
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

fn ms(us: u64) -> String {
    format!("{}.{:02}", us / 1_000, (us % 1_000) / 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load benchmark: run with --ignored --nocapture (see the module doc)"]
async fn payments_with_many_idle_live_streams() {
    let streams = knob("MAEUL_STREAMS", 1_500) as usize;
    let per_citizen = knob("MAEUL_STREAMS_PER_CITIZEN", 4).max(1) as usize;
    let seconds = knob("MAEUL_STREAMS_SECONDS", 5);
    let rounds = knob("MAEUL_STREAMS_ROUNDS", 3);
    let concurrency = knob("MAEUL_STREAMS_CONCURRENCY", 4);
    let svc = Arc::new(start().await);
    let merchant = svc.merchant().await;
    let (listener, _) = svc.citizen("listener").await;

    let phases = ["none", "one citizen", "spread"];
    let mut results: BTreeMap<&str, Vec<Measured>> = BTreeMap::new();
    println!(
        "\n{streams} streams, ≤ {per_citizen} per citizen when spread; {seconds} s per phase; {concurrency} paying clients; {rounds} rounds\n"
    );
    println!("| round | streams | open | refused | payments/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|---|");
    for round in 0..rounds {
        // A new payer each round: 10-won payments, far within its balance.
        let (payer, wallet) = svc.citizen(&format!("payer-{round}")).await;
        svc.fund(wallet, 1_000_000).await;
        // A few payments first: connections and caches warm.
        drive(&svc, &payer, merchant, 1, concurrency).await;
        for phase in phases {
            let tokens: Vec<String> = match phase {
                "none" => Vec::new(),
                "one citizen" => vec![listener.clone(); streams],
                _ => {
                    let mut tokens = Vec::with_capacity(streams);
                    let citizens = streams.div_ceil(per_citizen);
                    // 32 sign-ups at a time: well within the server's in-flight limit.
                    let mut signed_up = Vec::with_capacity(citizens);
                    for chunk in (0..citizens).collect::<Vec<_>>().chunks(32) {
                        signed_up.extend(
                            futures_util::future::join_all(
                                chunk.iter().map(|i| svc.citizen_token(round, *i)),
                            )
                            .await,
                        );
                    }
                    for t in signed_up {
                        for _ in 0..per_citizen {
                            if tokens.len() < streams {
                                tokens.push(t.clone());
                            }
                        }
                    }
                    tokens
                }
            };
            let open = open_streams(&svc.base, &tokens).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let m = drive(&svc, &payer, merchant, seconds, concurrency).await;
            println!(
                "| {round} | {phase} | {} | {:?} | {} | {} | {} |",
                open.open.len(),
                open.refused,
                m.payments_per_s,
                ms(m.p50_us),
                ms(m.p99_us)
            );
            results.entry(phase).or_default().push(m);
            drop(open);
            // Let the server see the connections close.
            tokio::time::sleep(Duration::from_millis(1_000)).await;
        }
    }
    let base_rate = median(results["none"].iter().map(|m| m.payments_per_s).collect());
    let base_p99 = median(results["none"].iter().map(|m| m.p99_us).collect());
    println!("\n| streams | payments/s (median) | vs none | p99 ms (median) | vs none |");
    println!("|---|---|---|---|---|");
    for phase in phases {
        let rate = median(results[phase].iter().map(|m| m.payments_per_s).collect());
        let p99 = median(results[phase].iter().map(|m| m.p99_us).collect());
        // Ratios in hundredths, integer arithmetic.
        let rate_ratio = rate * 100 / base_rate.max(1);
        let p99_ratio = p99 * 100 / base_p99.max(1);
        println!(
            "| {phase} | {rate} | {}.{:02}× | {} | {}.{:02}× |",
            rate_ratio / 100,
            rate_ratio % 100,
            ms(p99),
            p99_ratio / 100,
            p99_ratio % 100
        );
    }
}

impl Load {
    async fn citizen_token(&self, round: u64, i: usize) -> String {
        self.citizen(&format!("listener-{round}-{i}")).await.0
    }
}
