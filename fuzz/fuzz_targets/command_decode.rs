//! Any bytes as a command (alone and in its envelope) and as an answer, the pieces of a
//! batch record. Decoding must never panic, and whatever decodes must encode again to
//! exactly the bytes it was read from, as `crates/engine/tests/decode_props.rs` checks
//! on stable.

#![no_main]

use ledger::codec::{self, Reader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    if let Ok(e) = codec::get_envelope(&mut r) {
        let mut again = Vec::new();
        codec::put_envelope(&mut again, &e);
        assert!(
            again == data[..r.position()],
            "envelope {e:?} encodes differently"
        );
    }
    let mut r = Reader::new(data);
    if let Ok(c) = codec::get_command(&mut r) {
        let mut again = Vec::new();
        codec::put_command(&mut again, &c);
        assert!(
            again == data[..r.position()],
            "command {c:?} encodes differently"
        );
    }
    let mut r = Reader::new(data);
    if let Ok(o) = codec::get_outcome(&mut r) {
        let mut again = Vec::new();
        codec::put_outcome(&mut again, &o);
        assert!(
            again == data[..r.position()],
            "outcome {o:?} encodes differently"
        );
    }
});
