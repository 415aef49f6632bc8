//! Codes read from camera images and photos (PNG or JPEG), decoded on the server for
//! browsers without a QR detector of their own: the citizen's scan of a shop's sticker
//! (`citizen::scan_image`) and the till's read of a customer's one-time code
//! ([`customer_code_image`]).
//!
//! What the header alone refuses (a decompression bomb, a GIF) is answered before a
//! decode place is taken: a burst of bombs must not crowd out real photos. A decode may
//! take `qr::DECODE_MEMORY_MAX_BYTES` and seconds of a core: only `decodes`' permits run
//! at once, and one more is answered 503 at once rather than queued (a queue of images
//! would hold their memory and answer after the person gave up). The work runs off the
//! async threads, and goes on (with its permit) even if the caller is dropped.

use std::sync::Arc;

use http::StatusCode;
use tokio::sync::Semaphore;

use crate::auth::{Caller, Role};
use crate::error::ServiceError;

/// The longest code text passed on (a QR code holds at most a few kilobytes).
pub const CODE_CHARS_MAX: usize = 4096;

/// The codes found in `image`, in the order the decoder found them (at least one).
pub async fn decode(
    image: impl AsRef<[u8]> + Send + 'static,
    decodes: &Arc<Semaphore>,
) -> Result<Vec<Vec<u8>>, ServiceError> {
    qr::check_image_header(image.as_ref()).map_err(image_refusal)?;
    let permit = Arc::clone(decodes)
        .try_acquire_owned()
        .map_err(|_| ServiceError::busy(1))?;
    tokio::task::spawn_blocking(move || {
        let found = qr::decode_image(image.as_ref());
        drop(permit);
        found
    })
    .await
    .map_err(|e| ServiceError::internal(e.to_string()))?
    .map_err(image_refusal)
}

/// A refusal of the image, in the `qr` crate's words.
pub fn image_refusal(e: qr::ImageDecodeError) -> ServiceError {
    ServiceError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        e.code(),
        e.message_ko(),
        e.message_en(),
    )
}

/// The text of the code a merchant's till saw in a camera frame: what the cashier then
/// charges (`merchant::consumer_payment` judges it). Only merchants read codes here.
pub async fn customer_code_image(
    caller: &Caller,
    image: impl AsRef<[u8]> + Send + 'static,
    decodes: &Arc<Semaphore>,
) -> Result<String, ServiceError> {
    if caller.role != Role::Merchant {
        return Err(ServiceError::forbidden());
    }
    let found = decode(image, decodes).await?;
    let first = found.into_iter().next().unwrap_or_default();
    match String::from_utf8(first) {
        Ok(text) if !text.trim().is_empty() && text.chars().count() <= CODE_CHARS_MAX => {
            Ok(text.trim().to_owned())
        }
        _ => Err(ServiceError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "code_not_a_pay_code",
            "이 QR은 결제 코드가 아닙니다. 손님의 지갑에서 '결제 코드' 화면을 보여 달라고 해 주세요.",
            "This QR code is not a pay code. Ask the customer to show the pay code screen of their wallet.",
        )),
    }
}
