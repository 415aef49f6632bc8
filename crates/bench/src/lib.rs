//! Benchmarks for maeul, run with `maeul bench` (see `docs/benchmarks.md`).
//!
//! Each figure is measured next to the baseline it is judged against, in the same run:
//! [`baseline`] is the naive design most payment systems use, one SQL transaction per
//! transfer, on SQLite and on PostgreSQL.

pub mod apply;
pub mod baseline;
pub mod durable;
pub mod restart;
pub mod suite;
pub mod workload;

/// The median of some measurements (0 when there are none).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
