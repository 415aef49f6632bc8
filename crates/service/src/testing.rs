//! A small real currency for tests of the use cases, and of the pages over them (the
//! `testing` feature): a journal in a fresh directory, a simulated bank on 127.0.0.1,
//! a treasury, and one merchant whose balance a citizen's payment made. Nothing here
//! is a mock: the use cases run the ledger, the treasury and the bank as in `serve`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use bank::{AccountNo, HttpBank, NewAccount, SimBank, SimBankConfig, SimBankHandle};
use engine::{CurrencyCode, Engine, EngineOptions, FileStorage, Storage};
use ledger::scheme::{SchemeCommand, SchemeConfig};
use ledger::{
    AccountId, AccountKind, BudgetId, ClearingId, ClientId, Command, Envelope, IdempotencyKey,
    LedgerConfig, LotSpec, MerchantId, Outcome, ReserveId, SourceSet, Text, Timestamp, Transfer,
    TransferSpec, WalletId, Won,
};
use treasury::{LinkedAccounts, Treasury, TreasuryConfig};

use crate::{Auth, Caller, Currency, NewUser, Role, Secret, Service};

/// The test currency's code.
pub const CURRENCY: &str = "demo";
/// The merchant's ledger account.
pub const MERCHANT: u64 = 20_001;
/// The citizen who paid it.
pub const WALLET: u64 = 1_000_001;
/// The merchant's linked bank account.
pub const MERCHANT_BANK: &str = "220-000001";
/// Every test user's password.
pub const PASSWORD: &str = "correct horse battery";

const ISSUER_BANK: &str = "999-ISSUER";
const RESERVE: u64 = 1;
const CLEARING: u64 = 3;
const BUDGET: u64 = 4;
/// The scheme the test currency runs (the demo's).
const SCHEME: &str = include_str!("../../../schemes/busan-like.toml");

/// A running test currency. Keep it alive while the service is used (the bank stops
/// with it).
pub struct TestCurrency {
    pub service: Arc<Service>,
    pub bank: SimBankHandle,
    pub engine: Arc<Engine>,
    pub dir: PathBuf,
}

impl std::fmt::Debug for TestCurrency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCurrency")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// A fresh directory under the system's temporary one (kept: a test's journal is small,
/// and what failed can be looked at).
fn fresh_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "maeul-test-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// A currency whose merchant [`MERCHANT`] holds `balance` won (paid by a citizen), its
/// redemption account [`MERCHANT_BANK`] linked at the simulated bank.
pub async fn merchant_with_money(balance: i64) -> TestCurrency {
    let dir = fresh_dir();
    let storage: Arc<dyn Storage> = Arc::new(FileStorage::new(
        dir.join("currencies").join(CURRENCY),
        journal::FileJournalConfig::default().with_chunk_size(1 << 20),
    ));
    let engine = Arc::new(
        Engine::create(
            Arc::clone(&storage),
            CurrencyCode::new(CURRENCY).unwrap(),
            LedgerConfig::default(),
            EngineOptions::default(),
        )
        .unwrap(),
    );
    let open = |id: u64, kind| Command::OpenAccount {
        account: AccountId(id),
        kind,
        accepts: SourceSet::ALL,
    };
    let mut commands = vec![
        open(RESERVE, AccountKind::IssuerReserve),
        open(CLEARING, AccountKind::SettlementClearing),
        open(BUDGET, AccountKind::SubsidyBudget),
        open(WALLET, AccountKind::CitizenWallet),
        open(MERCHANT, AccountKind::Merchant),
        Command::Transfer(Transfer::posted(TransferSpec::BudgetFunding {
            reserve: ReserveId::new(RESERVE),
            budget: BudgetId::new(BUDGET),
            amount: Won::new(1_000_000_000),
        })),
        Command::Scheme(Box::new(SchemeCommand::SetScheme {
            config: Box::new(SchemeConfig::from_toml(SCHEME).unwrap()),
            effective_at: Timestamp::ZERO,
            operator: Text::new("test").unwrap(),
        })),
    ];
    if balance > 0 {
        commands.push(Command::Transfer(Transfer::posted(TransferSpec::Charge {
            reserve: ReserveId::new(RESERVE),
            wallet: WalletId::new(WALLET),
            amount: Won::new(balance),
            lot: LotSpec {
                tag: 0,
                expires_at: Timestamp::MAX,
            },
        })));
        commands.push(Command::Transfer(Transfer::posted(TransferSpec::Payment {
            payer: WalletId::new(WALLET),
            merchant: MerchantId::new(MERCHANT),
            amount: Won::new(balance),
        })));
    }
    let envelopes = commands
        .into_iter()
        .enumerate()
        .map(|(i, command)| Envelope {
            client: ClientId(9),
            key: IdempotencyKey(i as u128 + 1),
            command,
        })
        .collect();
    let outs = engine.submit(envelopes).unwrap().outcome().await.unwrap();
    assert!(outs.iter().all(Outcome::is_applied), "{outs:?}");

    let bank = SimBank::start("127.0.0.1:0".parse().unwrap(), SimBankConfig::default())
        .await
        .unwrap();
    for (number, holder, won) in [
        (ISSUER_BANK, "issuer", 1_000_000_000),
        (MERCHANT_BANK, "가게", 0),
    ] {
        bank.open_account(NewAccount {
            number: AccountNo::new(number).unwrap(),
            holder: holder.into(),
            balance: won,
            allow_negative: false,
        })
        .unwrap();
    }
    let accounts = LinkedAccounts::new();
    accounts.link(AccountId(MERCHANT), AccountNo::new(MERCHANT_BANK).unwrap());
    let treasury = Arc::new(Treasury::new(
        Arc::clone(&engine),
        Arc::clone(&storage),
        HttpBank::new(bank.url()).unwrap(),
        accounts,
        TreasuryConfig::new(
            AccountNo::new(ISSUER_BANK).unwrap(),
            ReserveId::new(RESERVE),
            ClearingId::new(CLEARING),
        ),
    ));
    let auth = Arc::new(Auth::open(&dir, true).unwrap());
    let merchants = Arc::new(crate::merchants::Merchants::open(&dir, CURRENCY, [7; 32]).unwrap());
    let mut currencies = BTreeMap::new();
    currencies.insert(
        CURRENCY.to_owned(),
        Currency::new(Arc::clone(&engine), storage, treasury, merchants),
    );
    TestCurrency {
        service: Arc::new(Service::new(currencies, auth)),
        bank,
        engine,
        dir,
    }
}

impl TestCurrency {
    /// A new user `login` of `role` holding `account`, signed in: the session token
    /// and the caller.
    pub async fn signed_in(&self, login: &str, role: Role, account: u64) -> (String, Caller) {
        let auth = &self.service.auth;
        let user = auth
            .create(NewUser {
                login: login.into(),
                password: Secret::new(PASSWORD.into()),
                pin: (role == Role::Citizen).then(|| Secret::new("123456".into())),
                role,
                currency: CURRENCY.into(),
                currencies: Vec::new(),
                setup: None,
            })
            .await
            .unwrap();
        auth.set_account(user, account).unwrap();
        let (token, _, _) = auth.sign_in(login, PASSWORD, None).await.unwrap();
        let caller = auth.caller(&token).unwrap();
        (token, caller)
    }

    /// The merchant's signed-in session.
    pub async fn merchant(&self, login: &str) -> (String, Caller) {
        self.signed_in(login, Role::Merchant, MERCHANT).await
    }

    /// What the bank holds for the merchant.
    pub fn merchant_bank_balance(&self) -> i64 {
        self.bank
            .balance(&AccountNo::new(MERCHANT_BANK).unwrap())
            .unwrap_or(0)
    }
}
