//! Citizen and operator searches: nearby by great-circle distance, and by name.
//!
//! Both answer a page of `(id, distance)` hits in a total order (distance, then id; or
//! match position, name length, id) so that paging is stable and an answer can be
//! compared with the brute-force reference in the same module, which the tests do on
//! random registries. Every request is bounded: limit ≤ [`PAGE_LIMIT_MAX`], offset ≤
//! [`PAGE_OFFSET_MAX`], radius ≤ [`RADIUS_MAX_M`], query ≤ [`QUERY_CHARS_MAX`].

use crate::error::SearchError;
use crate::geo::{self, GeoPoint};
use crate::hangul::{self, QueryChar};
use crate::model::{Mcc, MerchantId, SourceMask, StatusSet};
use crate::name_index::{Candidate, Candidates};
use crate::registry::{Facets, Registry};

/// Largest page.
pub const PAGE_LIMIT_MAX: u32 = 100;
/// Deepest page start: nobody pages past a thousand shops, and deep offsets cost work.
pub const PAGE_OFFSET_MAX: u32 = 1_000;
/// Largest nearby radius (a county seat's whole territory).
pub const RADIUS_MAX_M: u32 = 50_000;
/// Longest name query, in normalised characters.
pub const QUERY_CHARS_MAX: usize = 40;

/// Which money sources the merchant must take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SourceFilter {
    /// No condition.
    #[default]
    Any,
    /// Accepts at least one of these (a citizen who holds these kinds of money).
    AcceptsAnyOf(SourceMask),
    /// Accepts every one of these.
    AcceptsAllOf(SourceMask),
}

/// Conditions every hit meets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filter {
    pub statuses: StatusSet,
    pub mcc: Option<Mcc>,
    pub category: Option<u16>,
    pub sources: SourceFilter,
}

impl Filter {
    /// What a citizen sees: approved merchants, nothing else filtered.
    pub fn citizen() -> Filter {
        Filter {
            statuses: StatusSet::CITIZEN,
            mcc: None,
            category: None,
            sources: SourceFilter::Any,
        }
    }

    #[inline]
    pub(crate) fn matches(&self, f: &Facets) -> bool {
        self.statuses.contains(f.status)
            && self.mcc.is_none_or(|m| f.mcc == Some(m))
            && self.category.is_none_or(|c| f.category == Some(c))
            && match self.sources {
                SourceFilter::Any => true,
                SourceFilter::AcceptsAnyOf(s) => f.accepts.intersects(s),
                SourceFilter::AcceptsAllOf(s) => f.accepts.contains_all(s),
            }
    }
}

impl Default for Filter {
    fn default() -> Filter {
        Filter::citizen()
    }
}

/// Which slice of the ordered answer to return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub offset: u32,
    pub limit: u32,
}

impl Page {
    pub fn first(limit: u32) -> Page {
        Page { offset: 0, limit }
    }

    fn check(self) -> Result<(), SearchError> {
        if self.limit == 0 || self.limit > PAGE_LIMIT_MAX {
            return Err(SearchError::BadLimit {
                max: PAGE_LIMIT_MAX,
            });
        }
        if self.offset > PAGE_OFFSET_MAX {
            return Err(SearchError::OffsetTooLarge {
                max: PAGE_OFFSET_MAX,
            });
        }
        Ok(())
    }

    /// How many ordered results to find: the page plus one, to know if there is more.
    fn needed(self) -> usize {
        self.offset as usize + self.limit as usize + 1
    }
}

/// Merchants near a point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NearbyQuery {
    pub at: GeoPoint,
    pub radius_m: u32,
    pub filter: Filter,
    pub page: Page,
}

/// Merchants by name (Korean substring, 초성, mixed, or English), optionally ordered by
/// distance from a point.
#[derive(Clone, Debug, PartialEq)]
pub struct NameQuery {
    pub text: String,
    pub near: Option<GeoPoint>,
    pub filter: Filter,
    pub page: Page,
}

/// One result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Hit {
    pub id: MerchantId,
    /// Great-circle metres from the query point, rounded; `None` if the search had no
    /// point or the merchant has no location.
    pub distance_m: Option<u32>,
}

/// A page of results.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SearchPage {
    pub hits: Vec<Hit>,
    /// The offset of the next page, if there are more results.
    pub next_offset: Option<u32>,
}

/// The total order of results: three integers compared in turn.
type RankKey = (u32, u32, u64);

/// Keeps the `k` smallest ranked results of a stream without holding the whole stream:
/// a broad query ("식당" without a point) has a hundred thousand matches.
struct TopK {
    k: usize,
    items: Vec<(RankKey, Option<u32>)>,
}

impl TopK {
    fn new(k: usize) -> TopK {
        TopK {
            k,
            items: Vec::with_capacity(k.saturating_mul(2).min(4096)),
        }
    }

    #[inline]
    fn push(&mut self, item: (RankKey, Option<u32>)) {
        self.items.push(item);
        if self.items.len() >= self.k.saturating_mul(2).max(1024) {
            self.shrink();
        }
    }

    fn shrink(&mut self) {
        if self.items.len() > self.k && self.k > 0 {
            self.items.select_nth_unstable_by_key(self.k - 1, |r| r.0);
            self.items.truncate(self.k);
        }
    }

    fn into_vec(self) -> Vec<(RankKey, Option<u32>)> {
        self.items
    }
}

fn page_of(mut ranked: Vec<(RankKey, Option<u32>)>, page: Page) -> SearchPage {
    let need = page.needed();
    if ranked.len() > need {
        ranked.select_nth_unstable_by_key(need - 1, |r| r.0);
        ranked.truncate(need);
    }
    ranked.sort_unstable_by_key(|r| r.0);
    let more = ranked.len() > page.offset as usize + page.limit as usize;
    let hits = ranked
        .into_iter()
        .skip(page.offset as usize)
        .take(page.limit as usize)
        .map(|(k, d)| Hit {
            id: MerchantId(k.2),
            distance_m: d,
        })
        .collect();
    SearchPage {
        hits,
        next_offset: more.then_some(page.offset + page.limit),
    }
}

fn check_radius(radius_m: u32) -> Result<(), SearchError> {
    if radius_m == 0 || radius_m > RADIUS_MAX_M {
        return Err(SearchError::BadRadius { max: RADIUS_MAX_M });
    }
    Ok(())
}

/// Validates and normalises a name query.
pub fn parse_query(text: &str) -> Result<Vec<QueryChar>, SearchError> {
    // Bound the work before normalising: a query is short.
    if text.chars().count() > QUERY_CHARS_MAX * 4 {
        return Err(SearchError::QueryTooLong {
            max: QUERY_CHARS_MAX,
        });
    }
    let normalized = hangul::normalize(text);
    if normalized.is_empty() {
        return Err(SearchError::EmptyQuery);
    }
    if normalized.len() > QUERY_CHARS_MAX {
        return Err(SearchError::QueryTooLong {
            max: QUERY_CHARS_MAX,
        });
    }
    let query = hangul::query_chars(&normalized);
    // A query no gram can narrow (one initial consonant, one ASCII letter) matches most
    // of the registry: refuse it instead of scanning everything per keystroke.
    if crate::name_index::query_constraints(&query).0.is_empty() {
        return Err(SearchError::QueryTooBroad);
    }
    Ok(query)
}

impl Registry {
    /// Merchants within `radius_m` of a point, nearest first (ties by id).
    ///
    /// Walks the R-tree outwards from the point (exact great-circle order, see
    /// [`crate::geo`]), skips what the filter refuses, and stops at the radius or once
    /// the page is complete and farther merchants can no longer tie with the last one.
    pub fn nearby(&self, q: &NearbyQuery) -> Result<SearchPage, SearchError> {
        q.page.check()?;
        check_radius(q.radius_m)?;
        let p = q.at.unit_vector();
        let radius = f64::from(q.radius_m);
        // Stop the walk a hair beyond the radius; the exact test below decides.
        let stop_c2 = geo::m_to_chord2(radius) * (1.0 + 1e-9) + 1e-18;
        let need = q.page.needed();
        let mut found: Vec<(RankKey, Option<u32>)> = Vec::with_capacity(need.min(256));
        let mut cutoff_m: Option<f64> = None;
        for (entry, c2) in self.spatial.nearest_neighbor_iter_with_distance_2(p) {
            if c2 > stop_c2 {
                break;
            }
            let slot = entry.data as usize;
            let Some(facets) = self.facets.get(slot) else {
                continue;
            };
            if !q.filter.matches(facets) {
                continue;
            }
            let d = geo::distance_m(&self.points[slot], &p);
            if d > radius {
                continue;
            }
            // Once `need` hits are in, only merchants that round to the same metre as the
            // last can still sort before it (by id); one metre of slack absorbs float noise.
            if let Some(cut) = cutoff_m
                && d > cut + 1.0
            {
                break;
            }
            let dm = d.round() as u32;
            found.push(((dm, 0, self.ids[slot].0), Some(dm)));
            if cutoff_m.is_none() && found.len() >= need {
                cutoff_m = Some(d);
            }
        }
        Ok(page_of(found, q.page))
    }

    /// The reference for [`Registry::nearby`]: a scan of every merchant.
    pub fn nearby_brute_force(&self, q: &NearbyQuery) -> Result<SearchPage, SearchError> {
        q.page.check()?;
        check_radius(q.radius_m)?;
        let p = q.at.unit_vector();
        let radius = f64::from(q.radius_m);
        let mut found = Vec::new();
        for m in &self.merchants {
            let Some(loc) = m.profile.location else {
                continue;
            };
            if !q.filter.matches(&Facets::of(m)) {
                continue;
            }
            let d = geo::distance_m(&loc.unit_vector(), &p);
            if d <= radius {
                let dm = d.round() as u32;
                found.push(((dm, 0, m.id.0), Some(dm)));
            }
        }
        Ok(page_of(found, q.page))
    }

    /// Merchants whose Korean or English name contains the query (syllables, 초성, mixed;
    /// spaces and case ignored). Ordered by distance from `near` when given (merchants
    /// without a location last), else by where the match starts, then name length, then id.
    ///
    /// The name index gives candidates, most already proven by gram positions, the rest
    /// verified against the stored names. Work is linear in the candidates and small per
    /// candidate (a few bytes from tables read in slot order); with a point, a cheap
    /// squared chord picks the few that need an exact distance. A query that matches a
    /// tenth of a million-merchant registry ("식당") takes a few milliseconds.
    pub fn search_name(&self, q: &NameQuery) -> Result<SearchPage, SearchError> {
        q.page.check()?;
        let query = parse_query(&q.text)?;
        let need = q.page.needed();
        let candidates = self.names.candidates(&query);
        let all = || (0..self.merchants.len() as u32).map(|slot| Candidate { slot, pos: None });
        let mut top = TopK::new(need);
        match (&candidates, q.near) {
            (Candidates::Some(c), Some(near)) => {
                self.rank_by_distance(c.iter().copied(), &query, q, &near.unit_vector(), &mut top)
            }
            (Candidates::All, Some(near)) => {
                self.rank_by_distance(all(), &query, q, &near.unit_vector(), &mut top)
            }
            (Candidates::Some(c), None) => {
                self.rank_by_position(c.iter().copied(), &query, q, &mut top)
            }
            (Candidates::All, None) => self.rank_by_position(all(), &query, q, &mut top),
        }
        Ok(page_of(top.into_vec(), q.page))
    }

    /// The match position of a candidate: proven by the postings, or verified.
    #[inline]
    fn match_pos(&self, c: Candidate, query: &[QueryChar]) -> Option<u32> {
        match c.pos {
            Some(p) => Some(p),
            None => self.names.find(c.slot, query).map(|(p, _)| p),
        }
    }

    /// Matches ranked by (match position, Korean name length, id).
    fn rank_by_position(
        &self,
        candidates: impl Iterator<Item = Candidate>,
        query: &[QueryChar],
        q: &NameQuery,
        top: &mut TopK,
    ) {
        for c in candidates {
            let s = c.slot as usize;
            if !self.facets.get(s).is_some_and(|f| q.filter.matches(f)) {
                continue;
            }
            if let Some(pos) = self.match_pos(c, query) {
                top.push(((pos, self.names.ko_len(c.slot), self.ids[s].0), None));
            }
        }
    }

    /// Matches ranked by distance from `p` (then id), merchants without a location last.
    /// A first pass keeps only the squared chord; exact distances are computed for those
    /// that can still make the page.
    fn rank_by_distance(
        &self,
        candidates: impl Iterator<Item = Candidate>,
        query: &[QueryChar],
        q: &NameQuery,
        p: &[f64; 3],
        top: &mut TopK,
    ) {
        let need = q.page.needed();
        let mut located: Vec<(f64, u32)> = Vec::new();
        let mut unlocated: Vec<u32> = Vec::new();
        for c in candidates {
            let s = c.slot as usize;
            if !self.facets.get(s).is_some_and(|f| q.filter.matches(f)) {
                continue;
            }
            if c.pos.is_none() && self.names.find(c.slot, query).is_none() {
                continue;
            }
            let point = &self.points[s];
            if point[0].is_nan() {
                unlocated.push(c.slot);
            } else {
                located.push((geo::chord2(point, p), c.slot));
            }
        }
        if located.len() > need {
            located.select_nth_unstable_by(need - 1, |a, b| a.0.total_cmp(&b.0));
            // Everything within a metre and a half of the need-th can still tie with it
            // after rounding; farther ones cannot make the page.
            let kth_m = geo::chord2_to_m(located[need - 1].0);
            let keep = geo::m_to_chord2(kth_m + 1.5);
            located.retain(|(c2, _)| *c2 <= keep);
        }
        let enough = located.len() >= need;
        for (_, slot) in located {
            let s = slot as usize;
            let dm = geo::distance_m(&self.points[s], p).round() as u32;
            top.push(((0, dm, self.ids[s].0), Some(dm)));
        }
        if !enough {
            for slot in unlocated {
                top.push(((1, 0, self.ids[slot as usize].0), None));
            }
        }
    }

    /// The reference for [`Registry::search_name`]: normalises every record's names afresh
    /// (not the index's copy) and scans them all.
    pub fn search_name_brute_force(&self, q: &NameQuery) -> Result<SearchPage, SearchError> {
        q.page.check()?;
        let query = parse_query(&q.text)?;
        let near = q.near.map(|p| p.unit_vector());
        let mut found = Vec::new();
        for m in &self.merchants {
            if !q.filter.matches(&Facets::of(m)) {
                continue;
            }
            let ko = hangul::normalize(&m.profile.name);
            let en = m
                .profile
                .name_en
                .as_deref()
                .map(hangul::normalize)
                .unwrap_or_default();
            let pos = hangul::find(&ko, &query)
                .or_else(|| hangul::find(&en, &query).map(|p| ko.len() + 1 + p));
            let Some(pos) = pos else {
                continue;
            };
            let id = m.id.0;
            found.push(match (near, m.profile.location) {
                (Some(p), Some(loc)) => {
                    let dm = geo::distance_m(&loc.unit_vector(), &p).round() as u32;
                    ((0, dm, id), Some(dm))
                }
                (Some(_), None) => ((1, 0, id), None),
                (None, _) => ((pos as u32, ko.len() as u32, id), None),
            });
        }
        Ok(page_of(found, q.page))
    }
}
