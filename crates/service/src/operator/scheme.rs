//! The currency's scheme as an operator sets it: a new version, the versions, and the
//! withdrawal of one not yet in force; the file of the version in force; and the check
//! of a scheme file that `maeul scheme check` and the console's editor share (every
//! problem, with its line where the file shows one, and a summary of a valid file).

use ledger::scheme::{SchemeApplied, SchemeCommand};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{operator_of, operator_text};
use crate::error::ServiceError;
use crate::idempotency::{Answered, Fingerprint, claim_key, key_reused};
use crate::ledger_ops::run_scheme;
use crate::{Caller, Service};

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

/// A new version of the currency's scheme (the earlier versions stay readable). Once
/// set, the ledger follows every merchant again (revenue bands are judged against the
/// scheme in force).
pub async fn set_scheme(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    code: &str,
    req: SchemeUpdate,
) -> Result<Answered<SchemeSetAnswer>, ServiceError> {
    let currency = operator_of(service, caller, code)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of("set_scheme", &(code, &req.toml, req.effective_at)),
    )?;
    let config = ledger::scheme::SchemeConfig::from_toml(&req.toml)
        .map_err(|e| ServiceError::bad_request("scheme_invalid", e.to_string()))?;
    if let Some(at) = req.effective_at
        && let Err(problem) = ledger::scheme::check_effective_at(at, crate::now_us())
    {
        return Err(ServiceError::new(
            http::StatusCode::BAD_REQUEST,
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
            operator: operator_text(caller)?,
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
                if let Err(e) = crate::mirror::mirror_all(&currency).await {
                    tracing::warn!(code = e.code, "ledger does not yet follow the registry");
                }
            });
            Ok(Answered {
                value: SchemeSetAnswer {
                    version,
                    effective_at: effective_at.as_micros(),
                },
                replayed: a.replayed,
            })
        }
        _ => Err(key_reused()),
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
pub fn scheme_versions(
    service: &Service,
    caller: &Caller,
    code: &str,
) -> Result<Vec<SchemeVersionView>, ServiceError> {
    let currency = operator_of(service, caller, code)?;
    let now = ledger::Timestamp::from_micros(crate::now_us());
    Ok(currency.engine.read(|l| {
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
    }))
}

/// The file of a scheme version: its number and name, and the TOML that sets it again.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SchemeText {
    pub version: u32,
    pub name: String,
    /// The scheme file (TOML) as [`SchemeConfig::to_toml`](ledger::scheme::SchemeConfig::to_toml)
    /// writes it: the journal keeps the configuration, not the file, so the original
    /// file's comments are not there.
    pub toml: String,
}

/// The file of the version in force now (`None` before any version is).
pub fn scheme_in_force(
    service: &Service,
    caller: &Caller,
    code: &str,
) -> Result<Option<SchemeText>, ServiceError> {
    let currency = operator_of(service, caller, code)?;
    let now = ledger::Timestamp::from_micros(crate::now_us());
    let version = currency.engine.read(|l| {
        l.scheme_at(now.max(l.last_timestamp()))
            .map(|v| (v.number, v.config.clone()))
    });
    let Some((version, config)) = version else {
        return Ok(None);
    };
    let toml = config
        .to_toml()
        .map_err(|e| ServiceError::internal(e.to_string()))?;
    Ok(Some(SchemeText {
        version,
        name: config.name,
        toml,
    }))
}

/// One problem of a scheme file: the field (`purchase.discount_bp`, or `file` when it
/// is not a readable TOML scheme at all), what is wrong, and the file's line (from 1)
/// where it is, when the file shows one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SchemeProblem {
    pub field: String,
    pub problem: String,
    pub line: Option<u32>,
}

/// A line of a valid scheme's summary: what (in English, as the CLI prints it) and its
/// value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SummaryLine {
    pub label: String,
    pub value: String,
}

/// What checking a scheme file found: its problems (none: it is valid, and
/// `summary` says what it sets).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SchemeCheck {
    pub problems: Vec<SchemeProblem>,
    pub summary: Vec<SummaryLine>,
}

impl SchemeCheck {
    pub fn valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Most bytes of a scheme file checked or set (a real one is about 2 KiB).
pub const SCHEME_FILE_BYTES_MAX: usize = 64 * 1024;

/// Checks a scheme file as the ledger will (`SchemeConfig::from_toml`: a TOML file of
/// exactly the scheme's fields, then every rule that needs no account), listing every
/// problem rather than the first. Valid here is exactly what `from_toml` takes.
pub fn check_scheme(text: &str) -> SchemeCheck {
    let problem = |field: &str, problem: String, line: Option<u32>| SchemeProblem {
        field: field.to_owned(),
        problem,
        line,
    };
    if text.len() > SCHEME_FILE_BYTES_MAX {
        return SchemeCheck {
            problems: vec![problem(
                "file",
                format!("at most {SCHEME_FILE_BYTES_MAX} bytes"),
                None,
            )],
            summary: Vec::new(),
        };
    }
    let config: ledger::scheme::SchemeConfig = match toml::from_str(text) {
        Ok(c) => c,
        Err(e) => {
            let line = e.span().map(|s| line_at(text, s.start));
            return SchemeCheck {
                problems: vec![problem("file", e.message().trim().to_owned(), line)],
                summary: Vec::new(),
            };
        }
    };
    let problems: Vec<SchemeProblem> = config
        .problems()
        .into_iter()
        .map(|p| problem(p.field, p.problem, line_of_field(text, p.field)))
        .collect();
    let summary = if problems.is_empty() {
        summary(&config)
    } else {
        Vec::new()
    };
    SchemeCheck { problems, summary }
}

/// The line (from 1) of byte `offset` in `text`.
fn line_at(text: &str, offset: usize) -> u32 {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    u32::try_from(before.matches('\n').count() + 1).unwrap_or(u32::MAX)
}

/// The line of a field (`purchase.discount_bp`) in a TOML file: the key in its table,
/// else its parent's key or table header (`purchase.channels.id` is in the inline
/// array `channels`), else none. A plain reading of keys and `[headers]`: good enough
/// to point at a line, never used to decide anything.
fn line_of_field(text: &str, field: &str) -> Option<u32> {
    let parts: Vec<&str> = field.split('.').collect();
    (1..=parts.len()).rev().find_map(|n| {
        let (table, key) = (parts[..n - 1].join("."), parts[n - 1]);
        let whole = parts[..n].join(".");
        let mut current = String::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if let Some(header) = line.strip_prefix('[') {
                current = header.trim_matches(['[', ']', ' ']).to_owned();
                if current == whole {
                    return u32::try_from(i + 1).ok();
                }
                continue;
            }
            let name = line
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"');
            if current == table && line.contains('=') && name == key {
                return u32::try_from(i + 1).ok();
            }
        }
        None
    })
}

/// What a valid scheme sets, line by line (what `maeul scheme check` prints).
pub fn summary(s: &ledger::scheme::SchemeConfig) -> Vec<SummaryLine> {
    let p = &s.purchase;
    let won = |w: Option<ledger::Won>| w.map_or("none".to_owned(), |w| format!("{w}"));
    let mut lines = vec![
        ("name".to_owned(), s.name.clone()),
        (
            "discount at purchase".to_owned(),
            format!(
                "{} bp (budget {})",
                p.discount_bp,
                p.discount_budget.map_or("-".into(), |b| b.to_string())
            ),
        ),
        (
            "purchase".to_owned(),
            format!(
                "{}..={} in units of {}; monthly {}, yearly {}, holding cap {}",
                p.min,
                p.max_per_purchase,
                p.unit,
                won(p.monthly_limit),
                won(p.yearly_limit),
                won(p.holding_cap)
            ),
        ),
    ];
    for c in &p.channels {
        lines.push((
            format!("channel {}", c.id),
            format!(
                "{} (monthly {}, giftable {})",
                c.name,
                won(c.monthly_limit),
                c.giftable
            ),
        ));
    }
    if let Some(cb) = &s.cashback {
        for b in &cb.bands {
            lines.push((
                "cash-back".to_owned(),
                format!("{} bp for revenue up to {}", b.rate_bp, won(b.up_to)),
            ));
        }
        lines.push((
            "cash-back caps".to_owned(),
            format!(
                "spend {} / cash-back {} a month",
                won(cb.monthly_spend_cap),
                won(cb.monthly_cashback_cap)
            ),
        ));
    }
    for b in &s.budgets {
        lines.push((
            format!("budget {}", b.budget.0),
            format!(
                "ceiling {} in all, {} a month",
                won(b.total),
                won(b.monthly)
            ),
        ));
    }
    lines.push((
        "gifts".to_owned(),
        format!(
            "{} (sent {}, received {} a month)",
            if s.gifts.enabled { "on" } else { "off" },
            won(s.gifts.sent_monthly_limit),
            won(s.gifts.received_monthly_limit)
        ),
    ));
    lines.push((
        "refunds".to_owned(),
        format!(
            "cancel within {} days; balance once {} bp used ({} bp up to {})",
            s.refunds.cancel_window_days,
            s.refunds.used_share_bp,
            s.refunds.small_used_share_bp,
            s.refunds.small_value_max
        ),
    ));
    lines
        .into_iter()
        .map(|(label, value)| SummaryLine { label, value })
        .collect()
}

/// A time typed in a `datetime-local` field, read as Korea Standard Time
/// (`2026-03-10T09:30`, seconds optional), as Unix microseconds; empty is none (now).
pub fn effective_at_from_kst(typed: &str) -> Result<Option<u64>, ServiceError> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Ok(None);
    }
    let refuse = || {
        ServiceError::new(
            http::StatusCode::BAD_REQUEST,
            "scheme_effective_invalid",
            "적용 시각을 한국 시간으로 2026-03-10T09:30 처럼 입력해 주세요.",
            "Give the effective time in Korea time, like 2026-03-10T09:30.",
        )
    };
    let (date, time) = typed.split_once(['T', ' ']).ok_or_else(refuse)?;
    let numbers = |s: &str, sep: char| -> Option<Vec<u32>> {
        s.split(sep)
            .map(|n| {
                (!n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| n.parse().ok())
                    .flatten()
            })
            .collect()
    };
    let d = numbers(date, '-').ok_or_else(refuse)?;
    let t = numbers(time, ':').ok_or_else(refuse)?;
    let (&[year, month, day], [hour, minute, rest @ ..]) = (d.as_slice(), t.as_slice()) else {
        return Err(refuse());
    };
    let second = match rest {
        [] => 0,
        [s] => *s,
        _ => return Err(refuse()),
    };
    if !(1970..=9999).contains(&year) || *hour > 23 || *minute > 59 || second > 59 {
        return Err(refuse());
    }
    let (Ok(year), Ok(month), Ok(day)) =
        (i32::try_from(year), u8::try_from(month), u8::try_from(day))
    else {
        return Err(refuse());
    };
    let date = ledger::scheme::calendar::KstDate { year, month, day };
    // A date that is not in the calendar (30 February) comes back as another one.
    let start = date.start();
    if ledger::scheme::calendar::KstDate::of(start) != date {
        return Err(refuse());
    }
    let in_day_s = u64::from(*hour) * 3_600 + u64::from(*minute) * 60 + u64::from(second);
    Ok(Some(start.as_micros() + in_day_s * 1_000_000))
}

/// Withdraws the latest scheme version before it comes into force (journaled; a
/// version in force stays).
pub async fn withdraw_scheme(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    code: &str,
    version: u32,
) -> Result<Answered<()>, ServiceError> {
    let currency = operator_of(service, caller, code)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of("withdraw_scheme", &(code, version)),
    )?;
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::WithdrawScheme {
            version,
            operator: operator_text(caller)?,
        },
        None,
    )
    .await?;
    Ok(a.map(|_| ()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const BUSAN: &str = include_str!("../../../../schemes/busan-like.toml");
    const SEOUL: &str = include_str!("../../../../schemes/seoul-like.toml");

    fn lines(check: &SchemeCheck) -> Vec<(&str, Option<u32>)> {
        check
            .problems
            .iter()
            .map(|p| (p.field.as_str(), p.line))
            .collect()
    }

    /// The line (from 1) of the first line of `text` containing `needle`.
    fn line_of(text: &str, needle: &str) -> u32 {
        let i = text.lines().position(|l| l.contains(needle)).unwrap();
        u32::try_from(i + 1).unwrap()
    }

    #[test]
    fn the_repositorys_schemes_are_valid_with_a_summary() {
        for file in [BUSAN, SEOUL] {
            let check = check_scheme(file);
            assert!(check.valid(), "{check:?}");
            assert_eq!(check.summary[0].label, "name");
        }
        let check = check_scheme(BUSAN);
        let labels: Vec<&str> = check.summary.iter().map(|l| l.label.as_str()).collect();
        assert!(labels.contains(&"cash-back caps"), "{labels:?}");
        assert!(labels.contains(&"budget 4"), "{labels:?}");
    }

    #[test]
    fn every_problem_is_named_with_its_line() {
        let text = BUSAN
            .replace("validity_days = 1826", "validity_days = 0")
            .replace("small_value_max = 10000", "small_value_max = -1")
            .replace("name = \"부산형 캐시백 (Busan-like)\"", "name = \" \"");
        let check = check_scheme(&text);
        assert_eq!(
            lines(&check),
            [
                ("name", Some(line_of(&text, "name = \" \""))),
                (
                    "purchase.validity_days",
                    Some(line_of(&text, "validity_days = 0"))
                ),
                (
                    "cashback.validity_days",
                    Some(
                        u32::try_from(
                            text.lines()
                                .enumerate()
                                .filter(|(_, l)| l.contains("validity_days = 0"))
                                .nth(1)
                                .unwrap()
                                .0
                                + 1
                        )
                        .unwrap()
                    )
                ),
                (
                    "refunds.small_value_max",
                    Some(line_of(&text, "small_value_max = -1"))
                ),
            ]
        );
        assert!(check.summary.is_empty());
        // A field inside an inline array points at the array's key.
        let text = BUSAN.replace("{ id = 1,", "{ id = 0,");
        assert_eq!(
            lines(&check_scheme(&text)),
            [("purchase.channels.id", Some(line_of(&text, "channels = [")))]
        );
        // A problem of a whole table points at its header.
        let text = BUSAN.replace("unit = 10000\nmin", "unit = 0\nmin");
        assert_eq!(
            lines(&check_scheme(&text)),
            [("purchase", Some(line_of(&text, "[purchase]")))]
        );
    }

    #[test]
    fn a_file_that_is_not_a_scheme_says_where() {
        let text = BUSAN.replace("monthly_spend_cap", "monthly_spend_kap");
        let check = check_scheme(&text);
        assert_eq!(
            lines(&check),
            [("file", Some(line_of(&text, "monthly_spend_kap")))]
        );
        assert!(
            check.problems[0].problem.contains("monthly_spend_kap"),
            "{check:?}"
        );
        let check = check_scheme("name = \"x\"\n[purchase\n");
        assert_eq!(lines(&check), [("file", Some(2))], "{check:?}");
        let check = check_scheme(&"#".repeat(SCHEME_FILE_BYTES_MAX + 1));
        assert_eq!(lines(&check), [("file", None)]);
    }

    #[test]
    fn valid_here_is_exactly_what_the_ledger_takes() {
        for text in [
            BUSAN.to_owned(),
            SEOUL.to_owned(),
            BUSAN.replace("rate_bp = 1000", "rate_bp = 9000"),
            BUSAN.replace("[gifts]", "[gift]"),
            SEOUL.replace("discount_bp = 700", "discount_bp = 0"),
            String::new(),
            "name = \"x\"".to_owned(),
        ] {
            let ledger = ledger::scheme::SchemeConfig::from_toml(&text);
            let check = check_scheme(&text);
            assert_eq!(check.valid(), ledger.is_ok(), "{text}");
            if let Err(e) = ledger {
                assert_eq!(check.problems[0].field, e.field, "the same first problem");
            }
        }
    }

    #[test]
    fn korea_time_typed_in_a_form_is_read_as_microseconds() {
        #[track_caller]
        fn check(typed: &str, expected: Option<u64>) {
            assert_eq!(effective_at_from_kst(typed).unwrap(), expected, "{typed}");
        }
        check("", None);
        check("  ", None);
        // 2026-03-10 10:00 KST is 01:00 UTC.
        check("2026-03-10T10:00", Some(1_773_104_400_000_000));
        check("2026-03-10T10:00:30", Some(1_773_104_430_000_000));
        check("2026-03-10 10:00", Some(1_773_104_400_000_000));
        // Midnight in Korea is 15:00 UTC the day before.
        check("2026-01-01T00:00", Some(1_767_193_200_000_000));
        check("2024-02-29T23:59:59", Some(1_709_218_799_000_000));
        for bad in [
            "2026-02-30T10:00",
            "2026-13-01T10:00",
            "2026-00-10T10:00",
            "2026-03-10T24:00",
            "2026-03-10T10:60",
            "2026-03-10",
            "10:00",
            "2026-03-10T10",
            "2026-03-10T10:00:00:00",
            "1969-12-31T23:00",
            "2026-03-10T-1:00",
            "２０２６-03-10T10:00",
            "tomorrow",
        ] {
            let e = effective_at_from_kst(bad).unwrap_err();
            assert_eq!(e.code, "scheme_effective_invalid", "{bad}");
        }
    }
}
