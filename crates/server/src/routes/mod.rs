//! The routes under `/api/v1`, one file per role over the service (`service`): each
//! reads a request, calls the service, and answers; the rules live in the service.
//!
//! Every state-changing request takes an `Idempotency-Key` header; the same key from the
//! same user repeats the first answer. Amounts are integer won.
//!
//! | file | who | what |
//! |---|---|---|
//! | `system.rs` | anyone, probes | liveness, readiness, metrics, the OpenAPI document |
//! | `session.rs` | anyone | sign-up, sign-in, sign-out, who am I |
//! | `public.rs` | anyone | the merchant directory, notices |
//! | `citizen.rs` | citizens (some routes merchants too) | wallet, charge, pay, scan, gifts, refunds, history |
//! | `merchant.rs` | merchants | the till, refunds, redemption, settlements, live payments, the QR sticker |
//! | `operator.rs` | operators of a currency | merchants, registry, scheme, budgets, notices, halt, report |
//! | `auditor.rs` | auditors of a currency | verification, totals |
//! | `handover.rs` | an operator; the successor's credential | successor credential, journal feed, cutover, the handover set |
//! | `crate::bank_link` | citizens and merchants | bank-account verification and linking |

pub(crate) mod auditor;
pub(crate) mod citizen;
pub(crate) mod handover;
pub(crate) mod merchant;
pub(crate) mod operator;
mod prelude;
pub(crate) mod public;
pub(crate) mod session;
pub(crate) mod system;

pub use system::{CurrencyReadiness, Readiness};

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use prelude::*;

use crate::admission::observe;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "maeul",
        version = "1",
        description = "Regional digital currencies: citizens, merchants, operators and auditors. Errors are application/problem+json with a stable code."
    ),
    components(schemas(Problem, Role, service::history::Entry, service::history::Settlement, service::auth::Notice)),
    modifiers(&Security)
)]
#[derive(Debug)]
pub struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// The error answers any route can give, declared on every operation that does not
/// already say them: 400 (bad input), 404 (unknown currency or record, where the path
/// names one), 409 (an idempotency key reused for another request, on writes), 408 and
/// 413 (a body too slow or too large, where there is a body), 429 (limits), 503
/// (saturated or halted: try again after `Retry-After`).
struct CommonErrors;

impl utoipa::Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |what: &str| {
            ResponseBuilder::new()
                .description(what)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/api/") || path.ends_with("openapi.json") {
                continue;
            }
            let names_a_record = path.contains('{');
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ] {
                let Some(op) = op.as_mut() else { continue };
                let writes = op
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| p.name == "Idempotency-Key");
                let mut add = |code: &str, what: &str| {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| problem(what).into());
                };
                add(
                    "400",
                    "The request is malformed or a value is out of range.",
                );
                if names_a_record {
                    add("404", "No such currency or record.");
                }
                if writes {
                    add("409", "The idempotency key was used for another request.");
                }
                if op.request_body.is_some() {
                    add(
                        "408",
                        "The body did not arrive in time (`body_timeout`): nothing was done.",
                    );
                    add(
                        "413",
                        "The body is larger than this route takes (`body_too_large`).",
                    );
                }
                add("429", "Too many requests: wait `Retry-After` seconds.");
                add(
                    "503",
                    "Busy or halted: try again after `Retry-After` seconds.",
                );
            }
        }
    }
}

/// Every route of the API, with admission, body limits and timeouts around them.
pub fn routes(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(system::routes())
        .merge(session::routes())
        .merge(public::routes())
        .merge(citizen::routes())
        .merge(merchant::routes())
        .merge(operator::routes())
        .merge(auditor::routes())
        .merge(handover::routes())
        .merge(crate::bank_link::routes())
        .fallback(|| async { ApiError::not_found("route") })
        .layer(middleware::from_fn_with_state(Arc::clone(&state), observe))
        // Every route's body limit is enforced by `observe` (see `body_limit`), which
        // hands on the body already received: axum's own default limit would only
        // refuse a second time what was taken once.
        .layer(DefaultBodyLimit::disable())
        // A body that pauses longer than the body timeout fails as it is read.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.timeouts.body,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// The whole API's OpenAPI document (built once).
pub fn openapi_document() -> &'static utoipa::openapi::OpenApi {
    static DOC: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        use utoipa::Modify;
        let mut doc = ApiDoc::openapi();
        doc.merge(system::Doc::openapi());
        doc.merge(session::Doc::openapi());
        doc.merge(public::Doc::openapi());
        doc.merge(citizen::Doc::openapi());
        doc.merge(merchant::Doc::openapi());
        doc.merge(operator::Doc::openapi());
        doc.merge(auditor::Doc::openapi());
        doc.merge(handover::Doc::openapi());
        doc.merge(crate::bank_link::BankLinkDoc::openapi());
        CommonErrors.modify(&mut doc);
        doc
    })
}
