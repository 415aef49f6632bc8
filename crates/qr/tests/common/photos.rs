//! Test images: a PNG decompression bomb and phone-sized photos with one of our sticker
//! codes in them. Shared by the memory tests and the `decode_memory` example.

use std::io::Cursor;

use image::{GrayImage, ImageEncoder, Rgb, RgbImage};
use qr::{MerchantCode, QrOptions, render_png};

/// The sticker payload the photos carry.
pub fn payload() -> String {
    MerchantCode::new_static("busan-dongbaek", 1_234_567, 5812, "동백 분식", "부산")
        .encode()
        .unwrap_or_default()
}

/// A solid grey PNG of `w × h`: a few dozen kilobytes that claim `w × h` pixels. Written
/// row by row, so making it does not need the pixels either.
pub fn bomb_png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = write_bomb(&mut out, w, h);
    out
}

fn write_bomb(out: &mut Vec<u8>, w: u32, h: u32) -> Result<(), Box<dyn std::error::Error>> {
    let mut encoder = png::Encoder::new(Cursor::new(out), w, h);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    encoder.set_filter(png::Filter::NoFilter);
    let mut writer = encoder.write_header()?;
    let mut stream = writer.stream_writer()?;
    let row = vec![200u8; w as usize];
    for _ in 0..h {
        std::io::Write::write_all(&mut stream, &row)?;
    }
    stream.finish()?;
    Ok(())
}

/// A colour photo of `w × h`: a warm wall lit from the left with sensor noise, and the
/// sticker code (rendered with `qr::render_png`, `module_px` pixels a module) pasted a
/// little right of centre, a little noisy itself.
pub fn photo(w: u32, h: u32, module_px: u32) -> RgbImage {
    let opts = QrOptions {
        module_px,
        ..QrOptions::default()
    };
    let code = render_png(&payload(), &opts)
        .ok()
        .and_then(|png| image::load_from_memory(&png).ok())
        .map(|i| i.into_luma8())
        .unwrap_or_else(|| GrayImage::new(1, 1));
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut noise = move || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 56) as u8
    };
    let mut photo = RgbImage::from_fn(w, h, |x, y| {
        let light = 200 - (x * 80 / w) as i32 - (y * 30 / h) as i32;
        let n = i32::from(noise() % 24) - 12;
        let c = |base: i32| (base + n).clamp(0, 255) as u8;
        Rgb([c(light), c(light - 15), c(light - 40)])
    });
    let (ox, oy) = (w * 11 / 20, h * 3 / 10);
    for (x, y, p) in code.enumerate_pixels() {
        let (px, py) = (ox + x, oy + y);
        if px < w && py < h {
            let n = i32::from(noise() % 32) - 16;
            let v = if p.0[0] < 128 { 35 + n } else { 225 + n };
            let v = v.clamp(0, 255) as u8;
            photo.put_pixel(px, py, Rgb([v, v, v.saturating_sub(8)]));
        }
    }
    photo
}

/// `photo` as a JPEG of quality 85, as a phone sends it.
pub fn photo_jpeg(w: u32, h: u32, module_px: u32) -> Vec<u8> {
    let photo = photo(w, h, module_px);
    let mut out = Vec::new();
    let _ = image::codecs::jpeg::JpegEncoder::new_with_quality(Cursor::new(&mut out), 85)
        .write_image(photo.as_raw(), w, h, image::ExtendedColorType::Rgb8);
    out
}

/// `photo` as an RGB PNG (a screenshot, or a photo saved losslessly).
pub fn photo_png(w: u32, h: u32, module_px: u32) -> Vec<u8> {
    let photo = photo(w, h, module_px);
    let mut out = Vec::new();
    let _ = image::codecs::png::PngEncoder::new(Cursor::new(&mut out)).write_image(
        photo.as_raw(),
        w,
        h,
        image::ExtendedColorType::Rgb8,
    );
    out
}
