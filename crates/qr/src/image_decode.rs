//! Reading QR codes out of PNG and JPEG photos (uploads from the web app, support tickets,
//! the import of old sticker scans), then classifying what they say.
//!
//! `rqrr` finds and decodes codes in a grayscale image. A clean render decodes on the first
//! pass; phone photos sometimes need help, so up to four passes run, cheapest first, until
//! one yields a code:
//! 1. the image as is, with rqrr's own adaptive threshold;
//! 2. downscaled to about 800 px (averaging pixels), which removes sensor noise and halves
//!    the work on 12-megapixel photos;
//! 3. a global Otsu threshold of the downscaled image (helps with uneven adaptive results
//!    on low-contrast prints);
//! 4. the inverse of 3, for light-on-dark codes.
//!
//! Limits come first: input bytes, pixel count (checked from the header before decoding,
//! so a small file claiming a huge image is refused cheaply) and the number of codes read.
//! The image and QR decoders are third-party code fed with untrusted bytes, so their work
//! runs under `catch_unwind`: a panic inside them becomes an error answer, not a crash.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::{GrayImage, ImageFormat, ImageReader, Limits};

use crate::classify::{ScanAnswer, ScanContext, classify};

/// Largest image file accepted.
pub const IMAGE_BYTES_MAX: usize = 20 * 1024 * 1024;
/// Largest image accepted, in pixels (a 48-megapixel photo).
pub const IMAGE_PIXELS_MAX: u64 = 48_000_000;
/// Most codes read from one image.
pub const CODES_PER_IMAGE_MAX: usize = 8;
/// Target side for the downscaled passes.
const DOWNSCALE_SIDE_PX: u32 = 800;

/// Why no payload came out of an image.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageDecodeError {
    #[error("no image data")]
    Empty,
    #[error("image file is {bytes} bytes; at most {IMAGE_BYTES_MAX} accepted")]
    TooLarge { bytes: usize },
    #[error("not a PNG or JPEG image")]
    UnsupportedFormat,
    #[error("image is {pixels} pixels; at most {IMAGE_PIXELS_MAX} accepted")]
    TooManyPixels { pixels: u64 },
    #[error("image could not be decoded: {detail}")]
    Corrupt { detail: String },
    #[error("no QR code found in the image")]
    NoCode,
    /// Finder patterns were found but no code decoded (blurred, cut off, damaged).
    #[error("found {found} QR code(s) but could not read them")]
    Unreadable { found: usize },
    #[error("the image decoder failed on this input")]
    DecoderPanicked,
}

impl ImageDecodeError {
    pub fn code(&self) -> &'static str {
        match self {
            ImageDecodeError::Empty => "image_empty",
            ImageDecodeError::TooLarge { .. } => "image_too_large",
            ImageDecodeError::UnsupportedFormat => "image_unsupported_format",
            ImageDecodeError::TooManyPixels { .. } => "image_too_many_pixels",
            ImageDecodeError::Corrupt { .. } => "image_corrupt",
            ImageDecodeError::NoCode => "image_no_qr_code",
            ImageDecodeError::Unreadable { .. } => "image_qr_unreadable",
            ImageDecodeError::DecoderPanicked => "image_decoder_failed",
        }
    }

    pub fn message_ko(&self) -> &'static str {
        match self {
            ImageDecodeError::Empty
            | ImageDecodeError::UnsupportedFormat
            | ImageDecodeError::Corrupt { .. }
            | ImageDecodeError::DecoderPanicked => {
                "이미지를 열 수 없습니다. PNG나 JPEG 사진으로 다시 올려 주세요."
            }
            ImageDecodeError::TooLarge { .. } | ImageDecodeError::TooManyPixels { .. } => {
                "이미지가 너무 큽니다. 더 작은 사진으로 올려 주세요."
            }
            ImageDecodeError::NoCode => {
                "사진에서 QR 코드를 찾지 못했습니다. QR이 화면 가운데에 크게 나오게 다시 찍어 주세요."
            }
            ImageDecodeError::Unreadable { .. } => {
                "QR 코드를 찾았지만 읽지 못했습니다. 흔들리지 않게, 밝은 곳에서 다시 찍어 주세요."
            }
        }
    }

    pub fn message_en(&self) -> &'static str {
        match self {
            ImageDecodeError::Empty
            | ImageDecodeError::UnsupportedFormat
            | ImageDecodeError::Corrupt { .. }
            | ImageDecodeError::DecoderPanicked => {
                "The image could not be opened. Please upload a PNG or JPEG photo."
            }
            ImageDecodeError::TooLarge { .. } | ImageDecodeError::TooManyPixels { .. } => {
                "The image is too large. Please upload a smaller photo."
            }
            ImageDecodeError::NoCode => {
                "No QR code was found in the photo. Take it again with the code large and centred."
            }
            ImageDecodeError::Unreadable { .. } => {
                "A QR code was found but could not be read. Take the photo again, steady and in good light."
            }
        }
    }
}

/// Every QR payload found in a PNG or JPEG, as raw bytes (a QR code may hold non-UTF-8
/// data; [`classify`] names that case).
pub fn decode_image(bytes: &[u8]) -> Result<Vec<Vec<u8>>, ImageDecodeError> {
    let gray = load_gray(bytes)?;
    catch_unwind(AssertUnwindSafe(|| find_codes(&gray)))
        .unwrap_or(Err(ImageDecodeError::DecoderPanicked))
}

/// Decodes the image and classifies the best code in it: the first that is payable, else
/// the first found.
pub fn classify_image(
    bytes: &[u8],
    ctx: &impl ScanContext,
    now_us: u64,
) -> Result<ScanAnswer, ImageDecodeError> {
    let payloads = decode_image(bytes)?;
    let mut first = None;
    for payload in &payloads {
        let answer = classify(payload, ctx, now_us);
        if answer.is_payable() {
            return Ok(answer);
        }
        first.get_or_insert(answer);
    }
    first.ok_or(ImageDecodeError::NoCode)
}

fn load_gray(bytes: &[u8]) -> Result<GrayImage, ImageDecodeError> {
    if bytes.is_empty() {
        return Err(ImageDecodeError::Empty);
    }
    if bytes.len() > IMAGE_BYTES_MAX {
        return Err(ImageDecodeError::TooLarge { bytes: bytes.len() });
    }
    let format = match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Png | ImageFormat::Jpeg)) => f,
        _ => return Err(ImageDecodeError::UnsupportedFormat),
    };
    let decoded = catch_unwind(|| {
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        let mut limits = Limits::default();
        limits.max_alloc = Some(IMAGE_PIXELS_MAX * 4 + (64 << 20));
        reader.limits(limits.clone());
        let (w, h) = reader
            .into_dimensions()
            .map_err(|e| ImageDecodeError::Corrupt {
                detail: e.to_string(),
            })?;
        let pixels = u64::from(w) * u64::from(h);
        if pixels > IMAGE_PIXELS_MAX {
            return Err(ImageDecodeError::TooManyPixels { pixels });
        }
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        reader.limits(limits);
        let image = reader.decode().map_err(|e| ImageDecodeError::Corrupt {
            detail: e.to_string(),
        })?;
        Ok(image.into_luma8())
    });
    decoded.unwrap_or(Err(ImageDecodeError::DecoderPanicked))
}

fn find_codes(gray: &GrayImage) -> Result<Vec<Vec<u8>>, ImageDecodeError> {
    let mut grids_seen = 0;
    let small = downscale(gray, DOWNSCALE_SIDE_PX);
    let passes: [&dyn Fn() -> Pass; 4] = [
        &|| read_greyscale(gray),
        &|| match &small {
            Some(s) => read_greyscale(s),
            None => Pass::default(),
        },
        &|| read_bitmap(small.as_ref().unwrap_or(gray), false),
        &|| read_bitmap(small.as_ref().unwrap_or(gray), true),
    ];
    for pass in passes {
        let result = pass();
        grids_seen = grids_seen.max(result.grids);
        if !result.payloads.is_empty() {
            return Ok(result.payloads);
        }
    }
    if grids_seen > 0 {
        Err(ImageDecodeError::Unreadable { found: grids_seen })
    } else {
        Err(ImageDecodeError::NoCode)
    }
}

#[derive(Default)]
struct Pass {
    grids: usize,
    payloads: Vec<Vec<u8>>,
}

fn read_greyscale(gray: &GrayImage) -> Pass {
    let (w, h) = (gray.width() as usize, gray.height() as usize);
    let raw = gray.as_raw();
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| raw[y * w + x]);
    collect(prepared.detect_grids())
}

/// Otsu-thresholded (and optionally inverted) bitmap, bypassing rqrr's adaptive threshold.
fn read_bitmap(gray: &GrayImage, invert: bool) -> Pass {
    let threshold = otsu_threshold(gray);
    let (w, h) = (gray.width() as usize, gray.height() as usize);
    let raw = gray.as_raw();
    let mut prepared = rqrr::PreparedImage::prepare_from_bitmap(w, h, |x, y| {
        (raw[y * w + x] <= threshold) != invert
    });
    collect(prepared.detect_grids())
}

fn collect<G: rqrr::BitGrid>(grids: Vec<rqrr::Grid<G>>) -> Pass {
    let mut pass = Pass {
        grids: grids.len(),
        payloads: Vec::new(),
    };
    for grid in grids.iter().take(CODES_PER_IMAGE_MAX) {
        let mut out = Vec::new();
        if grid.decode_to(&mut out).is_ok() && !pass.payloads.contains(&out) {
            pass.payloads.push(out);
        }
    }
    pass
}

/// Averages `factor × factor` blocks so the longer side is at most about `target`.
/// `None` when the image is already small enough.
fn downscale(gray: &GrayImage, target: u32) -> Option<GrayImage> {
    let side = gray.width().max(gray.height());
    let factor = side.div_ceil(target);
    if factor < 2 {
        return None;
    }
    let (w, h) = (gray.width() / factor, gray.height() / factor);
    if w == 0 || h == 0 {
        return None;
    }
    let area = factor * factor;
    Some(GrayImage::from_fn(w, h, |x, y| {
        let mut sum = 0u32;
        for dy in 0..factor {
            for dx in 0..factor {
                sum += u32::from(gray.get_pixel(x * factor + dx, y * factor + dy).0[0]);
            }
        }
        image::Luma([u8::try_from(sum / area).unwrap_or(u8::MAX)])
    }))
}

/// Otsu's method: the gray level that best separates dark from light, in integers.
fn otsu_threshold(gray: &GrayImage) -> u8 {
    let mut histogram = [0u64; 256];
    for p in gray.as_raw() {
        histogram[usize::from(*p)] += 1;
    }
    let total: u64 = histogram.iter().sum();
    let sum_all: u64 = histogram
        .iter()
        .enumerate()
        .map(|(i, &n)| i as u64 * n)
        .sum();
    let (mut weight_dark, mut sum_dark) = (0u64, 0u64);
    let (mut best, mut best_score) = (127u8, 0u128);
    for (level, &count) in histogram.iter().enumerate() {
        weight_dark += count;
        sum_dark += level as u64 * count;
        let weight_light = total - weight_dark;
        if weight_dark == 0 || weight_light == 0 {
            continue;
        }
        // Between-class variance scaled by (w_d · w_l)², compared as integers.
        let mean_gap = i128::from(sum_dark) * i128::from(weight_light)
            - i128::from(sum_all - sum_dark) * i128::from(weight_dark);
        let score =
            mean_gap.unsigned_abs().pow(2) / (u128::from(weight_dark) * u128::from(weight_light));
        if score > best_score {
            best_score = score;
            best = u8::try_from(level).unwrap_or(u8::MAX);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otsu_splits_two_levels() {
        let img = GrayImage::from_fn(10, 10, |x, _| image::Luma([if x < 5 { 30 } else { 220 }]));
        let t = otsu_threshold(&img);
        assert!((30..220).contains(&t), "{t}");
    }

    #[test]
    fn refuses_non_images_cheaply() {
        assert_eq!(decode_image(b""), Err(ImageDecodeError::Empty));
        assert_eq!(
            decode_image(b"GIF89a...."),
            Err(ImageDecodeError::UnsupportedFormat)
        );
        assert!(matches!(
            decode_image(b"\x89PNG\r\n\x1a\n garbage"),
            Err(ImageDecodeError::Corrupt { .. })
        ));
    }
}
