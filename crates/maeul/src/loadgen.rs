//! `maeul loadgen`: drives a running server over real HTTP, as citizens would, and
//! prints throughput, latency percentiles per operation, and errors by code.
//!
//! Set-up (not timed): signs up `citizens` citizens, opens their accounts at the
//! simulated bank, links them through the verification flow (the 1-won code read from
//! the account's statement) and charges each. Then, for `seconds`, either a closed
//! loop (`concurrency` clients, each sending its next request when the last answered)
//! or a fixed offered rate (`rate` requests a second, at most `concurrency` in flight;
//! one that would exceed it is counted as dropped by the client). The mix: payments to
//! the demo's merchants (a share to one very busy merchant), 80% less the charges; wallet
//! reads, 20%; charges through the (simulated) bank, `charge_percent` (default 1%);
//! sign-ins, one in `sign_in_every` (default 2,000).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub url: String,
    pub bank_url: String,
    pub currency: String,
    pub citizens: usize,
    pub merchants: Vec<u64>,
    pub seconds: u64,
    /// Offered requests per second; `None`: closed loop.
    pub rate: Option<u64>,
    pub concurrency: usize,
    /// Percent of payments to the first merchant.
    pub hot_percent: u8,
    /// One request in this many is a sign-in (0: none).
    pub sign_in_every: u64,
    /// Percent of requests that are charges through the bank.
    pub charge_percent: u8,
    /// What each citizen charges at set-up (won).
    pub setup_face: i64,
}

#[derive(Debug, Default)]
struct Tally {
    latency: BTreeMap<&'static str, Histogram<u64>>,
    errors: BTreeMap<String, u64>,
    dropped: u64,
}

impl Tally {
    /// Latency is of admitted requests: answers the server gave (including its refusals
    /// under the rules), not shed ones (503/429) or transport failures, which are counted
    /// under errors only.
    fn record(&mut self, op: &'static str, us: u64, outcome: Result<(), String>) {
        let h = self.latency.entry(op).or_insert_with(|| {
            Histogram::new_with_bounds(1, 60_000_000, 3)
                .unwrap_or_else(|_| unreachable!("valid bounds"))
        });
        let shed = outcome.as_ref().is_err_and(|code| {
            code.starts_with("503") || code.starts_with("429") || code.starts_with("transport")
        });
        if !shed {
            let _ = h.record(us.max(1));
        }
        if let Err(code) = outcome {
            *self.errors.entry(format!("{op}: {code}")).or_default() += 1;
        }
    }
}

pub(crate) struct Citizen {
    pub(crate) token: String,
    pub(crate) login: String,
}

async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    key: Option<String>,
    body: Value,
) -> anyhow::Result<(u16, Value)> {
    post_with_ticket(http, url, token, key, body, None).await
}

/// `post` with a waiting-room ticket (`Maeul-Ticket`), if there is one.
async fn post_with_ticket(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    key: Option<String>,
    body: Value,
    ticket: Option<&str>,
) -> anyhow::Result<(u16, Value)> {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    if let Some(t) = ticket {
        req = req.header("Maeul-Ticket", t);
    }
    let res = req.send().await?;
    let status = res.status().as_u16();
    let value = res.json().await.unwrap_or(Value::Null);
    Ok((status, value))
}

/// `post`, waiting as told and trying again while the server answers 429 or 503 (set-up
/// only: the timed run counts those as errors). A waiting-room ticket is sent back, so
/// that the place in line is kept.
async fn post_patiently(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    key: Option<String>,
    body: Value,
) -> anyhow::Result<(u16, Value)> {
    let mut ticket: Option<String> = None;
    for _ in 0..SET_UP_TRIES {
        let (s, v) = post_with_ticket(
            http,
            url.clone(),
            token,
            key.clone(),
            body.clone(),
            ticket.as_deref(),
        )
        .await?;
        if s != 429 && s != 503 {
            return Ok((s, v));
        }
        if let Some(t) = v["fields"]["ticket"].as_str() {
            ticket = Some(t.to_owned());
        }
        let told = v["fields"]["retry_after_s"].as_f64().unwrap_or(0.5);
        tokio::time::sleep(Duration::from_secs_f64(told.clamp(0.1, 5.0))).await;
    }
    anyhow::bail!("{url}: still refused after {SET_UP_TRIES} tries")
}

/// Links the citizen's bank account as a person does: the holder check and the 1-won
/// deposit, the code read from the account's statement at the simulated bank (memo
/// `maeul NNNN`), then the consent.
async fn link_bank(
    http: &reqwest::Client,
    o: &LoadOptions,
    token: &str,
    bank_account: &str,
    holder: &str,
) -> anyhow::Result<()> {
    let (s, v) = post_patiently(
        http,
        format!("{}/api/v1/me/bank-account/verification", o.url),
        Some(token),
        Some(format!("setup-verify-{bank_account}")),
        json!({"bank_account": bank_account, "holder_name": holder, "password": "load-test-password"}),
    )
    .await?;
    anyhow::ensure!(s == 201 || s == 202, "verification: {s} {v}");
    let id = v["id"].as_str().context("verification id")?.to_owned();
    let mut status = v["status"].as_str().unwrap_or_default().to_owned();
    for _ in 0..SET_UP_TRIES {
        if status != "in_progress" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let v: Value = http
            .get(format!(
                "{}/api/v1/me/bank-account/verification/{id}",
                o.url
            ))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        status = v["status"].as_str().unwrap_or_default().to_owned();
    }
    anyhow::ensure!(status == "code_sent", "verification: {status}");
    let statement: Value = http
        .get(format!(
            "{}/v1/accounts/{bank_account}/statement",
            o.bank_url
        ))
        .send()
        .await?
        .json()
        .await?;
    let code = statement["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .filter(|l| l["amount"] == 1)
        .find_map(|l| l["memo"].as_str()?.strip_prefix("maeul "))
        .context("no verification deposit on the statement")?
        .to_owned();
    let (s, v) = post_patiently(
        http,
        format!("{}/api/v1/me/bank-account/verification/{id}/confirm", o.url),
        Some(token),
        Some(format!("setup-confirm-{bank_account}")),
        json!({"code": code, "consent": true}),
    )
    .await?;
    anyhow::ensure!(s == 200, "confirm: {s} {v}");
    Ok(())
}

/// Set-up requests are tried this often (half a second apart) before giving up.
const SET_UP_TRIES: usize = 240;

pub(crate) async fn set_up(
    o: &LoadOptions,
    http: &reqwest::Client,
    run: u64,
) -> anyhow::Result<Vec<Citizen>> {
    let mut citizens = Vec::with_capacity(o.citizens);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..o.citizens {
        let (o, http) = (o.clone(), http.clone());
        tasks.spawn(async move {
            let login = format!("load-{run}-{i}");
            let (s, v) = post_patiently(
                &http,
                format!("{}/api/v1/citizens", o.url),
                None,
                None,
                json!({
                    "login": login, "password": "load-test-password", "pin": "123456",
                    "birth_year": 1960 + (i % 40), "currency": o.currency,
                }),
            )
            .await?;
            anyhow::ensure!(s == 201, "sign-up: {s} {v}");
            let (s, v) = post_patiently(
                &http,
                format!("{}/api/v1/sessions", o.url),
                None,
                None,
                json!({"login": login, "password": "load-test-password"}),
            )
            .await?;
            anyhow::ensure!(s == 200, "sign-in: {s} {v}");
            let token = v["token"].as_str().context("token")?.to_owned();
            let bank_account = format!("L{run:04}-{i:06}");
            let (s, v) = post(
                &http,
                format!("{}/v1/accounts", o.bank_url),
                None,
                None,
                json!({"number": bank_account, "holder": login, "balance": 10_000_000}),
            )
            .await?;
            anyhow::ensure!(s == 200 || s == 201, "bank account: {s} {v}");
            link_bank(&http, &o, &token, &bank_account, &login).await?;
            let (s, v) = post(
                &http,
                format!("{}/api/v1/me/charges", o.url),
                Some(&token),
                Some(format!("setup-charge-{i}")),
                // Most of the monthly purchase limit (1,000,000 in the Busan-like
                // scheme) by default: the run's own 10,000-won charges use the rest.
                json!({"face": o.setup_face, "full_price_ok": true}),
            )
            .await?;
            anyhow::ensure!(s == 200 && v["status"] == "charged", "charge: {s} {v}");
            Ok::<Citizen, anyhow::Error>(Citizen { token, login })
        });
        while tasks.len() >= 16 {
            if let Some(r) = tasks.join_next().await {
                citizens.push(r??);
            }
        }
    }
    while let Some(r) = tasks.join_next().await {
        citizens.push(r??);
    }
    Ok(citizens)
}

/// One request of the mix; returns its operation and outcome.
async fn one(
    http: &reqwest::Client,
    o: &LoadOptions,
    citizens: &[Citizen],
    n: u64,
) -> (&'static str, Result<(), String>) {
    let c = &citizens[(n as usize).wrapping_mul(2_654_435_761) % citizens.len()];
    let roll = n % 100;
    let (op, req) = if o.sign_in_every > 0 && n % o.sign_in_every == o.sign_in_every - 1 {
        // Rare, as in life: a sign-in costs a password hash (tens of milliseconds of CPU).
        (
            "sign_in",
            http.post(format!("{}/api/v1/sessions", o.url))
                .json(&json!({"login": c.login, "password": "load-test-password"})),
        )
    } else if roll >= 100 - u64::from(o.charge_percent.min(20)) {
        // Spread over every citizen (not the few `n` picks when n ends in 99).
        let c = &citizens[(n as usize / 100).wrapping_mul(2_654_435_761) % citizens.len()];
        (
            "charge",
            http.post(format!("{}/api/v1/me/charges", o.url))
                .bearer_auth(&c.token)
                .header("Idempotency-Key", format!("load-charge-{n}"))
                .json(&json!({"face": 10_000, "full_price_ok": true})),
        )
    } else if roll < 80 {
        let merchant = if (n / 100 % 100) < u64::from(o.hot_percent) {
            o.merchants[0]
        } else {
            o.merchants[(n as usize / 7) % o.merchants.len()]
        };
        (
            "payment",
            http.post(format!("{}/api/v1/me/payments", o.url))
                .bearer_auth(&c.token)
                .header("Idempotency-Key", format!("load-{n}"))
                .json(
                    &json!({"merchant": merchant, "amount": 100 + (n % 50) * 10, "pin": "123456"}),
                ),
        )
    } else {
        (
            "balance",
            http.get(format!("{}/api/v1/me/wallet", o.url))
                .bearer_auth(&c.token),
        )
    };
    match req.send().await {
        Ok(res) if res.status().is_success() => {
            let _ = res.bytes().await;
            (op, Ok(()))
        }
        Ok(res) => {
            let status = res.status().as_u16();
            let code = res
                .json::<Value>()
                .await
                .ok()
                .and_then(|v| v["code"].as_str().map(str::to_owned))
                .unwrap_or_default();
            (op, Err(format!("{status} {code}")))
        }
        Err(e) => (
            op,
            Err(format!(
                "transport {}",
                if e.is_timeout() { "timeout" } else { "error" }
            )),
        ),
    }
}

pub async fn run(o: LoadOptions) -> anyhow::Result<()> {
    anyhow::ensure!(
        !o.merchants.is_empty() && o.citizens > 0,
        "need citizens and merchants"
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(o.concurrency.max(1))
        .build()?;
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        % 10_000;
    eprintln!("setting up {} citizens...", o.citizens);
    let setup_started = Instant::now();
    let citizens = Arc::new(set_up(&o, &http, run_id).await?);
    eprintln!(
        "set up in {:.1} s; running for {} s",
        setup_started.elapsed().as_secs_f64(),
        o.seconds
    );

    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(o.seconds);
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    match o.rate {
        None => {
            for _ in 0..o.concurrency.max(1) {
                let (http, o, citizens, tally, next) = (
                    http.clone(),
                    o.clone(),
                    Arc::clone(&citizens),
                    Arc::clone(&tally),
                    Arc::clone(&next),
                );
                workers.spawn(async move {
                    while Instant::now() < deadline {
                        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let t = Instant::now();
                        let (op, r) = one(&http, &o, &citizens, n).await;
                        tally.lock().record(op, t.elapsed().as_micros() as u64, r);
                    }
                });
            }
        }
        Some(rate) => {
            let in_flight = Arc::new(tokio::sync::Semaphore::new(o.concurrency.max(1)));
            let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
            let mut n = 0u64;
            while Instant::now() < deadline {
                let due = started + interval * (n as u32);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    tokio::time::sleep(wait).await;
                }
                n += 1;
                let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
                    tally.lock().dropped += 1;
                    continue;
                };
                let (http, o, citizens, tally) = (
                    http.clone(),
                    o.clone(),
                    Arc::clone(&citizens),
                    Arc::clone(&tally),
                );
                // The request's latency counts from when it was due, not when sent.
                workers.spawn(async move {
                    let (op, r) = one(&http, &o, &citizens, n).await;
                    tally.lock().record(op, due.elapsed().as_micros() as u64, r);
                    drop(permit);
                });
            }
        }
    }
    while workers.join_next().await.is_some() {}
    let elapsed = started.elapsed().as_secs_f64();
    let t = tally.lock();
    println!(
        "\n| operation | admitted | per second | p50 ms | p99 ms | p999 ms | max ms |\n|---|---|---|---|---|---|---|"
    );
    for (op, h) in &t.latency {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "| {op} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            h.len(),
            h.len() as f64 / elapsed,
            ms(0.5),
            ms(0.99),
            ms(0.999),
            h.max() as f64 / 1000.0
        );
    }
    println!(
        "\nmode: {}, {} s, {} citizens, {} merchants ({}% of payments to one), charges {}%, a sign-in every {} requests{}",
        o.rate.map_or(
            format!("closed loop, {} clients", o.concurrency),
            |r| format!("offered {r}/s, at most {} in flight", o.concurrency)
        ),
        o.seconds,
        o.citizens,
        o.merchants.len(),
        o.hot_percent,
        o.charge_percent,
        o.sign_in_every,
        if t.dropped > 0 {
            format!(", {} not sent (client at its in-flight limit)", t.dropped)
        } else {
            String::new()
        }
    );
    if t.errors.is_empty() {
        println!("errors: none");
    } else {
        println!("errors by code:");
        for (code, n) in &t.errors {
            println!("  {code}: {n}");
        }
    }
    Ok(())
}
