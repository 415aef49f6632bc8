//! Every search answer equals the brute-force scan, on random registries that were
//! also changed after they were built (so index maintenance is checked, not only bulk
//! builds). A failing case prints its seed-derived inputs; proptest replays it.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use directory::model::StatusSet;
use directory::search::{PAGE_LIMIT_MAX, RADIUS_MAX_M};
use directory::synth::Synth;
use directory::{
    Actor, Filter, GeoPoint, Mcc, MerchantId, NameQuery, NearbyQuery, Page, Registry, SearchError,
    SourceFilter, SourceMask, Status,
};
use proptest::prelude::*;

/// Syllables, jamo and letters that names and queries are drawn from: few, so that
/// random queries hit, names share grams, and ties in ordering happen.
const NAME_CHARS: &[&str] = &[
    "경", "동", "시", "장", "꼬", "마", "김", "밥", "약", "국", "행", "복", " ", "a", "B", "ㄱ",
];
const QUERY_CHARS: &[&str] = &[
    "경", "동", "시", "장", "꼬", "김", "밥", "약", "국", "행", "ㄱ", "ㄲ", "ㄷ", "ㅅ", "ㅈ", "ㅁ",
    "ㅎ", "ㅂ", "a", "b", "A",
];

#[derive(Clone, Debug)]
enum Change {
    Rename(usize, String, Option<String>),
    Move(usize, Option<(i32, i32)>),
    Status(usize, Status),
    Accepts(usize, u8),
}

/// A tiny alphabet for half the worlds: many names then share their start, which
/// exercises the "names that start with the query fill the page" path.
const TINY_CHARS: &[&str] = &["경", "동", "a"];

fn name_in(alphabet: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(alphabet), 1..7)
        .prop_map(|v| v.concat())
        .prop_filter("needs a letter", |s| !s.trim().is_empty())
}

fn name() -> impl Strategy<Value = String> {
    name_in(NAME_CHARS)
}

/// Points in a 6 km box in Seoul, snapped to a coarse grid half the time so that some
/// merchants share a location (distance ties).
fn point() -> impl Strategy<Value = (i32, i32)> {
    prop_oneof![
        (37_540_000..37_600_000i32, 126_960_000..127_030_000i32),
        (0..6i32, 0..6i32).prop_map(|(a, b)| (37_540_000 + a * 10_000, 126_960_000 + b * 12_000)),
    ]
}

fn change(n: usize) -> impl Strategy<Value = Change> {
    let i = 0..n.max(1);
    prop_oneof![
        (i.clone(), name(), proptest::option::of(name()))
            .prop_map(|(i, a, b)| Change::Rename(i, a, b)),
        (i.clone(), proptest::option::of(point())).prop_map(|(i, p)| Change::Move(i, p)),
        (i.clone(), proptest::sample::select(Status::ALL.to_vec()))
            .prop_map(|(i, s)| Change::Status(i, s)),
        (i, 0u8..32).prop_map(|(i, m)| Change::Accepts(i, m)),
    ]
}

/// Korean name, English name, location, accepted-sources bits, kind (MCC and category), status.
type MerchantSpec = (String, Option<String>, Option<(i32, i32)>, u8, u16, Status);

#[derive(Clone, Debug)]
struct World {
    seed: u64,
    merchants: Vec<MerchantSpec>,
    changes: Vec<Change>,
}

fn world() -> impl Strategy<Value = World> {
    (0usize..160, any::<bool>()).prop_flat_map(|(n, tiny)| {
        let alphabet = if tiny { TINY_CHARS } else { NAME_CHARS };
        (
            any::<u64>(),
            proptest::collection::vec(
                (
                    name_in(alphabet),
                    proptest::option::of(name_in(alphabet)),
                    proptest::option::weighted(0.9, point()),
                    0u8..32,
                    0u16..3,
                    proptest::sample::select(Status::ALL.to_vec()),
                ),
                n,
            ),
            proptest::collection::vec(change(n), 0..20),
        )
            .prop_map(|(seed, merchants, changes)| World {
                seed,
                merchants,
                changes,
            })
    })
}

const MCCS: [u16; 3] = [5812, 5411, 5912];

fn build(w: &World) -> Registry {
    let mut synth = Synth::new(w.seed);
    let mut records = Vec::new();
    for (i, (ko, en, p, accepts, kind, status)) in w.merchants.iter().enumerate() {
        // Ids deliberately not in slot order, so id tie-breaks are really tested.
        let mut m = synth.merchant(MerchantId(((i as u64) * 7919) % 10_007 + 1), 0);
        m.profile.name = ko.clone();
        m.profile.name_en = en.clone();
        m.profile.location = p.map(|(a, b)| GeoPoint::new(a, b).unwrap());
        m.profile.accepts = SourceMask::from_bits(*accepts).unwrap();
        m.profile.mcc = Some(Mcc::new(MCCS[*kind as usize]).unwrap());
        m.profile.category = Some(*kind);
        m.status = *status;
        records.push(m);
    }
    // Half the worlds are bulk-loaded, half registered one by one.
    let mut reg = if w.seed.is_multiple_of(2) {
        Registry::from_records(records).unwrap()
    } else {
        let mut reg = Registry::new();
        for m in records {
            reg.create(m.id, m.brn, m.profile, m.status, "test", Actor::Operator, 0)
                .unwrap();
        }
        reg
    };
    let ids: Vec<MerchantId> = reg.records().iter().map(|m| m.id).collect();
    for c in &w.changes {
        let id_at = |i: usize| ids.get(i).copied();
        match c {
            Change::Rename(i, ko, en) => {
                if let Some(id) = id_at(*i) {
                    let mut p = reg.get(id).unwrap().profile.clone();
                    p.name = ko.clone();
                    p.name_en = en.clone();
                    reg.update_profile(id, p).unwrap();
                }
            }
            Change::Move(i, loc) => {
                if let Some(id) = id_at(*i) {
                    let mut p = reg.get(id).unwrap().profile.clone();
                    p.location = loc.map(|(a, b)| GeoPoint::new(a, b).unwrap());
                    reg.update_profile(id, p).unwrap();
                }
            }
            Change::Status(i, s) => {
                if let Some(id) = id_at(*i) {
                    // Illegal moves are refused; that is fine here.
                    let _ = reg.transition(id, *s, "test", Actor::Operator, 1);
                }
            }
            Change::Accepts(i, m) => {
                if let Some(id) = id_at(*i) {
                    let mut p = reg.get(id).unwrap().profile.clone();
                    p.accepts = SourceMask::from_bits(*m).unwrap();
                    reg.update_profile(id, p).unwrap();
                }
            }
        }
    }
    reg.check_invariants().unwrap();
    reg
}

fn filter() -> impl Strategy<Value = Filter> {
    (
        prop_oneof![
            Just(StatusSet::CITIZEN),
            Just(StatusSet::ALL),
            Just(StatusSet::of(&[Status::Suspended, Status::Closed])),
        ],
        proptest::option::weighted(0.3, 0usize..3),
        proptest::option::weighted(0.3, 0u16..3),
        prop_oneof![
            Just(SourceFilter::Any),
            (1u8..32).prop_map(|m| SourceFilter::AcceptsAnyOf(SourceMask::from_bits(m).unwrap())),
            (1u8..32).prop_map(|m| SourceFilter::AcceptsAllOf(SourceMask::from_bits(m).unwrap())),
        ],
    )
        .prop_map(|(statuses, mcc, category, sources)| Filter {
            statuses,
            mcc: mcc.map(|k| Mcc::new(MCCS[k]).unwrap()),
            category,
            sources,
        })
}

fn page() -> impl Strategy<Value = Page> {
    prop_oneof![
        (0u32..40, 1u32..25).prop_map(|(offset, limit)| Page { offset, limit }),
        (0u32..3, 1u32..4).prop_map(|(offset, limit)| Page { offset, limit }),
    ]
}

fn query_text() -> impl Strategy<Value = String> {
    const TINY_QUERY: &[&str] = &["경", "동", "ㄱ", "ㄷ", "a"];
    prop_oneof![
        proptest::collection::vec(proptest::sample::select(QUERY_CHARS), 1..5),
        proptest::collection::vec(proptest::sample::select(TINY_QUERY), 1..4),
    ]
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn nearby_equals_brute_force(
        w in world(),
        queries in proptest::collection::vec(
            (point(), prop_oneof![1u32..800, 800u32..8_000, Just(RADIUS_MAX_M)], filter(), page()),
            1..8,
        ),
    ) {
        let reg = build(&w);
        for (p, radius_m, filter, page) in queries {
            let q = NearbyQuery { at: GeoPoint::new(p.0, p.1).unwrap(), radius_m, filter, page };
            let fast = reg.nearby(&q).unwrap();
            let slow = reg.nearby_brute_force(&q).unwrap();
            prop_assert_eq!(&fast, &slow, "query {:?}", q);
            for h in &fast.hits {
                prop_assert!(h.distance_m.unwrap_or(u32::MAX) <= radius_m);
            }
        }
    }

    #[test]
    fn name_search_equals_brute_force(
        w in world(),
        queries in proptest::collection::vec(
            (query_text(), proptest::option::of(point()), filter(), page()),
            1..8,
        ),
    ) {
        let reg = build(&w);
        for (text, near, filter, page) in queries {
            let q = NameQuery {
                text,
                near: near.map(|(a, b)| GeoPoint::new(a, b).unwrap()),
                filter,
                page,
            };
            let fast = reg.search_name(&q);
            let slow = reg.search_name_brute_force(&q);
            prop_assert_eq!(&fast, &slow, "query {:?}", q);
            if let Err(e) = fast {
                prop_assert_eq!(e, SearchError::QueryTooBroad);
            }
        }
    }

    /// Paging walks the whole answer without gaps or repeats.
    #[test]
    fn pages_concatenate(w in world(), p in point(), limit in 1u32..7) {
        let reg = build(&w);
        let at = GeoPoint::new(p.0, p.1).unwrap();
        let all = reg.nearby_brute_force(&NearbyQuery {
            at, radius_m: 3_000, filter: Filter::citizen(), page: Page { offset: 0, limit: PAGE_LIMIT_MAX },
        }).unwrap();
        let mut walked = Vec::new();
        let mut offset = 0;
        loop {
            let page = reg.nearby(&NearbyQuery {
                at, radius_m: 3_000, filter: Filter::citizen(), page: Page { offset, limit },
            }).unwrap();
            walked.extend(page.hits);
            match page.next_offset {
                Some(next) if next <= 200 => offset = next,
                _ => break,
            }
        }
        let n = all.hits.len().min(walked.len());
        prop_assert_eq!(&walked[..n], &all.hits[..n]);
    }
}

fn demo_registry() -> Registry {
    let names = [
        (
            "경동시장 행복상회",
            Some("Gyeongdong Market Haengbok Store"),
            (37_580_000, 127_040_000),
        ),
        ("경동시장", None, (37_580_500, 127_040_500)),
        (
            "해운대 돼지국밥",
            Some("Haeundae Dwaeji Gukbap"),
            (35_163_000, 129_163_000),
        ),
        (
            "스타 분식",
            Some("Star Snack Bar"),
            (37_500_000, 127_030_000),
        ),
        ("꼬마김밥", None, (37_581_000, 127_041_000)),
        (
            "행복약국",
            Some("Haengbok Pharmacy"),
            (37_579_000, 127_039_000),
        ),
    ];
    let mut synth = Synth::new(1);
    let records = names
        .iter()
        .enumerate()
        .map(|(i, (ko, en, (lat, lon)))| {
            let mut m = synth.merchant(MerchantId(i as u64 + 1), 0);
            m.profile.name = ko.to_string();
            m.profile.name_en = en.map(String::from);
            m.profile.location = Some(GeoPoint::new(*lat, *lon).unwrap());
            m.status = Status::Approved;
            m
        })
        .collect();
    Registry::from_records(records).unwrap()
}

fn names_for(reg: &Registry, text: &str) -> Vec<String> {
    let q = NameQuery {
        text: text.into(),
        near: None,
        filter: Filter::citizen(),
        page: Page::first(20),
    };
    reg.search_name(&q)
        .unwrap()
        .hits
        .iter()
        .map(|h| reg.get(h.id).unwrap().profile.name.clone())
        .collect()
}

#[test]
fn initial_consonant_examples() {
    let reg = demo_registry();
    let check = |q: &str, expected: &[&str]| assert_eq!(names_for(&reg, q), expected, "{q}");
    check("ㄱㄷㅅㅈ", &["경동시장", "경동시장 행복상회"]);
    check("동시", &["경동시장", "경동시장 행복상회"]);
    check("ㄷㅅ", &["경동시장", "경동시장 행복상회"]);
    check("경ㄷ", &["경동시장", "경동시장 행복상회"]);
    check("ㄲㅁ", &["꼬마김밥"]);
    check("ㅎㅂ", &["행복약국", "경동시장 행복상회"]);
    check("돼지국밥", &["해운대 돼지국밥"]);
    check("해운대돼지", &["해운대 돼지국밥"]);
    check("STAR", &["스타 분식"]);
    check("haengbok", &["행복약국", "경동시장 행복상회"]);
    check("피자", &[]);
}

#[test]
fn ordered_by_distance_when_near_is_given() {
    let reg = demo_registry();
    let q = NameQuery {
        text: "ㄱㅂ".into(),
        near: Some(GeoPoint::new(37_581_000, 127_041_000).unwrap()),
        filter: Filter::citizen(),
        page: Page::first(3),
    };
    let page = reg.search_name(&q).unwrap();
    let first = page.hits[0];
    assert_eq!(reg.get(first.id).unwrap().profile.name, "꼬마김밥");
    assert_eq!(first.distance_m, Some(0));
    assert!(
        page.hits
            .windows(2)
            .all(|w| w[0].distance_m <= w[1].distance_m)
    );
}

#[test]
fn request_bounds() {
    let reg = demo_registry();
    let at = GeoPoint::new(37_580_000, 127_040_000).unwrap();
    let nearby = |radius_m, page| {
        reg.nearby(&NearbyQuery {
            at,
            radius_m,
            filter: Filter::citizen(),
            page,
        })
        .map(|p| p.hits.len())
    };
    assert_eq!(
        nearby(0, Page::first(10)),
        Err(SearchError::BadRadius { max: RADIUS_MAX_M })
    );
    assert_eq!(
        nearby(RADIUS_MAX_M + 1, Page::first(10))
            .unwrap_err()
            .code(),
        "bad_radius"
    );
    assert_eq!(
        nearby(1_000, Page::first(0)).unwrap_err().code(),
        "bad_limit"
    );
    assert_eq!(
        nearby(1_000, Page::first(101)).unwrap_err().code(),
        "bad_limit"
    );
    assert_eq!(
        nearby(
            1_000,
            Page {
                offset: 1_001,
                limit: 1
            }
        )
        .unwrap_err()
        .code(),
        "offset_too_large"
    );
    assert_eq!(nearby(1_000, Page::first(10)), Ok(4));
    let name = |text: &str| {
        reg.search_name(&NameQuery {
            text: text.into(),
            near: None,
            filter: Filter::citizen(),
            page: Page::first(5),
        })
        .map(|p| p.hits.len())
    };
    assert_eq!(name(" !? ").unwrap_err().code(), "empty_query");
    assert_eq!(name("ㄱ").unwrap_err().code(), "query_too_broad");
    assert_eq!(name("a").unwrap_err().code(), "query_too_broad");
    assert_eq!(name("약"), Ok(1));
    assert_eq!(name("ab").map(|_| ()), Ok(()));
    assert_eq!(name(&"가".repeat(41)).unwrap_err().code(), "query_too_long");
    assert_eq!(
        name(&"가".repeat(10_000)).unwrap_err().code(),
        "query_too_long"
    );
}
