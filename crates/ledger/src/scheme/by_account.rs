//! Citizen profiles kept at their wallet's place in the ledger's account table.
//!
//! A scheme payment reads its payer's profile. In a hash map that is two dependent
//! cache misses (the control bytes, then the entry, whose key is compared) which
//! nothing can start early without doing the lookup itself. Here the profile sits at
//! the wallet's account index, which `Ledger::warm` already knows for the account
//! table: it asks for the profile's lines while earlier commands run, and the payment
//! finds them in cache. Accounts are never removed and keep their index, so a
//! profile's place never moves. (An account opened in a command that is undone frees
//! its index for the next one; its profile, put after the opening, is undone first.)
//!
//! Each value keeps the hash its owner computed when it was put, so that replacing it
//! does not encode the old value again to take its hash out of the state's sum.

use crate::ids::AccountId;
use crate::prefetch::prefetch;

/// A value for some of the accounts, at each one's account index, with its hash.
#[derive(Debug)]
pub(crate) struct ByAccount<V> {
    slots: Vec<Option<Slot<V>>>,
}

#[derive(Debug)]
struct Slot<V> {
    /// Kept beside the value: listing needs it, and a read checks it, so an index that
    /// is not this account's can only find nothing.
    owner: AccountId,
    value: V,
    hash: u128,
}

impl<V> Default for ByAccount<V> {
    fn default() -> Self {
        ByAccount { slots: Vec::new() }
    }
}

impl<V> ByAccount<V> {
    /// Account `id`'s value; `at` is its account index (`None`: no such account).
    pub(crate) fn get(&self, id: AccountId, at: Option<u32>) -> Option<&V> {
        match self.slots.get(at? as usize)? {
            Some(slot) if slot.owner == id => Some(&slot.value),
            _ => None,
        }
    }

    /// Sets account `id`'s value and its hash (at index `at`), or removes them; returns
    /// the old ones.
    pub(crate) fn set(
        &mut self,
        id: AccountId,
        at: u32,
        new: Option<(V, u128)>,
    ) -> Option<(V, u128)> {
        let at = at as usize;
        if at >= self.slots.len() && new.is_some() {
            self.slots.resize_with(at + 1, || None);
        }
        // Past the end only when removing: nothing was there.
        let slot = self.slots.get_mut(at)?;
        // Another account's value at this index cannot happen (see the module's note).
        // If it did, nothing changes and `new` comes back as if it had replaced an
        // equal value, so a caller's hash of the contents stays right.
        if slot.as_ref().is_some_and(|s| s.owner != id) {
            return new;
        }
        let old = slot.take().map(|s| (s.value, s.hash));
        *slot = new.map(|(value, hash)| Slot {
            owner: id,
            value,
            hash,
        });
        old
    }

    /// Every value with its account, in account-index order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (AccountId, &V)> {
        self.slots
            .iter()
            .filter_map(|s| s.as_ref().map(|s| (s.owner, &s.value)))
    }

    /// Starts bringing in the value at index `at` (see [`prefetch`]).
    pub(crate) fn prefetch(&self, at: u32) {
        if let Some(slot) = self.slots.get(at as usize) {
            let start = std::ptr::from_ref(slot).cast::<u8>();
            let size = size_of::<Option<Slot<V>>>();
            let mut offset = 0;
            while offset < size {
                prefetch(start.wrapping_add(offset));
                offset += 64;
            }
            prefetch(start.wrapping_add(size - 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_found_only_for_their_own_account() {
        let mut t = ByAccount::<u32>::default();
        assert_eq!(t.set(AccountId(7), 3, Some((70, 700))), None);
        assert_eq!(t.get(AccountId(7), Some(3)), Some(&70));
        assert_eq!(t.get(AccountId(8), Some(3)), None);
        assert_eq!(t.get(AccountId(7), Some(2)), None);
        assert_eq!(t.get(AccountId(7), None), None);
        assert_eq!(t.get(AccountId(7), Some(99)), None);
        // Another account at the same index leaves the owner's value alone.
        assert_eq!(t.set(AccountId(8), 3, Some((80, 800))), Some((80, 800)));
        assert_eq!(t.get(AccountId(7), Some(3)), Some(&70));
        assert_eq!(t.set(AccountId(7), 3, Some((71, 710))), Some((70, 700)));
        assert_eq!(t.set(AccountId(1), 0, Some((10, 100))), None);
        let all: Vec<_> = t.iter().collect();
        assert_eq!(all, vec![(AccountId(1), &10), (AccountId(7), &71)]);
        assert_eq!(t.set(AccountId(7), 3, None), Some((71, 710)));
        assert_eq!(t.set(AccountId(7), 3, None), None);
        assert_eq!(t.set(AccountId(9), 50, None), None);
        assert_eq!(t.iter().collect::<Vec<_>>(), vec![(AccountId(1), &10)]);
    }
}
