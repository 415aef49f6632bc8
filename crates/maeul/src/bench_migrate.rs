//! `maeul bench migrate`: an operator change at a town's scale. Builds a currency of
//! `citizens` wallets (each a signed-up user), `merchants` registry records and ledger
//! accounts, and `history` journaled payments; then times the export, the import into
//! a new data directory (the journal replayed and every file compared with it), and a
//! verification of the imported journal; prints Markdown.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use bench::workload::Workload;
use engine::EngineOptions;
use service::store::UserStore as _;

/// What to build.
#[derive(Clone, Debug)]
pub struct MigrateBench {
    pub dir: PathBuf,
    pub citizens: u64,
    pub merchants: u64,
    pub history: u64,
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn size_of(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(std::fs::Metadata::is_file)
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Builds the old operator's data directory.
fn build(o: &MigrateBench, data: &Path) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let workload = Workload {
        citizens: o.citizens,
        merchants: o.merchants,
        ..Workload::default()
    };
    let engine = bench::durable::prepared_engine(
        &data.join("currencies").join("bench"),
        &workload,
        EngineOptions::default(),
    )?;
    bench::durable::journal_payments(&engine, &workload, 77, o.history)?;
    engine.shutdown();
    // People: every wallet a signed-up citizen (a fixed hash: hashing a million
    // passwords would measure argon2, not the move).
    let store = service::store::sqlite::SqliteService::open_in(data)?;
    let now_s = service::now_us() / 1_000_000;
    let mut i = 0;
    while i < o.citizens {
        let chunk: Vec<_> = (i..(i + 100_000).min(o.citizens))
            .map(|n| service::store::SeedUser {
                login: format!("citizen-{n:07}"),
                login_key: format!("citizen-{n:07}"),
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$bench$bench".to_owned(),
                pin_hash: Some("bench-pin".to_owned()),
                account: bench::workload::wallet(n).account().0,
                person: Some(service::store::Person {
                    name: "김시민".to_owned(),
                    address: "부산광역시 중구".to_owned(),
                }),
            })
            .collect();
        store
            .seed_users(service::Role::Citizen, "bench", now_s, &chunk)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        i += 100_000;
    }
    let registry = service::merchants::Merchants::open(data, "bench", [7; 32])?;
    let mut synth = directory::synth::Synth::new(11);
    let mut made = 0;
    while made < o.merchants {
        let n = (o.merchants - made).min(10_000);
        let records = synth.merchants(
            n as usize,
            bench::workload::merchant(made).account().0,
            service::now_us(),
        );
        registry
            .create_many(records)
            .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.en))?;
        made += n;
    }
    Ok(started.elapsed())
}

pub fn run(o: &MigrateBench) -> anyhow::Result<()> {
    let root = o.dir.join("migrate");
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    let (old, set, new) = (root.join("old"), root.join("set"), root.join("new"));
    println!(
        "## Operator change at scale: {} citizens, {} merchants, {} payments of history\n",
        o.citizens, o.merchants, o.history
    );
    let built = build(o, &old).context("building the old operator's currency")?;
    let (secret, public) = migrate::people::generate_key();
    let started = Instant::now();
    let manifest = migrate::export(
        &migrate::ExportOptions {
            data_dir: old.clone(),
            currency: "bench".to_owned(),
            out: set.clone(),
            recipient: public,
        },
        &|_, _, _| {},
    )?;
    let exported = started.elapsed();
    let started = Instant::now();
    let report = migrate::import(
        &migrate::ImportOptions {
            set: set.clone(),
            data_dir: new.clone(),
            identity: secret,
            journal_here: false,
            verified_cut: None,
            taking: migrate::Taking::Fresh,
        },
        &|_, _, _| {},
    )?;
    let imported = started.elapsed();
    let started = Instant::now();
    let verified = engine::verify(
        crate::data_dir::storage(
            &new,
            &engine::CurrencyCode::new("bench").map_err(anyhow::Error::msg)?,
        )
        .as_ref(),
    );
    let verify_took = started.elapsed();
    anyhow::ensure!(
        verified.ok(),
        "the imported journal does not verify: {verified}"
    );
    anyhow::ensure!(
        verified.state_hash.map(|h| h.to_string()).as_deref() == Some(manifest.state_hash.as_str()),
        "the imported state hash differs"
    );
    println!("| step | time | what |");
    println!("|---|---|---|");
    println!(
        "| build (not part of the move) | {} | {} journal records |",
        secs(built),
        manifest.cut.seq
    );
    println!(
        "| `maeul export` | **{}** | replay from the first record, {} MB written ({} files, people encrypted) |",
        secs(exported),
        size_of(&set) / 1_000_000,
        manifest.files.len()
    );
    println!(
        "| `maeul import` | **{}** | sizes and SHA-256, replay, every file compared, {} users and {} merchants written |",
        secs(imported),
        report.users_added,
        report.merchants
    );
    for (step, took) in &report.steps {
        println!("| · {step} | {} | |", secs(*took));
    }
    println!(
        "| `maeul verify` of the new directory | **{}** | {} records, {} commands |",
        secs(verify_took),
        verified.records,
        verified.commands
    );
    println!(
        "| export + import + verify | **{}** | target: 5 minutes |",
        secs(exported + imported + verify_took)
    );
    println!(
        "\nState hash {} on both sides; balances by account kind {:?} on both sides: 0 won of difference.\n",
        manifest.state_hash, manifest.sums.balances_by_account_kind
    );
    if std::env::var_os("MAEUL_BENCH_KEEP").is_none() {
        std::fs::remove_dir_all(&root)?;
    }
    Ok(())
}
