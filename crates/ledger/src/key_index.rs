//! The idempotency index: where in the ring of remembered answers each (client, key)
//! is.
//!
//! A table of its own rather than hashbrown's, for what one command costs with a million
//! keys remembered, when the index is far larger than the caches. hashbrown keeps a
//! key's control byte and its slot in different places, so a new key costs two cache
//! misses (the lookup reads one line, the insert writes another), and growing a table
//! reads every entry back from the ring to rehash it. Here a slot is one `u64` holding
//! the entry's ring position (modulo 2³²) and 32 bits of its key's hash, probed
//! linearly: the lookup brings in the line the insert then writes, a mismatch is
//! usually told from the slot alone, and a rebuild needs nothing but the slots.
//!
//! Slots are never removed one at a time. A slot whose position has left the ring (its
//! key forgotten, or its push undone) is stale: lookups step over it and an insert
//! reuses the first one it meets. When too few slots of a shard are empty, the shard is
//! rebuilt from its live slots alone.
//!
//! The ring is the authority: a slot only says where to look, and every hit is checked
//! against the entry's own client and key. So a slot that is wrong (a push undone and
//! its position reused by another key, say) can cost a look, never a wrong answer.

/// The index is split in shards that are rebuilt one at a time, so that growing it
/// never pauses the sequencer for the whole index.
const SHARDS: usize = 64;
/// Slots of the smallest shard (a power of two).
const SHARD_SLOTS_MIN: usize = 16;
/// A rebuilt shard has this many slots per live key (rounded up to a power of two), so
/// it is at most a third full when it starts over.
const SLOTS_PER_KEY: usize = 3;

/// The hash of a (client, key), as the index uses it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyHash(pub u64);

impl KeyHash {
    /// The upper 32 bits, with the top bit set so that no slot is zero (empty).
    fn tag(self) -> u64 {
        (self.0 >> 32) | 0x8000_0000
    }

    /// Bits 26–31: not part of the tag, which picks the place within a shard.
    fn shard(self) -> usize {
        (self.0 >> 26) as usize % SHARDS
    }
}

/// The positions the ring holds now: `first .. first + len`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Live {
    pub first: u64,
    pub len: u64,
}

impl Live {
    /// How far past `first` the slot's position is, if the ring holds it. Positions are
    /// kept modulo 2³², so a slot stale for four billion pushes would read as live again:
    /// it costs at most a look at the wrong entry (see the module's note).
    fn offset(self, slot: u64) -> Option<u64> {
        let offset = u64::from((slot as u32).wrapping_sub(self.first as u32));
        (offset < self.len).then_some(offset)
    }
}

#[derive(Debug)]
struct Shard {
    /// A power of two in length; 0 is an empty slot.
    slots: Vec<u64>,
    /// Slots not empty: live and stale.
    filled: usize,
    /// The fill (percent of slots) at which this shard is rebuilt: each shard has its
    /// own, so that shards filling at the same pace are rebuilt at different times.
    rebuild_percent: usize,
}

impl Shard {
    fn new(number: usize, slots: usize) -> Shard {
        Shard {
            slots: vec![0; slots.next_power_of_two().max(SHARD_SLOTS_MIN)],
            filled: 0,
            rebuild_percent: 55 + number * 20 / SHARDS,
        }
    }

    /// Where probing for `tag` starts (Fibonacci hashing: the top bits of a product).
    fn home(&self, tag: u64) -> usize {
        let bits = self.slots.len().trailing_zeros();
        (tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// Puts `slot` in the first empty or stale place from its home.
    fn place(&mut self, slot: u64, live: Live) {
        let mask = self.mask();
        let mut i = self.home(slot >> 32);
        loop {
            let there = self.slots[i];
            if there == 0 {
                self.filled += 1;
                self.slots[i] = slot;
                return;
            }
            if live.offset(there).is_none() {
                self.slots[i] = slot;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// Starts over with the live slots only, in a table sized for them. `kept` is
    /// scratch, reused from one rebuild to the next for the same reason as the table.
    fn rebuild(&mut self, live: Live, kept: &mut Vec<u64>) {
        kept.clear();
        kept.extend(
            self.slots
                .iter()
                .copied()
                .filter(|&s| s != 0 && live.offset(s).is_some()),
        );
        let len = (kept.len() * SLOTS_PER_KEY)
            .next_power_of_two()
            .max(SHARD_SLOTS_MIN);
        if len == self.slots.len() {
            // The usual case once the ring is at its cap: clearing in place spares the
            // allocator a fresh table whose every page would fault in again.
            self.slots.fill(0);
        } else {
            self.slots = vec![0; len];
        }
        self.filled = 0;
        for &slot in kept.iter() {
            self.place(slot, live);
        }
    }
}

/// Ring positions by key hash.
#[derive(Debug)]
pub(crate) struct KeyIndex {
    shards: Vec<Shard>,
    /// Scratch for rebuilding a shard.
    kept: Vec<u64>,
}

impl Default for KeyIndex {
    fn default() -> Self {
        KeyIndex::with_capacity(0)
    }
}

impl KeyIndex {
    /// Room for `keys` keys from the start (loading a snapshot).
    pub fn with_capacity(keys: usize) -> KeyIndex {
        let per_shard = keys.div_ceil(SHARDS).saturating_mul(SLOTS_PER_KEY);
        KeyIndex {
            shards: (0..SHARDS).map(|n| Shard::new(n, per_shard)).collect(),
            kept: Vec::new(),
        }
    }

    /// The position of the live entry with hash `hash` for which `is_it` says yes.
    pub fn find(&self, hash: KeyHash, live: Live, is_it: impl Fn(u64) -> bool) -> Option<u64> {
        let shard = &self.shards[hash.shard()];
        let tag = hash.tag();
        let mask = shard.mask();
        let mut i = shard.home(tag);
        // Ends: a shard is rebuilt before it fills, so an empty slot is always ahead.
        loop {
            let slot = shard.slots[i];
            if slot == 0 {
                return None;
            }
            if slot >> 32 == tag
                && let Some(offset) = live.offset(slot)
                && is_it(live.first + offset)
            {
                return Some(live.first + offset);
            }
            i = (i + 1) & mask;
        }
    }

    /// Starts bringing in the slot where a lookup of `hash` begins (see
    /// [`crate::prefetch`]).
    pub fn prefetch(&self, hash: KeyHash) {
        let shard = &self.shards[hash.shard()];
        crate::prefetch::prefetch(shard.slots.as_ptr().wrapping_add(shard.home(hash.tag())));
    }

    /// Indexes the entry at `position` (which `live` must already hold), whose key is
    /// not in the index (the caller looked it up first).
    pub fn insert(&mut self, hash: KeyHash, position: u64, live: Live) {
        let shard = &mut self.shards[hash.shard()];
        shard.place((hash.tag() << 32) | u64::from(position as u32), live);
        if shard.filled * 100 >= shard.slots.len() * shard.rebuild_percent {
            shard.rebuild(live, &mut self.kept);
        }
    }

    /// Slots not empty, live and stale (for tests of the index's size).
    #[cfg(test)]
    pub fn filled(&self) -> usize {
        self.shards.iter().map(|s| s.filled).sum()
    }

    /// Slots in all, empty ones included.
    #[cfg(test)]
    pub fn slots(&self) -> usize {
        self.shards.iter().map(|s| s.slots.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, VecDeque};

    use proptest::prelude::*;

    use super::*;

    /// A ring of keys beside the index, checked against a plain map.
    struct Model {
        ring: VecDeque<u64>,
        first: u64,
        index: KeyIndex,
        hash: fn(u64) -> u64,
    }

    impl Model {
        fn new(hash: fn(u64) -> u64) -> Model {
            Model {
                ring: VecDeque::new(),
                first: 0,
                index: KeyIndex::default(),
                hash,
            }
        }

        fn live(&self) -> Live {
            Live {
                first: self.first,
                len: self.ring.len() as u64,
            }
        }

        fn find(&self, key: u64) -> Option<u64> {
            let ring = &self.ring;
            let first = self.first;
            self.index
                .find(KeyHash((self.hash)(key)), self.live(), |p| {
                    ring.get((p - first) as usize) == Some(&key)
                })
        }

        fn push(&mut self, key: u64) {
            self.ring.push_back(key);
            let position = self.first + self.ring.len() as u64 - 1;
            let live = self.live();
            self.index.insert(KeyHash((self.hash)(key)), position, live);
        }
    }

    /// Few distinct hashes, so that tags collide and probe runs grow long.
    fn colliding(key: u64) -> u64 {
        (key % 97).wrapping_mul(0x2545_F491_4F6C_DD1D) ^ (key % 5) << 40
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(u64),
        PopFront,
        PopBack,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u64..400).prop_map(Op::Push),
            2 => Just(Op::PopFront),
            1 => Just(Op::PopBack),
        ]
    }

    proptest! {
        /// Whatever is pushed, forgotten at the front or undone at the back, the index
        /// finds exactly the keys the ring holds, at their positions.
        #[test]
        fn the_index_finds_exactly_what_the_ring_holds(ops in proptest::collection::vec(op(), 1..600)) {
            let mut m = Model::new(colliding);
            for op in ops {
                match op {
                    Op::Push(key) => {
                        if m.find(key).is_none() {
                            m.push(key);
                        }
                    }
                    Op::PopFront => {
                        if m.ring.pop_front().is_some() {
                            m.first += 1;
                        }
                    }
                    Op::PopBack => {
                        m.ring.pop_back();
                    }
                }
                let mut expected: HashMap<u64, u64> = HashMap::new();
                for (i, key) in m.ring.iter().enumerate() {
                    expected.insert(*key, m.first + i as u64);
                }
                for key in 0..400 {
                    prop_assert_eq!(m.find(key), expected.get(&key).copied(), "key {}", key);
                }
            }
        }
    }

    #[test]
    fn a_ring_at_its_cap_keeps_the_index_small() {
        let mut m = Model::new(|key| key.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let cap = 20_000;
        for key in 0..1_000_000u64 {
            m.push(key);
            if m.ring.len() > cap {
                m.ring.pop_front();
                m.first += 1;
            }
        }
        // Stale slots are reused or swept: at most 3 slots a key after a rebuild, rounded
        // up to a power of two, so under 6 a key plus the smallest shards.
        assert!(
            m.index.slots() <= 6 * cap + SHARDS * SHARD_SLOTS_MIN,
            "{} slots for {cap} keys",
            m.index.slots()
        );
        assert!(m.index.filled() < m.index.slots());
        assert_eq!(m.find(999_999), Some(999_999));
        assert_eq!(m.find(0), None);
    }
}
