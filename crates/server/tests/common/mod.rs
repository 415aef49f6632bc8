//! The test server of `e2e.rs` and `streams_load.rs`: the real HTTP server on
//! 127.0.0.1 over a journal on disk, with a Busan-like currency and a simulated bank.
//! With `MAEUL_TEST_STORE=postgres` the same suite runs with the journal and the
//! service's stores in a scratch PostgreSQL schema instead (`.ci/run` runs both).
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bank::{AccountNo, HttpBank, NewAccount, SimBank, SimBankConfig};
use engine::{CurrencyCode, Engine, EngineOptions, FileStorage, Storage};
use ledger::scheme::{SchemeCommand, SchemeConfig};
use ledger::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::{AppState, Auth, Currency, NewUser, Role};
use treasury::{LinkedAccounts, Treasury, TreasuryConfig};

pub const BUSAN: &str = include_str!("../../../../schemes/busan-like.toml");

/// Whether this run keeps things in PostgreSQL (`MAEUL_TEST_STORE=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("MAEUL_TEST_STORE").as_deref() == Ok("postgres")
}

pub struct Service {
    pub dir: tempfile::TempDir,
    /// Where the merchant registry is kept (to open it again, as a restart would).
    pub registry: Arc<dyn service::store::RegistryStore>,
    /// The scratch schema, dropped with the service.
    pub pg: Option<pgstore::scratch::ScratchDb>,
    pub engine: Arc<Engine>,
    pub base: String,
    pub http: reqwest::Client,
    pub bank: bank::SimBankHandle,
    pub auth: Arc<Auth>,
    pub state: Arc<AppState>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn start_tuned_full(
    options: EngineOptions,
    limit: service::limits::WriteLimit,
    per_address: service::limits::WriteLimit,
    bank_link: service::bank_link::Settings,
    tune: impl FnOnce(AppState) -> AppState,
) -> Service {
    let dir = tempfile::tempdir().unwrap();
    let pg = on_postgres().then(pgstore::scratch::ScratchDb::new);
    let storage: Arc<dyn Storage> = match &pg {
        None => Arc::new(FileStorage::new(
            dir.path().join("currencies/busan"),
            journal::FileJournalConfig::default(),
        )),
        Some(scratch) => Arc::new(scratch.writer("busan")),
    };
    let (auth, registry): (Arc<Auth>, Arc<dyn service::store::RegistryStore>) = match &pg {
        None => (
            Arc::new(Auth::open(dir.path(), true).unwrap()),
            Arc::new(service::store::sqlite::SqliteRegistry::open_in(dir.path()).unwrap()),
        ),
        Some(scratch) => {
            let stores = pgstore::PgServiceStores::new(scratch.db());
            (
                Arc::new(Auth::with_stores(stores.service_stores(), [3; 32], true).unwrap()),
                stores.registry(),
            )
        }
    };
    let engine = Arc::new(
        Engine::create(
            Arc::clone(&storage),
            CurrencyCode::new("busan").unwrap(),
            LedgerConfig::default(),
            options,
        )
        .unwrap(),
    );
    // The currency's own accounts and scheme (what `maeul` sets up for a new currency).
    let open = |id: u64, kind| Command::OpenAccount {
        account: AccountId(id),
        kind,
        accepts: SourceSet::ALL,
    };
    let mut cmds = vec![
        open(1, AccountKind::IssuerReserve),
        open(2, AccountKind::SubsidyBudget),
        open(3, AccountKind::SettlementClearing),
        open(4, AccountKind::SubsidyBudget),
        Command::Transfer(Transfer::posted(TransferSpec::BudgetFunding {
            reserve: ReserveId::new(1),
            budget: BudgetId::new(4),
            amount: Won::new(1_000_000_000),
        })),
    ];
    cmds.push(Command::Scheme(Box::new(SchemeCommand::SetScheme {
        config: Box::new(SchemeConfig::from_toml(BUSAN).unwrap()),
        effective_at: Timestamp::ZERO,
        operator: Text::new("setup").unwrap(),
    })));
    let envs: Vec<Envelope> = cmds
        .into_iter()
        .enumerate()
        .map(|(i, command)| Envelope {
            client: ClientId(9),
            key: IdempotencyKey(i as u128 + 1),
            command,
        })
        .collect();
    let outs = engine.submit(envs).unwrap().outcome().await.unwrap();
    assert!(outs.iter().all(Outcome::is_applied), "{outs:?}");

    let bank = SimBank::start("127.0.0.1:0".parse().unwrap(), SimBankConfig::default())
        .await
        .unwrap();
    bank.open_account(NewAccount {
        number: AccountNo::new("999-ISSUER").unwrap(),
        holder: "issuer".into(),
        balance: 1_000_000_000,
        allow_negative: false,
    })
    .unwrap();
    let treasury = Arc::new(Treasury::new(
        Arc::clone(&engine),
        Arc::clone(&storage),
        HttpBank::new(bank.url()).unwrap(),
        LinkedAccounts::new(),
        TreasuryConfig::new(
            AccountNo::new("999-ISSUER").unwrap(),
            ReserveId::new(1),
            ClearingId::new(3),
        ),
    ));
    for (login, role, runs) in [
        ("operator-busan", Role::Operator, "busan"),
        ("auditor-busan", Role::Auditor, "busan"),
        // An operator of another town: nothing of Busan's is theirs.
        ("operator-seoul", Role::Operator, "seoul"),
    ] {
        auth.create(NewUser {
            login: login.into(),
            password: "correct horse battery".into(),
            pin: None,
            role,
            currency: runs.into(),
            currencies: vec![runs.into()],
            setup: None,
        })
        .await
        .unwrap();
    }
    let mut currencies = BTreeMap::new();
    currencies.insert(
        "busan".to_owned(),
        Currency::new(
            Arc::clone(&engine),
            storage,
            treasury,
            Arc::new(
                service::merchants::Merchants::with_store(Arc::clone(&registry), "busan", [7; 32])
                    .unwrap(),
            ),
        ),
    );
    let state = Arc::new(tune(
        AppState::new(Arc::new(
            server::Service::new(currencies, Arc::clone(&auth))
                .with_write_limit(limit)
                .with_address_limit(per_address)
                .with_bank_link(bank_link),
        ))
        .unwrap(),
    ));
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(
        Arc::clone(&state),
        server::app(Arc::clone(&state)),
        "127.0.0.1:0".parse().unwrap(),
        bound_tx,
        async move {
            let _ = stopped.await;
        },
    ));
    let addr = bound_rx.await.unwrap();
    Service {
        dir,
        registry,
        pg,
        engine,
        base: format!("http://{addr}"),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            // The server closes a kept-alive connection idle for its header timeout;
            // a pooled one reused just then fails as an incomplete message.
            .pool_idle_timeout(server::HEADER_TIMEOUT / 2)
            .build()
            .unwrap(),
        bank,
        auth,
        state,
        _stop: stop,
    }
}

impl Service {
    /// What a restart does to the server's memory of idempotency keys.
    pub fn state_forget_keys(&self) {
        self.state.requests.forget_all();
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value, headers)
    }

    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        let (s, v, _) = self
            .call(reqwest::Method::POST, path, token, key, Some(body))
            .await;
        (s, v)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let (s, v, _) = self
            .call(reqwest::Method::GET, path, token, None, None)
            .await;
        (s, v)
    }

    pub async fn sign_in(&self, login: &str, password: &str) -> String {
        let (s, v) = self
            .post(
                "/api/v1/sessions",
                None,
                None,
                json!({"login": login, "password": password}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["token"].as_str().unwrap().to_owned()
    }
}
