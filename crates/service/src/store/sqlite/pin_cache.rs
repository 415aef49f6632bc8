//! The PIN state of recent payers, kept in memory beside `service.sqlite`.
//!
//! Every payment checks a PIN, and reading its state from SQLite (a read transaction,
//! with its WAL locks) was 8% of the server's CPU under load. Only this process writes
//! the file (the data directory is locked), so the store can remember what it read and
//! forget it whenever it writes something a PIN state holds (or a user's id). The cache
//! is not shared between nodes: several nodes keep users in PostgreSQL, whose store
//! reads every time (a PIN locked on one node must be locked on all of them).
//!
//! Consistency: an entry is filled only while the database mutex is held, by the reader
//! that just read it, and every write that can change a PIN state (its hash, failures,
//! lock or login) or remove or reuse an id forgets the entry before that mutex is
//! released; so no reader can put back a state that a write has replaced.

use std::collections::HashMap;

use parking_lot::Mutex;

use crate::store::PinState;

/// Entries per generation: at most twice this many users are remembered (about 200 bytes
/// each). A user who has not paid for two generations is read from SQLite again.
const GENERATION_ENTRIES: usize = 32_768;

#[derive(Default)]
pub(super) struct PinCache {
    generations: Mutex<Generations>,
}

/// Counts only: the entries hold logins and PIN hashes, which logs never show.
impl std::fmt::Debug for PinCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.generations.lock();
        f.debug_struct("PinCache")
            .field("current", &g.current.len())
            .field("previous", &g.previous.len())
            .finish()
    }
}

/// Two maps instead of an LRU list: a hit in the older one moves the entry into the
/// newer one, and when the newer one is full the older one is dropped. Bounded, O(1).
#[derive(Default)]
struct Generations {
    current: HashMap<i64, PinState>,
    previous: HashMap<i64, PinState>,
}

impl Generations {
    fn insert(&mut self, user_id: i64, state: PinState) {
        if self.current.len() >= GENERATION_ENTRIES && !self.current.contains_key(&user_id) {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(user_id, state);
    }
}

impl PinCache {
    pub(super) fn get(&self, user_id: i64) -> Option<PinState> {
        let mut g = self.generations.lock();
        if let Some(state) = g.current.get(&user_id) {
            return Some(state.clone());
        }
        let state = g.previous.remove(&user_id)?;
        g.insert(user_id, state.clone());
        Some(state)
    }

    /// Remembers what was just read. Call with the database mutex held.
    pub(super) fn put(&self, user_id: i64, state: PinState) {
        self.generations.lock().insert(user_id, state);
    }

    /// Forgets a user whose row was written. Call with the database mutex held.
    pub(super) fn forget(&self, user_id: i64) {
        let mut g = self.generations.lock();
        g.current.remove(&user_id);
        g.previous.remove(&user_id);
    }

    /// Forgets everyone: after writes to many users at once (imports, seeding).
    pub(super) fn forget_all(&self) {
        let mut g = self.generations.lock();
        g.current.clear();
        g.previous.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let g = self.generations.lock();
        g.current.len() + g.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(n: u32) -> PinState {
        PinState {
            login: format!("user-{n}"),
            pin_hash: Some(format!("hash-{n}")),
            failures: n,
            locked_until_s: 0,
        }
    }

    #[test]
    fn its_debug_shows_counts_not_logins_or_hashes() {
        let cache = PinCache::default();
        cache.put(7, state(7));
        let shown = format!("{cache:?}");
        assert!(
            !shown.contains("user-7") && !shown.contains("hash-7"),
            "{shown}"
        );
        assert!(shown.contains("current: 1"), "{shown}");
    }

    #[test]
    fn it_remembers_forgets_and_stays_bounded() {
        let cache = PinCache::default();
        cache.put(1, state(1));
        assert_eq!(cache.get(1), Some(state(1)));
        cache.forget(1);
        assert_eq!(cache.get(1), None);

        let users = 3 * GENERATION_ENTRIES as i64;
        for id in 0..users {
            cache.put(id, state(0));
            // The first user pays all the time: it is never the one forgotten.
            assert!(cache.get(0).is_some(), "user 0 forgotten at {id}");
        }
        assert!(cache.len() <= 2 * GENERATION_ENTRIES, "{}", cache.len());
        assert_eq!(cache.get(users - 1), Some(state(0)));
        assert_eq!(cache.get(1), None, "a user not seen for two generations");
        cache.forget_all();
        assert_eq!(cache.len(), 0);
    }
}
