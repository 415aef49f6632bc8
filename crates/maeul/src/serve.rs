//! `maeul serve`: every currency in the data directory behind the HTTP API, each with its
//! sequencer, its treasury and the treasury's scheduled jobs; on an empty directory, the
//! demo currency with a simulated bank and synthetic traffic.
//!
//! The simulated bank keeps its books in the data directory (`simbank.sqlite`): after a
//! restart the demo's bank balances, statements and answered references are as the
//! ledger left them, so a retried order is still answered as executed once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bank::{AccountNo, HttpBank, NewAccount, SimBank, SimBankConfig};
use engine::{CurrencyCode, Engine, EngineError, EngineOptions, Storage};
use ledger::scheme::SchemeConfig;
use ledger::{ClearingId, ReserveId};
use server::AppState;
use service::{Auth, Currency, NewUser, Role, Service};
use treasury::{LinkedAccounts, Schedule, Treasury, TreasuryConfig};

use crate::{data_dir, demo};

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// Where the demo's simulated bank listens (when no `bank_url` is given).
    pub bank_listen: SocketAddr,
    /// A bank service to use instead of the built-in simulated one.
    pub bank_url: Option<String>,
    pub demo_rate: u64,
    pub limit: Option<Duration>,
    pub scheme: Option<SchemeConfig>,
    /// Sign-ups and sign-ins a second per client address.
    pub sign_ins_per_address: u32,
    /// HTTP connections open at once per client address.
    pub connections_per_address: usize,
    /// The places in flight and how classes share them (`server::gate`).
    pub admission: server::gate::Policy,
    /// What the deployment sets for the pages (a map tile server).
    pub pages: web::PageSettings,
    /// Currencies this node just took over (`maeul migrate cutover`): the handover's
    /// halt ends here, journaled, once they are open, so the switch costs one start of
    /// the engine, not two.
    pub resume_handover: Vec<String>,
    /// When this start ends an operator change's write pause (`maeul migrate cutover
    /// --listen`): when the pause began, to say how long it was once serving.
    pub paused_since: Option<Instant>,
    /// Keep currencies, people and registries in this PostgreSQL database (a libpq
    /// address) instead of the data directory, written by one node at a time.
    pub store: Option<String>,
    /// This node's name in the writer leases (PostgreSQL only).
    pub node_name: String,
    /// Where the other nodes reach this one (PostgreSQL only; default: the address
    /// the server listens on).
    pub advertise: Option<String>,
    /// KST (hour, minute) of the daily settlement that pays merchants out; `None`:
    /// never by itself.
    pub settlement_cutoff: Option<(u8, u8)>,
    /// Threads answering HTTP; `None`: one per core ([`http_runtime`]).
    pub http_threads: Option<usize>,
}

/// A runtime for the HTTP API with `asked` worker threads, or tokio's default (one per
/// core, or `TOKIO_WORKER_THREADS`). Fewer threads than cores (leaving one to the
/// sequencer and journal writer) served about 4% more payments a second at 64
/// connections on two cores, but 29–48% fewer at 1,000 (docs/benchmarks.md, (a⁵)).
fn http_runtime(asked: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = asked {
        builder.worker_threads(threads.max(1));
    }
    builder.enable_all().build()
}

/// Where other nodes send this node forwarded writes: as told, or the address it
/// listens on (its host's name when it listens on every address).
fn advertised_url(advertise: Option<&str>, addr: SocketAddr) -> String {
    if let Some(url) = advertise {
        return url.to_owned();
    }
    if addr.ip().is_unspecified() {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        if !host.is_empty() {
            return format!("http://{host}:{}", addr.port());
        }
    }
    format!("http://{addr}")
}

/// Where a node keeps its currencies, people and registries.
#[derive(Debug)]
enum Backing {
    DataDir,
    Postgres(crate::serve_pg::PgNode),
}

/// The issuer's account at the (simulated) bank.
pub const ISSUER_BANK_ACCOUNT: &str = "999-ISSUER";
/// The built-in simulated bank's books, in the data directory.
pub const SIMBANK_FILE: &str = "simbank.sqlite";
/// The demo's operator and auditor sign in with these (demo only).
pub const DEMO_PASSWORD: &str = "maeul-demo-password";

pub fn demo_citizen_bank_account(i: u64) -> String {
    format!("110-{i:06}")
}

pub fn demo_merchant_bank_account(i: u64) -> String {
    format!("220-{i:06}")
}

pub fn run(o: ServeOptions) -> anyhow::Result<()> {
    run_taking_over(o, Vec::new())
}

/// A currency this process has just taken over (`maeul migrate cutover --listen`):
/// what is already in memory need not be loaded again in the write pause.
#[derive(Debug)]
pub struct TakenOver {
    pub currency: String,
    /// The follower's state, checked record by record against the journal it wrote.
    pub follower: migrate::follow::Follower,
    /// The merchant registry, opened before the pause (when the cutover changed none
    /// of its records).
    pub merchants: Option<service::merchants::Merchants>,
}

/// [`run`], with currencies taken over: their engines start from the follower's
/// state instead of loading a snapshot and replaying, and their registries as opened.
pub fn run_taking_over(o: ServeOptions, taken_over: Vec<TakenOver>) -> anyhow::Result<()> {
    // One process writes a data directory: held until the server stops.
    let _lock = data_dir::lock(&o.data_dir, "`maeul serve`")?;
    if let Some(url) = o.store.clone() {
        anyhow::ensure!(
            taken_over.is_empty() && o.resume_handover.is_empty(),
            "an operator change into a PostgreSQL store is not supported yet"
        );
        let (opened, node) = crate::serve_pg::open(
            &url,
            &o.node_name,
            crate::serve_pg::LEASE_TTL,
            o.scheme.as_ref(),
        )?;
        let demo_code = CurrencyCode::new("demo").map_err(anyhow::Error::msg)?;
        let runtime = http_runtime(o.http_threads)?;
        return runtime.block_on(serve(
            o,
            opened,
            BTreeMap::new(),
            demo_code,
            Backing::Postgres(node),
        ));
    }
    // Currencies are opened before the runtime starts: recovery is blocking work.
    let mut codes = data_dir::currencies(&o.data_dir)?;
    let demo_code = CurrencyCode::new("demo").map_err(anyhow::Error::msg)?;
    if codes.is_empty() {
        tracing::info!(data_dir = %o.data_dir.display(), "empty data directory: creating the demo currency");
        let engine = Engine::create(
            data_dir::storage(&o.data_dir, &demo_code),
            demo_code.clone(),
            ledger::LedgerConfig::default(),
            EngineOptions::default(),
        )?;
        let scheme = match &o.scheme {
            Some(s) => s.clone(),
            None => SchemeConfig::from_toml(demo::DEFAULT_SCHEME)?,
        };
        demo::populate(&engine, (EngineOptions::default().clock)(), &scheme)?;
        engine.shutdown();
        codes.push(demo_code.clone());
    }
    let mut registries = BTreeMap::new();
    let mut followers = Vec::new();
    for t in taken_over {
        if let Some(m) = t.merchants {
            registries.insert(t.currency.clone(), m);
        }
        followers.push((t.currency, t.follower));
    }
    let opened = open_all(&o.data_dir, &codes, followers)?;
    for (code, _, engine) in &opened {
        if o.resume_handover.iter().any(|c| c == code.as_str()) {
            crate::migration::resume_engine(engine, code.as_str())?;
        }
    }
    let runtime = http_runtime(o.http_threads)?;
    runtime.block_on(serve(o, opened, registries, demo_code, Backing::DataDir))
}

/// A currency opened for serving: its code, storage and running engine.
type Opened = (CurrencyCode, Arc<dyn Storage>, Arc<Engine>);

/// Opens every currency, in parallel (each start may re-decide a whole journal when
/// this build did not write it), logging progress. A currency this build refuses stops
/// the start, naming the records; one it must serve read-only is served read-only.
fn open_all(
    data_dir: &std::path::Path,
    codes: &[CurrencyCode],
    taken_over: Vec<(String, migrate::follow::Follower)>,
) -> anyhow::Result<Vec<Opened>> {
    let mut opened = Vec::new();
    for (code, follower) in taken_over {
        let code = CurrencyCode::new(&code).map_err(anyhow::Error::msg)?;
        let storage = data_dir::storage(data_dir, &code);
        let (store, replayer, verified_from) = follower.into_serving()?;
        let (engine, report) = Engine::open_replayed(
            Arc::clone(&storage),
            store,
            replayer,
            verified_from,
            EngineOptions::default(),
        )
        .with_context(|| format!("taking over currency {code}"))?;
        tracing::info!(currency = %code, ?report, "serving the followed state");
        opened.push((code, storage, Arc::new(engine)));
    }
    let codes: Vec<&CurrencyCode> = codes
        .iter()
        .filter(|c| !opened.iter().any(|(o, ..)| o == *c))
        .collect();
    let progress: engine::ProgressSink = Arc::new(|p: &engine::Progress| {
        if p.done {
            tracing::info!("verified {p}");
        } else {
            tracing::info!("verifying {p}");
        }
    });
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = codes
            .iter()
            .map(|&code| {
                let progress = Arc::clone(&progress);
                scope.spawn(move || {
                    let storage = data_dir::storage(data_dir, code);
                    let options = EngineOptions {
                        progress: Some(progress),
                        ..EngineOptions::default()
                    };
                    let opened = Engine::open(Arc::clone(&storage), options);
                    (code.clone(), storage, opened)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a currency's start panicked"))
            })
            .collect()
    });
    for result in results {
        let (code, storage, engine) = result?;
        match engine {
            Ok((engine, report)) => {
                if let Some(q) = &report.quarantine {
                    tracing::error!(currency = %code, "serving read-only: {}", q.summary());
                }
                tracing::info!(currency = %code, ?report, "serving");
                opened.push((code, storage, Arc::new(engine)));
            }
            Err(e @ EngineError::Divergence(_)) => {
                return Err(e).context(format!("currency {code}"));
            }
            Err(e) => return Err(e).with_context(|| format!("opening currency {code}")),
        }
    }
    Ok(opened)
}

async fn serve(
    o: ServeOptions,
    opened: Vec<Opened>,
    mut registries: BTreeMap<String, service::merchants::Merchants>,
    demo_code: CurrencyCode,
    backing: Backing,
) -> anyhow::Result<()> {
    let has_demo = opened.iter().any(|(c, ..)| *c == demo_code);
    // The bank: a given service, or the built-in simulated one.
    let (bank_url, sim) = match &o.bank_url {
        Some(url) => (url.clone(), None),
        None => {
            let config = SimBankConfig {
                path: Some(o.data_dir.join(SIMBANK_FILE)),
                ..SimBankConfig::default()
            };
            let sim = SimBank::start(o.bank_listen, config).await?;
            tracing::info!(url = %sim.url(), "simulated bank listening");
            (sim.url().to_owned(), Some(sim))
        }
    };
    let setting_up = Instant::now();
    let auth = Arc::new(match &backing {
        Backing::DataDir => Auth::open(&o.data_dir, false)?,
        Backing::Postgres(node) => Auth::with_stores(
            node.stores.service_stores(),
            pgstore::keys::load_or_create_32(&node.db, "pin")?,
            false,
        )?,
    });
    let accounts = LinkedAccounts::new();
    for (account, number) in auth.bank_links() {
        if let Ok(n) = AccountNo::new(number) {
            accounts.link(ledger::AccountId(account), n);
        }
    }
    if let (Some(sim), Some((_, storage, engine))) =
        (&sim, opened.iter().find(|(c, ..)| *c == demo_code))
    {
        open_demo_bank(sim, &accounts, storage.as_ref(), engine)?;
    }
    // Demo staff (with a published password) only beside the simulated bank.
    if has_demo && sim.is_some() {
        ensure_demo_staff(&auth, demo_code.as_str()).await;
        let people: Vec<service::auth::SeededCitizen> = demo::citizen_people()
            .into_iter()
            .map(
                |(login, account, name, address)| service::auth::SeededCitizen {
                    login,
                    account,
                    name,
                    address,
                },
            )
            .collect();
        let added = auth
            .seed_citizens(demo_code.as_str(), &people, DEMO_PASSWORD, demo::DEMO_PIN)
            .await?;
        if added > 0 {
            tracing::info!(
                added,
                "demo citizens can sign in as citizen-0001… with the demo password"
            );
        }
        let shops = auth
            .seed_merchants(demo_code.as_str(), &demo::merchant_logins(), DEMO_PASSWORD)
            .await?;
        if shops > 0 {
            tracing::info!(
                added = shops,
                "demo shops can sign in as shop-0001… with the demo password"
            );
        }
    }
    let issuer = AccountNo::new(ISSUER_BANK_ACCOUNT).map_err(anyhow::Error::msg)?;
    // One key for every currency's consumer codes, so a code shown in the wrong town is
    // told apart from a forged one.
    let qr_key = match &backing {
        Backing::DataDir => service::auth::load_or_create_key(&o.data_dir.join("qr.key"))?,
        Backing::Postgres(node) => pgstore::keys::load_or_create_32(&node.db, "qr")?,
    };
    let mut currencies = BTreeMap::new();
    for (code, storage, engine) in &opened {
        let merchants = Arc::new(match registries.remove(code.as_str()) {
            Some(opened) => opened,
            None => match &backing {
                Backing::DataDir => {
                    service::merchants::Merchants::open(&o.data_dir, code.as_str(), qr_key)?
                }
                Backing::Postgres(node) => service::merchants::Merchants::with_store(
                    node.stores.registry(),
                    code.as_str(),
                    qr_key,
                )?,
            },
        });
        if *code == demo_code && merchants.read(|r| r.is_empty()) {
            let made = merchants
                .create_many(demo::merchant_records(service::now_us()))
                .map_err(|e| anyhow::anyhow!("demo registry: {}: {}", e.code, e.en))?;
            tracing::info!(made, "demo merchant registry written");
        }
        let treasury = Arc::new(Treasury::new(
            Arc::clone(engine),
            Arc::clone(storage),
            HttpBank::new(&bank_url)?,
            accounts.clone(),
            TreasuryConfig::new(issuer.clone(), ReserveId::new(1), ClearingId::new(3)),
        ));
        currencies.insert(
            code.as_str().to_owned(),
            Currency::new(Arc::clone(engine), Arc::clone(storage), treasury, merchants),
        );
    }
    // At a cutover the successor is handed the rest of the currency as an interchange
    // set (people's data encrypted to it), made by `migrate::export`.
    let export_from = o.data_dir.clone();
    let exporter: service::handover::Exporter = Arc::new(move |job| {
        let options = migrate::ExportOptions {
            data_dir: export_from.clone(),
            currency: job.code.clone(),
            out: job.out.clone(),
            recipient: job.recipient.clone(),
        };
        let manifest = match &job.kind {
            service::handover::SetKind::Base => {
                migrate::export_base(&options, &job.engine).map(|(m, _)| m)
            }
            service::handover::SetKind::Cutover { base } => migrate::export_live(
                &options,
                &job.engine,
                base.as_ref().map(|(dir, id)| (dir.as_path(), id.as_str())),
            ),
        }
        .map_err(|e| e.to_string())?;
        let id = migrate::base_id(&job.out)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        Ok(service::handover::SetMade {
            seq: manifest.cut.seq,
            head_hash: manifest.cut.head_hash,
            state_hash: manifest.state_hash,
            id,
        })
    });
    let handover = match &backing {
        Backing::DataDir => service::handover::Handover::open(&o.data_dir, Some(exporter))?,
        // The operator-change files and the export read a data directory's journals.
        Backing::Postgres(_) => service::handover::Handover::unsupported(),
    };
    // A currency that moved to another operator takes nothing more here: its last
    // record stays the handover's halt.
    for (code, _, engine) in &opened {
        if let Some(m) = handover.moved(code.as_str()) {
            engine.seal(&format!("moved to {}", m.to));
            tracing::warn!(currency = %code, to = %m.to, "moved to another operator: read-only, everyone is sent on");
        }
        // A legacy import that has not gone live (or was killed mid-run, between its
        // resume and its halt) must not take payments.
        if let Some(why) =
            migrate::legacy::not_live_reason(&data_dir::currency_dir(&o.data_dir, code))
        {
            engine.seal(&why);
            tracing::warn!(currency = %code, "read-only: {why}");
        }
    }
    tracing::info!(
        ms = setting_up.elapsed().as_millis() as u64,
        "people, bank links, registries and treasuries set up"
    );
    let service = Service::new(currencies, auth)
        .with_address_limit(service::limits::WriteLimit {
            per_second: o.sign_ins_per_address,
            burst: o.sign_ins_per_address.saturating_mul(10),
        })
        .with_handover(handover);
    // The sale day outlives a restart and is the same on every node.
    match &backing {
        Backing::DataDir => {
            let path = o.data_dir.join("sale.json");
            service
                .sale
                .load(read_sale_file(&path)?, keep_sale_file(path));
        }
        Backing::Postgres(node) => {
            let db = Arc::clone(&node.db);
            service.sale.load(
                read_sale_setting(&db)?,
                Box::new(move |record| {
                    let bytes = record
                        .map(serde_json::to_vec)
                        .transpose()
                        .map_err(|e| e.to_string())?;
                    pgstore::keys::set_setting(&db, SALE_SETTING, bytes.as_deref())
                        .map_err(|e| e.to_string())
                }),
            );
        }
    }
    // Waiting-room tickets outlive a restart and are good on every node.
    let room_key = match &backing {
        Backing::DataDir => service::auth::load_or_create_key(&o.data_dir.join("room.key"))?,
        Backing::Postgres(node) => pgstore::keys::load_or_create_32(&node.db, "waiting-room")?,
    };
    let service = Arc::new(service);
    if let Backing::Postgres(node) = &backing {
        // A sale another node scheduled (or called off) is taken within seconds.
        let (db, service) = (Arc::clone(&node.db), Arc::clone(&service));
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                every.tick().await;
                let db = Arc::clone(&db);
                match tokio::task::spawn_blocking(move || read_sale_setting(&db)).await {
                    Ok(Ok(kept)) => service.sale.refresh(kept),
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "the sale day could not be read again")
                    }
                    Err(_) => {}
                }
            }
        });
    }
    let state = Arc::new(
        AppState::new(service)?
            .with_connection_limits(
                o.connections_per_address,
                server::connections::CONNECTIONS_MAX,
            )
            .with_waiting_room_key(room_key)
            // Browsers held at the gate see the site's own pages.
            .with_gate_pages(server::gate::GatePages(Arc::new(web::waiting::gate_page)))
            .with_admission(o.admission.clone()),
    );
    // Sign-ups cut off by the last stop are finished in the background, and the ledger
    // is made to follow each merchant registry (a stop between a registry change and
    // the ledger's leaves them apart until now).
    {
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let n = service::session::finish_pending_sign_ups(&state.service).await;
            if n > 0 {
                tracing::info!(n, "finished sign-ups cut off by the last stop");
            }
            for (code, c) in &state.currencies {
                let ids: Vec<u64> = c
                    .merchants
                    .read(|r| r.records().iter().map(|m| m.id.0).collect());
                match service::mirror::mirror_in_ledger(c, &ids).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(currency = %code, commands = n, "ledger now follows the merchant registry")
                    }
                    Err(e) => {
                        tracing::warn!(currency = %code, code = e.code, "ledger does not yet follow the merchant registry")
                    }
                }
            }
        });
    }

    // Background jobs, stopped together at shutdown.
    let (stop_jobs, jobs_stopped) = tokio::sync::watch::channel(false);
    let mut jobs = tokio::task::JoinSet::new();
    let schedule = Schedule {
        settlement_cutoff: o.settlement_cutoff,
        ..Schedule::default()
    };
    for c in state.currencies.values() {
        jobs.spawn(Arc::clone(&c.treasury).run_schedule(schedule.clone(), jobs_stopped.clone()));
    }
    if has_demo && o.demo_rate > 0 {
        let engine = state
            .currency(demo_code.as_str())
            .map(|c| Arc::clone(&c.engine));
        if let Ok(engine) = engine {
            jobs.spawn(demo_traffic(engine, o.demo_rate, jobs_stopped.clone()));
        }
    }
    jobs.spawn(status_log(Arc::clone(&state), jobs_stopped.clone()));

    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    // The API and the web pages on one origin.
    let status = Arc::new(crate::status::Status::new(Arc::clone(&state)));
    let router = web::site_with(
        server::app(Arc::clone(&state)),
        status,
        Arc::clone(&state.service),
        o.pages.clone(),
    )
    // After a cutover, everyone is sent to the successor.
    .layer(axum::middleware::from_fn_with_state(
        Arc::clone(&state.service),
        server::moved::redirect,
    ));
    // Nodes sharing a PostgreSQL store send each other the writes of the currencies
    // they follow.
    let router = match &backing {
        Backing::Postgres(node) => router.merge(crate::forward::router(
            Arc::clone(&state.service),
            node.forward_key,
        )),
        Backing::DataDir => router,
    };
    let http = tokio::spawn(server::serve(
        Arc::clone(&state),
        router,
        o.listen,
        bound_tx,
        async move {
            let _ = http_stopped.await;
        },
    ));
    let addr = bound_rx.await.context("the HTTP server did not start")?;
    if let Backing::Postgres(node) = &backing {
        let url = advertised_url(o.advertise.as_deref(), addr);
        tracing::info!(node = %o.node_name, %url, writes = ?node.writing(), "node serving; other nodes forward writes here");
        node.listening_at(url);
    }
    tracing::info!(%addr, "HTTP API and pages listening: open / or GET /api/v1/openapi.json");
    // On stdout, for scripts and tests that start on port 0.
    println!("maeul: HTTP API on http://{addr}, bank at {bank_url}");
    if let Some(since) = o.paused_since {
        println!(
            "maeul: serving after an operator change; writes were paused {:.3} s in all",
            since.elapsed().as_secs_f64()
        );
    }
    if has_demo {
        tracing::info!(
            "demo: operator and auditor sign in as `operator` / `auditor` with password `{DEMO_PASSWORD}`"
        );
    }

    let started = Instant::now();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: stopping"),
        _ = async {
            match o.limit {
                Some(l) => tokio::time::sleep(l.saturating_sub(started.elapsed())).await,
                None => std::future::pending().await,
            }
        } => tracing::info!("time limit reached: stopping"),
        // Another node took a currency's lease (this one was paused or cut off; its
        // writes are fenced already), or a hand-over left it neither writing nor
        // following: stop serving, so clients go to the other nodes.
        code = async {
            loop {
                if let Backing::Postgres(node) = &backing
                    && let Some(code) = node.lost()
                {
                    break code;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        } => tracing::error!(currency = %code, "this node can no longer serve this currency (another node took its lease, or it could not follow after handing it over): stopping; restart it to follow"),
    }
    // Stop taking requests (in-flight ones finish), then the jobs, then the engines
    // (each finishes and acknowledges its queued batches when dropped).
    let _ = stop_http.send(());
    let _ = http.await;
    let _ = stop_jobs.send(true);
    while jobs.join_next().await.is_some() {}
    drop(state);
    // The engines finish (and snapshot) before the leases are given up below.
    drop(opened);
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    if let Backing::Postgres(node) = backing {
        // Only after the engines stopped: a standby must not take over while this node
        // may still write.
        let lost = node.lost();
        node.release();
        if let Some(code) = lost {
            anyhow::bail!("stopped: this node can no longer serve currency {code}; restart it");
        }
    }
    Ok(())
}

/// Opens the demo's accounts at the simulated bank, those it does not have yet (a
/// restart keeps the books), and links the demo's wallets and merchants to theirs: the
/// operator's own set-up, verified by construction. Holders are the people's and the
/// shops' names, so a demo citizen can also go through the verification flow.
fn open_demo_bank(
    sim: &bank::SimBankHandle,
    accounts: &LinkedAccounts,
    storage: &dyn Storage,
    engine: &Engine,
) -> anyhow::Result<()> {
    let open = |number: &str, holder: &str, balance: i64| -> anyhow::Result<AccountNo> {
        let number = AccountNo::new(number).map_err(anyhow::Error::msg)?;
        if sim.account(&number).is_none() {
            sim.open_account(NewAccount {
                number: number.clone(),
                holder: holder.to_owned(),
                balance,
                allow_negative: false,
            })
            .map_err(|e| anyhow::anyhow!("opening a demo bank account: {e}"))?;
        }
        Ok(number)
    };
    // What the issuer holds, as the journal says (ARCHITECTURE, "Invariants at the
    // edge"): the municipality's deposits for the budgets and what the demo citizens
    // paid for their first vouchers (bought before the bank was in the picture), less
    // what was paid out. Asked only when the account is opened.
    let issuer = AccountNo::new(ISSUER_BANK_ACCOUNT).map_err(anyhow::Error::msg)?;
    if sim.account(&issuer).is_none() {
        let total = treasury::OperatorReport::build(storage, engine)
            .map_err(|e| anyhow::anyhow!("reading the demo's journal: {e}"))?
            .total;
        let held = total.budget_funding.won + total.sales.won - total.settled.won;
        open(ISSUER_BANK_ACCOUNT, "발행사 issuer", held.max(0))?;
    }
    for (i, (_, _, name, _)) in (0..demo::CITIZENS).zip(demo::citizen_people()) {
        let n = open(&demo_citizen_bank_account(i), &name, 1_000_000)?;
        accounts.link(demo::wallet(i).account(), n);
    }
    let shops = demo::merchant_records(0);
    for (i, shop) in (0..demo::MERCHANTS).zip(&shops) {
        let n = open(&demo_merchant_bank_account(i), &shop.profile.name, 0)?;
        accounts.link(demo::merchant(i).account(), n);
    }
    Ok(())
}

async fn ensure_demo_staff(auth: &Auth, currency: &str) {
    for (login, role) in [("operator", Role::Operator), ("auditor", Role::Auditor)] {
        // Already there after the first start: `login_taken` is expected.
        let _ = auth
            .create(NewUser {
                login: login.into(),
                password: DEMO_PASSWORD.into(),
                pin: None,
                role,
                currency: currency.into(),
                currencies: vec![currency.into()],
                setup: None,
            })
            .await;
    }
}

async fn demo_traffic(
    engine: Arc<Engine>,
    rate: u64,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let started = Instant::now();
    let mut traffic = demo::Traffic::fresh();
    let mut sent = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let due = (started.elapsed().as_micros() as u64).saturating_mul(rate) / 1_000_000;
        if !engine.writes_here() {
            // The writer's node makes the demo's traffic, not every node.
            sent = due;
            continue;
        }
        while sent < due {
            match engine.submit(vec![traffic.next_command()]) {
                Ok(_) | Err(engine::SubmitError::Busy { .. }) => {}
                Err(e) => tracing::warn!("demo traffic: {e}"),
            }
            sent += 1;
        }
    }
}

async fn status_log(state: Arc<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        for (code, c) in &state.currencies {
            let counters = c.engine.counters();
            tracing::info!(
                currency = %code,
                health = ?c.engine.health(),
                durable_seq = c.engine.durable_seq(),
                commands = counters.commands.load(std::sync::atomic::Ordering::Relaxed),
                batches = counters.batches.load(std::sync::atomic::Ordering::Relaxed),
                state_hash = %c.engine.state_hash(),
                "status"
            );
        }
    }
}

/// Where the sale day is kept in PostgreSQL (`maeul_keys`).
const SALE_SETTING: &str = "setting:sale";

fn read_sale_setting(db: &pgstore::Db) -> anyhow::Result<Option<service::sale::SaleRecord>> {
    pgstore::keys::setting(db, SALE_SETTING)?
        .map(|bytes| serde_json::from_slice(&bytes))
        .transpose()
        .map_err(|e| anyhow::anyhow!("the kept sale day cannot be read: {e}"))
}

/// The sale day kept in the data directory, if any.
fn read_sale_file(path: &Path) -> anyhow::Result<Option<service::sale::SaleRecord>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{} cannot be read: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
    }
}

/// Keeps the sale day in `path`, whole or not at all (written aside, then renamed).
fn keep_sale_file(path: PathBuf) -> service::sale::Keep {
    Box::new(move |record| {
        let Some(record) = record else {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
                _ => Ok(()),
            };
        };
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| e.to_string())?;
        let aside = path.with_extension("json.new");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&aside)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&aside, &path)
        };
        write().map_err(|e| e.to_string())
    })
}
