//! Money in and out: linking a bank account, charging, gifts, refunds, auto-charge and the full history.

use axum::Router;

use crate::Pages;

pub fn routes() -> Router<Pages> {
    Router::new()
}
