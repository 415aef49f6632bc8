//! The ledger follows the merchant registry: every record has a ledger account, the
//! profile the scheme rules read (category, annual revenue judged against the scheme in
//! force), and an operator suspension exactly when the merchant is not approved.

use directory::{Mcc, Merchant, MerchantProfile, SourceMask, Status};
use http::StatusCode;
use ledger::scheme::{AnnualRevenue, SchemeCommand, SchemeConfig};
use ledger::{
    AccountId, AccountKind, ClientId, Command, Envelope, IdempotencyKey, MerchantId, Source,
    SourceSet, Text, Won,
};
use rand::RngCore;

use crate::error::ServiceError;
use crate::ledger_ops::submit;
use crate::{Currency, now_us};

/// Ledger commands per submission when the ledger follows the registry.
const MIRROR_CHUNK: usize = 512;

/// Moves a merchant in the registry and has the ledger follow. Moving to where it
/// already is succeeds (a retried request).
pub async fn move_merchant(
    currency: &Currency,
    merchant: u64,
    to: Status,
    reason: &str,
) -> Result<StatusCode, ServiceError> {
    let Some(m) = currency.merchants.get(merchant) else {
        return Err(ServiceError::not_found("merchant"));
    };
    if m.status != to {
        currency
            .merchants
            .transition(merchant, to, reason, now_us())?;
    }
    mirror_in_ledger(currency, &[merchant]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The ledger's view of a merchant, made to follow the registry: an account for every
/// record, the profile the scheme rules read, and an operator suspension exactly when
/// the merchant is not approved. Reads the ledger first and sends only what differs, so
/// running it again changes nothing. Returns the commands applied.
pub async fn mirror_in_ledger(currency: &Currency, ids: &[u64]) -> Result<usize, ServiceError> {
    // One at a time per currency: two runs planning from the same reads could land in
    // the wrong order (a reinstatement after a later close).
    let _turn = currency.merchants.mirror_turn().await;
    let mut applied = 0;
    for chunk in ids.chunks(MIRROR_CHUNK) {
        let records: Vec<Merchant> = chunk
            .iter()
            .filter_map(|id| currency.merchants.get(*id))
            .collect();
        let commands: Vec<Command> = currency.engine.read(|l| mirror_commands(l, &records));
        if commands.is_empty() {
            continue;
        }
        let envelopes: Vec<Envelope> = commands
            .into_iter()
            .map(|command| {
                let mut key = [0u8; 16];
                rand::rng().fill_bytes(&mut key);
                Envelope {
                    client: ClientId(u64::MAX - 2),
                    key: IdempotencyKey(u128::from_le_bytes(key)),
                    command,
                }
            })
            .collect();
        for out in submit(currency, envelopes).await? {
            match out.result {
                Ok(_) => applied += 1,
                Err(r) => {
                    tracing::warn!(rejection = ?r, "the ledger refused to follow the registry")
                }
            }
        }
    }
    Ok(applied)
}

/// The commands that make the ledger follow `records`: an account for each, the
/// profile the scheme rules read, a suspension exactly when not approved. Pure (reads
/// the ledger given), so an offline verb plans with it too; empty when the ledger
/// already follows.
pub fn mirror_commands(l: &ledger::Ledger, records: &[Merchant]) -> Vec<Command> {
    let mut out = Vec::new();
    // Revenue bands are judged against the scheme in force.
    let thresholds = l
        .scheme_at(l.last_timestamp())
        .map(|v| revenue_thresholds(&v.config));
    for m in records {
        let id = MerchantId(AccountId(m.id.0));
        let (category, revenue) = ledger_profile(&m.profile, thresholds.as_deref());
        if l.account(id.account()).is_none() {
            out.push(Command::OpenAccount {
                account: id.account(),
                kind: AccountKind::Merchant,
                accepts: source_set(m.profile.accepts),
            });
        }
        let profile = l.merchant_profile(id.account());
        if profile.is_none_or(|p| p.category != category || p.annual_revenue != revenue) {
            out.push(Command::Scheme(Box::new(
                SchemeCommand::SetMerchantProfile {
                    merchant: id,
                    category,
                    annual_revenue: revenue,
                },
            )));
        }
        let suspended = profile.is_some_and(|p| p.operator_suspension.is_some());
        let should_be = m.status != Status::Approved;
        if should_be && !suspended {
            let why = match m.status {
                Status::Applied => "awaiting approval".to_owned(),
                Status::Closed => format!("closed: {}", m.last_change.reason),
                _ => m.last_change.reason.clone(),
            };
            // Never skipped: a reason too long for the journal is cut (at a
            // character boundary), an empty one replaced.
            let reason = Text::new(truncate_bytes(&why, Text::BYTES_MAX))
                .or_else(|_| Text::new("not approved"));
            if let Ok(reason) = reason {
                out.push(Command::Scheme(Box::new(SchemeCommand::SuspendMerchant {
                    merchant: id,
                    reason,
                })));
            }
        } else if !should_be && suspended {
            out.push(Command::Scheme(Box::new(
                SchemeCommand::ReinstateMerchant { merchant: id },
            )));
        }
    }
    out
}

/// The longest prefix of `s` of at most `max` bytes that ends at a character boundary.
pub fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Where a scheme splits merchants by annual revenue: each cash-back band's upper bound,
/// the scheme's revenue cap and its sources' revenue caps. Every one of them divides
/// revenue into "at or under" and "over".
pub fn revenue_thresholds(cfg: &SchemeConfig) -> Vec<Won> {
    let mut t: Vec<Won> = cfg
        .cashback
        .iter()
        .flat_map(|c| c.bands.iter().filter_map(|b| b.up_to))
        .chain(cfg.merchants.revenue_cap)
        .chain(cfg.sources.iter().filter_map(|s| s.merchant_revenue_cap))
        .collect();
    t.sort_unstable();
    t.dedup();
    t
}

/// The revenue thresholds of the scheme in force, if there is one.
pub fn thresholds_in_force(currency: &Currency) -> Option<Vec<Won>> {
    currency.engine.read(|l| {
        l.scheme_at(l.last_timestamp())
            .map(|v| revenue_thresholds(&v.config))
    })
}

/// The category and annual revenue the scheme rules read, from a registry profile.
/// Revenue is where the scheme is known: an amount is itself; a band or range (영세,
/// "10억~30억", "30억 초과") wholly inside one of the scheme's cash-back bands and on one
/// side of every revenue cap (`thresholds`, from [`revenue_thresholds`]) is a revenue
/// inside it, which every rule treats as it would the whole band; one that straddles a
/// threshold, or no revenue at all, is unknown to the ledger, which gives it the least
/// generous treatment (the scheme's lowest cash-back rate, never the top one). Without a
/// scheme (`None`) only an amount is known.
pub fn ledger_profile(p: &MerchantProfile, thresholds: Option<&[Won]>) -> (u16, AnnualRevenue) {
    let category = p.category.or(p.mcc.map(Mcc::code)).unwrap_or(0);
    let revenue = match (p.revenue.map(directory::Revenue::range), thresholds) {
        (None, _) => AnnualRevenue::Unknown,
        (Some(r), Some(t)) => r
            .decide(t)
            .map_or(AnnualRevenue::Unknown, AnnualRevenue::Known),
        (Some(r), None) if r.max_won() == Some(r.min_won()) => AnnualRevenue::Known(r.min_won()),
        (Some(_), None) => AnnualRevenue::Unknown,
    };
    (category, revenue)
}

/// Makes the ledger follow every merchant of the registry again (after a new scheme
/// version: revenue bands are judged against the scheme in force).
pub async fn mirror_all(currency: &Currency) -> Result<usize, ServiceError> {
    let ids: Vec<u64> = currency
        .merchants
        .read(|r| r.records().iter().map(|m| m.id.0).collect());
    mirror_in_ledger(currency, &ids).await
}

pub fn source_set(mask: SourceMask) -> SourceSet {
    let sources: Vec<Source> = mask.iter().collect();
    SourceSet::of(&sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        let s = "가나다라"; // 3 bytes each
        assert_eq!(truncate_bytes(s, 12), s);
        assert_eq!(truncate_bytes(s, 7), "가나");
        assert_eq!(truncate_bytes(s, 2), "");
    }
}
