//! Which rules decide money in this build.
//!
//! Every journal record and snapshot carries the [`RulesId`] of the build that wrote it
//! (the engine writes a marker record when a build with other rules takes over a
//! journal). A build whose rules did not write the recent records must re-decide the
//! whole journal before it serves (the Buyeo failure: an update that changes a rule
//! must not serve), and never trusts a snapshot another build computed.
//!
//! The id is a hash of the ledger's sources, manifest and the workspace lock file,
//! computed by `build.rs`: any change there is a new identity. Builds with the
//! `fault-injection` feature can carry a deliberate rule change ([`Fault`]); its rules
//! then have an identity of their own, so tests can play a bad update against a
//! journal written under the good rules.

use std::fmt;

#[cfg(feature = "fault-injection")]
use crate::state::Fault;

/// The identity of a set of rules: 128 bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RulesId(pub [u8; 16]);

impl RulesId {
    /// The first 12 hex digits, for messages.
    pub fn short(&self) -> String {
        self.to_string().chars().take(12).collect()
    }
}

impl fmt::Display for RulesId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for RulesId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RulesId({})", self.short())
    }
}

/// The rules a ledger decides by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    id: RulesId,
    #[cfg(feature = "fault-injection")]
    fault: Option<Fault>,
}

/// The fingerprint `build.rs` computed for this build's ledger sources.
const FINGERPRINT_HEX: &str = env!("MAEUL_RULES_FINGERPRINT");

fn parse_fingerprint(hex: &str) -> RulesId {
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
    }
    RulesId(id)
}

impl Rules {
    /// The rules compiled into this build.
    pub fn this_build() -> Rules {
        Rules {
            id: parse_fingerprint(FINGERPRINT_HEX),
            #[cfg(feature = "fault-injection")]
            fault: None,
        }
    }

    /// This build's rules with one deliberately changed (a drill: the bad update).
    #[cfg(feature = "fault-injection")]
    pub fn with_fault(fault: Fault) -> Rules {
        let base = Rules::this_build().id;
        let mut input = base.0.to_vec();
        input.extend_from_slice(format!("{fault:?}").as_bytes());
        Rules {
            id: RulesId(xxhash_rust::xxh3::xxh3_128(&input).to_le_bytes()),
            fault: Some(fault),
        }
    }

    #[cfg(feature = "fault-injection")]
    pub(crate) fn fault(&self) -> Option<Fault> {
        self.fault
    }

    pub fn id(&self) -> RulesId {
        self.id
    }

    /// What a person reads in the journal's marker records and in messages.
    pub fn describe(&self) -> String {
        format!(
            "maeul {} (rules {})",
            env!("CARGO_PKG_VERSION"),
            self.id.short()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_build_has_a_fingerprint() {
        let id = Rules::this_build().id();
        assert_ne!(id, RulesId([0; 16]), "build.rs gave no fingerprint");
        assert_eq!(id.to_string().len(), 32);
        assert_eq!(id.to_string(), FINGERPRINT_HEX);
    }
}
