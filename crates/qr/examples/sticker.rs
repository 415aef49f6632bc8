//! Writes a sample A6 sticker (SVG and PNG) and a plain QR code for a look at the layout.
//!
//! `cargo run -p qr --example sticker -- OUT_DIR [FONT.ttf]`
//! (e.g. FONT = /usr/share/fonts/truetype/nanum/NanumGothicBold.ttf from `fonts-nanum`).

use std::path::PathBuf;

use qr::{
    CALL_TO_ACTION, MerchantCode, QrOptions, Sticker, StickerPngOptions, render_png,
    render_sticker_png, render_sticker_svg,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let font = args.next().map(std::fs::read).transpose()?;
    std::fs::create_dir_all(&out)?;

    let payload = MerchantCode::new_static("busan-dongbaek", 1_234_567, 5812, "동백 분식", "부산")
        .encode()?;
    let sticker = Sticker {
        payload: &payload,
        merchant_name: "동백 분식",
        currency_name: "동백전",
        call_to_action: CALL_TO_ACTION,
    };
    std::fs::write(out.join("sticker.svg"), render_sticker_svg(&sticker)?)?;
    let png = render_sticker_png(
        &sticker,
        &StickerPngOptions {
            dpi: 300,
            font: font.as_deref(),
        },
    )?;
    std::fs::write(out.join("sticker.png"), &png.png)?;
    std::fs::write(
        out.join("code.png"),
        render_png(&payload, &QrOptions::default())?,
    )?;
    println!(
        "payload {payload}\nsticker {}x{} px, {} text lines drawn, {} left out",
        png.width_px, png.height_px, png.text_lines_drawn, png.text_lines_skipped
    );
    Ok(())
}
