//! PostgreSQL's own failover: a primary with a synchronous standby (two clusters made
//! here with `initdb` and `pg_basebackup`, on their own ports), the primary killed under
//! load, the standby promoted, and maeul reconnecting through a multi-host address
//! (`target_session_attrs=read-write`). With synchronous commit nothing maeul
//! acknowledged is lost by the promotion. Needs PostgreSQL's server programs
//! (`pg_config --bindir`) and a `postgres` system user when run as root.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use engine::{CurrencyCode, Engine, EngineOptions, Storage};
use ledger::*;
use pgstore::{Db, PgStorage, lease};

mod common;

fn bindir() -> PathBuf {
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .expect("pg_config (PostgreSQL's server package) is needed for this test");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL program as the `postgres` user when this test runs as root
/// (the server refuses to run as root).
fn pg(program: &str, args: &[&str]) {
    let path = bindir().join(program);
    let status = if is_root() {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(&path)
            .args(args)
            .status()
    } else {
        Command::new(&path).args(args).status()
    }
    .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(status.success(), "{program} {args:?} failed: {status}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Two clusters in a temporary directory, stopped (immediately) when dropped.
struct Clusters {
    root: tempfile::TempDir,
    primary_port: u16,
    standby_port: u16,
}

impl Clusters {
    fn dir(&self, name: &str) -> String {
        self.root.path().join(name).display().to_string()
    }

    fn start() -> Clusters {
        let root = tempfile::tempdir().unwrap();
        if is_root() {
            let s = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(root.path())
                .status()
                .unwrap();
            assert!(s.success());
        }
        let c = Clusters {
            root,
            primary_port: free_port(),
            standby_port: free_port(),
        };
        let primary = c.dir("primary");
        pg(
            "initdb",
            &[
                "-D",
                &primary,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
        );
        let conf = format!(
            "port = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             wal_level = replica\nmax_wal_senders = 4\nsynchronous_commit = on\n\
             synchronous_standby_names = 'standby1'\nfsync = on\n",
            c.primary_port,
            c.root.path().display()
        );
        append(&Path::new(&primary).join("postgresql.conf"), &conf);
        pg_ctl_start(&primary);
        let standby = c.dir("standby");
        pg(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &c.primary_port.to_string(),
                "-U",
                "postgres",
                "-D",
                &standby,
                "-R",
                "-X",
                "stream",
            ],
        );
        append(
            &Path::new(&standby).join("postgresql.auto.conf"),
            &format!(
                // Once promoted it has no standby of its own: it must not wait for one
                // (what Patroni's non-strict synchronous mode does).
                "port = {}\nprimary_conninfo = 'host=127.0.0.1 port={} user=postgres application_name=standby1'\n\
                 synchronous_standby_names = ''\n",
                c.standby_port, c.primary_port
            ),
        );
        pg_ctl_start(&standby);
        c
    }

    fn primary_url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres",
            self.primary_port
        )
    }

    /// Both hosts: libpq's multi-host form, for whichever takes writes.
    fn both_url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
            self.primary_port, self.standby_port
        )
    }
}

impl Drop for Clusters {
    fn drop(&mut self) {
        for name in ["primary", "standby"] {
            let dir = self.dir(name);
            if Path::new(&dir).join("postmaster.pid").exists() {
                let path = bindir().join("pg_ctl");
                let _ = if is_root() {
                    Command::new("runuser")
                        .args(["-u", "postgres", "--"])
                        .arg(&path)
                        .args(["-D", &dir, "-m", "immediate", "stop"])
                        .status()
                } else {
                    Command::new(&path)
                        .args(["-D", &dir, "-m", "immediate", "stop"])
                        .status()
                };
            }
        }
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn pg_ctl_start(dir: &str) {
    let log = format!("{dir}.log");
    pg(
        "pg_ctl",
        &["-D", dir, "-l", &log, "-w", "-t", "60", "start"],
    );
}

fn payment(key: u128) -> Envelope {
    common::payment(key, amount(key))
}

fn amount(key: u128) -> i64 {
    1 + (key % 500) as i64
}

#[test]
fn killing_the_primary_and_promoting_the_standby_loses_nothing_acknowledged() {
    let c = Clusters::start();
    // The standby must be the synchronous one before the test means anything.
    let primary = Db::connect(&c.primary_url()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let conn = primary.conn().unwrap();
        let rows = conn
            .run(
                "read replication state",
                conn.query(
                    "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'",
                    &[],
                ),
            )
            .unwrap();
        if rows.first().map(|r| r.get::<_, String>(0)).as_deref() == Some("sync") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the standby never became synchronous"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(primary);

    let db = Arc::new(Db::connect(&c.both_url()).unwrap());
    pgstore::migrate(&db).unwrap();
    let ttl = Duration::from_secs(30);
    let lease = lease::try_acquire(&db, "town", "node-a", ttl)
        .unwrap()
        .unwrap();
    let storage: Arc<dyn Storage> = Arc::new(PgStorage::writer(Arc::clone(&db), &lease));
    let engine = Engine::create(
        storage,
        CurrencyCode::new("town").unwrap(),
        LedgerConfig::default(),
        EngineOptions::default(),
    )
    .unwrap();
    let setup = common::accounts(1u128 << 100, 1_000_000_000);
    assert!(
        engine
            .execute(setup)
            .unwrap()
            .iter()
            .all(Outcome::is_applied)
    );

    // Four clients pay, each retrying a payment under its key until it is answered.
    let engine = Arc::new(engine);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4u128)
        .map(|client| {
            let engine = Arc::clone(&engine);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut applied = Vec::new();
                let mut key = client * 1_000_000 + 1;
                let mut retries = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    match engine.execute(vec![payment(key)]) {
                        Ok(outs) => {
                            assert!(outs[0].is_applied(), "{outs:?}");
                            applied.push(key);
                            key += 1;
                        }
                        // Not durable or refused while recovering: same key again.
                        Err(_) => {
                            retries += 1;
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
                (applied, retries)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));

    // The primary dies at once (no shutdown checkpoint), and the standby is promoted.
    pg(
        "pg_ctl",
        &["-D", &c.dir("primary"), "-m", "immediate", "stop"],
    );
    let killed = Instant::now();
    pg("pg_ctl", &["-D", &c.dir("standby"), "-w", "promote"]);
    // Payments go on against the new primary.
    let before = engine.durable_seq();
    let deadline = Instant::now() + Duration::from_secs(30);
    while engine.durable_seq() <= before + 5 {
        assert!(
            Instant::now() < deadline,
            "no write after the promotion: {:?}",
            engine.health()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let resumed = killed.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let mut paid = Vec::new();
    let mut retries = 0;
    for c in clients {
        let (applied, r) = c.join().unwrap();
        paid.extend(applied);
        retries += r;
    }
    let hash = engine.state_hash();
    drop(engine);
    assert!(retries > 0, "the primary's death was never felt");

    // What the new primary holds is every acknowledged payment, once.
    let report = engine::verify(&PgStorage::reader(db, "town"));
    assert!(report.ok(), "{report}");
    assert_eq!(report.state_hash, Some(hash));
    let payments = report.transfers_by_kind.get("payment").unwrap();
    assert_eq!(payments.count, paid.len() as u64);
    assert_eq!(
        payments.won,
        paid.iter().map(|k| i128::from(amount(*k))).sum::<i128>()
    );
    println!(
        "PostgreSQL promotion: {} payments, writes again {} ms after the primary was killed",
        paid.len(),
        resumed.as_millis()
    );
}

/// A commit that waits for a synchronous standby that is gone never returns by itself
/// (the statement timeout does not cover it): the client gives up, the write is
/// answered "maybe written" and the connection is not reused, instead of the currency
/// hanging without a word.
#[test]
fn a_commit_waiting_for_a_gone_standby_fails_instead_of_hanging() {
    let c = Clusters::start();
    let db = Arc::new(
        Db::connect(&c.primary_url())
            .unwrap()
            .with_answer_within(Duration::from_secs(3)),
    );
    pgstore::migrate(&db).unwrap();
    let lease = lease::try_acquire(&db, "town", "node-a", Duration::from_secs(60))
        .unwrap()
        .unwrap();
    let storage = PgStorage::writer(Arc::clone(&db), &lease);
    let mut journal = storage.open_writer(None).unwrap().store;
    journal
        .append_durable(&[journal::NewRecord {
            seq: 1,
            timestamp_us: 1,
            payload: b"while the standby lives",
        }])
        .unwrap();
    pg(
        "pg_ctl",
        &["-D", &c.dir("standby"), "-m", "immediate", "stop"],
    );
    let started = Instant::now();
    let err = journal
        .append_durable(&[journal::NewRecord {
            seq: 2,
            timestamp_us: 2,
            payload: b"nobody confirms this",
        }])
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(&err, journal::JournalError::Database { message, .. } if message.contains("did not answer")),
        "{err}"
    );
    assert!(took < Duration::from_secs(10), "gave up after {took:?}");
}
