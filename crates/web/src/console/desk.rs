//! The console's own desk: the dashboard (charts), the report with CSV export, the scheme timeline and editor, budgets, notices, halt and resume.

use axum::Router;

use crate::Pages;

pub fn routes() -> Router<Pages> {
    Router::new()
}
