//! An in-memory [`ScanContext`]: for tests, the benchmark, demos, and as the reference for
//! the server's own implementation over its registry.

use std::borrow::Cow;
use std::sync::{Mutex, PoisonError};

use rustc_hash::FxHashMap;

use crate::alias::{AliasHit, AliasQuery, AliasTable};
use crate::classify::{MerchantInfo, MerchantStatus, ScanContext};
use crate::consumer::{ConsumerCodes, ConsumerError, TokenId, VerifiedCode};

/// Merchants, aliases and (optionally) a consumer-code verifier for one currency.
#[derive(Debug)]
pub struct MemoryContext {
    currency: String,
    merchants: FxHashMap<u64, MerchantInfo<'static>>,
    pub aliases: AliasTable,
    /// `None` for a citizen-side scanner, which must not redeem anyone's consumer code.
    consumer: Option<Mutex<ConsumerCodes>>,
}

impl MemoryContext {
    pub fn new(currency: impl Into<String>) -> MemoryContext {
        MemoryContext {
            currency: currency.into(),
            merchants: FxHashMap::default(),
            aliases: AliasTable::new(),
            consumer: None,
        }
    }

    /// Registers (or replaces) a merchant of `currency`.
    pub fn set_merchant(
        &mut self,
        merchant: u64,
        currency: impl Into<String>,
        status: MerchantStatus<'static>,
    ) {
        self.merchants.insert(
            merchant,
            MerchantInfo {
                status,
                currency: Cow::Owned(currency.into()),
            },
        );
    }

    /// An active merchant of this context's currency.
    pub fn add_active(&mut self, merchant: u64) {
        let currency = self.currency.clone();
        self.set_merchant(merchant, currency, MerchantStatus::Active);
    }

    /// Accept consumer codes (a merchant-side scanner).
    pub fn with_consumer_codes(mut self, codes: ConsumerCodes) -> MemoryContext {
        self.consumer = Some(Mutex::new(codes));
        self
    }

    /// Gives back a redeemed consumer code whose sale did not happen (see
    /// [`ConsumerCodes::release`]); `false` when there is no verifier or nothing to give.
    pub fn release_consumer_code(&self, token: TokenId, now_us: u64) -> bool {
        match &self.consumer {
            Some(codes) => codes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .release(token, now_us),
            None => false,
        }
    }
}

impl ScanContext for MemoryContext {
    fn our_currency(&self) -> &str {
        &self.currency
    }

    fn merchant(&self, merchant: u64) -> Option<MerchantInfo<'_>> {
        self.merchants.get(&merchant).map(MerchantInfo::reborrow)
    }

    fn alias(&self, query: &AliasQuery<'_, '_>) -> Option<AliasHit> {
        self.aliases.lookup(query)
    }

    fn redeem_consumer_code(&self, code: &str, now_us: u64) -> Result<VerifiedCode, ConsumerError> {
        match &self.consumer {
            // A poisoned lock only means another thread panicked mid-redeem; the guard's
            // map and heap are updated together after all checks, so the state is usable.
            Some(codes) => codes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .redeem(code, now_us),
            None => Err(ConsumerError::NotAcceptedHere),
        }
    }
}
