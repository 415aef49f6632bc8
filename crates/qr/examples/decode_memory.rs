//! Peak memory of `qr::decode_image` on a decompression bomb and on real-sized photos.
//!
//! ```text
//! cargo build --release -p qr --example decode_memory
//! B=target/release/examples/decode_memory
//! $B gen /tmp/qrmem      # bomb.png 6900×6900, photo.jpg 4000×3000,
//                        # photo.png 3000×2000, far.jpg 4000×3000, big.jpg 7300×5475
//! /usr/bin/time -v $B read   /tmp/qrmem/photo.jpg   # baseline: read the file, no decode
//! /usr/bin/time -v $B decode /tmp/qrmem/bomb.png
//! /usr/bin/time -v $B decode /tmp/qrmem/photo.jpg
//! ```
//!
//! `decode` prints the peak heap the call allocated on top of what was live before it
//! (a counting global allocator) and the time; `/usr/bin/time -v` gives the process's
//! maximum resident set, to compare with the `read` baseline.
//!
//! The photo is what a phone sends: 4000×3000 colour, JPEG quality 85, a maeul sticker
//! code (rendered with `qr::render_png`) about a fifth of the frame wide, pasted on a
//! noisy wall with a lighting gradient. `far.jpg` has the code small in the frame (4 px a
//! module), which the first, reduced look misses and the working image finds; `big.jpg`
//! is 40 megapixels, the largest size accepted.

// The counting allocator implements `GlobalAlloc`, which is unsafe by definition; it only
// forwards to the system allocator. Measurement code.
#![allow(unsafe_code)]

#[path = "../tests/common/counting.rs"]
mod counting;
#[path = "../tests/common/photos.rs"]
mod photos;

use std::path::Path;
use std::time::Instant;

use counting::{Counting, peak_of};
use qr::decode_image;

#[global_allocator]
static ALLOC: Counting = Counting;

const MB: f64 = 1_000_000.0;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["gen", dir] => {
            let dir = Path::new(dir);
            std::fs::create_dir_all(dir)?;
            let files = [
                ("bomb.png", photos::bomb_png(6900, 6900)),
                ("photo.jpg", photos::photo_jpeg(4000, 3000, 16)),
                ("photo.png", photos::photo_png(3000, 2000, 12)),
                ("far.jpg", photos::photo_jpeg(4000, 3000, 4)),
                ("big.jpg", photos::photo_jpeg(7300, 5475, 24)),
            ];
            for (name, bytes) in files {
                std::fs::write(dir.join(name), &bytes)?;
                println!("{name}: {} bytes", bytes.len());
            }
            Ok(())
        }
        ["read", file] => {
            let bytes = std::fs::read(file)?;
            println!("read {} bytes", bytes.len());
            Ok(())
        }
        ["decode", file] => {
            let bytes = std::fs::read(file)?;
            let start = Instant::now();
            let (result, peak) = peak_of(|| decode_image(&bytes));
            let elapsed = start.elapsed();
            match &result {
                Ok(codes) => println!(
                    "decoded {} code(s): {:?}",
                    codes.len(),
                    codes
                        .first()
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                ),
                Err(e) => println!("refused: {} ({e})", e.code()),
            }
            println!(
                "file {:.2} MB; decode peak heap {:.3} MB; {:.0} ms",
                bytes.len() as f64 / MB,
                peak as f64 / MB,
                elapsed.as_secs_f64() * 1000.0
            );
            Ok(())
        }
        _ => Err("usage: decode_memory gen DIR | read FILE | decode FILE".into()),
    }
}
