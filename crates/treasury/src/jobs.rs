//! Scheduled jobs: expiry of value past its validity, and monthly auto-charge with its
//! retry policy. Each is idempotent per day (or per month and attempt), so running a
//! job twice, or after a crash half-way, does nothing twice.

use bank::Bank;
use ledger::scheme::calendar::KstDate;
use ledger::scheme::{AutoChargeResult, PurchaseState, SchemeCommand};
use ledger::{
    AccountId, Command, Rejection, Text, Timestamp, Transfer, TransferSpec, WalletId, Won,
};

use crate::charges::ChargeResult;
use crate::{Purpose, Treasury, TreasuryError, key};

/// At most this many expiries per submission.
const EXPIRY_CHUNK: usize = 512;

/// What a job did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobReport {
    pub done: usize,
    pub amount: i64,
    pub failed: usize,
    pub notices: Vec<AutoChargeNotice>,
}

/// What a citizen is told about their monthly auto-charge (never silently dropped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoChargeNotice {
    pub wallet: AccountId,
    pub charged: Option<Won>,
    /// The failure's stable code (`insufficient_funds`, `monthly_purchase_limit`...).
    pub failure: Option<String>,
    /// When it will be tried again; `None` after the last attempt.
    pub next_attempt_at: Option<Timestamp>,
}

impl<B: Bank> Treasury<B> {
    /// Expires, into the issuer, every lot whose validity ended at or before `now`.
    pub async fn run_expiry(&self, now: Timestamp) -> Result<JobReport, TreasuryError> {
        let day = KstDate::of(now);
        let day_index = u64::from(day.month_index()) * 32 + u64::from(day.day);
        let wallets: Vec<AccountId> = self
            .engine
            .read(|l| l.wallets_with_expired_value(now).collect());
        let mut report = JobReport::default();
        for chunk in wallets.chunks(EXPIRY_CHUNK) {
            let batch = chunk
                .iter()
                .map(|w| {
                    self.envelope(
                        key(Purpose::Expire, day_index, w.0),
                        Command::Transfer(Transfer::posted(TransferSpec::Expiry {
                            wallet: WalletId(*w),
                            reserve: self.config.reserve,
                        })),
                    )
                })
                .collect();
            for out in self.submit(batch).await? {
                match out.result {
                    Ok(ledger::Applied::Transfer { amount, .. }) => {
                        report.done += 1;
                        report.amount += amount.get();
                    }
                    // Expired earlier today (the key repeats with a different answer),
                    // or nothing left at the batch's time.
                    Err(Rejection::NothingToExpire { .. }) => {}
                    _ => report.failed += 1,
                }
            }
        }
        Ok(report)
    }

    /// Monthly auto-charge: on or after each citizen's day, charge their standing
    /// amount; a failure is recorded for the citizen with the next attempt, retried
    /// `retry_interval_hours` later, up to `max_attempts` in the month.
    pub async fn run_auto_charge(&self, now: Timestamp) -> Result<JobReport, TreasuryError> {
        let today = KstDate::of(now);
        let month = today.month_index();
        // Who is due, and how many attempts they have had this month. A charge still
        // waiting for its bank is never retried: first see how it ended.
        let mut settled_in_doubt = Vec::new();
        let due: Vec<(AccountId, ledger::scheme::AutoChargeSetting, u8)> = self.engine.read(|l| {
            let Some(v) = l.scheme_at(now) else {
                return Vec::new();
            };
            let rules = &v.config.auto_charge;
            if !rules.enabled {
                return Vec::new();
            }
            let mut due: Vec<_> = l
                .auto_charge_orders()
                .filter_map(|(id, p)| {
                    let s = p.auto_charge.clone()?;
                    if s.monthly_face == Won::ZERO || today.day < s.day {
                        return None;
                    }
                    let attempts = match &p.auto_charge_status {
                        Some(st) if st.month == month => match &st.result {
                            AutoChargeResult::Charged { .. } => return None,
                            AutoChargeResult::Pending { purchase } => {
                                let rec = l.purchase(*purchase);
                                let state = rec.map(|r| r.state);
                                if state != Some(PurchaseState::Pending) {
                                    let face = rec.map(|r| r.face);
                                    settled_in_doubt.push((
                                        id,
                                        *purchase,
                                        state,
                                        face,
                                        st.attempts,
                                    ));
                                }
                                return None;
                            }
                            AutoChargeResult::Failed {
                                next_attempt_at, ..
                            } => match next_attempt_at {
                                Some(t) if *t <= now => st.attempts,
                                _ => return None,
                            },
                        },
                        _ => 0,
                    };
                    (attempts < rules.max_attempts).then_some((id, s, attempts))
                })
                .collect();
            due.sort_by_key(|(id, _, _)| *id);
            settled_in_doubt.sort_by_key(|(id, ..)| *id);
            due
        });
        let rules = self
            .engine
            .read(|l| l.scheme_at(now).map(|v| v.config.auto_charge.clone()));
        let Some(rules) = rules else {
            return Ok(JobReport::default());
        };
        let mut report = JobReport::default();
        // Charges that were in doubt at the last run and have ended since: record how.
        for (wallet, purchase, state, face, attempts) in settled_in_doubt {
            let charged = state == Some(PurchaseState::Posted);
            let next_attempt_at = (!charged && attempts < rules.max_attempts)
                .then(|| now.plus_micros(u64::from(rules.retry_interval_hours) * 3_600_000_000));
            let result = if charged {
                AutoChargeResult::Charged { purchase }
            } else {
                AutoChargeResult::Failed {
                    code: Text::new("bank_refused").unwrap_or_else(|_| fallback_code()),
                    next_attempt_at,
                }
            };
            self.own(
                key(Purpose::AutoChargeRecord, purchase.0, wallet.0),
                Command::Scheme(Box::new(SchemeCommand::RecordAutoCharge {
                    wallet: WalletId(wallet),
                    month,
                    result,
                })),
            )
            .await?;
            if charged {
                report.done += 1;
            } else {
                report.failed += 1;
            }
            report.notices.push(AutoChargeNotice {
                wallet,
                charged: face.filter(|_| charged),
                failure: (!charged).then(|| "bank_refused".to_owned()),
                next_attempt_at,
            });
        }
        for (wallet, setting, attempts) in due {
            let attempt = attempts + 1;
            let k = key(
                Purpose::AutoCharge,
                u64::from(month) << 8 | u64::from(attempt),
                wallet.0,
            );
            let outcome = self
                .charge(
                    self.config.client,
                    k,
                    WalletId(wallet),
                    setting.monthly_face,
                    setting.channel,
                    true,
                )
                .await;
            let failure = match &outcome {
                Ok(ChargeResult::Charged { .. }) | Ok(ChargeResult::InDoubt { .. }) => None,
                Ok(ChargeResult::Refused { code, .. }) => Some(code.as_str().to_owned()),
                Err(TreasuryError::Refused(r)) => Some(r.code().as_str().to_owned()),
                Err(TreasuryError::NoLinkedAccount(_)) => Some("no_linked_account".to_owned()),
                Err(e) => return Err(e.clone()),
            };
            let next_attempt_at = (failure.is_some() && attempt < rules.max_attempts)
                .then(|| now.plus_micros(u64::from(rules.retry_interval_hours) * 3_600_000_000));
            let result = match (&outcome, &failure) {
                (Ok(ChargeResult::InDoubt { purchase }), _) => AutoChargeResult::Pending {
                    purchase: *purchase,
                },
                (Ok(c), None) => AutoChargeResult::Charged {
                    purchase: c.purchase(),
                },
                (_, f) => AutoChargeResult::Failed {
                    code: Text::new(f.clone().unwrap_or_default())
                        .unwrap_or_else(|_| fallback_code()),
                    next_attempt_at,
                },
            };
            let record = self
                .own(
                    key(
                        Purpose::AutoChargeRecord,
                        u64::from(month) << 8 | u64::from(attempt),
                        wallet.0,
                    ),
                    Command::Scheme(Box::new(SchemeCommand::RecordAutoCharge {
                        wallet: WalletId(wallet),
                        month,
                        result,
                    })),
                )
                .await?;
            if record.result.is_err() {
                report.failed += 1;
            }
            let charged = match &outcome {
                Ok(ChargeResult::Charged { face, .. }) => Some(*face),
                _ => None,
            };
            if let Some(face) = charged {
                report.done += 1;
                report.amount += face.get();
            } else {
                report.failed += 1;
            }
            report.notices.push(AutoChargeNotice {
                wallet,
                charged,
                failure,
                next_attempt_at,
            });
        }
        Ok(report)
    }
}

fn fallback_code() -> Text {
    // "failed" is a valid text; the fallback of the fallback cannot be reached.
    Text::new("failed").unwrap_or_else(|_| unreachable!("a literal is valid text"))
}
