//! Where each account is in the ledger's table, by id.
//!
//! The server numbers accounts in dense runs (a wallet is `WALLET_BASE + user`, a
//! merchant `MERCHANT_BASE + user`), so most ids share their upper bits with hundreds of
//! others. Those are kept in pages of `PAGE` positions: a lookup is a probe of a small
//! map of pages (16 bytes a page: 7 KiB for a hundred thousand accounts) and one 4-byte
//! read, and the pages of a hundred thousand accounts (430 KiB) fit in the second-level
//! cache, where a map of every id would not. Ids that have few neighbours (a previous operator's numbering, say) stay
//! in an ordinary map until their page has `PROMOTE_AT` of them, so a sparse numbering
//! costs what it always did and never a page per account.

use rustc_hash::FxHashMap;

use crate::ids::AccountId;

/// Positions per page (a power of two): 1 KiB a page.
const PAGE: usize = 256;
/// A page is made once this many of its ids are in the ledger: at worst 64 bytes of
/// page per account, and 4 once the page fills.
const PROMOTE_AT: u16 = 16;
/// A page's place that holds no account.
const NONE: u32 = u32::MAX;

fn page_of(id: AccountId) -> u64 {
    id.0 / PAGE as u64
}

fn place_in_page(id: AccountId) -> usize {
    (id.0 % PAGE as u64) as usize
}

/// Account positions by id: pages for dense runs of ids, a map for the rest.
#[derive(Debug, Default)]
pub(crate) struct AccountIndex {
    /// Page number (`id / PAGE`) to its place in `pages`.
    page_numbers: FxHashMap<u64, u32>,
    pages: Vec<[u32; PAGE]>,
    /// Ids whose page has not been made.
    sparse: FxHashMap<AccountId, u32>,
    /// How many ids of each page not made are in `sparse`.
    sparse_per_page: FxHashMap<u64, u16>,
}

impl AccountIndex {
    /// How many accounts it holds (counted, for tests).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        let paged = self.pages.iter().flatten().filter(|&&p| p != NONE).count();
        paged + self.sparse.len()
    }

    pub fn get(&self, id: AccountId) -> Option<u32> {
        match self.page_numbers.get(&page_of(id)) {
            Some(&p) => {
                let position = self.pages[p as usize][place_in_page(id)];
                (position != NONE).then_some(position)
            }
            None => self.sparse.get(&id).copied(),
        }
    }

    pub fn contains(&self, id: AccountId) -> bool {
        self.get(id).is_some()
    }

    /// Records that account `id` is at `position`. False (and nothing changed) if `id`
    /// is already there or `position` cannot be stored.
    pub fn insert(&mut self, id: AccountId, position: u32) -> bool {
        if position == NONE || self.contains(id) {
            return false;
        }
        let page = page_of(id);
        if let Some(&p) = self.page_numbers.get(&page) {
            self.pages[p as usize][place_in_page(id)] = position;
            return true;
        }
        self.sparse.insert(id, position);
        let count = self.sparse_per_page.entry(page).or_insert(0);
        *count += 1;
        if *count >= PROMOTE_AT {
            self.make_page(page);
        }
        true
    }

    /// Forgets account `id` (the undo of opening it). Its page, if it has one, stays.
    pub fn remove(&mut self, id: AccountId) -> Option<u32> {
        let page = page_of(id);
        match self.page_numbers.get(&page) {
            Some(&p) => {
                let place = &mut self.pages[p as usize][place_in_page(id)];
                let position = std::mem::replace(place, NONE);
                (position != NONE).then_some(position)
            }
            None => {
                let position = self.sparse.remove(&id)?;
                if let Some(count) = self.sparse_per_page.get_mut(&page) {
                    *count -= 1;
                    if *count == 0 {
                        self.sparse_per_page.remove(&page);
                    }
                }
                Some(position)
            }
        }
    }

    /// Moves the ids of `page` from the map into a page of their own.
    fn make_page(&mut self, page: u64) {
        let mut positions = [NONE; PAGE];
        let first = page * PAGE as u64;
        for (place, slot) in positions.iter_mut().enumerate() {
            if let Some(position) = self.sparse.remove(&AccountId(first + place as u64)) {
                *slot = position;
            }
        }
        self.sparse_per_page.remove(&page);
        self.page_numbers.insert(page, self.pages.len() as u32);
        self.pages.push(positions);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u64),
        Remove(u64),
    }

    /// Ids as a server makes them (dense runs at a few bases) mixed with sparse ones
    /// (any u64), so that pages are made, filled and left half-empty.
    fn id() -> impl Strategy<Value = u64> {
        prop_oneof![
            (0u64..3, 0u64..2_000).prop_map(|(base, n)| (base + 1) * 1_000_000_000 + n),
            any::<u64>(),
            (0u64..64).prop_map(|n| n * PAGE as u64 + 7),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => id().prop_map(Op::Insert),
            1 => id().prop_map(Op::Remove),
        ]
    }

    proptest! {
        #[test]
        fn the_index_answers_as_a_map_would(ops in proptest::collection::vec(op(), 1..600)) {
            let mut index = AccountIndex::default();
            let mut model: HashMap<u64, u32> = HashMap::new();
            let mut next = 0u32;
            for op in ops {
                match op {
                    Op::Insert(id) => {
                        let inserted = index.insert(AccountId(id), next);
                        prop_assert_eq!(inserted, !model.contains_key(&id));
                        if inserted {
                            model.insert(id, next);
                            next += 1;
                        }
                    }
                    Op::Remove(id) => {
                        prop_assert_eq!(index.remove(AccountId(id)), model.remove(&id));
                    }
                }
                prop_assert_eq!(index.len(), model.len());
            }
            for (&id, &position) in &model {
                prop_assert_eq!(index.get(AccountId(id)), Some(position));
            }
            for probe in [0, 1, u64::MAX, 1_000_000_000, 2_000_000_001] {
                prop_assert_eq!(index.get(AccountId(probe)), model.get(&probe).copied());
            }
        }
    }

    #[test]
    fn a_dense_run_lives_in_pages_and_a_sparse_numbering_in_the_map() {
        let mut index = AccountIndex::default();
        for n in 0..10_000u64 {
            assert!(index.insert(AccountId(1_000_000_000 + n), n as u32));
        }
        assert!(index.sparse.len() < PAGE, "a dense run is paged");
        assert!(index.pages.len() <= 10_000 / PAGE + 2);
        for n in 0..10_000u64 {
            // Spread so that no page gets two ids.
            let id = AccountId(5_000_000_000 + n * 10 * PAGE as u64);
            assert!(index.insert(id, 10_000 + n as u32));
        }
        assert_eq!(
            index.sparse.len(),
            10_000,
            "a sparse numbering makes no pages"
        );
        assert_eq!(index.get(AccountId(1_000_000_123)), Some(123));
        assert_eq!(index.get(AccountId(5_000_000_000)), Some(10_000));
        assert_eq!(index.get(AccountId(5_000_000_001)), None);
        assert!(!index.insert(AccountId(1_000_000_123), 7), "no id twice");
        assert!(
            !index.insert(AccountId(9), NONE),
            "no position that means none"
        );
    }
}
