//! The journal's decoders against bytes nobody wrote: arbitrary bytes, and valid
//! records (every golden example) with bytes changed, inserted, removed or cut. None
//! may panic, and whatever decodes must encode again to exactly the bytes it was read
//! from: one value has one encoding, so a journal cannot hold two spellings of one
//! command, and what replay re-encodes (idempotency fingerprints, the state hash) is
//! what was written.
//!
//! The same decoders are fuzzed (coverage-guided, nightly) by `fuzz/` at the repository
//! root. Here, on stable, a few thousand cases run in seconds; more with
//! `PROPTEST_CASES=100000 cargo test -p engine --test decode_props`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod examples;

use engine::record::{self, RecordBody};
use engine::replay;
use ledger::codec::{self, Reader};
use ledger::{Envelope, Outcome};
use proptest::prelude::*;

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn encode_record(body: &RecordBody) -> Vec<u8> {
    let mut out = Vec::new();
    match body {
        RecordBody::Genesis { currency, config } => {
            record::encode_genesis(&mut out, currency, config)
        }
        RecordBody::Rules(r) => record::encode_rules(&mut out, r),
        RecordBody::Batch(b) => record::encode_batch(
            &mut out,
            b.timestamp,
            b.state_hash,
            &b.commands,
            &b.outcomes,
        ),
    }
    out
}

/// Every decoder the journal's bytes reach, each on `bytes`: no panic, and a decoded
/// value encodes to the bytes it was decoded from.
fn check_all_decoders(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(body) = record::decode(bytes) {
        prop_assert!(
            encode_record(&body) == bytes,
            "record decodes to {body:?} but encodes differently"
        );
    }
    let mut r = Reader::new(bytes);
    if let Ok(e) = codec::get_envelope(&mut r) {
        let again = examples::envelope_bytes(&e);
        prop_assert!(
            again == bytes[..r.position()],
            "envelope decodes to {e:?} but encodes differently"
        );
    }
    let mut r = Reader::new(bytes);
    if let Ok(c) = codec::get_command(&mut r) {
        let mut again = Vec::new();
        codec::put_command(&mut again, &c);
        prop_assert!(
            again == bytes[..r.position()],
            "command decodes to {c:?} but encodes differently"
        );
    }
    let mut r = Reader::new(bytes);
    if let Ok(o) = codec::get_outcome(&mut r) {
        let again = examples::outcome_bytes(&o);
        prop_assert!(
            again == bytes[..r.position()],
            "outcome decodes to {o:?} but encodes differently"
        );
    }
    // A snapshot is the engine's own cache (checked by the state hash, never the
    // record of truth), and its scheme state is not re-checked for its one encoding
    // (see `ledger::codec::get_postcard_canonical`): what decodes must encode to bytes
    // that decode to the same state and encode to themselves.
    if let Ok(s) = replay::decode_snapshot(bytes) {
        let rules = s.rules.unwrap_or(examples::RULES);
        let mut again = Vec::new();
        replay::encode_snapshot(&mut again, rules, s.writer.as_ref(), &s.currency, &s.ledger);
        let s2 = replay::decode_snapshot(&again);
        prop_assert!(
            s2.is_ok(),
            "a decoded snapshot encodes to bytes that do not decode"
        );
        let s2 = s2.unwrap();
        prop_assert_eq!(s2.ledger.state_hash(), s.ledger.state_hash());
        let mut third = Vec::new();
        replay::encode_snapshot(
            &mut third,
            rules,
            s2.writer.as_ref(),
            &s2.currency,
            &s2.ledger,
        );
        prop_assert!(third == again, "a snapshot's encoding is not stable");
    }
    Ok(())
}

/// Valid bytes to start from: every record payload, every command in a batch record
/// of its own (with an answer), every answer, the snapshots.
fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(build_corpus)
}

fn build_corpus() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = examples::records()
        .into_iter()
        .map(|(_, bytes, _)| bytes)
        .collect();
    let answers: Vec<Outcome> = examples::applied_outcomes()
        .into_iter()
        .chain(examples::rejection_outcomes())
        .map(|(_, o)| o)
        .collect();
    let commands: Vec<Envelope> = examples::commands().into_iter().map(|(_, e)| e).collect();
    for (i, e) in commands.iter().enumerate() {
        let mut bytes = Vec::new();
        record::encode_batch(
            &mut bytes,
            ledger::Timestamp::from_micros(1_773_104_400_000_000),
            ledger::StateHash(i as u128),
            std::slice::from_ref(e),
            std::slice::from_ref(&answers[i % answers.len()]),
        );
        out.push(bytes);
        out.push(examples::envelope_bytes(e));
    }
    out.extend(answers.iter().map(examples::outcome_bytes));
    out.extend(examples::snapshots().into_iter().map(|(_, b)| b));
    out
}

#[derive(Clone, Debug)]
enum Mutation {
    Set(usize, u8),
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Cut(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        4 => (at, any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        4 => (at, 0u8..8).prop_map(|(i, bit)| Mutation::Flip(i, bit)),
        1 => (at, any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => at.prop_map(Mutation::Remove),
        1 => at.prop_map(Mutation::Cut),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        match *m {
            Mutation::Set(i, b) if len > 0 => bytes[i % len] = b,
            Mutation::Flip(i, bit) if len > 0 => bytes[i % len] ^= 1 << bit,
            Mutation::Insert(i, b) => bytes.insert(i % (len + 1), b),
            Mutation::Remove(i) if len > 0 => {
                bytes.remove(i % len);
            }
            Mutation::Cut(i) => bytes.truncate(i % (len + 1)),
            _ => {}
        }
    }
    bytes
}

/// Postcard reads `86 00` as 6, the variant index of `ConfirmPurchase` (one byte, `06`,
/// when written): the codec refuses it rather than decode a second spelling.
#[test]
fn an_overlong_varint_in_a_scheme_command_is_refused() {
    let (_, e) = examples::commands()
        .into_iter()
        .find(|(n, _)| n == "Scheme/ConfirmPurchase")
        .expect("the example");
    let bytes = examples::envelope_bytes(&e);
    // client (8), key (16), command tag 10, blob length (4), then the blob.
    assert_eq!(bytes[24], 10);
    let len = u32::from_le_bytes(bytes[25..29].try_into().unwrap());
    assert_eq!(bytes[29], 6, "ConfirmPurchase is variant 6");
    let mut overlong = bytes[..25].to_vec();
    overlong.extend((len + 1).to_le_bytes());
    overlong.extend([0x86, 0x00]);
    overlong.extend(&bytes[30..]);
    let err = codec::get_envelope(&mut Reader::new(&overlong))
        .expect_err("an overlong varint is not the command's encoding");
    assert_eq!(err.what, "scheme command");
    assert!(codec::get_envelope(&mut Reader::new(&bytes)).is_ok());
}

#[test]
fn the_corpus_itself_round_trips() {
    for bytes in corpus() {
        check_all_decoders(bytes).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(10_000), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_decode_canonically(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        check_all_decoders(&bytes)?;
    }

    /// Arbitrary bytes behind a valid start (a record tag, a client and key and command
    /// tag, an answer's flags), so the decoders get past their first byte.
    #[test]
    fn arbitrary_bodies_never_panic_and_decode_canonically(
        prefix in prop_oneof![
            Just(vec![b'G', 1, 0]),
            Just(vec![b'R', 1, 0]),
            Just(vec![b'B']),
            (1u8..=11).prop_map(|tag| { let mut p = vec![0u8; 24]; p.push(tag); p }),
            (1u8..=11).prop_map(|tag| vec![0, 0, tag]),
            (0u8..80).prop_map(|code| vec![0, 1, code]),
            Just(vec![2u8]),
        ],
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = prefix;
        bytes.extend(body);
        check_all_decoders(&bytes)?;
    }

    #[test]
    fn mutated_records_never_panic_and_decode_canonically(
        pick in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        let corpus = corpus();
        let original = corpus[pick.index(corpus.len())].clone();
        check_all_decoders(&mutate(original, &mutations))?;
    }
}
