//! Drawing codes: a QR as PNG or SVG, and the A6 sticker a shop puts by its till.
//!
//! The QR matrix comes from `qrcode`; the pixels and the SVG are drawn here, so the quiet
//! zone, module size and sticker layout are ours to control and every size is bounded.
//!
//! **Sticker text.** The SVG sticker writes the merchant's name as SVG text: the printer's
//! or browser's fonts draw the Korean. A PNG has no such luck: it needs glyphs at render
//! time, and no crate on crates.io that fits here embeds a Hangul font (the few that embed
//! CJK outlines cover Chinese subsets). Rather than download a font during the build, the
//! PNG sticker takes font bytes from the caller (`NanumGothic.ttf` from Debian's
//! `fonts-nanum`, Noto Sans CJK, …) and draws each line only if the font has every glyph
//! in it; without a font the PNG sticker is the QR code, the colour band and the frame,
//! and [`StickerPng`] says how many lines were left out.

use std::fmt::Write as _;
use std::io::Cursor;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use image::{ExtendedColorType, GrayImage, ImageEncoder, Luma};
use qrcode::{Color, EcLevel, QrCode};

/// Largest module size accepted, in pixels.
pub const MODULE_PX_MAX: u32 = 64;
/// Largest quiet zone accepted, in modules (the standard asks for 4).
pub const QUIET_ZONE_MODULES_MAX: u32 = 16;
/// Largest side of any image this module draws, in pixels.
pub const IMAGE_SIDE_PX_MAX: u32 = 8192;
/// The sticker's default call to action.
pub const CALL_TO_ACTION: &str = "QR로 결제하세요 / Scan to pay";

/// QR error correction: L 7 %, M 15 %, Q 25 %, H 30 % of codewords recoverable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCorrection {
    L,
    M,
    Q,
    H,
}

impl ErrorCorrection {
    fn level(self) -> EcLevel {
        match self {
            ErrorCorrection::L => EcLevel::L,
            ErrorCorrection::M => EcLevel::M,
            ErrorCorrection::Q => EcLevel::Q,
            ErrorCorrection::H => EcLevel::H,
        }
    }
}

/// How to draw a QR code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QrOptions {
    pub module_px: u32,
    pub quiet_zone_modules: u32,
    pub error_correction: ErrorCorrection,
}

impl Default for QrOptions {
    /// M level suits screens; printed stickers use Q (see [`render_sticker_svg`]).
    fn default() -> Self {
        QrOptions {
            module_px: 8,
            quiet_zone_modules: 4,
            error_correction: ErrorCorrection::M,
        }
    }
}

/// Why something could not be drawn.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("data does not fit in a QR code at this error correction level")]
    DataTooLong,
    #[error("bad render option: {0}")]
    BadOption(&'static str),
    #[error("the font could not be read")]
    InvalidFont,
    #[error("image encoding failed: {0}")]
    Encode(String),
}

impl RenderError {
    pub fn code(&self) -> &'static str {
        match self {
            RenderError::DataTooLong => "render_data_too_long",
            RenderError::BadOption(_) => "render_bad_option",
            RenderError::InvalidFont => "render_invalid_font",
            RenderError::Encode(_) => "render_encode_failed",
        }
    }
}

/// The modules of a QR code, without quiet zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrMatrix {
    width: usize,
    dark: Vec<bool>,
}

impl QrMatrix {
    pub fn encode(data: &str, ec: ErrorCorrection) -> Result<QrMatrix, RenderError> {
        let code = QrCode::with_error_correction_level(data.as_bytes(), ec.level())
            .map_err(|_| RenderError::DataTooLong)?;
        let width = code.width();
        let dark = code
            .to_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect();
        Ok(QrMatrix { width, dark })
    }

    /// Modules per side (21 for version 1, +4 per version).
    pub fn width(&self) -> usize {
        self.width
    }

    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.width && y < self.width && self.dark[y * self.width + x]
    }

    /// SVG path data, one unit per module, offset by `quiet` modules: each horizontal run
    /// of dark modules is one rectangle, which keeps the path a few KB.
    fn svg_path(&self, quiet: usize) -> String {
        let mut d = String::with_capacity(self.width * self.width);
        for y in 0..self.width {
            let mut x = 0;
            while x < self.width {
                if !self.is_dark(x, y) {
                    x += 1;
                    continue;
                }
                let start = x;
                while x < self.width && self.is_dark(x, y) {
                    x += 1;
                }
                let _ = write!(
                    d,
                    "M{},{}h{}v1h-{}z",
                    start + quiet,
                    y + quiet,
                    x - start,
                    x - start
                );
            }
        }
        d
    }
}

fn check_options(opts: &QrOptions) -> Result<(), RenderError> {
    if opts.module_px == 0 || opts.module_px > MODULE_PX_MAX {
        return Err(RenderError::BadOption("module_px must be 1..=64"));
    }
    if opts.quiet_zone_modules > QUIET_ZONE_MODULES_MAX {
        return Err(RenderError::BadOption(
            "quiet_zone_modules must be at most 16",
        ));
    }
    Ok(())
}

/// The QR code as a grayscale image.
pub fn render_image(data: &str, opts: &QrOptions) -> Result<GrayImage, RenderError> {
    check_options(opts)?;
    let m = QrMatrix::encode(data, opts.error_correction)?;
    let modules = u32::try_from(m.width())
        .unwrap_or(u32::MAX)
        .saturating_add(2 * opts.quiet_zone_modules);
    let side = modules.saturating_mul(opts.module_px);
    if side > IMAGE_SIDE_PX_MAX {
        return Err(RenderError::BadOption(
            "image would exceed 8192 px per side",
        ));
    }
    let quiet = opts.quiet_zone_modules;
    let px = opts.module_px;
    Ok(GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = (x / px, y / px);
        let dark =
            mx >= quiet && my >= quiet && m.is_dark((mx - quiet) as usize, (my - quiet) as usize);
        Luma([if dark { 0 } else { 255 }])
    }))
}

/// The QR code as PNG bytes.
pub fn render_png(data: &str, opts: &QrOptions) -> Result<Vec<u8>, RenderError> {
    encode_png(&render_image(data, opts)?)
}

pub(crate) fn encode_png(image: &GrayImage) -> Result<Vec<u8>, RenderError> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(Cursor::new(&mut out))
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::L8,
        )
        .map_err(|e| RenderError::Encode(e.to_string()))?;
    Ok(out)
}

/// The QR code as a standalone SVG document, `module_px` per module.
pub fn render_svg(data: &str, opts: &QrOptions) -> Result<String, RenderError> {
    check_options(opts)?;
    let m = QrMatrix::encode(data, opts.error_correction)?;
    let quiet = opts.quiet_zone_modules as usize;
    let modules = m.width() + 2 * quiet;
    let side = modules * opts.module_px as usize;
    let mut svg = String::with_capacity(m.width() * m.width() + 300);
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}" viewBox="0 0 {modules} {modules}" shape-rendering="crispEdges"><rect width="{modules}" height="{modules}" fill="#fff"/><path fill="#000" d="{}"/></svg>"##,
        m.svg_path(quiet)
    );
    Ok(svg)
}

/// What goes on an A6 sticker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sticker<'a> {
    /// The QR payload, usually a static [`crate::MerchantCode`]'s encoding.
    pub payload: &'a str,
    pub merchant_name: &'a str,
    /// The currency's display name, e.g. `동백전`.
    pub currency_name: &'a str,
    /// Usually [`CALL_TO_ACTION`].
    pub call_to_action: &'a str,
}

// Sticker geometry in tenths of a millimetre (A6 is 105 × 148 mm).
const A6_W: u32 = 1050;
const A6_H: u32 = 1480;
const BAND_H: u32 = 230;
const QR_SIDE: u32 = 800;
const QR_TOP: u32 = 290;
const NAME_BASELINE: u32 = 1230;
const NAME_SIZE_MAX: u32 = 90;
const CTA_BASELINE: u32 = 1370;
const CTA_SIZE: u32 = 50;
const CURRENCY_BASELINE: u32 = 150;
const CURRENCY_SIZE: u32 = 70;
const TEXT_WIDTH_MAX: u32 = 900;
const BAND_GRAY: u8 = 0x24;
const FONT_FAMILY: &str = "'Noto Sans KR','Noto Sans CJK KR','NanumGothic','Apple SD Gothic Neo','Malgun Gothic',sans-serif";

/// Tenths of a millimetre as an SVG number.
fn mm(tenths: u32) -> String {
    if tenths.is_multiple_of(10) {
        (tenths / 10).to_string()
    } else {
        format!("{}.{}", tenths / 10, tenths % 10)
    }
}

/// A font size (tenths of mm) at which `text` fits `width`: Hangul and other wide
/// characters count one em, the rest about 0.6 em. An estimate, so the SVG also sets
/// `textLength` when the text is long.
fn fitting_size(text: &str, max: u32, width: u32) -> u32 {
    let tenths_of_em: u32 = text.chars().map(|c| if is_wide(c) { 10 } else { 6 }).sum();
    if tenths_of_em == 0 {
        return max;
    }
    (width * 10 / tenths_of_em).clamp(20, max)
}

fn is_wide(c: char) -> bool {
    matches!(c, '\u{1100}'..='\u{11FF}' | '\u{3000}'..='\u{9FFF}' | '\u{AC00}'..='\u{D7AF}' | '\u{F900}'..='\u{FAFF}' | '\u{FF00}'..='\u{FFEF}')
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0 text.
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The A6 sticker (105 × 148 mm) as SVG: a band with the currency name, the QR code at
/// level Q with its quiet zone, the merchant's name and the call to action.
pub fn render_sticker_svg(sticker: &Sticker<'_>) -> Result<String, RenderError> {
    let m = QrMatrix::encode(sticker.payload, ErrorCorrection::Q)?;
    let quiet = 4;
    let modules = m.width() + 2 * quiet;
    let qr_left = (A6_W - QR_SIDE) / 2;
    let name_size = fitting_size(sticker.merchant_name, NAME_SIZE_MAX, TEXT_WIDTH_MAX);
    let cta_size = fitting_size(sticker.call_to_action, CTA_SIZE, TEXT_WIDTH_MAX);
    let currency_size = fitting_size(sticker.currency_name, CURRENCY_SIZE, TEXT_WIDTH_MAX);
    let text = |x: u32, y: u32, size: u32, weight: &str, fill: &str, content: &str| {
        format!(
            r#"<text x="{}" y="{}" font-size="{}" font-weight="{weight}" fill="{fill}" text-anchor="middle" font-family="{FONT_FAMILY}">{}</text>"#,
            mm(x),
            mm(y),
            mm(size),
            xml_escape(content)
        )
    };
    let mut svg = String::with_capacity(m.width() * m.width() + 2000);
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="105mm" height="148mm" viewBox="0 0 105 148"><rect width="105" height="148" fill="#fff"/><rect x="1.5" y="1.5" width="102" height="145" rx="4" fill="none" stroke="#242424" stroke-width="0.6"/><rect x="1.5" y="1.5" width="102" height="{band}" rx="4" fill="#242424"/><rect x="1.5" y="{band_square}" width="102" height="5" fill="#242424"/>{currency}<svg x="{qx}" y="{qy}" width="{qs}" height="{qs}" viewBox="0 0 {modules} {modules}" shape-rendering="crispEdges"><rect width="{modules}" height="{modules}" fill="#fff"/><path fill="#000" d="{path}"/></svg>{name}{cta}</svg>"##,
        band = mm(BAND_H - 15),
        // The band's lower corners are square: cover the rounding with a plain strip.
        band_square = mm(BAND_H - 50),
        currency = text(
            A6_W / 2,
            CURRENCY_BASELINE,
            currency_size,
            "700",
            "#fff",
            sticker.currency_name
        ),
        qx = mm(qr_left),
        qy = mm(QR_TOP),
        qs = mm(QR_SIDE),
        path = m.svg_path(quiet),
        name = text(
            A6_W / 2,
            NAME_BASELINE,
            name_size,
            "700",
            "#000",
            sticker.merchant_name
        ),
        cta = text(
            A6_W / 2,
            CTA_BASELINE,
            cta_size,
            "400",
            "#333",
            sticker.call_to_action
        ),
    );
    Ok(svg)
}

/// Options for the PNG sticker.
#[derive(Clone, Copy, Debug)]
pub struct StickerPngOptions<'f> {
    /// 72–600; 300 is print quality (1240 × 1748 px).
    pub dpi: u32,
    /// TrueType/OpenType bytes (a `.ttc` collection's first face is used). `None` draws no
    /// text.
    pub font: Option<&'f [u8]>,
}

impl Default for StickerPngOptions<'_> {
    fn default() -> Self {
        StickerPngOptions {
            dpi: 300,
            font: None,
        }
    }
}

/// A rendered PNG sticker and what text made it on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StickerPng {
    pub png: Vec<u8>,
    pub width_px: u32,
    pub height_px: u32,
    /// Lines drawn (of three: currency, merchant name, call to action).
    pub text_lines_drawn: u8,
    /// Lines left out: no font, or the font lacks one of their characters.
    pub text_lines_skipped: u8,
}

/// The A6 sticker as a grayscale PNG. See the module docs about text.
pub fn render_sticker_png(
    sticker: &Sticker<'_>,
    opts: &StickerPngOptions<'_>,
) -> Result<StickerPng, RenderError> {
    if !(72..=600).contains(&opts.dpi) {
        return Err(RenderError::BadOption("dpi must be 72..=600"));
    }
    let font = match opts.font {
        Some(bytes) => Some(FontRef::try_from_slice(bytes).map_err(|_| RenderError::InvalidFont)?),
        None => None,
    };
    let px = |tenths_mm: u32| tenths_mm * opts.dpi / 254;
    let (w, h) = (px(A6_W), px(A6_H));
    let mut img = GrayImage::from_pixel(w, h, Luma([255]));

    // Frame and band.
    let inset = px(15);
    let stroke = px(6).max(1);
    for y in inset..h - inset {
        for x in inset..w - inset {
            let on_frame = x < inset + stroke
                || x >= w - inset - stroke
                || y < inset + stroke
                || y >= h - inset - stroke;
            if on_frame || y < px(BAND_H) {
                img.put_pixel(x, y, Luma([BAND_GRAY]));
            }
        }
    }

    // QR code, whole pixels per module, centred in its square.
    let m = QrMatrix::encode(sticker.payload, ErrorCorrection::Q)?;
    let modules = u32::try_from(m.width())
        .unwrap_or(u32::MAX)
        .saturating_add(8);
    let module_px = (px(QR_SIDE) / modules).max(1);
    let qr_px = module_px * modules;
    let left = (w.saturating_sub(qr_px)) / 2;
    let top = px(QR_TOP) + (px(QR_SIDE).saturating_sub(qr_px)) / 2;
    for y in 0..qr_px {
        for x in 0..qr_px {
            let (mx, my) = (x / module_px, y / module_px);
            let dark = mx >= 4 && my >= 4 && m.is_dark((mx - 4) as usize, (my - 4) as usize);
            if left + x < w && top + y < h {
                img.put_pixel(left + x, top + y, Luma([if dark { 0 } else { 255 }]));
            }
        }
    }

    let lines = [
        (
            sticker.currency_name,
            CURRENCY_BASELINE,
            CURRENCY_SIZE,
            255u8,
        ),
        (sticker.merchant_name, NAME_BASELINE, NAME_SIZE_MAX, 0u8),
        (sticker.call_to_action, CTA_BASELINE, CTA_SIZE, 0x33u8),
    ];
    let mut drawn = 0u8;
    for (text, baseline, size, ink) in lines {
        if let Some(font) = &font
            && draw_line(
                &mut img,
                font,
                text,
                px(baseline),
                px(size),
                px(TEXT_WIDTH_MAX),
                ink,
            )
        {
            drawn += 1;
        }
    }
    Ok(StickerPng {
        png: encode_png(&img)?,
        width_px: w,
        height_px: h,
        text_lines_drawn: drawn,
        text_lines_skipped: 3 - drawn,
    })
}

/// Draws `text` centred on `baseline`, shrinking from `size_px` until it fits `width_px`.
/// Returns false (drawing nothing) if the font lacks a glyph for any character.
fn draw_line(
    img: &mut GrayImage,
    font: &FontRef<'_>,
    text: &str,
    baseline: u32,
    size_px: u32,
    width_px: u32,
    ink: u8,
) -> bool {
    if text.trim().is_empty() {
        return false;
    }
    if text
        .chars()
        .any(|c| !c.is_whitespace() && font.glyph_id(c).0 == 0)
    {
        return false;
    }
    // Pixel geometry is f32 in ab_glyph; nothing here touches money.
    let mut scale = PxScale::from(size_px as f32);
    let advance = |scale: PxScale| {
        let scaled = font.as_scaled(scale);
        let mut total = 0.0f32;
        let mut prev = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = prev {
                total += scaled.kern(p, id);
            }
            total += scaled.h_advance(id);
            prev = Some(id);
        }
        total
    };
    let width = advance(scale);
    if width > width_px as f32 && width > 0.0 {
        scale = PxScale::from(size_px as f32 * width_px as f32 / width);
    }
    let scaled = font.as_scaled(scale);
    let total = advance(scale);
    let mut x = (img.width() as f32 - total) / 2.0;
    let y = baseline as f32;
    let mut prev = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = prev {
            x += scaled.kern(p, id);
        }
        let glyph = id.with_scale_and_position(scale, ab_glyph::point(x, y));
        x += scaled.h_advance(id);
        prev = Some(id);
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let px = bounds.min.x as i64 + i64::from(gx);
            let py = bounds.min.y as i64 + i64::from(gy);
            if px < 0 || py < 0 || px >= i64::from(img.width()) || py >= i64::from(img.height()) {
                return;
            }
            let (px, py) = (px as u32, py as u32);
            let under = img.get_pixel(px, py).0[0];
            let cov = coverage.clamp(0.0, 1.0);
            let blended = f32::from(under) * (1.0 - cov) + f32::from(ink) * cov;
            img.put_pixel(px, py, Luma([blended.round() as u8]));
        });
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_has_quiet_zone_and_one_path() {
        let svg = render_svg("HELLO", &QrOptions::default()).unwrap();
        // Version 1 is 21 modules; 4 quiet modules each side make 29.
        assert!(svg.contains(r#"viewBox="0 0 29 29""#), "{svg}");
        assert!(svg.contains(r#"width="232""#));
        assert_eq!(svg.matches("<path").count(), 1);
        // The first finder pattern starts at module (4,4).
        assert!(svg.contains(r#"d="M4,4h7v1h-7z"#), "{svg}");
    }

    #[test]
    fn options_are_bounded() {
        let bad = |o: QrOptions| render_png("X", &o).unwrap_err();
        let ok = QrOptions::default();
        assert_eq!(
            bad(QrOptions { module_px: 0, ..ok }).code(),
            "render_bad_option"
        );
        assert_eq!(
            bad(QrOptions {
                module_px: 65,
                ..ok
            })
            .code(),
            "render_bad_option"
        );
        assert_eq!(
            bad(QrOptions {
                quiet_zone_modules: 17,
                ..ok
            })
            .code(),
            "render_bad_option"
        );
        assert_eq!(
            render_png(&"9".repeat(8000), &ok).unwrap_err(),
            RenderError::DataTooLong
        );
    }

    #[test]
    fn text_sizes_fit_the_sticker() {
        assert_eq!(fitting_size("마을", 90, 900), 90);
        // 25 Hangul characters at one em each must shrink to 900/25 = 36 tenths of mm.
        assert_eq!(fitting_size(&"가".repeat(25), 90, 900), 36);
        assert_eq!(mm(125), "12.5");
        assert_eq!(mm(120), "12");
        assert_eq!(xml_escape("A&B <\"x\">"), "A&amp;B &lt;&quot;x&quot;&gt;");
    }
}
