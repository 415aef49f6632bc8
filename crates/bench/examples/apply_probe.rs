//! Probe: the in-memory apply rate for a few population sizes (where do cache misses
//! start to dominate?). `cargo run --release -p bench --example apply_probe [small]`
fn main() {
    let sizes: &[(u64, u64)] = if std::env::args().any(|a| a == "small") {
        &[(100, 10)]
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
