//! Paying: scanning a shop's QR (camera or photo) or finding it by name, the one-time code, nearby shops and notices.

use axum::Router;

use crate::Pages;

pub fn routes() -> Router<Pages> {
    Router::new()
}
