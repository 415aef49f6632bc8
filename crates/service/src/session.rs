//! Sign-up (citizens and merchants), sign-in, and who the caller is. A new user's
//! ledger set-up (its account; a merchant's registry application) is stored on the user
//! before the ledger is asked, and finished in its own task: a sign-up cut off half-way
//! is finished at the next sign-in or start, never half-applied.

use std::sync::Arc;

use http::StatusCode;
use ledger::scheme::SchemeCommand;
use ledger::{
    AccountId, AccountKind, ClientId, Command, Envelope, IdempotencyKey, MerchantId, SourceSet,
    Text, WalletId, Won,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ServiceError;
use crate::ledger_ops::submit;
use crate::{Caller, NewUser, Role, Secret, Service};

/// Wallet ids of signed-up citizens and merchants: far above the demo's and the
/// operator's own accounts.
pub const WALLET_BASE: u64 = 1_000_000_000;

pub const MERCHANT_BASE: u64 = 2_000_000_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CitizenSignUp {
    pub login: String,
    #[schema(value_type = String)]
    pub password: Secret<String>,
    /// Six digits, asked at every payment.
    #[schema(value_type = String)]
    pub pin: Secret<String>,
    pub birth_year: u16,
    pub currency: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SignedUp {
    pub user_id: i64,
    /// The wallet or merchant account id.
    pub account: u64,
    /// `active`, or `awaiting_approval` for a merchant.
    pub status: String,
}

/// A citizen signs up: a wallet is opened in the currency.
pub async fn sign_up_citizen(
    service: &Arc<Service>,
    from: Option<std::net::IpAddr>,
    req: CitizenSignUp,
) -> Result<SignedUp, ServiceError> {
    service.admit_address(from)?;
    service.currency(&req.currency)?;
    if !(1900..=2100).contains(&req.birth_year) {
        return Err(ServiceError::bad_request(
            "birth_year_invalid",
            "1900..=2100",
        ));
    }
    let setup = SignUpSetup::Citizen {
        birth_year: req.birth_year,
    };
    let user_id = service
        .auth
        .create(NewUser {
            login: req.login,
            password: req.password,
            pin: Some(req.pin),
            role: Role::Citizen,
            currency: req.currency.clone(),
            currencies: Vec::new(),
            setup: Some(setup.to_json()?),
        })
        .await?;
    let account = finish_sign_up(service, &req.currency, user_id, setup, true).await?;
    Ok(SignedUp {
        user_id,
        account: account.0,
        status: "active".into(),
    })
}

/// What a new user's set-up needs (ledger account; a merchant's registry record), kept
/// on the user until it is done.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SignUpSetup {
    Citizen {
        birth_year: u16,
    },
    Merchant {
        category: u16,
        annual_revenue: i64,
        #[serde(default)]
        listing: Option<Box<Listing>>,
    },
}

/// A merchant's registry record, as applied for.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Listing {
    brn: directory::Brn,
    profile: directory::MerchantProfile,
}

impl SignUpSetup {
    fn to_json(&self) -> Result<String, ServiceError> {
        serde_json::to_string(self).map_err(|e| ServiceError::internal(e.to_string()))
    }

    /// The account and the commands that open it.
    fn commands(&self, user_id: i64) -> Result<(AccountId, Vec<Command>), ServiceError> {
        Ok(match *self {
            SignUpSetup::Citizen { birth_year } => {
                let wallet = WalletId::new(WALLET_BASE + user_id as u64);
                (
                    wallet.account(),
                    vec![
                        Command::OpenAccount {
                            account: wallet.account(),
                            kind: AccountKind::CitizenWallet,
                            accepts: SourceSet::ALL,
                        },
                        Command::Scheme(Box::new(SchemeCommand::RegisterCitizen {
                            wallet,
                            birth_year,
                        })),
                    ],
                )
            }
            SignUpSetup::Merchant {
                category,
                annual_revenue,
                ..
            } => {
                let merchant = MerchantId::new(MERCHANT_BASE + user_id as u64);
                let awaiting = Text::new("awaiting approval")
                    .map_err(|e| ServiceError::internal(e.to_string()))?;
                (
                    merchant.account(),
                    vec![
                        Command::OpenAccount {
                            account: merchant.account(),
                            kind: AccountKind::Merchant,
                            accepts: SourceSet::ALL,
                        },
                        Command::Scheme(Box::new(SchemeCommand::SetMerchantProfile {
                            merchant,
                            category,
                            annual_revenue: Won::new(annual_revenue).into(),
                        })),
                        Command::Scheme(Box::new(SchemeCommand::SuspendMerchant {
                            merchant,
                            reason: awaiting,
                        })),
                    ],
                )
            }
        })
    }
}

/// Opens a new user's account in the ledger (the service's own client, keyed by user and
/// step: a repeat answers the same), then records it on the user. Runs in its own task,
/// so a dropped connection cannot stop it half-way. A refusal removes the user again, so
/// the login can be used once more; an unavailable ledger leaves the set-up owed, and the
/// next sign-in or start finishes it (`first`: this is the sign-up itself, which answers
/// the ledger's refusal by removing the user).
pub async fn finish_sign_up(
    service: &Arc<Service>,
    currency_code: &str,
    user_id: i64,
    setup: SignUpSetup,
    first: bool,
) -> Result<AccountId, ServiceError> {
    let service = Arc::clone(service);
    let currency_code = currency_code.to_owned();
    tokio::spawn(async move {
        let currency = service.currency(&currency_code)?;
        let (account, commands) = setup.commands(user_id)?;
        let envelopes = commands
            .into_iter()
            .enumerate()
            .map(|(step, command)| Envelope {
                client: ClientId(u64::MAX - 1),
                key: IdempotencyKey((user_id as u128) << 8 | (step as u128 + 1)),
                command,
            })
            .collect();
        let refused = match submit(currency, envelopes).await {
            Ok(outs) => match outs.into_iter().find_map(|o| o.result.err()) {
                None => {
                    if let SignUpSetup::Merchant {
                        listing: Some(l), ..
                    } = &setup
                        && currency.merchants.get(account.0).is_none()
                    {
                        // The application in the registry, awaiting approval.
                        match currency.merchants.create(
                            account.0,
                            l.brn,
                            l.profile.clone(),
                            directory::Status::Applied,
                            "applied",
                            crate::now_us(),
                        ) {
                            Ok(_) => {}
                            // A concurrent finish of the same sign-up made it first.
                            Err(_)
                                if currency
                                    .merchants
                                    .get(account.0)
                                    .is_some_and(|m| m.brn == l.brn) => {}
                            Err(e) => {
                                if first {
                                    service.auth.delete_user(user_id);
                                }
                                return Err(e);
                            }
                        }
                    }
                    service.auth.set_account(user_id, account.0)?;
                    return Ok(account);
                }
                Some(r) => ServiceError::from(r),
            },
            Err(e) if first => {
                // Not applied (busy or halted): nothing in the ledger to keep.
                service.auth.delete_user(user_id);
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        // Only the sign-up itself gives the login back: a later finish (sign-in, start)
        // keeps the user, and the next try finishes it (e.g. once a halt is lifted).
        if first {
            service.auth.delete_user(user_id);
        }
        Err(refused)
    })
    .await
    .map_err(|e| ServiceError::internal(e.to_string()))?
}

/// Finishes every sign-up that was cut off before the ledger answered (at start).
pub async fn finish_pending_sign_ups(service: &Arc<Service>) -> usize {
    let mut finished = 0;
    for (user_id, setup, currency) in service.auth.pending_setups() {
        let Ok(setup) = serde_json::from_str::<SignUpSetup>(&setup) else {
            tracing::warn!(user = user_id, "unreadable sign-up set-up");
            continue;
        };
        match finish_sign_up(service, &currency, user_id, setup, false).await {
            Ok(_) => finished += 1,
            Err(e) => tracing::warn!(user = user_id, code = e.code, "sign-up set-up not finished"),
        }
    }
    finished
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantSignUp {
    pub login: String,
    #[schema(value_type = String)]
    pub password: Secret<String>,
    pub currency: String,
    /// The scheme's own category (or the MCC where the scheme uses those).
    pub category: u16,
    /// Annual revenue in won (from card-fee data), re-checked by the operator.
    pub annual_revenue: i64,
    /// 사업자등록번호, e.g. `123-45-67890` (its check digit is checked).
    pub brn: String,
    /// 상호: the shop's name as citizens search for it.
    pub name: String,
    /// English or romanised name.
    pub name_en: Option<String>,
    /// Merchant category code (4 digits), printed in the QR code.
    pub mcc: Option<u16>,
    /// 도로명주소.
    pub road_address: Option<String>,
    /// Degrees (WGS84); both or neither. Without them the shop is found by name only.
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// e.g. `월-금 09:00-18:00, 토 10:00-14:00`.
    pub hours: Option<String>,
    /// Comma-separated money sources it takes (default: all).
    pub accepts: Option<String>,
}

impl MerchantSignUp {
    /// The registry record the application makes, checked before anything is written.
    fn listing(&self) -> Result<Listing, ServiceError> {
        let bad =
            |code: &str, e: &dyn std::fmt::Display| ServiceError::bad_request(code, e.to_string());
        let brn = directory::Brn::parse(&self.brn).map_err(|e| bad(e.code(), &e))?;
        let mut p = directory::MerchantProfile::named(self.name.trim());
        p.name_en = self.name_en.clone().filter(|n| !n.trim().is_empty());
        p.mcc = self
            .mcc
            .map(directory::Mcc::new)
            .transpose()
            .map_err(|e| bad(e.code(), &e))?;
        p.category = Some(self.category);
        p.revenue = Some(directory::Revenue::AnnualWon(Won::new(self.annual_revenue)));
        if let Some(a) = self
            .road_address
            .as_deref()
            .filter(|a| !a.trim().is_empty())
        {
            let (sido, sigungu) = directory::sync::region_from_address(a);
            p.road_address = Some(a.trim().to_owned());
            p.sido = sido;
            p.sigungu = sigungu;
        }
        p.location = match (self.lat, self.lon) {
            (Some(lat), Some(lon)) => {
                Some(directory::GeoPoint::from_degrees(lat, lon).map_err(|e| bad(e.code(), &e))?)
            }
            (None, None) => None,
            _ => {
                return Err(ServiceError::bad_request(
                    "point_incomplete",
                    "give lat and lon",
                ));
            }
        };
        if let Some(h) = self.hours.as_deref().filter(|h| !h.trim().is_empty()) {
            p.hours = Some(directory::OpeningHours::parse(h).map_err(|e| bad(e.code(), &e))?);
        }
        if let Some(a) = self.accepts.as_deref().filter(|a| !a.trim().is_empty()) {
            p.accepts = directory::SourceMask::parse(a).map_err(|e| bad(e.code(), &e))?;
        }
        p.validate().map_err(|e| bad(e.code(), &e))?;
        Ok(Listing { brn, profile: p })
    }
}

/// A merchant applies: its account is opened, and it can receive payments once an
/// operator approves it.
pub async fn sign_up_merchant(
    service: &Arc<Service>,
    from: Option<std::net::IpAddr>,
    req: MerchantSignUp,
) -> Result<SignedUp, ServiceError> {
    service.admit_address(from)?;
    service.currency(&req.currency)?;
    if req.annual_revenue < 0 {
        return Err(ServiceError::bad_request(
            "revenue_invalid",
            "revenue is not negative",
        ));
    }
    let listing = req.listing()?;
    if let Some(existing) = service
        .currency(&req.currency)?
        .merchants
        .read(|r| r.get_by_brn(listing.brn).map(|m| m.id.0))
    {
        return Err(ServiceError::new(
            StatusCode::CONFLICT,
            "brn_taken",
            "이미 등록된 사업자등록번호입니다. 가맹점 관리 화면에서 로그인해 주세요.",
            "This business registration number is already registered. Please sign in instead.",
        )
        .detail(format!("merchant {existing}")));
    }
    let setup = SignUpSetup::Merchant {
        category: req.category,
        annual_revenue: req.annual_revenue,
        listing: Some(Box::new(listing)),
    };
    let user_id = service
        .auth
        .create(NewUser {
            login: req.login,
            password: req.password,
            pin: None,
            role: Role::Merchant,
            currency: req.currency.clone(),
            currencies: Vec::new(),
            setup: Some(setup.to_json()?),
        })
        .await?;
    let account = finish_sign_up(service, &req.currency, user_id, setup, true).await?;
    Ok(SignedUp {
        user_id,
        account: account.0,
        status: "awaiting_approval".into(),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub login: String,
    #[schema(value_type = String)]
    pub password: Secret<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Session {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Unix seconds.
    pub expires_at: u64,
    pub role: Role,
}

pub async fn sign_in(
    service: &Arc<Service>,
    from: Option<std::net::IpAddr>,
    req: SignIn,
) -> Result<Session, ServiceError> {
    service.admit_address(from)?;
    let (token, expires_at, role) = service
        .auth
        .sign_in(&req.login, req.password.expose(), from)
        .await?;
    // A sign-up cut off before the ledger answered is finished now.
    if let Some(caller) = service.auth.caller(&token)
        && let Some(setup) = service.auth.pending_setup(caller.user_id)
        && let Ok(setup) = serde_json::from_str::<SignUpSetup>(&setup)
    {
        finish_sign_up(service, &caller.currency, caller.user_id, setup, false).await?;
    }
    Ok(Session {
        token,
        expires_at,
        role,
    })
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AutoChargeState {
    pub day: u8,
    pub monthly_face: i64,
    pub topup: bool,
    /// charged, pending (the bank's answer is not in yet), failed, or none this month.
    pub this_month: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Unix microseconds of the next attempt after a failure, if there will be one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub user_id: i64,
    pub role: Role,
    pub currency: String,
    /// Where the service keeps it (the demo's citizens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<u64>,
    /// Citizens: bought this KST month (face value), gifts sent, cash-back earned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purchased_this_month: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gifts_sent_this_month: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cashback_this_month: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_charge: Option<AutoChargeState>,
}

/// Who the caller is, and for citizens this month's counters and the auto-charge's
/// state (a failed auto-charge is shown here with its next attempt).
pub async fn me(service: &Service, caller: &Caller) -> Result<Me, ServiceError> {
    let person = service.auth.person(caller.user_id);
    let mut me = Me {
        user_id: caller.user_id,
        role: caller.role,
        currency: caller.currency.clone(),
        name: person.as_ref().map(|p| p.0.clone()),
        address: person.map(|p| p.1),
        account: caller.account,
        purchased_this_month: None,
        gifts_sent_this_month: None,
        cashback_this_month: None,
        auto_charge: None,
    };
    if let (Role::Citizen, Some(account), Ok(currency)) = (
        caller.role,
        caller.account,
        service.currency(&caller.currency),
    ) {
        currency.engine.read(|l| {
            let month = ledger::scheme::calendar::KstDate::of(l.last_timestamp()).month_index();
            if let Some(p) = l.citizen(AccountId(account)) {
                let this = |w: Won| if p.month == month { w.get() } else { 0 };
                me.purchased_this_month = Some(this(p.purchased_month));
                me.gifts_sent_this_month = Some(this(p.gift_sent_month));
                me.cashback_this_month = Some(this(p.cashback_month));
                me.auto_charge = p.auto_charge.as_ref().map(|s| {
                    let status = p.auto_charge_status.as_ref().filter(|st| st.month == month);
                    let (this_month, failure, next) = match status.map(|st| &st.result) {
                        None => ("none", None, None),
                        Some(ledger::scheme::AutoChargeResult::Charged { .. }) => {
                            ("charged", None, None)
                        }
                        Some(ledger::scheme::AutoChargeResult::Pending { .. }) => {
                            ("pending", None, None)
                        }
                        Some(ledger::scheme::AutoChargeResult::Failed {
                            code,
                            next_attempt_at,
                        }) => (
                            "failed",
                            Some(code.as_str().to_owned()),
                            next_attempt_at.map(|t| t.as_micros()),
                        ),
                    };
                    AutoChargeState {
                        day: s.day,
                        monthly_face: s.monthly_face.get(),
                        topup: s.topup,
                        this_month: this_month.into(),
                        failure,
                        next_attempt_at: next,
                    }
                });
            }
        });
    }
    Ok(me)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a request's `Debug` (in a log line, a panic, a test failure) printed
    /// passwords and PINs.
    #[test]
    fn the_debug_of_requests_does_not_show_passwords_or_pins() {
        let sign_in: Result<SignIn, _> = serde_json::from_value(
            serde_json::json!({"login": "minji", "password": "hunter2-secret"}),
        );
        let shown = format!("{sign_in:?}");
        assert!(shown.contains("minji"), "{shown}");
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        let sign_up: Result<CitizenSignUp, _> = serde_json::from_value(serde_json::json!({
            "login": "minji", "password": "hunter2-secret", "pin": "987654",
            "birth_year": 1990, "currency": "busan"
        }));
        let shown = format!("{sign_up:?}");
        assert!(shown.contains("minji"), "{shown}");
        assert!(
            !shown.contains("hunter2-secret") && !shown.contains("987654"),
            "{shown}"
        );
    }
}
