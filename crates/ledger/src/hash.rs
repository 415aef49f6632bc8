//! The state hash and command fingerprints.
//!
//! The state hash is a sum (mod 2^128) of one 128-bit XXH3 hash per account and per
//! pending transfer, over their canonical bytes, plus the transfer counter and the halt
//! flag. A sum of per-item hashes can be updated in O(1) when an item changes, so the
//! ledger keeps it current after every batch and the journal records it with each
//! batch: a replay that disagrees is caught at the first batch where it disagrees. It is
//! a consistency check between honest nodes and versions, not a defence against a
//! forger; the journal's blake3 chain is that.

use std::fmt;

use xxhash_rust::xxh3::{xxh3_64, xxh3_128};

use crate::account::Account;
use crate::codec::{Put, put_account, put_command, put_pending};
use crate::command::Command;
use crate::state::PendingTransfer;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StateHash(pub u128);

impl fmt::Debug for StateHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateHash({:032x})", self.0)
    }
}

impl fmt::Display for StateHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

pub(crate) fn account_hash(a: &Account, scratch: &mut Vec<u8>) -> u128 {
    scratch.clear();
    scratch.put_u8(b'A');
    put_account(scratch, a);
    xxh3_128(scratch)
}

pub(crate) fn pending_hash(p: &PendingTransfer, scratch: &mut Vec<u8>) -> u128 {
    scratch.clear();
    scratch.put_u8(b'P');
    put_pending(scratch, p);
    xxh3_128(scratch)
}

/// What identifies a command's content for idempotency: the same key with a different
/// fingerprint is a different command.
pub(crate) fn fingerprint(c: &Command, scratch: &mut Vec<u8>) -> u64 {
    scratch.clear();
    put_command(scratch, c);
    xxh3_64(scratch)
}

pub(crate) fn state_hash(
    accounts: u128,
    pendings: u128,
    scheme: u128,
    next_transfer_id: u64,
    halted: bool,
) -> StateHash {
    let mut buf = Vec::with_capacity(64);
    buf.put_u128(accounts);
    buf.put_u128(pendings);
    // Absent until a currency uses scheme rules, so journals written before the scheme
    // layer keep their recorded hashes.
    if scheme != 0 {
        buf.put_u128(scheme);
    }
    buf.put_u64(next_transfer_id);
    buf.put_u8(u8::from(halted));
    StateHash(xxh3_128(&buf))
}
