//! Directory benchmark: a national-size registry of synthetic merchants.
//!
//! ```text
//! cargo run --release -p directory --example directory_bench -- [--merchants N] [--queries Q] [--seed S]
//! ```
//!
//! Measures, on one thread: building the registry, nearest-20 within 2 km from points
//! where people are, Korean substring and 초성 name search, each against a brute-force
//! scan in the same run; a full registry-file sync (CP949, as public data comes) into an
//! empty registry and a re-sync of the same file; and the resident memory. Latencies are
//! per query; on a shared 2-core VM read the medians, and run it twice.

#![allow(clippy::unwrap_used)] // a benchmark: a panic is the failure report

use std::time::{Duration, Instant};

use directory::search::{Filter, NameQuery, NearbyQuery, Page, SourceFilter};
use directory::synth::{CsvEncoding, HeaderStyle, Synth, write_registry_csv};
use directory::{GeoPoint, Registry, SequentialIds, SourceMask, SyncOptions, hangul};
use ledger::Source;
use rand::Rng;

const NOW_US: u64 = 1_760_000_000_000_000;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Resident and peak memory from /proc (Linux), MiB.
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |key: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

struct Stats {
    p50: Duration,
    p99: Duration,
    p999: Duration,
    max: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    Stats {
        p50: at(0.5),
        p99: at(0.99),
        p999: at(0.999),
        max: *samples.last().unwrap(),
    }
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn report(label: &str, s: &Stats, hits: f64) {
    println!(
        "  {label:<34} p50 {:>10}  p99 {:>10}  p999 {:>10}  max {:>10}  (avg hits {hits:.1})",
        us(s.p50),
        us(s.p99),
        us(s.p999),
        us(s.max)
    );
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed())
}

fn main() {
    let n = arg("--merchants", 1_000_000) as usize;
    let queries = arg("--queries", 5_000) as usize;
    let seed = arg("--seed", 20_250_301);
    println!("directory_bench: {n} merchants, {queries} queries per kind, seed {seed}");
    let (rss0, _) = memory_mib();

    // --- Build -------------------------------------------------------------------------
    let mut synth = Synth::new(seed);
    let (records, t_gen) = timed(|| synth.merchants(n, 1, NOW_US));
    let (rss_records, _) = memory_mib();
    let (reg, t_load) = timed(|| Registry::from_records(records).unwrap());
    let (rss_reg, _) = memory_mib();
    println!(
        "build: synth {:.2} s, Registry::from_records {:.2} s; RSS records {:.0} MiB, with indexes {:.0} MiB (indexes ≈ {:.0} MiB by estimate)",
        t_gen.as_secs_f64(),
        t_load.as_secs_f64(),
        rss_records - rss0,
        rss_reg - rss0,
        reg.index_heap_bytes() as f64 / (1 << 20) as f64
    );

    // --- Nearby ------------------------------------------------------------------------
    println!("nearby (radius 2 km, limit 20, approved only):");
    let points: Vec<GeoPoint> = (0..queries).map(|_| synth.point_near_people()).collect();
    let citizen_sources = SourceFilter::AcceptsAnyOf(SourceMask::of(&[Source::Allowance]));
    let variants: [(&str, Filter); 3] = [
        ("any merchant", Filter::citizen()),
        (
            "accepts allowance money",
            Filter {
                sources: citizen_sources,
                ..Filter::citizen()
            },
        ),
        (
            "category 4 (병원·약국)",
            Filter {
                category: Some(4),
                ..Filter::citizen()
            },
        ),
    ];
    let mut nearby_p50 = Duration::ZERO;
    for (label, filter) in variants {
        let mut samples = Vec::with_capacity(queries);
        let mut hits = 0usize;
        for &at in &points {
            let q = NearbyQuery {
                at,
                radius_m: 2_000,
                filter,
                page: Page::first(20),
            };
            let (page, d) = timed(|| reg.nearby(&q).unwrap());
            hits += page.hits.len();
            samples.push(d);
        }
        let s = stats(samples);
        if nearby_p50.is_zero() {
            nearby_p50 = s.p50;
        }
        report(label, &s, hits as f64 / queries as f64);
    }
    let brute_n = (arg("--brute", 15) as usize).min(queries);
    let mut brute = Vec::new();
    for &at in points.iter().take(brute_n) {
        let q = NearbyQuery {
            at,
            radius_m: 2_000,
            filter: Filter::citizen(),
            page: Page::first(20),
        };
        let (slow, d) = timed(|| reg.nearby_brute_force(&q).unwrap());
        assert_eq!(slow, reg.nearby(&q).unwrap(), "index and scan disagree");
        brute.push(d);
    }
    let bs = stats(brute);
    println!(
        "  brute-force scan ({brute_n} queries)      p50 {:>10}  → index is {:.0}× faster at the median",
        us(bs.p50),
        bs.p50.as_secs_f64() / nearby_p50.as_secs_f64()
    );

    // --- Name search -------------------------------------------------------------------
    // Realistic queries: fragments of real names (2-4 syllables), business words and
    // places people type, 초성 of names' starts, and English words.
    let common = [
        "약국",
        "분식",
        "카페",
        "돼지국밥",
        "미용실",
        "정육점",
        "세탁소",
        "김밥",
        "치킨",
        "마트",
        "해운대",
        "경동시장",
        "행복",
        "한의원",
        "과일",
        "동문시장",
        "서면",
        "꼬마",
        "할매",
    ];
    let latin = [
        "star", "pharmacy", "cafe", "happy", "haeundae", "gimbap", "mart",
    ];
    let records = reg.records();
    let mut substring_q = Vec::new();
    let mut initial_q = Vec::new();
    let mut rng = synth.rng().clone();
    for i in 0..queries {
        let m = &records[rng.random_range(0..records.len())];
        let chars: Vec<char> = hangul::normalize(&m.profile.name);
        let len = rng.random_range(2..=4usize).min(chars.len());
        let start = rng.random_range(0..=chars.len() - len);
        let fragment: String = chars[start..start + len].iter().collect();
        let text = match i % 4 {
            0 | 1 => fragment,
            2 => common[rng.random_range(0..common.len())].to_string(),
            _ => latin[rng.random_range(0..latin.len())].to_string(),
        };
        let near = (i % 2 == 0).then(|| synth.point_near_people());
        substring_q.push((text, near));
        let prefix_len = rng.random_range(2..=4usize).min(chars.len());
        let initials: String = chars[..prefix_len]
            .iter()
            .map(|&c| hangul::initial_key(c).unwrap_or(c))
            .collect();
        initial_q.push((initials, (i % 2 == 0).then(|| synth.point_near_people())));
    }
    println!("name search (limit 20, approved only; half ordered by distance from a point):");
    let mut name_p50 = Vec::new();
    for (label, qs) in [
        ("substring / words / English", &substring_q),
        ("초성 (e.g. ㄱㄷㅅㅈ)", &initial_q),
    ] {
        let mut samples = Vec::with_capacity(qs.len());
        let mut slowest: Vec<(Duration, String, bool)> = Vec::new();
        let mut hits = 0usize;
        for (text, near) in qs {
            let q = NameQuery {
                text: text.clone(),
                near: *near,
                filter: Filter::citizen(),
                page: Page::first(20),
            };
            let (page, d) = timed(|| reg.search_name(&q).unwrap());
            hits += page.hits.len();
            samples.push(d);
            slowest.push((d, text.clone(), near.is_some()));
        }
        if std::env::var_os("BENCH_SLOWEST").is_some() {
            slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
            for (d, t, near) in slowest.iter().take(12) {
                println!("    slow: {} {t:?} near={near}", us(*d));
            }
        }
        let s = stats(samples);
        name_p50.push(s.p50);
        report(label, &s, hits as f64 / qs.len() as f64);
    }
    for (label, qs, p50) in [
        ("substring", &substring_q, name_p50[0]),
        ("초성", &initial_q, name_p50[1]),
    ] {
        let mut brute = Vec::new();
        for (text, near) in qs.iter().take(brute_n) {
            let q = NameQuery {
                text: text.clone(),
                near: *near,
                filter: Filter::citizen(),
                page: Page::first(20),
            };
            let (slow, d) = timed(|| reg.search_name_brute_force(&q).unwrap());
            assert_eq!(
                slow,
                reg.search_name(&q).unwrap(),
                "index and scan disagree"
            );
            brute.push(d);
        }
        let bs = stats(brute);
        println!(
            "  brute-force scan, {label:<9} ({brute_n} queries) p50 {:>10}  → index is {:.0}× faster at the median",
            us(bs.p50),
            bs.p50.as_secs_f64() / p50.as_secs_f64()
        );
    }
    let (rss_before_sync, _) = memory_mib();
    drop(reg);
    if arg("--sync", 1) == 0 {
        return;
    }

    // --- Sync --------------------------------------------------------------------------
    let file_records = Synth::new(seed).merchants(n, 1, NOW_US);
    let (bytes, t_write) =
        timed(|| write_registry_csv(&file_records, CsvEncoding::Cp949, HeaderStyle::Korean));
    drop(file_records);
    println!(
        "sync: registry file {:.0} MiB CP949, {n} rows (written in {:.2} s)",
        bytes.len() as f64 / (1 << 20) as f64,
        t_write.as_secs_f64()
    );
    let mut reg = Registry::new();
    let mut ids = SequentialIds::starting_at(1);
    let options = SyncOptions::default();
    let (plan, t_plan) = timed(|| reg.plan_sync(&bytes, &options).unwrap());
    let (first, t_apply) = timed(|| reg.apply_sync(plan, &mut ids, NOW_US).unwrap());
    println!(
        "  into an empty registry: plan {:.2} s + apply {:.2} s = {:.2} s; added {}, skipped 폐업 {}, rejected {}",
        t_plan.as_secs_f64(),
        t_apply.as_secs_f64(),
        (t_plan + t_apply).as_secs_f64(),
        first.added.len(),
        first.skipped_closed,
        first.rejected.len()
    );
    let (again, t_again) = timed(|| reg.sync(&bytes, &options, &mut ids, NOW_US).unwrap());
    println!(
        "  re-sync of the same file: {:.2} s; unchanged {}, changed {}, added {} (no-op: {})",
        t_again.as_secs_f64(),
        again.unchanged,
        again.changed.len(),
        again.added.len(),
        again.is_noop()
    );
    let (rss, hwm) = memory_mib();
    println!(
        "memory: RSS before sync {:.0} MiB, after {:.0} MiB, peak {:.0} MiB",
        rss_before_sync, rss, hwm
    );
}
