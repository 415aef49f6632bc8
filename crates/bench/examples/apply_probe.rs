//! Probe: the in-memory apply rate for a few population sizes (where do cache misses
//! start to dominate?). `cargo run --release -p bench --example apply_probe [small|large]`
//!
//! `apply_probe profile [scheme] [small|large]` applies 8 M payments of the bench's uniform workload
//! after the usual 1 M warm-up, so that a `perf record` of the whole process is ~90%
//! the timed region (the warm-up grows the tables, which steady state never does).

/// The binary's allocator (run with `MIMALLOC_PURGE_DELAY=-1`, as `maeul` sets it).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "profile") {
        let scheme = args
            .iter()
            .any(|a| a == "scheme")
            .then_some(bench::workload::BUSAN_LIKE);
        let (citizens, merchants) = if args.iter().any(|a| a == "small") {
            (100, 10)
        } else if args.iter().any(|a| a == "large") {
            (1_000_000, 100_000)
        } else {
            (100_000, 10_000)
        };
        let w = bench::workload::Workload {
            citizens,
            merchants,
            scheme,
            ..bench::workload::Workload::default()
        };
        let r = bench::apply::apply_rate(&w, 1_000_000, 8_000_000, 8_192, 1);
        println!("{:.0} k/s", r.median() / 1e3);
        return;
    }
    let sizes: &[(u64, u64)] = if args.iter().any(|a| a == "small") {
        &[(100, 10)]
    } else if args.iter().any(|a| a == "large") {
        &[(1_000_000, 100_000)]
    } else {
        &[(100, 10), (10_000, 1_000), (100_000, 10_000)]
    };
    for &(citizens, merchants) in sizes {
        let w = bench::workload::Workload {
            citizens,
            merchants,
            hot_merchant_percent: 0,
            seed: 1,
            scheme: None,
        };
        let r = bench::apply::apply_rate(&w, 1_000_000, 1_000_000, 8_192, 3);
        println!(
            "{citizens:>7} citizens {merchants:>6} merchants: {:.0} k/s",
            r.median() / 1e3
        );
    }
}
