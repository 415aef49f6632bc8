//! An operator runs their own currencies only: the merchant lifecycle (approve, suspend, close, reopen), registry sync and QR aliases, revenue bands, the scheme's versions, budgets, notices, halt and resume, and the report.

use service::auditor::whole_journal_turn;
use service::merchant::QrParams;

use super::merchant::qr_response;
use super::prelude::*;
use service::public::MerchantCard;

#[derive(OpenApi)]
#[openapi(
    paths(
        approve_merchant,
        suspend_merchant,
        report,
        halt,
        resume,
        set_scheme,
        scheme_versions,
        withdraw_scheme,
        budgets,
        fund_budget,
        publish_notice,
        merchant_qr,
        list_merchants,
        close_merchant,
        reopen_merchant,
        registry_sync,
        revenue_bands,
        set_revenue_bands,
        import_aliases
    ),
    components(schemas(
        Suspension,
        ReportAnswer,
        Reason,
        SchemeUpdate,
        SchemeSetAnswer,
        SchemeVersionView,
        Budget,
        Funding,
        NewNotice,
        SyncAnswer,
        SyncRow,
        RevenueBandsAnswer,
        AliasImportAnswer,
        AliasRejected,
        MerchantList
    ))
)]
#[derive(Debug)]
pub struct Doc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/operator/{currency}/budgets", get(budgets))
        .route(
            "/api/v1/operator/{currency}/budgets/{budget}/funding",
            post(fund_budget),
        )
        .route("/api/v1/operator/{currency}/notices", post(publish_notice))
        .route("/api/v1/operator/{currency}/halt", post(halt))
        .route("/api/v1/operator/{currency}/resume", post(resume))
        .route(
            "/api/v1/operator/{currency}/scheme",
            axum::routing::put(set_scheme).get(scheme_versions),
        )
        .route(
            "/api/v1/operator/{currency}/scheme/{version}/withdraw",
            post(withdraw_scheme),
        )
        .route(
            "/api/v1/operator/{currency}/merchants/{merchant}/approve",
            post(approve_merchant),
        )
        .route(
            "/api/v1/operator/{currency}/merchants/{merchant}/suspend",
            post(suspend_merchant),
        )
        .route("/api/v1/operator/{currency}/report", get(report))
        .route("/api/v1/operator/{currency}/merchants", get(list_merchants))
        .route(
            "/api/v1/operator/{currency}/merchants/{merchant}/qr",
            get(merchant_qr),
        )
        .route(
            "/api/v1/operator/{currency}/merchants/{merchant}/close",
            post(close_merchant),
        )
        .route(
            "/api/v1/operator/{currency}/merchants/{merchant}/reopen",
            post(reopen_merchant),
        )
        .route(
            "/api/v1/operator/{currency}/registry-sync",
            post(registry_sync),
        )
        .route(
            "/api/v1/operator/{currency}/revenue-bands",
            get(revenue_bands).put(set_revenue_bands),
        )
        .route(
            "/api/v1/operator/{currency}/qr-aliases",
            post(import_aliases),
        )
}

pub(crate) fn operator_of<'a>(
    state: &'a AppState,
    caller: &Caller,
    code: &str,
) -> Result<&'a Currency, ApiError> {
    Ok(state.service.operator_of(caller, code)?)
}

/// Approves a merchant's application (or lifts an operator's suspension).
#[utoipa::path(post, path = "/api/v1/operator/{currency}/merchants/{merchant}/approve", security(("bearer" = [])),
    params(("currency" = String, Path), ("merchant" = u64, Path),
        ("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn approve_merchant(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams((code, merchant)): PathParams<(String, u64)>,
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("approve_merchant", &(&code, merchant)),
    )?;
    // A merchant in the registry moves there, and the ledger follows.
    if currency.merchants.get(merchant).is_some() {
        let reason = format!("approved by operator {}", caller.user_id);
        return Ok(crate::idempotency::once(&state, &key, async {
            service::mirror::move_merchant(currency, merchant, directory::Status::Approved, &reason)
                .await
                .map(IntoResponse::into_response)
        })
        .await);
    }
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::ReinstateMerchant {
            merchant: MerchantId(AccountId(merchant)),
        },
        None,
    )
    .await?;
    Ok(crate::idempotency::mark_replayed(
        StatusCode::NO_CONTENT.into_response(),
        a.replayed,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Suspension {
    pub reason: String,
}

/// Suspends a merchant: its payments are refused with the reason `operator`.
#[utoipa::path(post, path = "/api/v1/operator/{currency}/merchants/{merchant}/suspend", request_body = Suspension,
    security(("bearer" = [])),
    params(("currency" = String, Path), ("merchant" = u64, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn suspend_merchant(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams((code, merchant)): PathParams<(String, u64)>,
    JsonBody(req): JsonBody<Suspension>,
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("suspend_merchant", &(&code, merchant, &req.reason)),
    )?;
    if currency.merchants.get(merchant).is_some() {
        return Ok(crate::idempotency::once(&state, &key, async {
            service::mirror::move_merchant(
                currency,
                merchant,
                directory::Status::Suspended,
                &req.reason,
            )
            .await
            .map(IntoResponse::into_response)
        })
        .await);
    }
    let reason = Text::new(req.reason)
        .map_err(|e| ApiError::bad_request("reason_invalid", e.to_string()))?;
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::SuspendMerchant {
            merchant: MerchantId(AccountId(merchant)),
            reason,
        },
        None,
    )
    .await?;
    Ok(crate::idempotency::mark_replayed(
        StatusCode::NO_CONTENT.into_response(),
        a.replayed,
    ))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReportAnswer {
    pub currency: String,
    /// The report as text (Korean and English headings), months and totals.
    pub text: String,
    pub issuance: i64,
    pub sales: i64,
    pub subsidy_spent: i64,
    pub payments: i64,
    pub redemptions: i64,
    pub cash_refunds: i64,
    pub expiries: i64,
}

/// The operator report of a currency (from its journal and ledger).
#[utoipa::path(get, path = "/api/v1/operator/{currency}/report", security(("bearer" = [])),
    params(("currency" = String, Path)),
    responses((status = 200, body = ReportAnswer), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn report(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
) -> Result<Json<ReportAnswer>, ApiError> {
    let currency = operator_of(&state, &caller, &code)?.clone();
    let turn = whole_journal_turn(&state)?;
    let r = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        treasury::OperatorReport::build(currency.storage.as_ref(), &currency.engine)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let t = &r.total;
    Ok(Json(ReportAnswer {
        currency: code,
        text: r.to_string(),
        issuance: t.issuance(),
        sales: t.sales.won,
        subsidy_spent: t.subsidy_spent(),
        payments: t.payments.won,
        redemptions: t.redemptions.won,
        cash_refunds: t.cash_refunds.won,
        expiries: t.expiries.won,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    pub reason: String,
}

/// Stops all writes of the currency (reads go on), e.g. during an incident.
#[utoipa::path(post, path = "/api/v1/operator/{currency}/halt", request_body = Reason, security(("bearer" = [])),
    params(("currency" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn halt(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
    JsonBody(req): JsonBody<Reason>,
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("halt", &(&code, &req.reason)),
    )?;
    let text =
        |s: String| Text::new(s).map_err(|e| ApiError::bad_request("text_invalid", e.to_string()));
    let a = one(
        currency,
        &key,
        Command::Halt {
            operator: text(format!("user {}", caller.user_id))?,
            reason: text(req.reason)?,
        },
        None,
    )
    .await?;
    Ok(crate::idempotency::mark_replayed(
        StatusCode::NO_CONTENT.into_response(),
        a.replayed,
    ))
}

/// Resumes writes after a halt (including one the ledger imposed itself).
#[utoipa::path(post, path = "/api/v1/operator/{currency}/resume", security(("bearer" = [])),
    params(("currency" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn resume(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(&state, &headers, &caller, Fingerprint::of("resume", &code))?;
    let a = one(
        currency,
        &key,
        Command::Resume {
            operator: Text::new(format!("user {}", caller.user_id))
                .map_err(|e| ApiError::internal(e.to_string()))?,
        },
        None,
    )
    .await?;
    Ok(crate::idempotency::mark_replayed(
        StatusCode::NO_CONTENT.into_response(),
        a.replayed,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemeUpdate {
    /// The scheme file (TOML), as in `schemes/`.
    pub toml: String,
    /// Unix microseconds from when it applies (absent or past: now).
    pub effective_at: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SchemeSetAnswer {
    pub version: u32,
    pub effective_at: u64,
}

/// A new version of the currency's scheme (the earlier versions stay readable).
#[utoipa::path(put, path = "/api/v1/operator/{currency}/scheme", request_body = SchemeUpdate, security(("bearer" = [])),
    params(("currency" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, body = SchemeSetAnswer), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn set_scheme(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
    JsonBody(req): JsonBody<SchemeUpdate>,
) -> Result<Answer<Json<SchemeSetAnswer>>, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("set_scheme", &(&code, &req.toml, req.effective_at)),
    )?;
    let config = ledger::scheme::SchemeConfig::from_toml(&req.toml)
        .map_err(|e| ApiError::bad_request("scheme_invalid", e.to_string()))?;
    if let Some(at) = req.effective_at
        && let Err(problem) = ledger::scheme::check_effective_at(at, service::now_us())
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "scheme_effective_invalid",
            "적용 시각이 올바르지 않습니다. 마이크로초 단위의 유닉스 시각으로, 1년 이내로 정해 주세요.",
            "The effective time is not valid: give Unix microseconds, at most a year ahead.",
        )
        .detail(problem.to_string()));
    }
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::SetScheme {
            config: Box::new(config),
            effective_at: ledger::Timestamp::from_micros(req.effective_at.unwrap_or(0)),
            operator: Text::new(format!("user {}", caller.user_id))
                .map_err(|e| ApiError::internal(e.to_string()))?,
        },
        None,
    )
    .await?;
    match a.value {
        SchemeApplied::SchemeSet {
            version,
            effective_at,
        } => {
            // Merchants' revenue bands are judged against the scheme in force.
            let currency = currency.clone();
            tokio::spawn(async move {
                if let Err(e) = service::mirror::mirror_all(&currency).await {
                    tracing::warn!(code = e.code, "ledger does not yet follow the registry");
                }
            });
            Ok(Answer {
                value: Json(SchemeSetAnswer {
                    version,
                    effective_at: effective_at.as_micros(),
                }),
                replayed: a.replayed,
            })
        }
        _ => Err(ApiError(crate::idempotency::key_reused())),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SchemeVersionView {
    pub version: u32,
    pub name: String,
    /// Unix microseconds from when it applies.
    pub effective_at: u64,
    /// Unix microseconds it was set.
    pub set_at: u64,
    pub operator: String,
    /// `in_force`, `superseded` or `pending` (not yet in force: it can be withdrawn).
    pub state: String,
}

/// The currency's scheme versions, oldest first.
#[utoipa::path(get, path = "/api/v1/operator/{currency}/scheme", security(("bearer" = [])),
    params(("currency" = String, Path)),
    responses((status = 200, body = Vec<SchemeVersionView>), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn scheme_versions(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
) -> Result<Json<Vec<SchemeVersionView>>, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let now = ledger::Timestamp::from_micros(service::now_us());
    Ok(Json(currency.engine.read(|l| {
        let in_force = l.scheme_at(now.max(l.last_timestamp())).map(|v| v.number);
        l.scheme_versions()
            .map(|v| SchemeVersionView {
                version: v.number,
                name: v.config.name.clone(),
                effective_at: v.effective_at.as_micros(),
                set_at: v.set_at.as_micros(),
                operator: v.operator.as_str().to_owned(),
                state: match in_force {
                    Some(n) if n == v.number => "in_force",
                    Some(n) if n > v.number => "superseded",
                    _ => "pending",
                }
                .to_owned(),
            })
            .collect()
    })))
}

/// Withdraws the latest scheme version before it comes into force (journaled; a
/// version in force stays).
#[utoipa::path(post, path = "/api/v1/operator/{currency}/scheme/{version}/withdraw", security(("bearer" = [])),
    params(("currency" = String, Path), ("version" = u32, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn withdraw_scheme(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams((code, version)): PathParams<(String, u32)>,
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("withdraw_scheme", &(&code, version)),
    )?;
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::WithdrawScheme {
            version,
            operator: Text::new(format!("user {}", caller.user_id))
                .map_err(|e| ApiError::internal(e.to_string()))?,
        },
        None,
    )
    .await?;
    Ok(crate::idempotency::mark_replayed(
        StatusCode::NO_CONTENT.into_response(),
        a.replayed,
    ))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Budget {
    pub account: u64,
    /// What the budget still holds.
    pub left: i64,
    pub spent_total: i64,
    pub spent_this_month: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling_total: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling_monthly: Option<i64>,
}

/// The currency's subsidy budgets: left, spent, and the scheme's ceilings.
#[utoipa::path(get, path = "/api/v1/operator/{currency}/budgets", security(("bearer" = [])),
    params(("currency" = String, Path)),
    responses((status = 200, body = Vec<Budget>), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn budgets(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
) -> Result<Json<Vec<Budget>>, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    Ok(Json(currency.engine.read(|l| {
        let now = l.last_timestamp();
        let month = ledger::scheme::calendar::KstDate::of(now).month_index();
        let scheme = l.scheme_at(now).map(|v| v.config.clone());
        l.accounts()
            .iter()
            .filter(|a| a.kind == AccountKind::SubsidyBudget)
            .map(|a| {
                let usage = l.budget_usage(a.id).cloned().unwrap_or_default();
                let ceiling = scheme.as_ref().and_then(|s| s.ceiling(a.id).cloned());
                Budget {
                    account: a.id.0,
                    left: a.balance().map_or(0, |b| b.get()),
                    spent_total: usage.spent_total.get(),
                    spent_this_month: if usage.month == month {
                        usage.spent_month.get()
                    } else {
                        0
                    },
                    ceiling_total: ceiling.as_ref().and_then(|c| c.total.map(|w| w.get())),
                    ceiling_monthly: ceiling.as_ref().and_then(|c| c.monthly.map(|w| w.get())),
                }
            })
            .collect()
    })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Funding {
    /// Won the municipality deposits into the budget.
    pub amount: i64,
}

/// The municipality funds a subsidy budget (the money is deposited with the issuer).
#[utoipa::path(post, path = "/api/v1/operator/{currency}/budgets/{budget}/funding", request_body = Funding,
    security(("bearer" = [])),
    params(("currency" = String, Path), ("budget" = u64, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn fund_budget(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams((code, budget)): PathParams<(String, u64)>,
    JsonBody(req): JsonBody<Funding>,
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("fund_budget", &(&code, budget, req.amount)),
    )?;
    let amount = won(req.amount)?;
    let reserve = currency
        .engine
        .read(|l| {
            l.scheme_at(l.last_timestamp())
                .map(|v| v.config.purchase.reserve)
        })
        .ok_or_else(|| ApiError::from(ledger::Rejection::SchemeNotConfigured))?;
    let a = one(
        currency,
        &key,
        Command::Transfer(ledger::Transfer::posted(
            ledger::TransferSpec::BudgetFunding {
                reserve: ledger::ReserveId(reserve),
                budget: ledger::BudgetId(AccountId(budget)),
                amount,
            },
        )),
        None,
    )
    .await?;
    Ok(crate::idempotency::mark_replayed(
        StatusCode::NO_CONTENT.into_response(),
        a.replayed,
    ))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNotice {
    pub title_ko: String,
    pub title_en: String,
    pub body_ko: String,
    pub body_en: String,
}

/// Publishes a notice to the currency's users (in Korean and English).
#[utoipa::path(post, path = "/api/v1/operator/{currency}/notices", request_body = NewNotice,
    security(("bearer" = [])), params(("currency" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 201, body = crate::auth::Notice), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn publish_notice(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
    JsonBody(req): JsonBody<NewNotice>,
) -> Result<Response, ApiError> {
    operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("publish_notice", &(&code, &req)),
    )?;
    let fields = [&req.title_ko, &req.title_en, &req.body_ko, &req.body_en];
    if fields
        .iter()
        .any(|f| f.trim().is_empty() || f.len() > 4_096)
    {
        return Err(ApiError::bad_request(
            "notice_invalid",
            "titles and bodies are 1 to 4,096 bytes, in Korean and English",
        ));
    }
    let mut notice = crate::auth::Notice {
        id: 0,
        currency: code,
        title_ko: req.title_ko,
        title_en: req.title_en,
        body_ko: req.body_ko,
        body_en: req.body_en,
        at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    Ok(
        crate::idempotency::once::<_, ApiError>(&state, &key, async {
            notice.id = state.auth.publish_notice(&notice)?;
            Ok((StatusCode::CREATED, Json(notice)).into_response())
        })
        .await,
    )
}

/// A merchant's QR code, for an operator printing stickers.
#[utoipa::path(get, path = "/api/v1/operator/{currency}/merchants/{merchant}/qr", security(("bearer" = [])),
    params(("currency" = String, Path), ("merchant" = u64, Path), QrParams),
    responses((status = 200, description = "image/png, image/svg+xml or text/plain"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn merchant_qr(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams((code, merchant)): PathParams<(String, u64)>,
    QueryParams(p): QueryParams<QrParams>,
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let m = currency
        .merchants
        .get(merchant)
        .ok_or_else(|| ApiError::not_found("merchant"))?;
    qr_response(&code, &m, &p)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// applied (applications waiting), approved, suspended or closed.
    pub status: Option<String>,
    pub offset: Option<u32>,
    /// 1..=200 (default 50).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MerchantList {
    pub merchants: Vec<MerchantCard>,
    pub total: usize,
}

/// The currency's merchants, e.g. the applications waiting for approval (`status=applied`).
#[utoipa::path(get, path = "/api/v1/operator/{currency}/merchants", security(("bearer" = [])),
    params(("currency" = String, Path), ListParams),
    responses((status = 200, body = MerchantList), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn list_merchants(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
    QueryParams(p): QueryParams<ListParams>,
) -> Result<Json<MerchantList>, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let status = match p.status.as_deref() {
        None => None,
        Some(s) => Some(
            Status::ALL
                .into_iter()
                .find(|st| st.as_str() == s)
                .ok_or_else(|| ApiError::bad_request("status_unknown", s.to_owned()))?,
        ),
    };
    let offset = p.offset.unwrap_or(0) as usize;
    let limit = p.limit.unwrap_or(50).clamp(1, 200) as usize;
    Ok(Json(currency.merchants.read(|reg| {
        let matching = reg
            .records()
            .iter()
            .filter(|m| status.is_none_or(|s| m.status == s));
        let total = matching.clone().count();
        MerchantList {
            merchants: matching
                .skip(offset)
                .take(limit)
                .map(|m| MerchantCard::of(m, None))
                .collect(),
            total,
        }
    })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LifecycleReason {
    pub reason: String,
}

/// Closes a merchant (폐업 or withdrawn): its codes stop paying and say why.
#[utoipa::path(post, path = "/api/v1/operator/{currency}/merchants/{merchant}/close", request_body = LifecycleReason, security(("bearer" = [])),
    params(("currency" = String, Path), ("merchant" = u64, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn close_merchant(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams((code, merchant)): PathParams<(String, u64)>,
    JsonBody(req): JsonBody<LifecycleReason>,
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("close_merchant", &(&code, merchant, &req.reason)),
    )?;
    Ok(crate::idempotency::once(&state, &key, async {
        move_merchant(currency, merchant, Status::Closed, &req.reason)
            .await
            .map(IntoResponse::into_response)
    })
    .await)
}

/// Reopens a closed merchant with the same id (its old stickers work again).
#[utoipa::path(post, path = "/api/v1/operator/{currency}/merchants/{merchant}/reopen", request_body = LifecycleReason, security(("bearer" = [])),
    params(("currency" = String, Path), ("merchant" = u64, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn reopen_merchant(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams((code, merchant)): PathParams<(String, u64)>,
    JsonBody(req): JsonBody<LifecycleReason>,
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("reopen_merchant", &(&code, merchant, &req.reason)),
    )?;
    Ok(crate::idempotency::once(&state, &key, async {
        move_merchant(currency, merchant, Status::Approved, &req.reason)
            .await
            .map(IntoResponse::into_response)
    })
    .await)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SyncParams {
    /// `false`: only say what would change (default `true`).
    pub apply: Option<bool>,
    /// `json` (default): the summary below. `csv`: the full row report as a file
    /// (`text/csv`, UTF-8 with BOM for Excel; columns `line,brn,outcome,code,message_ko,
    /// message_en,merchant_id`, one row per outcome, merchants absent from the file last).
    pub report: Option<String>,
    /// How merchants the sync adds start: `approved` (default: as the file says, 영업 →
    /// approved, 휴업 → suspended) or `applied` (all awaiting an operator's review).
    pub new_status: Option<String>,
    /// `accept`: a row whose 사업자등록번호 fails its check digit is imported as written,
    /// marked unverified and awaiting review (not payable until approved), and reported.
    /// `reject` (default): such rows are rejected (`bad_brn_checksum`).
    pub unverified_brn: Option<String>,
}

/// Rows shown in a sync's JSON answer, at most.
const SYNC_ATTENTION_MAX: usize = 100;

/// Absent merchants' ids shown in a sync's JSON answer, at most.
const SYNC_ABSENT_EXAMPLES_MAX: usize = 20;

/// Ignored column names shown, at most.
const SYNC_IGNORED_COLUMNS_MAX: usize = 50;

/// One outcome of one row of a registry file.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SyncRow {
    /// The file's line (the header is line 1); absent for merchants not in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brn: Option<String>,
    /// rejected, warning, held, alias, added, changed, …
    pub outcome: String,
    /// Stable code: `bad_brn_checksum`, `location_invalid`, `revenue_straddles`,
    /// `alias_conflict`, …
    pub code: String,
    pub message_ko: String,
    pub message_en: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<u64>,
}

impl SyncRow {
    fn of(r: &ReportRow) -> SyncRow {
        SyncRow {
            line: r.line,
            brn: r.brn.clone(),
            outcome: r.outcome.clone(),
            code: r.code.clone(),
            message_ko: r.message_ko.clone(),
            message_en: r.message_en.clone(),
            merchant_id: r.merchant_id.map(|m| m.0),
        }
    }

    /// Rows an operator must read: refusals, warnings, held decisions, refused QR codes.
    fn needs_attention(r: &ReportRow) -> bool {
        match r.outcome.as_str() {
            "rejected" | "warning" | "held" => true,
            "alias" => !matches!(r.code.as_str(), "alias_added" | "alias_unchanged"),
            _ => false,
        }
    }
}

/// A registry sync, summarised: counts, and what needs reading first. Every row's every
/// outcome is in the CSV report (`?report=csv`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SyncAnswer {
    pub applied: bool,
    /// How added merchants start: approved (as the file says) or applied.
    pub new_status: String,
    /// utf8, utf8_bom or euc_kr (CP949).
    pub encoding: String,
    /// Data rows read.
    pub rows: u64,
    pub added: usize,
    pub changed: usize,
    pub suspended: usize,
    pub resumed: usize,
    pub reopened: usize,
    pub closed: usize,
    /// Left as an operator decided, whatever the file says.
    pub held: usize,
    pub unchanged: u64,
    /// New merchants already 폐업 in the file: not added.
    pub skipped_closed: u64,
    pub rejected: usize,
    /// Rows taken with something to fix: no or unusable location, revenue left unknown
    /// (unreadable, missing, or straddling the scheme's bands: lowest cash-back rate),
    /// unverified 사업자등록번호.
    pub warnings: usize,
    /// Previous operator's QR codes (기존QR column) now paying their row's merchant (in
    /// a dry run: that would).
    pub aliases_added: usize,
    /// QR codes already paying that merchant.
    pub aliases_unchanged: usize,
    /// QR codes not linked: another merchant's, twice in the file, or unusable.
    pub aliases_refused: usize,
    /// Approved or suspended merchants the file does not mention (not closed: an
    /// operator decides).
    pub absent_total: usize,
    /// The first of them (at most 20); all are in the CSV report.
    pub absent_examples: Vec<u64>,
    /// Ledger commands sent so the ledger follows the registry.
    pub ledger_commands: usize,
    /// Header columns not used (at most 50).
    pub ignored_columns: Vec<String>,
    /// Rows an operator should read first (rejected, warnings, held, refused QR
    /// codes), by line, at most 100.
    pub attention: Vec<SyncRow>,
    /// How many such rows there are in all.
    pub attention_total: usize,
}

fn sync_request(p: &SyncParams) -> Result<SyncRequestParts, ApiError> {
    let new_status = match p.new_status.as_deref() {
        None => NewStatus::Approved,
        Some(s) => NewStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "new_status_unknown",
                format!("{s}: use approved or applied"),
            )
        })?,
    };
    let unverified_brn = match p.unverified_brn.as_deref() {
        None | Some("reject") => false,
        Some("accept") => true,
        Some(s) => {
            return Err(ApiError::bad_request(
                "unverified_brn_unknown",
                format!("{s}: use accept or reject"),
            ));
        }
    };
    let csv = match p.report.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(s) => {
            return Err(ApiError::bad_request(
                "report_format_unknown",
                format!("{s}: use json or csv"),
            ));
        }
    };
    Ok(SyncRequestParts {
        apply: p.apply.unwrap_or(true),
        new_status,
        unverified_brn,
        csv,
    })
}

struct SyncRequestParts {
    apply: bool,
    new_status: NewStatus,
    unverified_brn: bool,
    csv: bool,
}

/// Imports a merchant registry file (CSV, UTF-8 or CP949; Korean or English headers):
/// upsert by business registration number, with the diff. Ids, QR codes and aliases
/// survive every sync; a previous operator's QR column (기존QR) becomes aliases of the
/// rows' merchants in the same run. Revenue labels are read with the currency's table
/// (`/revenue-bands`) and judged against the scheme in force: one that cannot be read or
/// straddles the scheme's bands leaves revenue unknown (lowest cash-back) and is
/// reported per row. The answer is a summary; `report=csv` gives every row.
#[utoipa::path(post, path = "/api/v1/operator/{currency}/registry-sync", security(("bearer" = [])),
    params(("currency" = String, Path), ("Idempotency-Key" = String, Header), SyncParams),
    request_body(content = Vec<u8>, content_type = "text/csv"),
    responses(
        (status = 200, description = "the summary (JSON), or with `report=csv` the row report (text/csv)",
            content((SyncAnswer = "application/json"), (String = "text/csv"))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn registry_sync(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
    QueryParams(p): QueryParams<SyncParams>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?.clone();
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of(
            "registry_sync",
            &(
                &code,
                blake3::hash(&body).to_hex().as_str(),
                format!("{p:?}"),
            ),
        ),
    )?;
    Ok(crate::idempotency::once(&state, &key, run_registry_sync(currency, code, p, body)).await)
}

async fn run_registry_sync(
    currency: Currency,
    code: String,
    p: SyncParams,
    body: Bytes,
) -> Result<Response, ApiError> {
    let parts = sync_request(&p)?;
    let request = SyncRequest {
        apply: parts.apply,
        new_status: parts.new_status,
        unverified_brn: parts.unverified_brn,
        revenue_thresholds: thresholds_in_force(&currency).unwrap_or_default(),
        revenue_bands: None,
    };
    let merchants = Arc::clone(&currency.merchants);
    let outcome =
        tokio::task::spawn_blocking(move || merchants.sync(&body, &request, service::now_us()))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??;
    let ledger_commands = mirror_in_ledger(&currency, &outcome.touched).await?;
    if parts.csv {
        let csv = tokio::task::spawn_blocking(move || directory::report_csv(&outcome.rows))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let disposition = format!("attachment; filename=\"registry-sync-{code}.csv\"");
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            csv,
        )
            .into_response());
    }
    let r = &outcome.report;
    let attention: Vec<&ReportRow> = outcome
        .rows
        .iter()
        .filter(|r| SyncRow::needs_attention(r))
        .collect();
    Ok(Json(SyncAnswer {
        applied: parts.apply,
        new_status: parts.new_status.as_str().to_owned(),
        encoding: match r.encoding {
            directory::sync::FileEncoding::Utf8 => "utf8",
            directory::sync::FileEncoding::Utf8Bom => "utf8_bom",
            directory::sync::FileEncoding::EucKr => "euc_kr",
        }
        .to_owned(),
        rows: r.rows,
        added: r.added.len(),
        changed: r.changed.len(),
        suspended: r.suspended.len(),
        resumed: r.resumed.len(),
        reopened: r.reopened.len(),
        closed: r.closed.len(),
        held: r.held.len(),
        unchanged: r.unchanged,
        skipped_closed: r.skipped_closed,
        rejected: r.rejected.len(),
        warnings: r.warnings.len(),
        aliases_added: outcome.aliases.added,
        aliases_unchanged: outcome.aliases.unchanged,
        aliases_refused: outcome.aliases.refused,
        absent_total: r.absent.len(),
        absent_examples: r
            .absent
            .iter()
            .take(SYNC_ABSENT_EXAMPLES_MAX)
            .map(|a| a.id.0)
            .collect(),
        ledger_commands,
        ignored_columns: r
            .ignored_columns
            .iter()
            .take(SYNC_IGNORED_COLUMNS_MAX)
            .cloned()
            .collect(),
        attention_total: attention.len(),
        attention: attention
            .into_iter()
            .take(SYNC_ATTENTION_MAX)
            .map(SyncRow::of)
            .collect(),
    })
    .into_response())
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevenueBandsAnswer {
    /// The operator's labels now in force (beside the built-in ones).
    pub labels: usize,
}

/// The revenue labels registry syncs read, as CSV `label,min_won,max_won` (both bounds
/// inclusive whole won, an empty `max_won` is no upper bound): the operator's labels,
/// then the built-in ones (`1억 미만`, `1억~3억`, `3억~10억`, `10억~30억`, `30억 초과`,
/// 영세, 중소1..3, 일반) they do not override.
#[utoipa::path(get, path = "/api/v1/operator/{currency}/revenue-bands", security(("bearer" = [])),
    params(("currency" = String, Path)),
    responses((status = 200, body = String, content_type = "text/csv"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn revenue_bands(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    PathParams(code): PathParams<String>,
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        currency.merchants.revenue_bands_csv(),
    )
        .into_response())
}

/// Replaces the currency's own revenue labels (a previous operator's grades, say), read
/// by every registry sync from now on: CSV `label,min_won,max_won` (UTF-8 or CP949,
/// optional header; both bounds inclusive whole won, `3억` or `300000000`; empty
/// `max_won`: no upper bound). Stored once rather than sent with every file so that a
/// dry run and its sync, and every later sync, read labels the same way. A table with
/// any bad line is refused whole; a header alone goes back to the built-in labels.
#[utoipa::path(put, path = "/api/v1/operator/{currency}/revenue-bands", security(("bearer" = [])),
    params(("currency" = String, Path), ("Idempotency-Key" = String, Header)),
    request_body(content = Vec<u8>, content_type = "text/csv"),
    responses((status = 200, body = RevenueBandsAnswer), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn set_revenue_bands(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of(
            "set_revenue_bands",
            &(&code, blake3::hash(&body).to_hex().as_str()),
        ),
    )?;
    Ok(
        crate::idempotency::once::<_, ApiError>(&state, &key, async {
            let labels = currency
                .merchants
                .set_revenue_bands(&body, service::now_us())?;
            Ok(Json(RevenueBandsAnswer { labels }).into_response())
        })
        .await,
    )
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AliasRejected {
    pub line: u64,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AliasImportAnswer {
    pub added: usize,
    pub identical_duplicates: usize,
    pub rejected: Vec<AliasRejected>,
    /// Lines whose merchant account was also claimed for another merchant (they match
    /// nothing).
    pub account_conflicts: Vec<u64>,
}

/// Imports a previous operator's QR codes (CSV `payload,merchant_id[,note]`), so the
/// stickers already in shops pay the right merchants.
#[utoipa::path(post, path = "/api/v1/operator/{currency}/qr-aliases", security(("bearer" = [])),
    params(("currency" = String, Path), ("Idempotency-Key" = String, Header)),
    request_body(content = Vec<u8>, content_type = "text/csv"),
    responses((status = 200, body = AliasImportAnswer), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn import_aliases(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(code): PathParams<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let currency = operator_of(&state, &caller, &code)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of(
            "import_aliases",
            &(&code, blake3::hash(&body).to_hex().as_str()),
        ),
    )?;
    Ok(
        crate::idempotency::once::<_, ApiError>(&state, &key, async {
            let r = currency
                .merchants
                .import_aliases(&body, service::now_us())?;
            Ok(alias_answer(&r).into_response())
        })
        .await,
    )
}

fn alias_answer(r: &qr::ImportReport) -> Json<AliasImportAnswer> {
    Json(AliasImportAnswer {
        added: r.added,
        identical_duplicates: r.identical_duplicates,
        rejected: r
            .rejected
            .iter()
            .map(|x| AliasRejected {
                line: x.line,
                code: x.problem.code().to_owned(),
                message: x.problem.to_string(),
            })
            .collect(),
        account_conflicts: r.account_conflicts.iter().map(|c| c.line).collect(),
    })
}
