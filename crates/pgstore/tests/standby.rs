//! A hot standby follows the writer as it writes and takes over when the writer's
//! lease runs out, from the state it holds, with nothing the writer acknowledged lost.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::{CurrencyCode, Engine, EngineOptions, Storage};
use ledger::*;
use pgstore::scratch::ScratchDb;
use pgstore::{PgStorage, Standby, lease};

mod common;

use common::{MERCHANT, accounts, payment};

fn options() -> EngineOptions {
    EngineOptions {
        verify_tail_records: 1_000_000,
        ..EngineOptions::default()
    }
}

#[test]
fn the_standby_keeps_up_and_takes_over_when_the_lease_runs_out() {
    let t = ScratchDb::new();
    let db = t.db();
    let ttl = Duration::from_millis(500);
    let a = lease::try_acquire(&db, "town", "node-a", ttl)
        .unwrap()
        .unwrap();
    let keeper = lease::Keeper::start(Arc::clone(&db), a.clone(), ttl);
    let storage_a: Arc<dyn Storage> = Arc::new(PgStorage::writer(Arc::clone(&db), &a));
    let engine_a = Engine::create(
        storage_a,
        CurrencyCode::new("town").unwrap(),
        LedgerConfig::default(),
        options(),
    )
    .unwrap();
    assert!(
        engine_a
            .execute(accounts(1, 1_000_000))
            .unwrap()
            .iter()
            .all(Outcome::is_applied)
    );

    let mut standby = Standby::open(t.db(), "town").unwrap();
    assert_eq!(standby.last_seq(), engine_a.durable_seq());

    // Each payment wakes the standby, which reads it at once.
    for key in 100..110u128 {
        assert!(engine_a.execute(vec![payment(key, 1_000)]).unwrap()[0].is_applied());
        let target = engine_a.durable_seq();
        let deadline = Instant::now() + Duration::from_secs(5);
        while standby.last_seq() < target {
            assert!(Instant::now() < deadline, "the standby fell behind");
            standby.wait_for_news(Duration::from_millis(500));
            standby.catch_up().unwrap();
        }
    }
    assert_eq!(standby.state_hash(), Some(engine_a.state_hash()));

    // The writer keeps its lease alive while it lives: no taking it over.
    std::thread::sleep(ttl * 2);
    assert!(
        lease::try_acquire(&db, "town", "node-b", ttl)
            .unwrap()
            .is_none()
    );
    assert!(!keeper.lost());

    // It stops renewing (dead, or paused) after one more payment the standby has not read.
    assert!(engine_a.execute(vec![payment(110, 7)]).unwrap()[0].is_applied());
    drop(keeper);
    let written_by_a = engine_a.durable_seq();
    let hash_a = engine_a.state_hash();
    let died = Instant::now();
    let b = loop {
        if let Some(b) = lease::try_acquire(&db, "town", "node-b", ttl).unwrap() {
            break b;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (engine_b, _) = standby.take_over(&b, options()).unwrap();
    // The same build: no rules marker; B goes on from A's last record.
    assert_eq!(engine_b.durable_seq(), written_by_a);
    assert_eq!(
        engine_b.state_hash(),
        hash_a,
        "the standby read A's last payment"
    );
    // A retry of A's last payment under its key is a repeat, not a second payment.
    let retry = engine_b.execute(vec![payment(110, 7)]).unwrap();
    assert!(retry[0].repeated, "{retry:?}");
    assert!(engine_b.execute(vec![payment(111, 5)]).unwrap()[0].is_applied());
    let took = died.elapsed();
    assert!(took < Duration::from_secs(5), "took over in {took:?}");

    // A, woken, is fenced.
    assert!(engine_a.execute(vec![payment(112, 9)]).is_err());
    let balance = engine_b.read(|l| {
        l.account(MERCHANT.account())
            .unwrap()
            .balance()
            .unwrap()
            .get()
    });
    assert_eq!(balance, 10 * 1_000 + 7 + 5);
    engine_b.shutdown();
    engine_a.shutdown();
    let report = engine::verify(&PgStorage::reader(db, "town"));
    assert!(report.ok(), "{report:?}");
}
