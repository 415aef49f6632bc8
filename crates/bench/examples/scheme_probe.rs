//! Profiles scheme payments in memory: `perf record` target.
//! `cargo run --release -p bench --example scheme_probe`

/// The binary's allocator (run with `MIMALLOC_PURGE_DELAY=-1`, as `maeul` sets it).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let w = bench::workload::Workload {
        scheme: Some(bench::workload::BUSAN_LIKE),
        ..bench::workload::Workload::default()
    };
    let r = bench::apply::apply_rate(&w, 1_000_000, 2_000_000, 8_192, 1);
    println!("scheme payments: {:.0} k/s", r.median() / 1e3);
}
