//! The operator-change verbs: `maeul export`, `maeul import`, `maeul migrate keygen`.
//! The work is `migrate`'s; this is the command line around it (locks, bars, words).

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;

use crate::data_dir;

/// One progress bar per step, with its rate and time left when the total is known.
pub(crate) struct Bars {
    bars: indicatif::MultiProgress,
    current: Mutex<Option<(String, indicatif::ProgressBar)>>,
}

impl Bars {
    pub(crate) fn new() -> Bars {
        Bars {
            bars: indicatif::MultiProgress::new(),
            current: Mutex::new(None),
        }
    }

    pub(crate) fn update(&self, step: &str, done: u64, total: u64) {
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

    pub(crate) fn finish(&self) {
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
        journal_here: false,
        verified_cut: None,
        taking: migrate::Taking::Fresh,
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
        "  {} merchants, {} alias files added, {} notices added, {} of {} users added, {} sessions added, {} bank links added, keys written {:?}",
        report.merchants,
        report.alias_files_added,
        report.notices_added,
        report.users_added,
        report.users_in_set,
        report.sessions_added,
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

// ----- following another maeul, and the cutover -----------------------------------

/// Where the old node is and the credential its operator issued.
#[derive(Clone, Debug)]
pub struct Source {
    /// The old node's address (`http://host:port`).
    pub from: String,
    pub currency: String,
    pub credential: String,
}

impl Source {
    pub fn new(from: &str, currency: &str, credential_file: &Path) -> anyhow::Result<Source> {
        let credential = std::fs::read_to_string(credential_file)
            .with_context(|| format!("reading the credential {}", credential_file.display()))?
            .trim()
            .to_owned();
        Ok(Source {
            from: from.trim_end_matches('/').to_owned(),
            currency: currency.to_owned(),
            credential,
        })
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/api/v1/handover/{}/{tail}", self.from, self.currency)
    }
}

/// What a feed answer said besides its records.
struct Fetched {
    records: Vec<migrate::follow::FeedRecord>,
    durable_seq: u64,
    moved_seq: Option<u64>,
}

/// Most bytes one feed answer is read to (the old node sends at most 8 MiB, or one
/// record bigger than that): an answer past it is not the feed.
const FEED_READ_MAX: usize = 64 << 20;
/// Most bytes of the old node's answer to a base or cutover request.
const ANSWER_READ_MAX: usize = 1 << 20;
/// Most bytes of a set's manifest.
const MANIFEST_READ_MAX: u64 = 16 << 20;

/// The answer's body, refused once it passes `limit` bytes.
async fn capped_body(mut response: reqwest::Response, limit: usize) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            anyhow::bail!("the old node's answer is larger than {limit} bytes");
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn fetch(http: &reqwest::Client, src: &Source, after: u64) -> anyhow::Result<Fetched> {
    let response = http
        .get(src.url(&format!("journal?after={after}")))
        .bearer_auth(&src.credential)
        .send()
        .await?;
    let status = response.status();
    if !status.is_success() {
        anyhow::bail!(
            "the old node answered {status}: {}",
            response.text().await.unwrap_or_default()
        );
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let durable_seq = header("maeul-durable-seq").unwrap_or(0);
    let moved_seq = header("maeul-moved-seq");
    let body = capped_body(response, FEED_READ_MAX).await?;
    Ok(Fetched {
        records: migrate::follow::parse_feed(&body)?,
        durable_seq,
        moved_seq,
    })
}

/// How long to follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// Until the follower holds everything the old node had made durable once.
    CaughtUp,
    /// Until it holds this record.
    Seq(u64),
    /// Until the old node moved and every record is here, or the time is up.
    Moved(Option<Duration>),
}

/// Follows until `until`, printing how far behind it is; network trouble is retried,
/// a record that does not check stops it.
async fn follow_until(
    follower: &mut migrate::follow::Follower,
    http: &reqwest::Client,
    src: &Source,
    until: Until,
    bar: &indicatif::ProgressBar,
    lag_ms: &mut Vec<u64>,
) -> anyhow::Result<u64> {
    let started = std::time::Instant::now();
    let mut taken = 0u64;
    let mut failures = 0u32;
    loop {
        let (last, _) = follower.last();
        if let Until::Seq(target) = until
            && last >= target
        {
            return Ok(taken);
        }
        if let Until::Moved(Some(limit)) = until
            && started.elapsed() >= limit
        {
            return Ok(taken);
        }
        let fetched = match fetch(http, src, last).await {
            Ok(f) => {
                failures = 0;
                f
            }
            Err(e) => {
                failures += 1;
                bar.set_message(format!("the old node did not answer ({e:#}); retrying"));
                tokio::time::sleep(Duration::from_millis(200 * u64::from(failures.min(10)))).await;
                continue;
            }
        };
        let n = follower.take(&fetched.records)?;
        taken += n;
        // How old the newest record is once durable here (one clock: the same machine,
        // or clocks kept in step).
        if n > 0
            && let Some(newest) = fetched.records.last()
        {
            let now_us = service::now_us();
            lag_ms.push(now_us.saturating_sub(newest.timestamp_us) / 1_000);
        }
        let (last, _) = follower.last();
        let lag = fetched.durable_seq.saturating_sub(last);
        bar.set_position(last);
        bar.set_length(fetched.durable_seq.max(last));
        bar.set_message(format!("{lag} records behind"));
        match until {
            Until::CaughtUp if lag == 0 => return Ok(taken),
            Until::Moved(_) if fetched.moved_seq.is_some_and(|m| last >= m) => return Ok(taken),
            _ => {}
        }
        if n == 0 {
            // Nothing new: ask again shortly (the feed is cheap when there is nothing).
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn follow_bar(currency: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix:>12} record {pos}/{len} ({per_sec}) {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_prefix(currency.to_owned());
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// `maeul migrate follow`: keeps a verified copy of the old node's journal, until
/// Ctrl-C, `seconds`, or the old node's cutover.
pub fn follow(data_dir: &Path, src: &Source, seconds: Option<u64>) -> anyhow::Result<()> {
    let _lock = data_dir::lock(data_dir, "maeul migrate follow")?;
    let mut follower = migrate::follow::Follower::open(data_dir, &src.currency)?;
    let http = reqwest::Client::new();
    let bar = follow_bar(&src.currency);
    let rt = tokio::runtime::Runtime::new()?;
    let until = Until::Moved(seconds.map(Duration::from_secs));
    let mut lag_ms = Vec::new();
    let result = rt.block_on(async {
        tokio::select! {
            r = follow_until(&mut follower, &http, src, until, &bar, &mut lag_ms) => r.map(Some),
            _ = tokio::signal::ctrl_c() => Ok(None),
        }
    });
    bar.finish();
    follower.snapshot()?;
    let taken = result?;
    let (last, hash) = follower.last();
    println!(
        "following {}: holds records 1..={last} (head {hash}), state hash {}{}",
        src.currency,
        follower.state_hash().unwrap_or_default(),
        if taken.is_some() { "" } else { " (stopped)" }
    );
    if !lag_ms.is_empty() {
        lag_ms.sort_unstable();
        let at = |q: usize| lag_ms[(lag_ms.len() - 1) * q / 100];
        println!(
            "  lag (age of the newest record once durable here), {} reads: median {} ms, p99 {} ms, max {} ms",
            lag_ms.len(),
            at(50),
            at(99),
            at(100)
        );
    }
    Ok(())
}

/// What a cutover needs besides the old node.
#[derive(Clone, Debug)]
pub struct CutoverOptions {
    pub data_dir: std::path::PathBuf,
    pub source: Source,
    /// The successor's secret key file (its public key is sent to the old node).
    pub identity: std::path::PathBuf,
    /// Where the old node sends everyone (this node's public address).
    pub to: String,
    /// Journal the resume here (opening the engine for it). `false` when this node
    /// serves right after, in this process: the follower's state is handed to the
    /// serving engine ([`CutoverDone::follower`]), which journals the resume at its
    /// start; that saves a snapshot, a journal scan and an engine start in the pause.
    /// A node that dies in between stays halted until the cutover is run again (it
    /// resumes then).
    pub resume: bool,
}

/// Downloads a file of the set, refused once it passes the `limit` bytes its
/// manifest says it has.
async fn get_file(
    http: &reqwest::Client,
    src: &Source,
    name: &str,
    to: &Path,
    limit: u64,
) -> anyhow::Result<()> {
    let mut response = http
        .get(src.url(name))
        .bearer_auth(&src.credential)
        .send()
        .await?
        .error_for_status()?;
    let mut file = tokio::fs::File::create(to).await?;
    use tokio::io::AsyncWriteExt;
    let mut written = 0u64;
    while let Some(chunk) = response.chunk().await? {
        written += chunk.len() as u64;
        if written > limit {
            anyhow::bail!("{name} from the old node is larger than its {limit} bytes");
        }
        file.write_all(&chunk).await?;
    }
    file.sync_all().await?;
    Ok(())
}

/// What a cutover did, step by step.
#[derive(Debug)]
pub struct CutoverDone {
    pub moved: service::handover::Moved,
    pub steps: Vec<(&'static str, Duration)>,
    /// From asking the old node to stop to being ready to serve.
    pub paused: Duration,
    pub paused_since: std::time::Instant,
    pub report: migrate::ImportReport,
    /// What the base set taken before the pause carried (none: taken by an earlier run).
    pub base: Option<migrate::ImportReport>,
    /// The follower, holding the state at the cut, for the serving engine (when the
    /// resume is left to it).
    pub follower: Option<migrate::follow::Follower>,
    /// The merchant registry, opened before the pause, when the cutover's set changed
    /// none of its records.
    pub merchants: Option<service::merchants::Merchants>,
}

impl CutoverDone {
    fn print(&self, currency: &str) {
        let (m, r) = (&self.moved, &self.report);
        println!(
            "cutover of {currency}: the old node stopped at record {} (head {}), state {} here too — 0 won of difference",
            m.seq, m.head_hash, m.state_hash
        );
        if let Some(b) = &self.base {
            println!(
                "  before the pause, the base set: {} users, {} sessions, {} bank links, {} merchants",
                b.users_in_set, b.sessions_added, b.links_added, b.merchants
            );
        }
        println!(
            "  in the pause, what changed since: {} users, {} sessions, {} bank links, {} merchants written; {} merchants removed",
            r.users_added, r.sessions_added, r.links_added, r.merchants, r.merchants_removed
        );
        for (name, took) in &self.steps {
            println!("  {name:<52} {:>8.3} s", took.as_secs_f64());
        }
    }
}

/// `maeul migrate cutover`: [`run_cutover`], then (with `serve`) serving, the engine
/// starting from the follower's state.
pub fn cutover(
    o: &CutoverOptions,
    serve: Option<crate::serve::ServeOptions>,
) -> anyhow::Result<()> {
    let mut done = run_cutover(o)?;
    done.print(&o.source.currency);
    println!(
        "  writes paused so far: {:.3} s (serving starts now)",
        done.paused.as_secs_f64()
    );
    match serve {
        Some(mut options) => {
            options.paused_since = Some(done.paused_since);
            let merchants = done.merchants.take();
            let taken_over = done
                .follower
                .take()
                .map(|follower| crate::serve::TakenOver {
                    currency: o.source.currency.clone(),
                    follower,
                    merchants,
                })
                .into_iter()
                .collect();
            crate::serve::run_taking_over(options, taken_over)
        }
        None => Ok(()),
    }
}

/// Catches up, asks the old node to stop writing, takes its last records, checks the
/// head and state hashes, imports the rest of the currency and journals the resume.
/// Rerun after a kill: each step finds what the last run did.
pub fn run_cutover(o: &CutoverOptions) -> anyhow::Result<CutoverDone> {
    let lock = data_dir::lock(&o.data_dir, "maeul migrate cutover")?;
    let identity_text = std::fs::read_to_string(&o.identity)
        .with_context(|| format!("reading the key file {}", o.identity.display()))?;
    let recipient = migrate::people::parse_identity(&identity_text)?
        .to_public()
        .to_string();
    let src = &o.source;
    let rt = tokio::runtime::Runtime::new()?;
    let http = reqwest::Client::new();
    let mut follower = migrate::follow::Follower::open(&o.data_dir, &src.currency)?;
    let mut steps: Vec<(&str, Duration)> = Vec::new();
    let mut lap = std::time::Instant::now();
    let mut step = |name, steps: &mut Vec<(&str, Duration)>| {
        steps.push((name, lap.elapsed()));
        lap = std::time::Instant::now();
    };
    let bar = follow_bar(&src.currency);
    let mut lag_ms = Vec::new();
    let follow = |follower: &mut migrate::follow::Follower, until, lag_ms: &mut Vec<u64>| {
        rt.block_on(follow_until(follower, &http, src, until, &bar, lag_ms))
    };
    follow(&mut follower, Until::CaughtUp, &mut lag_ms)?;
    step("catch up", &mut steps);
    // People and registry while the old node still serves: the pause then moves only
    // what changed since.
    let (mut base_id, mut base) =
        rt.block_on(take_base(o, &http, &identity_text, &recipient, &bar))?;
    follow(&mut follower, Until::CaughtUp, &mut lag_ms)?;
    step("base set of people and registry taken", &mut steps);
    // The registry as the base left it, loaded while the old node still serves (a
    // second or more at 100,000 merchants): used if the cutover changes none of it.
    let qr_key_file = o.data_dir.join("qr.key");
    let load_registry = || {
        (!o.resume && qr_key_file.exists()).then(|| {
            let (dir, code, key_file) = (
                o.data_dir.clone(),
                src.currency.clone(),
                qr_key_file.clone(),
            );
            std::thread::spawn(move || {
                let key = service::auth::load_or_create_key(&key_file)?;
                service::merchants::Merchants::open(&dir, &code, key)
            })
        })
    };
    let mut early_registry = load_registry();
    let mut pause_from = std::time::Instant::now();
    let moved: service::handover::Moved = loop {
        let request = service::handover::CutoverRequest {
            to: o.to.clone(),
            recipient: recipient.clone(),
            base: Some(base_id.clone()),
        };
        match rt.block_on(post_until_done(&http, src, "cutover", &request, &bar))? {
            Ok(moved) => break moved,
            // The old node holds another base now (made for another rehearsal, or
            // lost): nothing stopped there; take its base and ask again.
            Err((status, body))
                if status == reqwest::StatusCode::CONFLICT && body.contains("base_unknown") =>
            {
                let _ = std::fs::remove_file(base_marker(o));
                (base_id, base) =
                    rt.block_on(take_base(o, &http, &identity_text, &recipient, &bar))?;
                early_registry = load_registry();
                follow(&mut follower, Until::CaughtUp, &mut lag_ms)?;
                pause_from = std::time::Instant::now();
            }
            Err((status, body)) => {
                anyhow::bail!("the old node refused the cutover ({status}): {body}")
            }
        }
    };
    step(
        "old node stops writing (halt journaled, set made)",
        &mut steps,
    );
    follow(&mut follower, Until::Seq(moved.seq), &mut lag_ms)?;
    bar.finish();
    let (last, head) = follower.last();
    let state = follower.state_hash().unwrap_or_default();
    // Past the cut only on a rerun of a cutover that got as far as serving: those are
    // this node's own records, and the import below replays to the cut and checks
    // its head and state hashes.
    let past_the_cut = last > moved.seq;
    if !past_the_cut
        && (last != moved.seq || head.to_string() != moved.head_hash || state != moved.state_hash)
    {
        anyhow::bail!(
            "after record {last} this copy has head {head} and state {state}; the old node stopped at \
             record {} with head {} and state {}: not serving",
            moved.seq,
            moved.head_hash,
            moved.state_hash
        );
    }
    // Serving in this process takes the follower's state as it is; otherwise the
    // next start loads it from this snapshot.
    let follower = if o.resume {
        follower.snapshot()?;
        // Its journal is closed here: the resume below opens it for writing.
        drop(follower);
        None
    } else {
        Some(follower)
    };
    step(
        "last records taken, head and state hashes equal",
        &mut steps,
    );
    let set = o.data_dir.join("handover").join(&src.currency);
    std::fs::create_dir_all(&set)?;
    if set.exists() {
        std::fs::remove_dir_all(&set)?;
    }
    std::fs::create_dir_all(&set)?;
    rt.block_on(fetch_set(&http, src, "set", &set))?;
    step("handover set fetched", &mut steps);
    // Past the cut this node has served, and it serves only after the import: doing
    // it again would put the old node's people back over what changed here since.
    let report = if past_the_cut {
        migrate::ImportReport::default()
    } else {
        migrate::import(
            &migrate::ImportOptions {
                set: set.clone(),
                data_dir: o.data_dir.clone(),
                identity: identity_text.clone(),
                journal_here: true,
                // Checked just above, record by record: the import need not replay.
                verified_cut: Some(migrate::VerifiedCut {
                    seq: moved.seq,
                    head_hash: moved.head_hash.clone(),
                    state_hash: moved.state_hash.clone(),
                }),
                taking: migrate::Taking::Delta { base_id },
            },
            &|_, _, _| {},
        )?
    };
    step("people, registry, notices imported", &mut steps);
    let merchants = match early_registry.map(|t| t.join()) {
        Some(Ok(Ok(m)))
            if report.merchants == 0
                && report.merchants_removed == 0
                && report.alias_files_added == 0
                && !report.revenue_bands_set =>
        {
            Some(m)
        }
        None => None,
        Some(Ok(Err(e))) => {
            tracing::warn!(error = %e, "the registry loaded before the pause is not used");
            None
        }
        Some(Err(_)) => {
            tracing::warn!("loading the registry before the pause panicked: it is loaded again");
            None
        }
        Some(Ok(Ok(_))) => {
            tracing::info!("the cutover changed the registry: it is loaded again");
            None
        }
    };
    if o.resume {
        resume(&o.data_dir, &src.currency)?;
        step("resume journaled", &mut steps);
    }
    drop(lock);
    Ok(CutoverDone {
        moved,
        steps,
        paused: pause_from.elapsed(),
        paused_since: pause_from,
        report,
        base,
        follower,
        merchants,
    })
}

/// Posts `body` to the old node until it is done: it answers 202 while it works in
/// the background (ask again, the same request) and network trouble is retried.
/// Answers the result, or the old node's refusal (status and body).
async fn post_until_done<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    src: &Source,
    tail: &str,
    body: &impl serde::Serialize,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<Result<T, (reqwest::StatusCode, String)>> {
    loop {
        let response = http
            .post(src.url(tail))
            .bearer_auth(&src.credential)
            .json(body)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                bar.set_message(format!("the old node did not answer ({e}); asking again"));
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let status = response.status();
        if status == reqwest::StatusCode::ACCEPTED {
            bar.set_message("the old node is making the set");
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        // An answer, or a problem, is small: one past the cap is not the old node's.
        let body = capped_body(response, ANSWER_READ_MAX).await?;
        if !status.is_success() {
            return Ok(Err((status, String::from_utf8_lossy(&body).into_owned())));
        }
        return Ok(Ok(serde_json::from_slice(&body)?));
    }
}

/// Where a follower keeps the base set it took, and the file naming it once taken.
fn base_dir(o: &CutoverOptions) -> std::path::PathBuf {
    o.data_dir
        .join("handover")
        .join(format!("{}.base", o.source.currency))
}

fn base_marker(o: &CutoverOptions) -> std::path::PathBuf {
    base_dir(o).join("taken")
}

/// The base set this follower took, or a new one asked for, fetched and taken (people
/// and registry made equal to it); answers its id, and what it carried when taken now.
async fn take_base(
    o: &CutoverOptions,
    http: &reqwest::Client,
    identity: &str,
    recipient: &str,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<(String, Option<migrate::ImportReport>)> {
    let src = &o.source;
    if let Ok(id) = std::fs::read_to_string(base_marker(o)) {
        return Ok((id.trim().to_owned(), None));
    }
    let made: Result<service::handover::BaseMade, _> = post_until_done(
        http,
        src,
        "base",
        &service::handover::BaseRequest {
            recipient: recipient.to_owned(),
        },
        bar,
    )
    .await?;
    let made = match made {
        Ok(made) => made,
        // Moved already (a rerun after the switch, its base marker gone): the cutover
        // answers where it moved, and nothing is imported again.
        Err((status, _)) if status == reqwest::StatusCode::GONE => {
            return Ok((String::new(), None));
        }
        Err((status, body)) => anyhow::bail!("the old node made no base set ({status}): {body}"),
    };
    let dir = base_dir(o);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    fetch_set(http, src, "base", &dir).await?;
    let id = migrate::base_id(&dir)?.unwrap_or_default();
    anyhow::ensure!(
        id == made.id,
        "the base set fetched is {id}, not the {} the old node made",
        made.id
    );
    let set = dir.clone();
    let (data_dir, identity) = (o.data_dir.clone(), identity.to_owned());
    let report = tokio::task::spawn_blocking(move || {
        migrate::import(
            &migrate::ImportOptions {
                set,
                data_dir,
                identity,
                journal_here: true,
                verified_cut: None,
                taking: migrate::Taking::Base,
            },
            &|_, _, _| {},
        )
    })
    .await??;
    std::fs::write(base_marker(o), &id)?;
    Ok((id, Some(report)))
}

/// Downloads a set (`manifest.json`, then every file it lists but the journal) from
/// `…/{kind}/{file}` into `dir`.
async fn fetch_set(
    http: &reqwest::Client,
    src: &Source,
    kind: &str,
    dir: &Path,
) -> anyhow::Result<()> {
    get_file(
        http,
        src,
        &format!("{kind}/manifest.json"),
        &dir.join("manifest.json"),
        MANIFEST_READ_MAX,
    )
    .await?;
    let manifest: migrate::format::Manifest =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json"))?)?;
    for f in &manifest.files {
        // Names come from the old node: a file of the set, never a path.
        if f.name.contains(['/', '\\']) || f.name.starts_with('.') || f.name.is_empty() {
            anyhow::bail!(
                "the set's manifest names {:?}, which is not a file of a set",
                f.name
            );
        }
        if f.name != migrate::format::files::JOURNAL {
            get_file(
                http,
                src,
                &format!("{kind}/{}", f.name),
                &dir.join(&f.name),
                f.bytes,
            )
            .await?;
        }
    }
    Ok(())
}

/// Journals the new operator's resume: the halt the old node wrote at the cutover
/// ends here, in the same journal.
fn resume(data_dir: &Path, currency: &str) -> anyhow::Result<()> {
    let code = engine::CurrencyCode::new(currency).map_err(anyhow::Error::msg)?;
    let (engine, _) = engine::Engine::open(
        data_dir::storage(data_dir, &code),
        engine::EngineOptions::default(),
    )?;
    let r = resume_engine(&engine, currency);
    engine.shutdown();
    r
}

/// The resume, through an engine already open (the serving node's own, at its start).
/// Idempotent: a currency not halted is left as it is, and the key is the same on
/// every run.
pub(crate) fn resume_engine(engine: &engine::Engine, currency: &str) -> anyhow::Result<()> {
    let halted_by_handover = engine.read(|l| {
        l.halted().is_some_and(|h| {
            matches!(&h.cause, ledger::HaltCause::Operator { operator, .. }
                if operator.as_str() == service::handover::HALTED_BY)
        })
    });
    if !halted_by_handover {
        return Ok(()); // a rerun: resumed already
    }
    let outcomes = engine.execute(vec![ledger::Envelope {
        client: service::handover::CLIENT,
        key: service::handover::ledger_key(&format!("resume after handover of {currency}")),
        command: ledger::Command::Resume {
            operator: ledger::Text::new(service::handover::HALTED_BY)
                .map_err(anyhow::Error::msg)?,
        },
    }])?;
    if let Some(r) = outcomes.into_iter().find_map(|o| o.result.err()) {
        anyhow::bail!("the resume was refused: {}", r.code().as_str());
    }
    Ok(())
}

// ----- the rehearsal ---------------------------------------------------------------

/// Copies a directory tree (a data directory: journals, snapshots, SQLite files with
/// their WAL, keys).
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<u64> {
    std::fs::create_dir_all(to)?;
    let mut bytes = 0;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            bytes += copy_tree(&src, &dst)?;
        } else if entry.file_name() != data_dir::LOCK_FILE {
            bytes +=
                std::fs::copy(&src, &dst).with_context(|| format!("copying {}", src.display()))?;
        }
    }
    Ok(bytes)
}

/// A `maeul serve` of this binary on `data`, on free loopback ports with the built-in
/// simulated bank (a rehearsal never talks to a real bank), and its API's address.
fn spawn_serve(
    data: &Path,
    log: &Path,
    more: &[&str],
) -> anyhow::Result<(std::process::Child, String, Duration)> {
    use std::io::BufRead;
    let started = std::time::Instant::now();
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--bank-listen",
            "127.0.0.1:0",
        ])
        .args(["--demo-rate", "0", "--data-dir"])
        .arg(data)
        .args(more)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(log)?)
        .spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let first = lines
        .next()
        .context("the node stopped before it served")??;
    std::thread::spawn(move || lines.for_each(drop));
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .map(|w| w.trim_end_matches(',').to_owned())
        .with_context(|| format!("unexpected first line {first:?}"))?;
    Ok((child, url, started.elapsed()))
}

fn stop(mut child: std::process::Child) {
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// `maeul migrate rehearse`: the whole plan on a copy of the old operator's data
/// directory, on this machine: a node serving the copy, a credential, a follower that
/// catches up, the cutover, and the new node's start, each timed; then both journals
/// verified. Prints the expected write pause. The original is only read.
pub fn rehearse(data: &Path, currency: &str, work: &Path, keep: bool) -> anyhow::Result<()> {
    if work.exists() {
        anyhow::bail!(
            "{} exists: the rehearsal works in a new directory",
            work.display()
        );
    }
    let (old, new) = (work.join("old"), work.join("new"));
    let mut steps: Vec<(String, Duration)> = Vec::new();
    let t = std::time::Instant::now();
    let bytes = copy_tree(data, &old)?;
    steps.push((
        format!("copy the data directory ({} MB)", bytes / 1_000_000),
        t.elapsed(),
    ));
    let credential = service::handover::Handover::open(&old, None)?
        .issue(currency)
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.en))?;
    let credential_file = work.join("credential");
    std::fs::write(&credential_file, &credential)?;
    let key = work.join("successor.key");
    let (secret, _) = migrate::people::generate_key();
    std::fs::write(&key, secret)?;

    let (old_node, old_url, old_start) = spawn_serve(&old, &work.join("old.log"), &[])?;
    steps.push(("the old node starts on the copy".into(), old_start));
    let result = (|| -> anyhow::Result<f64> {
        let src = Source {
            from: old_url.clone(),
            currency: currency.to_owned(),
            credential,
        };
        let t = std::time::Instant::now();
        {
            let _lock = data_dir::lock(&new, "maeul migrate rehearse")?;
            let mut follower = migrate::follow::Follower::open(&new, currency)?;
            let rt = tokio::runtime::Runtime::new()?;
            let bar = follow_bar(currency);
            rt.block_on(follow_until(
                &mut follower,
                &reqwest::Client::new(),
                &src,
                Until::CaughtUp,
                &bar,
                &mut Vec::new(),
            ))?;
            bar.finish_and_clear();
            follower.snapshot()?;
            steps.push((
                format!(
                    "follow from the first record ({} records)",
                    follower.last().0
                ),
                t.elapsed(),
            ));
        }
        // The switch as an operator runs it: `maeul migrate cutover --listen`, which
        // serves from the follower's state as soon as the hashes check.
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .args(["migrate", "cutover"])
            .arg(&new)
            .args(["--from", &old_url, "--currency", currency, "--credential"])
            .arg(&credential_file)
            .arg("--identity")
            .arg(&key)
            .args(["--to", "http://127.0.0.1:1", "--listen", "127.0.0.1:0"])
            .args(["--bank-listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(work.join("new.log"))?)
            .spawn()?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut pause = None;
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line?;
            println!("{line}");
            if let Some(rest) = line.split("writes were paused ").nth(1) {
                pause = rest
                    .split_whitespace()
                    .next()
                    .and_then(|s| s.parse::<f64>().ok());
                break;
            }
        }
        stop(child);
        pause.context("the cutover stopped before it served (see new.log)")
    })();
    stop(old_node);
    let pause = result?;
    println!(
        "rehearsal of the operator change of {currency} (on a copy of {}):",
        data.display()
    );
    for (name, took) in &steps {
        println!("  {name:<52} {:>8.3} s", took.as_secs_f64());
    }
    let code = engine::CurrencyCode::new(currency).map_err(anyhow::Error::msg)?;
    for (side, dir) in [("old", &old), ("new", &new)] {
        let report = engine::verify(data_dir::storage(dir, &code).as_ref());
        anyhow::ensure!(report.ok(), "the {side} copy does not verify: {report}");
    }
    println!(
        "expected write pause: {pause:.3} s (from the old node's halt to the new node serving); both journals verify"
    );
    if !keep {
        std::fs::remove_dir_all(work)?;
    }
    Ok(())
}
