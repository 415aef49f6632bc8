//! Memory of image decoding, measured with a counting allocator: a decompression bomb is
//! refused without allocating its pixels, and real-sized photos decode within
//! `DECODE_MEMORY_MAX_BYTES`. One test function, so no other test allocates meanwhile.

// The counting allocator implements `GlobalAlloc`, which is unsafe by definition; it
// only forwards to the system allocator. Test code.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

#[path = "common/counting.rs"]
mod counting;
#[path = "common/photos.rs"]
mod photos;

use std::time::Instant;

use counting::{Counting, peak_of};
use qr::image_decode::{DECODE_MEMORY_MAX_BYTES, IMAGE_PIXELS_MAX};
use qr::{ImageDecodeError, decode_image};

#[global_allocator]
static ALLOC: Counting = Counting;

const MB: usize = 1_000_000;

#[test]
fn bombs_are_refused_before_their_pixels_and_photos_decode_within_the_bound() {
    // The reported bomb: 6900×6900 (47.6 megapixels) in about 60 KB.
    let bomb = photos::bomb_png(6900, 6900);
    assert!(bomb.len() < 200_000, "{}", bomb.len());
    let start = Instant::now();
    let (result, peak) = peak_of(|| decode_image(&bomb));
    let elapsed = start.elapsed();
    assert_eq!(
        result,
        Err(ImageDecodeError::TooManyPixels {
            width: 6900,
            height: 6900
        })
    );
    assert_eq!(result.unwrap_err().code(), "image_too_many_pixels");
    assert!(peak < 256 * 1024, "the refusal allocated {peak} bytes");
    assert!(elapsed.as_millis() < 500, "{elapsed:?}");

    // Just under the pixel bound, a bomb is decoded row by row: the working image, never
    // the 39 MB the file claims.
    let side = (IMAGE_PIXELS_MAX as f64).sqrt() as u32 - 1;
    let near = photos::bomb_png(side, side);
    let (result, peak) = peak_of(|| decode_image(&near));
    assert_eq!(result, Err(ImageDecodeError::NoCode));
    assert!(peak < 3 * 12 * MB + 4 * MB, "{peak}");

    // A 4000×3000 phone photo with a sticker a fifth of the frame wide.
    let jpeg = photos::photo_jpeg(4000, 3000, 16);
    let (result, peak) = peak_of(|| decode_image(&jpeg));
    assert_eq!(result.unwrap(), vec![photos::payload().into_bytes()]);
    assert!(peak as u64 <= DECODE_MEMORY_MAX_BYTES, "{peak}");
    assert!(peak < 32 * MB, "{peak}");

    // A 3000×2000 colour PNG (a noisy 4000×3000 one is over the 20 MB file bound):
    // decoded row by row, so little more than the working image.
    let png = photos::photo_png(3000, 2000, 12);
    let (result, peak) = peak_of(|| decode_image(&png));
    assert_eq!(result.unwrap(), vec![photos::payload().into_bytes()]);
    assert!(peak < 6 * MB + 8 * MB, "{peak}");

    // A code small in the frame (4 px a module in a 4000×3000 photo, about 1.3 in the
    // first look): found in the working image, still within the bound.
    let far = photos::photo_jpeg(4000, 3000, 4);
    let (result, peak) = peak_of(|| decode_image(&far));
    assert_eq!(result.unwrap(), vec![photos::payload().into_bytes()]);
    assert!(peak as u64 <= DECODE_MEMORY_MAX_BYTES, "{peak}");
}
