//! What every route file uses: axum's pieces, the service's types, the extractors, and
//! the HTTP error.

pub(crate) use std::sync::Arc;

pub(crate) use axum::body::Bytes;
pub(crate) use axum::extract::State;
pub(crate) use axum::http::{HeaderMap, StatusCode, header};
pub(crate) use axum::response::{IntoResponse, Response};
pub(crate) use axum::routing::{delete, get, post};
pub(crate) use axum::{Json, Router};
pub(crate) use serde::{Deserialize, Serialize};
pub(crate) use service::{Currency, Problem, Role};
pub(crate) use utoipa::{OpenApi, ToSchema};

pub(crate) use crate::AppState;
pub(crate) use crate::extract::{ClientAddress, JsonBody, PathParams, QueryParams, SignedIn};
pub(crate) use crate::idempotency::Answer;
pub(crate) use crate::problem::ApiError;
