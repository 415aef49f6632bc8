//! # qr — maeul's payment QR codes
//!
//! Everything between a camera and a payment target, with no I/O, no clock and no global
//! state: callers pass `now` (microseconds since the Unix epoch), random token bytes and
//! the server's knowledge through [`ScanContext`].
//!
//! - [`MerchantCode`] — the merchant-presented code on a shop's sticker or till screen: an
//!   EMVCo MPM payload (Korea's FSC standard follows EMVCo) with maeul's `KR.MAEUL`
//!   account template, CRC-16/CCITT-FALSE, static or one-sale dynamic.
//! - [`ConsumerCodes`] — the citizen's one-time code that a merchant scans: 56 QR-
//!   alphanumeric characters, a BLAKE3 MAC, three minutes at most, and a bounded replay
//!   guard that refuses new codes rather than forget unexpired ones.
//! - [`AliasTable`] — stickers of previous operators (URLs, numbers, other EMV layouts)
//!   imported from CSV and mapped to maeul merchants.
//! - [`classify()`] — any scanned bytes to one [`ScanAnswer`] with a stable code and a
//!   Korean and English message: a merchant or payer, or precisely why not (a scan cut
//!   short, a damaged code, a malformed field, another scheme such as PromptPay or Kakao Pay, a Wi-Fi config, a
//!   suspended shop, another currency, an expired or reused consumer code…).
//! - [`render`] — PNG and SVG codes and the A6 sticker; [`image_decode`] — codes out of
//!   PNG/JPEG photos.
//!
//! The key decision: **the classifier answers, it never fails.** Every input, including
//! bytes that are not UTF-8 and inputs of any length, gets a specific answer the app can
//! show; the property tests and the fuzz target hold it to that.

pub mod alias;
pub mod classify;
pub mod consumer;
mod context;
pub mod crc;
pub mod emv;
pub mod image_decode;
pub mod render;
pub mod tlv;

pub use alias::{
    AliasHit, AliasMatch, AliasQuery, AliasTable, ImportReport, Probe, RejectedRow, RowProblem,
};
pub use classify::{
    CardNetwork, LooksLike, MerchantInfo, MerchantStatus, PaymentTarget, Recognised,
    SCAN_BYTES_MAX, ScanAnswer, ScanContext, Scheme, classify, classify_str,
};
pub use consumer::{
    ConsumerCodes, ConsumerConfig, ConsumerConfigError, ConsumerError, ConsumerSecret, IssuedCode,
    TOKEN_BYTES, TokenId, VerifiedCode,
};
pub use context::MemoryContext;
pub use emv::{
    AlternateLanguage, EmvError, EmvPayload, EncodeError, FieldPath, Initiation, MAEUL_GUID,
    MerchantCode, Problem,
};
pub use image_decode::{ImageDecodeError, check_image_header, classify_image, decode_image};
pub use render::{
    CALL_TO_ACTION, ErrorCorrection, QrOptions, RenderError, Sticker, StickerPng,
    StickerPngOptions, render_png, render_sticker_png, render_sticker_svg, render_svg,
};
