//! What the ledger can tell of a currency right now: the engine's health, the ledger's
//! halt, and so what works. The operator's dashboard and the public status page read it
//! from here, so that they never disagree on what works.
//!
//! Payments work when the currency takes writes (the engine runs and the ledger is not
//! halted) and a scheme is in force; charging when, in addition, the scheme's purchases
//! are open; redemption when it takes writes. What this cannot tell: whether the bank
//! answers (charging and redemption also need the bank edge).

use engine::{Engine, Health};
use ledger::{Halt, Timestamp};

/// A currency's standing at one moment.
#[derive(Clone, Debug)]
pub struct Standing {
    pub health: Health,
    pub halt: Option<Halt>,
    pub works: Works,
}

/// What works now, as far as the ledger can tell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Works {
    pub payments: bool,
    pub charging: bool,
    pub redemption: bool,
}

impl Standing {
    /// The standing of `engine`'s currency at `at_us` (Unix microseconds; the scheme in
    /// force is the one at that time).
    pub fn of(engine: &Engine, at_us: u64) -> Standing {
        let (halt, scheme_in_force, purchases_open) = engine.read(|l| {
            let scheme = l.scheme_at(Timestamp::from_micros(at_us));
            (
                l.halted().cloned(),
                scheme.is_some(),
                scheme.is_some_and(|v| v.config.purchase.enabled),
            )
        });
        let health = engine.health();
        let works = works(&health, halt.is_some(), scheme_in_force, purchases_open);
        Standing {
            health,
            halt,
            works,
        }
    }

    /// The engine's state as one word (running, recovering, failed, read_only, stopped)
    /// and its cause, for operators.
    pub fn engine_state(&self) -> (&'static str, Option<&str>) {
        match &self.health {
            Health::Running => ("running", None),
            Health::Recovering { cause } => ("recovering", Some(cause)),
            Health::Failed { cause } => ("failed", Some(cause)),
            Health::ReadOnly { cause } => ("read_only", Some(cause)),
            Health::Stopped => ("stopped", None),
        }
    }
}

/// The rule of what works (see the module's words).
fn works(health: &Health, halted: bool, scheme_in_force: bool, purchases_open: bool) -> Works {
    let takes_writes = matches!(health, Health::Running) && !halted;
    Works {
        payments: takes_writes && scheme_in_force,
        charging: takes_writes && scheme_in_force && purchases_open,
        redemption: takes_writes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_works_unless_the_currency_takes_writes() {
        let stopped = [
            (Health::Stopped, false),
            (
                Health::Recovering {
                    cause: "journal".into(),
                },
                false,
            ),
            (Health::Running, true),
        ];
        for (health, halted) in stopped {
            assert_eq!(works(&health, halted, true, true), Works::default());
        }
    }

    #[test]
    fn payments_need_a_scheme_and_charging_open_purchases_too() {
        let running = Health::Running;
        assert_eq!(
            works(&running, false, true, true),
            Works {
                payments: true,
                charging: true,
                redemption: true
            }
        );
        assert_eq!(
            works(&running, false, true, false),
            Works {
                payments: true,
                charging: false,
                redemption: true
            }
        );
        assert_eq!(
            works(&running, false, false, false),
            Works {
                payments: false,
                charging: false,
                redemption: true
            }
        );
    }
}
