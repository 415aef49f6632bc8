//! The public status page's view of the running currencies: `web::StatusSource` over
//! what `server` and `engine` expose.
//!
//! What each state means:
//! - **halted**: the ledger is halted (by an operator, or by itself after a batch broke
//!   an invariant), or the engine is read-only (this build decides recorded history
//!   differently), failed to rebuild, or stopped. Writes wait for an operator.
//! - **degraded**: the engine is rebuilding from disk after a journal failure (reads
//!   work, writes for a while not), or the background audit found a problem while
//!   writes still go on.
//! - **running**: neither.
//!
//! What works is `service::standing` (the operator's dashboard reads the same). What it
//! cannot tell: whether the **bank** answers. Charging and redemption also need the bank
//! edge, and the treasury exposes no health of it (an order to an unreachable bank is
//! retried by the sweep, not refused), so a bank outage does not show here yet.
//!
//! Since when: a ledger halt records its own time, which is used. Nothing records when
//! the other states began, so this adapter remembers the first moment **this process**
//! saw each currency in its current state; after a restart that is the start time.
//!
//! Notices are the operator's notices (`service.sqlite`, newest first) and, as
//! incidents, the state changes this process has seen (kept in memory, the last
//! [`INCIDENTS_KEPT_MAX`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use server::{AppState, Currency};
use web::{
    CurrencyStatus, Lang, Notice, NoticeKind, Reason, ReasonCode, ServiceState, Text, Works,
};

/// Incidents (state changes) remembered per currency.
pub const INCIDENTS_KEPT_MAX: usize = 16;
/// Operator notices shown per currency.
pub const NOTICES_READ_MAX: usize = web::status::NOTICES_SHOWN_MAX;
/// The status page is public and unauthenticated: answers are reused this long, so a
/// flood of page loads costs one look at the engines and one notice query per currency
/// per interval.
pub const REUSE_FOR: Duration = Duration::from_secs(2);

/// `web::StatusSource` over the served currencies.
pub struct Status {
    state: Arc<AppState>,
    inner: Mutex<Inner>,
    clock: fn() -> u64,
}

impl std::fmt::Debug for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Status").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Inner {
    seen: BTreeMap<String, Seen>,
    last: Option<(Instant, Vec<CurrencyStatus>)>,
}

/// What this process has seen of one currency.
struct Seen {
    state: ServiceState,
    reason: Option<ReasonCode>,
    since_ms: u64,
    /// Newest first.
    incidents: VecDeque<Notice>,
}

impl Seen {
    /// The first look at a currency: in its state since the ledger says (a halt), or
    /// since now.
    fn first(observed: &Observed, now_ms: u64) -> Seen {
        Seen {
            state: observed.state,
            reason: observed.reason.as_ref().map(|r| r.code),
            since_ms: observed.since_ms.unwrap_or(now_ms),
            incidents: VecDeque::new(),
        }
    }

    /// A later look: a different state (or the same state for another reason) is an
    /// incident, at the ledger's time for it if it has one, else now.
    fn update(&mut self, observed: &Observed, now_ms: u64) {
        let reason = observed.reason.as_ref().map(|r| r.code);
        if self.state == observed.state && self.reason == reason {
            return;
        }
        let at_ms = observed.since_ms.unwrap_or(now_ms);
        self.incidents
            .push_front(incident(observed.state, reason, at_ms));
        self.incidents.truncate(INCIDENTS_KEPT_MAX);
        self.state = observed.state;
        self.reason = reason;
        self.since_ms = at_ms;
    }
}

impl Status {
    pub fn new(state: Arc<AppState>) -> Status {
        Status {
            state,
            inner: Mutex::new(Inner::default()),
            clock: web::time::now_ms,
        }
    }

    fn compute(&self, inner: &mut Inner) -> Vec<CurrencyStatus> {
        let now_ms = (self.clock)();
        let mut out = Vec::with_capacity(self.state.currencies.len());
        for (code, c) in &self.state.currencies {
            let observed = observe(c, now_ms);
            let seen = match inner.seen.entry(code.clone()) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(Seen::first(&observed, now_ms))
                }
            };
            seen.update(&observed, now_ms);
            let mut notices: Vec<Notice> = self
                .state
                .auth
                .notices(code, NOTICES_READ_MAX)
                .into_iter()
                .map(|n| Notice {
                    kind: NoticeKind::Notice,
                    at_ms: n.at.saturating_mul(1000),
                    title: Text::new(n.title_ko, n.title_en),
                    body: Text::new(n.body_ko, n.body_en),
                })
                .collect();
            notices.extend(seen.incidents.iter().cloned());
            notices.sort_by_key(|n| std::cmp::Reverse(n.at_ms));
            notices.truncate(NOTICES_READ_MAX);
            out.push(CurrencyStatus {
                code: code.clone(),
                state: observed.state,
                since_ms: Some(observed.since_ms.unwrap_or(seen.since_ms)),
                reason: observed.reason,
                works: observed.works,
                notices,
            });
        }
        out
    }
}

impl web::StatusSource for Status {
    fn status(&self) -> Vec<CurrencyStatus> {
        let mut inner = self.inner.lock();
        if let Some((at, last)) = &inner.last
            && at.elapsed() < REUSE_FOR
        {
            return last.clone();
        }
        let fresh = self.compute(&mut inner);
        inner.last = Some((Instant::now(), fresh.clone()));
        fresh
    }
}

/// One look at a currency.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    state: ServiceState,
    reason: Option<Reason>,
    /// When the state began, if the ledger recorded it (a halt).
    since_ms: Option<u64>,
    works: Works,
}

fn observe(c: &Currency, now_ms: u64) -> Observed {
    let standing = service::standing::Standing::of(&c.engine, now_ms.saturating_mul(1000));
    let audit_failed = c.engine.audit_failure().is_some();
    let (state, reason, since_ms) = decide(&standing.health, standing.halt.as_ref(), audit_failed);
    let w = standing.works;
    Observed {
        state,
        reason,
        since_ms,
        works: Works {
            payments: w.payments,
            charging: w.charging,
            redemption: w.redemption,
        },
    }
}

/// The state people are told, from the engine's health and the ledger's halt.
fn decide(
    health: &engine::Health,
    halt: Option<&ledger::Halt>,
    audit_failed: bool,
) -> (ServiceState, Option<Reason>, Option<u64>) {
    use engine::Health;
    let reason = |code| Some(Reason { code, note: None });
    match health {
        Health::ReadOnly { .. } => (ServiceState::Halted, reason(ReasonCode::ReadOnly), None),
        Health::Failed { .. } => (
            ServiceState::Halted,
            reason(ReasonCode::StorageFailed),
            None,
        ),
        Health::Stopped => (ServiceState::Halted, reason(ReasonCode::Stopped), None),
        Health::Recovering { .. } => (ServiceState::Degraded, reason(ReasonCode::Recovering), None),
        Health::Running => match halt {
            Some(h) => {
                let since = Some(h.at.as_micros() / 1000);
                let reason = match &h.cause {
                    ledger::HaltCause::Operator { reason, .. } => Reason {
                        code: ReasonCode::OperatorHalt,
                        // The operator's words are published (they are written for the
                        // public); who halted it is not.
                        note: Some(reason.to_string()).filter(|r| !r.trim().is_empty()),
                    },
                    ledger::HaltCause::Violation(_) => Reason {
                        code: ReasonCode::LedgerCheck,
                        note: None,
                    },
                };
                (ServiceState::Halted, Some(reason), since)
            }
            None if audit_failed => (
                ServiceState::Degraded,
                reason(ReasonCode::AuditFailed),
                None,
            ),
            None => (ServiceState::Running, None, None),
        },
    }
}

/// A state change as an incident, in both languages.
fn incident(state: ServiceState, reason: Option<ReasonCode>, at_ms: u64) -> Notice {
    let words = |lang: Lang| {
        let title = match lang {
            Lang::Ko => format!("상태 변경: {}", state.label(lang)),
            Lang::En => format!("Status changed: {}", state.label(lang)),
        };
        let body = reason.map_or("", |r| lang.t(r.words())).to_owned();
        (title, body)
    };
    let (title_ko, body_ko) = words(Lang::Ko);
    let (title_en, body_en) = words(Lang::En);
    Notice {
        kind: NoticeKind::Incident,
        at_ms,
        title: Text::new(title_ko, title_en),
        body: Text::new(body_ko, body_en),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::Health;

    #[track_caller]
    fn check(
        health: Health,
        halt: Option<ledger::Halt>,
        audit: bool,
        state: ServiceState,
        code: Option<ReasonCode>,
    ) {
        let (s, r, _) = decide(&health, halt.as_ref(), audit);
        assert_eq!(
            (s, r.map(|r| r.code)),
            (state, code),
            "{health:?} {halt:?} {audit}"
        );
    }

    #[test]
    fn states_follow_health_then_halt_then_audit() {
        let cause = || "disk".to_owned();
        check(Health::Running, None, false, ServiceState::Running, None);
        check(
            Health::Running,
            None,
            true,
            ServiceState::Degraded,
            Some(ReasonCode::AuditFailed),
        );
        check(
            Health::Recovering { cause: cause() },
            None,
            false,
            ServiceState::Degraded,
            Some(ReasonCode::Recovering),
        );
        check(
            Health::Failed { cause: cause() },
            None,
            false,
            ServiceState::Halted,
            Some(ReasonCode::StorageFailed),
        );
        check(
            Health::ReadOnly { cause: cause() },
            None,
            false,
            ServiceState::Halted,
            Some(ReasonCode::ReadOnly),
        );
        check(
            Health::Stopped,
            None,
            false,
            ServiceState::Halted,
            Some(ReasonCode::Stopped),
        );
    }

    #[test]
    fn a_halt_is_halted_since_its_own_time_with_the_operators_words_only() {
        let operator_halt = ledger::Halt {
            at: ledger::Timestamp::from_micros(1_796_284_800_123_456),
            cause: ledger::HaltCause::Operator {
                operator: ledger::Text::new("operator-kim").expect("text"),
                reason: ledger::Text::new("은행 점검 / bank maintenance").expect("text"),
            },
        };
        let (state, reason, since) = decide(&Health::Running, Some(&operator_halt), true);
        assert_eq!(state, ServiceState::Halted);
        assert_eq!(since, Some(1_796_284_800_123));
        assert_eq!(
            reason,
            Some(Reason {
                code: ReasonCode::OperatorHalt,
                note: Some("은행 점검 / bank maintenance".into()),
            })
        );
        // A halt is shown only while the engine runs: a read-only start says so instead.
        check(
            Health::ReadOnly { cause: "x".into() },
            Some(operator_halt),
            false,
            ServiceState::Halted,
            Some(ReasonCode::ReadOnly),
        );
    }

    fn observed(state: ServiceState, code: Option<ReasonCode>, since_ms: Option<u64>) -> Observed {
        Observed {
            state,
            reason: code.map(|code| Reason { code, note: None }),
            since_ms,
            works: Works::default(),
        }
    }

    #[test]
    fn state_changes_seen_by_this_process_are_incidents_with_their_time() {
        let running = observed(ServiceState::Running, None, None);
        let mut seen = Seen::first(&running, 1_000);
        assert_eq!(seen.since_ms, 1_000);
        seen.update(&running, 2_000);
        assert_eq!(seen.since_ms, 1_000, "the same state keeps its start");
        assert!(seen.incidents.is_empty());
        // A halt carries its own time (earlier than this look).
        let halted = observed(
            ServiceState::Halted,
            Some(ReasonCode::OperatorHalt),
            Some(2_500),
        );
        seen.update(&halted, 3_000);
        assert_eq!(seen.since_ms, 2_500);
        assert_eq!(seen.incidents.len(), 1);
        assert_eq!(seen.incidents[0].at_ms, 2_500);
        assert_eq!(seen.incidents[0].kind, NoticeKind::Incident);
        // The same state for another reason is another incident.
        let violated = observed(
            ServiceState::Halted,
            Some(ReasonCode::LedgerCheck),
            Some(3_500),
        );
        seen.update(&violated, 4_000);
        assert_eq!(seen.incidents.len(), 2);
        seen.update(&running, 5_000);
        assert_eq!(seen.since_ms, 5_000);
        assert_eq!(seen.incidents[0].title.en, "Status changed: Running");
        assert_eq!(seen.incidents[0].at_ms, 5_000);
        // Only the latest are kept.
        for i in 0..(INCIDENTS_KEPT_MAX as u64 * 2) {
            let o = if i % 2 == 0 { &halted } else { &running };
            seen.update(o, 6_000 + i);
        }
        assert_eq!(seen.incidents.len(), INCIDENTS_KEPT_MAX);
    }

    #[test]
    fn incidents_say_the_new_state_in_both_languages() {
        let n = incident(ServiceState::Halted, Some(ReasonCode::OperatorHalt), 42);
        assert_eq!(n.kind, NoticeKind::Incident);
        assert_eq!(n.at_ms, 42);
        assert_eq!(n.title.ko, "상태 변경: 중단됨");
        assert_eq!(n.title.en, "Status changed: Halted");
        assert_eq!(n.body.ko, "운영자가 서비스를 일시 중단했습니다.");
        let n = incident(ServiceState::Running, None, 43);
        assert_eq!(n.title.ko, "상태 변경: 정상 운영");
        assert_eq!(n.body, Text::default());
    }
}
