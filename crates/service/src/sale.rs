//! Sale days: an operator schedules the hour discounted vouchers go on sale (the 1st of
//! the month at 10:00, say). Until it opens, purchases wait in the waiting room and the
//! order of everyone who came early is drawn at the opening (the gate, `server::gate`);
//! when the discount budget is spent the whole line is told "sold out" at once; and the
//! features the operator names (search, gifts) are paused for the day, as real schemes
//! do on their busiest days.
//!
//! "Sold out" is the ledger's own word: the currency's discount budget holds less than
//! the discount of the smallest purchase its scheme allows. The vouchers and the budget
//! the operator states are what is announced; the ledger is what decides.

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Caller, Currency, Service, ServiceError};

/// A sale is scheduled at most this far ahead.
const AHEAD_MAX_US: u64 = 366 * 24 * 3600 * 1_000_000;
/// ... and lasts at most this long.
const LENGTH_MAX_US: u64 = 7 * 24 * 3600 * 1_000_000;
/// How long an answer to "sold out?" is reused (it reads the ledger).
const SOLD_OUT_FRESH_US: u64 = 100_000;
/// The sale day starts this long before the opening: from then on purchases wait for
/// the opening and the features named are paused. Before it, nothing is held.
pub const DAY_STARTS_BEFORE_US: u64 = 6 * 3600 * 1_000_000;

/// What an operator can pause for a sale day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// The merchant directory's search and nearby lists (API and pages).
    Search,
    /// Gifts between citizens.
    Gifts,
}

/// A sale as the operator schedules it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SalePlan {
    /// When discounted purchases open, Unix microseconds.
    pub opens_at: u64,
    /// When the sale ends (paused features come back), Unix microseconds.
    pub ends_at: u64,
    /// Vouchers announced (for the announcement; the ledger's budget decides).
    pub vouchers: u64,
    /// Budget announced, won.
    pub budget_won: i64,
    /// Features paused from 6 hours before the opening until the end.
    #[serde(default)]
    pub paused: Vec<Feature>,
}

/// The sale of a currency, as kept (a file or PostgreSQL, given by whoever serves).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleRecord {
    pub currency: String,
    pub plan: SalePlan,
}

/// Where a sale stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Not open yet: purchases wait, and their order is drawn at the opening.
    Before,
    Open,
    /// Open, and the discount budget is spent.
    SoldOut,
    Ended,
}

/// A sale and where it stands, for anyone (apps show it; the waiting room tells it).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SaleView {
    pub currency: String,
    #[serde(flatten)]
    pub plan: SalePlan,
    pub phase: Phase,
    /// What the discount budget holds now, won (absent when purchases carry no discount).
    pub discount_left_won: Option<i64>,
    /// The discount of the smallest purchase: below it, the sale is sold out.
    pub smallest_discount_won: Option<i64>,
}

/// Saves the sale (or its absence) where every restart and node reads it.
pub type Keep = Box<dyn Fn(Option<&SaleRecord>) -> Result<(), String> + Send + Sync>;

/// The scheduled sale (one per node: a node serves one municipality's sale day).
#[derive(Default)]
pub struct Sales {
    current: RwLock<Option<SaleRecord>>,
    keep: Mutex<Option<Keep>>,
    /// (checked at, sold out) for [`Sales::sold_out`].
    sold_out_seen: Mutex<(u64, bool)>,
}

impl std::fmt::Debug for Sales {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sales")
            .field("current", &*self.current.read())
            .finish_non_exhaustive()
    }
}

impl Sales {
    /// The sale kept at start, and where to keep changes.
    pub fn load(&self, kept: Option<SaleRecord>, keep: Keep) {
        *self.current.write() = kept;
        *self.keep.lock() = Some(keep);
    }

    /// Takes a sale another node scheduled (read again from where sales are kept).
    pub fn refresh(&self, kept: Option<SaleRecord>) {
        let mut current = self.current.write();
        if *current != kept {
            *current = kept;
            *self.sold_out_seen.lock() = (0, false);
        }
    }

    /// The sale's opening and end (Unix µs), if its day is on at `now_us` (see
    /// [`DAY_STARTS_BEFORE_US`]).
    pub fn on_at(&self, now_us: u64) -> Option<(u64, u64)> {
        self.current
            .read()
            .as_ref()
            .map(|r| (r.plan.opens_at, r.plan.ends_at))
            .filter(|(opens, ends)| {
                now_us >= opens.saturating_sub(DAY_STARTS_BEFORE_US) && now_us < *ends
            })
    }

    pub fn current(&self) -> Option<SaleRecord> {
        self.current.read().clone()
    }

    fn set(&self, record: Option<SaleRecord>) -> Result<(), ServiceError> {
        if let Some(keep) = self.keep.lock().as_ref() {
            keep(record.as_ref()).map_err(ServiceError::store_unavailable)?;
        }
        *self.current.write() = record;
        *self.sold_out_seen.lock() = (0, false);
        Ok(())
    }

    /// Whether `feature` is paused now.
    pub fn paused(&self, feature: Feature, now_us: u64) -> Option<u64> {
        let current = self.current.read();
        let plan = &current.as_ref()?.plan;
        (plan.paused.contains(&feature)
            && now_us >= plan.opens_at.saturating_sub(DAY_STARTS_BEFORE_US)
            && now_us < plan.ends_at)
            .then_some(plan.ends_at)
    }

    /// Whether the sale's discount budget is spent, read from the ledger at most every
    /// 100 ms.
    pub fn sold_out(&self, service: &Service, now_us: u64) -> bool {
        {
            let seen = self.sold_out_seen.lock();
            if now_us.saturating_sub(seen.0) < SOLD_OUT_FRESH_US {
                return seen.1;
            }
        }
        let sold_out = self.current().is_some_and(|r| {
            service
                .currency(&r.currency)
                .ok()
                .and_then(|c| discount_left(c, now_us))
                .is_some_and(|(left, smallest)| left < smallest)
        });
        *self.sold_out_seen.lock() = (now_us, sold_out);
        sold_out
    }
}

/// What the discount budget holds and the discount of the smallest purchase, under the
/// scheme in force at `now_us`; `None` when purchases carry no discount.
fn discount_left(currency: &Currency, now_us: u64) -> Option<(i64, i64)> {
    currency.engine.read(|l| {
        let scheme = l.scheme_at(ledger::Timestamp::from_micros(now_us))?;
        let purchase = &scheme.config.purchase;
        let budget = purchase.discount_budget?;
        let bp = i128::from(purchase.discount_bp);
        if !purchase.enabled || bp == 0 {
            return None;
        }
        let smallest = i128::from(purchase.min.get().max(purchase.unit.get())) * bp / 10_000;
        let left = l
            .account(budget)
            .and_then(|a| a.balance())
            .map_or(0, |b| b.get());
        Some((left, i64::try_from(smallest).unwrap_or(i64::MAX).max(1)))
    })
}

fn view(service: &Service, record: &SaleRecord, now_us: u64) -> SaleView {
    let left = service
        .currency(&record.currency)
        .ok()
        .and_then(|c| discount_left(c, now_us));
    let plan = &record.plan;
    let phase = if now_us >= plan.ends_at {
        Phase::Ended
    } else if now_us < plan.opens_at {
        Phase::Before
    } else if left.is_some_and(|(left, smallest)| left < smallest) {
        Phase::SoldOut
    } else {
        Phase::Open
    };
    SaleView {
        currency: record.currency.clone(),
        plan: plan.clone(),
        phase,
        discount_left_won: left.map(|l| l.0),
        smallest_discount_won: left.map(|l| l.1),
    }
}

fn invalid(detail: &str) -> ServiceError {
    ServiceError::new(
        http::StatusCode::UNPROCESSABLE_ENTITY,
        "sale_invalid",
        "판매 일정이 올바르지 않습니다. 시작과 끝 시각, 수량과 예산을 확인해 주세요.",
        "The sale is not valid: check its opening and end, the vouchers and the budget.",
    )
    .detail(detail)
}

/// Schedules (or replaces) the sale of the operator's currency `code`.
pub fn schedule(
    service: &Service,
    caller: &Caller,
    code: &str,
    plan: SalePlan,
) -> Result<SaleView, ServiceError> {
    service.operator_of(caller, code)?;
    let now = crate::now_us();
    if plan.ends_at <= plan.opens_at {
        return Err(invalid("ends_at must be after opens_at"));
    }
    if plan.ends_at <= now {
        return Err(invalid("the sale would be over already"));
    }
    if plan.opens_at > now.saturating_add(AHEAD_MAX_US) {
        return Err(invalid("opens_at is more than a year ahead"));
    }
    if plan.ends_at - plan.opens_at > LENGTH_MAX_US {
        return Err(invalid("a sale lasts at most 7 days"));
    }
    if plan.vouchers == 0 || plan.budget_won <= 0 {
        return Err(invalid("vouchers and budget_won must be positive"));
    }
    let mut paused = plan.paused.clone();
    paused.sort_by_key(|f| *f as u8);
    paused.dedup();
    let record = SaleRecord {
        currency: code.to_owned(),
        plan: SalePlan { paused, ..plan },
    };
    service.sale.set(Some(record.clone()))?;
    tracing::info!(
        currency = code,
        opens_at = record.plan.opens_at,
        ends_at = record.plan.ends_at,
        vouchers = record.plan.vouchers,
        "sale scheduled"
    );
    Ok(view(service, &record, now))
}

/// Calls off the sale of the operator's currency `code` (paused features come back).
pub fn cancel(service: &Service, caller: &Caller, code: &str) -> Result<(), ServiceError> {
    service.operator_of(caller, code)?;
    if service.sale.current().is_some_and(|r| r.currency == code) {
        service.sale.set(None)?;
        tracing::info!(currency = code, "sale called off");
    }
    Ok(())
}

/// The sale of currency `code`, if one is scheduled (public: apps show it).
pub fn status(service: &Service, code: &str) -> Result<SaleView, ServiceError> {
    service.currency(code)?;
    service
        .sale
        .current()
        .filter(|r| r.currency == code)
        .map(|r| view(service, &r, crate::now_us()))
        .ok_or_else(|| ServiceError::not_found("sale"))
}

/// The answer to a purchase once the budget is spent: told at once, not after a wait.
pub fn sold_out_error() -> ServiceError {
    ServiceError::new(
        http::StatusCode::GONE,
        "sold_out",
        "이번 할인 판매는 준비된 예산이 모두 소진되어 마감되었습니다. 기다리셔도 할인 구매는 할 수 없습니다.",
        "This discounted sale is over: its budget is spent. Waiting will not get a discounted voucher.",
    )
}

/// The answer to a paused feature: back when the sale ends.
pub fn paused_error(feature: Feature, back_at_us: u64, now_us: u64) -> (ServiceError, u64) {
    let (ko, en) = match feature {
        Feature::Search => ("가맹점 검색", "Shop search"),
        Feature::Gifts => ("선물하기", "Gifts"),
    };
    let wait_s = back_at_us.saturating_sub(now_us).div_ceil(1_000_000).max(1);
    (
        ServiceError::new(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "feature_paused",
            &format!(
                "판매일에는 결제와 충전을 위해 {ko} 기능을 잠시 쉽니다. 판매가 끝나면 다시 열립니다."
            ),
            &format!(
                "{en} is paused for the sale day, so that payments and purchases go through. It comes back when the sale ends."
            ),
        ),
        wait_s,
    )
}
