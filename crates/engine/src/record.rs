//! What a journal record's payload holds: the genesis of a currency, one applied batch
//! (its commands, their outcomes, and the state hash after it), or a marker saying which
//! build's rules write the records that follow.
//!
//! Layout (little-endian, see `ledger::codec` for the pieces):
//! - genesis: `b'G'`, format version u16, currency code (u8 length + ASCII), ledger config
//! - batch: `b'B'`, ledger timestamp u64, state hash u128, command count u32,
//!   commands, outcomes (as many as commands)
//! - rules: `b'R'`, format version u16, rules id (16 bytes), build description (u8
//!   length + UTF-8), `verified_from` u64 (the snapshot the build started from, 0 for
//!   genesis), `verified_through` u64 (the last record it re-decided before writing).
//!   Written when a build with other rules than the last marker's takes over the
//!   journal; it changes no state.

use ledger::codec::{self, DecodeError, Put, Reader};
use ledger::{Envelope, LedgerConfig, Outcome, RulesId, StateHash, Timestamp};

use crate::currency::CurrencyCode;

pub const RECORD_FORMAT_VERSION: u16 = 1;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordBody {
    Genesis {
        currency: CurrencyCode,
        config: LedgerConfig,
    },
    Batch(BatchRecord),
    Rules(RulesRecord),
}

/// Which rules write the records after this one, and what they verified first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RulesRecord {
    pub rules: RulesId,
    /// For people: the program and version (at most 255 bytes).
    pub build: String,
    /// The snapshot the build's verification started from (0: genesis).
    pub verified_from: u64,
    /// The last record the build re-decided before taking over.
    pub verified_through: u64,
}

/// Longest build description kept in a rules record.
pub const BUILD_DESCRIPTION_MAX: usize = 255;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRecord {
    /// The timestamp the ledger applied the batch at.
    pub timestamp: Timestamp,
    pub state_hash: StateHash,
    pub commands: Vec<Envelope>,
    pub outcomes: Vec<Outcome>,
}

pub fn encode_genesis(out: &mut Vec<u8>, currency: &CurrencyCode, config: &LedgerConfig) {
    out.put_u8(b'G');
    out.put_u16(RECORD_FORMAT_VERSION);
    currency.put(out);
    codec::put_config(out, config);
}

pub fn encode_rules(out: &mut Vec<u8>, r: &RulesRecord) {
    out.put_u8(b'R');
    out.put_u16(RECORD_FORMAT_VERSION);
    out.extend_from_slice(&r.rules.0);
    let mut end = r.build.len().min(BUILD_DESCRIPTION_MAX);
    while !r.build.is_char_boundary(end) {
        end -= 1;
    }
    out.put_u8(end as u8);
    out.extend_from_slice(&r.build.as_bytes()[..end]);
    out.put_u64(r.verified_from);
    out.put_u64(r.verified_through);
}

/// Encodes a batch record without building a `BatchRecord` (the sequencer's hot path).
pub fn encode_batch(
    out: &mut Vec<u8>,
    timestamp: Timestamp,
    state_hash: StateHash,
    commands: &[Envelope],
    outcomes: &[Outcome],
) {
    out.put_u8(b'B');
    out.put_u64(timestamp.as_micros());
    out.put_u128(state_hash.0);
    out.put_u32(commands.len() as u32);
    for c in commands {
        codec::put_envelope(out, c);
    }
    for o in outcomes {
        codec::put_outcome(out, o);
    }
}

pub fn decode(payload: &[u8]) -> Result<RecordBody, DecodeError> {
    let mut r = Reader::new(payload);
    let body = match r.u8("record tag")? {
        b'G' => {
            if r.u16("record format version")? != RECORD_FORMAT_VERSION {
                return Err(r.error("record format version"));
            }
            let currency = CurrencyCode::get(&mut r)?;
            RecordBody::Genesis {
                currency,
                config: codec::get_config(&mut r)?,
            }
        }
        b'B' => {
            let timestamp = Timestamp::from_micros(r.u64("batch timestamp")?);
            let state_hash = StateHash(r.u128("state hash")?);
            // A command is at least 25 bytes (client, key, tag), an outcome at least 2.
            let n = r.count(27, "command count")?;
            let commands = (0..n)
                .map(|_| codec::get_envelope(&mut r))
                .collect::<Result<_, _>>()?;
            let outcomes = (0..n)
                .map(|_| codec::get_outcome(&mut r))
                .collect::<Result<_, _>>()?;
            RecordBody::Batch(BatchRecord {
                timestamp,
                state_hash,
                commands,
                outcomes,
            })
        }
        b'R' => {
            if r.u16("record format version")? != RECORD_FORMAT_VERSION {
                return Err(r.error("record format version"));
            }
            let mut id = [0u8; 16];
            id.copy_from_slice(r.bytes(16, "rules id")?);
            let len = usize::from(r.u8("build description length")?);
            let build = std::str::from_utf8(r.bytes(len, "build description")?)
                .map_err(|_| r.error("build description (not UTF-8)"))?
                .to_owned();
            RecordBody::Rules(RulesRecord {
                rules: RulesId(id),
                build,
                verified_from: r.u64("verified from")?,
                verified_through: r.u64("verified through")?,
            })
        }
        _ => return Err(r.error("record tag")),
    };
    if !r.is_empty() {
        return Err(r.error("end of record (trailing bytes)"));
    }
    Ok(body)
}
