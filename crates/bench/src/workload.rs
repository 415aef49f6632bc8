//! The synthetic population and payment stream every maeul benchmark uses: citizens
//! funded with plenty of won, merchants, and payments of 1,000–50,000 won, a chosen
//! share of them to one very busy merchant (the market on market day).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use ledger::scheme::{SchemeCommand, SchemeConfig};
use ledger::{
    AccountId, AccountKind, BudgetId, ClearingId, ClientId, Command, Envelope, IdempotencyKey,
    LotSpec, MerchantId, ReserveId, SourceSet, Text, Timestamp, Transfer, TransferSpec, WalletId,
    Won,
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
    /// A scheme file (TOML): payments go through its rules (`SchemeCommand::Pay`:
    /// merchant eligibility, sources, cash-back from a budget) instead of plain
    /// transfers.
    pub scheme: Option<&'static str>,
}

/// The Busan-like scheme of the repository: cash-back by revenue band.
pub const BUSAN_LIKE: &str = include_str!("../../../schemes/busan-like.toml");
/// The budget that pays the scheme's cash-back (account 4, as the scheme file says).
pub const CASHBACK_BUDGET: BudgetId = BudgetId::new(4);
pub const CLEARING: ClearingId = ClearingId::new(3);

impl Default for Workload {
    fn default() -> Workload {
        Workload {
            citizens: 100_000,
            merchants: 10_000,
            hot_merchant_percent: 0,
            seed: 7,
            scheme: None,
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
        // Sized once: the apply benchmark reads resident memory after this, and blocks
        // freed by growing the vector could be reused by the ledger unseen.
        let scheme_commands = if self.scheme.is_some() {
            self.citizens
                .saturating_add(self.merchants)
                .saturating_add(4)
        } else {
            0
        };
        let total = self
            .citizens
            .saturating_mul(2)
            .saturating_add(self.merchants)
            .saturating_add(scheme_commands)
            .saturating_add(1);
        let mut out = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        out.push(env(open(RESERVE.account(), AccountKind::IssuerReserve)));
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
        if let Some(text) = self.scheme {
            // Parsed once per set-up; an invalid built-in scheme is a bug in the bench.
            let config = match SchemeConfig::from_toml(text) {
                Ok(c) => c,
                Err(e) => panic!("benchmark scheme: {e}"),
            };
            let scheme = |c| Command::Scheme(Box::new(c));
            out.push(env(open(
                CLEARING.account(),
                AccountKind::SettlementClearing,
            )));
            out.push(env(open(
                CASHBACK_BUDGET.account(),
                AccountKind::SubsidyBudget,
            )));
            out.push(env(Command::Transfer(Transfer::posted(
                TransferSpec::BudgetFunding {
                    reserve: RESERVE,
                    budget: CASHBACK_BUDGET,
                    amount: Won::new(900_000_000_000),
                },
            ))));
            out.push(env(scheme(SchemeCommand::SetScheme {
                config: Box::new(config),
                effective_at: Timestamp::ZERO,
                operator: Text::new("bench").unwrap_or_else(|_| unreachable!()),
            })));
            for i in 0..self.citizens {
                out.push(env(scheme(SchemeCommand::RegisterCitizen {
                    wallet: wallet(i),
                    birth_year: 1950 + (i % 60) as u16,
                })));
            }
            for i in 0..self.merchants {
                out.push(env(scheme(SchemeCommand::SetMerchantProfile {
                    merchant: merchant(i),
                    category: 5_812,
                    annual_revenue: Won::new(100_000_000 * (1 + (i % 40) as i64)).into(),
                })));
            }
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
            command: if w.scheme.is_some() {
                Command::Scheme(Box::new(SchemeCommand::Pay {
                    payer,
                    merchant: merchant(to),
                    amount,
                }))
            } else {
                Command::Transfer(Transfer::posted(TransferSpec::Payment {
                    payer,
                    merchant: merchant(to),
                    amount,
                }))
            },
        })
    }
}
