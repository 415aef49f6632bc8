//! A currency on a temporary data directory, the simulated bank on 127.0.0.1, and a
//! treasury joining them over real HTTP.
#![allow(clippy::unwrap_used, dead_code)]

use std::sync::Arc;
use std::time::Duration;

use bank::{AccountNo, FaultPlan, HttpBank, NewAccount, SimBank, SimBankConfig, SimBankHandle};
use engine::{CurrencyCode, Engine, EngineOptions, FileStorage, Storage};
use journal::FileJournalConfig;
use ledger::scheme::{SchemeCommand, SchemeConfig};
use ledger::*;
use treasury::{LinkedAccounts, Treasury, TreasuryConfig};

pub const SEOUL: &str = include_str!("../../../../schemes/seoul-like.toml");
pub const BUSAN: &str = include_str!("../../../../schemes/busan-like.toml");
pub const RESERVE: ReserveId = ReserveId::new(1);
pub const DISCOUNT: BudgetId = BudgetId::new(2);
pub const CLEARING: ClearingId = ClearingId::new(3);
pub const CASHBACK: BudgetId = BudgetId::new(4);
pub const CITIZEN_BANK_BALANCE: i64 = 2_000_000;
pub const BUDGET_FUNDS: i64 = 100_000_000;

pub fn wallet(i: u64) -> WalletId {
    WalletId::new(1_000 + i)
}

pub fn merchant(i: u64) -> MerchantId {
    MerchantId::new(2_000 + i)
}

pub fn citizen_account(i: u64) -> AccountNo {
    AccountNo::new(format!("110-{i:06}")).unwrap()
}

pub fn merchant_account(i: u64) -> AccountNo {
    AccountNo::new(format!("220-{i:06}")).unwrap()
}

pub fn issuer_account() -> AccountNo {
    AccountNo::new("999-ISSUER").unwrap()
}

pub struct World {
    pub dir: tempfile::TempDir,
    /// The scratch PostgreSQL schema of the journal, when there is one.
    pub pg: Option<pgstore::scratch::ScratchDb>,
    pub storage: Arc<dyn Storage>,
    pub engine: Arc<Engine>,
    pub bank: SimBankHandle,
    pub treasury: Arc<Treasury<HttpBank>>,
    pub citizens: u64,
    pub merchants: u64,
    key: std::sync::atomic::AtomicU64,
}

impl World {
    pub async fn new(scheme: &str, citizens: u64, merchants: u64, seed: u64) -> World {
        let dir = tempfile::tempdir().unwrap();
        // With `MAEUL_TEST_STORE=postgres` (`.ci/run` runs these tests both ways) the
        // journal lives in a scratch PostgreSQL schema, kept as long as the world.
        let pg = (std::env::var("MAEUL_TEST_STORE").as_deref() == Ok("postgres"))
            .then(pgstore::scratch::ScratchDb::new);
        let storage: Arc<dyn Storage> = match &pg {
            None => Arc::new(FileStorage::new(
                dir.path().join("busan"),
                FileJournalConfig::default(),
            )),
            Some(scratch) => Arc::new(scratch.writer("busan")),
        };
        let engine = Arc::new(
            Engine::create(
                Arc::clone(&storage),
                CurrencyCode::new("busan").unwrap(),
                LedgerConfig::default(),
                EngineOptions::default(),
            )
            .unwrap(),
        );
        let bank = SimBank::start(
            "127.0.0.1:0".parse().unwrap(),
            SimBankConfig {
                seed,
                ..SimBankConfig::default()
            },
        )
        .await
        .unwrap();
        // The municipality deposited the subsidy budgets (funded below) with the issuer.
        bank.open_account(NewAccount {
            number: issuer_account(),
            holder: "발행사 issuer".into(),
            balance: 2 * BUDGET_FUNDS,
            allow_negative: false,
        })
        .unwrap();
        let accounts = LinkedAccounts::new();
        for i in 0..citizens {
            bank.open_account(NewAccount {
                number: citizen_account(i),
                holder: format!("시민 {i}"),
                balance: CITIZEN_BANK_BALANCE,
                allow_negative: false,
            })
            .unwrap();
            accounts.link(wallet(i).account(), citizen_account(i));
        }
        for i in 0..merchants {
            bank.open_account(NewAccount {
                number: merchant_account(i),
                holder: format!("가게 {i}"),
                balance: 0,
                allow_negative: false,
            })
            .unwrap();
            accounts.link(merchant(i).account(), merchant_account(i));
        }
        let client = HttpBank::with_timeout(bank.url(), Duration::from_millis(300)).unwrap();
        let mut config = TreasuryConfig::new(issuer_account(), RESERVE, CLEARING);
        config.order_validity = Duration::from_millis(1_200);
        config.clock_margin = Duration::from_millis(100);
        config.poll_interval = Duration::from_millis(40);
        config.parallel_orders = 8;
        let treasury = Arc::new(Treasury::new(
            Arc::clone(&engine),
            Arc::clone(&storage),
            client,
            accounts,
            config,
        ));
        let world = World {
            dir,
            pg,
            storage,
            engine,
            bank,
            treasury,
            citizens,
            merchants,
            key: std::sync::atomic::AtomicU64::new(1),
        };
        world.setup(scheme).await;
        world
    }

    async fn setup(&self, scheme: &str) {
        let open = |id: AccountId, kind| Command::OpenAccount {
            account: id,
            kind,
            accepts: SourceSet::ALL,
        };
        let mut cmds = vec![
            open(RESERVE.account(), AccountKind::IssuerReserve),
            open(DISCOUNT.account(), AccountKind::SubsidyBudget),
            open(CLEARING.account(), AccountKind::SettlementClearing),
            open(CASHBACK.account(), AccountKind::SubsidyBudget),
        ];
        for b in [DISCOUNT, CASHBACK] {
            cmds.push(Command::Transfer(Transfer::posted(
                TransferSpec::BudgetFunding {
                    reserve: RESERVE,
                    budget: b,
                    amount: Won::new(BUDGET_FUNDS),
                },
            )));
        }
        let now = Timestamp::from_micros(treasury_now_us());
        let mut config = SchemeConfig::from_toml(scheme).unwrap();
        // Tests run on any day: no birth-year windows or paused days.
        config.purchase.windows.clear();
        config.gifts.paused_days.clear();
        cmds.push(Command::Scheme(Box::new(SchemeCommand::SetScheme {
            config: Box::new(config),
            effective_at: now,
            operator: Text::new("test").unwrap(),
        })));
        for i in 0..self.citizens {
            cmds.push(open(wallet(i).account(), AccountKind::CitizenWallet));
            cmds.push(Command::Scheme(Box::new(SchemeCommand::RegisterCitizen {
                wallet: wallet(i),
                birth_year: 1960 + (i % 40) as u16,
            })));
        }
        for i in 0..self.merchants {
            cmds.push(open(merchant(i).account(), AccountKind::Merchant));
            cmds.push(Command::Scheme(Box::new(
                SchemeCommand::SetMerchantProfile {
                    merchant: merchant(i),
                    category: 5_812,
                    annual_revenue: Won::new(500_000_000).into(),
                },
            )));
        }
        for out in self.run(cmds).await {
            assert!(out.is_applied(), "{out:?}");
        }
    }

    pub fn next_key(&self) -> IdempotencyKey {
        IdempotencyKey(u128::from(
            self.key.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        ))
    }

    pub async fn run(&self, commands: Vec<Command>) -> Vec<Outcome> {
        let envs = commands
            .into_iter()
            .map(|command| Envelope {
                client: ClientId(1),
                key: self.next_key(),
                command,
            })
            .collect();
        self.engine.submit(envs).unwrap().outcome().await.unwrap()
    }

    pub fn faults(&self, plan: FaultPlan) {
        self.bank.set_faults(plan).unwrap();
    }

    /// Faults off, then sweeps until no bank order is in flight.
    pub async fn settle_everything(&self) {
        self.faults(FaultPlan::none());
        for _ in 0..200 {
            let report = self.treasury.sweep().await.unwrap();
            assert!(report.conflicts.is_empty(), "{:?}", report.conflicts);
            let open = self.engine.read(|l| {
                l.pending_purchases().count()
                    + l.pendings()
                        .filter(|p| {
                            matches!(p.kind, TransferKind::Redemption | TransferKind::Settlement)
                        })
                        .count()
            });
            if open == 0 && self.bank.holds() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("bank orders still in flight after the faults stopped");
    }

    pub fn balance(&self, id: AccountId) -> i64 {
        self.engine
            .read(|l| l.account(id).and_then(|a| a.balance()).map(|b| b.get()))
            .unwrap()
    }

    /// Money at the bank and value in the ledger agree to the last won:
    /// - the issuer's bank account holds exactly the budgets' funding plus what citizens
    ///   paid for posted charges, less what was paid out for redemptions and refunds;
    /// - each citizen's bank balance fell by exactly what their posted charges cost,
    ///   plus what was refunded to them;
    /// - each merchant's bank balance is exactly what the ledger paid out to it;
    /// - the bank itself is consistent and executed each reference at most once.
    pub fn check_money(&self) {
        let audit = self.bank.audit();
        assert!(audit.is_consistent(), "{:?}", audit.problems);
        let report = treasury::OperatorReport::build(self.storage.as_ref(), &self.engine).unwrap();
        let issuer = self.bank.balance(&issuer_account()).unwrap();
        assert_eq!(
            issuer,
            report.total.budget_funding.won + report.total.sales.won - report.total.settled.won,
            "issuer bank account vs funding and sales less payouts"
        );
        let merchant_bank: i64 = (0..self.merchants)
            .map(|i| self.bank.balance(&merchant_account(i)).unwrap())
            .sum();
        assert_eq!(merchant_bank, report.total.redemptions.won);
        let citizens_paid: i64 = (0..self.citizens)
            .map(|i| CITIZEN_BANK_BALANCE - self.bank.balance(&citizen_account(i)).unwrap())
            .sum();
        let refunds_paid = report.total.settled.won - report.total.redemptions.won;
        assert_eq!(citizens_paid, report.total.sales.won - refunds_paid);
        self.engine.read(|l| l.check_all()).unwrap();
    }
}

/// The start of a reconciliation window that holds only what the test does next: the
/// set-up's balance adjustments (booked in the same millisecond as `World::new` returns)
/// fall before it.
pub async fn window_start() -> u64 {
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    treasury_now_us() / 1_000
}

pub fn treasury_now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}
