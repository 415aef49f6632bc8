//! The synthetic population and payment stream every maeul benchmark uses: citizens
//! funded with plenty of won, merchants, and payments of 1,000–50,000 won, a chosen
//! share of them to one very busy merchant (the market on market day).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use ledger::{
    AccountId, AccountKind, ClientId, Command, Envelope, IdempotencyKey, LotSpec, MerchantId,
    ReserveId, SourceSet, Timestamp, Transfer, TransferSpec, WalletId, Won,
};

use crate::baseline::{AMOUNT_MAX_WON, AMOUNT_MIN_WON, CITIZEN_FUNDING_WON};

pub const RESERVE: ReserveId = ReserveId::new(1);
const WALLET_BASE: u64 = 1_000_000;
const MERCHANT_BASE: u64 = 100_000_000;

#[derive(Clone, Copy, Debug)]
pub struct Workload {
    pub citizens: u64,
    pub merchants: u64,
    /// Share of payments to merchant #0.
    pub hot_merchant_percent: u8,
    pub seed: u64,
}

impl Default for Workload {
    fn default() -> Workload {
        Workload {
            citizens: 100_000,
            merchants: 10_000,
            hot_merchant_percent: 0,
            seed: 7,
        }
    }
}

pub fn wallet(i: u64) -> WalletId {
    WalletId::new(WALLET_BASE + i)
}

pub fn merchant(i: u64) -> MerchantId {
    MerchantId::new(MERCHANT_BASE + i)
}

impl Workload {
    /// Opens the accounts and funds every wallet (setup, not measured).
    pub fn setup(&self) -> Vec<Envelope> {
        let client = ClientId(0);
        let mut key = 0u128;
        let mut env = |command| {
            key += 1;
            Envelope {
                client,
                key: IdempotencyKey(key),
                command,
            }
        };
        let open = |id: AccountId, kind| Command::OpenAccount {
            account: id,
            kind,
            accepts: SourceSet::ALL,
        };
        let mut out = vec![env(open(RESERVE.account(), AccountKind::IssuerReserve))];
        for i in 0..self.citizens {
            out.push(env(open(wallet(i).account(), AccountKind::CitizenWallet)));
            out.push(env(Command::Transfer(Transfer::posted(
                TransferSpec::Charge {
                    reserve: RESERVE,
                    wallet: wallet(i),
                    amount: Won::new(CITIZEN_FUNDING_WON),
                    lot: LotSpec {
                        tag: 0,
                        expires_at: Timestamp::MAX,
                    },
                },
            ))));
        }
        for i in 0..self.merchants {
            out.push(env(open(merchant(i).account(), AccountKind::Merchant)));
        }
        out
    }

    /// An endless stream of payments for one client, each with its own key.
    pub fn payments(&self, client: u64) -> Payments {
        Payments {
            workload: *self,
            rng: SmallRng::seed_from_u64(self.seed ^ client.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            client: ClientId(client + 1),
            next_key: 1,
        }
    }
}

#[derive(Debug)]
pub struct Payments {
    workload: Workload,
    rng: SmallRng,
    client: ClientId,
    next_key: u128,
}

impl Iterator for Payments {
    type Item = Envelope;

    fn next(&mut self) -> Option<Envelope> {
        let w = &self.workload;
        let payer = wallet(self.rng.random_range(0..w.citizens.max(1)));
        let to = if self.rng.random_range(0..100u8) < w.hot_merchant_percent {
            0
        } else {
            self.rng.random_range(0..w.merchants.max(1))
        };
        let amount = Won::new(self.rng.random_range(AMOUNT_MIN_WON..=AMOUNT_MAX_WON));
        let key = IdempotencyKey(self.next_key);
        self.next_key += 1;
        Some(Envelope {
            client: self.client,
            key,
            command: Command::Transfer(Transfer::posted(TransferSpec::Payment {
                payer,
                merchant: merchant(to),
                amount,
            })),
        })
    }
}
