//! The crash test: a child process (`maeul drill crash-load`) writes under concurrent
//! load and is killed with SIGKILL at random moments, many times. After each kill the
//! currency is opened in-process and
//!
//! - every command acknowledged so far (in any run) is re-submitted, rebuilt from its
//!   (client, key) by `drill::command`: each must answer as a repeat with the outcome
//!   that was acknowledged — an acknowledged command missing from the journal would be
//!   applied afresh instead;
//! - the ledger's full invariant check holds on the recovered state;
//! - after shutdown, `engine::verify` re-executes the whole journal from genesis and
//!   must find it intact, deciding every command the same way, with invariants holding.
//!
//! Unacknowledged commands are all-or-nothing: a batch is one checksummed journal
//! record, so a torn write is cut at start-up, and anything half-applied would break the
//! replayed outcomes, the state hash chain or the invariants (conservation included).
//!
//! `MAEUL_CRASH_ITERATIONS` sets the number of kills (default 15), `MAEUL_CRASH_SEED`
//! replays a given seed (printed at the start).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use engine::{Engine, EngineOptions};
use maeul::{data_dir, drill};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DEFAULT_ITERATIONS: u64 = 15;
/// Re-submitted commands per submission when checking.
const RESUBMIT_CHUNK: usize = 1_000;
/// How long a child may take to open the currency and print `READY`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// ACKs still arriving in this window before the kill count the kill as "under load".
const IN_FLIGHT_WINDOW: Duration = Duration::from_millis(20);

#[derive(Clone, Debug, PartialEq, Eq)]
struct Ack {
    client: u64,
    key: u64,
    outcome: String,
}

#[derive(Debug)]
enum Line {
    Ready,
    Ack(Ack),
    Other(String),
}

fn parse(line: &str) -> Line {
    if line == "READY" {
        return Line::Ready;
    }
    let mut parts = line.split(' ');
    if let (Some("ACK"), Some(client), Some(key), Some(outcome), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) && let (Ok(client), Ok(key)) = (client.parse(), key.parse())
    {
        return Line::Ack(Ack {
            client,
            key,
            outcome: outcome.to_owned(),
        });
    }
    Line::Other(line.to_owned())
}

/// Reads the child's stdout until EOF, sending every whole line. A last line without
/// its newline was cut by the kill and is dropped: it was never fully acknowledged.
fn read_lines(stdout: ChildStdout, tx: mpsc::Sender<Line>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut buf = String::new();
        loop {
            buf.clear();
            match reader.read_line(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let Some(line) = buf.strip_suffix('\n') else {
                return;
            };
            if tx.send(parse(line)).is_err() {
                return;
            }
        }
    })
}

/// Kills and reaps the child if the test panics before it does.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct RunReport {
    acks: Vec<Ack>,
    /// Whether ACKs were still arriving just before the kill.
    under_load: bool,
}

/// One child run: starts the drill, waits for `READY`, lets it write for `load`, kills
/// it with SIGKILL and returns every whole ACK line it printed.
fn run_and_kill(dir: &Path, run: u64, clients: u64, load: Duration) -> RunReport {
    let child = Command::new(env!("CARGO_BIN_EXE_maeul"))
        .args(["drill", "crash-load"])
        .arg(dir)
        .args(["--run", &run.to_string(), "--clients", &clients.to_string()])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawning maeul drill crash-load");
    let mut child = Guard(child);
    let stdout = child.0.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    let reader = read_lines(stdout, tx);

    let mut acks = Vec::new();
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Line::Ready) => break,
            Ok(Line::Ack(a)) => panic!("run {run}: ACK before READY: {a:?}"),
            Ok(Line::Other(l)) => eprintln!("run {run} child: {l}"),
            Err(RecvTimeoutError::Timeout) => panic!("run {run}: no READY in {READY_TIMEOUT:?}"),
            Err(RecvTimeoutError::Disconnected) => {
                let status = child.0.wait();
                panic!("run {run}: the child ended before READY: {status:?}");
            }
        }
    }

    std::thread::sleep(load.saturating_sub(IN_FLIGHT_WINDOW));
    drain(&rx, &mut acks);
    let before_window = acks.len();
    std::thread::sleep(load.min(IN_FLIGHT_WINDOW));
    if let Ok(Some(status)) = child.0.try_wait() {
        panic!("run {run}: the child ended by itself before the kill: {status}");
    }
    // `Child::kill` sends SIGKILL on Unix: no destructor, no flush, no shutdown.
    child.0.kill().expect("SIGKILL the child");
    let status = child.0.wait().expect("reaping the child");
    assert!(!status.success(), "run {run}: killed child exited {status}");
    // Everything the child wrote before dying is still in the pipe; read it to EOF.
    reader.join().expect("stdout reader");
    drain(&rx, &mut acks);
    RunReport {
        under_load: acks.len() > before_window,
        acks,
    }
}

fn drain(rx: &Receiver<Line>, acks: &mut Vec<Ack>) {
    for line in rx.try_iter() {
        match line {
            Line::Ack(a) => acks.push(a),
            Line::Ready => panic!("a second READY"),
            Line::Other(l) => eprintln!("child: {l}"),
        }
    }
}

/// Opens the currency in-process after a kill and checks everything acknowledged so far.
fn check(dir: &Path, acks: &[Ack], seed: u64, iteration: u64) {
    let storage = || data_dir::storage(dir, &drill::currency());
    let ctx = format!("seed {seed}, after kill {iteration}");
    let (engine, report) = Engine::open(storage(), EngineOptions::default())
        .unwrap_or_else(|e| panic!("{ctx}: the currency does not open: {e}"));
    if let Some(torn) = &report.torn_tail {
        eprintln!("  kill {iteration}: torn tail cut at start: {torn}");
    }

    let mut failures = Vec::new();
    for chunk in acks.chunks(RESUBMIT_CHUNK) {
        let envelopes = chunk
            .iter()
            .map(|a| drill::command(a.client, a.key))
            .collect();
        let outs = engine
            .execute(envelopes)
            .unwrap_or_else(|e| panic!("{ctx}: re-submitting acknowledged commands: {e}"));
        assert_eq!(outs.len(), chunk.len(), "{ctx}: one outcome per command");
        for (ack, out) in chunk.iter().zip(&outs) {
            let code = drill::outcome_code(out);
            if !out.repeated {
                failures.push(format!(
                    "client {} key {}: acknowledged `{}` but missing from the journal \
                     (applied afresh as `{code}`)",
                    ack.client, ack.key, ack.outcome
                ));
            } else if code != ack.outcome {
                failures.push(format!(
                    "client {} key {}: acknowledged `{}` but the journal says `{code}`",
                    ack.client, ack.key, ack.outcome
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{ctx}: {} of {} acknowledged commands are wrong after restart:\n{}",
        failures.len(),
        acks.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );

    if let Err(e) = engine.read(|l| l.check_all()) {
        panic!("{ctx}: invariants broken after recovery: {e}");
    }
    engine.shutdown();

    let verified = engine::verify(storage().as_ref());
    assert!(verified.ok(), "{ctx}: verify failed:\n{verified}");
}

#[test]
fn acknowledged_commands_survive_sigkill_under_load() {
    let iterations: u64 = std::env::var("MAEUL_CRASH_ITERATIONS")
        .map(|v| v.parse().expect("MAEUL_CRASH_ITERATIONS: a number"))
        .unwrap_or(DEFAULT_ITERATIONS);
    let seed: u64 = std::env::var("MAEUL_CRASH_SEED").map_or_else(
        |_| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        },
        |v| v.parse().expect("MAEUL_CRASH_SEED: a number"),
    );
    eprintln!("crash test: seed {seed} (MAEUL_CRASH_SEED), {iterations} kills");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();

    let mut acks: Vec<Ack> = Vec::new();
    let mut kills_under_load = 0;
    for i in 0..iterations {
        // Drill client ids are `run * 1000 + c + 1`: a fresh run number per child keeps
        // every (client, key) unique across runs.
        let run = i + 1;
        let clients = rng.random_range(1..=8);
        let load = Duration::from_millis(rng.random_range(30..=400));
        let report = run_and_kill(dir.path(), run, clients, load);
        eprintln!(
            "  kill {run}: {clients} clients, {load:?} of load, {} ACKs{}",
            report.acks.len(),
            if report.under_load {
                ", still arriving at the kill"
            } else {
                ""
            }
        );
        kills_under_load += u64::from(report.under_load);
        acks.extend(report.acks);
        check(dir.path(), &acks, seed, run);
    }

    eprintln!(
        "crash test: seed {seed}, {iterations} kills ({kills_under_load} with ACKs still \
         arriving), {} ACKs all present after restart, {:.1?}",
        acks.len(),
        started.elapsed()
    );
    if iterations > 0 {
        assert!(
            !acks.is_empty(),
            "seed {seed}: no ACK at all: the test proves nothing"
        );
        assert!(
            kills_under_load > 0,
            "seed {seed}: no kill landed while ACKs were flowing"
        );
    }
}
