//! [`HttpBank`]: the [`Bank`] trait over the bank's HTTP API.
//!
//! The whole job is classification: every way a call can end maps to a decoded answer or
//! to a [`BankError`] whose ambiguity is right. The rule for `pull`/`pay` is that anything
//! short of a readable, self-consistent answer (or a 409/4xx, which the bank sends before
//! executing) is ambiguous.

use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::Bank;
use crate::error::BankError;
use crate::types::{AccountNo, Answer, Order, OrderStatus, Reference, StatementLine};
use crate::wire::{AnswersPage, ErrorBody, HolderBody, PAGE_LIMIT_MAX, StatementPage, StatusBody};

/// Largest answer body we read; a statement page of 1000 lines is about 200 KB.
const ANSWER_BYTES_MAX: usize = 8 << 20;
/// Largest statement one call assembles, so a wrong range cannot exhaust memory.
const STATEMENT_LINES_MAX: usize = 1_000_000;

/// Client of the bank's HTTP API (the simulated bank's, see [`crate::SimBank`]).
///
/// Cheap to clone (shares the connection pool).
#[derive(Debug, Clone)]
pub struct HttpBank {
    base: Url,
    http: reqwest::Client,
    timeout: Duration,
}

/// What came back, before anyone judged it.
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    /// The body was larger than [`ANSWER_BYTES_MAX`] and was cut.
    oversized: bool,
}

impl Reply {
    fn decode<T: DeserializeOwned>(&self) -> Result<T, String> {
        if self.oversized {
            return Err(format!(
                "answer larger than {ANSWER_BYTES_MAX} bytes (HTTP {})",
                self.status
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            format!(
                "unreadable answer (HTTP {}): {e}: {}",
                self.status,
                self.snippet()
            )
        })
    }

    /// The bank's error message, or the start of whatever it sent.
    fn describe(&self) -> String {
        match serde_json::from_slice::<ErrorBody>(&self.body) {
            Ok(e) => format!("HTTP {}: {}: {}", self.status, e.error, e.message),
            Err(_) => format!("HTTP {}: {}", self.status, self.snippet()),
        }
    }

    fn snippet(&self) -> String {
        let end = self.body.len().min(200);
        String::from_utf8_lossy(&self.body[..end]).into_owned()
    }
}

fn from_reqwest(e: reqwest::Error) -> BankError {
    if e.is_timeout() {
        return BankError::Timeout;
    }
    // The source chain carries the useful part ("connection refused", ...).
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_builder() {
        // Nothing was sent.
        return BankError::Protocol(msg);
    }
    BankError::Transport(msg)
}

impl HttpBank {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

    /// A client for the bank at `base_url` (e.g. `http://127.0.0.1:7070`) with the
    /// default per-request timeout.
    pub fn new(base_url: &str) -> anyhow::Result<Self> {
        Self::with_timeout(base_url, Self::DEFAULT_TIMEOUT)
    }

    /// `timeout` bounds each HTTP request from connecting to the last byte of the answer;
    /// a statement that takes several pages gets it per page.
    pub fn with_timeout(base_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let base = Url::parse(base_url).with_context(|| format!("bank URL {base_url:?}"))?;
        if base.scheme() != "http" {
            // reqwest is built without TLS in this workspace.
            bail!("bank URL {base_url:?}: only http:// is supported");
        }
        if base.cannot_be_a_base() || base.query().is_some() || base.fragment().is_some() {
            bail!("bank URL {base_url:?}: must be a plain http://host[:port][/path] URL");
        }
        if timeout.is_zero() {
            bail!("bank timeout must be positive");
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirected POST would be re-sent as something else; a bank never redirects.
            .redirect(reqwest::redirect::Policy::none())
            // Bank links are direct; a proxy from the environment would be a surprise.
            .no_proxy()
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            base,
            http,
            timeout,
        })
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `base` + the given path segments, each percent-encoded (references may hold `/`,
    /// `?`, `#`, `%`).
    fn url(&self, segments: &[&str]) -> Result<Url, BankError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| BankError::Protocol("bank URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        query: &[(&str, String)],
        body: Option<&Order>,
    ) -> Result<Reply, BankError> {
        let mut req = self.http.request(method, url);
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(order) = body {
            req = req.json(order);
        }
        let mut resp = req.send().await.map_err(from_reqwest)?;
        let status = resp.status();
        let mut body = Vec::new();
        let mut oversized = false;
        while let Some(chunk) = resp.chunk().await.map_err(from_reqwest)? {
            if body.len() + chunk.len() > ANSWER_BYTES_MAX {
                oversized = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status,
            body,
            oversized,
        })
    }

    /// `pull` and `pay`: the only calls that move money, so every unclear end is
    /// `Transport` (ambiguous).
    async fn transfer(&self, order: &Order) -> Result<OrderStatus, BankError> {
        let url = self.url(&["v1", "transfers"])?;
        let reply = self.send(Method::POST, url, &[], Some(order)).await?;
        match reply.status {
            StatusCode::OK | StatusCode::UNPROCESSABLE_ENTITY => {
                let body: StatusBody = reply.decode().map_err(BankError::Transport)?;
                if body.reference != order.reference {
                    return Err(BankError::Transport(format!(
                        "answer names reference {} instead of {}",
                        body.reference, order.reference
                    )));
                }
                let consistent = match &body.status {
                    OrderStatus::Completed { .. } => reply.status == StatusCode::OK,
                    OrderStatus::Rejected { .. } => {
                        reply.status == StatusCode::UNPROCESSABLE_ENTITY
                    }
                    OrderStatus::Unknown => false,
                };
                if !consistent {
                    return Err(BankError::Transport(format!(
                        "contradictory answer: HTTP {} with status {:?}",
                        reply.status, body.status
                    )));
                }
                Ok(body.status)
            }
            StatusCode::CONFLICT => Err(BankError::ReferenceConflict),
            // The bank refused to read the order: it cannot have executed it.
            s if s.is_client_error() => Err(BankError::Protocol(reply.describe())),
            _ => Err(BankError::Transport(reply.describe())),
        }
    }

    /// Read-only calls: a 5xx is still `Transport` (try again), anything unreadable is
    /// `Protocol`.
    async fn read<T: DeserializeOwned>(
        &self,
        url: Url,
        query: &[(&str, String)],
    ) -> Result<T, BankError> {
        let reply = self.send(Method::GET, url, query, None).await?;
        if reply.status == StatusCode::OK {
            reply.decode().map_err(BankError::Protocol)
        } else if reply.status.is_server_error() {
            Err(BankError::Transport(reply.describe()))
        } else {
            Err(BankError::Protocol(reply.describe()))
        }
    }
}

impl Bank for HttpBank {
    async fn pull(&self, order: &Order) -> Result<OrderStatus, BankError> {
        self.transfer(order).await
    }

    async fn pay(&self, order: &Order) -> Result<OrderStatus, BankError> {
        self.transfer(order).await
    }

    async fn status(&self, reference: &Reference) -> Result<OrderStatus, BankError> {
        let url = self.url(&["v1", "transfers", reference.as_str()])?;
        let body: StatusBody = self.read(url, &[]).await?;
        if &body.reference != reference {
            return Err(BankError::Protocol(format!(
                "answer names reference {} instead of {reference}",
                body.reference
            )));
        }
        Ok(body.status)
    }

    async fn statement(
        &self,
        account: &AccountNo,
        from_ms: u64,
        to_ms: u64,
    ) -> Result<Vec<StatementLine>, BankError> {
        let url = self.url(&["v1", "accounts", account.as_str(), "statement"])?;
        let mut lines: Vec<StatementLine> = Vec::new();
        let mut after_tx = 0u64;
        loop {
            let query = [
                ("from_ms", from_ms.to_string()),
                ("to_ms", to_ms.to_string()),
                ("after_tx", after_tx.to_string()),
                ("limit", PAGE_LIMIT_MAX.to_string()),
            ];
            let page: StatementPage = self.read(url.clone(), &query).await?;
            if page.lines.len() > PAGE_LIMIT_MAX as usize {
                return Err(BankError::Protocol(format!(
                    "statement page of {} lines exceeds the limit {PAGE_LIMIT_MAX}",
                    page.lines.len()
                )));
            }
            let page_len = page.lines.len();
            for line in page.lines {
                // Pages are ordered by bank_tx_id; anything else would loop or duplicate.
                if line.bank_tx_id <= after_tx || line.at_ms < from_ms || line.at_ms >= to_ms {
                    return Err(BankError::Protocol(format!(
                        "statement line {} out of order or out of range",
                        line.bank_tx_id
                    )));
                }
                after_tx = line.bank_tx_id;
                lines.push(line);
            }
            if lines.len() > STATEMENT_LINES_MAX {
                return Err(BankError::Protocol(format!(
                    "statement longer than {STATEMENT_LINES_MAX} lines; ask for a shorter range"
                )));
            }
            match page.next_after_tx {
                None => return Ok(lines),
                Some(next) if page_len > 0 && next == after_tx => {}
                Some(next) => {
                    return Err(BankError::Protocol(format!(
                        "statement cursor {next} does not follow the page (last line {after_tx})"
                    )));
                }
            }
        }
    }

    async fn answers(&self, after_seq: u64, limit: u32) -> Result<Vec<Answer>, BankError> {
        let limit = limit.min(PAGE_LIMIT_MAX);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let url = self.url(&["v1", "answers"])?;
        let query = [
            ("after", after_seq.to_string()),
            ("limit", limit.to_string()),
        ];
        let page: AnswersPage = self.read(url, &query).await?;
        if page.answers.len() > limit as usize {
            return Err(BankError::Protocol(format!(
                "{} answers for a limit of {limit}",
                page.answers.len()
            )));
        }
        let mut last = after_seq;
        for a in &page.answers {
            if a.seq <= last {
                return Err(BankError::Protocol(format!(
                    "answer seq {} out of order (after {last})",
                    a.seq
                )));
            }
            last = a.seq;
        }
        Ok(page.answers)
    }

    async fn holder(&self, account: &AccountNo) -> Result<Option<String>, BankError> {
        let url = self.url(&["v1", "accounts", account.as_str(), "holder"])?;
        let reply = self.send(Method::GET, url, &[], None).await?;
        match reply.status {
            StatusCode::OK => {
                // The body names a person: errors say what was wrong, never what it held.
                let body: HolderBody = reply.decode().map_err(|_| {
                    BankError::Protocol("unreadable holder answer (HTTP 200)".into())
                })?;
                if &body.number != account {
                    return Err(BankError::Protocol(
                        "holder answer names another account".into(),
                    ));
                }
                Ok(Some(body.holder))
            }
            StatusCode::NOT_FOUND
                if serde_json::from_slice::<ErrorBody>(&reply.body)
                    .is_ok_and(|e| e.error == "account_not_found") =>
            {
                Ok(None)
            }
            s if s.is_server_error() => Err(BankError::Transport(reply.describe())),
            _ => Err(BankError::Protocol(reply.describe())),
        }
    }
}
