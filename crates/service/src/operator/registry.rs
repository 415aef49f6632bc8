//! Registry files as an operator sends them: a sync (a dry run shows the diff first),
//! the currency's revenue labels, a previous operator's QR codes as aliases.

use directory::{NewStatus, ReportRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::operator_of;
use crate::error::ServiceError;
use crate::idempotency::{Answered, Fingerprint, claim_key, once};
use crate::merchants::SyncRequest;
use crate::mirror::{mirror_in_ledger, thresholds_in_force};
use crate::{Caller, Currency, Service};

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

/// Rows of a full report (`SyncReport::Full`), at most; the CSV report has them all.
pub const SYNC_FULL_ROWS_MAX: usize = 5_000;

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
    /// A refused row's field at fault (`brn`, `name`, `mcc`, `category`, `revenue`,
    /// `sources`, `location`, `hours`, `status`, `road_address`, …), when it is one
    /// field's rather than the line's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
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
            field: r.field.clone(),
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

/// What a registry sync answers, in the form asked for.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SyncReport {
    /// The summary (`report=json`).
    Summary(Box<SyncAnswer>),
    /// Every row's every outcome as CSV text (`report=csv`).
    Csv(String),
    /// The summary and every row (at most `SYNC_FULL_ROWS_MAX`), for a page that shows
    /// both; `rows_total` says how many there are in all.
    Full {
        summary: Box<SyncAnswer>,
        rows: Vec<SyncRow>,
        rows_total: usize,
    },
}

/// The form of a sync's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SyncFormat {
    Summary,
    Csv,
    Full,
}

/// What a sync is asked to do, its parameters read.
#[derive(Debug)]
struct SyncAsk {
    apply: bool,
    new_status: NewStatus,
    unverified_brn: bool,
    format: SyncFormat,
}

fn sync_ask(p: &SyncParams) -> Result<SyncAsk, ServiceError> {
    let new_status = match p.new_status.as_deref() {
        None => NewStatus::Approved,
        Some(s) => NewStatus::parse(s).ok_or_else(|| {
            ServiceError::bad_request(
                "new_status_unknown",
                format!("{s}: use approved or applied"),
            )
        })?,
    };
    let unverified_brn = match p.unverified_brn.as_deref() {
        None | Some("reject") => false,
        Some("accept") => true,
        Some(s) => {
            return Err(ServiceError::bad_request(
                "unverified_brn_unknown",
                format!("{s}: use accept or reject"),
            ));
        }
    };
    let format = match p.report.as_deref() {
        None | Some("json") => SyncFormat::Summary,
        Some("csv") => SyncFormat::Csv,
        Some(s) => {
            return Err(ServiceError::bad_request(
                "report_format_unknown",
                format!("{s}: use json or csv"),
            ));
        }
    };
    Ok(SyncAsk {
        apply: p.apply.unwrap_or(true),
        new_status,
        unverified_brn,
        format,
    })
}

/// Imports a merchant registry file (CSV, UTF-8 or CP949; Korean or English headers):
/// upsert by business registration number, with the diff (`apply=false`: the diff only).
/// Ids, QR codes and aliases survive every sync; a previous operator's QR column
/// (기존QR) becomes aliases of the rows' merchants in the same run. Revenue labels are
/// read with the currency's table and judged against the scheme in force.
pub async fn registry_sync(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    code: &str,
    p: &SyncParams,
    file: Vec<u8>,
) -> Result<Answered<SyncReport>, ServiceError> {
    registry_sync_as(service, caller, idempotency_key, code, p, None, file).await
}

/// The same, answered in `format` whatever `p.report` says (a page showing the summary
/// and every row asks `SyncFormat::Full`).
pub async fn registry_sync_as(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    code: &str,
    p: &SyncParams,
    format: Option<SyncFormat>,
    file: Vec<u8>,
) -> Result<Answered<SyncReport>, ServiceError> {
    let currency = operator_of(service, caller, code)?.clone();
    // The API's fingerprint is the file and its parameters as sent; another format of
    // answer is another request.
    let digest = blake3::hash(&file).to_hex();
    let fields = (code, digest.as_str(), format!("{p:?}"));
    let fingerprint = match format {
        None => Fingerprint::of("registry_sync", &fields),
        Some(f) => Fingerprint::of("registry_sync", &(fields, f)),
    };
    let key = claim_key(service, idempotency_key, caller, fingerprint)?;
    once(service, &key, async move {
        let mut ask = sync_ask(p)?;
        if let Some(f) = format {
            ask.format = f;
        }
        run_registry_sync(currency, ask, file).await
    })
    .await
}

async fn run_registry_sync(
    currency: Currency,
    ask: SyncAsk,
    file: Vec<u8>,
) -> Result<SyncReport, ServiceError> {
    let request = SyncRequest {
        apply: ask.apply,
        new_status: ask.new_status,
        unverified_brn: ask.unverified_brn,
        revenue_thresholds: thresholds_in_force(&currency).unwrap_or_default(),
        revenue_bands: None,
    };
    let merchants = std::sync::Arc::clone(&currency.merchants);
    let outcome =
        tokio::task::spawn_blocking(move || merchants.sync(&file, &request, crate::now_us()))
            .await
            .map_err(|e| ServiceError::internal(e.to_string()))??;
    let ledger_commands = mirror_in_ledger(&currency, &outcome.touched).await?;
    if ask.format == SyncFormat::Csv {
        let csv = tokio::task::spawn_blocking(move || directory::report_csv(&outcome.rows))
            .await
            .map_err(|e| ServiceError::internal(e.to_string()))?;
        let text = String::from_utf8(csv).map_err(|e| ServiceError::internal(e.to_string()))?;
        return Ok(SyncReport::Csv(text));
    }
    let r = &outcome.report;
    let attention: Vec<&ReportRow> = outcome
        .rows
        .iter()
        .filter(|r| SyncRow::needs_attention(r))
        .collect();
    let summary = SyncAnswer {
        applied: ask.apply,
        new_status: ask.new_status.as_str().to_owned(),
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
    };
    Ok(match ask.format {
        SyncFormat::Full => SyncReport::Full {
            summary: Box::new(summary),
            rows_total: outcome.rows.len(),
            rows: outcome
                .rows
                .iter()
                .take(SYNC_FULL_ROWS_MAX)
                .map(SyncRow::of)
                .collect(),
        },
        _ => SyncReport::Summary(Box::new(summary)),
    })
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevenueBandsAnswer {
    /// The operator's labels now in force (beside the built-in ones).
    pub labels: usize,
}

/// The revenue labels registry syncs read, as CSV `label,min_won,max_won`: the
/// operator's labels, then the built-in ones they do not override.
pub fn revenue_bands(
    service: &Service,
    caller: &Caller,
    code: &str,
) -> Result<String, ServiceError> {
    let currency = operator_of(service, caller, code)?;
    Ok(currency.merchants.revenue_bands_csv())
}

/// Replaces the currency's own revenue labels, read by every registry sync from now on.
/// A table with any bad line is refused whole; a header alone goes back to the built-in
/// labels.
pub async fn set_revenue_bands(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    code: &str,
    file: &[u8],
) -> Result<Answered<RevenueBandsAnswer>, ServiceError> {
    let currency = operator_of(service, caller, code)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of(
            "set_revenue_bands",
            &(code, blake3::hash(file).to_hex().as_str()),
        ),
    )?;
    once(service, &key, async {
        let labels = currency
            .merchants
            .set_revenue_bands(file, crate::now_us())?;
        Ok(RevenueBandsAnswer { labels })
    })
    .await
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AliasRejected {
    pub line: u64,
    pub code: String,
    /// Why, in English.
    pub message: String,
    /// Why, in Korean.
    #[serde(default)]
    pub message_ko: String,
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
pub async fn import_aliases(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    code: &str,
    file: &[u8],
) -> Result<Answered<AliasImportAnswer>, ServiceError> {
    let currency = operator_of(service, caller, code)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of(
            "import_aliases",
            &(code, blake3::hash(file).to_hex().as_str()),
        ),
    )?;
    once(service, &key, async {
        // Reading the file (up to megabytes) takes a core for a while: not on an async
        // thread.
        let merchants = std::sync::Arc::clone(&currency.merchants);
        let file = file.to_vec();
        let r =
            tokio::task::spawn_blocking(move || merchants.import_aliases(&file, crate::now_us()))
                .await
                .map_err(|e| ServiceError::internal(e.to_string()))??;
        Ok(alias_answer(&r))
    })
    .await
}

fn alias_answer(r: &qr::ImportReport) -> AliasImportAnswer {
    AliasImportAnswer {
        added: r.added,
        identical_duplicates: r.identical_duplicates,
        rejected: r
            .rejected
            .iter()
            .map(|x| AliasRejected {
                line: x.line,
                code: x.problem.code().to_owned(),
                message: x.problem.to_string(),
                message_ko: x.problem.message_ko(),
            })
            .collect(),
        account_conflicts: r.account_conflicts.iter().map(|c| c.line).collect(),
    }
}
