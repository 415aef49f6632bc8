//! Sign-up, sign-in, sign-out and who the caller is: thin over `service::session`.

use service::session::{
    AutoChargeState, CitizenSignUp, Me, MerchantSignUp, Session, SignIn, SignedUp,
};

use super::prelude::*;
use crate::extract::bearer_token;

#[derive(OpenApi)]
#[openapi(
    paths(sign_up_citizen, sign_up_merchant, sign_in, sign_out, me),
    components(schemas(
        CitizenSignUp,
        MerchantSignUp,
        SignedUp,
        SignIn,
        Session,
        Me,
        AutoChargeState
    ))
)]
#[derive(Debug)]
pub struct Doc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/citizens", post(sign_up_citizen))
        .route("/api/v1/merchants", post(sign_up_merchant))
        .route("/api/v1/sessions", post(sign_in))
        .route("/api/v1/sessions/current", delete(sign_out))
        .route("/api/v1/me", get(me))
}

/// A citizen signs up: a wallet is opened in the currency.
#[utoipa::path(post, path = "/api/v1/citizens", request_body = CitizenSignUp, responses(
    (status = 201, body = SignedUp),
    (status = 400, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")
))]
async fn sign_up_citizen(
    State(state): State<Arc<AppState>>,
    from: ClientAddress,
    JsonBody(req): JsonBody<CitizenSignUp>,
) -> Result<(StatusCode, Json<SignedUp>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(service::session::sign_up_citizen(&state.service, from.0, req).await?),
    ))
}

/// A merchant applies: its account is opened, and it can receive payments once an
/// operator approves it.
#[utoipa::path(post, path = "/api/v1/merchants", request_body = MerchantSignUp, responses(
    (status = 201, body = SignedUp),
    (status = 400, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")
))]
async fn sign_up_merchant(
    State(state): State<Arc<AppState>>,
    from: ClientAddress,
    JsonBody(req): JsonBody<MerchantSignUp>,
) -> Result<(StatusCode, Json<SignedUp>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(service::session::sign_up_merchant(&state.service, from.0, req).await?),
    ))
}

#[utoipa::path(post, path = "/api/v1/sessions", request_body = SignIn, responses(
    (status = 200, body = Session),
    (status = 401, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json")
))]
async fn sign_in(
    State(state): State<Arc<AppState>>,
    from: ClientAddress,
    JsonBody(req): JsonBody<SignIn>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(
        service::session::sign_in(&state.service, from.0, req).await?,
    ))
}

/// Signs out: the session's token stops working at once.
#[utoipa::path(delete, path = "/api/v1/sessions/current", security(("bearer" = [])), responses(
    (status = 204), (status = 401, body = Problem, content_type = "application/problem+json")
))]
async fn sign_out(
    State(state): State<Arc<AppState>>,
    _caller: SignedIn,
    headers: HeaderMap,
) -> StatusCode {
    if let Some(t) = bearer_token(&headers) {
        state.auth.sign_out(t);
    }
    StatusCode::NO_CONTENT
}

/// Who the caller is, and for citizens this month's counters and the auto-charge's
/// state (a failed auto-charge is shown here with its next attempt).
#[utoipa::path(get, path = "/api/v1/me", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn me(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
) -> Result<Json<Me>, ApiError> {
    Ok(Json(service::session::me(&state.service, &caller).await?))
}
