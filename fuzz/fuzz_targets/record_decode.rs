//! Any bytes as a journal record's payload (genesis, rules marker, batch) and as a
//! snapshot payload. Decoding must never panic, and a record that decodes must encode
//! again to exactly the same bytes (one value, one encoding), as
//! `crates/engine/tests/decode_props.rs` checks on stable.

#![no_main]

use engine::record::{self, RecordBody};
use engine::replay;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = record::decode(data) {
        let mut again = Vec::new();
        match &body {
            RecordBody::Genesis { currency, config } => {
                record::encode_genesis(&mut again, currency, config)
            }
            RecordBody::Rules(r) => record::encode_rules(&mut again, r),
            RecordBody::Batch(b) => record::encode_batch(
                &mut again,
                b.timestamp,
                b.state_hash,
                &b.commands,
                &b.outcomes,
            ),
        }
        assert!(again == data, "record {body:?} encodes differently");
    }
    // A snapshot's scheme state is not held to its one encoding (it is the engine's
    // own cache): what decodes must encode to bytes that decode to the same state.
    if let Ok(s) = replay::decode_snapshot(data) {
        let rules = s.rules.unwrap_or(ledger::RulesId([0; 16]));
        let mut again = Vec::new();
        replay::encode_snapshot(&mut again, rules, s.writer.as_ref(), &s.currency, &s.ledger);
        let s2 = replay::decode_snapshot(&again).expect("an encoded snapshot decodes");
        assert_eq!(s2.ledger.state_hash(), s.ledger.state_hash());
    }
});
