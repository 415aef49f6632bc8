//! A currency of one wallet and one merchant, shared by the tests that pay in it.
#![allow(dead_code)]

use ledger::{
    AccountKind, ClientId, Command, Envelope, IdempotencyKey, LotSpec, MerchantId, ReserveId,
    SourceSet, Timestamp, Transfer, TransferSpec, WalletId, Won,
};

pub const RESERVE: ReserveId = ReserveId::new(1);
pub const WALLET: WalletId = WalletId::new(10);
pub const MERCHANT: MerchantId = MerchantId::new(20);

pub fn env(key: u128, command: Command) -> Envelope {
    Envelope {
        client: ClientId(1),
        key: IdempotencyKey(key),
        command,
    }
}

/// The reserve, the wallet (charged `funds` won) and the merchant, under keys `first`
/// to `first + 3`.
pub fn accounts(first: u128, funds: i64) -> Vec<Envelope> {
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
        open(first, RESERVE.account(), AccountKind::IssuerReserve),
        open(first + 1, WALLET.account(), AccountKind::CitizenWallet),
        open(first + 2, MERCHANT.account(), AccountKind::Merchant),
        env(
            first + 3,
            Command::Transfer(Transfer::posted(TransferSpec::Charge {
                reserve: RESERVE,
                wallet: WALLET,
                amount: Won::new(funds),
                lot: LotSpec {
                    tag: 0,
                    expires_at: Timestamp::MAX,
                },
            })),
        ),
    ]
}

/// The wallet pays the merchant `amount` won under `key`.
pub fn payment(key: u128, amount: i64) -> Envelope {
    env(
        key,
        Command::Transfer(Transfer::posted(TransferSpec::Payment {
            payer: WALLET,
            merchant: MERCHANT,
            amount: Won::new(amount),
        })),
    )
}
