//! The pages of a merchant's pages: the till, sales, refunds, redemption, the QR sticker (under `/shop`).

use axum::Router;

use crate::Pages;

/// The routes of the merchant's pages.
pub fn routes() -> Router<Pages> {
    Router::new()
}
