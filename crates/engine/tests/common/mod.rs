#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use engine::{CurrencyCode, Engine, EngineOptions, FileStorage, Storage};
use journal::FileJournalConfig;
use ledger::*;

pub const RESERVE: ReserveId = ReserveId::new(1);
pub const BUDGET: BudgetId = BudgetId::new(2);
pub const NEVER: LotSpec = LotSpec {
    tag: 0,
    expires_at: Timestamp::MAX,
};

pub fn wallet(i: u64) -> WalletId {
    WalletId::new(1_000 + i)
}

pub fn merchant(i: u64) -> MerchantId {
    MerchantId::new(1_000_000 + i)
}

/// The journal of the currency in `dir`. With `MAEUL_TEST_STORE=postgres` (`.ci/run`
/// runs the engine's tests both ways), the journal of `dir` lives in a scratch
/// PostgreSQL schema of its own instead, under a writer lease this test holds.
pub fn storage(dir: &std::path::Path) -> Arc<dyn Storage> {
    if std::env::var("MAEUL_TEST_STORE").as_deref() == Ok("postgres") {
        return pg_storage(dir);
    }
    file_storage(dir)
}

/// The journal of `dir` as a file, always: for the tests of what happens to files
/// (torn writes, flipped bytes, failed fsyncs, copied directories).
pub fn file_storage(dir: &std::path::Path) -> Arc<dyn Storage> {
    Arc::new(FileStorage::new(
        dir,
        FileJournalConfig::default().with_chunk_size(1 << 20),
    ))
}

/// One scratch schema per directory, for the life of the test process: opening the
/// same directory again opens the same journal, as with files. (The schemas are left
/// behind when the process ends; `.ci/run` drops old ones.)
fn pg_storage(dir: &std::path::Path) -> Arc<dyn Storage> {
    static JOURNALS: std::sync::Mutex<
        std::collections::BTreeMap<std::path::PathBuf, pgstore::PgStorage>,
    > = std::sync::Mutex::new(std::collections::BTreeMap::new());
    let mut journals = JOURNALS.lock().unwrap();
    let journal = journals.entry(dir.to_path_buf()).or_insert_with(|| {
        let scratch = Box::leak(Box::new(pgstore::scratch::ScratchDb::new()));
        scratch.writer("test-town")
    });
    Arc::new(journal.clone())
}

/// A clock the test moves by hand (microseconds).
pub fn manual_clock(start: u64) -> (Arc<AtomicU64>, engine::Clock) {
    let now = Arc::new(AtomicU64::new(start));
    let n = Arc::clone(&now);
    (
        now,
        Arc::new(move || Timestamp::from_micros(n.load(Ordering::SeqCst))),
    )
}

pub fn currency() -> CurrencyCode {
    CurrencyCode::new("test-town").unwrap()
}

static KEYS: AtomicU64 = AtomicU64::new(1);

pub fn env(command: Command) -> Envelope {
    Envelope {
        client: ClientId(1),
        key: IdempotencyKey(u128::from(KEYS.fetch_add(1, Ordering::Relaxed))),
        command,
    }
}

pub fn open(id: AccountId, kind: AccountKind) -> Envelope {
    env(Command::OpenAccount {
        account: id,
        kind,
        accepts: SourceSet::ALL,
    })
}

/// A reserve, a funded budget, `wallets` wallets with 1,000,000 won each and
/// `merchants` merchants.
pub fn populate(engine: &Engine, wallets: u64, merchants: u64) {
    let mut setup = vec![
        open(RESERVE.account(), AccountKind::IssuerReserve),
        open(BUDGET.account(), AccountKind::SubsidyBudget),
    ];
    setup.extend((0..wallets).map(|i| open(wallet(i).account(), AccountKind::CitizenWallet)));
    setup.extend((0..merchants).map(|i| open(merchant(i).account(), AccountKind::Merchant)));
    setup.extend((0..wallets).map(|i| {
        env(Command::Transfer(Transfer::posted(TransferSpec::Charge {
            reserve: RESERVE,
            wallet: wallet(i),
            amount: Won::new(1_000_000),
            lot: NEVER,
        })))
    }));
    setup.push(env(Command::Transfer(Transfer::posted(
        TransferSpec::BudgetFunding {
            reserve: RESERVE,
            budget: BUDGET,
            amount: Won::new(10_000_000),
        },
    ))));
    for chunk in setup.chunks(4_000) {
        let outs = engine.execute(chunk.to_vec()).unwrap();
        assert!(outs.iter().all(Outcome::is_applied), "{outs:?}");
    }
}

pub fn payment(payer: u64, to: u64, amount: i64) -> Envelope {
    env(Command::Transfer(Transfer::posted(TransferSpec::Payment {
        payer: wallet(payer),
        merchant: merchant(to),
        amount: Won::new(amount),
    })))
}

/// Polls until `done` holds, failing with `what` after 20 seconds.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

pub fn options() -> EngineOptions {
    EngineOptions {
        verify_tail_records: 1_000_000,
        ..EngineOptions::default()
    }
}

/// Copies a data directory (a journal and its snapshots) into `to`, recursively.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    let entries = std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    for entry in entries {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
