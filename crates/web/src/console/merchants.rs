//! The console's merchants: applications to approve, suspend, close and reopen; registry sync with a diff preview; QR alias import.

use axum::Router;

use crate::Pages;

pub fn routes() -> Router<Pages> {
    Router::new()
}
