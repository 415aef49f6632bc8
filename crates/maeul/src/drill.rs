//! Fault drills: a child process that writes under concurrent load and prints every
//! acknowledged command, so that a test can kill it at any moment and check that
//! everything acknowledged survived and nothing is half-applied.
//!
//! Commands are a pure function of (client, key), so the checker can rebuild any
//! acknowledged command and re-submit it: a durable command answers as a repeat with
//! the same outcome.

use std::io::Write;
use std::path::Path;

use engine::{CurrencyCode, Engine, EngineError, EngineOptions};
use ledger::{
    AccountId, AccountKind, BudgetId, ClearingId, ClientId, Command, Envelope, IdempotencyKey,
    LotSpec, MerchantId, Outcome, ReserveId, SourceSet, Timestamp, Transfer, TransferSpec,
    WalletId, Won,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::data_dir;

pub const CURRENCY: &str = "drill";
const RESERVE: ReserveId = ReserveId::new(1);
const BUDGET: BudgetId = BudgetId::new(2);
const CLEARING: ClearingId = ClearingId::new(3);
pub const WALLETS: u64 = 64;
pub const MERCHANTS: u64 = 8;

fn wallet(i: u64) -> WalletId {
    WalletId::new(100 + i)
}

fn merchant(i: u64) -> MerchantId {
    MerchantId::new(1_000 + i)
}

pub fn currency() -> CurrencyCode {
    CurrencyCode::new(CURRENCY).unwrap_or_else(|e| unreachable!("{e}"))
}

fn setup() -> Vec<Envelope> {
    let open = |id: AccountId, kind| Command::OpenAccount {
        account: id,
        kind,
        accepts: SourceSet::ALL,
    };
    let mut commands = vec![
        open(RESERVE.account(), AccountKind::IssuerReserve),
        open(BUDGET.account(), AccountKind::SubsidyBudget),
        open(CLEARING.account(), AccountKind::SettlementClearing),
        Command::Transfer(Transfer::posted(TransferSpec::BudgetFunding {
            reserve: RESERVE,
            budget: BUDGET,
            amount: Won::new(1_000_000_000),
        })),
    ];
    commands.extend((0..WALLETS).map(|i| open(wallet(i).account(), AccountKind::CitizenWallet)));
    commands.extend((0..MERCHANTS).map(|i| open(merchant(i).account(), AccountKind::Merchant)));
    commands
        .into_iter()
        .enumerate()
        .map(|(k, command)| Envelope {
            client: ClientId(0),
            key: IdempotencyKey(k as u128 + 1),
            command,
        })
        .collect()
}

/// The command a drill client sends under `key`: charges (a linked paid + subsidy
/// pair), payments, gifts, redemptions and pending payments, some of which are refused
/// for lack of funds — refusals must survive a crash as faithfully as successes.
pub fn command(client: u64, key: u64) -> Envelope {
    let mut rng = StdRng::seed_from_u64(client.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ key);
    let w = wallet(rng.random_range(0..WALLETS));
    let m = merchant(rng.random_range(0..MERCHANTS));
    let amount = Won::new(rng.random_range(1..=200) * 100);
    let lot = LotSpec {
        tag: 0,
        expires_at: Timestamp::MAX,
    };
    let posted = |spec| Command::Transfer(Transfer::posted(spec));
    let command = match rng.random_range(0..10) {
        0..=2 => Command::Linked(vec![
            Transfer::posted(TransferSpec::Charge {
                reserve: RESERVE,
                wallet: w,
                amount,
                lot,
            }),
            Transfer::posted(TransferSpec::Subsidy {
                budget: BUDGET,
                wallet: w,
                amount: Won::new(amount.get() / 10 + 1),
                lot,
            }),
        ]),
        3..=6 => posted(TransferSpec::Payment {
            payer: w,
            merchant: m,
            amount,
        }),
        7 => posted(TransferSpec::Gift {
            sender: w,
            recipient: wallet(rng.random_range(0..WALLETS)),
            amount,
            sources: SourceSet::ALL,
        }),
        8 => posted(TransferSpec::Redemption {
            merchant: m,
            clearing: CLEARING,
            amount,
        }),
        _ => Command::Transfer(Transfer::pending(
            TransferSpec::Payment {
                payer: w,
                merchant: m,
                amount,
            },
            500_000,
        )),
    };
    Envelope {
        client: ClientId(client),
        key: IdempotencyKey(u128::from(key)),
        command,
    }
}

/// How an outcome is printed on an ACK line and compared by the checker.
pub fn outcome_code(o: &Outcome) -> &'static str {
    match &o.result {
        Ok(_) => "applied",
        Err(r) => r.code().as_str(),
    }
}

/// Opens (or creates) the drill currency and writes from `clients` threads until
/// killed, printing `ACK <client> <key> <outcome>` after each durable answer.
pub fn crash_load(data_dir: &Path, run: u64, clients: u64) -> anyhow::Result<()> {
    let storage = data_dir::storage(data_dir, &currency());
    let engine = match Engine::open(storage.clone(), EngineOptions::default()) {
        Ok((engine, _)) => engine,
        Err(EngineError::NotInitialized(_)) => {
            let engine = Engine::create(
                storage,
                currency(),
                ledger::LedgerConfig::default(),
                EngineOptions::default(),
            )?;
            let outs = engine.execute(setup())?;
            anyhow::ensure!(outs.iter().all(Outcome::is_applied), "drill set-up refused");
            engine
        }
        Err(e) => return Err(e.into()),
    };
    println!("READY");
    std::io::stdout().flush()?;
    std::thread::scope(|s| {
        for c in 0..clients {
            let engine = &engine;
            s.spawn(move || {
                let client = run * 1_000 + c + 1;
                for key in 1.. {
                    let envelope = command(client, key);
                    if let Ok(outs) = engine.execute(vec![envelope]) {
                        let line = format!(
                            "ACK {client} {key} {}\n",
                            outs.first().map_or("none", outcome_code)
                        );
                        let mut out = std::io::stdout().lock();
                        let _ = out.write_all(line.as_bytes());
                        let _ = out.flush();
                    }
                }
            });
        }
    });
    Ok(())
}
