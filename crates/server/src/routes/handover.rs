//! An operator change while serving: the operator issues a successor credential; the
//! successor follows the journal with it, asks for the cutover, and fetches the rest of
//! the currency as an interchange set. Thin over `service::handover`.

use axum::body::Body;
use service::handover::{BaseMade, BaseRequest, Credential, CutoverRequest, Moved};

use super::prelude::*;
use crate::extract::bearer_token;

#[derive(OpenApi)]
#[openapi(
    paths(issue_credential, journal, base, base_file, cutover, set_file),
    components(schemas(Credential, BaseRequest, BaseMade, CutoverRequest, Moved))
)]
#[derive(Debug)]
pub struct Doc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/api/v1/operator/{currency}/successor",
            post(issue_credential),
        )
        .route("/api/v1/handover/{currency}/journal", get(journal))
        .route("/api/v1/handover/{currency}/base", post(base))
        .route("/api/v1/handover/{currency}/base/{file}", get(base_file))
        .route("/api/v1/handover/{currency}/cutover", post(cutover))
        .route("/api/v1/handover/{currency}/set/{file}", get(set_file))
}

/// Issues a credential for the operator who takes over this currency: with it, their
/// node reads this journal and asks for the cutover. Shown once; a new one replaces it.
#[utoipa::path(post, path = "/api/v1/operator/{currency}/successor", security(("bearer" = [])),
    params(("currency" = String, Path)),
    responses((status = 201, body = Credential), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")))]
async fn issue_credential(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
) -> Result<(StatusCode, Json<Credential>), ApiError> {
    let c = service::handover::issue_credential(&state.service, &caller, &code)?;
    Ok((StatusCode::CREATED, Json(c)))
}

fn credential(headers: &HeaderMap) -> Result<&str, ApiError> {
    bearer_token(headers).ok_or_else(|| service::ServiceError::unauthorized().into())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct After {
    /// The last record the successor holds (0: none).
    #[serde(default)]
    after: u64,
}

/// The journal's durable records after `after`, for the successor (its credential as
/// the bearer token), as frames: `seq u64 LE, timestamp_us u64 LE, payload_len u32 LE,
/// payload, chain hash [32 bytes]`; at most 8 MiB, at least one record when there is
/// one. `Maeul-Durable-Seq` says how far this node is; once moved, `Maeul-Moved-Seq`
/// is its last record.
#[utoipa::path(get, path = "/api/v1/handover/{currency}/journal", security(("bearer" = [])),
    params(("currency" = String, Path), After),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>,
        headers(("Maeul-Durable-Seq" = u64, description = "the last record made durable here"))),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn journal(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
    QueryParams(after): QueryParams<After>,
) -> Result<Response, ApiError> {
    let credential = credential(&headers)?.to_owned();
    let service = Arc::clone(&state.service);
    let feed = tokio::task::spawn_blocking(move || {
        service::handover::feed(&service, &code, &credential, after.after)
    })
    .await
    .map_err(|e| service::ServiceError::internal(e.to_string()))??;
    let mut response = (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::HeaderName::from_static("maeul-durable-seq"),
                feed.durable_seq.to_string(),
            ),
            (
                header::HeaderName::from_static("maeul-records"),
                feed.records.to_string(),
            ),
        ],
        feed.body,
    )
        .into_response();
    if let Some(m) = feed.moved {
        let h = response.headers_mut();
        if let Ok(v) = m.seq.to_string().parse() {
            h.insert("maeul-moved-seq", v);
        }
        if let Ok(v) = m.to.parse() {
            h.insert("maeul-moved-to", v);
        }
    }
    Ok(response)
}

/// A base set: a first copy of the currency's people and registry for the successor,
/// encrypted to `recipient`, made while this node goes on serving, so that the set at
/// the cutover holds only what changed since (name its id there). It runs in the
/// background: 202 with `Retry-After` while it does (ask again, the same request), 200
/// with its id once made.
#[utoipa::path(post, path = "/api/v1/handover/{currency}/base", security(("bearer" = [])),
    params(("currency" = String, Path)), request_body = BaseRequest,
    responses((status = 200, body = BaseMade), (status = 202, description = "still making the base: ask again after Retry-After"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 410, body = Problem, content_type = "application/problem+json")))]
async fn base(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
    JsonBody(req): JsonBody<BaseRequest>,
) -> Result<Response, ApiError> {
    let credential = credential(&headers)?;
    Ok(
        match service::handover::base(&state.service, &code, credential, req).await? {
            service::handover::BaseState::Made(m) => Json(m).into_response(),
            service::handover::BaseState::Running => (
                StatusCode::ACCEPTED,
                [(header::RETRY_AFTER, "1")],
                Json(serde_json::json!({"state": "running"})),
            )
                .into_response(),
        },
    )
}

/// A file of the base set (`manifest.json` first, then the files it lists).
#[utoipa::path(get, path = "/api/v1/handover/{currency}/base/{file}", security(("bearer" = [])),
    params(("currency" = String, Path), ("file" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn base_file(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    PathParams((code, name)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    let credential = credential(&headers)?;
    let path = service::handover::base_file(&state.service, &code, credential, &name)?;
    stream_file(&path, "file of the base set").await
}

/// The cutover: this node journals a halt ("operator change to …") as its last record,
/// makes the rest of the currency into an interchange set encrypted to `recipient`,
/// publishes a notice, and from then on sends everyone to `to`. It runs in the
/// background: 202 with `Retry-After` while it does (ask again, the same request),
/// 200 with where it moved once done (and to every later asking).
#[utoipa::path(post, path = "/api/v1/handover/{currency}/cutover", security(("bearer" = [])),
    params(("currency" = String, Path)), request_body = CutoverRequest,
    responses((status = 200, body = Moved), (status = 202, description = "still making the set: ask again after Retry-After"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 410, body = Problem, content_type = "application/problem+json")))]
async fn cutover(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
    JsonBody(req): JsonBody<CutoverRequest>,
) -> Result<Response, ApiError> {
    let credential = credential(&headers)?;
    Ok(
        match service::handover::cutover(&state.service, &code, credential, req).await? {
            service::handover::CutoverState::Moved(m) => Json(m).into_response(),
            service::handover::CutoverState::Running => (
                StatusCode::ACCEPTED,
                [(header::RETRY_AFTER, "1")],
                Json(serde_json::json!({"state": "running"})),
            )
                .into_response(),
        },
    )
}

/// A file of the interchange set made at the cutover (`manifest.json` first, then the
/// files it lists).
#[utoipa::path(get, path = "/api/v1/handover/{currency}/set/{file}", security(("bearer" = [])),
    params(("currency" = String, Path), ("file" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn set_file(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    PathParams((code, name)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    let credential = credential(&headers)?;
    let path = service::handover::set_file(&state.service, &code, credential, &name)?;
    stream_file(&path, "file of the handover set").await
}

/// A set's file, streamed in 1 MiB pieces: a set's files can be gigabytes.
async fn stream_file(path: &std::path::Path, what: &str) -> Result<Response, ApiError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|_| service::ServiceError::not_found(what))?;
    let stream = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 1 << 20];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(stream),
    )
        .into_response())
}
