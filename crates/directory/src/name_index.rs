//! The name index: n-gram postings over normalised names, for substring and 초성 search.
//!
//! Korean has no spaces inside most shop names and users type fragments ("동시" for
//! 경동시장) or only initial consonants ("ㄱㄷㅅㅈ"), so word tokenisers do not help; a
//! dictionary tokeniser (lindera) also cannot be built offline here. Instead every
//! merchant's normalised name (Korean name, then English name) is cut into:
//!
//! - exact bigrams of adjacent characters (경동, 동시, 시장 …),
//! - initial bigrams of adjacent characters' 초성 (ㄱㄷ, ㄷㅅ, ㅅㅈ …),
//! - exact unigrams of non-ASCII characters, for one-syllable queries ("약").
//!
//! A posting entry is one `u32`: the slot (25 bits), whether the gram occurs more than
//! once in that name (1 bit), and where it first occurs (6 bits, 63 = "later"). A query
//! turns into constraints "gram g at offset i" (a mixed "경ㄷ" uses the initial bigram ㄱㄷ
//! plus the unigram 경); the shortest posting list drives, the others are searched by
//! galloping. For each candidate the positions decide: grams that occur once and
//! disagree on where the match would start reject it; grams that all occur once and
//! agree, when every query character is pinned by some gram, accept it with its match
//! position; anything else is verified against the stored name. So most candidates are
//! decided without touching the names at all (the cache miss that dominated), and the
//! verifier still guarantees no wrong hit. Queries no gram narrows (one initial
//! consonant, one ASCII letter) would match most of the registry; search refuses them
//! as `query_too_broad` rather than scan a million names per keystroke.
//!
//! Lists are kept sorted by slot. New merchants get the next slot, so building and adding
//! only ever push at the end; a renamed merchant pays for sorted inserts and removals.

use rustc_hash::FxHashMap;

use crate::hangul::{self, QueryChar};

/// Separates the Korean and English names in a stored text; never indexed, never in a
/// query (normalisation drops it).
const SEP: char = '\u{0}';
/// Most constraints a query checks per candidate (a 40-character query has 39 bigrams;
/// beyond this many the rest is left to the verifier).
const CONSTRAINTS_MAX: usize = 16;

const TAG_UNIGRAM: u64 = 0;
const TAG_BIGRAM: u64 = 1;
const TAG_INITIAL_BIGRAM: u64 = 2;

fn key(tag: u64, a: char, b: char) -> u64 {
    (tag << 42) | ((a as u64) << 21) | b as u64
}

/// Bits of a posting entry below the slot.
const SLOT_SHIFT: u32 = 7;
const REPEATED: u32 = 1 << 6;
const POS_MASK: u32 = 63;
/// Position 63 and beyond: not recorded.
const POS_UNKNOWN: u32 = 63;
/// Slots that fit a posting entry.
pub(crate) const SLOTS_MAX: usize = 1 << (32 - SLOT_SHIFT);

#[inline]
fn entry(slot: u32, pos: u32, repeated: bool) -> u32 {
    (slot << SLOT_SHIFT) | if repeated { REPEATED } else { 0 } | pos.min(POS_UNKNOWN)
}

#[inline]
fn slot_of(e: u32) -> u32 {
    e >> SLOT_SHIFT
}

/// The position an entry pins, if it occurs once and early enough to be recorded.
#[inline]
fn unique_pos(e: u32) -> Option<u32> {
    let pos = e & POS_MASK;
    (e & REPEATED == 0 && pos != POS_UNKNOWN).then_some(pos)
}

/// Where a stored text lives in the arena.
#[derive(Clone, Copy, Debug, Default)]
struct TextRef {
    start: u32,
    /// Characters of the Korean name.
    ko_len: u16,
    /// Characters of the English name (0 if none).
    en_len: u16,
}

/// Scratch space for a text's grams, reused across insertions.
pub(crate) type Grams = Vec<(u64, u32, bool)>;

/// One candidate slot; `pos` is its match position when the postings already prove the
/// match, `None` when the caller must verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub slot: u32,
    pub pos: Option<u32>,
}

/// Candidate slots for a query.
#[derive(Debug)]
pub(crate) enum Candidates {
    /// Only these may match, in slot order.
    Some(Vec<Candidate>),
    /// The query cannot be narrowed: every slot may match.
    All,
}

#[derive(Debug, Default)]
pub(crate) struct NameIndex {
    texts: Vec<TextRef>,
    arena: Vec<char>,
    /// Arena characters no text points at any more (renamed merchants).
    garbage: usize,
    postings: FxHashMap<u64, Vec<u32>>,
}

/// The grams of a stored text as `(key, first position, repeated)`, sorted by key.
fn text_grams(ko: &[char], en: &[char], out: &mut Grams) {
    let mut all: Vec<(u64, u32)> = Vec::with_capacity(4 * (ko.len() + en.len()) + 2);
    for (offset, part) in [(0usize, ko), (ko.len() + 1, en)] {
        for (i, &c) in part.iter().enumerate() {
            let pos = (offset + i) as u32;
            if !c.is_ascii() {
                all.push((key(TAG_UNIGRAM, '\0', c), pos));
            }
            if let Some(&d) = part.get(i + 1) {
                all.push((key(TAG_BIGRAM, c, d), pos));
                if let (Some(a), Some(b)) = (hangul::initial_key(c), hangul::initial_key(d)) {
                    all.push((key(TAG_INITIAL_BIGRAM, a, b), pos));
                }
            }
        }
    }
    all.sort_unstable();
    out.clear();
    for (k, pos) in all {
        match out.last_mut() {
            Some(last) if last.0 == k => last.2 = true,
            _ => out.push((k, pos, false)),
        }
    }
}

/// The initial a query character guarantees its match has, if any.
fn implied_initial(q: QueryChar) -> Option<char> {
    match q {
        QueryChar::Initial(c) => Some(c),
        QueryChar::Exact(c) => hangul::initial_key(c),
    }
}

/// A query as constraints "gram `key` at offset `offset` from the match start", and
/// whether they pin every query character (then satisfying them all at one start is a
/// match, and no verifying is needed).
pub(crate) fn query_constraints(q: &[QueryChar]) -> (Vec<(u64, u32)>, bool) {
    let mut constraints = Vec::new();
    let mut pinned = vec![false; q.len()];
    for (i, pair) in q.windows(2).enumerate() {
        let at = i as u32;
        match (pair[0], pair[1]) {
            (QueryChar::Exact(a), QueryChar::Exact(b)) => {
                constraints.push((key(TAG_BIGRAM, a, b), at));
                pinned[i] = true;
                pinned[i + 1] = true;
            }
            (QueryChar::Initial(a), QueryChar::Initial(b)) => {
                constraints.push((key(TAG_INITIAL_BIGRAM, a, b), at));
                pinned[i] = true;
                pinned[i + 1] = true;
            }
            (x, y) => {
                // An initial bigram pins the initial side exactly; the exact side only
                // by its initial, so it needs its own unigram below.
                if let (Some(a), Some(b)) = (implied_initial(x), implied_initial(y)) {
                    constraints.push((key(TAG_INITIAL_BIGRAM, a, b), at));
                    if matches!(x, QueryChar::Initial(_)) {
                        pinned[i] = true;
                    }
                    if matches!(y, QueryChar::Initial(_)) {
                        pinned[i + 1] = true;
                    }
                }
            }
        }
    }
    let mut pure = true;
    for (i, &c) in q.iter().enumerate() {
        if pinned[i] {
            continue;
        }
        match c {
            QueryChar::Exact(c) if !c.is_ascii() => {
                constraints.push((key(TAG_UNIGRAM, '\0', c), i as u32));
            }
            _ => pure = false,
        }
    }
    (constraints, pure)
}

/// Finds the entry of `slot` in a sorted list, starting at `*lo` and moving it forward
/// (callers look up ascending slots): exponential probe, then binary search.
#[inline]
fn seek(list: &[u32], lo: &mut usize, slot: u32) -> Option<u32> {
    let rest = list.get(*lo..).unwrap_or(&[]);
    let mut bound = 1usize;
    while bound < rest.len() && slot_of(rest[bound]) < slot {
        bound *= 2;
    }
    let window = &rest[..bound.min(rest.len())];
    let i = window.partition_point(|&e| slot_of(e) < slot);
    *lo += i;
    rest.get(i).copied().filter(|&e| slot_of(e) == slot)
}

impl NameIndex {
    pub(crate) fn with_capacity(slots: usize) -> NameIndex {
        NameIndex {
            texts: Vec::with_capacity(slots),
            arena: Vec::with_capacity(slots * 16),
            garbage: 0,
            postings: FxHashMap::default(),
        }
    }

    fn store_text(&mut self, ko: &[char], en: &[char]) -> TextRef {
        // Names are validated to at most NAME_CHARS_MAX characters, far below u16::MAX;
        // the clamp only keeps a bad caller from corrupting neighbouring texts.
        let ko = &ko[..ko.len().min(u16::MAX as usize)];
        let en = &en[..en.len().min(u16::MAX as usize)];
        // Text offsets are u32: 20 million names of at most 201 characters fit, but
        // renames leave garbage behind, so compact before an offset could overflow.
        if self.arena.len() + ko.len() + en.len() + 1 > u32::MAX as usize {
            self.compact();
        }
        let start = self.arena.len() as u32;
        self.arena.extend_from_slice(ko);
        self.arena.push(SEP);
        self.arena.extend_from_slice(en);
        TextRef {
            start,
            ko_len: ko.len() as u16,
            en_len: en.len() as u16,
        }
    }

    fn text(&self, slot: u32) -> (&[char], &[char]) {
        let Some(t) = self.texts.get(slot as usize) else {
            return (&[], &[]);
        };
        let s = t.start as usize;
        let ko_end = s + t.ko_len as usize;
        let en_end = ko_end + 1 + t.en_len as usize;
        (
            self.arena.get(s..ko_end).unwrap_or(&[]),
            self.arena.get(ko_end + 1..en_end).unwrap_or(&[]),
        )
    }

    /// Adds the next slot (`slot == len`), which keeps every posting list sorted by push.
    pub(crate) fn push(&mut self, slot: u32, name: &str, name_en: Option<&str>, grams: &mut Grams) {
        debug_assert_eq!(slot as usize, self.texts.len());
        let ko = hangul::normalize(name);
        let en = name_en.map(hangul::normalize).unwrap_or_default();
        let t = self.store_text(&ko, &en);
        self.texts.push(t);
        text_grams(&ko, &en, grams);
        for &(k, pos, repeated) in grams.iter() {
            self.postings
                .entry(k)
                .or_default()
                .push(entry(slot, pos, repeated));
        }
    }

    /// Re-indexes an existing slot whose names changed.
    pub(crate) fn replace(&mut self, slot: u32, name: &str, name_en: Option<&str>) {
        let (old_ko, old_en) = self.text(slot);
        let mut old = Vec::new();
        text_grams(old_ko, old_en, &mut old);
        let old_len = old_ko.len() + old_en.len() + 1;
        for (k, _, _) in &old {
            if let Some(list) = self.postings.get_mut(k) {
                if let Ok(i) = list.binary_search_by_key(&slot, |&e| slot_of(e)) {
                    list.remove(i);
                }
                if list.is_empty() {
                    self.postings.remove(k);
                }
            }
        }
        let ko = hangul::normalize(name);
        let en = name_en.map(hangul::normalize).unwrap_or_default();
        let mut new = Vec::new();
        text_grams(&ko, &en, &mut new);
        for &(k, pos, repeated) in &new {
            let list = self.postings.entry(k).or_default();
            if let Err(i) = list.binary_search_by_key(&slot, |&e| slot_of(e)) {
                list.insert(i, entry(slot, pos, repeated));
            }
        }
        let t = self.store_text(&ko, &en);
        if let Some(entry) = self.texts.get_mut(slot as usize) {
            *entry = t;
        }
        self.garbage += old_len;
        if self.garbage > 1 << 20 && self.garbage > self.arena.len() / 2 {
            self.compact();
        }
    }

    /// Rewrites the arena without the texts of renamed merchants.
    fn compact(&mut self) {
        let mut arena = Vec::with_capacity(self.arena.len() - self.garbage);
        for t in self.texts.iter_mut() {
            let s = t.start as usize;
            let len = t.ko_len as usize + 1 + t.en_len as usize;
            let start = arena.len() as u32;
            arena.extend_from_slice(self.arena.get(s..s + len).unwrap_or(&[]));
            t.start = start;
        }
        self.arena = arena;
        self.garbage = 0;
    }

    /// Slots that may match the query, each proven or to be verified; `All` if no gram
    /// narrows the query.
    pub(crate) fn candidates(&self, q: &[QueryChar]) -> Candidates {
        let (mut constraints, mut pure) = query_constraints(q);
        if constraints.is_empty() {
            return Candidates::All;
        }
        let mut lists: Vec<(&[u32], u32)> = Vec::with_capacity(constraints.len());
        for (k, offset) in constraints.drain(..) {
            match self.postings.get(&k) {
                Some(list) => lists.push((list, offset)),
                None => return Candidates::Some(Vec::new()),
            }
        }
        lists.sort_unstable_by_key(|(l, _)| l.len());
        if lists.len() > CONSTRAINTS_MAX {
            lists.truncate(CONSTRAINTS_MAX);
            pure = false;
        }
        let Some(&(driver, driver_offset)) = lists.first() else {
            return Candidates::All;
        };
        let others = &lists[1..];
        let mut cursors = vec![0usize; others.len()];
        let mut out = Vec::with_capacity(driver.len().min(1 << 16));
        'next: for &e0 in driver {
            let slot = slot_of(e0);
            let mut start: Option<u32> = None;
            let mut proven = pure;
            let mut check = |e: u32, offset: u32| -> bool {
                match unique_pos(e) {
                    None => {
                        proven = false;
                        true
                    }
                    Some(pos) => {
                        let Some(s) = pos.checked_sub(offset) else {
                            return false;
                        };
                        match start {
                            None => {
                                start = Some(s);
                                true
                            }
                            Some(t) => t == s,
                        }
                    }
                }
            };
            if !check(e0, driver_offset) {
                continue;
            }
            for ((list, offset), lo) in others.iter().zip(cursors.iter_mut()) {
                match seek(list, lo, slot) {
                    Some(e) if check(e, *offset) => {}
                    _ => continue 'next,
                }
            }
            out.push(Candidate {
                slot,
                pos: if proven { start } else { None },
            });
        }
        Candidates::Some(out)
    }

    /// Where the query matches the slot's text: a position in the Korean name, or
    /// `ko_len + 1 + position` in the English name; with the Korean name's length.
    /// `None` if it does not match.
    #[inline]
    pub(crate) fn find(&self, slot: u32, q: &[QueryChar]) -> Option<(u32, u32)> {
        let (ko, en) = self.text(slot);
        if let Some(p) = hangul::find(ko, q) {
            return Some((p as u32, ko.len() as u32));
        }
        hangul::find(en, q).map(|p| ((ko.len() + 1 + p) as u32, ko.len() as u32))
    }

    /// Characters in the slot's Korean name.
    #[inline]
    pub(crate) fn ko_len(&self, slot: u32) -> u32 {
        self.texts
            .get(slot as usize)
            .map_or(0, |t| u32::from(t.ko_len))
    }

    pub(crate) fn len(&self) -> usize {
        self.texts.len()
    }

    /// Bytes held, for memory reports.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.arena.capacity() * 4
            + self.texts.capacity() * std::mem::size_of::<TextRef>()
            + self
                .postings
                .values()
                .map(|l| l.capacity() * 4 + 48)
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(names: &[(&str, Option<&str>)]) -> NameIndex {
        let mut idx = NameIndex::default();
        let mut grams = Vec::new();
        for (i, (ko, en)) in names.iter().enumerate() {
            idx.push(i as u32, ko, *en, &mut grams);
        }
        idx
    }

    /// Matching slots with positions; checks that proven candidates are right.
    fn search(idx: &NameIndex, q: &str) -> Vec<(u32, u32)> {
        let q = hangul::query_chars(&hangul::normalize(q));
        let candidates: Vec<Candidate> = match idx.candidates(&q) {
            Candidates::Some(c) => c,
            Candidates::All => (0..idx.len() as u32)
                .map(|slot| Candidate { slot, pos: None })
                .collect(),
        };
        let mut out = Vec::new();
        for c in candidates {
            let verified = idx.find(c.slot, &q).map(|(p, _)| p);
            if let Some(p) = c.pos {
                assert_eq!(verified, Some(p), "proven candidate {c:?} for {q:?}");
            }
            if let Some(p) = verified {
                out.push((c.slot, p));
            }
        }
        out
    }

    fn slots(found: Vec<(u32, u32)>) -> Vec<u32> {
        found.into_iter().map(|(s, _)| s).collect()
    }

    #[test]
    fn substring_initials_mixed_and_english() {
        let idx = index(&[
            ("경동시장 행복상회", None),
            ("해운대 돼지국밥", Some("Haeundae Dwaeji Gukbap")),
            ("스타 분식", Some("Star Snack")),
            ("꼬마김밥", None),
            ("시시시장", None),
        ]);
        assert_eq!(search(&idx, "동시"), vec![(0, 1)]);
        assert_eq!(search(&idx, "ㄱㄷㅅㅈ"), vec![(0, 0)]);
        assert_eq!(search(&idx, "ㄷㅅ"), vec![(0, 1)]);
        assert_eq!(search(&idx, "경ㄷ"), vec![(0, 0)]);
        assert_eq!(search(&idx, "ㄲㅁ"), vec![(3, 0)]);
        assert_eq!(slots(search(&idx, "국")), vec![1]);
        assert_eq!(slots(search(&idx, "STAR")), vec![2]);
        assert_eq!(search(&idx, "dwaeji guk"), vec![(1, 7 + 1 + 8)]);
        assert_eq!(slots(search(&idx, "ㅂ")), vec![0, 1, 2, 3]);
        assert_eq!(search(&idx, "시시장"), vec![(4, 1)]);
        assert_eq!(search(&idx, "ㅅㅅㅅ"), vec![(4, 0)]);
        assert_eq!(search(&idx, "피자"), vec![]);
    }

    #[test]
    fn rename_moves_postings() {
        let mut idx = index(&[("행복약국", None), ("사랑약국", None)]);
        idx.replace(0, "행복마트", Some("Happy Mart"));
        assert_eq!(slots(search(&idx, "약국")), vec![1]);
        assert_eq!(slots(search(&idx, "마트")), vec![0]);
        assert_eq!(slots(search(&idx, "happy")), vec![0]);
        idx.replace(1, "약국약국", None);
        assert_eq!(search(&idx, "약국"), vec![(1, 0)]);
        idx.compact();
        assert_eq!(slots(search(&idx, "ㅎㅂㅁㅌ")), vec![0]);
    }

    #[test]
    fn seek_finds_and_advances() {
        let list: Vec<u32> = (0..1000u32)
            .filter(|x| x % 3 == 0)
            .map(|s| entry(s, 1, false))
            .collect();
        let mut lo = 0;
        assert_eq!(seek(&list, &mut lo, 3).map(slot_of), Some(3));
        assert_eq!(seek(&list, &mut lo, 4), None);
        assert_eq!(seek(&list, &mut lo, 600).map(slot_of), Some(600));
        assert_eq!(seek(&list, &mut lo, 998), None);
        assert_eq!(seek(&list, &mut lo, 999).map(slot_of), Some(999));
        assert_eq!(seek(&list, &mut lo, 5000), None);
    }

    #[test]
    fn entries_pack_slot_position_and_repetition() {
        let e = entry(SLOTS_MAX as u32 - 1, 70, true);
        assert_eq!(slot_of(e), SLOTS_MAX as u32 - 1);
        assert_eq!(unique_pos(e), None);
        assert_eq!(unique_pos(entry(5, 62, false)), Some(62));
        assert_eq!(unique_pos(entry(5, 63, false)), None);
    }
}
