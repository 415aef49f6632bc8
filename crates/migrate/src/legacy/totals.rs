//! Control totals: what the old operator says its system holds, set against what was
//! imported. The currency does not go live while any differs, unless an operator signs
//! off that difference (journaled).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The operator's statement of the old system's totals (`totals.toml`). A total left
/// out is not assumed to match: it is a difference to sign off.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlTotals {
    pub members: Option<i64>,
    pub merchants: Option<i64>,
    pub unpaid_to_merchants: Option<i64>,
    /// Outstanding value in citizens' wallets by source: purchased, allowance, cashback.
    #[serde(default)]
    pub outstanding: Outstanding,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outstanding {
    pub purchased: Option<i64>,
    pub allowance: Option<i64>,
    pub cashback: Option<i64>,
}

impl ControlTotals {
    pub fn parse(text: &str) -> Result<ControlTotals, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    fn stated(&self) -> BTreeMap<&'static str, Option<i64>> {
        BTreeMap::from([
            ("members", self.members),
            ("merchants", self.merchants),
            ("unpaid_to_merchants", self.unpaid_to_merchants),
            ("outstanding.purchased", self.outstanding.purchased),
            ("outstanding.allowance", self.outstanding.allowance),
            ("outstanding.cashback", self.outstanding.cashback),
        ])
    }
}

/// What the currency holds of the import, read from the ledger and the stores after it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imported {
    pub members: i64,
    pub merchants: i64,
    pub unpaid_to_merchants: i64,
    pub outstanding_purchased: i64,
    pub outstanding_allowance: i64,
    pub outstanding_cashback: i64,
}

impl Imported {
    fn by_name(&self) -> BTreeMap<&'static str, i64> {
        BTreeMap::from([
            ("members", self.members),
            ("merchants", self.merchants),
            ("unpaid_to_merchants", self.unpaid_to_merchants),
            ("outstanding.purchased", self.outstanding_purchased),
            ("outstanding.allowance", self.outstanding_allowance),
            ("outstanding.cashback", self.outstanding_cashback),
        ])
    }
}

/// One total, as stated and as imported. Money is won, counts are rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    pub name: String,
    pub stated: Option<i64>,
    pub imported: i64,
    /// `None` when it matches.
    pub sign_off: Option<SignOff>,
}

impl Comparison {
    pub fn differs(&self) -> bool {
        self.stated != Some(self.imported)
    }

    /// A difference still blocking: it differs and nobody signed it off.
    pub fn blocking(&self) -> bool {
        self.differs() && self.sign_off.is_none()
    }
}

/// An operator's acceptance of one difference, as journaled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignOff {
    pub operator: String,
    pub reason: String,
    /// Unix microseconds.
    pub at_us: u64,
    /// What was signed off: a later import with other figures needs a new sign-off.
    pub stated: Option<i64>,
    pub imported: i64,
}

/// Every total side by side; earlier sign-offs carry over only for the same figures.
pub fn compare(
    stated: &ControlTotals,
    imported: &Imported,
    earlier: &[Comparison],
) -> Vec<Comparison> {
    let stated = stated.stated();
    imported
        .by_name()
        .into_iter()
        .map(|(name, got)| {
            let said = stated.get(name).copied().flatten();
            let sign_off = earlier
                .iter()
                .find(|c| c.name == name)
                .and_then(|c| c.sign_off.clone())
                .filter(|s| s.stated == said && s.imported == got && said != Some(got));
            Comparison {
                name: name.to_owned(),
                stated: said,
                imported: got,
                sign_off,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_won_differs_and_a_sign_off_holds_only_for_its_figures() {
        let stated = ControlTotals::parse(
            "members = 2\nmerchants = 1\nunpaid_to_merchants = 0\n[outstanding]\npurchased = 10001\nallowance = 0\ncashback = 0\n",
        )
        .unwrap();
        let imported = Imported {
            members: 2,
            merchants: 1,
            outstanding_purchased: 10_000,
            ..Imported::default()
        };
        let c = compare(&stated, &imported, &[]);
        let blocking: Vec<&str> = c
            .iter()
            .filter(|c| c.blocking())
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(blocking, ["outstanding.purchased"]);
        let mut signed = c.clone();
        for x in &mut signed {
            if x.differs() {
                x.sign_off = Some(SignOff {
                    operator: "kim".into(),
                    reason: "rounding".into(),
                    at_us: 1,
                    stated: x.stated,
                    imported: x.imported,
                });
            }
        }
        assert!(
            compare(&stated, &imported, &signed)
                .iter()
                .all(|c| !c.blocking())
        );
        // Another figure next time: the old sign-off does not cover it.
        let other = Imported {
            outstanding_purchased: 9_999,
            ..imported
        };
        assert!(
            compare(&stated, &other, &signed)
                .iter()
                .any(Comparison::blocking)
        );
        // A total not stated is not assumed to match.
        let unstated = ControlTotals::default();
        assert_eq!(
            compare(&unstated, &Imported::default(), &[])
                .iter()
                .filter(|c| c.blocking())
                .count(),
            6
        );
        assert!(ControlTotals::parse("member = 3").is_err());
    }
}
