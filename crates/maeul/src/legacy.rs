//! `maeul migrate import | sign-off | go-live | legacy-dump`: a town leaving another
//! vendor. The work is `migrate::legacy`'s; this is the command line around it (the
//! data directory's lock, the stores, bars, words).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use engine::{CurrencyCode, Engine, EngineOptions};
use migrate::legacy::{self, ControlTotals, LegacyAccounts, LegacyImport, Mapping};

use crate::admin::{CASHBACK_BUDGET, DISCOUNT_BUDGET, RESERVE};
use crate::data_dir;
use crate::migration::Bars;

/// What `maeul migrate import` is given.
#[derive(Clone, Debug)]
pub struct ImportArgs {
    pub data_dir: PathBuf,
    pub currency: String,
    /// The folder with the dump files.
    pub dumps: PathBuf,
    pub mapping: PathBuf,
    pub totals: PathBuf,
    /// Every reported row as CSV (default: `import-report.csv` in the dumps' folder).
    pub report: Option<PathBuf>,
}

/// Rows printed before pointing at the report file.
const PRINTED_ROWS_MAX: usize = 20;

fn open_engine(data_dir: &Path, code: &CurrencyCode) -> anyhow::Result<Engine> {
    anyhow::ensure!(
        data_dir::currencies(data_dir)?.iter().any(|c| c == code),
        "no currency {code} in {} (create it first: `maeul admin create-currency`)",
        data_dir.display()
    );
    let (engine, _) = Engine::open(data_dir::storage(data_dir, code), EngineOptions::default())
        .with_context(|| format!("opening currency {code}"))?;
    Ok(engine)
}

/// The outcome of one run, for the caller (tests, the benchmark) and for people.
pub fn import(a: &ImportArgs) -> anyhow::Result<legacy::LegacyOutcome> {
    let _lock = data_dir::lock(&a.data_dir, "`maeul migrate import`")?;
    let read =
        |p: &Path| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()));
    let mapping = Mapping::parse(&read(&a.mapping)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.mapping.display()))?;
    let totals = ControlTotals::parse(&read(&a.totals)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.totals.display()))?;
    let code = CurrencyCode::new(&a.currency).map_err(anyhow::Error::msg)?;
    let engine = open_engine(&a.data_dir, &code)?;
    let qr_key = service::auth::load_or_create_key(&a.data_dir.join("qr.key"))?;
    let merchants = service::merchants::Merchants::open(&a.data_dir, code.as_str(), qr_key)?;
    let users = service::store::sqlite::SqliteService::open_in(&a.data_dir)?;
    let options = LegacyImport {
        dumps: a.dumps.clone(),
        mapping,
        totals,
        currency: code.as_str().to_owned(),
        currency_dir: data_dir::currency_dir(&a.data_dir, &code),
        accounts: LegacyAccounts {
            reserve: RESERVE,
            allowance_budget: DISCOUNT_BUDGET,
            cashback_budget: CASHBACK_BUDGET,
        },
        now_us: service::now_us(),
    };
    let bars = Bars::new();
    let outcome = legacy::run(&options, &engine, &merchants, &users, &|s, d, t| {
        bars.update(s, d, t)
    });
    bars.finish();
    engine.shutdown();
    let outcome = outcome?;
    let report_path = a
        .report
        .clone()
        .unwrap_or_else(|| a.dumps.join("import-report.csv"));
    std::fs::write(&report_path, legacy::report_csv(&outcome.report))
        .with_context(|| format!("writing {}", report_path.display()))?;
    print_outcome(&outcome, &report_path);
    Ok(outcome)
}

fn print_outcome(o: &legacy::LegacyOutcome, report: &Path) {
    let d = &o.in_dump;
    println!(
        "read {} member, {} wallet and {} merchant rows; {} members and {} merchants new, {} old QR codes linked, {} ledger commands",
        d.member_rows,
        d.wallet_rows,
        d.merchant_rows,
        o.members_added,
        o.merchants_added,
        o.aliases_added,
        o.commands
    );
    for (step, took) in &o.steps {
        println!("  {step:<44} {:>8.1} s", took.as_secs_f64());
    }
    let mut by_code: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for r in &o.report {
        *by_code.entry((r.outcome.as_str(), r.code)).or_default() += 1;
    }
    if !by_code.is_empty() {
        println!(
            "report ({} rows, every one in {}):",
            o.report.len(),
            report.display()
        );
        for ((outcome, code), n) in &by_code {
            println!("  {n:>8}  {outcome:<9} {code}");
        }
        for r in o.report.iter().take(PRINTED_ROWS_MAX) {
            println!(
                "  {}:{} {} [{}] {} — {}",
                r.file, r.line, r.legacy_id, r.field, r.code, r.message_en
            );
        }
    }
    println!("control totals (stated by the old operator / imported):");
    for c in &o.status.totals {
        let stated = c
            .stated
            .map_or_else(|| "not stated".to_owned(), |s| s.to_string());
        let mark = match (c.differs(), &c.sign_off) {
            (false, _) => "agrees".to_owned(),
            (true, Some(s)) => {
                format!("differs by {}, signed off by {}", difference(c), s.operator)
            }
            (true, None) => format!("DIFFERS by {}: sign off or fix", difference(c)),
        };
        println!("  {:<24} {stated:>18} {:>18}  {mark}", c.name, c.imported);
    }
    if o.status.blocking().is_empty() {
        println!(
            "the currency is halted until `maeul migrate go-live` (every total agrees or is signed off)"
        );
    } else {
        println!(
            "the currency stays halted: sign off each difference (`maeul migrate sign-off`) or import a corrected dump"
        );
    }
}

fn difference(c: &legacy::Comparison) -> String {
    match c.stated {
        Some(s) => format!("{:+}", c.imported - s),
        None => "(not stated)".to_owned(),
    }
}

/// `maeul migrate sign-off`.
pub fn sign_off(
    data_dir: &Path,
    currency: &str,
    total: &str,
    operator: &str,
    reason: &str,
) -> anyhow::Result<()> {
    let _lock = data_dir::lock(data_dir, "`maeul migrate sign-off`")?;
    let code = CurrencyCode::new(currency).map_err(anyhow::Error::msg)?;
    let engine = open_engine(data_dir, &code)?;
    let r = legacy::sign_off(
        &engine,
        &data_dir::currency_dir(data_dir, &code),
        total,
        operator,
        reason,
        service::now_us(),
    );
    engine.shutdown();
    let status = r?;
    let left: Vec<&str> = status.blocking().iter().map(|c| c.name.as_str()).collect();
    println!("signed off {total} (journaled)");
    if left.is_empty() {
        println!("every difference is signed off: `maeul migrate go-live` takes the currency live");
    } else {
        println!("still to sign off: {}", left.join(", "));
    }
    Ok(())
}

/// `maeul migrate go-live`.
pub fn go_live(data_dir: &Path, currency: &str, operator: &str) -> anyhow::Result<()> {
    let _lock = data_dir::lock(data_dir, "`maeul migrate go-live`")?;
    let code = CurrencyCode::new(currency).map_err(anyhow::Error::msg)?;
    let engine = open_engine(data_dir, &code)?;
    let r = legacy::go_live(&engine, &data_dir::currency_dir(data_dir, &code), operator);
    engine.shutdown();
    r?;
    println!("currency {code} is live (resume journaled); legacy dumps are no longer imported");
    Ok(())
}

/// `maeul migrate legacy-dump`: a synthetic dump to rehearse with.
pub fn write_synthetic(
    out: &Path,
    options: &legacy::synth::SynthOptions,
    skew_won: i64,
) -> anyhow::Result<()> {
    let d = legacy::synth::write_dump(out, options, skew_won)
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "wrote {} member, {} wallet and {} merchant rows (CP949, CRLF) with mapping.toml and totals.toml to {}",
        d.member_rows,
        d.wallet_rows,
        d.merchant_rows,
        out.display()
    );
    Ok(())
}
