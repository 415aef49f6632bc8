//! Which bank account belongs to which wallet or merchant. Personal data: kept out of
//! the ledger and the journal; the service that links accounts (sign-up, merchant
//! approval) fills it in.

use std::collections::HashMap;
use std::sync::Arc;

use bank::AccountNo;
use ledger::AccountId;
use parking_lot::RwLock;

#[derive(Clone, Debug, Default)]
pub struct LinkedAccounts(Arc<RwLock<HashMap<AccountId, AccountNo>>>);

impl LinkedAccounts {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn link(&self, account: AccountId, bank_account: AccountNo) {
        self.0.write().insert(account, bank_account);
    }

    pub fn unlink(&self, account: AccountId) {
        self.0.write().remove(&account);
    }

    pub fn get(&self, account: AccountId) -> Option<AccountNo> {
        self.0.read().get(&account).cloned()
    }
}
