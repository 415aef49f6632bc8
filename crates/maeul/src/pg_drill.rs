//! `maeul drill pg-node`: one node of a currency on PostgreSQL, for the failover tests
//! and the failover benchmark. It follows the journal as a hot standby until it can
//! take the writer lease, then takes over and pays what its standard input asks,
//! printing each answer once it is durable:
//!
//! ```text
//! standby <last seq>                  following
//! writer <epoch> <ms>                 took over, <ms> after the lease became free to it
//! ack <key> applied|repeated|refused  one line per payment, once durable
//! ```
//!
//! Input lines are `<key> <amount>`: a payment of `amount` won from the drill's one
//! wallet to its one merchant under idempotency key `key` (client 1). A repeated key is
//! answered `repeated`: exactly once, whichever node wrote it first.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use engine::{CurrencyCode, Engine, EngineOptions, Storage};
use ledger::{
    AccountKind, ClientId, Command, Envelope, IdempotencyKey, LotSpec, MerchantId, ReserveId,
    SourceSet, Timestamp, Transfer, TransferSpec, WalletId, Won,
};
use pgstore::{Db, PgStorage, Standby, lease};

pub const WALLET: WalletId = WalletId::new(10);
pub const MERCHANT: MerchantId = MerchantId::new(20);
const RESERVE: ReserveId = ReserveId::new(1);
/// What the drill's wallet starts with: more than any test pays.
pub const WALLET_FUNDS: i64 = 1_000_000_000_000;

fn env(key: u128, command: Command) -> Envelope {
    Envelope {
        client: ClientId(1),
        key: IdempotencyKey(key),
        command,
    }
}

/// The accounts every drill currency starts with (keys far above the payments').
fn setup() -> Vec<Envelope> {
    let base = 1u128 << 100;
    let open = |key, account, kind| {
        env(
            key,
            Command::OpenAccount {
                account,
                kind,
                accepts: SourceSet::ALL,
            },
        )
    };
    vec![
        open(base, RESERVE.account(), AccountKind::IssuerReserve),
        open(base + 1, WALLET.account(), AccountKind::CitizenWallet),
        open(base + 2, MERCHANT.account(), AccountKind::Merchant),
        env(
            base + 3,
            Command::Transfer(Transfer::posted(TransferSpec::Charge {
                reserve: RESERVE,
                wallet: WALLET,
                amount: Won::new(WALLET_FUNDS),
                lot: LotSpec {
                    tag: 0,
                    expires_at: Timestamp::MAX,
                },
            })),
        ),
    ]
}

fn payment(key: u128, amount: i64) -> Envelope {
    env(
        key,
        Command::Transfer(Transfer::posted(TransferSpec::Payment {
            payer: WALLET,
            merchant: MERCHANT,
            amount: Won::new(amount),
        })),
    )
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

pub fn pg_node(store: &str, currency: &str, holder: &str, ttl: Duration) -> anyhow::Result<()> {
    let db = Arc::new(Db::connect(store).context("connecting to PostgreSQL")?);
    pgstore::migrate(&db)?;
    let code = CurrencyCode::new(currency).map_err(anyhow::Error::msg)?;
    let mut standby = Standby::open(Arc::clone(&db), currency)?;
    say(&format!("standby {}", standby.last_seq()));
    let mut free_since: Option<Instant> = None;
    let lease = loop {
        match lease::holder(&db, currency) {
            Ok(Some(h)) if h.expires_in_ms > 0 => free_since = None,
            Ok(_) => {
                free_since.get_or_insert_with(Instant::now);
            }
            Err(e) => tracing::warn!("reading the lease failed: {e}"),
        }
        match lease::try_acquire(&db, currency, holder, ttl) {
            Ok(Some(l)) => break l,
            Ok(None) => {}
            Err(e) => tracing::warn!("taking the lease failed, trying again: {e}"),
        }
        standby.wait_for_news(Duration::from_millis(50));
        match standby.catch_up() {
            Ok(_) => {}
            Err(e @ pgstore::StandbyError::Diverged { .. }) => return Err(e.into()),
            Err(e) => tracing::warn!("following the journal failed, trying again: {e}"),
        }
    };
    let keeper = lease::Keeper::start(Arc::clone(&db), lease.clone(), ttl);
    let options = EngineOptions::default();
    let engine =
        if standby.last_seq() == 0 && PgStorage::reader(Arc::clone(&db), currency).head()?.0 == 0 {
            let storage: Arc<dyn Storage> = Arc::new(PgStorage::writer(Arc::clone(&db), &lease));
            let engine = Engine::create(storage, code, ledger::LedgerConfig::default(), options)?;
            let outs = engine.execute(setup())?;
            anyhow::ensure!(
                outs.iter().all(|o| o.is_applied()),
                "drill set-up refused: {outs:?}"
            );
            engine
        } else {
            standby.take_over(&lease, options)?.0
        };
    let took_ms = free_since.map_or(0, |t| t.elapsed().as_millis());
    say(&format!("writer {} {took_ms}", lease.epoch));

    // A deposed node steps down at once: it may hold payments it can no longer write,
    // which its clients retry at the new writer.
    {
        let lost = keeper.lost_flag();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(50));
                if lost.load(std::sync::atomic::Ordering::Acquire) {
                    eprintln!("the writer lease was taken by another node: stepping down");
                    std::process::exit(3);
                }
            }
        });
    }
    // Payments come in on one thread and are answered, in order, on another.
    let engine = Arc::new(engine);
    let (tickets, answered) = crossbeam_channel::bounded::<(u128, engine::Ticket)>(4_096);
    let answering = std::thread::spawn(move || {
        for (key, ticket) in answered {
            match ticket.wait() {
                Ok(outs) => {
                    let word = match outs.first() {
                        Some(o) if o.repeated => "repeated",
                        Some(o) if o.is_applied() => "applied",
                        _ => "refused",
                    };
                    say(&format!("ack {key} {word}"));
                }
                // Not durable, or refused while deposed: no answer, the client retries.
                Err(e) => tracing::warn!(key, "not acknowledged: {e}"),
            }
        }
    });
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let mut parts = line.split_whitespace();
        let (Some(key), Some(amount)) = (parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(key), Ok(amount)) = (key.parse::<u128>(), amount.parse::<i64>()) else {
            continue;
        };
        match engine.submit(vec![payment(key, amount)]) {
            Ok(t) => {
                if tickets.send((key, t)).is_err() {
                    break;
                }
            }
            Err(e) => tracing::warn!(key, "not taken: {e}"),
        }
    }
    drop(tickets);
    let _ = answering.join();
    keeper.release();
    Ok(())
}
