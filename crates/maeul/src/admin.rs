//! Operator verbs that need no running server, and refuse to run beside one (or beside
//! another verb): each holds the data directory's lock (`data_dir::lock`) while it
//! works. Create a currency, load a scheme file, add staff who sign in to the API, sync
//! a registry file, import a previous operator's QR codes.

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
    let _lock = data_dir::lock(dir, "`maeul admin create-currency`")?;
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
    let _lock = data_dir::lock(dir, "`maeul admin load-scheme`")?;
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
    let _lock = data_dir::lock(dir, "`maeul admin add-staff`")?;
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
            password: password.into(),
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

fn open_merchants(dir: &Path, code: &str) -> anyhow::Result<service::merchants::Merchants> {
    anyhow::ensure!(
        crate::data_dir::currencies(dir)?
            .iter()
            .any(|c| c.as_str() == code),
        "no currency {code} in {}",
        dir.display()
    );
    let key = service::auth::load_or_create_key(&dir.join("qr.key"))?;
    service::merchants::Merchants::open(dir, code, key)
}

/// How `maeul admin sync-registry` takes a file.
#[derive(Clone, Debug, Default)]
pub struct SyncRegistryOptions {
    /// `false`: only print what would change.
    pub apply: bool,
    pub new_status: directory::NewStatus,
    /// Take rows whose 사업자등록번호 fails its check digit as unverified, awaiting review.
    pub unverified_brn: bool,
    /// Write every row's outcome here (CSV, UTF-8 with BOM).
    pub report: Option<std::path::PathBuf>,
    /// The operator's revenue labels: stored for every later sync (API ones too), or
    /// with a dry run used for that run only.
    pub revenue_bands: Option<std::path::PathBuf>,
}

/// Rows needing attention printed before pointing at the full report.
const PRINTED_ROWS_MAX: usize = 20;

/// The revenue thresholds of the currency's scheme in force (opening its journal: the
/// server must be stopped, as for every offline verb).
fn scheme_thresholds(dir: &Path, code: &str) -> anyhow::Result<Vec<Won>> {
    let code = CurrencyCode::new(code).map_err(anyhow::Error::msg)?;
    let (engine, _) = Engine::open(data_dir::storage(dir, &code), EngineOptions::default())
        .with_context(|| format!("opening currency {code} (is `maeul serve` running?)"))?;
    let thresholds = engine
        .read(|l| {
            l.scheme_at(l.last_timestamp())
                .map(|v| service::mirror::revenue_thresholds(&v.config))
        })
        .unwrap_or_default();
    engine.shutdown();
    Ok(thresholds)
}

/// `maeul admin sync-registry`: the diff, applied unless `apply` is false. Revenue bands
/// are judged against the scheme in force, the file's QR column becomes aliases in the
/// same run, and every row's outcome can be written to a CSV file.
pub fn sync_registry(
    dir: &Path,
    code: &str,
    file: &Path,
    o: &SyncRegistryOptions,
) -> anyhow::Result<()> {
    let _lock = data_dir::lock(dir, "`maeul admin sync-registry`")?;
    let merchants = open_merchants(dir, code)?;
    let thresholds = scheme_thresholds(dir, code)?;
    let now = service::now_us();
    let api = |e: service::ServiceError| {
        anyhow::anyhow!("{}: {}", e.code, e.detail_text().unwrap_or(&e.en))
    };
    let mut bands = None;
    if let Some(path) = &o.revenue_bands {
        let table = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        if o.apply {
            let n = merchants.set_revenue_bands(&table, now).map_err(api)?;
            println!("{n} revenue labels of the operator's stored for this and later syncs");
        } else {
            let parsed = directory::RevenueBands::from_csv(&table).map_err(|errors| {
                let lines: Vec<String> = errors
                    .iter()
                    .map(|e| format!("line {}: {}", e.line, e.message_en))
                    .collect();
                anyhow::anyhow!("revenue labels: {}", lines.join("; "))
            })?;
            bands = Some(parsed);
        }
    }
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let started = std::time::Instant::now();
    let request = service::merchants::SyncRequest {
        apply: o.apply,
        new_status: o.new_status,
        unverified_brn: o.unverified_brn,
        revenue_thresholds: thresholds,
        revenue_bands: bands,
    };
    let outcome = merchants.sync(&bytes, &request, now).map_err(api)?;
    let r = &outcome.report;
    println!(
        "{} {} rows ({:?}) in {:.1} s: {} added, {} changed, {} suspended, {} resumed, {} reopened, {} closed, {} held, {} unchanged, {} absent, {} rejected, {} warnings; previous QR codes: {} linked, {} already linked, {} refused",
        if o.apply { "synced" } else { "would sync" },
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
        r.rejected.len(),
        r.warnings.len(),
        outcome.aliases.added,
        outcome.aliases.unchanged,
        outcome.aliases.refused,
    );
    let attention: Vec<&directory::ReportRow> = outcome
        .rows
        .iter()
        .filter(|row| match row.outcome.as_str() {
            "rejected" | "warning" | "held" => true,
            "alias" => !matches!(row.code.as_str(), "alias_added" | "alias_unchanged"),
            _ => false,
        })
        .collect();
    for row in attention.iter().take(PRINTED_ROWS_MAX) {
        println!(
            "  line {}: {} {} — {}",
            row.line.map_or_else(|| "-".to_owned(), |l| l.to_string()),
            row.outcome,
            row.code,
            row.message_en
        );
    }
    let more = attention.len().saturating_sub(PRINTED_ROWS_MAX);
    match &o.report {
        Some(path) => {
            std::fs::write(path, directory::report_csv(&outcome.rows))
                .with_context(|| format!("writing {}", path.display()))?;
            if more > 0 {
                println!("  … and {more} more");
            }
            println!(
                "every row ({} outcomes) is in {}",
                outcome.rows.len(),
                path.display()
            );
        }
        None if more > 0 => {
            println!("  … and {more} more: add --report FILE to write every row as CSV")
        }
        None => {}
    }
    Ok(())
}

/// `maeul admin import-aliases`.
pub fn import_aliases(dir: &Path, code: &str, file: &Path) -> anyhow::Result<()> {
    let _lock = data_dir::lock(dir, "`maeul admin import-aliases`")?;
    let merchants = open_merchants(dir, code)?;
    let r = merchants
        .import_aliases(&std::fs::read(file)?, service::now_us())
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
