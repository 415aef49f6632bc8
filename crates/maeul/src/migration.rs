//! The operator-change verbs: `maeul export`, `maeul import`, `maeul migrate keygen`.
//! The work is `migrate`'s; this is the command line around it (locks, bars, words).

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;

use crate::data_dir;

/// One progress bar per step, with its rate and time left when the total is known.
struct Bars {
    bars: indicatif::MultiProgress,
    current: Mutex<Option<(String, indicatif::ProgressBar)>>,
}

impl Bars {
    fn new() -> Bars {
        Bars {
            bars: indicatif::MultiProgress::new(),
            current: Mutex::new(None),
        }
    }

    fn update(&self, step: &str, done: u64, total: u64) {
        let Ok(mut current) = self.current.lock() else {
            return;
        };
        if current.as_ref().is_none_or(|(name, _)| name != step) {
            if let Some((_, bar)) = current.take() {
                bar.finish();
            }
            let bar = self.bars.add(indicatif::ProgressBar::new(total));
            let template = if total > 0 {
                "{prefix:>32} [{bar:30}] {pos}/{len} ({per_sec}, {eta} left)"
            } else {
                "{prefix:>32} {spinner} {elapsed}"
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_prefix(step.to_owned());
            bar.enable_steady_tick(Duration::from_millis(200));
            *current = Some((step.to_owned(), bar));
        }
        if let Some((_, bar)) = current.as_ref() {
            if total > 0 {
                bar.set_length(total);
            }
            bar.set_position(done);
        }
    }

    fn finish(&self) {
        if let Ok(mut current) = self.current.lock()
            && let Some((_, bar)) = current.take()
        {
            bar.finish();
        }
    }
}

/// The recipient given as a key (`age1…`) or as a file holding one.
fn recipient(to: &str) -> anyhow::Result<String> {
    if to.trim_start().starts_with("age1") {
        return Ok(to.trim().to_owned());
    }
    let text = std::fs::read_to_string(to)
        .with_context(|| format!("--to {to:?} is neither an age1… key nor a readable file"))?;
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("age1"))
        .map(str::to_owned)
        .with_context(|| format!("{to} holds no age1… public key"))
}

pub fn export(data_dir: &Path, out: &Path, currency: Option<&str>, to: &str) -> anyhow::Result<()> {
    let code = match currency {
        Some(c) => c.to_owned(),
        None => match data_dir::currencies(data_dir)?.as_slice() {
            [only] => only.as_str().to_owned(),
            [] => anyhow::bail!("{} holds no currency", data_dir.display()),
            _ => anyhow::bail!(
                "{} holds several currencies: say which with --currency",
                data_dir.display()
            ),
        },
    };
    let options = migrate::ExportOptions {
        data_dir: data_dir.to_owned(),
        currency: code.clone(),
        out: out.to_owned(),
        recipient: recipient(to)?,
    };
    let started = std::time::Instant::now();
    let bars = Bars::new();
    let manifest = migrate::export(&options, &|step, done, total| {
        bars.update(step, done, total)
    })?;
    bars.finish();
    println!(
        "exported {code} to {} in {:.1} s: records 1..={} (head {}), state hash {}",
        out.display(),
        started.elapsed().as_secs_f64(),
        manifest.cut.seq,
        manifest.cut.head_hash,
        manifest.state_hash
    );
    for f in &manifest.files {
        println!(
            "  {:<22} {:>10} rows {:>14} bytes  sha256 {}",
            f.name, f.rows, f.bytes, f.sha256
        );
    }
    println!(
        "  people: {} users, {} bank links, keys {:?}, encrypted to {} ({} unfinished sign-ups not carried)",
        manifest.people.users,
        manifest.people.bank_links,
        manifest.people.keys,
        manifest.people.recipient,
        manifest.people.unfinished_sign_ups
    );
    println!(
        "  balances by account kind: {:?}",
        manifest.sums.balances_by_account_kind
    );
    println!("  wallets by source: {:?}", manifest.sums.wallets_by_source);
    Ok(())
}

pub fn import(set: &Path, data_dir: &Path, identity: &Path) -> anyhow::Result<()> {
    let _lock = data_dir::lock(data_dir, "maeul import")?;
    let identity = std::fs::read_to_string(identity)
        .with_context(|| format!("reading the key file {}", identity.display()))?;
    let options = migrate::ImportOptions {
        set: set.to_owned(),
        data_dir: data_dir.to_owned(),
        identity,
    };
    let started = std::time::Instant::now();
    let bars = Bars::new();
    let report = migrate::import(&options, &|step, done, total| {
        bars.update(step, done, total)
    })?;
    bars.finish();
    let Some(m) = &report.manifest else {
        anyhow::bail!("the import read no manifest");
    };
    println!(
        "imported {} into {} in {:.1} s: journal {} (records 1..={}, head {}), state hash {} — 0 won of difference",
        m.currency,
        data_dir.display(),
        started.elapsed().as_secs_f64(),
        match report.journal {
            migrate::JournalStep::Copied => "copied and replayed",
            migrate::JournalStep::AlreadyThere => "already there, replayed again",
        },
        m.cut.seq,
        m.cut.head_hash,
        m.state_hash
    );
    println!(
        "  {} merchants, {} alias files added, {} notices added, {} of {} users added, {} bank links added, keys written {:?}",
        report.merchants,
        report.alias_files_added,
        report.notices_added,
        report.users_added,
        report.users_in_set,
        report.links_added,
        report.keys_written
    );
    for (step, took) in &report.steps {
        println!("  {step:<32} {:>8.2} s", took.as_secs_f64());
    }
    if !report.unlisted_files.is_empty() {
        println!(
            "  not read (not in the manifest): {:?}",
            report.unlisted_files
        );
    }
    Ok(())
}

pub fn keygen(out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        anyhow::bail!("{} exists: a key is never overwritten", out.display());
    }
    let (secret, public) = migrate::people::generate_key();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    options
        .open(out)
        .and_then(|mut f| f.write_all(secret.as_bytes()).and_then(|()| f.sync_all()))
        .with_context(|| format!("writing {}", out.display()))?;
    println!("{public}");
    eprintln!(
        "the secret key is in {} (keep it); give the public key above to the old operator for `maeul export --to`",
        out.display()
    );
    Ok(())
}
