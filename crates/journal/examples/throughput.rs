//! Rough append throughput: `cargo run --release -p journal --example throughput -- [DIR] [MB] [RECORD_KB] [RECORDS_PER_APPEND]`
//! (defaults: a temp dir, 1024 MB, 100 KB records, 4 records per append).

use std::time::Instant;

use journal::{FileJournal, FileJournalConfig, JournalStore, NewRecord};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tmp = tempfile::tempdir()?;
    let dir = args
        .first()
        .map_or_else(|| tmp.path().to_path_buf(), Into::into);
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    let total_mb = arg(1, 1024);
    let record_kb = arg(2, 100);
    let per_append = arg(3, 4).max(1);

    let payload: Vec<u8> = (0..record_kb * 1024)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let (mut j, report) = FileJournal::open(&dir, FileJournalConfig::default())?;
    let mut seq = report.last_seq;
    let appends = (total_mb * 1024 / record_kb / per_append).max(1);
    let start = Instant::now();
    let mut recs = Vec::with_capacity(per_append);
    for _ in 0..appends {
        recs.clear();
        for _ in 0..per_append {
            seq += 1;
            recs.push(NewRecord {
                seq,
                timestamp_us: seq,
                payload: &payload,
            });
        }
        j.append_durable(&recs)?;
    }
    let secs = start.elapsed().as_secs_f64();
    let mb = (appends * per_append * payload.len()) as f64 / 1e6;
    println!(
        "{appends} appends x {per_append} records x {record_kb} KB in {secs:.2}s: {:.0} MB/s payload, {:.0} appends/s",
        mb / secs,
        appends as f64 / secs
    );
    Ok(())
}
