//! What the ledger remembers for a while and then forgets, oldest first: idempotency
//! keys and refundable payments.
//!
//! Both are first-in first-out, so both live in rings that grow at the back and are
//! trimmed at the front. That keeps the hot path sequential in memory: a payment's
//! refund record is found by its transfer id (ids are consecutive) without hashing, and
//! the idempotency table is a ring of entries plus a small hash index of ring positions
//! (8 bytes a slot, so the index stays in cache far longer than a map of whole entries;
//! see `key_index`).

use std::collections::VecDeque;
use std::hash::BuildHasher;

use rustc_hash::FxBuildHasher;

use crate::ids::{ClientId, IdempotencyKey, TransferId};
use crate::key_index::{KeyHash, KeyIndex, Live};
use crate::money::Timestamp;
use crate::outcome::{Applied, Rejection};
use crate::state::PaymentRecord;

/// The first outcome given to a client's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IdempotencyEntry {
    pub at: Timestamp,
    pub client: ClientId,
    pub key: IdempotencyKey,
    pub fingerprint: u64,
    pub result: Result<Applied, Rejection>,
}

/// A double-ended queue made of fixed-size chunks, so that growing it never copies
/// (and never pauses the sequencer for) the whole queue, as one `VecDeque` doubling
/// would. Pushed at the back, popped at either end, indexed from the front.
#[derive(Debug)]
pub(crate) struct ChunkedDeque<T> {
    /// Every chunk but the first and the last is full.
    chunks: VecDeque<VecDeque<T>>,
    len: usize,
    /// Chunks emptied lately (at most `SPARE_CHUNKS`), kept for the next ones needed: a
    /// queue at its cap pops chunks at the front as often as it starts them at the
    /// back, and handing that memory back and forth to the allocator would fault its
    /// pages in again each time.
    spare: Vec<VecDeque<T>>,
}

const CHUNK: usize = 4_096;
/// Enough for the chunks a large batch adds between two trims of the front.
const SPARE_CHUNKS: usize = 8;

impl<T> Default for ChunkedDeque<T> {
    fn default() -> Self {
        ChunkedDeque {
            chunks: VecDeque::new(),
            len: 0,
            spare: Vec::new(),
        }
    }
}

impl<T> ChunkedDeque<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn locate(&self, i: usize) -> Option<(usize, usize)> {
        if i >= self.len {
            return None;
        }
        let first = self.chunks.front()?.len();
        if i < first {
            return Some((0, i));
        }
        let j = i - first;
        Some((1 + j / CHUNK, j % CHUNK))
    }

    pub fn get(&self, i: usize) -> Option<&T> {
        let (c, o) = self.locate(i)?;
        self.chunks.get(c)?.get(o)
    }

    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        let (c, o) = self.locate(i)?;
        self.chunks.get_mut(c)?.get_mut(o)
    }

    pub fn front(&self) -> Option<&T> {
        self.chunks.front()?.front()
    }

    pub fn back(&self) -> Option<&T> {
        self.chunks.back()?.back()
    }

    pub fn push_back(&mut self, value: T) {
        match self.chunks.back_mut() {
            Some(last) if last.len() < CHUNK => last.push_back(value),
            // The first chunk may be partly popped; a new chunk starts after it.
            _ => {
                let mut chunk = self
                    .spare
                    .pop()
                    .unwrap_or_else(|| VecDeque::with_capacity(CHUNK));
                chunk.push_back(value);
                self.chunks.push_back(chunk);
            }
        }
        self.len += 1;
    }

    pub fn pop_front(&mut self) -> Option<T> {
        let first = self.chunks.front_mut()?;
        let value = first.pop_front()?;
        if first.is_empty() {
            let emptied = self.chunks.pop_front();
            self.keep_spare(emptied);
        }
        self.len -= 1;
        Some(value)
    }

    pub fn pop_back(&mut self) -> Option<T> {
        let last = self.chunks.back_mut()?;
        let value = last.pop_back()?;
        if last.is_empty() {
            let emptied = self.chunks.pop_back();
            self.keep_spare(emptied);
        }
        self.len -= 1;
        Some(value)
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }

    fn keep_spare(&mut self, chunk: Option<VecDeque<T>>) {
        if let Some(chunk) = chunk
            && self.spare.len() < SPARE_CHUNKS
        {
            self.spare.push(chunk);
        }
    }
}

/// Snapshots with fewer keys than this are indexed on the decoding thread (a second
/// thread is not worth starting for them).
const DECODE_ALONE_MAX: usize = 100_000;

/// Idempotency keys in arrival order, with an index from (client, key) to position.
#[derive(Debug, Default)]
pub(crate) struct IdempotencyRing {
    entries: ChunkedDeque<IdempotencyEntry>,
    /// Position (since the ledger began) of `entries[0]`.
    first: u64,
    index: KeyIndex,
}

fn key_hash(client: ClientId, key: IdempotencyKey) -> KeyHash {
    KeyHash(FxBuildHasher.hash_one((client.0, key.0)))
}

impl IdempotencyRing {
    /// Room for `n` keys in the index from the start (loading a snapshot).
    pub fn with_capacity(n: usize) -> IdempotencyRing {
        IdempotencyRing {
            entries: ChunkedDeque::default(),
            first: 0,
            index: KeyIndex::with_capacity(n),
        }
    }

    /// Reads `n` entries from `next` (loading a snapshot), indexing them on a second
    /// thread meanwhile: with millions of keys, the index's cache misses and fresh pages
    /// are a third of a snapshot's decoding, and need nothing but the keys' hashes.
    pub fn decode<E>(
        n: usize,
        mut next: impl FnMut() -> Result<IdempotencyEntry, E>,
    ) -> Result<IdempotencyRing, E> {
        let mut ring = IdempotencyRing::with_capacity(n);
        if n < DECODE_ALONE_MAX {
            for _ in 0..n {
                ring.push(next()?);
            }
            return Ok(ring);
        }
        let live = Live {
            first: 0,
            len: n as u64,
        };
        let mut index = std::mem::take(&mut ring.index);
        let entries = &mut ring.entries;
        let decoded = std::thread::scope(|s| {
            let (to_indexer, chunks) = std::sync::mpsc::sync_channel::<Vec<(KeyHash, u64)>>(8);
            let indexer = s.spawn(move || {
                for chunk in chunks {
                    for (hash, position) in chunk {
                        index.insert(hash, position, live);
                    }
                }
                index
            });
            let mut decode = move || {
                let mut chunk = Vec::with_capacity(CHUNK);
                for position in 0..n as u64 {
                    let entry = next()?;
                    chunk.push((key_hash(entry.client, entry.key), position));
                    entries.push_back(entry);
                    if chunk.len() == CHUNK {
                        let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                        // Fails only if the indexer panicked; joining it below says so.
                        if to_indexer.send(full).is_err() {
                            break;
                        }
                    }
                }
                let _ = to_indexer.send(chunk);
                Ok(())
            };
            let decoded = decode();
            // Closes the channel (the closure owns its sending end), ending the indexer.
            drop(decode);
            match indexer.join() {
                Ok(index) => decoded.map(|()| index),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        });
        ring.index = decoded?;
        Ok(ring)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &IdempotencyEntry> {
        self.entries.iter()
    }

    pub fn front(&self) -> Option<&IdempotencyEntry> {
        self.entries.front()
    }

    fn live(&self) -> Live {
        Live {
            first: self.first,
            len: self.entries.len() as u64,
        }
    }

    /// The entry at position `p`, unless it has been forgotten.
    fn at(&self, p: u64) -> Option<&IdempotencyEntry> {
        self.entries
            .get(usize::try_from(p.checked_sub(self.first)?).ok()?)
    }

    pub fn get(&self, client: ClientId, key: IdempotencyKey) -> Option<&IdempotencyEntry> {
        let pos = self.index.find(key_hash(client, key), self.live(), |p| {
            self.at(p)
                .is_some_and(|e| e.client == client && e.key == key)
        })?;
        self.at(pos)
    }

    /// Starts bringing in the index slot a [`IdempotencyRing::get`] of this key reads first.
    pub fn prefetch(&self, client: ClientId, key: IdempotencyKey) {
        self.index.prefetch(key_hash(client, key));
    }

    /// Appends a key that is not present (the caller looked it up first).
    pub fn push(&mut self, entry: IdempotencyEntry) {
        let pos = self.first + self.entries.len() as u64;
        let hash = key_hash(entry.client, entry.key);
        self.entries.push_back(entry);
        let live = self.live();
        self.index.insert(hash, pos, live);
    }

    /// Removes the newest entry (undo of `push`). Its index slot goes stale by itself:
    /// its position is no longer in the ring.
    pub fn pop_back(&mut self) {
        self.entries.pop_back();
    }

    /// Forgets the oldest entry. Its index slot goes stale in the same way, and is
    /// reused or swept later, which saves a cache miss on every command once the ring
    /// is at its cap.
    pub fn pop_front(&mut self) {
        if self.entries.pop_front().is_some() {
            self.first += 1;
        }
    }
}

/// A transfer id's slot in the payment log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PaymentSlot {
    /// Not a payment (or a pending payment that ended without being posted).
    Empty,
    /// A pending payment: if it is posted, its record goes here.
    Reserved { at: Timestamp },
    /// Boxed, so that an empty slot costs 16 bytes.
    Payment(Box<PaymentRecord>),
}

/// Refundable payments by transfer id, in id order.
#[derive(Debug, Default)]
pub(crate) struct PaymentLog {
    /// Transfer id of `slots[0]`.
    first: u64,
    slots: ChunkedDeque<PaymentSlot>,
    payments: usize,
}

impl PaymentLog {
    pub fn payments(&self) -> usize {
        self.payments
    }

    /// Slots held, including empty ones (the retention cap counts these).
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (TransferId, &PaymentSlot)> {
        self.slots
            .iter()
            .enumerate()
            .map(|(i, s)| (TransferId(self.first + i as u64), s))
    }

    fn slot(&self, id: TransferId) -> Option<&PaymentSlot> {
        self.slots
            .get(usize::try_from(id.0.checked_sub(self.first)?).ok()?)
    }

    fn slot_mut(&mut self, id: TransferId) -> Option<&mut PaymentSlot> {
        self.slots
            .get_mut(usize::try_from(id.0.checked_sub(self.first)?).ok()?)
    }

    pub fn get(&self, id: TransferId) -> Option<&PaymentRecord> {
        match self.slot(id)? {
            PaymentSlot::Payment(p) => Some(p),
            _ => None,
        }
    }

    /// Puts `slot` at `id`, growing the log with empty slots up to it. An id already
    /// forgotten (before the front) cannot be stored; returns false then.
    pub fn set(&mut self, id: TransferId, slot: PaymentSlot) -> bool {
        if self.slots.is_empty() {
            self.first = id.0;
        }
        let Some(offset) = id.0.checked_sub(self.first) else {
            return false;
        };
        let Ok(offset) = usize::try_from(offset) else {
            return false;
        };
        while self.slots.len() <= offset {
            self.slots.push_back(PaymentSlot::Empty);
        }
        let Some(place) = self.slots.get_mut(offset) else {
            return false;
        };
        let added = usize::from(matches!(slot, PaymentSlot::Payment(_)));
        let old = std::mem::replace(place, slot);
        self.payments = self.payments + added - usize::from(matches!(old, PaymentSlot::Payment(_)));
        self.trim_back();
        true
    }

    /// Appends the next slot as read from a snapshot, exactly as it was (empty slots
    /// included, so that the state re-encodes byte for byte). False if `id` does not
    /// follow the last slot.
    pub fn push_decoded(&mut self, id: TransferId, slot: PaymentSlot) -> bool {
        if self.slots.is_empty() {
            self.first = id.0;
        }
        if id.0 != self.first + self.slots.len() as u64 {
            return false;
        }
        self.payments += usize::from(matches!(slot, PaymentSlot::Payment(_)));
        self.slots.push_back(slot);
        true
    }

    /// What is at `id` now (for undo).
    pub fn take(&mut self, id: TransferId) -> Option<PaymentSlot> {
        self.slot(id)?;
        let old = self
            .slot_mut(id)
            .map(|s| std::mem::replace(s, PaymentSlot::Empty));
        if matches!(old, Some(PaymentSlot::Payment(_))) {
            self.payments -= 1;
        }
        self.trim_back();
        old
    }

    /// Empty slots at the back carry nothing; dropping them keeps undo exact.
    fn trim_back(&mut self) {
        while matches!(self.slots.back(), Some(PaymentSlot::Empty)) {
            self.slots.pop_back();
        }
    }

    /// Forgets slots at the front that are empty, older than `horizon`, or beyond
    /// `slots_max`. A reserved slot is kept while its pending payment may still post.
    pub fn forget(&mut self, horizon: Timestamp, slots_max: usize) {
        while let Some(front) = self.slots.front() {
            let old = match front {
                PaymentSlot::Empty => true,
                PaymentSlot::Reserved { at } => *at <= horizon,
                PaymentSlot::Payment(p) => p.at <= horizon,
            };
            if !old && self.slots.len() <= slots_max {
                break;
            }
            if matches!(front, PaymentSlot::Payment(_)) {
                self.payments -= 1;
            }
            self.slots.pop_front();
            self.first += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::AccountId;
    use crate::money::Won;

    fn payment_record(
        payer: AccountId,
        merchant: AccountId,
        amount: Won,
        at: Timestamp,
    ) -> PaymentRecord {
        PaymentRecord {
            payer,
            merchant,
            amount,
            refunded: Won::ZERO,
            drawn: crate::account::Lots::new(),
            at,
        }
    }

    fn entry(client: u64, key: u128) -> IdempotencyEntry {
        IdempotencyEntry {
            at: Timestamp::from_micros(key as u64),
            client: ClientId(client),
            key: IdempotencyKey(key),
            fingerprint: key as u64 * 7,
            result: Ok(Applied::AccountOpened),
        }
    }

    #[test]
    fn ring_finds_pushes_pops_and_forgets() {
        let mut r = IdempotencyRing::default();
        for k in 0..1_000 {
            r.push(entry(k % 3, u128::from(k)));
        }
        for k in 0..1_000u64 {
            assert_eq!(
                r.get(ClientId(k % 3), IdempotencyKey(u128::from(k)))
                    .map(|e| e.fingerprint),
                Some(k * 7)
            );
        }
        assert!(
            r.get(ClientId(1), IdempotencyKey(0)).is_none(),
            "keys are scoped by client"
        );
        for _ in 0..400 {
            r.pop_front();
        }
        r.pop_back();
        assert_eq!(r.len(), 599);
        assert!(r.get(ClientId(0), IdempotencyKey(0)).is_none());
        assert!(r.get(ClientId(999 % 3), IdempotencyKey(999)).is_none());
        assert!(r.get(ClientId(998 % 3), IdempotencyKey(998)).is_some());
        r.push(entry(5, 5));
        assert!(r.get(ClientId(5), IdempotencyKey(5)).is_some());
    }

    #[test]
    fn forgotten_keys_stay_forgotten_through_sweeps_and_can_be_used_again() {
        let mut r = IdempotencyRing::default();
        let cap = 5_000u64;
        for k in 0..200_000u64 {
            r.push(entry(k % 7, u128::from(k)));
            if r.len() as u64 > cap {
                r.pop_front();
            }
        }
        let first_live = 200_000 - cap;
        for k in (0..200_000u64).step_by(97) {
            let found = r
                .get(ClientId(k % 7), IdempotencyKey(u128::from(k)))
                .is_some();
            assert_eq!(found, k >= first_live, "key {k}");
        }
        let indexed = r.index.filled();
        assert!(
            indexed < 6 * cap as usize + 64 * 16,
            "stale slots are reused or swept: {indexed}"
        );
        // A forgotten key used again is a new entry, found as such.
        let mut again = entry(0, 7);
        again.fingerprint = 12_345;
        r.push(again);
        assert_eq!(
            r.get(ClientId(0), IdempotencyKey(7)).map(|e| e.fingerprint),
            Some(12_345)
        );
    }

    #[test]
    fn decoding_many_keys_indexes_them_on_another_thread_and_stops_at_an_error() {
        let n = DECODE_ALONE_MAX as u64 + 12_345;
        let mut k = 0u64;
        let ring = IdempotencyRing::decode(n as usize, || {
            k += 1;
            Ok::<_, ()>(entry(k % 5, u128::from(k)))
        })
        .unwrap();
        assert_eq!(ring.len() as u64, n);
        for k in (1..=n).step_by(101).chain([n]) {
            assert_eq!(
                ring.get(ClientId(k % 5), IdempotencyKey(u128::from(k)))
                    .map(|e| e.fingerprint),
                Some(k * 7),
                "key {k}"
            );
        }
        assert!(ring.get(ClientId(0), IdempotencyKey(0)).is_none());

        // A snapshot cut short fails cleanly, whichever chunk it fails in.
        for fail_at in [1, 4_096, 4_097, n - 1] {
            let mut k = 0u64;
            let decoded = IdempotencyRing::decode(n as usize, || {
                k += 1;
                if k == fail_at {
                    return Err("cut short");
                }
                Ok(entry(1, u128::from(k)))
            });
            assert_eq!(decoded.err(), Some("cut short"));
        }
    }

    #[test]
    fn payment_log_keeps_ids_in_order_and_reserved_slots() {
        let rec = |at| {
            payment_record(
                AccountId(1),
                AccountId(2),
                Won::new(10),
                Timestamp::from_micros(at),
            )
        };
        let mut log = PaymentLog::default();
        assert!(log.set(
            TransferId(5),
            PaymentSlot::Reserved {
                at: Timestamp::from_micros(1)
            }
        ));
        assert!(log.set(TransferId(8), PaymentSlot::Payment(Box::new(rec(2)))));
        assert_eq!((log.slots(), log.payments()), (4, 1));
        // The reserved pending payment posts later into its own slot.
        assert!(log.set(TransferId(5), PaymentSlot::Payment(Box::new(rec(3)))));
        assert_eq!(log.payments(), 2);
        log.forget(Timestamp::from_micros(2), usize::MAX);
        assert!(
            log.get(TransferId(5)).is_some(),
            "the front is newer than the horizon"
        );
        log.forget(Timestamp::from_micros(3), usize::MAX);
        assert_eq!((log.slots(), log.payments()), (0, 0));
        assert!(
            log.set(TransferId(9), PaymentSlot::Payment(Box::new(rec(4)))),
            "an empty log starts anywhere"
        );
    }
}
