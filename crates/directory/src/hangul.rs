//! Hangul arithmetic: syllable decomposition, initial consonants (초성), search
//! normalisation and Revised Romanisation.
//!
//! Every precomposed syllable U+AC00..=U+D7A3 is `0xAC00 + (L * 21 + V) * 28 + T` with 19
//! initials, 21 medials and 28 finals (0 = none), so no table of 11,172 syllables is
//! needed: the code does the arithmetic. Queries arrive in three shapes that must all
//! mean the same thing: precomposed syllables (what Korean keyboards send), compatibility
//! jamo U+3131.. (what a user types for 초성 search, `ㄱㄷㅅㅈ`), and conjoining jamo
//! U+1100.. (what NFD text, e.g. from macOS file names, carries). [`normalize`] folds
//! them into one form so that the index and the verifier compare like with like.

/// First precomposed syllable 가.
const SYLLABLE_FIRST: u32 = 0xAC00;
/// Last precomposed syllable 힣.
const SYLLABLE_LAST: u32 = 0xD7A3;
const MEDIAL_COUNT: u32 = 21;
const FINAL_COUNT: u32 = 28;

/// The 19 initial consonants as compatibility jamo, in syllable order.
const INITIALS: [char; 19] = [
    'ㄱ', 'ㄲ', 'ㄴ', 'ㄷ', 'ㄸ', 'ㄹ', 'ㅁ', 'ㅂ', 'ㅃ', 'ㅅ', 'ㅆ', 'ㅇ', 'ㅈ', 'ㅉ', 'ㅊ', 'ㅋ',
    'ㅌ', 'ㅍ', 'ㅎ',
];

/// Revised Romanisation of the initials (ㅇ is silent at the start of a syllable).
const INITIALS_RR: [&str; 19] = [
    "g", "kk", "n", "d", "tt", "r", "m", "b", "pp", "s", "ss", "", "j", "jj", "ch", "k", "t", "p",
    "h",
];
const MEDIALS_RR: [&str; 21] = [
    "a", "ae", "ya", "yae", "eo", "e", "yeo", "ye", "o", "wa", "wae", "oe", "yo", "u", "wo", "we",
    "wi", "yu", "eu", "ui", "i",
];
/// Final consonants as pronounced at the end of a syllable (clusters reduced).
const FINALS_RR: [&str; 28] = [
    "", "k", "k", "k", "n", "n", "n", "t", "l", "k", "m", "l", "l", "l", "p", "l", "m", "p", "p",
    "t", "t", "ng", "t", "t", "k", "t", "p", "t",
];

/// Is `c` a precomposed Hangul syllable (가..힣)?
pub fn is_syllable(c: char) -> bool {
    (SYLLABLE_FIRST..=SYLLABLE_LAST).contains(&(c as u32))
}

/// `(initial, medial, final)` indexes of a precomposed syllable; final 0 means none.
pub fn decompose(c: char) -> Option<(u32, u32, u32)> {
    if !is_syllable(c) {
        return None;
    }
    let s = c as u32 - SYLLABLE_FIRST;
    Some((
        s / (MEDIAL_COUNT * FINAL_COUNT),
        (s / FINAL_COUNT) % MEDIAL_COUNT,
        s % FINAL_COUNT,
    ))
}

/// The syllable with these jamo indexes, if they are in range.
pub fn compose(initial: u32, medial: u32, final_: u32) -> Option<char> {
    if initial >= 19 || medial >= MEDIAL_COUNT || final_ >= FINAL_COUNT {
        return None;
    }
    char::from_u32(SYLLABLE_FIRST + (initial * MEDIAL_COUNT + medial) * FINAL_COUNT + final_)
}

/// The initial consonant (초성) of a syllable as a compatibility jamo: 경 → ㄱ, 꼬 → ㄲ.
pub fn initial_of(c: char) -> Option<char> {
    decompose(c).and_then(|(l, _, _)| INITIALS.get(l as usize).copied())
}

/// Is `c` a compatibility jamo that can start a syllable (ㄱ ㄲ ㄴ … ㅎ)? Final-only
/// clusters such as ㄳ are not.
pub fn is_initial_jamo(c: char) -> bool {
    INITIALS.contains(&c)
}

/// The key a name character has in the 초성 index: its initial if it is a syllable, itself
/// if it is already an initial jamo (a name written with a bare ㄱ), none otherwise.
pub fn initial_key(c: char) -> Option<char> {
    if is_initial_jamo(c) {
        Some(c)
    } else {
        initial_of(c)
    }
}

/// The 초성 string of a text: 경동시장 → ㄱㄷㅅㅈ. Characters without an initial are kept.
pub fn initials(text: &str) -> String {
    text.chars().map(|c| initial_key(c).unwrap_or(c)).collect()
}

/// Conjoining choseong U+1100..=U+1112 map one-to-one onto [`INITIALS`].
fn conjoining_initial_index(c: char) -> Option<u32> {
    let u = c as u32;
    (0x1100..=0x1112).contains(&u).then(|| u - 0x1100)
}

fn conjoining_medial_index(c: char) -> Option<u32> {
    let u = c as u32;
    (0x1161..=0x1175).contains(&u).then(|| u - 0x1161)
}

fn conjoining_final_index(c: char) -> Option<u32> {
    let u = c as u32;
    (0x11A8..=0x11C2).contains(&u).then(|| u - 0x11A8 + 1)
}

/// Folds text into the form both the index and queries use: NFD Hangul (conjoining jamo)
/// composed into syllables, a lone conjoining initial turned into its compatibility jamo,
/// letters lower-cased, and everything that is not a letter or digit (spaces,
/// punctuation, symbols) dropped, so that "해운대 돼지국밥" and "해운대돼지국밥" are the
/// same name to search.
pub fn normalize(text: &str) -> Vec<char> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(l) = conjoining_initial_index(c) {
            if let Some(v) = chars.get(i + 1).copied().and_then(conjoining_medial_index) {
                let t = chars.get(i + 2).copied().and_then(conjoining_final_index);
                if let Some(s) = compose(l, v, t.unwrap_or(0)) {
                    out.push(s);
                    i += if t.is_some() { 3 } else { 2 };
                    continue;
                }
            }
            if let Some(&jamo) = INITIALS.get(l as usize) {
                out.push(jamo);
            }
            i += 1;
            continue;
        }
        if c.is_alphanumeric() {
            if c.is_ascii() {
                out.push(c.to_ascii_lowercase());
            } else if c.is_lowercase() || !c.is_uppercase() {
                out.push(c);
            } else {
                out.extend(c.to_lowercase());
            }
        }
        i += 1;
    }
    out
}

/// One character of a normalised query: an exact character, or an initial consonant
/// that matches any syllable starting with it (and the bare jamo itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueryChar {
    Exact(char),
    Initial(char),
}

impl QueryChar {
    /// Does this query character match the name character `c`?
    #[inline]
    pub fn matches(self, c: char) -> bool {
        match self {
            QueryChar::Exact(q) => q == c,
            QueryChar::Initial(q) => q == c || initial_of(c) == Some(q),
        }
    }
}

/// Classifies a normalised query: initial-consonant jamo become [`QueryChar::Initial`]
/// (so "ㄱㄷㅅㅈ", "ㄷㅅ" and the mixed "경ㄷ" all work), everything else is exact.
pub fn query_chars(normalized: &[char]) -> Vec<QueryChar> {
    normalized
        .iter()
        .map(|&c| {
            if is_initial_jamo(c) {
                QueryChar::Initial(c)
            } else {
                QueryChar::Exact(c)
            }
        })
        .collect()
}

/// The first position in `haystack` where `query` matches, character by character.
pub fn find(haystack: &[char], query: &[QueryChar]) -> Option<usize> {
    if query.is_empty() || query.len() > haystack.len() {
        return None;
    }
    (0..=haystack.len() - query.len()).find(|&start| {
        query
            .iter()
            .zip(&haystack[start..])
            .all(|(q, &c)| q.matches(c))
    })
}

/// Revised Romanisation of Korean text, syllable by syllable (no sound-change rules):
/// 해운대 돼지국밥 → "Haeundae Dwaejigukbap". Words are capitalised; non-Hangul
/// characters pass through.
pub fn romanize(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut word_start = true;
    for c in text.chars() {
        if let Some((l, v, t)) = decompose(c) {
            let mut piece = String::new();
            piece.push_str(INITIALS_RR.get(l as usize).copied().unwrap_or(""));
            piece.push_str(MEDIALS_RR.get(v as usize).copied().unwrap_or(""));
            piece.push_str(FINALS_RR.get(t as usize).copied().unwrap_or(""));
            if word_start {
                let mut chars = piece.chars();
                if let Some(first) = chars.next() {
                    out.extend(first.to_uppercase());
                    out.push_str(chars.as_str());
                }
            } else {
                out.push_str(&piece);
            }
            word_start = false;
        } else {
            out.push(c);
            word_start = c.is_whitespace();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_of_names() {
        let check = |name: &str, expected: &str| assert_eq!(initials(name), expected);
        check("경동시장", "ㄱㄷㅅㅈ");
        check("꼬마김밥", "ㄲㅁㄱㅂ");
        check("스타 분식", "ㅅㅌ ㅂㅅ");
        check("GS25", "GS25");
    }

    #[test]
    fn compose_inverts_decompose_for_every_syllable() {
        for u in SYLLABLE_FIRST..=SYLLABLE_LAST {
            let c = char::from_u32(u).unwrap_or('?');
            let (l, v, t) = decompose(c).unwrap_or((99, 99, 99));
            assert_eq!(compose(l, v, t), Some(c));
        }
    }

    #[test]
    fn normalize_folds_nfd_case_and_spacing() {
        // 경 as conjoining jamo (NFD) followed by a lone conjoining ㄷ.
        let nfd = "\u{1100}\u{1167}\u{11BC}\u{1103}";
        assert_eq!(normalize(nfd), vec!['경', 'ㄷ']);
        assert_eq!(normalize("해운대 돼지국밥"), normalize("해운대돼지국밥"));
        assert_eq!(
            normalize("Star (Cafe)"),
            "starcafe".chars().collect::<Vec<_>>()
        );
    }

    #[test]
    fn find_matches_syllables_initials_and_mixed() {
        let hay: Vec<char> = "경동시장상회".chars().collect();
        let q = |s: &str| query_chars(&normalize(s));
        assert_eq!(find(&hay, &q("동시")), Some(1));
        assert_eq!(find(&hay, &q("ㄱㄷㅅㅈ")), Some(0));
        assert_eq!(find(&hay, &q("ㄷㅅ")), Some(1));
        assert_eq!(find(&hay, &q("경ㄷ")), Some(0));
        assert_eq!(find(&hay, &q("ㅅ회")), Some(4));
        assert_eq!(find(&hay, &q("ㄲ")), None);
    }

    #[test]
    fn romanize_examples() {
        assert_eq!(romanize("해운대 돼지국밥"), "Haeundae Dwaejigukbap");
        assert_eq!(romanize("경동시장"), "Gyeongdongsijang");
        assert_eq!(romanize("행복약국"), "Haengbokyakguk");
    }
}
