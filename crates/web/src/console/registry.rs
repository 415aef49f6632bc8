//! The console's files: registry sync (`/console/registry`: upload the registry file,
//! UTF-8 or CP949 CSV, see what it would change, then apply it and read every row's
//! outcome) and a previous operator's QR codes as aliases (`/console/aliases`: upload,
//! import, read the row report).
//!
//! A sync is previewed before it is applied: the preview is the service's own dry run
//! (`registry_sync_as` with `apply=false`), and the file previewed is kept here for a
//! while (bounded, per operator, by its digest) so that "apply" applies exactly that
//! file without sending it again. Everything said about rows comes from the service.

use std::collections::VecDeque;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FormRejection};
use axum::extract::{DefaultBodyLimit, Form, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use service::ServiceError;
use service::operator::registry::{
    self as ops, AliasImportAnswer, SyncAnswer, SyncFormat, SyncParams, SyncReport, SyncRow,
};

use super::Tab;
use super::merchants::{console_page, error_alert, operator, status_words};
use crate::Pages;
use crate::account::refused;
use crate::i18n::{Lang, Words};
use crate::prefs::Prefs;
use crate::session::{CSRF_FIELD, SignedIn, fresh_token};
use crate::upload;

/// The largest file the pages take (as the API does; larger registries go through
/// `maeul admin sync-registry`).
pub const UPLOAD_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Previewed files kept for "apply", at most, in all.
const KEPT_FILES_MAX: usize = 8;
/// Their bytes, at most, in all.
const KEPT_BYTES_MAX: usize = 128 * 1024 * 1024;
/// How long a previewed file can be applied.
const KEPT_FOR: Duration = Duration::from_secs(30 * 60);
/// Rows shown per table of a preview (the full report after applying has them all, up
/// to the service's bound).
const PREVIEW_ROWS_SHOWN: usize = 200;

pub fn routes() -> Router<Pages> {
    Router::new()
        .route("/console/registry", get(registry_page))
        .route(
            "/console/registry/preview",
            post(preview).layer(DefaultBodyLimit::max(UPLOAD_BYTES_MAX + 64 * 1024)),
        )
        .route("/console/registry/apply", post(apply))
        .route(
            "/console/aliases",
            get(aliases_page)
                .post(import_aliases)
                .layer(DefaultBodyLimit::max(UPLOAD_BYTES_MAX + 64 * 1024)),
        )
}

/// These pages' fixed texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum W {
    RegistryTitle,
    RegistryLead,
    FileLabel,
    FileHelp,
    NewStatusLabel,
    NewStatusApproved,
    NewStatusApplied,
    UnverifiedLabel,
    UnverifiedHelp,
    PreviewButton,
    PreviewTitle,
    PreviewLead,
    ApplyButton,
    ApplyHelp,
    AppliedTitle,
    AppliedLead,
    Failed,
    NoFile,
    FileGone,
    Unreadable,
    SummaryTitle,
    Encoding,
    RowsRead,
    Added,
    Changed,
    StatusMoves,
    Held,
    Unchanged,
    SkippedClosed,
    Rejected,
    Warnings,
    AliasesAdded,
    AliasesRefused,
    Absent,
    LedgerCommands,
    ChangesTitle,
    NoChanges,
    RefusedTitle,
    NoneRefused,
    WarningsTitle,
    FullTitle,
    FullTruncated,
    Line,
    Brn,
    Outcome,
    Field,
    Reason,
    Merchant,
    MoreRows,
    AgainTitle,
    AliasesTitle,
    AliasesLead,
    AliasFileHelp,
    ImportButton,
    ImportedTitle,
    AliasesAddedCount,
    Duplicates,
    AliasRefusedTitle,
    Conflicts,
    ConflictsNone,
}

impl Words for W {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            W::RegistryTitle => ("등록부 동기화", "Registry sync"),
            W::RegistryLead => (
                "가맹점 등록부 파일(CSV, UTF-8 또는 CP949)을 올리면 무엇이 바뀌는지 먼저 보여 드립니다. 확인한 뒤에 적용하세요. 운영자가 정한 정지는 파일이 풀지 않고, 파일에 없는 가맹점은 폐업 처리하지 않습니다.",
                "Upload the merchant registry file (CSV, UTF-8 or CP949) to see first what it would change; apply it once checked. A file never lifts an operator's suspension, and merchants missing from it are not closed.",
            ),
            W::FileLabel => ("등록부 파일 (CSV)", "Registry file (CSV)"),
            W::FileHelp => (
                "사업자등록번호, 상호, 영업상태 열이 있는 CSV입니다. 한글 또는 영어 머리글을 읽습니다.",
                "A CSV with business number, name and business status columns; Korean or English headers.",
            ),
            W::NewStatusLabel => ("새 가맹점의 상태", "New merchants start as"),
            W::NewStatusApproved => (
                "파일대로 (영업 → 승인, 휴업 → 정지)",
                "As the file says (영업 → approved, 휴업 → suspended)",
            ),
            W::NewStatusApplied => (
                "모두 승인 대기 (운영자 검토 후 승인)",
                "All awaiting approval (an operator reviews them)",
            ),
            W::UnverifiedLabel => (
                "검증번호가 맞지 않는 사업자등록번호도 받기",
                "Take business numbers that fail their check digit",
            ),
            W::UnverifiedHelp => (
                "받은 가맹점은 확인 필요로 표시되고 승인 대기 상태로 들어옵니다.",
                "Such merchants are marked unverified and await approval.",
            ),
            W::PreviewButton => ("바뀌는 점 미리 보기", "Preview the changes"),
            W::PreviewTitle => (
                "미리 보기: 아직 적용하지 않았습니다",
                "Preview: nothing applied yet",
            ),
            W::PreviewLead => (
                "아래 내용을 확인한 뒤 적용하세요. 적용 전까지 가맹점은 바뀌지 않습니다.",
                "Check what follows, then apply. Merchants do not change until you do.",
            ),
            W::ApplyButton => ("이 파일 적용하기", "Apply this file"),
            W::ApplyHelp => (
                "미리 본 파일 그대로 적용합니다. 파일을 다시 올릴 필요가 없습니다.",
                "Applies exactly the file previewed; no need to upload it again.",
            ),
            W::AppliedTitle => ("적용했습니다", "Applied"),
            W::AppliedLead => (
                "등록부에 반영했고 결제 장부도 따라 바뀌었습니다. 모든 행의 결과는 아래 보고서에 있습니다.",
                "The registry has changed and the ledger follows it. Every row's outcome is in the report below.",
            ),
            W::Failed => ("처리하지 못했습니다", "This was not done"),
            W::NoFile => ("파일을 골라 주세요.", "Please choose a file."),
            W::FileGone => (
                "미리 본 파일이 더 이상 남아 있지 않습니다(30분이 지났거나 서버가 다시 시작됨). 파일을 다시 올려 미리 보기부터 해 주세요.",
                "The previewed file is no longer kept (30 minutes passed or the server restarted). Upload it again and preview first.",
            ),
            W::Unreadable => (
                "보낸 양식을 읽을 수 없습니다. 페이지를 새로 고친 뒤 다시 올려 주세요.",
                "The form sent could not be read. Reload the page and upload again.",
            ),
            W::SummaryTitle => ("요약", "Summary"),
            W::Encoding => ("문자 인코딩", "Encoding"),
            W::RowsRead => ("읽은 행", "Rows read"),
            W::Added => ("새 가맹점", "Added"),
            W::Changed => ("정보 변경", "Changed"),
            W::StatusMoves => (
                "상태 변경 (정지·재개·폐업)",
                "Status changes (suspended, resumed, reopened, closed)",
            ),
            W::Held => ("운영자 결정 유지", "Kept as an operator decided"),
            W::Unchanged => ("변경 없음", "Unchanged"),
            W::SkippedClosed => ("이미 폐업이라 추가하지 않음", "Already closed, not added"),
            W::Rejected => ("받지 않은 행", "Rows refused"),
            W::Warnings => ("확인이 필요한 행", "Rows to check"),
            W::AliasesAdded => ("기존 QR 연결", "Old QR codes linked"),
            W::AliasesRefused => ("연결하지 않은 기존 QR", "Old QR codes not linked"),
            W::Absent => (
                "파일에 없는 가맹점 (그대로 둠)",
                "Merchants not in the file (left as they are)",
            ),
            W::LedgerCommands => ("장부에 보낸 변경", "Ledger commands sent"),
            W::ChangesTitle => ("바뀌는 가맹점", "Merchants that change"),
            W::NoChanges => ("바뀌는 가맹점이 없습니다.", "No merchant changes."),
            W::RefusedTitle => ("받지 않은 행", "Rows refused"),
            W::NoneRefused => ("받지 않은 행이 없습니다.", "No row was refused."),
            W::WarningsTitle => ("받았지만 확인이 필요한 행", "Rows taken that need checking"),
            W::FullTitle => ("전체 행 보고서", "Full row report"),
            W::FullTruncated => (
                "행이 많아 앞부분만 보여 드립니다. 전체 보고서는 API(report=csv)로 받을 수 있습니다.",
                "Only the first rows are shown; the API gives the whole report (report=csv).",
            ),
            W::Line => ("줄", "Line"),
            W::Brn => ("사업자등록번호", "Business number"),
            W::Outcome => ("결과", "Outcome"),
            W::Field => ("항목", "Field"),
            W::Reason => ("사유", "Reason"),
            W::Merchant => ("가맹점 번호", "Merchant id"),
            W::MoreRows => (
                "행이 더 있습니다. 적용 후 전체 보고서에서 볼 수 있습니다.",
                "There are more rows; the full report after applying has them.",
            ),
            W::AgainTitle => ("다른 파일 올리기", "Upload another file"),
            W::AliasesTitle => ("기존 QR 등록", "Old QR codes"),
            W::AliasesLead => (
                "이전 운영사의 QR 코드를 가맹점에 연결하면 가게에 붙어 있는 스티커로 바로 결제할 수 있습니다.",
                "Link the previous operator's QR codes to merchants so the stickers already in shops pay them.",
            ),
            W::AliasFileHelp => (
                "CSV 한 줄에 QR 내용, 가맹점 번호, 메모(선택)입니다: payload,merchant_id,note",
                "One CSV line per code: payload, merchant id, optional note (payload,merchant_id,note).",
            ),
            W::ImportButton => ("QR 코드 가져오기", "Import the codes"),
            W::ImportedTitle => ("가져왔습니다", "Imported"),
            W::AliasesAddedCount => ("새로 연결한 코드", "Codes linked"),
            W::Duplicates => (
                "이미 같은 가맹점에 연결된 코드",
                "Already linked to the same merchant",
            ),
            W::AliasRefusedTitle => ("받지 않은 줄", "Lines refused"),
            W::Conflicts => (
                "다른 가맹점과 계정이 겹치는 줄 (똑같은 코드만 결제됨)",
                "Lines whose account another merchant also claims (only the exact code pays)",
            ),
            W::ConflictsNone => ("없음", "None"),
        }
    }
}

// == Previewed files ==

/// Files previewed, kept so "apply" applies exactly them: (operator, digest) → bytes,
/// oldest first, bounded in count, bytes and age.
#[derive(Default)]
struct Kept {
    files: VecDeque<KeptFile>,
    bytes: usize,
}

struct KeptFile {
    user: i64,
    digest: String,
    at: Instant,
    bytes: Arc<Vec<u8>>,
}

static KEPT: LazyLock<Mutex<Kept>> = LazyLock::new(|| Mutex::new(Kept::default()));

impl Kept {
    fn keep(&mut self, user: i64, digest: &str, bytes: Vec<u8>) {
        let now = Instant::now();
        self.files
            .retain(|f| !(f.user == user && f.digest == digest));
        self.files.push_back(KeptFile {
            user,
            digest: digest.to_owned(),
            at: now,
            bytes: Arc::new(bytes),
        });
        self.bytes = self.files.iter().map(|f| f.bytes.len()).sum();
        while let Some(oldest) = self.files.front() {
            let stale = now.duration_since(oldest.at) >= KEPT_FOR;
            if !stale && self.files.len() <= KEPT_FILES_MAX && self.bytes <= KEPT_BYTES_MAX {
                break;
            }
            if let Some(gone) = self.files.pop_front() {
                self.bytes -= gone.bytes.len();
            }
        }
    }

    fn get(&self, user: i64, digest: &str) -> Option<Arc<Vec<u8>>> {
        self.files
            .iter()
            .find(|f| f.user == user && f.digest == digest && f.at.elapsed() < KEPT_FOR)
            .map(|f| Arc::clone(&f.bytes))
    }
}

fn kept() -> std::sync::MutexGuard<'static, Kept> {
    KEPT.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

// == Registry sync ==

/// What the registry form asks besides the file.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SyncChoice {
    /// `approved` (default) or `applied`.
    new_status: Option<String>,
    /// `accept` to take unverified business numbers.
    unverified_brn: Option<String>,
}

impl SyncChoice {
    fn applied_first(&self) -> bool {
        self.new_status.as_deref() == Some("applied")
    }

    fn accept_unverified(&self) -> bool {
        self.unverified_brn.as_deref() == Some("accept")
    }

    fn params(&self, apply: bool) -> SyncParams {
        SyncParams {
            apply: Some(apply),
            report: None,
            new_status: Some(
                if self.applied_first() {
                    "applied"
                } else {
                    "approved"
                }
                .to_owned(),
            ),
            unverified_brn: Some(
                if self.accept_unverified() {
                    "accept"
                } else {
                    "reject"
                }
                .to_owned(),
            ),
        }
    }
}

/// `GET /console/registry`: the upload form.
pub async fn registry_page(State(pages): State<Pages>, parts: Parts) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let session = match operator(&pages, &parts, "/console/registry") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let lang = prefs.lang;
    let csrf = pages.csrf.for_session(&session.token);
    let body = html! {
        h1 { (lang.t(W::RegistryTitle)) }
        p.lead { (lang.t(W::RegistryLead)) }
        (registry_form(lang, &csrf, &SyncChoice::default(), None))
    };
    console_page(
        prefs,
        "/console/registry",
        Tab::Registry,
        lang.t(W::RegistryTitle),
        StatusCode::OK,
        body,
    )
}

fn registry_form(lang: Lang, csrf: &str, choice: &SyncChoice, error: Option<&Markup>) -> Markup {
    html! {
        form.form.upload method="post" action="/console/registry/preview" enctype="multipart/form-data" {
            input type="hidden" name=(CSRF_FIELD) value=(csrf);
            input type="hidden" name="key" value=(fresh_token());
            @if let Some(e) = error { (e) }
            div.field {
                label for="registry-file" { (lang.t(W::FileLabel)) }
                input #registry-file type="file" name="file" accept=".csv,text/csv" required
                    aria-describedby="registry-file-help";
                p.meta #registry-file-help { (lang.t(W::FileHelp)) }
            }
            fieldset.field {
                legend { (lang.t(W::NewStatusLabel)) }
                div.choice {
                    input #new-approved type="radio" name="new_status" value="approved" checked[!choice.applied_first()];
                    label for="new-approved" { (lang.t(W::NewStatusApproved)) }
                }
                div.choice {
                    input #new-applied type="radio" name="new_status" value="applied" checked[choice.applied_first()];
                    label for="new-applied" { (lang.t(W::NewStatusApplied)) }
                }
            }
            div.field.choice {
                input #unverified type="checkbox" name="unverified_brn" value="accept"
                    checked[choice.accept_unverified()] aria-describedby="unverified-help";
                label for="unverified" { (lang.t(W::UnverifiedLabel)) }
                p.meta #unverified-help { (lang.t(W::UnverifiedHelp)) }
            }
            button.button type="submit" { (lang.t(W::PreviewButton)) }
        }
    }
}

/// A form that could not be read, or a file not chosen: the form again, with why.
fn registry_again(
    pages: &Pages,
    prefs: Prefs,
    session: &SignedIn,
    choice: &SyncChoice,
    status: StatusCode,
    why: Markup,
) -> Response {
    let lang = prefs.lang;
    let csrf = pages.csrf.for_session(&session.token);
    let body = html! {
        h1 { (lang.t(W::RegistryTitle)) }
        p.lead { (lang.t(W::RegistryLead)) }
        (registry_form(lang, &csrf, choice, Some(&why)))
    };
    console_page(
        prefs,
        "/console/registry",
        Tab::Registry,
        lang.t(W::RegistryTitle),
        status,
        body,
    )
}

/// A plain alert (not a service refusal), with a code for tests.
fn alert(lang: Lang, code: &str, text: W) -> Markup {
    html! {
        div.alert.alert-error #form-error role="alert" data-code=(code) {
            h2 { (lang.t(W::Failed)) }
            p { (lang.t(text)) }
        }
    }
}

/// The upload's parts read: the form's token, key, choice and file.
struct Upload {
    csrf: Option<String>,
    key: Option<String>,
    choice: SyncChoice,
    file: Option<Vec<u8>>,
}

fn read_upload(parts: &Parts, body: &[u8]) -> Option<Upload> {
    let content_type = parts.headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let p = upload::parts(content_type, body).ok()?;
    let text = |name: &str| upload::field(&p, name).map(str::to_owned);
    Some(Upload {
        csrf: text(CSRF_FIELD),
        key: text("key"),
        choice: SyncChoice {
            new_status: text("new_status"),
            unverified_brn: text("unverified_brn"),
        },
        file: upload::file(&p, "file").map(|(_, data)| data.to_vec()),
    })
}

/// A sync's summary and rows, as the page asked for them (the full report).
fn rows_of(report: SyncReport) -> Result<(Box<SyncAnswer>, Vec<SyncRow>, usize), ServiceError> {
    match report {
        SyncReport::Full {
            summary,
            rows,
            rows_total,
        } => Ok((summary, rows, rows_total)),
        SyncReport::Summary(summary) => Ok((summary, Vec::new(), 0)),
        SyncReport::Csv(_) => Err(ServiceError::internal("a CSV answer to a page")),
    }
}

/// Reads an upload whose body arrived (or says why not, as a page).
fn received(
    pages: &Pages,
    parts: &Parts,
    session: &SignedIn,
    body: Result<Bytes, BytesRejection>,
    again: impl Fn(StatusCode, Markup) -> Response,
) -> Result<Upload, Box<Response>> {
    let prefs = Prefs::from_headers(&parts.headers);
    let lang = prefs.lang;
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let refusal = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ServiceError::body_too_large(UPLOAD_BYTES_MAX)
            } else {
                ServiceError::bad_request("upload_unreadable", e.body_text())
            };
            return Err(Box::new(again(
                refusal.status,
                error_alert(lang, super::merchants::W::Failed, &refusal),
            )));
        }
    };
    let Some(up) = read_upload(parts, &body) else {
        // Without the form's fields there is no token to check either.
        if !pages.form_allowed(parts, session, None) {
            return Err(Box::new(refused(prefs)));
        }
        return Err(Box::new(again(
            StatusCode::BAD_REQUEST,
            alert(lang, "upload_unreadable", W::Unreadable),
        )));
    };
    if !pages.form_allowed(parts, session, up.csrf.as_deref()) {
        return Err(Box::new(refused(prefs)));
    }
    Ok(up)
}

/// `POST /console/registry/preview`: the service's dry run of the file, the diff, and
/// the form that applies it.
pub async fn preview(
    State(pages): State<Pages>,
    parts: Parts,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let lang = prefs.lang;
    let session = match operator(&pages, &parts, "/console/registry") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let up = match received(&pages, &parts, &session, body, |status, why| {
        registry_again(&pages, prefs, &session, &SyncChoice::default(), status, why)
    }) {
        Ok(up) => up,
        Err(r) => return *r,
    };
    let Some(file) = up.file else {
        return registry_again(
            &pages,
            prefs,
            &session,
            &up.choice,
            StatusCode::BAD_REQUEST,
            alert(lang, "file_missing", W::NoFile),
        );
    };
    let digest = blake3::hash(&file).to_hex().to_string();
    let caller = &session.caller;
    kept().keep(caller.user_id, &digest, file.clone());
    let answer = ops::registry_sync_as(
        &pages.service,
        caller,
        up.key.as_deref(),
        &caller.currency,
        &up.choice.params(false),
        Some(SyncFormat::Full),
        file,
    )
    .await;
    let (summary, rows, rows_total) = match answer.and_then(|a| rows_of(a.value)) {
        Ok(r) => r,
        Err(e) => {
            return registry_again(
                &pages,
                prefs,
                &session,
                &up.choice,
                e.status,
                error_alert(lang, super::merchants::W::Failed, &e),
            );
        }
    };
    let csrf = pages.csrf.for_session(&session.token);
    let changes: Vec<&SyncRow> = rows.iter().filter(|r| is_change(r)).collect();
    let refused_rows: Vec<&SyncRow> = rows.iter().filter(|r| r.outcome == "rejected").collect();
    let warnings: Vec<&SyncRow> = rows.iter().filter(|r| is_attention(r)).collect();
    let body = html! {
        h1 { (lang.t(W::RegistryTitle)) }
        section.card.preview aria-labelledby="preview-title" {
            h2 #preview-title { (lang.t(W::PreviewTitle)) }
            p role="status" { (lang.t(W::PreviewLead)) }
            (summary_list(lang, &summary))
            form.form method="post" action="/console/registry/apply" {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                input type="hidden" name="key" value=(fresh_token());
                input type="hidden" name="digest" value=(digest);
                input type="hidden" name="new_status" value=(if up.choice.applied_first() { "applied" } else { "approved" });
                @if up.choice.accept_unverified() {
                    input type="hidden" name="unverified_brn" value="accept";
                }
                p.meta #apply-help { (lang.t(W::ApplyHelp)) }
                button.button #apply type="submit" aria-describedby="apply-help" { (lang.t(W::ApplyButton)) }
            }
        }
        (rows_table(lang, "changes", W::ChangesTitle, W::NoChanges, &changes, false, rows_total > rows.len()))
        (rows_table(lang, "refused", W::RefusedTitle, W::NoneRefused, &refused_rows, true, rows_total > rows.len()))
        @if !warnings.is_empty() {
            (rows_table(lang, "warnings", W::WarningsTitle, W::NoneRefused, &warnings, true, rows_total > rows.len()))
        }
        section aria-labelledby="again-title" {
            h2 #again-title { (lang.t(W::AgainTitle)) }
            (registry_form(lang, &csrf, &up.choice, None))
        }
    };
    console_page(
        prefs,
        "/console/registry",
        Tab::Registry,
        lang.t(W::PreviewTitle),
        StatusCode::OK,
        body,
    )
}

/// The apply form: the previewed file's digest and the same choices.
#[derive(Debug, Default, Deserialize)]
pub struct ApplyForm {
    csrf: Option<String>,
    key: Option<String>,
    digest: Option<String>,
    new_status: Option<String>,
    unverified_brn: Option<String>,
}

/// `POST /console/registry/apply`: applies the file previewed, and shows every row's
/// outcome. A repeat of the form (a reload) is answered by the service from its first
/// answer: the file is applied once.
pub async fn apply(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<ApplyForm>, FormRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let lang = prefs.lang;
    let session = match operator(&pages, &parts, "/console/registry") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if !pages.form_allowed(&parts, &session, form.csrf.as_deref()) {
        return refused(prefs);
    }
    let choice = SyncChoice {
        new_status: form.new_status.clone(),
        unverified_brn: form.unverified_brn.clone(),
    };
    let caller = &session.caller;
    let file = form
        .digest
        .as_deref()
        .and_then(|d| kept().get(caller.user_id, d));
    let Some(file) = file else {
        return registry_again(
            &pages,
            prefs,
            &session,
            &choice,
            StatusCode::CONFLICT,
            alert(lang, "preview_gone", W::FileGone),
        );
    };
    let answer = ops::registry_sync_as(
        &pages.service,
        caller,
        form.key.as_deref(),
        &caller.currency,
        &choice.params(true),
        Some(SyncFormat::Full),
        file.as_ref().clone(),
    )
    .await;
    let (summary, rows, rows_total) = match answer.and_then(|a| rows_of(a.value)) {
        Ok(r) => r,
        Err(e) => {
            return registry_again(
                &pages,
                prefs,
                &session,
                &choice,
                e.status,
                error_alert(lang, super::merchants::W::Failed, &e),
            );
        }
    };
    let csrf = pages.csrf.for_session(&session.token);
    let all: Vec<&SyncRow> = rows.iter().collect();
    let body = html! {
        h1 { (lang.t(W::RegistryTitle)) }
        section.card.applied aria-labelledby="applied-title" {
            h2 #applied-title { (lang.t(W::AppliedTitle)) }
            p role="status" { (lang.t(W::AppliedLead)) }
            (summary_list(lang, &summary))
        }
        (rows_table(lang, "full", W::FullTitle, W::NoChanges, &all, true, false))
        @if rows_total > rows.len() {
            p.meta { (lang.t(W::FullTruncated)) }
        }
        section aria-labelledby="again-title" {
            h2 #again-title { (lang.t(W::AgainTitle)) }
            (registry_form(lang, &csrf, &choice, None))
        }
    };
    console_page(
        prefs,
        "/console/registry",
        Tab::Registry,
        lang.t(W::AppliedTitle),
        StatusCode::OK,
        body,
    )
}

/// A row that changes a merchant (or would).
fn is_change(r: &SyncRow) -> bool {
    matches!(
        r.outcome.as_str(),
        "added" | "changed" | "suspended" | "resumed" | "reopened" | "closed"
    ) || (r.outcome == "alias" && r.code == "alias_added")
}

/// A row taken that an operator should read: warnings, held decisions, refused codes.
fn is_attention(r: &SyncRow) -> bool {
    match r.outcome.as_str() {
        "warning" | "held" => true,
        "alias" => !matches!(r.code.as_str(), "alias_added" | "alias_unchanged"),
        _ => false,
    }
}

fn summary_list(lang: Lang, s: &SyncAnswer) -> Markup {
    let moves = s.suspended + s.resumed + s.reopened + s.closed;
    let item = |id: &'static str, w: W, n: u64| {
        html! {
            div data-count=(id) {
                dt { (lang.t(w)) }
                dd { (n) }
            }
        }
    };
    html! {
        h3 { (lang.t(W::SummaryTitle)) }
        dl.amounts.summary {
            div data-count="encoding" { dt { (lang.t(W::Encoding)) } dd { (encoding_words(&s.encoding)) } }
            (item("rows", W::RowsRead, s.rows))
            (item("added", W::Added, s.added as u64))
            (item("changed", W::Changed, s.changed as u64))
            (item("moves", W::StatusMoves, moves as u64))
            (item("held", W::Held, s.held as u64))
            (item("unchanged", W::Unchanged, s.unchanged))
            (item("skipped_closed", W::SkippedClosed, s.skipped_closed))
            (item("rejected", W::Rejected, s.rejected as u64))
            (item("warnings", W::Warnings, s.warnings as u64))
            (item("aliases_added", W::AliasesAdded, s.aliases_added as u64))
            (item("aliases_refused", W::AliasesRefused, s.aliases_refused as u64))
            (item("absent", W::Absent, s.absent_total as u64))
            @if s.applied {
                (item("ledger_commands", W::LedgerCommands, s.ledger_commands as u64))
            }
        }
    }
}

fn encoding_words(e: &str) -> &str {
    match e {
        "utf8" => "UTF-8",
        "utf8_bom" => "UTF-8 (BOM)",
        "euc_kr" => "CP949 (EUC-KR)",
        other => other,
    }
}

/// A table of rows under its heading (`with_reason`: the service's words for each).
fn rows_table(
    lang: Lang,
    id: &str,
    title: W,
    empty: W,
    rows: &[&SyncRow],
    with_reason: bool,
    more_after_apply: bool,
) -> Markup {
    let heading = format!("{id}-title");
    let shown = if id == "full" {
        rows.len()
    } else {
        rows.len().min(PREVIEW_ROWS_SHOWN)
    };
    html! {
        section #(id) aria-labelledby=(heading) {
            h2 #(heading) { (lang.t(title)) " " span.count { "(" (rows.len()) ")" } }
            @if rows.is_empty() {
                p { (lang.t(empty)) }
            } @else {
                div.table-wrap {
                    table.rows {
                        caption.visually-hidden { (lang.t(title)) }
                        thead { tr {
                            th scope="col" .num { (lang.t(W::Line)) }
                            th scope="col" { (lang.t(W::Brn)) }
                            th scope="col" { (lang.t(W::Outcome)) }
                            @if with_reason {
                                th scope="col" { (lang.t(W::Field)) }
                            }
                            th scope="col" { (lang.t(W::Reason)) }
                            th scope="col" .num { (lang.t(W::Merchant)) }
                        } }
                        tbody {
                            @for r in rows.iter().take(shown) {
                                tr data-outcome=(r.outcome) data-code=(r.code) data-line=[r.line] {
                                    td.num { @if let Some(l) = r.line { (l) } }
                                    td { (r.brn.as_deref().unwrap_or("")) }
                                    td { (outcome_words(lang, &r.outcome)) }
                                    @if with_reason {
                                        td data-field=[r.field.as_deref()] { (r.field.as_deref().map(|f| field_words(lang, f)).unwrap_or("")) }
                                    }
                                    td {
                                        @match lang {
                                            Lang::Ko => (r.message_ko),
                                            Lang::En => (r.message_en),
                                        }
                                    }
                                    td.num {
                                        @if let Some(m) = r.merchant_id {
                                            a href=(format!("/console/merchants/{m}")) { (m) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if shown < rows.len() || more_after_apply {
                    p.meta { (lang.t(W::MoreRows)) }
                }
            }
        }
    }
}

/// A row outcome's words (`added`, …), or the outcome itself if new.
fn outcome_words(lang: Lang, outcome: &str) -> &str {
    let (ko, en) = match outcome {
        "added" => ("추가", "added"),
        "changed" => ("변경", "changed"),
        "unchanged" => ("변경 없음", "unchanged"),
        "suspended" => ("정지", "suspended"),
        "resumed" => ("정지 해제", "resumed"),
        "reopened" => ("재개", "reopened"),
        "closed" => ("폐업", "closed"),
        "held" => ("운영자 결정 유지", "held"),
        "skipped" => ("추가 안 함", "skipped"),
        "rejected" => ("받지 않음", "refused"),
        "warning" => ("확인 필요", "check"),
        "absent" => ("파일에 없음", "not in file"),
        "alias" => ("기존 QR", "old QR code"),
        other => return status_words(lang, other),
    };
    match lang {
        Lang::Ko => ko,
        Lang::En => en,
    }
}

/// A registry field's name (as the service names it) in the reader's language.
fn field_words(lang: Lang, field: &str) -> &str {
    let (ko, en) = match field {
        "brn" => ("사업자등록번호", "business number"),
        "name" => ("상호", "name"),
        "name_en" => ("영문 상호", "English name"),
        "status" => ("영업상태", "business status"),
        "mcc" => ("업종코드", "MCC"),
        "category" => ("분류코드", "category"),
        "revenue" => ("매출", "revenue"),
        "sources" => ("재원", "money sources"),
        "location" => ("위치", "location"),
        "address" => ("주소", "address"),
        "hours" => ("영업시간", "opening hours"),
        other => return other,
    };
    match lang {
        Lang::Ko => ko,
        Lang::En => en,
    }
}

// == QR aliases ==

/// `GET /console/aliases`: the upload form.
pub async fn aliases_page(State(pages): State<Pages>, parts: Parts) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let session = match operator(&pages, &parts, "/console/aliases") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    aliases(&pages, prefs, &session, StatusCode::OK, None, None)
}

fn aliases(
    pages: &Pages,
    prefs: Prefs,
    session: &SignedIn,
    status: StatusCode,
    error: Option<Markup>,
    done: Option<&AliasImportAnswer>,
) -> Response {
    let lang = prefs.lang;
    let csrf = pages.csrf.for_session(&session.token);
    let body = html! {
        h1 { (lang.t(W::AliasesTitle)) }
        p.lead { (lang.t(W::AliasesLead)) }
        @if let Some(a) = done {
            (alias_report(lang, a))
        }
        form.form.upload method="post" action="/console/aliases" enctype="multipart/form-data" {
            input type="hidden" name=(CSRF_FIELD) value=(csrf);
            input type="hidden" name="key" value=(fresh_token());
            @if let Some(e) = &error { (e) }
            div.field {
                label for="alias-file" { (lang.t(W::FileLabel)) }
                input #alias-file type="file" name="file" accept=".csv,text/csv" required
                    aria-describedby="alias-file-help";
                p.meta #alias-file-help { (lang.t(W::AliasFileHelp)) }
            }
            button.button type="submit" { (lang.t(W::ImportButton)) }
        }
    };
    console_page(
        prefs,
        "/console/aliases",
        Tab::Aliases,
        lang.t(W::AliasesTitle),
        status,
        body,
    )
}

fn alias_report(lang: Lang, a: &AliasImportAnswer) -> Markup {
    html! {
        section.card.imported aria-labelledby="imported-title" {
            h2 #imported-title { (lang.t(W::ImportedTitle)) }
            p.visually-hidden role="status" { (lang.t(W::ImportedTitle)) }
            dl.amounts.summary {
                div data-count="added" { dt { (lang.t(W::AliasesAddedCount)) } dd { (a.added) } }
                div data-count="duplicates" { dt { (lang.t(W::Duplicates)) } dd { (a.identical_duplicates) } }
                div data-count="rejected" { dt { (lang.t(W::AliasRefusedTitle)) } dd { (a.rejected.len()) } }
                div data-count="conflicts" {
                    dt { (lang.t(W::Conflicts)) }
                    dd {
                        @if a.account_conflicts.is_empty() { (lang.t(W::ConflictsNone)) }
                        @else { (a.account_conflicts.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")) }
                    }
                }
            }
        }
        @if !a.rejected.is_empty() {
            section #alias-refused aria-labelledby="alias-refused-title" {
                h2 #alias-refused-title { (lang.t(W::AliasRefusedTitle)) }
                div.table-wrap {
                    table.rows {
                        caption.visually-hidden { (lang.t(W::AliasRefusedTitle)) }
                        thead { tr {
                            th scope="col" .num { (lang.t(W::Line)) }
                            th scope="col" { (lang.t(W::Reason)) }
                        } }
                        tbody {
                            @for r in &a.rejected {
                                tr data-code=(r.code) data-line=(r.line) {
                                    td.num { (r.line) }
                                    td {
                                        @match lang {
                                            Lang::Ko => (r.message_ko),
                                            Lang::En => (r.message),
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `POST /console/aliases`: imports the file through the service and shows its row
/// report. A reload repeats the form's key: the service answers it from the first time.
pub async fn import_aliases(
    State(pages): State<Pages>,
    parts: Parts,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let lang = prefs.lang;
    let session = match operator(&pages, &parts, "/console/aliases") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let up = match received(&pages, &parts, &session, body, |status, why| {
        aliases(&pages, prefs, &session, status, Some(why), None)
    }) {
        Ok(up) => up,
        Err(r) => return *r,
    };
    let Some(file) = up.file else {
        return aliases(
            &pages,
            prefs,
            &session,
            StatusCode::BAD_REQUEST,
            Some(alert(lang, "file_missing", W::NoFile)),
            None,
        );
    };
    let caller = &session.caller;
    match ops::import_aliases(
        &pages.service,
        caller,
        up.key.as_deref(),
        &caller.currency,
        &file,
    )
    .await
    {
        Ok(a) => aliases(
            &pages,
            prefs,
            &session,
            StatusCode::OK,
            None,
            Some(&a.value),
        ),
        Err(e) => aliases(
            &pages,
            prefs,
            &session,
            e.status,
            Some(error_alert(lang, super::merchants::W::Failed, &e)),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previewed_files_are_kept_per_operator_and_bounded() {
        let mut k = Kept::default();
        k.keep(1, "a", vec![1; 10]);
        k.keep(2, "a", vec![2; 10]);
        assert_eq!(k.get(1, "a").map(|b| b[0]), Some(1));
        assert_eq!(
            k.get(2, "a").map(|b| b[0]),
            Some(2),
            "another operator's is theirs"
        );
        assert!(k.get(3, "a").is_none());
        for i in 0..KEPT_FILES_MAX {
            k.keep(9, &i.to_string(), vec![0; 1]);
        }
        assert!(k.get(1, "a").is_none(), "the oldest go first");
        assert_eq!(k.files.len(), KEPT_FILES_MAX);
        assert_eq!(k.bytes, KEPT_FILES_MAX);
    }

    #[test]
    fn choices_become_the_services_parameters() {
        let c = SyncChoice::default();
        let p = c.params(false);
        assert_eq!(p.apply, Some(false));
        assert_eq!(p.new_status.as_deref(), Some("approved"));
        assert_eq!(p.unverified_brn.as_deref(), Some("reject"));
        let c = SyncChoice {
            new_status: Some("applied".into()),
            unverified_brn: Some("accept".into()),
        };
        let p = c.params(true);
        assert_eq!(p.new_status.as_deref(), Some("applied"));
        assert_eq!(p.unverified_brn.as_deref(), Some("accept"));
    }

    #[test]
    fn outcomes_and_fields_have_words() {
        assert_eq!(outcome_words(Lang::Ko, "rejected"), "받지 않음");
        assert_eq!(outcome_words(Lang::En, "approved"), "Approved");
        assert_eq!(field_words(Lang::Ko, "brn"), "사업자등록번호");
        assert_eq!(field_words(Lang::En, "something_new"), "something_new");
    }
}
