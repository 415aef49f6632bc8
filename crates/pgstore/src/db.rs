//! Connections to one PostgreSQL database, usable from any thread.
//!
//! tokio-postgres splits a connection into a `Client` (requests sent over a channel)
//! and a `Connection` (the socket) that must be polled. Every connection's socket is
//! driven on one background runtime of this crate; a caller waits for its answer with
//! `futures_executor::block_on`, which needs no runtime, so the same call works on the
//! engine's plain threads and inside an async handler alike (where it blocks, as a
//! SQLite call does).

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use tokio::runtime::Runtime;
use tokio_postgres::config::TargetSessionAttrs;
use tokio_postgres::{Client, Config, NoTls};

use crate::PgError;

/// Connections a [`Db`] has open at once, lent or idle, unless told otherwise: the
/// server's own limit (100 by default) is shared by every node and tool.
const OPEN_MAX: usize = 32;
/// How long a caller waits for a connection when all are lent, before it is told.
const LEND_WAIT: Duration = Duration::from_secs(5);
/// How long connecting may take, unless the URL says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A statement that runs longer is cancelled by the server: a stuck database must fail
/// a write (answered "not durable, retry") rather than hold the currency forever.
const STATEMENT_TIMEOUT_MS: u64 = 10_000;
/// What the client waits for any answer. Longer than the statement timeout, for what
/// that timeout does not cover: a commit waiting for a synchronous standby that is
/// gone never returns by itself.
const ANSWER_WITHIN: Duration = Duration::from_secs(15);
/// The same for a snapshot's save or load, which has no statement timeout.
const UNBOUNDED_ANSWER_WITHIN: Duration = Duration::from_secs(600);

fn io_runtime() -> Result<&'static Runtime, PgError> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("pg-io")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| PgError::other("start the PostgreSQL I/O thread", e.clone()))
}

/// Waits for a future on the current thread, whatever kind of thread it is.
pub(crate) fn wait<F: Future>(f: F) -> F::Output {
    futures_executor::block_on(f)
}

/// The connections of a [`Db`]: the idle ones, and how many are open in all.
#[derive(Default)]
struct Pool {
    idle: Vec<Client>,
    open: usize,
}

/// One database, and at most a bounded number of connections to it.
pub struct Db {
    config: Config,
    /// How long a request may wait for its answer ([`ANSWER_WITHIN`] by default).
    answer_within: Duration,
    /// For messages: hosts, ports and database, never the password.
    describe: String,
    pool: Mutex<Pool>,
    /// Signalled when a connection is given back or closed.
    returned: Condvar,
    open_max: usize,
    lend_wait: Duration,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db").field("at", &self.describe).finish()
    }
}

impl Db {
    /// Parses a libpq URL or key=value string (`postgres://user@host1:5432,host2:5433/db
    /// ?target_session_attrs=read-write` reaches whichever of several hosts is the
    /// primary) and connects once, so a wrong address fails here, not on first use.
    pub fn connect(url: &str) -> Result<Db, PgError> {
        Db::with_config(parse(url)?)
    }

    /// [`Db::connect`] with a parsed configuration (to add options to it).
    pub fn with_config(mut config: Config) -> Result<Db, PgError> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // A dead peer is noticed in seconds, not after the kernel's two hours.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(5));
        #[cfg(target_os = "linux")]
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(Duration::from_secs(10));
        }
        if config.get_target_session_attrs() == TargetSessionAttrs::Any {
            // maeul only writes: a standby in the host list is skipped.
            config.target_session_attrs(TargetSessionAttrs::ReadWrite);
        }
        let describe = describe(&config);
        let db = Db {
            config,
            answer_within: ANSWER_WITHIN,
            describe,
            pool: Mutex::new(Pool::default()),
            returned: Condvar::new(),
            open_max: OPEN_MAX,
            lend_wait: LEND_WAIT,
        };
        let first = db.open()?;
        let mut pool = db.pool.lock();
        pool.idle.push(first);
        pool.open = 1;
        drop(pool);
        Ok(db)
    }

    /// At most `max` connections open at once (32 by default); a caller finding them all
    /// lent waits up to `wait` (5 s by default), then is told.
    pub fn with_connections_at_most(mut self, max: usize, wait: Duration) -> Db {
        self.open_max = max.max(1);
        self.lend_wait = wait;
        self
    }

    /// Requests wait at most `limit` for their answer (the default is 15 s).
    pub fn with_answer_within(mut self, limit: Duration) -> Db {
        self.answer_within = limit;
        self
    }

    /// Hosts, ports and database name, for messages.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    fn open(&self) -> Result<Client, PgError> {
        let config = self.config.clone();
        let runtime = io_runtime()?;
        let connecting = runtime.spawn(async move {
            let (client, connection) = config.connect(NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!("PostgreSQL connection ended: {e}");
                }
            });
            Ok::<Client, tokio_postgres::Error>(client)
        });
        let client = wait(connecting)
            .map_err(|e| PgError::other("connect to PostgreSQL", e.to_string()))?
            .map_err(|e| PgError::new("connect to PostgreSQL", &e))?;
        wait(client.batch_execute(&format!(
            "SET statement_timeout = {STATEMENT_TIMEOUT_MS}; SET idle_in_transaction_session_timeout = {STATEMENT_TIMEOUT_MS}"
        )))
        .map_err(|e| PgError::new("set session limits", &e))?;
        Ok(client)
    }

    /// A connection for one piece of work; it goes back to the idle list when dropped,
    /// unless it broke. When all are lent, waits for one; past the wait, an error.
    pub fn conn(&self) -> Result<Conn<'_>, PgError> {
        let deadline = std::time::Instant::now() + self.lend_wait;
        let mut pool = self.pool.lock();
        loop {
            if let Some(c) = pool.idle.pop() {
                if c.is_closed() {
                    pool.open -= 1;
                    continue;
                }
                return Ok(Conn::new(self, c));
            }
            if pool.open < self.open_max {
                pool.open += 1;
                drop(pool);
                return match self.open() {
                    Ok(c) => Ok(Conn::new(self, c)),
                    Err(e) => {
                        self.closed();
                        Err(e)
                    }
                };
            }
            if self.returned.wait_until(&mut pool, deadline).timed_out() {
                return Err(PgError::other(
                    "take a connection",
                    format!(
                        "all {} connections to {} are in use; try again",
                        self.open_max, self.describe
                    ),
                ));
            }
        }
    }

    /// A connection closed or was given up: room for another.
    fn closed(&self) {
        self.pool.lock().open -= 1;
        self.returned.notify_one();
    }
}

impl Db {
    /// A connection of its own that listens on `channel`: each notification's payload
    /// comes out of [`Listener::wait`].
    pub fn listen(&self, channel: &str) -> Result<Listener, PgError> {
        let config = self.config.clone();
        let (tx, rx) = crossbeam_channel::bounded::<String>(LISTEN_BACKLOG);
        let listening = io_runtime()?.spawn(async move {
            let (client, mut connection) = config.connect(NoTls).await?;
            tokio::spawn(async move {
                use tokio_postgres::AsyncMessage;
                while let Some(message) =
                    std::future::poll_fn(|cx| connection.poll_message(cx)).await
                {
                    match message {
                        // Full: the listener has not looked yet, and one wake-up is as
                        // good as many.
                        Ok(AsyncMessage::Notification(n)) => {
                            let _ = tx.try_send(n.payload().to_owned());
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::debug!("PostgreSQL listener ended: {e}");
                            break;
                        }
                    }
                }
            });
            Ok::<Client, tokio_postgres::Error>(client)
        });
        let client = wait(listening)
            .map_err(|e| PgError::other("connect a listener", e.to_string()))?
            .map_err(|e| PgError::new("connect a listener", &e))?;
        let quoted = channel.replace('"', "");
        wait(client.batch_execute(&format!("LISTEN \"{quoted}\"")))
            .map_err(|e| PgError::new("listen", &e))?;
        Ok(Listener { client, rx })
    }
}

/// Notifications kept for a listener that is busy; more are dropped (a wake-up is a
/// wake-up: the listener reads the journal, not the payloads).
const LISTEN_BACKLOG: usize = 1_024;

/// A connection listening on one channel.
#[derive(Debug)]
pub struct Listener {
    client: Client,
    rx: crossbeam_channel::Receiver<String>,
}

impl Listener {
    /// The next notification's payload, or `None` after `timeout` (or at once when the
    /// connection was lost: [`Listener::is_closed`]).
    pub fn wait(&self, timeout: Duration) -> Option<String> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// Drops the notifications already waiting.
    pub fn drain(&self) {
        while self.rx.try_recv().is_ok() {}
    }

    /// The connection was lost: listen again.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

/// A connection lent by a [`Db`]. Its methods are tokio-postgres's, whose futures
/// the caller waits for with [`Conn::run`].
pub struct Conn<'a> {
    db: &'a Db,
    client: Option<Client>,
    /// How long an answer may take before the connection is given up.
    answer_within: Cell<Duration>,
    /// An answer did not come in time: the request may still run on the server, so
    /// the connection is not lent again.
    abandoned: Cell<bool>,
}

impl fmt::Debug for Conn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("at", &self.db.describe)
            .finish()
    }
}

impl Conn<'_> {
    /// Waits for a request made on this connection.
    pub fn run<T>(
        &self,
        op: &'static str,
        f: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, PgError> {
        let limit = self.answer_within.get();
        match wait_at_most(f, limit) {
            Some(answer) => answer.map_err(|e| PgError::new(op, &e)),
            None => {
                self.abandoned.set(true);
                Err(PgError::other(
                    op,
                    format!(
                        "PostgreSQL did not answer within {} s (a commit waiting for a \
                         synchronous standby that is gone, or a stalled server); it may \
                         still happen",
                        limit.as_secs()
                    ),
                ))
            }
        }
    }
}

impl<'a> Conn<'a> {
    fn new(db: &'a Db, client: Client) -> Conn<'a> {
        Conn {
            db,
            client: Some(client),
            answer_within: Cell::new(db.answer_within),
            abandoned: Cell::new(false),
        }
    }
}

/// Waits for `f`, at most `limit`; `None` when it did not finish in time (it is dropped).
fn wait_at_most<F: Future>(f: F, limit: Duration) -> Option<F::Output> {
    // The timer belongs to the connections' runtime, whose thread drives it; without
    // that runtime there is no timer, and the wait is the server's own timeouts.
    let Ok(runtime) = io_runtime() else {
        return Some(wait(f));
    };
    let deadline = {
        let _entered = runtime.enter();
        tokio::time::sleep(limit)
    };
    wait(async move {
        tokio::select! {
            biased;
            out = f => Some(out),
            () = deadline => None,
        }
    })
}

impl Conn<'_> {
    /// Runs `f` with no statement timeout: saving or loading a snapshot of hundreds of
    /// megabytes takes longer than a journal write may. The connection is not reused
    /// when `f` fails, so the limit cannot stay off by mistake.
    pub fn unbounded<T>(
        mut self,
        op: &'static str,
        f: impl FnOnce(&Self) -> Result<T, PgError>,
    ) -> Result<T, PgError> {
        self.run(op, self.batch_execute("SET statement_timeout = 0"))?;
        self.answer_within.set(UNBOUNDED_ANSWER_WITHIN);
        let done = f(&self);
        self.answer_within.set(self.db.answer_within);
        match done {
            Ok(v) => {
                let reset = self.run(
                    op,
                    self.batch_execute(&format!("SET statement_timeout = {STATEMENT_TIMEOUT_MS}")),
                );
                if let Err(e) = reset {
                    self.client = None;
                    return Err(e);
                }
                Ok(v)
            }
            Err(e) => {
                self.client = None;
                Err(e)
            }
        }
    }
}

impl Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        // Present from creation until drop or `unbounded`'s failure, which consumes it.
        self.client.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        match self.client.take() {
            Some(c) if !c.is_closed() && !self.abandoned.get() => {
                self.db.pool.lock().idle.push(c);
                self.db.returned.notify_one();
            }
            // Broken, abandoned, or given up by `unbounded`: closed when dropped.
            _ => self.db.closed(),
        }
    }
}

/// Column `i` of a row the database gave. A value of another type, or a NULL, is an
/// error that names the column, never a panic.
pub(crate) fn column<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    i: usize,
    op: &'static str,
) -> Result<T, PgError> {
    row.try_get(i)
        .map_err(|e| PgError::other(op, format!("column {i}: {e}")))
}

/// An int8 column that maeul only writes non-negative (seqs, epochs, timestamps).
pub(crate) fn unsigned(
    row: &tokio_postgres::Row,
    i: usize,
    op: &'static str,
) -> Result<u64, PgError> {
    let v: i64 = column(row, i, op)?;
    u64::try_from(v).map_err(|_| PgError::other(op, format!("column {i} holds {v}, below zero")))
}

/// Reads a libpq URL or key=value string.
pub fn parse(url: &str) -> Result<Config, PgError> {
    Config::from_str(url).map_err(|e| PgError::other("read the PostgreSQL address", e.to_string()))
}

fn describe(config: &Config) -> String {
    use tokio_postgres::config::Host;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                Host::Unix(path) => path.display().to_string(),
            };
            match config.get_ports().get(i).or(config.get_ports().first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    format!(
        "postgres {}/{}",
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}
