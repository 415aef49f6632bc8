//! The demo currency: a small town with a reserve, a subsidy budget, a clearing account,
//! citizens who charged at a 10% discount and merchants, plus steady synthetic payments.

use engine::Engine;
use ledger::{
    AccountId, AccountKind, BudgetId, ClearingId, ClientId, Command, DAY_US, Envelope,
    IdempotencyKey, LotSpec, MerchantId, Outcome, ReserveId, SourceSet, Timestamp, Transfer,
    TransferSpec, WalletId, Won,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const RESERVE: ReserveId = ReserveId::new(1);
pub const BUDGET: BudgetId = BudgetId::new(2);
pub const CLEARING: ClearingId = ClearingId::new(3);
pub const CITIZENS: u64 = 1_000;
pub const MERCHANTS: u64 = 100;
const SETUP_CLIENT: ClientId = ClientId(1);

pub fn wallet(i: u64) -> WalletId {
    WalletId::new(10_000 + i)
}

pub fn merchant(i: u64) -> MerchantId {
    MerchantId::new(20_000 + i)
}

fn env(key: &mut u128, command: Command) -> Envelope {
    *key += 1;
    Envelope {
        client: SETUP_CLIENT,
        key: IdempotencyKey(*key),
        command,
    }
}

/// Opens the demo's accounts, funds the budget, and charges every citizen 45,000 won
/// paid + 5,000 won subsidy (a linked pair), valid for five years. Idempotent: running
/// it again on the same currency repeats the same keys and changes nothing.
pub fn populate(engine: &Engine, now: Timestamp) -> anyhow::Result<()> {
    let mut key = 0u128;
    let open = |id: AccountId, kind| Command::OpenAccount {
        account: id,
        kind,
        accepts: SourceSet::ALL,
    };
    let mut commands = vec![
        env(
            &mut key,
            open(RESERVE.account(), AccountKind::IssuerReserve),
        ),
        env(&mut key, open(BUDGET.account(), AccountKind::SubsidyBudget)),
        env(
            &mut key,
            open(CLEARING.account(), AccountKind::SettlementClearing),
        ),
        env(
            &mut key,
            Command::Transfer(Transfer::posted(TransferSpec::BudgetFunding {
                reserve: RESERVE,
                budget: BUDGET,
                amount: Won::new(100_000_000),
            })),
        ),
    ];
    let lot = LotSpec {
        tag: 0,
        expires_at: now.plus_micros(5 * 365 * DAY_US),
    };
    for i in 0..CITIZENS {
        commands.push(env(
            &mut key,
            open(wallet(i).account(), AccountKind::CitizenWallet),
        ));
        commands.push(env(
            &mut key,
            Command::Linked(vec![
                Transfer::posted(TransferSpec::Charge {
                    reserve: RESERVE,
                    wallet: wallet(i),
                    amount: Won::new(45_000),
                    lot,
                }),
                Transfer::posted(TransferSpec::Subsidy {
                    budget: BUDGET,
                    wallet: wallet(i),
                    amount: Won::new(5_000),
                    lot,
                }),
            ]),
        ));
    }
    for i in 0..MERCHANTS {
        commands.push(env(
            &mut key,
            open(merchant(i).account(), AccountKind::Merchant),
        ));
    }
    for chunk in commands.chunks(2_048) {
        let outs = engine.execute(chunk.to_vec())?;
        anyhow::ensure!(
            outs.iter().all(Outcome::is_applied),
            "demo set-up was refused: {outs:?}"
        );
    }
    Ok(())
}

/// Small synthetic payments and the odd redemption, as a town's day would bring.
#[derive(Debug)]
pub struct Traffic {
    rng: StdRng,
    client: ClientId,
    key: u128,
}

impl Traffic {
    pub fn new(seed: u64) -> Traffic {
        Traffic {
            rng: StdRng::seed_from_u64(seed),
            client: ClientId(1_000 + seed),
            key: 0,
        }
    }

    pub fn next_command(&mut self) -> Envelope {
        self.key += 1;
        let command = if self.rng.random_range(0..50) == 0 {
            Command::Transfer(Transfer::posted(TransferSpec::Redemption {
                merchant: merchant(self.rng.random_range(0..MERCHANTS)),
                clearing: CLEARING,
                amount: Won::new(self.rng.random_range(1..=10) * 1_000),
            }))
        } else {
            Command::Transfer(Transfer::posted(TransferSpec::Payment {
                payer: wallet(self.rng.random_range(0..CITIZENS)),
                merchant: merchant(self.rng.random_range(0..MERCHANTS)),
                amount: Won::new(self.rng.random_range(1..=30) * 100),
            }))
        };
        Envelope {
            client: self.client,
            key: IdempotencyKey(self.key),
            command,
        }
    }
}
