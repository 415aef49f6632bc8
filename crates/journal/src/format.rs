//! Record header encoding (see the crate documentation for the layout).

use crate::RecordHash;

/// Magic bytes at the start of every record header.
pub const MAGIC: [u8; 4] = *b"MJNL";
/// Current record format version.
pub const FORMAT_VERSION: u16 = 1;
/// Size of a record header in bytes.
pub const HEADER_LEN: usize = 80;
/// Largest payload a record may carry (1 GiB).
pub const MAX_PAYLOAD_LEN: u64 = 1 << 30;

const HEADER_CRC_AT: usize = 76;

/// Total on-disk length of a record with this payload length
/// (header + payload + padding to a multiple of 8).
pub const fn record_len(payload_len: u64) -> u64 {
    HEADER_LEN as u64 + pad8(payload_len)
}

pub(crate) const fn pad8(n: u64) -> u64 {
    (n + 7) & !7
}

/// Decoded record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub seq: u64,
    pub timestamp_us: u64,
    pub payload_len: u64,
    pub synced_through_seq: u64,
    pub prev_hash: RecordHash,
    pub payload_crc: u32,
}

fn u64_at(b: &[u8; HEADER_LEN], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn u32_at(b: &[u8; HEADER_LEN], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u16_at(b: &[u8; HEADER_LEN], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

impl Header {
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4..6].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        // 6..8 reserved, zero
        b[8..16].copy_from_slice(&self.seq.to_le_bytes());
        b[16..24].copy_from_slice(&self.timestamp_us.to_le_bytes());
        b[24..32].copy_from_slice(&self.payload_len.to_le_bytes());
        b[32..40].copy_from_slice(&self.synced_through_seq.to_le_bytes());
        b[40..72].copy_from_slice(&self.prev_hash.0);
        b[72..76].copy_from_slice(&self.payload_crc.to_le_bytes());
        let crc = crc32c::crc32c(&b[..HEADER_CRC_AT]);
        b[HEADER_CRC_AT..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a header on its own (magic, version, reserved
    /// bytes, header crc, field sanity). The error is a human-readable reason.
    pub(crate) fn decode(b: &[u8; HEADER_LEN]) -> Result<Header, String> {
        if b[0..4] != MAGIC {
            return Err(format!(
                "bad magic {:02x?} (expected {:02x?})",
                &b[0..4],
                MAGIC
            ));
        }
        let stored_crc = u32_at(b, HEADER_CRC_AT);
        let crc = crc32c::crc32c(&b[..HEADER_CRC_AT]);
        if stored_crc != crc {
            return Err(format!(
                "header crc32c mismatch (stored {stored_crc:08x}, computed {crc:08x})"
            ));
        }
        let version = u16_at(b, 4);
        if version != FORMAT_VERSION {
            return Err(format!(
                "unsupported record format version {version} (this build reads {FORMAT_VERSION})"
            ));
        }
        if u16_at(b, 6) != 0 {
            return Err("reserved header bytes 6..8 are not zero".to_string());
        }
        let mut prev = [0u8; 32];
        prev.copy_from_slice(&b[40..72]);
        let h = Header {
            seq: u64_at(b, 8),
            timestamp_us: u64_at(b, 16),
            payload_len: u64_at(b, 24),
            synced_through_seq: u64_at(b, 32),
            prev_hash: RecordHash(prev),
            payload_crc: u32_at(b, 72),
        };
        if h.seq == 0 {
            return Err("seq 0 in header (seqs start at 1)".to_string());
        }
        if h.synced_through_seq >= h.seq {
            return Err(format!(
                "synced_through_seq {} is not below the record's seq {}",
                h.synced_through_seq, h.seq
            ));
        }
        if h.payload_len > MAX_PAYLOAD_LEN {
            return Err(format!(
                "payload_len {} exceeds the maximum {MAX_PAYLOAD_LEN}",
                h.payload_len
            ));
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_every_bit_flip_is_detected() {
        let h = Header {
            seq: 42,
            timestamp_us: 1_700_000_000_000_000,
            payload_len: 12345,
            synced_through_seq: 40,
            prev_hash: RecordHash([7u8; 32]),
            payload_crc: 0xdead_beef,
        };
        let b = h.encode();
        assert_eq!(Header::decode(&b), Ok(h));
        for i in 0..HEADER_LEN {
            for bit in 0..8 {
                let mut c = b;
                c[i] ^= 1 << bit;
                assert!(Header::decode(&c).is_err(), "flip at byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn record_len_is_aligned() {
        assert_eq!(record_len(0), 80);
        assert_eq!(record_len(1), 88);
        assert_eq!(record_len(8), 88);
        assert_eq!(record_len(9), 96);
    }
}
