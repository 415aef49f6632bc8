//! The demo currency: a small town under a real-looking scheme (by default the
//! Busan-like one in `schemes/`: cash-back by the merchant's revenue band), with a
//! reserve, subsidy budgets, a clearing account, citizens who bought vouchers, merchants
//! of every revenue band, and steady synthetic payments.
//!
//! The merchants are a synthetic Busan registry (`directory::synth`): Korean names, road
//! addresses and coordinates, categories, opening hours and revenues, mostly approved,
//! a few suspended, closed or still applying, as a live registry is. The same records
//! fill the ledger (`populate`) and the merchant directory (`merchant_records`).

use engine::Engine;
use ledger::scheme::{SchemeCommand, SchemeConfig};
use ledger::{
    AccountId, AccountKind, BudgetId, ClearingId, ClientId, Command, Envelope, IdempotencyKey,
    MerchantId, Outcome, ReserveId, SourceSet, Text, Timestamp, Transfer, TransferSpec, WalletId,
    Won,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const RESERVE: ReserveId = ReserveId::new(1);
/// Pays discounts at purchase (Seoul-like schemes).
pub const BUDGET: BudgetId = BudgetId::new(2);
pub const CLEARING: ClearingId = ClearingId::new(3);
/// Pays cash-back on payments (Busan-like schemes).
pub const CASHBACK_BUDGET: BudgetId = BudgetId::new(4);
/// The scheme the demo runs unless `maeul serve --scheme FILE` names another.
pub const DEFAULT_SCHEME: &str = include_str!("../../../schemes/busan-like.toml");
pub const CITIZENS: u64 = 2_000;
pub const MERCHANTS: u64 = 2_000;
/// The demo's steady traffic and the load generator pay these (all approved).
pub const BUSY_MERCHANTS: u64 = 100;
/// Where the demo town is.
pub const REGION: &str = "부산광역시";
/// The registry is the same on every start (the seed), so ids, names and codes are too.
const REGISTRY_SEED: u64 = 2026;
const SETUP_CLIENT: ClientId = ClientId(1);

pub fn wallet(i: u64) -> WalletId {
    WalletId::new(10_000 + i)
}

pub fn merchant(i: u64) -> MerchantId {
    MerchantId::new(20_000 + i)
}

/// The demo's citizens as people: login `citizen-0001`…, a Korean name and a Busan
/// address (the same on every start). They sign in with the demo password and PIN.
pub fn citizen_people() -> Vec<(String, u64, String, String)> {
    let mut g = directory::synth::Synth::new(REGISTRY_SEED + 1).only_in(REGION);
    (0..CITIZENS)
        .map(|i| {
            let c = g.citizen();
            (
                format!("citizen-{:04}", i + 1),
                wallet(i).account().0,
                c.name,
                c.address,
            )
        })
        .collect()
}

/// The demo's approved shops as merchant logins: `shop-0001`… for `merchant(0)`…, the
/// first `BUSY_MERCHANTS` (the approved ones). They sign in with the demo password.
pub fn merchant_logins() -> Vec<(String, u64)> {
    (0..BUSY_MERCHANTS)
        .map(|i| (format!("shop-{:04}", i + 1), merchant(i).account().0))
        .collect()
}

/// The demo citizens' payment PIN.
pub const DEMO_PIN: &str = "123456";

/// The demo's merchant registry: `MERCHANTS` shops in `REGION`, ids `merchant(i)`; the
/// first `BUSY_MERCHANTS` approved.
pub fn merchant_records(now_us: u64) -> Vec<directory::Merchant> {
    let mut g = directory::synth::Synth::new(REGISTRY_SEED).only_in(REGION);
    let mut records = g.merchants(MERCHANTS as usize, merchant(0).account().0, now_us);
    for m in records.iter_mut().take(BUSY_MERCHANTS as usize) {
        if m.status != directory::Status::Approved {
            m.status = directory::Status::Approved;
            m.last_change.reason = "approved".into();
            m.last_change.by = directory::Actor::Operator;
        }
    }
    records
}

fn env(key: &mut u128, command: Command) -> Envelope {
    *key += 1;
    Envelope {
        client: SETUP_CLIENT,
        key: IdempotencyKey(*key),
        command,
    }
}

/// Opens the demo's accounts, funds the budgets, sets the scheme, registers citizens
/// and merchants (with revenues across the cash-back bands), and has every citizen buy
/// 50,000 won of vouchers under the scheme's rules (without a bank: the demo's
/// purchases are already paid). Idempotent: running it again on the same currency
/// repeats the same keys and changes nothing.
pub fn populate(engine: &Engine, now: Timestamp, scheme: &SchemeConfig) -> anyhow::Result<()> {
    let mut key = 0u128;
    let open = |id: AccountId, kind| Command::OpenAccount {
        account: id,
        kind,
        accepts: SourceSet::ALL,
    };
    let scheme_cmd = |c| Command::Scheme(Box::new(c));
    let mut setup = vec![
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
            open(CASHBACK_BUDGET.account(), AccountKind::SubsidyBudget),
        ),
    ];
    for budget in [BUDGET, CASHBACK_BUDGET] {
        setup.push(env(
            &mut key,
            Command::Transfer(Transfer::posted(TransferSpec::BudgetFunding {
                reserve: RESERVE,
                budget,
                amount: Won::new(100_000_000),
            })),
        ));
    }
    setup.push(env(
        &mut key,
        scheme_cmd(SchemeCommand::SetScheme {
            config: Box::new(scheme.clone()),
            effective_at: now,
            operator: Text::new("demo").map_err(anyhow::Error::msg)?,
        }),
    ));
    for i in 0..CITIZENS {
        setup.push(env(
            &mut key,
            open(wallet(i).account(), AccountKind::CitizenWallet),
        ));
        setup.push(env(
            &mut key,
            scheme_cmd(SchemeCommand::RegisterCitizen {
                wallet: wallet(i),
                birth_year: 1940 + (i % 70) as u16,
            }),
        ));
    }
    // The registry's merchants (their statuses are mirrored when the server starts).
    let thresholds = service::mirror::revenue_thresholds(scheme);
    for m in merchant_records(now.as_micros()) {
        let id = MerchantId::new(m.id.0);
        let (category, annual_revenue) =
            service::mirror::ledger_profile(&m.profile, Some(&thresholds));
        setup.push(env(
            &mut key,
            Command::OpenAccount {
                account: id.account(),
                kind: AccountKind::Merchant,
                accepts: service::mirror::source_set(m.profile.accepts),
            },
        ));
        setup.push(env(
            &mut key,
            scheme_cmd(SchemeCommand::SetMerchantProfile {
                merchant: id,
                category,
                annual_revenue,
            }),
        ));
    }
    for chunk in setup.chunks(2_048) {
        let outs = engine.execute(chunk.to_vec())?;
        anyhow::ensure!(
            outs.iter().all(Outcome::is_applied),
            "demo set-up was refused: {outs:?}"
        );
    }
    let mut purchases = Vec::new();
    for i in 0..CITIZENS {
        purchases.push(env(
            &mut key,
            scheme_cmd(SchemeCommand::Purchase {
                wallet: wallet(i),
                face: Won::new(50_000),
                channel: 0,
                full_price_ok: true,
                pending_timeout_us: None,
            }),
        ));
    }
    let mut refused = std::collections::BTreeMap::<&str, u64>::new();
    for chunk in purchases.chunks(2_048) {
        for out in engine.execute(chunk.to_vec())? {
            if let Err(r) = out.result {
                *refused.entry(r.code().as_str()).or_default() += 1;
            }
        }
    }
    if !refused.is_empty() {
        // A purchase window (by birth year) may be closed today: the scheme says no.
        tracing::info!(
            ?refused,
            "some demo purchases were refused by the scheme's rules"
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

/// The client the demo's synthetic traffic submits as (apart from every user's).
const TRAFFIC_CLIENT: ClientId = ClientId(u64::MAX - 16);

impl Traffic {
    /// Traffic from `seed`: the same seed gives the same commands under the same keys
    /// (for tests); a run's keys never meet another seed's.
    pub fn new(seed: u64) -> Traffic {
        Traffic {
            rng: StdRng::seed_from_u64(seed),
            client: TRAFFIC_CLIENT,
            key: u128::from(seed) << 64,
        }
    }

    /// Traffic for a run of the demo: a fresh seed each start, so a restarted demo does
    /// new work instead of replaying the answers of the last run's keys.
    pub fn fresh() -> Traffic {
        Traffic::new(rand::random())
    }

    pub fn next_command(&mut self) -> Envelope {
        self.key += 1;
        let command = if self.rng.random_range(0..50) == 0 {
            Command::Transfer(Transfer::posted(TransferSpec::Redemption {
                merchant: merchant(self.rng.random_range(0..BUSY_MERCHANTS)),
                clearing: CLEARING,
                amount: Won::new(self.rng.random_range(1..=10) * 1_000),
            }))
        } else {
            Command::Scheme(Box::new(SchemeCommand::Pay {
                payer: wallet(self.rng.random_range(0..CITIZENS)),
                merchant: merchant(self.rng.random_range(0..BUSY_MERCHANTS)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_start_of_the_demo_traffic_uses_new_keys() {
        let (mut a, mut b) = (Traffic::fresh(), Traffic::fresh());
        assert_ne!(a.next_command().key, b.next_command().key);
        // A seed still reproduces its run.
        assert_eq!(
            Traffic::new(7).next_command(),
            Traffic::new(7).next_command()
        );
    }
}
