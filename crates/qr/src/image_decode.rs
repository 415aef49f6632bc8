//! Reading QR codes out of PNG and JPEG photos (uploads from the web app, support tickets,
//! the import of old sticker scans), then classifying what they say.
//!
//! **Memory is bounded before any pixel is decoded.** A 60 KB PNG can claim 6900×6900
//! pixels, and a decoder that believed it would allocate a buffer of that size; many such
//! uploads at once exhaust a server. So, in order:
//! 1. The file's size ([`IMAGE_BYTES_MAX`]) and format (PNG or JPEG) are checked.
//! 2. The header alone is read for the dimensions. An image over [`IMAGE_PIXELS_MAX`]
//!    pixels, or with a side over [`IMAGE_SIDE_MAX`], is refused with
//!    [`ImageDecodeError::TooManyPixels`] (`image_too_many_pixels`: "the photo is too
//!    large; move closer to the code or send a smaller photo").
//! 3. From the header the decode is planned — the decoder's own buffers, the working
//!    image, the QR detector's copy — and refused the same way if the plan would need
//!    more than [`DECODE_MEMORY_MAX_BYTES`]. That constant is the bound on the heap one
//!    [`decode_image`] call allocates, for the server to size how many run at once.
//! 4. The decoders carry their own limits as a second guard: the PNG decoder's
//!    allocation limit, the JPEG decoder's maximum width and height.
//!
//! **Only a grayscale working image of at most [`WORKING_PIXELS_MAX`] pixels is ever
//! kept.** A PNG is decoded row by row, straight into the working image (each row
//! converted to gray and, for images larger than the working size, averaged into blocks
//! of 2×2 or more), so a PNG never exists at full size in memory. A JPEG is decoded by
//! `zune-jpeg` straight to gray (one byte per pixel instead of three; the chroma is not
//! even upsampled), then shrunk to the working size. `zune-jpeg` has no reduced-size
//! (DCT-scaled) decode, so the full-size gray image exists briefly; progressive JPEGs also
//! need the decoder's coefficient store, which the plan counts from the frame header.
//!
//! **Detection looks small first.** A sticker in a 4000×3000 phone photo needs no more
//! than about [`DETECT_SIDE_PX`] pixels on the long side, so `rqrr` first looks at the
//! working image shrunk to that size, then, cheapest first, until one yields a code:
//! 1. that image, with rqrr's own adaptive threshold;
//! 2. downscaled to about 800 px (averaging pixels), which removes sensor noise;
//! 3. a global Otsu threshold of the 800 px image (helps with uneven adaptive results on
//!    low-contrast prints);
//! 4. the inverse of 3, for light-on-dark codes;
//! 5. once, when the working image is larger than the first look: the working image
//!    itself with the adaptive threshold (a code small in the frame).
//!
//! Memory is bounded; time is not. rqrr's time grows steeply with size on noise-like
//! pictures (measured on random black-and-white noise: 0.2 s for all first-look passes
//! at 1600×1200, 4.4 s at 2400×1800, over ten minutes at 4000×3000, the last being pass
//! 5 on a 12-megapixel photo). The previous decoder ran that full-size pass first; the
//! server should bound how many decodes run at once.
//!
//! The image and QR decoders are third-party code fed with untrusted bytes, so their work
//! runs under `catch_unwind`: a panic inside them becomes an error answer, not a crash.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::{GrayImage, ImageFormat};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;

use crate::classify::{ScanAnswer, ScanContext, classify};

/// Largest image file accepted.
pub const IMAGE_BYTES_MAX: usize = 20 * 1024 * 1024;
/// Largest image accepted, in pixels (40 megapixels, e.g. 7300×5475), read from the
/// header before decoding.
pub const IMAGE_PIXELS_MAX: u64 = 40_000_000;
/// Longest side accepted, in pixels, read from the header before decoding.
pub const IMAGE_SIDE_MAX: u32 = 10_000;
/// Most pixels of the grayscale working image a photo is reduced to (whole-pixel block
/// averages). A 4000×3000 photo is kept at full size; larger ones are averaged 2×2 or more.
pub const WORKING_PIXELS_MAX: u64 = 12_000_000;
/// Long side of the first look for a code. A sticker-sized code in a phone photo is read
/// at this size; a code small in the frame is looked for again in the working image.
pub const DETECT_SIDE_PX: u32 = 1_600;
/// The most heap one [`decode_image`] (or [`classify_image`]) call allocates: 64 MiB.
///
/// Every decode is planned from the image header and refused
/// ([`ImageDecodeError::TooManyPixels`]) before any pixel buffer exists when its plan
/// needs more: the decoder's buffers (for a progressive JPEG its coefficient store), the
/// full-size gray JPEG, the working image, and the QR detector's copy of it, with
/// [`DETECT_OVERHEAD_BYTES`] for the detector's bookkeeping. The input bytes, which the
/// caller holds, are not counted. Measured peaks (example `decode_memory`): a 4000×3000
/// JPEG photo 16 MB when the first look finds the code, 36 MB when only the working image
/// does; a 7300×5475 (40-megapixel) JPEG 50 MB; a 6900×6900 PNG refused from its header
/// after 20 KB (the PNG decoder's header buffers).
///
/// The QR detector's bookkeeping depends on the picture, not only its size; the
/// allowance for it is measured, not proven (see `Plan::detect_bytes`).
pub const DECODE_MEMORY_MAX_BYTES: u64 = 64 << 20;
/// Allowance in [`DECODE_MEMORY_MAX_BYTES`] for the small first-look images and the QR
/// detector's capstones and grids.
pub const DETECT_OVERHEAD_BYTES: u64 = 4 << 20;
/// Most codes read from one image.
pub const CODES_PER_IMAGE_MAX: usize = 8;
/// Target side for the denoised second pass and the Otsu passes.
const DOWNSCALE_SIDE_PX: u32 = 800;
/// The PNG decoder's own allocation limit (rows, decompression window, chunks it keeps):
/// the second guard behind the plan.
const PNG_DECODER_BYTES_MAX: usize = 4 << 20;

/// Why no payload came out of an image.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageDecodeError {
    #[error("no image data")]
    Empty,
    #[error("image file is {bytes} bytes; at most {IMAGE_BYTES_MAX} accepted")]
    TooLarge { bytes: usize },
    #[error("not a PNG or JPEG image")]
    UnsupportedFormat,
    /// Refused from the header, before decoding: over [`IMAGE_PIXELS_MAX`] pixels, a side
    /// over [`IMAGE_SIDE_MAX`], or a decode that would need more than
    /// [`DECODE_MEMORY_MAX_BYTES`].
    #[error(
        "image is {width}×{height} pixels; at most {IMAGE_PIXELS_MAX} pixels, {IMAGE_SIDE_MAX} a side and {DECODE_MEMORY_MAX_BYTES} bytes to decode"
    )]
    TooManyPixels { width: u32, height: u32 },
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
                "사진이 너무 큽니다. QR 코드에 더 가까이 다가가 찍거나 더 작은 사진을 보내 주세요."
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
                "The photo is too large. Move closer to the code, or send a smaller photo."
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
/// data; [`classify`] names that case). Allocates at most [`DECODE_MEMORY_MAX_BYTES`].
pub fn decode_image(bytes: &[u8]) -> Result<Vec<Vec<u8>>, ImageDecodeError> {
    let working = load_working(bytes)?;
    catch_unwind(AssertUnwindSafe(|| find_codes(working)))
        .unwrap_or(Err(ImageDecodeError::DecoderPanicked))
}

/// What the file's header alone says: its format, and whether its dimensions are within
/// the bounds ([`IMAGE_PIXELS_MAX`], [`IMAGE_SIDE_MAX`]). Reads no pixels, so a server
/// can refuse a decompression bomb before it gives the file one of its few decode places.
/// [`decode_image`] makes the same checks and more (memory for the format's details).
pub fn check_image_header(bytes: &[u8]) -> Result<(), ImageDecodeError> {
    if bytes.is_empty() {
        return Err(ImageDecodeError::Empty);
    }
    if bytes.len() > IMAGE_BYTES_MAX {
        return Err(ImageDecodeError::TooLarge { bytes: bytes.len() });
    }
    let dimensions = || match image::guess_format(bytes) {
        Ok(ImageFormat::Png) => {
            let limits = png::Limits {
                bytes: PNG_DECODER_BYTES_MAX,
            };
            let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
            let info = decoder.read_header_info().map_err(corrupt)?;
            Ok((info.width, info.height))
        }
        Ok(ImageFormat::Jpeg) => jpeg_frame(bytes)
            .map(|f| (f.width, f.height))
            .ok_or_else(|| corrupt("no JPEG frame header")),
        _ => Err(ImageDecodeError::UnsupportedFormat),
    };
    let (width, height) =
        catch_unwind(dimensions).unwrap_or(Err(ImageDecodeError::DecoderPanicked))?;
    Plan::new(width, height).map(|_| ())
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

fn corrupt(e: impl std::fmt::Display) -> ImageDecodeError {
    ImageDecodeError::Corrupt {
        detail: e.to_string(),
    }
}

/// The grayscale working image of a PNG or JPEG file, within the memory plan.
fn load_working(bytes: &[u8]) -> Result<GrayImage, ImageDecodeError> {
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
    catch_unwind(|| match format {
        ImageFormat::Png => png_working(bytes),
        _ => jpeg_working(bytes),
    })
    .unwrap_or(Err(ImageDecodeError::DecoderPanicked))
}

/// How an image of `width × height` is reduced: whole `factor × factor` blocks (the
/// remainder rows and columns, fewer than `factor`, are dropped) to `width × height`
/// of the working image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Plan {
    factor: u32,
    width: u32,
    height: u32,
}

impl Plan {
    /// Checks the header's dimensions against the bounds and picks the smallest block
    /// factor that brings the image within [`WORKING_PIXELS_MAX`].
    fn new(width: u32, height: u32) -> Result<Plan, ImageDecodeError> {
        let pixels = u64::from(width) * u64::from(height);
        if pixels > IMAGE_PIXELS_MAX || width > IMAGE_SIDE_MAX || height > IMAGE_SIDE_MAX {
            return Err(ImageDecodeError::TooManyPixels { width, height });
        }
        if pixels == 0 {
            return Err(corrupt("the image has no pixels"));
        }
        let factor = (1..)
            .find(|f| u64::from(width / f) * u64::from(height / f) <= WORKING_PIXELS_MAX)
            .unwrap_or(1);
        Ok(Plan {
            factor,
            width: (width / factor).max(1),
            height: (height / factor).max(1),
        })
    }

    fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// Heap for detection: the working image, rqrr's copy of it, rqrr's regions and
    /// flood-fill queues (measured at most about a byte a pixel on noisy photos and on
    /// random noise), its row sums (one `usize` a column), and the overhead.
    fn detect_bytes(&self) -> u64 {
        3 * self.pixels() + 8 * u64::from(self.width) + DETECT_OVERHEAD_BYTES
    }

    /// Refuses the image when decoding it (`decode_bytes`, working image included) or
    /// detecting in it would need more than [`DECODE_MEMORY_MAX_BYTES`].
    fn check(&self, decode_bytes: u64, image: (u32, u32)) -> Result<(), ImageDecodeError> {
        if decode_bytes.max(self.detect_bytes()) > DECODE_MEMORY_MAX_BYTES {
            return Err(ImageDecodeError::TooManyPixels {
                width: image.0,
                height: image.1,
            });
        }
        Ok(())
    }
}

// ----- PNG: row by row into the working image ------------------------------------------

fn png_working(bytes: &[u8]) -> Result<GrayImage, ImageDecodeError> {
    let limits = png::Limits {
        bytes: PNG_DECODER_BYTES_MAX,
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    // 8-bit gray, gray+alpha, RGB or RGBA out, whatever the file's depth and palette.
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    decoder.set_ignore_text_chunk(true);
    decoder.set_ignore_iccp_chunk(true);
    let (width, height) = {
        let info = decoder.read_header_info().map_err(corrupt)?;
        (info.width, info.height)
    };
    let plan = Plan::new(width, height)?;
    // Rows: the decoder's current and previous raw rows and its output row (8 bytes a
    // pixel at most), the decompression window; ours: a `u32` sum per working column.
    let row = 8 * u64::from(width);
    plan.check(
        plan.pixels() + 4 * u64::from(plan.width) + 3 * row + (1 << 20),
        (width, height),
    )?;
    let mut reader = decoder.read_info().map_err(corrupt)?;
    let channels = reader.output_color_type().0.samples();
    if reader.output_color_type().1 != png::BitDepth::Eight || !(1..=4).contains(&channels) {
        return Err(corrupt("unexpected PNG sample layout"));
    }
    let mut out = GrayImage::new(plan.width, plan.height);
    if reader.info().interlaced {
        png_interlaced(&mut reader, &plan, channels, &mut out)?;
    } else {
        png_progressive(&mut reader, &plan, channels, &mut out)?;
    }
    Ok(out)
}

/// Rows in order: each working pixel is the exact average of its block.
fn png_progressive<R: std::io::BufRead + std::io::Seek>(
    reader: &mut png::Reader<R>,
    plan: &Plan,
    channels: usize,
    out: &mut GrayImage,
) -> Result<(), ImageDecodeError> {
    let f = plan.factor as usize;
    let (out_w, out_h) = (plan.width as usize, plan.height as usize);
    let mut sums = vec![0u32; out_w];
    let area = u32::try_from(f * f).unwrap_or(u32::MAX);
    let out_raw: &mut [u8] = out;
    for y in 0..out_h * f {
        let row = reader
            .next_row()
            .map_err(corrupt)?
            .ok_or_else(|| corrupt("PNG ends before its last row"))?;
        let data = row.data();
        for (x, px) in data.chunks_exact(channels).take(out_w * f).enumerate() {
            sums[x / f] += u32::from(luma(px));
        }
        if (y + 1) % f == 0 {
            let line = &mut out_raw[(y / f) * out_w..(y / f + 1) * out_w];
            for (o, s) in line.iter_mut().zip(sums.iter_mut()) {
                *o = u8::try_from(*s / area).unwrap_or(u8::MAX);
                *s = 0;
            }
        }
    }
    Ok(())
}

/// Adam7 passes: every pixel arrives once, in pass order. At full size each lands in its
/// place; reduced, each block takes its top-left pixel (interlaced photos are rare, and
/// a block average would need a sum for every working pixel).
fn png_interlaced<R: std::io::BufRead + std::io::Seek>(
    reader: &mut png::Reader<R>,
    plan: &Plan,
    channels: usize,
    out: &mut GrayImage,
) -> Result<(), ImageDecodeError> {
    // (x sampling, x offset, y sampling, y offset) of passes 1–7.
    const PASSES: [(u32, u32, u32, u32); 7] = [
        (8, 0, 8, 0),
        (8, 4, 8, 0),
        (4, 0, 8, 4),
        (4, 2, 4, 0),
        (2, 0, 4, 2),
        (2, 1, 2, 0),
        (1, 0, 2, 1),
    ];
    let (width, height) = (reader.info().width, reader.info().height);
    let f = plan.factor;
    for (xs, xo, ys, yo) in PASSES {
        let samples = width.saturating_sub(xo).div_ceil(xs);
        let lines = height.saturating_sub(yo).div_ceil(ys);
        if samples == 0 {
            continue;
        }
        for line in 0..lines {
            let row = reader
                .next_row()
                .map_err(corrupt)?
                .ok_or_else(|| corrupt("PNG ends before its last row"))?;
            let data = row.data();
            if data.len() != samples as usize * channels {
                return Err(corrupt("unexpected interlaced row length"));
            }
            let y = yo + line * ys;
            if y % f != 0 || y / f >= plan.height {
                continue;
            }
            for (i, px) in data.chunks_exact(channels).enumerate() {
                let x = xo + u32::try_from(i).unwrap_or(u32::MAX).saturating_mul(xs);
                if x % f == 0 && x / f < plan.width {
                    out.put_pixel(x / f, y / f, image::Luma([luma(px)]));
                }
            }
        }
    }
    Ok(())
}

/// One 8-bit gray, gray+alpha, RGB or RGBA pixel as gray (Rec. 709 weights), transparent
/// parts over white: a code drawn on a transparent background reads as printed.
fn luma(px: &[u8]) -> u8 {
    let (gray, alpha) = match *px {
        [g] => (u32::from(g), 255),
        [g, a] => (u32::from(g), u32::from(a)),
        [r, g, b] => (rgb_luma(r, g, b), 255),
        [r, g, b, a] => (rgb_luma(r, g, b), u32::from(a)),
        _ => (255, 255),
    };
    let over_white = (gray * alpha + 255 * (255 - alpha) + 127) / 255;
    u8::try_from(over_white).unwrap_or(u8::MAX)
}

fn rgb_luma(r: u8, g: u8, b: u8) -> u32 {
    (54 * u32::from(r) + 183 * u32::from(g) + 19 * u32::from(b) + 128) >> 8
}

// ----- JPEG: zune-jpeg straight to gray, then shrunk --------------------------------------

/// What the memory plan needs from a JPEG frame header (SOFn).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct JpegFrame {
    width: u32,
    height: u32,
    progressive: bool,
    /// Horizontal and vertical sampling factors of each component (at most 4 kept).
    sampling: [(u8, u8); 4],
    components: usize,
}

impl JpegFrame {
    /// Bytes the decoder allocates besides its output: for a progressive image the
    /// coefficients of every component (two bytes a sample, padded to whole blocks of
    /// the largest sampling); for a baseline one, a few rows of blocks.
    fn decoder_bytes(&self) -> u64 {
        let comps = &self.sampling[..self.components.min(4)];
        let h_max = u64::from(comps.iter().map(|c| c.0).max().unwrap_or(1).max(1));
        let v_max = u64::from(comps.iter().map(|c| c.1).max().unwrap_or(1).max(1));
        let mcu_x = u64::from(self.width).div_ceil(8 * h_max);
        let mcu_y = u64::from(self.height).div_ceil(8 * v_max);
        let blocks_per_mcu: u64 = comps
            .iter()
            .map(|c| u64::from(c.0.max(1)) * u64::from(c.1.max(1)))
            .sum();
        if self.progressive {
            // zune-jpeg keeps `v_max / h_max` times the rows for vertically subsampled
            // images read out as gray (4:4:0); count that wherever it could apply.
            let rows = v_max.div_ceil(h_max).max(1);
            128 * mcu_x * mcu_y * rows * blocks_per_mcu
        } else {
            8 * 128 * mcu_x * blocks_per_mcu + (1 << 20)
        }
    }
}

/// Reads the frame header (the first SOFn segment) without decoding anything.
fn jpeg_frame(bytes: &[u8]) -> Option<JpegFrame> {
    if bytes.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut i = 2;
    loop {
        if *bytes.get(i)? != 0xFF {
            return None;
        }
        while *bytes.get(i)? == 0xFF {
            i += 1;
        }
        let marker = *bytes.get(i)?;
        i += 1;
        match marker {
            // Markers without a length.
            0x01 | 0xD0..=0xD8 => continue,
            // Scan data or the end before any frame header.
            0xD9 | 0xDA => return None,
            _ => {}
        }
        let len = usize::from(u16::from_be_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]));
        if len < 2 {
            return None;
        }
        let segment = bytes.get(i + 2..i + len)?;
        if matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF) {
            let height = u16::from_be_bytes([*segment.get(1)?, *segment.get(2)?]);
            let width = u16::from_be_bytes([*segment.get(3)?, *segment.get(4)?]);
            let components = usize::from(*segment.get(5)?);
            let mut sampling = [(1, 1); 4];
            for (k, s) in sampling.iter_mut().enumerate().take(components) {
                let hv = *segment.get(6 + 3 * k + 1)?;
                *s = (hv >> 4, hv & 0x0F);
            }
            return Some(JpegFrame {
                width: u32::from(width),
                height: u32::from(height),
                progressive: matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE),
                sampling,
                components,
            });
        }
        i += len;
    }
}

fn jpeg_working(bytes: &[u8]) -> Result<GrayImage, ImageDecodeError> {
    let frame = jpeg_frame(bytes).ok_or_else(|| corrupt("no JPEG frame header"))?;
    if frame.components == 0 || frame.components > 4 {
        return Err(corrupt("unsupported number of JPEG components"));
    }
    let plan = Plan::new(frame.width, frame.height)?;
    let side = IMAGE_SIDE_MAX as usize;
    let options = DecoderOptions::default()
        .set_strict_mode(false)
        .set_max_width(side)
        .set_max_height(side);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode_headers().map_err(corrupt)?;
    let (width, height) = decoder
        .dimensions()
        .ok_or_else(|| corrupt("JPEG headers unread"))?;
    if (width, height) != (frame.width as usize, frame.height as usize) {
        return Err(corrupt("JPEG frame header disagrees with the decoder"));
    }
    // Gray straight out of the decoder where it can (YCbCr, gray); CMYK and YCCK only go
    // to RGB, which is then reduced to gray in place.
    let gray_out = matches!(
        decoder.input_colorspace(),
        Some(ColorSpace::YCbCr | ColorSpace::Luma)
    );
    let out_space = if gray_out {
        ColorSpace::Luma
    } else {
        ColorSpace::RGB
    };
    decoder.set_options(options.jpeg_set_out_colorspace(out_space));
    let channels = out_space.num_components();
    let full = u64::from(frame.width) * u64::from(frame.height);
    let shrunk = if plan.factor > 1 { plan.pixels() } else { 0 };
    let out_bytes = full * channels as u64;
    plan.check(
        (frame.decoder_bytes() + out_bytes).max(full + shrunk),
        (frame.width, frame.height),
    )?;
    let len = decoder
        .output_buffer_size()
        .filter(|&n| n as u64 == out_bytes)
        .ok_or_else(|| corrupt("unexpected JPEG output size"))?;
    let mut pixels = vec![0u8; len];
    decoder.decode_into(&mut pixels).map_err(corrupt)?;
    drop(decoder);
    if channels == 3 {
        for i in 0..len / 3 {
            pixels[i] = u8::try_from(rgb_luma(
                pixels[3 * i],
                pixels[3 * i + 1],
                pixels[3 * i + 2],
            ))
            .unwrap_or(u8::MAX);
        }
        pixels.truncate(len / 3);
    }
    let full = GrayImage::from_raw(frame.width, frame.height, pixels)
        .ok_or_else(|| corrupt("JPEG output does not match its size"))?;
    Ok(shrink_by(full, plan.factor))
}

// ----- detection ----------------------------------------------------------------------

fn find_codes(working: GrayImage) -> Result<Vec<Vec<u8>>, ImageDecodeError> {
    let mut grids_seen = 0;
    let mut seen = |pass: Pass| {
        grids_seen = grids_seen.max(pass.grids);
        (!pass.payloads.is_empty()).then_some(pass.payloads)
    };
    {
        // The first look, at most DETECT_SIDE_PX on the long side; dropped before the
        // second, so that the two never hold memory at once.
        let first = shrink_to_side(&working, DETECT_SIDE_PX);
        let first = first.as_ref().unwrap_or(&working);
        if let Some(found) = seen(read_greyscale(first)) {
            return Ok(found);
        }
        let small = shrink_to_side(first, DOWNSCALE_SIDE_PX);
        if let Some(s) = &small
            && let Some(found) = seen(read_greyscale(s))
        {
            return Ok(found);
        }
        let small = small.as_ref().unwrap_or(first);
        for invert in [false, true] {
            if let Some(found) = seen(read_bitmap(small, invert)) {
                return Ok(found);
            }
        }
    }
    if working.width().max(working.height()) > DETECT_SIDE_PX
        && let Some(found) = seen(read_greyscale(&working))
    {
        return Ok(found);
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
fn shrink_to_side(gray: &GrayImage, target: u32) -> Option<GrayImage> {
    let side = gray.width().max(gray.height());
    let factor = side.div_ceil(target);
    if factor < 2 {
        return None;
    }
    shrink(gray, factor)
}

/// The image averaged over `factor × factor` blocks (itself when `factor` is 1).
fn shrink_by(gray: GrayImage, factor: u32) -> GrayImage {
    if factor < 2 {
        return gray;
    }
    shrink(&gray, factor).unwrap_or(gray)
}

fn shrink(gray: &GrayImage, factor: u32) -> Option<GrayImage> {
    let (w, h) = (gray.width() / factor, gray.height() / factor);
    if w == 0 || h == 0 {
        return None;
    }
    let area = factor * factor;
    let (src_w, f) = (gray.width() as usize, factor as usize);
    let raw = gray.as_raw();
    Some(GrayImage::from_fn(w, h, |x, y| {
        let (x0, y0) = (x as usize * f, y as usize * f);
        let sum: u32 = (y0..y0 + f)
            .map(|row| {
                let start = row * src_w + x0;
                raw[start..start + f]
                    .iter()
                    .map(|&p| u32::from(p))
                    .sum::<u32>()
            })
            .sum();
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
        assert!(matches!(
            decode_image(b"\xFF\xD8\xFF\xE0\x00\x10JFIF"),
            Err(ImageDecodeError::Corrupt { .. })
        ));
    }

    #[test]
    fn plans_stay_within_the_bounds() {
        let too_big = |w, h| {
            assert_eq!(
                Plan::new(w, h),
                Err(ImageDecodeError::TooManyPixels {
                    width: w,
                    height: h
                })
            );
        };
        too_big(6900, 6900);
        too_big(IMAGE_SIDE_MAX + 1, 10);
        too_big(10, IMAGE_SIDE_MAX + 1);
        too_big(u32::MAX, u32::MAX);
        // A 12-megapixel photo is kept whole; 40 megapixels are averaged 2×2.
        let photo = Plan::new(4000, 3000).unwrap();
        assert_eq!((photo.factor, photo.width, photo.height), (1, 4000, 3000));
        let big = Plan::new(7300, 5475).unwrap();
        assert_eq!(big.factor, 2);
        // Every accepted size plans within the memory bound, at either extreme.
        for (w, h) in [
            (4000, 3000),
            (7300, 5475),
            (10_000, 4000),
            (3464, 3464),
            (1, 10_000),
        ] {
            let plan = Plan::new(w, h).unwrap();
            assert!(plan.pixels() <= WORKING_PIXELS_MAX);
            assert!(plan.detect_bytes() <= DECODE_MEMORY_MAX_BYTES, "{w}×{h}");
        }
    }

    #[test]
    fn the_header_check_refuses_a_bomb_and_passes_a_fair_image() {
        // SOI then SOF0 declaring 60,000 × 60,000 pixels: refused from 21 bytes.
        let mut jpeg = vec![
            0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 8, 0xEA, 0x60, 0xEA, 0x60, 3,
        ];
        jpeg.extend_from_slice(&[1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        assert_eq!(
            check_image_header(&jpeg),
            Err(ImageDecodeError::TooManyPixels {
                width: 60_000,
                height: 60_000
            })
        );
        let fair = crate::render_png("hello", &crate::QrOptions::default()).unwrap();
        assert_eq!(check_image_header(&fair), Ok(()));
        assert_eq!(check_image_header(b""), Err(ImageDecodeError::Empty));
        assert_eq!(
            check_image_header(b"GIF89a\x01\x00"),
            Err(ImageDecodeError::UnsupportedFormat)
        );
    }

    #[test]
    fn jpeg_frame_header_is_read_without_decoding() {
        // SOI, an APP0 segment, then SOF2 (progressive) 3000×4000 with 4:2:0 sampling.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00];
        jpeg.extend_from_slice(&[0xFF, 0xC2, 0x00, 0x11, 8, 0x0F, 0xA0, 0x0B, 0xB8, 3]);
        jpeg.extend_from_slice(&[1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        let frame = jpeg_frame(&jpeg).unwrap();
        assert_eq!((frame.width, frame.height), (3000, 4000));
        assert!(frame.progressive);
        assert_eq!(frame.components, 3);
        assert_eq!(&frame.sampling[..3], &[(2, 2), (1, 1), (1, 1)]);
        // Coefficients: 12 M luma samples (padded to 16×16 blocks) and two quarter-size
        // chroma planes, two bytes each: about 3 bytes a pixel.
        assert_eq!(frame.decoder_bytes(), 128 * 188 * 250 * 6);
        for cut in 0..jpeg.len() - 1 {
            assert_eq!(jpeg_frame(&jpeg[..cut]), None, "{cut}");
        }
    }

    #[test]
    fn luma_composites_transparency_over_white() {
        assert_eq!(luma(&[0]), 0);
        assert_eq!(luma(&[0, 0]), 255);
        assert_eq!(luma(&[0, 0, 0, 255]), 0);
        assert_eq!(luma(&[255, 255, 255]), 255);
        assert_eq!(luma(&[0, 0, 0, 0]), 255);
    }
}
