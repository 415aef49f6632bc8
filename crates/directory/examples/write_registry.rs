//! Writes a synthetic merchant registry file, for trying `maeul admin sync-registry` and
//! the registry-sync API at scale:
//!
//! `cargo run --release -p directory --example write_registry -- 1000000 registry.csv [cp949|utf8]`

use directory::synth::{CsvEncoding, HeaderStyle, Synth, write_registry_csv};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().unwrap_or_else(|| "1000000".into()).parse()?;
    let path = args.next().unwrap_or_else(|| "registry.csv".into());
    let encoding = match args.next().as_deref() {
        Some("utf8") => CsvEncoding::Utf8,
        _ => CsvEncoding::Cp949,
    };
    let merchants = Synth::new(20_250_301).merchants(n, 1, 0);
    std::fs::write(
        &path,
        write_registry_csv(&merchants, encoding, HeaderStyle::Korean),
    )?;
    println!("{n} merchants written to {path}");
    Ok(())
}
