//! `maeul bench legacy`: a town leaving another vendor, at a town's scale. Writes a
//! synthetic legacy dump (`citizens` members with one to three balances each,
//! `merchants` shops, CP949, every defect row), creates a currency, and times the
//! import, a verification of the journal it wrote, and a rerun (a delta with nothing
//! to change); prints Markdown with the control totals compared.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use migrate::legacy::synth::{SynthOptions, write_dump};

/// What to build.
#[derive(Clone, Debug)]
pub struct LegacyBench {
    pub dir: PathBuf,
    pub citizens: u64,
    pub merchants: u64,
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

pub fn run(o: &LegacyBench) -> anyhow::Result<()> {
    let root = o.dir.join("legacy");
    if root.exists() {
        std::fs::remove_dir_all(&root).with_context(|| format!("clearing {}", root.display()))?;
    }
    let (data, dumps) = (root.join("data"), root.join("dump"));
    let scheme =
        ledger::scheme::SchemeConfig::from_toml(include_str!("../../../schemes/busan-like.toml"))
            .map_err(|e| anyhow::anyhow!("the built-in scheme: {e:?}"))?;
    crate::admin::create_currency(&data, "town", &scheme, 0)?;
    let started = Instant::now();
    let synth = write_dump(
        &dumps,
        &SynthOptions {
            members: usize::try_from(o.citizens)?,
            merchants: usize::try_from(o.merchants)?,
            defects: true,
            seed: 42,
            day: 0,
            now_us: service::now_us(),
        },
        0,
    )?;
    let wrote = started.elapsed();
    let args = crate::legacy::ImportArgs {
        data_dir: data.clone(),
        currency: "town".into(),
        mapping: dumps.join("mapping.toml"),
        totals: dumps.join("totals.toml"),
        report: None,
        dumps: dumps.clone(),
    };
    let started = Instant::now();
    let first = crate::legacy::import(&args)?;
    let imported = started.elapsed();
    let started = Instant::now();
    let code = engine::CurrencyCode::new("town").map_err(anyhow::Error::msg)?;
    let report = engine::verify(crate::data_dir::storage(&data, &code).as_ref());
    anyhow::ensure!(
        report.ok(),
        "the imported journal does not verify: {report}"
    );
    let verified = started.elapsed();
    let started = Instant::now();
    let again = crate::legacy::import(&args)?;
    let rerun = started.elapsed();
    let differences: Vec<String> = first
        .status
        .totals
        .iter()
        .filter(|c| c.differs())
        .map(|c| c.name.clone())
        .collect();
    let bytes: u64 = ["members.csv", "wallets.csv", "merchants.csv"]
        .iter()
        .filter_map(|f| std::fs::metadata(dumps.join(f)).ok())
        .map(|m| m.len())
        .sum();
    println!();
    println!(
        "### Legacy import: {} members ({} balance rows), {} merchants, CP949 ({:.0} MB)",
        synth.member_rows,
        synth.wallet_rows,
        synth.merchant_rows,
        bytes as f64 / 1e6
    );
    println!();
    println!("| step | time |");
    println!("|---|---|");
    println!(
        "| write the synthetic dump (not part of the import) | {} |",
        secs(wrote)
    );
    for (step, took) in &first.steps {
        println!("| import: {step} | {} |", secs(*took));
    }
    println!("| **import, total** | **{}** |", secs(imported));
    println!(
        "| verify the journal it wrote ({} records) | {} |",
        report.records,
        secs(verified)
    );
    println!(
        "| **import + verification** | **{}** |",
        secs(imported + verified)
    );
    println!(
        "| rerun of the same dump ({} ledger commands: its resume and halt) | {} |",
        again.commands,
        secs(rerun)
    );
    println!();
    println!(
        "{} ledger commands, {} report rows; control totals: {}",
        first.commands,
        first.report.len(),
        if differences.is_empty() {
            "all six agree, 0 won of difference".to_owned()
        } else {
            format!("DIFFER: {}", differences.join(", "))
        }
    );
    std::fs::remove_dir_all(&root).ok();
    Ok(())
}
