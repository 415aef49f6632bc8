//! The engine on the PostgreSQL journal: the same currency, the same answers, the same
//! state after a restart, verified from the rows; and a deposed engine stops writing.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use engine::{CommitError, CurrencyCode, Engine, EngineOptions, Health, Storage};
use ledger::*;
use pgstore::scratch::ScratchDb;
use pgstore::{PgStorage, lease};

const RESERVE: ReserveId = ReserveId::new(1);
const NEVER: LotSpec = LotSpec {
    tag: 0,
    expires_at: Timestamp::MAX,
};

fn wallet(i: u64) -> WalletId {
    WalletId::new(1_000 + i)
}

fn merchant(i: u64) -> MerchantId {
    MerchantId::new(1_000_000 + i)
}

static KEYS: AtomicU64 = AtomicU64::new(1);

fn env(command: Command) -> Envelope {
    Envelope {
        client: ClientId(1),
        key: IdempotencyKey(u128::from(KEYS.fetch_add(1, Ordering::Relaxed))),
        command,
    }
}

fn open(id: AccountId, kind: AccountKind) -> Envelope {
    env(Command::OpenAccount {
        account: id,
        kind,
        accepts: SourceSet::ALL,
    })
}

fn payment(payer: u64, to: u64, amount: i64) -> Envelope {
    env(Command::Transfer(Transfer::posted(TransferSpec::Payment {
        payer: wallet(payer),
        merchant: merchant(to),
        amount: Won::new(amount),
    })))
}

fn options() -> EngineOptions {
    EngineOptions {
        verify_tail_records: 1_000_000,
        ..EngineOptions::default()
    }
}

fn populate(engine: &Engine, wallets: u64, merchants: u64) {
    let mut setup = vec![open(RESERVE.account(), AccountKind::IssuerReserve)];
    setup.extend((0..wallets).map(|i| open(wallet(i).account(), AccountKind::CitizenWallet)));
    setup.extend((0..merchants).map(|i| open(merchant(i).account(), AccountKind::Merchant)));
    setup.extend((0..wallets).map(|i| {
        env(Command::Transfer(Transfer::posted(TransferSpec::Charge {
            reserve: RESERVE,
            wallet: wallet(i),
            amount: Won::new(100_000),
            lot: NEVER,
        })))
    }));
    let outs = engine.execute(setup).unwrap();
    assert!(outs.iter().all(Outcome::is_applied), "{outs:?}");
}

#[test]
fn a_currency_on_postgres_restarts_to_the_same_state_and_verifies() {
    let t = ScratchDb::new();
    let db = t.db();
    let lease = lease::try_acquire(&db, "town", "node-a", Duration::from_secs(60))
        .unwrap()
        .unwrap();
    let storage: Arc<dyn Storage> = Arc::new(PgStorage::writer(Arc::clone(&db), &lease));
    let engine = Engine::create(
        Arc::clone(&storage),
        CurrencyCode::new("town").unwrap(),
        LedgerConfig::default(),
        options(),
    )
    .unwrap();
    populate(&engine, 50, 5);
    // Many clients at once, so that write groups hold several batches.
    std::thread::scope(|s| {
        for c in 0..8u64 {
            let engine = &engine;
            s.spawn(move || {
                for i in 0..50u64 {
                    let outs = engine
                        .execute(vec![payment((c * 7 + i) % 50, i % 5, 100 + i as i64)])
                        .unwrap();
                    assert!(outs[0].is_applied(), "{outs:?}");
                }
            });
        }
    });
    let repeat = payment(1, 1, 10);
    let first = engine.execute(vec![repeat.clone()]).unwrap();
    let again = engine.execute(vec![repeat]).unwrap();
    assert!(again[0].repeated, "{again:?}");
    assert_eq!(first.len(), again.len());
    let hash = engine.state_hash();
    let merchants: i64 = engine.read(|l| {
        (0..5)
            .map(|i| {
                l.account(merchant(i).account())
                    .unwrap()
                    .balance()
                    .unwrap()
                    .get()
            })
            .sum()
    });
    engine.shutdown();

    let (reopened, report) = Engine::open(Arc::clone(&storage), options()).unwrap();
    assert!(report.quarantine.is_none());
    assert_eq!(reopened.state_hash(), hash);
    let again: i64 = reopened.read(|l| {
        (0..5)
            .map(|i| {
                l.account(merchant(i).account())
                    .unwrap()
                    .balance()
                    .unwrap()
                    .get()
            })
            .sum()
    });
    assert_eq!(again, merchants);
    assert_eq!(
        merchants,
        (0..8 * 50).map(|n| 100 + (n % 50)).sum::<i64>() + 10
    );
    reopened.shutdown();

    // An auditor with only read access verifies the rows.
    let report = engine::verify(&PgStorage::reader(db, "town"));
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.state_hash, Some(hash));
}

#[test]
fn a_deposed_engine_answers_not_durable_and_stops_writing() {
    let t = ScratchDb::new();
    let db = t.db();
    let ttl = Duration::from_millis(300);
    let a = lease::try_acquire(&db, "town", "node-a", ttl)
        .unwrap()
        .unwrap();
    let storage_a: Arc<dyn Storage> = Arc::new(PgStorage::writer(Arc::clone(&db), &a));
    let engine_a = Engine::create(
        Arc::clone(&storage_a),
        CurrencyCode::new("town").unwrap(),
        LedgerConfig::default(),
        options(),
    )
    .unwrap();
    populate(&engine_a, 10, 2);
    let acknowledged = engine_a.durable_seq();

    // A does not renew (a paused process); B takes over and writes.
    std::thread::sleep(Duration::from_millis(400));
    let b = lease::try_acquire(&db, "town", "node-b", Duration::from_secs(60))
        .unwrap()
        .unwrap();
    let storage_b: Arc<dyn Storage> = Arc::new(PgStorage::writer(Arc::clone(&db), &b));
    let (engine_b, _) = Engine::open(Arc::clone(&storage_b), options()).unwrap();
    assert_eq!(engine_b.state_hash(), engine_a.state_hash());
    let outs = engine_b.execute(vec![payment(0, 0, 500)]).unwrap();
    assert!(outs[0].is_applied());

    // A's next payment is not acknowledged, and A stops taking writes.
    let err = engine_a.execute(vec![payment(1, 1, 700)]).unwrap_err();
    assert!(
        matches!(
            err,
            engine::EngineError::Commit(CommitError::NotDurable { .. })
        ),
        "{err:?}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Health::Failed { cause } = engine_a.health() {
            assert!(
                cause.contains("deposed") && cause.contains("node-b"),
                "{cause}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            engine_a.health()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(engine_a.execute(vec![payment(2, 1, 700)]).is_err());
    assert_eq!(engine_a.durable_seq(), acknowledged);
    engine_a.shutdown();

    // The journal holds B's payment and not A's.
    let more = engine_b.execute(vec![payment(3, 0, 1)]).unwrap();
    assert!(more[0].is_applied());
    let hash_b = engine_b.state_hash();
    engine_b.shutdown();
    let report = engine::verify(&PgStorage::reader(db, "town"));
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.state_hash, Some(hash_b));
    let paid = report.transfers_by_kind.get("payment").map(|t| t.won);
    assert_eq!(paid, Some(501));
}
