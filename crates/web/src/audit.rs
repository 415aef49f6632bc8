//! The pages of an auditor's desk: journal verification, totals, the state hash (under `/audit`).

use axum::Router;

use crate::Pages;

/// The routes of the auditor's pages.
pub fn routes() -> Router<Pages> {
    Router::new()
}
