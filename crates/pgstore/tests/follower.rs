//! A follower engine: reads from the state it replays as the writer writes, writes
//! sent to the writer and answered once the follower reads them back, batches told to
//! its subscribers, promotion in place when it takes the lease, and a writer handing
//! over (demoted in place) to a follower that then writes.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use engine::{CommitError, CurrencyCode, Engine, EngineOptions, ForwardReply, Storage};
use ledger::*;
use parking_lot::Mutex;
use pgstore::scratch::ScratchDb;
use pgstore::{JournalNews, PgStorage, Standby, lease};

mod common;

use common::{MERCHANT, WALLET, accounts, payment};

/// Sends a follower's writes straight to the writer's engine in this process (the
/// real nodes post them to each other), or refuses them when no writer is set.
#[derive(Debug, Default)]
struct ToEngine(Mutex<Option<Arc<Engine>>>);

impl engine::Forward for ToEngine {
    fn forward(&self, _: &CurrencyCode, commands: Vec<Envelope>, reply: ForwardReply) {
        let Some(writer) = self.0.lock().clone() else {
            reply.answer(Err(CommitError::NotApplied {
                cause: "no writer".into(),
            }));
            return;
        };
        std::thread::spawn(move || {
            let answer = writer
                .execute(commands)
                .map(|outcomes| (writer.durable_seq(), outcomes))
                .map_err(|e| CommitError::NotDurable {
                    cause: e.to_string(),
                });
            reply.answer(answer);
        });
    }
}

fn balance(engine: &Engine, account: AccountId) -> i64 {
    engine.read(|l| l.account(account).unwrap().balance().unwrap().get())
}

fn follower(t: &ScratchDb, forward: Arc<ToEngine>) -> Engine {
    Standby::open(t.db(), "town")
        .unwrap()
        .into_follower(forward, &EngineOptions::default())
        .unwrap()
}

#[test]
fn a_follower_reads_forwards_and_is_promoted_in_place() {
    let t = ScratchDb::new();
    let db = t.db();
    let ttl = Duration::from_millis(600);
    let a = lease::try_acquire(&db, "town", "node-a", ttl)
        .unwrap()
        .unwrap();
    let keeper = lease::Keeper::start(Arc::clone(&db), a.clone(), ttl);
    let writer = Arc::new(
        Engine::create(
            Arc::new(PgStorage::writer(Arc::clone(&db), &a)),
            CurrencyCode::new("town").unwrap(),
            LedgerConfig::default(),
            EngineOptions::default(),
        )
        .unwrap(),
    );
    assert!(
        writer
            .execute(accounts(1, 1_000_000))
            .unwrap()
            .iter()
            .all(Outcome::is_applied)
    );
    let to_writer = Arc::new(ToEngine::default());
    *to_writer.0.lock() = Some(Arc::clone(&writer));
    let b = follower(&t, Arc::clone(&to_writer));
    assert!(b.follows() && !b.writes_here());
    assert_eq!(b.state_hash(), writer.state_hash());
    let mut batches = b.subscribe();

    // A payment through the follower is written by the writer, and answered once the
    // follower reads it: a read right after sees it.
    let out = b.execute(vec![payment(100, 1_000)]).unwrap();
    assert!(out[0].is_applied() && !out[0].repeated);
    assert_eq!(balance(&b, MERCHANT.account()), 1_000);
    assert_eq!(balance(&writer, MERCHANT.account()), 1_000);
    // Retried through the follower: the first answer, not a second payment.
    assert!(b.execute(vec![payment(100, 1_000)]).unwrap()[0].repeated);
    assert_eq!(balance(&b, WALLET.account()), 999_000);

    // Written at the writer: the follower tells its subscribers, in order.
    assert!(writer.execute(vec![payment(101, 7)]).unwrap()[0].is_applied());
    let until = writer.durable_seq();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        loop {
            let batch = tokio::time::timeout(Duration::from_secs(5), batches.recv())
                .await
                .expect("the follower told nothing")
                .unwrap();
            if batch.seq >= until {
                assert_eq!(batch.commands, vec![payment(101, 7)]);
                break;
            }
        }
    });
    assert_eq!(b.state_hash(), writer.state_hash());

    // The writer dies (stops renewing); B takes the lease and is promoted in place.
    drop(keeper);
    *to_writer.0.lock() = None;
    let written = writer.durable_seq();
    let hash = writer.state_hash();
    std::thread::sleep(ttl + Duration::from_millis(100));
    let lease_b = lease::try_acquire(&db, "town", "node-b", ttl)
        .unwrap()
        .unwrap();
    let keeper_b = lease::Keeper::start(Arc::clone(&db), lease_b.clone(), ttl);
    let report = b
        .promote(
            Arc::new(PgStorage::writer(Arc::clone(&db), &lease_b)),
            EngineOptions::default(),
        )
        .unwrap();
    assert!(b.writes_here() && !b.follows());
    assert_eq!(report.last_seq, written);
    assert_eq!(b.state_hash(), hash);
    // The deposed writer can add nothing; the new one writes.
    assert!(writer.execute(vec![payment(102, 1)]).is_err());
    assert!(b.execute(vec![payment(103, 10)]).unwrap()[0].is_applied());
    assert_eq!(balance(&b, MERCHANT.account()), 1_017);

    // B hands the currency over to C (a node that joined): B drains and follows, C
    // takes the lease and writes; a payment through B now goes to C.
    let to_c = Arc::new(ToEngine::default());
    let c = Arc::new(follower(&t, Arc::new(ToEngine::default())));
    b.demote(
        Arc::new(PgStorage::reader(Arc::clone(&db), "town")),
        Box::new(JournalNews::listen(Arc::clone(&db), "town")),
        Arc::clone(&to_c) as Arc<dyn engine::Forward>,
        &EngineOptions::default(),
    )
    .unwrap();
    assert!(b.follows() && !b.writes_here());
    keeper_b.release();
    let lease_c = lease::try_acquire(&db, "town", "node-c", ttl)
        .unwrap()
        .unwrap();
    let _keeper_c = lease::Keeper::start(Arc::clone(&db), lease_c.clone(), ttl);
    c.promote(
        Arc::new(PgStorage::writer(Arc::clone(&db), &lease_c)),
        EngineOptions::default(),
    )
    .unwrap();
    *to_c.0.lock() = Some(Arc::clone(&c));
    assert!(b.execute(vec![payment(104, 100)]).unwrap()[0].is_applied());
    assert_eq!(balance(&b, MERCHANT.account()), 1_117);
    assert_eq!(b.state_hash(), c.state_hash());

    // Every record replays as written.
    let reader: Arc<dyn Storage> = Arc::new(PgStorage::reader(Arc::clone(&db), "town"));
    let report = engine::verify(reader.as_ref());
    assert!(report.ok(), "{report}");
}
