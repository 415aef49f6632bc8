//! Routes of bank-account verification and linking (the flow is
//! `service::bank_link`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use service::bank_link::{
    BankLinked, ConsentText, VerificationConfirm, VerificationStart, VerificationView,
};
use utoipa::OpenApi;

use crate::AppState;
use crate::extract::{JsonBody, PathParams, SignedIn};
use crate::idempotency::{Answer, idempotency_key};
use crate::problem::ApiError;
#[allow(unused_imports)] // named by the OpenAPI annotations
use service::Problem;

#[derive(OpenApi)]
#[openapi(
    paths(
        start_verification,
        verification_status,
        confirm_verification,
        link_without_verification
    ),
    components(schemas(
        VerificationStart,
        VerificationView,
        ConsentText,
        VerificationConfirm,
        BankLinked
    ))
)]
#[derive(Debug)]
pub struct BankLinkDoc;

pub fn routes() -> Router<Arc<AppState>> {
    use axum::routing::{get, post};
    Router::new()
        .route("/api/v1/me/bank-account", post(link_without_verification))
        .route(
            "/api/v1/me/bank-account/verification",
            post(start_verification),
        )
        .route(
            "/api/v1/me/bank-account/verification/{id}",
            get(verification_status),
        )
        .route(
            "/api/v1/me/bank-account/verification/{id}/confirm",
            post(confirm_verification),
        )
}

/// Starts verifying a bank account: the holder-name enquiry, then 1 won with a code in
/// its memo. Nothing is linked until the code comes back with the user's consent.
#[utoipa::path(post, path = "/api/v1/me/bank-account/verification", request_body = VerificationStart, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "the same key repeats the first answer (and sends no second deposit)")),
    responses(
        (status = 201, description = "1 won was sent with the code in its memo", body = VerificationView),
        (status = 202, description = "the deposit's answer is not in yet: GET the verification shortly", body = VerificationView),
        (status = 200, description = "a repeated request: the verification as it stands", body = VerificationView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "holder_name_mismatch, bank_account_not_found or verification_deposit_refused", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "verification_limit: no more starts today", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "bank_unavailable: try again", body = Problem, content_type = "application/problem+json")
))]
async fn start_verification(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    JsonBody(req): JsonBody<VerificationStart>,
) -> Result<Response, ApiError> {
    let answer = service::bank_link::start_verification(
        &state.service,
        &caller,
        idempotency_key(&headers),
        req,
    )
    .await?;
    let answer: Answer<_> = answer.map(|(status, view)| (status, Json(view))).into();
    Ok(answer.into_response())
}

/// Where a verification stands (settles a deposit whose answer was not had).
#[utoipa::path(get, path = "/api/v1/me/bank-account/verification/{id}", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = VerificationView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")
))]
async fn verification_status(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(id): PathParams<String>,
) -> Result<Json<VerificationView>, ApiError> {
    Ok(Json(
        service::bank_link::verification_status(&state.service, &caller, &id).await?,
    ))
}

/// Confirms the code from the 1-won deposit, with the user's consent: the account is
/// linked (and only now charged from or paid to).
#[utoipa::path(post, path = "/api/v1/me/bank-account/verification/{id}/confirm", request_body = VerificationConfirm, security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = String, Header, description = "a repeated wrong code under the same key is counted once")),
    responses(
        (status = 200, description = "linked (also for a repeat once linked)", body = BankLinked),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "verification_in_progress: the deposit's answer is not in yet", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "consent_required, consent_version_outdated, verification_code_wrong, verification_locked, verification_expired or verification_failed", body = Problem, content_type = "application/problem+json")
))]
async fn confirm_verification(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<VerificationConfirm>,
) -> Result<Json<BankLinked>, ApiError> {
    Ok(Json(
        service::bank_link::confirm_verification(
            &state.service,
            &caller,
            idempotency_key(&headers),
            &id,
            req,
        )
        .await?,
    ))
}

/// The one-step link of earlier versions, which linked any number without checking
/// whose it was. Gone: it answers 410 and names the verification flow.
#[utoipa::path(post, path = "/api/v1/me/bank-account", security(("bearer" = [])),
    responses(
        (status = 410, description = "bank_verification_required: use /api/v1/me/bank-account/verification", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")
))]
async fn link_without_verification(SignedIn(caller): SignedIn) -> Result<StatusCode, ApiError> {
    service::bank_link::link_without_verification(&caller)?;
    Ok(StatusCode::NO_CONTENT)
}
