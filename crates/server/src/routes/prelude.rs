//! What every route file uses: axum's pieces, the service's types, the extractors, and
//! the HTTP error.

pub(crate) use std::sync::Arc;

pub(crate) use axum::body::Bytes;
pub(crate) use axum::extract::State;
pub(crate) use axum::http::{HeaderMap, StatusCode, header};
pub(crate) use axum::response::{IntoResponse, Response};
pub(crate) use axum::routing::{delete, get, post};
pub(crate) use axum::{Json, Router};
pub(crate) use directory::{Mcc, Merchant, NewStatus, ReportRow, Status};
pub(crate) use ledger::scheme::{SchemeApplied, SchemeCommand};
pub(crate) use ledger::{AccountId, AccountKind, Command, MerchantId, Text};
pub(crate) use qr::{MerchantCode, QrOptions, Sticker};
pub(crate) use serde::{Deserialize, Serialize};
pub(crate) use service::ledger_ops::{one, require, run_scheme, won};
pub(crate) use service::merchants::SyncRequest;
pub(crate) use service::mirror::{mirror_in_ledger, move_merchant, thresholds_in_force};
pub(crate) use service::{Caller, Currency, Problem, Role};
pub(crate) use utoipa::{IntoParams, OpenApi, ToSchema};

pub(crate) use crate::AppState;
pub(crate) use crate::extract::{ClientAddress, JsonBody, PathParams, QueryParams, SignedIn};
pub(crate) use crate::idempotency::{Answer, Fingerprint, idempotency};
pub(crate) use crate::problem::ApiError;
