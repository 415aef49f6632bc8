//! `maeul loadgen --scenario`: a hard day, played by clients that behave like apps.
//!
//! Each scenario is a surge of one kind of request at `times` × what the server was just
//! measured to serve of it, over steady counter payments at a third of what it serves of
//! those. The payments go on all the while, as at real shops: before the surge (its
//! capacity is measured beside them), through it and through its backlog.
//!
//! | scenario | the surge | counter payments |
//! |---|---|---|
//! | `first-of-month` | charges (90%) and wallet reads (the discounted month opens) | to 100 merchants |
//! | `launch` | sign-ups and sign-ins, half each (the app's first day) | to 100 merchants |
//! | `market-day` | wallet reads and histories (people checking before they pay) | 20% to one merchant |
//!
//! Every arrival is a client of its own that follows the server as an app would: told
//! `busy`, it comes back after `Retry-After`; handed a ticket, it comes back with it when
//! told (at the estimated wait, or `Retry-After` if sooner), until it is answered or two
//! minutes pass; a connection the server closed (it holds its most) is tried again in a
//! second. The surge's arrivals stop after `seconds`; the run ends when every client of
//! it is answered or `drain` seconds later. `--journeys-csv` writes every client's
//! journey (arrival, first wait told, wait, requests) for a closer look.
//!
//! Reported per class: arrivals, answered, let in at the first try, handed a ticket, told
//! busy, gave up; p50/p99 of the admitted request and of the whole journey; the median
//! error of the waits the tickets told (|told − waited| / waited); goodput against the
//! measured capacity, both while the arrivals last and while their backlog does (until
//! 99% of the surge is answered).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::loadgen::{Citizen, LoadOptions};

/// A hard day to play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    FirstOfMonth,
    Launch,
    MarketDay,
}

impl std::str::FromStr for Scenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Scenario, String> {
        match s {
            "first-of-month" => Ok(Scenario::FirstOfMonth),
            "launch" => Ok(Scenario::Launch),
            "market-day" => Ok(Scenario::MarketDay),
            other => Err(format!(
                "`{other}`: the scenarios are first-of-month, launch, market-day"
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ScenarioOptions {
    pub load: LoadOptions,
    pub scenario: Scenario,
    /// The surge, in multiples of the measured capacity for it.
    pub times: u32,
    /// Clients alive at most (arrivals beyond are counted as not sent).
    pub clients_max: usize,
    /// Seconds after the arrivals stop that the run waits for clients still waiting.
    pub drain: u64,
    /// Where to write one CSV line per client (its class, arrival, first wait told,
    /// wait, returns), to look into the estimates.
    pub journeys_csv: Option<std::path::PathBuf>,
}

/// A client gives up after this long.
const PATIENCE: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Payment,
    HotPayment,
    Charge,
    SignIn,
    SignUp,
    Balance,
    History,
}

impl Op {
    fn class(self) -> &'static str {
        match self {
            Op::Payment | Op::HotPayment => "counter",
            Op::Charge => "charge",
            Op::SignIn => "sign_in",
            Op::SignUp => "sign_up",
            Op::Balance | Op::History => "browse",
        }
    }
}

impl Scenario {
    /// The surge's requests, by weight.
    fn surge(self) -> &'static [(Op, u32)] {
        match self {
            Scenario::FirstOfMonth => &[(Op::Charge, 90), (Op::Balance, 10)],
            Scenario::Launch => &[(Op::SignUp, 50), (Op::SignIn, 50)],
            Scenario::MarketDay => &[(Op::Balance, 60), (Op::History, 40)],
        }
    }

    /// The counter payments' share that goes to one merchant.
    fn hot_percent(self) -> u64 {
        match self {
            Scenario::MarketDay => 20,
            _ => 0,
        }
    }
}

fn pick(mix: &[(Op, u32)], n: u64) -> Op {
    let total: u64 = mix.iter().map(|(_, w)| u64::from(*w)).sum();
    let mut roll = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) % total.max(1);
    for (op, w) in mix {
        if roll < u64::from(*w) {
            return *op;
        }
        roll -= u64::from(*w);
    }
    mix[0].0
}

/// One request of `op`, with the ticket if the client holds one.
fn request(
    http: &reqwest::Client,
    o: &ScenarioOptions,
    citizens: &[Citizen],
    op: Op,
    n: u64,
    run: u64,
    ticket: Option<&str>,
) -> reqwest::RequestBuilder {
    let l = &o.load;
    let c = &citizens[(n as usize).wrapping_mul(2_654_435_761) % citizens.len()];
    let req = match op {
        Op::Payment | Op::HotPayment => {
            let merchant = if op == Op::HotPayment {
                l.merchants[0]
            } else {
                l.merchants[(n as usize / 7) % l.merchants.len()]
            };
            http.post(format!("{}/api/v1/me/payments", l.url))
                .bearer_auth(&c.token)
                .header("Idempotency-Key", format!("scn-{run}-{n}"))
                .json(
                    &json!({"merchant": merchant, "amount": 100 + (n % 50) * 10, "pin": "123456"}),
                )
        }
        Op::Charge => http
            .post(format!("{}/api/v1/me/charges", l.url))
            .bearer_auth(&c.token)
            .header("Idempotency-Key", format!("scn-{run}-{n}"))
            .json(&json!({"face": 10_000, "full_price_ok": true})),
        Op::SignIn => http
            .post(format!("{}/api/v1/sessions", l.url))
            .json(&json!({"login": c.login, "password": "load-test-password"})),
        Op::SignUp => http
            .post(format!("{}/api/v1/citizens", l.url))
            .json(&json!({
                "login": format!("scn-{run}-{n}"), "password": "load-test-password",
                "pin": "123456", "birth_year": 1960 + (n % 40), "currency": l.currency,
            })),
        Op::Balance => http
            .get(format!("{}/api/v1/me/wallet", l.url))
            .bearer_auth(&c.token),
        Op::History => http
            .get(format!("{}/api/v1/me/history", l.url))
            .bearer_auth(&c.token),
    };
    match ticket {
        Some(t) => req.header("maeul-ticket", t),
        None => req,
    }
}

/// What became of one client.
#[derive(Debug, Default)]
struct Journey {
    answered: bool,
    first_try: bool,
    ticketed: bool,
    busy: bool,
    /// The admitted request's own time, and the whole journey's.
    last_us: u64,
    total_us: u64,
    /// The first wait told, and how long it took from then to be let in (until the
    /// request that was let in was sent: its own time is not waiting).
    told_waited: Option<(f64, f64)>,
    /// Requests sent, and of them answered "let in, but no place was free" (position 0).
    tries: u32,
    no_place: u32,
    /// Answered before the arrivals stopped.
    in_surge: bool,
    /// A 5xx other than 503, or a 503 without Retry-After.
    bad: Option<String>,
    /// A request could not be made or answered (the kind of the last failure).
    failed: Option<&'static str>,
}

/// The kind of a failed request, to tell the server's doing from the client's.
fn failure(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    }
}

#[allow(clippy::too_many_arguments)]
async fn journey(
    http: reqwest::Client,
    o: Arc<ScenarioOptions>,
    citizens: Arc<Vec<Citizen>>,
    op: Op,
    n: u64,
    run: u64,
    surge_ends: Instant,
) -> Journey {
    let started = Instant::now();
    let mut j = Journey::default();
    let mut ticket: Option<String> = None;
    let mut told: Option<(Instant, f64)> = None;
    loop {
        let sent = Instant::now();
        j.tries += 1;
        let res = request(&http, &o, &citizens, op, n, run, ticket.as_deref())
            .send()
            .await;
        let res = match res {
            Ok(r) => r,
            Err(e) => {
                let kind = failure(&e);
                j.failed = Some(kind);
                // A connection the server closed (it holds its most) is tried again in
                // a second, as an app would; a request that timed out is given up.
                if kind == "timeout" || started.elapsed() + Duration::from_secs(1) > PATIENCE {
                    return j;
                }
                j.busy = true;
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let status = res.status().as_u16();
        if status != 503 {
            let _ = res.bytes().await;
            if status >= 500 {
                j.bad = Some(format!("{status}"));
            }
            j.answered = true;
            j.first_try = !j.ticketed && !j.busy;
            j.last_us = sent.elapsed().as_micros() as u64;
            j.total_us = started.elapsed().as_micros() as u64;
            j.in_surge = Instant::now() <= surge_ends;
            j.told_waited = told.map(|(at, est)| (est, sent.duration_since(at).as_secs_f64()));
            return j;
        }
        let retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<f64>().ok());
        let Some(retry_after) = retry_after else {
            j.bad = Some("503 without Retry-After".into());
            return j;
        };
        let body: Value = res.json().await.unwrap_or(Value::Null);
        let mut wait = retry_after;
        if body["code"] == "waiting_room" {
            j.ticketed = true;
            ticket = body["fields"]["ticket"].as_str().map(str::to_owned);
            let estimate = body["fields"]["estimated_wait_s"]
                .as_f64()
                .unwrap_or(retry_after);
            if told.is_none() {
                told = Some((sent, estimate));
            }
            j.no_place += u32::from(body["fields"]["position"].as_u64() == Some(0));
            // An app that reads the answer comes back at the estimate when it is sooner
            // than Retry-After (a whole number of seconds).
            wait = wait.min(estimate + 0.05).max(0.05);
        } else {
            j.busy = true;
        }
        if started.elapsed() + Duration::from_secs_f64(wait) > PATIENCE {
            return j;
        }
        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    }
}

/// Serves `mix` closed-loop with 64 patient clients (each follows Retry-After and its
/// ticket, then starts its next request) for `seconds`: answers a second.
async fn capacity(
    http: &reqwest::Client,
    o: &Arc<ScenarioOptions>,
    citizens: &Arc<Vec<Citizen>>,
    mix: &'static [(Op, u32)],
    seconds: f64,
    run: u64,
    first_n: u64,
) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let next = Arc::new(std::sync::atomic::AtomicU64::new(first_n));
    let answered = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    let started = Instant::now();
    for _ in 0..64 {
        let (http, o, citizens, next, answered) = (
            http.clone(),
            Arc::clone(o),
            Arc::clone(citizens),
            Arc::clone(&next),
            Arc::clone(&answered),
        );
        workers.spawn(async move {
            while Instant::now() < deadline {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let op = pick(mix, n);
                let j = journey(
                    http.clone(),
                    Arc::clone(&o),
                    Arc::clone(&citizens),
                    op,
                    n,
                    run,
                    deadline,
                )
                .await;
                if j.in_surge {
                    answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    answered.load(std::sync::atomic::Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Open-loop arrivals of a mix: a client of its own for each.
struct Arrivals {
    http: reqwest::Client,
    o: Arc<ScenarioOptions>,
    citizens: Arc<Vec<Citizen>>,
    run: u64,
    mix: &'static [(Op, u32)],
    /// Arrivals a second.
    rate: f64,
    first_n: u64,
    /// The arrivals stop at this instant, or when `stop` is set.
    until: Option<Instant>,
    stop: Arc<AtomicBool>,
    /// Clients alive at once at most, shared by every kind of arrival.
    alive: Arc<tokio::sync::Semaphore>,
}

/// Where journeys are counted, from the start of the surge on.
struct Recorder {
    started: Instant,
    surge_ends: Instant,
    tallies: Arc<Mutex<BTreeMap<&'static str, ClassTally>>>,
}

type JourneyLines = Arc<Option<Mutex<Vec<String>>>>;

/// Journeys written to the CSV at most (about 60 bytes each); the run says when the
/// rest were left out.
const JOURNEY_LINES_MAX: usize = 2_000_000;

/// Plays `a` until it stops: the clients still on their way, and the arrivals not sent
/// (the client limit was reached) while the recorder was set.
async fn arrive(
    a: Arrivals,
    recorder: Arc<OnceLock<Recorder>>,
    journeys: JourneyLines,
) -> (tokio::task::JoinSet<()>, u64) {
    let begun = Instant::now();
    let step = 1.0 / a.rate.max(1.0);
    let mut clients = tokio::task::JoinSet::new();
    let (mut not_sent, mut n, mut at) = (0u64, a.first_n, 0f64);
    loop {
        let due = begun + Duration::from_secs_f64(at);
        if a.until.is_some_and(|until| due >= until) || a.stop.load(Ordering::Relaxed) {
            break;
        }
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        at += step;
        n += 1;
        let op = pick(a.mix, n);
        let recording = recorder.get();
        if let Some(r) = recording {
            r.tallies.lock().entry(op.class()).or_default().arrivals += 1;
        }
        let Ok(permit) = Arc::clone(&a.alive).try_acquire_owned() else {
            not_sent += u64::from(recording.is_some());
            continue;
        };
        let arrived = Instant::now();
        let (http, o, citizens, run) = (
            a.http.clone(),
            Arc::clone(&a.o),
            Arc::clone(&a.citizens),
            a.run,
        );
        let (recorder, journeys) = (Arc::clone(&recorder), Arc::clone(&journeys));
        clients.spawn(async move {
            let surge_ends = recorder.get().map_or(arrived, |r| r.surge_ends);
            let j = journey(http, o, citizens, op, n, run, surge_ends).await;
            drop(permit);
            let Some(r) = recorder.get().filter(|r| arrived >= r.started) else {
                return;
            };
            let answered_at = j.answered.then(|| r.started.elapsed().as_secs_f64());
            if let Some(lines) = journeys.as_ref()
                && let mut lines = lines.lock()
                && lines.len() < JOURNEY_LINES_MAX
            {
                let (told, waited) = j.told_waited.unwrap_or((f64::NAN, f64::NAN));
                lines.push(format!(
                    "{},{:.3},{:.3},{told:.3},{waited:.3},{},{},{:.3}",
                    op.class(),
                    arrived.duration_since(r.started).as_secs_f64(),
                    answered_at.unwrap_or(f64::NAN),
                    j.tries,
                    j.no_place,
                    j.last_us as f64 / 1e6,
                ));
            }
            let mut tallies = r.tallies.lock();
            let tally = tallies.entry(op.class()).or_default();
            tally.answered_at.extend(answered_at);
            tally.add(j);
        });
        // Reap finished clients as we go (memory stays bounded by the live ones).
        while clients.try_join_next().is_some() {}
    }
    (clients, not_sent)
}

#[derive(Default)]
struct ClassTally {
    arrivals: u64,
    answered: u64,
    in_surge: u64,
    first_try: u64,
    ticketed: u64,
    busy: u64,
    gave_up: u64,
    last: Option<Histogram<u64>>,
    total: Option<Histogram<u64>>,
    errors: Vec<f64>,
    /// waited ÷ told: above 1, the waits told were too short.
    ratios: Vec<f64>,
    bad: BTreeMap<String, u64>,
    /// Clients that met a failed request, by kind of the last (tried again in a second
    /// unless it timed out).
    failed: BTreeMap<&'static str, u64>,
    /// When each answer came, in seconds from the start of the arrivals.
    answered_at: Vec<f64>,
}

impl ClassTally {
    fn add(&mut self, j: Journey) {
        let hist = || {
            Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)
                .unwrap_or_else(|_| unreachable!("valid bounds"))
        };
        if let Some(b) = j.bad {
            *self.bad.entry(b).or_default() += 1;
        }
        if let Some(f) = j.failed {
            *self.failed.entry(f).or_default() += 1;
        }
        self.ticketed += u64::from(j.ticketed);
        self.busy += u64::from(j.busy);
        if !j.answered {
            self.gave_up += 1;
            return;
        }
        self.answered += 1;
        self.in_surge += u64::from(j.in_surge);
        self.first_try += u64::from(j.first_try);
        let _ = self.last.get_or_insert_with(hist).record(j.last_us.max(1));
        let _ = self
            .total
            .get_or_insert_with(hist)
            .record(j.total_us.max(1));
        if let Some((told, waited)) = j.told_waited
            && waited > 0.0
        {
            self.errors.push((told - waited).abs() / waited);
            if told > 0.0 {
                self.ratios.push(waited / told);
            }
        }
    }
}

/// What the server served of a surge while it still had a backlog of it: from the start
/// of the arrivals until 99% of the surge's answers had come (the last percent are
/// stragglers that came back late, not the server's pace). A 5-s surge at 10× leaves
/// about 50 s of backlog, so this is the server's pace under overload, where the
/// window of the arrivals alone is mostly the line's first seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct BacklogGoodput {
    seconds: f64,
    /// Answers a second over the whole backlog.
    mean: f64,
    /// The median of the answers in each whole second of it.
    median_second: f64,
}

impl BacklogGoodput {
    fn of(answered_at: &mut [f64]) -> Option<BacklogGoodput> {
        answered_at.sort_by(f64::total_cmp);
        let n = answered_at.len();
        let until = *answered_at.get((n * 99 / 100).saturating_sub(1))?;
        let whole = until.floor() as usize;
        if whole == 0 {
            return None;
        }
        let counted = answered_at.partition_point(|&t| t <= until);
        let mut per_second = vec![0f64; whole];
        for &t in &answered_at[..answered_at.partition_point(|&t| t < whole as f64)] {
            per_second[t as usize] += 1.0;
        }
        Some(BacklogGoodput {
            seconds: until,
            mean: counted as f64 / until,
            median_second: median(&mut per_second)?,
        })
    }
}

fn median(v: &mut [f64]) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

pub async fn run(o: ScenarioOptions) -> anyhow::Result<()> {
    let o = Arc::new(o);
    let l = &o.load;
    anyhow::ensure!(
        !l.merchants.is_empty() && l.citizens > 0,
        "need citizens and merchants"
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        // Keep what a burst opened: a connection closed here waits a minute in
        // TIME_WAIT on one of 28 k local ports, and counter payments at thousands a
        // second for a minute would run out of them.
        .pool_max_idle_per_host(8192)
        .build()?;
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        % 100_000;
    eprintln!("setting up {} citizens...", l.citizens);
    let citizens = Arc::new(crate::loadgen::set_up(l, &http, run).await?);

    let surge_mix = o.scenario.surge();
    let counter_mix: &'static [(Op, u32)] = if o.scenario.hot_percent() > 0 {
        &[(Op::HotPayment, 20), (Op::Payment, 80)]
    } else {
        &[(Op::Payment, 1)]
    };
    eprintln!("measuring capacity (closed loop, 64 clients)...");
    let counter_capacity = capacity(&http, &o, &citizens, counter_mix, 3.0, run, 1 << 40).await;
    let counter_rate = counter_capacity / 3.0;
    // Counter payments go on all day, before the surge, through it and its backlog: the
    // surge's capacity is measured beside them, as it is then served.
    let recorder: Arc<OnceLock<Recorder>> = Arc::default();
    let journeys: JourneyLines = Arc::new(o.journeys_csv.as_ref().map(|_| Mutex::default()));
    let alive = Arc::new(tokio::sync::Semaphore::new(o.clients_max.max(1)));
    let arrivals = |mix, rate, first_n, until, stop| Arrivals {
        http: http.clone(),
        o: Arc::clone(&o),
        citizens: Arc::clone(&citizens),
        run,
        mix,
        rate,
        first_n,
        until,
        stop,
        alive: Arc::clone(&alive),
    };
    let counter_stop = Arc::new(AtomicBool::new(false));
    let counter = tokio::spawn(arrive(
        arrivals(
            counter_mix,
            counter_rate,
            3 << 40,
            None,
            Arc::clone(&counter_stop),
        ),
        Arc::clone(&recorder),
        Arc::clone(&journeys),
    ));
    let surge_capacity = capacity(&http, &o, &citizens, surge_mix, 3.0, run, 2 << 40).await;
    let surge_rate = surge_capacity * f64::from(o.times);
    eprintln!(
        "capacity: {counter_capacity:.0} counter payments/s, {surge_capacity:.0}/s of the surge's mix beside {counter_rate:.0}/s payments; offering {surge_rate:.0}/s of the surge for {} s",
        l.seconds
    );
    // Let the server's measurements settle after the closed loop.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let started = Instant::now();
    let surge_ends = started + Duration::from_secs(l.seconds);
    let tallies: Arc<Mutex<BTreeMap<&'static str, ClassTally>>> = Arc::default();
    let _ = recorder.set(Recorder {
        started,
        surge_ends,
        tallies: Arc::clone(&tallies),
    });
    let (mut clients, not_sent) = arrive(
        arrivals(
            surge_mix,
            surge_rate,
            4 << 40,
            Some(surge_ends),
            Arc::new(AtomicBool::new(false)),
        ),
        Arc::clone(&recorder),
        Arc::clone(&journeys),
    )
    .await;
    let arrivals_s = started.elapsed().as_secs_f64();
    let drain_deadline = Instant::now() + Duration::from_secs(o.drain);
    while !clients.is_empty() {
        match tokio::time::timeout_at(drain_deadline.into(), clients.join_next()).await {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => {
                clients.abort_all();
                break;
            }
        }
    }
    counter_stop.store(true, Ordering::Relaxed);
    let (mut counter_clients, counter_not_sent) = counter.await?;
    let counter_deadline = Instant::now() + Duration::from_secs(5);
    while let Ok(Some(_)) =
        tokio::time::timeout_at(counter_deadline.into(), counter_clients.join_next()).await
    {}
    counter_clients.abort_all();
    let not_sent = not_sent + counter_not_sent;
    let waiting_room: Value = http
        .get(format!("{}/api/v1/waiting-room", l.url))
        .send()
        .await?
        .json()
        .await
        .unwrap_or(Value::Null);

    if let (Some(path), Some(lines)) = (&o.journeys_csv, journeys.as_ref()) {
        let mut csv =
            "class,arrived_s,answered_s,told_s,waited_s,tries,no_place,last_s\n".to_owned();
        for line in lines.lock().iter() {
            csv.push_str(line);
            csv.push('\n');
        }
        std::fs::write(path, csv)?;
        if lines.lock().len() >= JOURNEY_LINES_MAX {
            eprintln!(
                "{}: the first {JOURNEY_LINES_MAX} journeys only",
                path.display()
            );
        }
    }
    let mut t = tallies.lock();
    let served_in_surge: u64 = t
        .iter()
        .filter(|(class, _)| **class != "counter")
        .map(|(_, c)| c.in_surge)
        .sum();
    println!(
        "\nscenario {:?}: surge offered {surge_rate:.0}/s ({}× the {surge_capacity:.0}/s measured) for {arrivals_s:.1} s, counter payments {counter_rate:.0}/s (a third of {counter_capacity:.0}/s) throughout{}",
        o.scenario,
        o.times,
        if not_sent > 0 {
            format!(", {not_sent} not sent (client at {} alive)", o.clients_max)
        } else {
            String::new()
        }
    );
    println!(
        "\n| class | arrivals | answered | first try | ticketed | busy | gave up | p50 ms | p99 ms | journey p50 s | journey p99 s | estimate error (median) |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for (class, c) in t.iter_mut() {
        let ms = |h: &Option<Histogram<u64>>, q: f64| {
            h.as_ref()
                .map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1000.0)
        };
        let error = median(&mut c.errors).map_or("—".to_owned(), |e| {
            let ratio = median(&mut c.ratios).unwrap_or(f64::NAN);
            format!(
                "{:.0}% of {} (waited ÷ told {ratio:.2})",
                e * 100.0,
                c.errors.len()
            )
        });
        println!(
            "| {class} | {} | {} | {:.2}% | {} | {} | {} | {:.1} | {:.1} | {:.2} | {:.2} | {error} |",
            c.arrivals,
            c.answered,
            100.0 * c.first_try as f64 / c.arrivals.max(1) as f64,
            c.ticketed,
            c.busy,
            c.gave_up,
            ms(&c.last, 0.5),
            ms(&c.last, 0.99),
            ms(&c.total, 0.5) / 1000.0,
            ms(&c.total, 0.99) / 1000.0,
        );
    }
    let goodput = served_in_surge as f64 / l.seconds as f64;
    println!(
        "\ngoodput while the surge lasted: {goodput:.0} surge answers/s = {:.0}% of the {surge_capacity:.0}/s measured",
        100.0 * goodput / surge_capacity.max(1.0)
    );
    let mut surge_answers: Vec<f64> = t
        .iter()
        .filter(|(class, _)| **class != "counter")
        .flat_map(|(_, c)| c.answered_at.iter().copied())
        .collect();
    if let Some(backlog) = BacklogGoodput::of(&mut surge_answers) {
        println!(
            "goodput while the backlog lasted (until 99% of the surge was answered, {:.1} s): {:.0}/s on average = {:.0}%, median second {:.0}/s = {:.0}% of the {surge_capacity:.0}/s measured",
            backlog.seconds,
            backlog.mean,
            100.0 * backlog.mean / surge_capacity.max(1.0),
            backlog.median_second,
            100.0 * backlog.median_second / surge_capacity.max(1.0),
        );
    }
    let bad: BTreeMap<&String, u64> =
        t.values()
            .flat_map(|c| c.bad.iter())
            .fold(BTreeMap::new(), |mut m, (k, v)| {
                *m.entry(k).or_default() += v;
                m
            });
    let failed: BTreeMap<&str, u64> =
        t.values()
            .flat_map(|c| c.failed.iter())
            .fold(BTreeMap::new(), |mut m, (k, v)| {
                *m.entry(*k).or_default() += v;
                m
            });
    if !failed.is_empty() {
        println!(
            "clients that met a failed request (the connection closed: tried again in a second; timed out: gave up): {failed:?}"
        );
    }
    if bad.is_empty() {
        println!("answers other than 503 with Retry-After among the 5xx: none");
    } else {
        println!("bad answers: {bad:?}");
    }
    println!("the server's waiting room at the end: {waiting_room}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_runs_until_99_percent_are_answered() {
        // 10 answers a second for 20 s, then one straggler at 100 s.
        let mut at: Vec<f64> = (0..200).map(|i| f64::from(i) / 10.0 + 0.05).collect();
        at.push(100.0);
        let g = BacklogGoodput::of(&mut at).expect("a backlog");
        assert!((19.0..20.0).contains(&g.seconds), "{g:?}");
        assert!((g.mean - 10.0).abs() < 0.6, "{g:?}");
        assert_eq!(g.median_second, 10.0);
        // A surge answered within its first second has no backlog to speak of.
        assert_eq!(BacklogGoodput::of(&mut [0.1, 0.2, 0.3]), None);
        assert_eq!(BacklogGoodput::of(&mut []), None);
    }
}
