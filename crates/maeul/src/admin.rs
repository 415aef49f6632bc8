//! Operator verbs that need no running server (and refuse to run beside one: the
//! journal is locked by whoever writes it): create a currency, load a scheme file, add
//! staff who sign in to the API.

use std::path::Path;

use anyhow::Context;
use engine::{CurrencyCode, Engine, EngineOptions};
use ledger::scheme::{SchemeCommand, SchemeConfig};
use ledger::{
    AccountId, AccountKind, BudgetId, ClientId, Command, Envelope, IdempotencyKey, Outcome,
    ReserveId, SourceSet, Text, Timestamp, Transfer, TransferSpec, Won,
};

use crate::data_dir;

/// The accounts every currency has (the scheme files name them by these numbers).
pub const RESERVE: u64 = 1;
pub const DISCOUNT_BUDGET: u64 = 2;
pub const CLEARING: u64 = 3;
pub const CASHBACK_BUDGET: u64 = 4;

const ADMIN_CLIENT: ClientId = ClientId(u64::MAX - 2);

fn key() -> IdempotencyKey {
    // Each admin action is one deliberate operation: a fresh key, from the clock.
    IdempotencyKey(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    )
}

fn run(engine: &Engine, commands: Vec<Command>) -> anyhow::Result<()> {
    let base = key().0;
    let envs = commands
        .into_iter()
        .enumerate()
        .map(|(i, command)| Envelope {
            client: ADMIN_CLIENT,
            key: IdempotencyKey(base.wrapping_add(i as u128)),
            command,
        })
        .collect();
    let outs = engine.execute(envs)?;
    if let Some(r) = outs.into_iter().find_map(|o: Outcome| o.result.err()) {
        anyhow::bail!("refused: {} ({r:?})", r.code().as_str());
    }
    Ok(())
}

/// A new currency with its standard accounts, both budgets funded, and a scheme.
pub fn create_currency(
    dir: &Path,
    code: &str,
    scheme: &SchemeConfig,
    budget_funding: i64,
) -> anyhow::Result<()> {
    let code = CurrencyCode::new(code).map_err(anyhow::Error::msg)?;
    let engine = Engine::create(
        data_dir::storage(dir, &code),
        code.clone(),
        ledger::LedgerConfig::default(),
        EngineOptions::default(),
    )
    .with_context(|| format!("creating currency {code}"))?;
    let open = |id: u64, kind| Command::OpenAccount {
        account: AccountId(id),
        kind,
        accepts: SourceSet::ALL,
    };
    let mut commands = vec![
        open(RESERVE, AccountKind::IssuerReserve),
        open(DISCOUNT_BUDGET, AccountKind::SubsidyBudget),
        open(CLEARING, AccountKind::SettlementClearing),
        open(CASHBACK_BUDGET, AccountKind::SubsidyBudget),
    ];
    if budget_funding > 0 {
        for budget in [DISCOUNT_BUDGET, CASHBACK_BUDGET] {
            commands.push(Command::Transfer(Transfer::posted(
                TransferSpec::BudgetFunding {
                    reserve: ReserveId::new(RESERVE),
                    budget: BudgetId::new(budget),
                    amount: Won::new(budget_funding),
                },
            )));
        }
    }
    commands.push(set_scheme(scheme)?);
    run(&engine, commands)?;
    engine.shutdown();
    Ok(())
}

fn set_scheme(scheme: &SchemeConfig) -> anyhow::Result<Command> {
    Ok(Command::Scheme(Box::new(SchemeCommand::SetScheme {
        config: Box::new(scheme.clone()),
        effective_at: Timestamp::ZERO,
        operator: Text::new("maeul admin").map_err(anyhow::Error::msg)?,
    })))
}

/// A new version of a currency's scheme, in force from now.
pub fn load_scheme(dir: &Path, code: &str, scheme: &SchemeConfig) -> anyhow::Result<()> {
    let code = CurrencyCode::new(code).map_err(anyhow::Error::msg)?;
    let (engine, _) = Engine::open(data_dir::storage(dir, &code), EngineOptions::default())
        .with_context(|| format!("opening currency {code} (is `maeul serve` running?)"))?;
    run(&engine, vec![set_scheme(scheme)?])?;
    let version = engine.read(|l| l.scheme_versions().count());
    println!("currency {code}: scheme version {version} in force");
    engine.shutdown();
    Ok(())
}

/// Staff who sign in to the API: an operator or an auditor of some currencies.
pub fn add_staff(
    dir: &Path,
    login: &str,
    role: server::Role,
    currencies: Vec<String>,
    password: String,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        matches!(role, server::Role::Operator | server::Role::Auditor),
        "staff are operators or auditors"
    );
    let auth = server::Auth::open(dir, false)?;
    let rt = tokio::runtime::Runtime::new()?;
    let first = currencies.first().cloned().unwrap_or_default();
    let id = rt
        .block_on(auth.create(server::NewUser {
            login: login.to_owned(),
            password,
            pin: None,
            role,
            currency: first,
            currencies,
            setup: None,
        }))
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.en))?;
    println!("user {id} ({login}) added");
    Ok(())
}

fn open_merchants(dir: &Path, code: &str) -> anyhow::Result<server::merchants::Merchants> {
    anyhow::ensure!(
        crate::data_dir::currencies(dir)?
            .iter()
            .any(|c| c.as_str() == code),
        "no currency {code} in {}",
        dir.display()
    );
    let key = server::auth::load_or_create_key(&dir.join("qr.key"))?;
    server::merchants::Merchants::open(dir, code, key)
}

/// `maeul admin sync-registry`: the diff, applied unless `apply` is false.
pub fn sync_registry(dir: &Path, code: &str, file: &Path, apply: bool) -> anyhow::Result<()> {
    let merchants = open_merchants(dir, code)?;
    let bytes = std::fs::read(file)?;
    let started = std::time::Instant::now();
    let (r, _) = merchants
        .sync(&bytes, apply, server::merchant_api::now_us())
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.detail.unwrap_or(e.en)))?;
    println!(
        "{} {} rows ({:?}) in {:.1} s: {} added, {} changed, {} suspended, {} resumed, {} reopened, {} closed, {} held, {} unchanged, {} absent, {} rejected",
        if apply { "synced" } else { "would sync" },
        r.rows,
        r.encoding,
        started.elapsed().as_secs_f64(),
        r.added.len(),
        r.changed.len(),
        r.suspended.len(),
        r.resumed.len(),
        r.reopened.len(),
        r.closed.len(),
        r.held.len(),
        r.unchanged,
        r.absent.len(),
        r.rejected.len()
    );
    for row in r.rejected.iter().take(50) {
        println!("  line {}: {} ({})", row.line, row.code, row.message_en);
    }
    if r.rejected.len() > 50 {
        println!("  … and {} more rejected rows", r.rejected.len() - 50);
    }
    Ok(())
}

/// `maeul admin import-aliases`.
pub fn import_aliases(dir: &Path, code: &str, file: &Path) -> anyhow::Result<()> {
    let merchants = open_merchants(dir, code)?;
    let r = merchants
        .import_aliases(&std::fs::read(file)?, server::merchant_api::now_us())
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.en))?;
    println!(
        "{} aliases added, {} repeated, {} rows rejected, {} account conflicts",
        r.added,
        r.identical_duplicates,
        r.rejected.len(),
        r.account_conflicts.len()
    );
    for row in &r.rejected {
        println!("  line {}: {}", row.line, row.problem);
    }
    Ok(())
}
