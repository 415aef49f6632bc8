//! The registry: merchant records plus the search indexes, kept consistent on every
//! change.
//!
//! Records live in a `Vec` indexed by a private slot number; a merchant is never removed
//! (closing is a status), so slots are stable and every index refers to slots. Next to
//! the records sit compact per-slot tables that searches read without touching the
//! records: the filter facets (status, sources, MCC, category), the unit-sphere point,
//! and the id. Every mutation goes through this type, which updates the tables, the
//! R-tree and the name index in the same call and bumps [`Registry::generation`].

use rstar::RTree;
use rstar::primitives::GeomWithData;
use rustc_hash::FxHashMap;

use crate::brn::Brn;
use crate::error::DirectoryError;
use crate::model::{
    Actor, FieldSet, Mcc, Merchant, MerchantId, MerchantProfile, SourceMask, Status, StatusChange,
};
use crate::name_index::{Grams, NameIndex};

/// The most merchants one registry holds (Korea has about 7 million small businesses).
pub const MERCHANTS_MAX: usize = 20_000_000;
// A slot must fit a posting entry of the name index.
const _: () = assert!(MERCHANTS_MAX <= crate::name_index::SLOTS_MAX);

pub(crate) type SpatialEntry = GeomWithData<[f64; 3], u32>;

/// What filters read, per slot, in 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Facets {
    pub status: Status,
    pub accepts: SourceMask,
    pub mcc: Option<Mcc>,
    pub category: Option<u16>,
}

impl Facets {
    pub(crate) fn of(m: &Merchant) -> Facets {
        Facets {
            status: m.status,
            accepts: m.profile.accepts,
            mcc: m.profile.mcc,
            category: m.profile.category,
        }
    }
}

/// Moves a record to `to`, remembering where it came from, why, who and when.
pub(crate) fn move_status(m: &mut Merchant, to: Status, reason: &str, by: Actor, now_us: u64) {
    m.last_change = StatusChange {
        from: Some(m.status),
        reason: reason.to_string(),
        at_us: now_us,
        by,
    };
    m.status = to;
}

/// A point that is not on the sphere: merchants without a location.
pub(crate) const NO_POINT: [f64; 3] = [f64::NAN; 3];

/// The merchant directory of one scheme (or of all of them).
#[derive(Debug)]
pub struct Registry {
    pub(crate) merchants: Vec<Merchant>,
    pub(crate) by_id: FxHashMap<MerchantId, u32>,
    pub(crate) by_brn: FxHashMap<Brn, u32>,
    pub(crate) facets: Vec<Facets>,
    pub(crate) points: Vec<[f64; 3]>,
    /// Ids by slot: ranking reads them for tie-breaks, and a `Merchant` is too large to
    /// touch once per candidate.
    pub(crate) ids: Vec<MerchantId>,
    pub(crate) spatial: RTree<SpatialEntry>,
    pub(crate) names: NameIndex,
    pub(crate) generation: u64,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry::new()
    }
}

impl Registry {
    pub fn new() -> Registry {
        Registry {
            merchants: Vec::new(),
            by_id: FxHashMap::default(),
            by_brn: FxHashMap::default(),
            facets: Vec::new(),
            points: Vec::new(),
            ids: Vec::new(),
            spatial: RTree::new(),
            names: NameIndex::default(),
            generation: 0,
        }
    }

    /// Builds a registry from stored records in one pass (bulk-loaded R-tree, posting
    /// lists built by appending): how the server loads its snapshot at start. Refuses
    /// duplicate ids or BRNs and invalid profiles.
    pub fn from_records(records: Vec<Merchant>) -> Result<Registry, DirectoryError> {
        if records.len() > MERCHANTS_MAX {
            return Err(DirectoryError::Full(MERCHANTS_MAX));
        }
        let mut reg = Registry {
            merchants: Vec::with_capacity(records.len()),
            by_id: FxHashMap::with_capacity_and_hasher(records.len(), Default::default()),
            by_brn: FxHashMap::with_capacity_and_hasher(records.len(), Default::default()),
            facets: Vec::with_capacity(records.len()),
            points: Vec::with_capacity(records.len()),
            ids: Vec::with_capacity(records.len()),
            spatial: RTree::new(),
            names: NameIndex::with_capacity(records.len()),
            generation: 0,
        };
        let mut spatial = Vec::with_capacity(records.len());
        let mut keys = Vec::new();
        for m in records {
            m.profile.validate()?;
            reg.check_free(m.id, m.brn)?;
            let slot = reg.merchants.len() as u32;
            reg.push_tables(slot, &m, &mut keys);
            if let Some(p) = m.profile.location {
                spatial.push(SpatialEntry::new(p.unit_vector(), slot));
            }
            reg.merchants.push(m);
        }
        reg.spatial = RTree::bulk_load(spatial);
        Ok(reg)
    }

    fn check_free(&self, id: MerchantId, brn: Brn) -> Result<(), DirectoryError> {
        if self.by_id.contains_key(&id) {
            return Err(DirectoryError::IdTaken(id));
        }
        if let Some(&slot) = self.by_brn.get(&brn) {
            let existing = self
                .merchants
                .get(slot as usize)
                .map_or(MerchantId(0), |m| m.id);
            return Err(DirectoryError::BrnTaken {
                brn: brn.to_string(),
                existing,
            });
        }
        Ok(())
    }

    /// Adds slot `slot` to every table except the R-tree.
    fn push_tables(&mut self, slot: u32, m: &Merchant, keys: &mut Grams) {
        self.by_id.insert(m.id, slot);
        self.by_brn.insert(m.brn, slot);
        self.facets.push(Facets::of(m));
        self.ids.push(m.id);
        self.points
            .push(m.profile.location.map_or(NO_POINT, |p| p.unit_vector()));
        self.names
            .push(slot, &m.profile.name, m.profile.name_en.as_deref(), keys);
    }

    /// Inserts a validated, free merchant and indexes it.
    pub(crate) fn insert_unchecked(&mut self, m: Merchant, keys: &mut Grams, spatial: bool) {
        let slot = self.merchants.len() as u32;
        self.push_tables(slot, &m, keys);
        if spatial && let Some(p) = m.profile.location {
            self.spatial
                .insert(SpatialEntry::new(p.unit_vector(), slot));
        }
        self.merchants.push(m);
    }

    /// Rebuilds the R-tree from the point table (after a large batch of additions, a bulk
    /// load is several times faster than inserting one by one and gives a better tree).
    pub(crate) fn rebuild_spatial(&mut self) {
        let entries: Vec<SpatialEntry> = self
            .points
            .iter()
            .enumerate()
            .filter(|(_, p)| !p[0].is_nan())
            .map(|(slot, p)| SpatialEntry::new(*p, slot as u32))
            .collect();
        self.spatial = RTree::bulk_load(entries);
    }

    /// Registers a new merchant in status [`Status::Applied`]. The id comes from the
    /// caller's allocator; `now_us` is the caller's clock (microseconds since the epoch).
    pub fn register(
        &mut self,
        id: MerchantId,
        brn: Brn,
        profile: MerchantProfile,
        now_us: u64,
    ) -> Result<&Merchant, DirectoryError> {
        self.create(
            id,
            brn,
            profile,
            Status::Applied,
            "applied",
            Actor::Operator,
            now_us,
        )
    }

    /// Creates a merchant directly in `status` (an operator migrating merchants that were
    /// already approved elsewhere, or a registry sync).
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        &mut self,
        id: MerchantId,
        brn: Brn,
        profile: MerchantProfile,
        status: Status,
        reason: &str,
        by: Actor,
        now_us: u64,
    ) -> Result<&Merchant, DirectoryError> {
        self.check_create(id, brn, &profile, reason)?;
        let m = Merchant {
            id,
            brn,
            profile,
            status,
            last_change: StatusChange {
                from: None,
                reason: reason.to_string(),
                at_us: now_us,
                by,
            },
            brn_unverified: false,
        };
        let slot = self.merchants.len();
        self.insert_unchecked(m, &mut Vec::new(), true);
        self.generation += 1;
        self.merchants
            .get(slot)
            .ok_or(DirectoryError::UnknownMerchant(id))
    }

    /// Whether [`Registry::create`] would take this merchant, changing nothing (a caller
    /// that writes the record first checks with it before writing).
    pub fn check_create(
        &self,
        id: MerchantId,
        brn: Brn,
        profile: &MerchantProfile,
        reason: &str,
    ) -> Result<(), DirectoryError> {
        profile.validate()?;
        Merchant::check_reason(reason)?;
        self.check_free(id, brn)?;
        if self.merchants.len() >= MERCHANTS_MAX {
            return Err(DirectoryError::Full(MERCHANTS_MAX));
        }
        Ok(())
    }

    /// Replaces a merchant's profile; answers which fields changed (empty: nothing did).
    pub fn update_profile(
        &mut self,
        id: MerchantId,
        profile: MerchantProfile,
    ) -> Result<FieldSet, DirectoryError> {
        profile.validate()?;
        let slot = self.slot(id)?;
        let changed = self.merchants[slot as usize].profile.diff(&profile);
        if !changed.is_empty() {
            self.set_profile_unchecked(slot, profile, changed);
            self.generation += 1;
        }
        Ok(changed)
    }

    /// Stores a validated profile and updates the indexes the `changed` fields touch.
    pub(crate) fn set_profile_unchecked(
        &mut self,
        slot: u32,
        profile: MerchantProfile,
        changed: FieldSet,
    ) {
        use crate::model::Field;
        let s = slot as usize;
        let Some(m) = self.merchants.get_mut(s) else {
            return;
        };
        let old_location = m.profile.location;
        m.profile = profile;
        let m = &self.merchants[s];
        if changed.contains(Field::Name) || changed.contains(Field::NameEn) {
            self.names
                .replace(slot, &m.profile.name, m.profile.name_en.as_deref());
        }
        if changed.contains(Field::Location) {
            if let Some(p) = old_location {
                self.spatial
                    .remove(&SpatialEntry::new(p.unit_vector(), slot));
            }
            let new_point = m.profile.location.map_or(NO_POINT, |p| p.unit_vector());
            if let Some(p) = m.profile.location {
                self.spatial
                    .insert(SpatialEntry::new(p.unit_vector(), slot));
            }
            self.points[s] = new_point;
        }
        self.facets[s] = Facets::of(m);
    }

    /// Moves a merchant along its lifecycle (see [`Status::can_become`]); anything else is
    /// [`DirectoryError::IllegalTransition`], including a move to the status it has.
    pub fn transition(
        &mut self,
        id: MerchantId,
        to: Status,
        reason: &str,
        by: Actor,
        now_us: u64,
    ) -> Result<&Merchant, DirectoryError> {
        let slot = self.check_transition(id, to, reason)?;
        self.set_status_unchecked(slot, to, reason, by, now_us);
        self.generation += 1;
        Ok(&self.merchants[slot as usize])
    }

    /// The record [`Registry::transition`] would make, changing nothing (a caller that
    /// writes the record first asks for it, then transitions with the same arguments).
    pub fn transitioned(
        &self,
        id: MerchantId,
        to: Status,
        reason: &str,
        by: Actor,
        now_us: u64,
    ) -> Result<Merchant, DirectoryError> {
        let slot = self.check_transition(id, to, reason)?;
        let mut m = self.merchants[slot as usize].clone();
        move_status(&mut m, to, reason, by, now_us);
        Ok(m)
    }

    /// The slot of `id` if it may move to `to` for `reason`.
    fn check_transition(
        &self,
        id: MerchantId,
        to: Status,
        reason: &str,
    ) -> Result<u32, DirectoryError> {
        Merchant::check_reason(reason)?;
        let slot = self.slot(id)?;
        let from = self.merchants[slot as usize].status;
        if !from.can_become(to) {
            return Err(DirectoryError::IllegalTransition { from, to });
        }
        Ok(slot)
    }

    pub(crate) fn set_status_unchecked(
        &mut self,
        slot: u32,
        to: Status,
        reason: &str,
        by: Actor,
        now_us: u64,
    ) {
        let s = slot as usize;
        if let Some(m) = self.merchants.get_mut(s) {
            move_status(m, to, reason, by, now_us);
            self.facets[s].status = to;
        }
    }

    fn slot(&self, id: MerchantId) -> Result<u32, DirectoryError> {
        self.by_id
            .get(&id)
            .copied()
            .ok_or(DirectoryError::UnknownMerchant(id))
    }

    pub fn get(&self, id: MerchantId) -> Option<&Merchant> {
        self.by_id
            .get(&id)
            .and_then(|&s| self.merchants.get(s as usize))
    }

    pub fn get_by_brn(&self, brn: Brn) -> Option<&Merchant> {
        self.by_brn
            .get(&brn)
            .and_then(|&s| self.merchants.get(s as usize))
    }

    /// All records, in insertion order: what the server persists.
    pub fn records(&self) -> &[Merchant] {
        &self.merchants
    }

    pub fn len(&self) -> usize {
        self.merchants.len()
    }

    pub fn is_empty(&self) -> bool {
        self.merchants.is_empty()
    }

    /// Bumped by every change; a [`crate::SyncPlan`] is only applied to the generation it
    /// was planned against.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// An estimate of the heap the indexes hold (the records themselves not counted).
    pub fn index_heap_bytes(&self) -> usize {
        self.names.heap_bytes()
            + self.facets.capacity() * std::mem::size_of::<Facets>()
            + self.points.capacity() * 24
            + self.ids.capacity() * 8
            + self.spatial.size() * 40
            + (self.by_id.capacity() + self.by_brn.capacity()) * 16
    }

    /// Checks that every index agrees with the records (for tests and after a load).
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.facets.len() != self.merchants.len()
            || self.points.len() != self.merchants.len()
            || self.ids.len() != self.merchants.len()
            || self.names.len() != self.merchants.len()
            || self.by_id.len() != self.merchants.len()
            || self.by_brn.len() != self.merchants.len()
        {
            return Err("table lengths differ".into());
        }
        let located = self
            .merchants
            .iter()
            .filter(|m| m.profile.location.is_some())
            .count();
        if self.spatial.size() != located {
            return Err(format!(
                "r-tree holds {} points, {} merchants have a location",
                self.spatial.size(),
                located
            ));
        }
        for (slot, m) in self.merchants.iter().enumerate() {
            if self.ids[slot] != m.id
                || self.by_id.get(&m.id) != Some(&(slot as u32))
                || self.by_brn.get(&m.brn) != Some(&(slot as u32))
            {
                return Err(format!("maps disagree for merchant {}", m.id));
            }
            if self.facets[slot] != Facets::of(m) {
                return Err(format!("facets stale for merchant {}", m.id));
            }
            if let Some(p) = m.profile.location
                && !self
                    .spatial
                    .contains(&SpatialEntry::new(p.unit_vector(), slot as u32))
            {
                return Err(format!("merchant {} missing from the r-tree", m.id));
            }
        }
        Ok(())
    }
}
