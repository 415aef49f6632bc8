//! A hot standby of one currency: the journal's rows replayed and checked as they are
//! written, woken by the writer's notifications, ready to take over when the writer's
//! lease runs out.
//!
//! Taking over is cheap because nothing is loaded again: the standby takes the lease
//! (a new epoch, so the old writer is fenced from here on), reads the few records
//! written since its last wake-up, and starts the engine on the state it already holds
//! ([`engine::Engine::open_replayed`]).

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use engine::{Engine, EngineOptions, News, Replayer, StartReport, Storage};
use ledger::Rules;

use crate::db::Listener;
use crate::{Db, JOURNAL_CHANNEL, Lease, PgStorage};

/// Why a standby could not follow or take over.
#[derive(Debug, thiserror::Error)]
pub enum StandbyError {
    #[error("{0}")]
    Database(#[from] crate::PgError),
    #[error("{0}")]
    Journal(#[from] journal::JournalError),
    /// A record this build decides differently: the standby must not serve it.
    #[error("record {seq} does not replay as written: {what}")]
    Diverged { seq: u64, what: String },
    #[error("{0}")]
    Engine(#[from] engine::EngineError),
    #[error("the lease is held by another node")]
    LeaseHeld,
}

/// One currency, replayed from the shared journal and kept current.
#[derive(Debug)]
pub struct Standby {
    db: Arc<Db>,
    currency: String,
    reader: PgStorage,
    replayer: Replayer,
    /// The record the replay started after (a snapshot's, or 0).
    started_from: u64,
    news: JournalNews,
}

/// Word from a currency's writer that it wrote: `NOTIFY maeul_journal`, sent after
/// each commit.
#[derive(Debug)]
pub struct JournalNews {
    db: Arc<Db>,
    currency: String,
    listener: Option<Listener>,
}

impl JournalNews {
    /// Listens from now on (before the first read, so that a record written in
    /// between wakes the reader).
    pub fn listen(db: Arc<Db>, currency: &str) -> JournalNews {
        let listener = db.listen(JOURNAL_CHANNEL).ok();
        JournalNews {
            db,
            currency: currency.to_owned(),
            listener,
        }
    }
}

impl engine::News for JournalNews {
    /// Without a listener (it was lost) it just waits, and listens again.
    fn wait(&mut self, timeout: Duration) -> bool {
        if self.listener.as_ref().is_none_or(Listener::is_closed) {
            self.listener = self.db.listen(JOURNAL_CHANNEL).ok();
            if self.listener.is_none() {
                std::thread::sleep(timeout);
                return false;
            }
        }
        let Some(listener) = &self.listener else {
            return false;
        };
        let deadline = std::time::Instant::now() + timeout;
        let prefix = format!("{}:", self.currency);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match listener.wait(left) {
                Some(payload) if payload.starts_with(&prefix) => {
                    // Several write groups may have been announced: one read takes all.
                    listener.drain();
                    return true;
                }
                Some(_) if !left.is_zero() => continue,
                _ => return false,
            }
        }
    }
}

impl Standby {
    /// Replays the currency's journal from this build's newest snapshot (or its
    /// genesis), and listens for what is written next.
    pub fn open(db: Arc<Db>, currency: &str) -> Result<Standby, StandbyError> {
        let reader = PgStorage::reader(Arc::clone(&db), currency);
        let rules = Rules::this_build();
        let from_snapshot = reader.list_snapshots()?.into_iter().rev().find_map(|seq| {
            let s = reader.load_snapshot(seq).ok()?;
            Replayer::from_snapshot(s.seq, s.chain_hash, &s.payload, &rules).ok()
        });
        let replayer = from_snapshot.unwrap_or_else(|| Replayer::from_genesis(&rules));
        let started_from = replayer.last_seq();
        // Listening before the first read: a record written in between wakes it.
        let news = JournalNews::listen(Arc::clone(&db), currency);
        let mut standby = Standby {
            db,
            currency: currency.to_owned(),
            reader,
            replayer,
            started_from,
            news,
        };
        standby.catch_up()?;
        Ok(standby)
    }

    pub fn currency(&self) -> &str {
        &self.currency
    }

    /// The last record replayed.
    pub fn last_seq(&self) -> u64 {
        self.replayer.last_seq()
    }

    /// The replayed state's hash (none before the genesis record).
    pub fn state_hash(&self) -> Option<ledger::StateHash> {
        self.replayer.ledger().map(|l| l.state_hash())
    }

    /// Replays every record written since the last call; answers how many.
    pub fn catch_up(&mut self) -> Result<u64, StandbyError> {
        let from = self.replayer.last_seq() + 1;
        let expected = Some(self.replayer.last_hash());
        let mut taken = 0u64;
        let mut diverged = None;
        let replayer = &mut self.replayer;
        self.reader
            .read_records(from, expected, &mut |rec| match replayer.apply(&rec) {
                Ok(_) => {
                    taken += 1;
                    ControlFlow::Continue(())
                }
                Err(d) => {
                    diverged = Some(StandbyError::Diverged {
                        seq: rec.seq,
                        what: d.to_string(),
                    });
                    ControlFlow::Break(())
                }
            })?;
        match diverged {
            Some(e) => Err(e),
            None => Ok(taken),
        }
    }

    /// Waits until the writer says it wrote this currency's journal, or `timeout`.
    pub fn wait_for_news(&mut self, timeout: Duration) -> bool {
        self.news.wait(timeout)
    }

    /// Turns this standby into a follower engine that serves reads and sends writes
    /// through `forward`, until its node takes the lease ([`Engine::promote`]).
    pub fn into_follower(
        self,
        forward: Arc<dyn engine::Forward>,
        options: &EngineOptions,
    ) -> Result<Engine, StandbyError> {
        Ok(Engine::follow(
            Arc::new(self.reader),
            Box::new(self.news),
            self.replayer,
            self.started_from,
            forward,
            options,
        )?)
    }

    /// Becomes the writer under `lease` (just taken by this node): reads what was
    /// written before the lease changed hands, then starts the engine on the state
    /// held. From the lease's taking on, the old writer can add nothing.
    pub fn take_over(
        mut self,
        lease: &Lease,
        options: EngineOptions,
    ) -> Result<(Engine, StartReport), StandbyError> {
        let storage = PgStorage::writer(Arc::clone(&self.db), lease);
        let opened = storage.open_writer(None)?;
        self.catch_up()?;
        if self.replayer.last_seq() != opened.last_seq {
            return Err(StandbyError::Journal(journal::JournalError::Database {
                at: storage.describe(),
                op: "catch up before taking over",
                message: format!(
                    "the journal ends at record {} but the standby read to {}",
                    opened.last_seq,
                    self.replayer.last_seq()
                ),
            }));
        }
        let storage: Arc<dyn Storage> = Arc::new(storage);
        let (engine, report) = Engine::open_replayed(
            storage,
            opened.store,
            self.replayer,
            self.started_from,
            options,
        )?;
        Ok((engine, report))
    }
}
