//! Probe: where does loading a snapshot spend its time?
//! `cargo run --release -p bench --example snapshot_probe -- DIR`
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: snapshot_probe DIR"))?;
    let store = journal::SnapshotStore::open(&dir)?;
    let seq = *store
        .list()?
        .last()
        .ok_or_else(|| anyhow::anyhow!("no snapshot"))?;
    let t = Instant::now();
    let snap = store.load(seq)?;
    println!(
        "read + verify {} MiB: {:.2} s",
        snap.payload.len() >> 20,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let ledger = engine::replay::decode_snapshot(&snap.payload)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .ledger;
    println!(
        "decode: {:.2} s ({:?})",
        t.elapsed().as_secs_f64(),
        ledger.retained()
    );
    let t = Instant::now();
    drop(ledger);
    println!("drop: {:.2} s", t.elapsed().as_secs_f64());
    Ok(())
}
