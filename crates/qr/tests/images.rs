//! Encode → render → decode from the image → classify, for every kind of code, plus the
//! ways an image can fail to give one.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::io::Cursor;

use image::{GrayImage, ImageEncoder, Luma};
use qr::render::render_image;
use qr::{
    ConsumerCodes, ConsumerConfig, ConsumerSecret, ImageDecodeError, MemoryContext, MerchantCode,
    QrOptions, Recognised, ScanAnswer, Sticker, StickerPngOptions, TokenId, classify_image,
    decode_image, render_png, render_sticker_png, render_sticker_svg, render_svg,
};

const OURS: &str = "busan-dongbaek";
const NOW_US: u64 = 1_790_000_000_000_000;

fn shop() -> MerchantCode {
    MerchantCode::new_static(OURS, 4_242, 5812, "동백 분식", "부산")
}

fn ctx() -> MemoryContext {
    let mut ctx = MemoryContext::new(OURS);
    ctx.add_active(4_242);
    ctx
}

fn decode_one(image_bytes: &[u8]) -> String {
    let payloads = decode_image(image_bytes).unwrap();
    assert_eq!(payloads.len(), 1);
    String::from_utf8(payloads[0].clone()).unwrap()
}

fn jpeg(image: &GrayImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(Cursor::new(&mut out), quality)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::L8,
        )
        .unwrap();
    out
}

fn png(image: &GrayImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(Cursor::new(&mut out))
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::L8,
        )
        .unwrap();
    out
}

#[test]
fn static_code_round_trips_through_png() {
    let payload = shop().encode().unwrap();
    let image = render_png(&payload, &QrOptions::default()).unwrap();
    assert_eq!(decode_one(&image), payload);
    let answer = classify_image(&image, &ctx(), NOW_US).unwrap();
    assert!(
        matches!(&answer, ScanAnswer::Merchant(t) if t.merchant == 4_242 && t.via == Recognised::MaeulStatic),
        "{answer:?}"
    );
}

#[test]
fn dynamic_code_round_trips_through_png() {
    let payload = shop()
        .with_amount(15_000)
        .with_reference("T-88")
        .encode()
        .unwrap();
    let image = render_png(&payload, &QrOptions::default()).unwrap();
    assert_eq!(decode_one(&image), payload);
    let answer = classify_image(&image, &ctx(), NOW_US).unwrap();
    assert!(
        matches!(&answer, ScanAnswer::Merchant(t) if t.amount_won == Some(15_000)),
        "{answer:?}"
    );
}

#[test]
fn consumer_code_round_trips_through_png() {
    let secret = ConsumerSecret([5; 32]);
    let issuer = ConsumerCodes::new(&secret, OURS, ConsumerConfig::default()).unwrap();
    let issued = issuer.issue(TokenId([8; 10]), NOW_US);
    let image = render_png(&issued.text, &QrOptions::default()).unwrap();
    assert_eq!(decode_one(&image), issued.text);
    let verifier = ConsumerCodes::new(&secret, OURS, ConsumerConfig::default()).unwrap();
    let merchant_side = ctx().with_consumer_codes(verifier);
    let answer = classify_image(&image, &merchant_side, NOW_US).unwrap();
    assert_eq!(
        answer,
        ScanAnswer::Payer(qr::VerifiedCode {
            token: TokenId([8; 10]),
            issued_at_us: issued.issued_at_us,
            expires_at_us: issued.expires_at_us,
        })
    );
    // The 56 alphanumeric characters fit a small code: version 3 (29 modules) at level M.
    let matrix = qr::render::QrMatrix::encode(&issued.text, qr::ErrorCorrection::M).unwrap();
    assert_eq!(matrix.width(), 29);
}

#[test]
fn jpeg_round_trip() {
    let payload = shop().with_amount(2_000).encode().unwrap();
    let image = render_image(&payload, &QrOptions::default()).unwrap();
    assert_eq!(decode_one(&jpeg(&image, 70)), payload);
}

#[test]
fn a_large_noisy_jpeg_photo_is_read() {
    let payload = shop().encode().unwrap();
    let opts = QrOptions {
        module_px: 40,
        ..QrOptions::default()
    };
    let mut image = render_image(&payload, &opts).unwrap();
    // Deterministic speckle noise (an LCG, seeded) and a grey cast.
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for p in image.pixels_mut() {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let noise = (seed >> 58) as u8; // 0..63
        p.0[0] = if p.0[0] == 0 { 40 + noise } else { 150 + noise };
    }
    assert!(image.width() > 1500);
    assert_eq!(decode_one(&jpeg(&image, 60)), payload);
}

#[test]
fn light_on_dark_codes_are_read_inverted() {
    let payload = shop().encode().unwrap();
    let mut image = render_image(&payload, &QrOptions::default()).unwrap();
    for p in image.pixels_mut() {
        p.0[0] = 255 - p.0[0];
    }
    assert_eq!(decode_one(&png(&image)), payload);
}

#[test]
fn svg_renders_are_well_formed() {
    let payload = shop().encode().unwrap();
    let svg = render_svg(&payload, &QrOptions::default()).unwrap();
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    let sticker = Sticker {
        payload: &payload,
        merchant_name: "동백 분식 & <김밥>",
        currency_name: "동백전",
        call_to_action: qr::CALL_TO_ACTION,
    };
    let svg = render_sticker_svg(&sticker).unwrap();
    assert!(svg.contains(r#"width="105mm" height="148mm""#));
    assert!(svg.contains("동백 분식 &amp; &lt;김밥&gt;"));
    assert!(svg.contains("동백전"));
    assert!(svg.contains("QR로 결제하세요 / Scan to pay"));
}

/// A Korean font if this machine has one (Debian `fonts-nanum` or `fonts-noto-cjk`).
fn korean_font() -> Option<Vec<u8>> {
    [
        "/usr/share/fonts/truetype/nanum/NanumGothic.ttf",
        "/usr/share/fonts/truetype/nanum/NanumGothicBold.ttf",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    ]
    .iter()
    .find_map(|p| std::fs::read(p).ok())
}

#[test]
fn png_sticker_carries_a_readable_code_with_or_without_text() {
    let payload = shop().encode().unwrap();
    let sticker = Sticker {
        payload: &payload,
        merchant_name: "동백 분식",
        currency_name: "동백전",
        call_to_action: qr::CALL_TO_ACTION,
    };
    let bare = render_sticker_png(
        &sticker,
        &StickerPngOptions {
            dpi: 150,
            font: None,
        },
    )
    .unwrap();
    assert_eq!((bare.width_px, bare.height_px), (620, 874));
    assert_eq!((bare.text_lines_drawn, bare.text_lines_skipped), (0, 3));
    assert_eq!(decode_one(&bare.png), payload);

    if let Some(font) = korean_font() {
        let with_text = render_sticker_png(
            &sticker,
            &StickerPngOptions {
                dpi: 150,
                font: Some(&font),
            },
        )
        .unwrap();
        assert_eq!(with_text.text_lines_drawn, 3);
        assert_ne!(with_text.png, bare.png);
        assert_eq!(decode_one(&with_text.png), payload);
    }
    // A Latin-only font draws the Latin line and leaves out the Korean ones.
    if let Ok(latin) = std::fs::read("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf") {
        let latin_only = Sticker {
            currency_name: "Dongbaek",
            ..sticker
        };
        let out = render_sticker_png(
            &latin_only,
            &StickerPngOptions {
                dpi: 150,
                font: Some(&latin),
            },
        )
        .unwrap();
        assert_eq!((out.text_lines_drawn, out.text_lines_skipped), (1, 2));
    }
    assert_eq!(
        render_sticker_png(
            &sticker,
            &StickerPngOptions {
                dpi: 150,
                font: Some(b"not a font")
            }
        )
        .unwrap_err()
        .code(),
        "render_invalid_font"
    );
}

#[test]
fn images_without_a_readable_code_say_why() {
    let blank = GrayImage::from_pixel(200, 200, Luma([255]));
    assert_eq!(decode_image(&png(&blank)), Err(ImageDecodeError::NoCode));
    assert_eq!(
        classify_image(&png(&blank), &ctx(), NOW_US)
            .unwrap_err()
            .code(),
        "image_no_qr_code"
    );
    // The finder patterns survive but the data area is wiped.
    let payload = shop().encode().unwrap();
    let mut image = render_image(&payload, &QrOptions::default()).unwrap();
    let (w, h) = (image.width(), image.height());
    for y in h * 2 / 5..h * 3 / 5 {
        for x in w / 4..w * 3 / 4 {
            image.put_pixel(x, y, Luma([255]));
        }
    }
    assert!(matches!(
        decode_image(&png(&image)),
        Err(ImageDecodeError::Unreadable { found: 1.. })
    ));
    let good = render_png(&payload, &QrOptions::default()).unwrap();
    assert!(matches!(
        decode_image(&good[..good.len() / 2]),
        Err(ImageDecodeError::Corrupt { .. })
    ));
    assert_eq!(
        decode_image(b"GIF89a\x01\x00"),
        Err(ImageDecodeError::UnsupportedFormat)
    );
}

#[test]
fn a_small_file_claiming_a_huge_image_is_refused_before_decoding() {
    // A PNG header declaring 100,000 × 100,000 pixels, with a valid IHDR checksum.
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(b"IHDR");
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let chunk = |file: &mut Vec<u8>, body: &[u8]| {
        let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(body);
        let len = u32::try_from(body.len() - 4).unwrap();
        file.extend_from_slice(&len.to_be_bytes());
        file.extend_from_slice(body);
        file.extend_from_slice(&crc.to_be_bytes());
    };
    let mut file = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut file, &ihdr);
    chunk(&mut file, b"IDAT");
    chunk(&mut file, b"IEND");
    let refused = decode_image(&file);
    assert_eq!(
        refused,
        Err(ImageDecodeError::TooManyPixels {
            width: 100_000,
            height: 100_000
        })
    );
    let refused = refused.unwrap_err();
    assert_eq!(refused.code(), "image_too_many_pixels");
    assert!(refused.message_ko().contains("가까이"));
    assert!(refused.message_en().contains("Move closer"));
    // Within the pixel bound but too long a side.
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(b"IHDR");
    ihdr.extend_from_slice(&20_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut file = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut file, &ihdr);
    chunk(&mut file, b"IDAT");
    chunk(&mut file, b"IEND");
    assert_eq!(
        decode_image(&file),
        Err(ImageDecodeError::TooManyPixels {
            width: 20_000,
            height: 100
        })
    );
}

/// An 8-bit grayscale PNG with Adam7 interlacing, written by hand (the `png` encoder does
/// not interlace): passes of filter-0 rows in stored (uncompressed) deflate blocks.
fn interlaced_png(image: &GrayImage) -> Vec<u8> {
    const PASSES: [(u32, u32, u32, u32); 7] = [
        (8, 0, 8, 0),
        (8, 4, 8, 0),
        (4, 0, 8, 4),
        (4, 2, 4, 0),
        (2, 0, 4, 2),
        (2, 1, 2, 0),
        (1, 0, 2, 1),
    ];
    let (w, h) = image.dimensions();
    let mut raw = Vec::new();
    for (xs, xo, ys, yo) in PASSES {
        let samples = w.saturating_sub(xo).div_ceil(xs);
        let lines = h.saturating_sub(yo).div_ceil(ys);
        if samples == 0 || lines == 0 {
            continue;
        }
        for line in 0..lines {
            raw.push(0);
            for i in 0..samples {
                raw.push(image.get_pixel(xo + i * xs, yo + line * ys).0[0]);
            }
        }
    }
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (k, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(k + 1 == blocks.len()));
        let len = u16::try_from(block.len()).unwrap();
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());

    let chunk = |file: &mut Vec<u8>, kind: &[u8], body: &[u8]| {
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(body);
        let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(&crc_input);
        file.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
        file.extend_from_slice(&crc_input);
        file.extend_from_slice(&crc.to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 1]);
    let mut file = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut file, b"IHDR", &ihdr);
    chunk(&mut file, b"IDAT", &zlib);
    chunk(&mut file, b"IEND", &[]);
    file
}

#[test]
fn interlaced_pngs_are_read_row_by_row() {
    let payload = shop().encode().unwrap();
    // Odd sizes, so that every pass has a ragged edge.
    let code = render_image(&payload, &QrOptions::default()).unwrap();
    let mut image = GrayImage::from_pixel(code.width() + 13, code.height() + 7, Luma([255]));
    image::imageops::replace(&mut image, &code, 5, 3);
    let file = interlaced_png(&image);
    // The same pixels as the reference decoder's.
    assert_eq!(
        image::load_from_memory(&file).unwrap().into_luma8(),
        image,
        "the hand-written file is a valid interlaced PNG"
    );
    assert_eq!(decode_one(&file), payload);

    // Over the working size (13 megapixels): read at half size, still a code.
    let opts = QrOptions {
        module_px: 24,
        ..QrOptions::default()
    };
    let code = render_image(&payload, &opts).unwrap();
    let mut big = GrayImage::from_pixel(4_161, 3_125, Luma([230]));
    image::imageops::replace(&mut big, &code, 1_001, 777);
    assert_eq!(decode_one(&interlaced_png(&big)), payload);
}

#[test]
fn transparent_pngs_are_read_over_white() {
    // Black modules on a transparent background whose hidden colour is black too: read
    // as printed on white, not as a black square.
    let payload = shop().encode().unwrap();
    let code = render_image(&payload, &QrOptions::default()).unwrap();
    let rgba = image::RgbaImage::from_fn(code.width(), code.height(), |x, y| {
        let dark = code.get_pixel(x, y).0[0] < 128;
        image::Rgba([0, 0, 0, if dark { 255 } else { 0 }])
    });
    let mut file = Vec::new();
    image::codecs::png::PngEncoder::new(Cursor::new(&mut file))
        .write_image(
            rgba.as_raw(),
            rgba.width(),
            rgba.height(),
            image::ExtendedColorType::Rgba8,
        )
        .unwrap();
    assert_eq!(decode_one(&file), payload);
}

#[test]
fn large_pngs_and_16_bit_pngs_decode() {
    // A 16-bit RGB PNG (6 bytes a pixel decoded naively) is read as 8-bit gray rows.
    let payload = shop().encode().unwrap();
    let code = render_image(&payload, &QrOptions::default()).unwrap();
    let rgb16: Vec<u8> = code
        .as_raw()
        .iter()
        .flat_map(|&v| {
            let [hi, lo] = (u16::from(v) * 257).to_be_bytes();
            [hi, lo, hi, lo, hi, lo]
        })
        .collect();
    let mut file = Vec::new();
    image::codecs::png::PngEncoder::new(Cursor::new(&mut file))
        .write_image(
            &rgb16,
            code.width(),
            code.height(),
            image::ExtendedColorType::Rgb16,
        )
        .unwrap();
    assert_eq!(decode_one(&file), payload);
}
