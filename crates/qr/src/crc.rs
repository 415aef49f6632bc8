//! The EMVCo checksum: CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no
//! final xor), written as four uppercase hex digits in tag 63.
//!
//! The checksum covers every byte of the payload up to and including the `6304` that
//! opens tag 63, taken as UTF-8. The EMVCo specification's own worked example (which has
//! Chinese text in tag 64) only checks out when computed over UTF-8 bytes, so that is what
//! we do for Korean names too.
//!
//! The table-driven `crc` crate is used instead of the bit-by-bit loop most EMV libraries
//! carry: a payload is scanned on every payment, and slicing-by-16 makes the checksum a
//! small share of a decode.

use crc::{CRC_16_IBM_3740, Crc, Table};

/// `CRC_16_IBM_3740` is the catalogue's name for CRC-16/CCITT-FALSE. A `static`, not a
/// `const`: the 8 KiB table should exist once, not be copied into every caller.
static EMV_CRC: Crc<u16, Table<16>> = Crc::<u16, Table<16>>::new(&CRC_16_IBM_3740);

/// CRC-16/CCITT-FALSE of `bytes`.
pub fn crc16(bytes: &[u8]) -> u16 {
    EMV_CRC.checksum(bytes)
}

/// The four uppercase hex digits EMVCo writes for a checksum.
pub fn crc_hex(crc: u16) -> [u8; 4] {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    [
        HEX[usize::from(crc >> 12)],
        HEX[usize::from((crc >> 8) & 0xF)],
        HEX[usize::from((crc >> 4) & 0xF)],
        HEX[usize::from(crc & 0xF)],
    ]
}

/// Reads four hex digits. Lowercase is accepted: some generators emit it, and a reader
/// that refused it would turn a harmless style slip into a "damaged code" answer.
pub fn parse_crc_hex(digits: &str) -> Option<u16> {
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_of_the_catalogue() {
        // The standard check input for every CRC in the catalogue.
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    #[test]
    fn hex_round_trip() {
        for crc in [0u16, 0x29B1, 0xFFFF, 0x0A0B] {
            let hex = crc_hex(crc);
            let text = std::str::from_utf8(&hex).unwrap();
            assert_eq!(parse_crc_hex(text), Some(crc));
        }
        assert_eq!(parse_crc_hex("a13a"), Some(0xA13A));
        assert_eq!(parse_crc_hex("A13"), None);
        assert_eq!(parse_crc_hex("A13G"), None);
        assert_eq!(parse_crc_hex("+A13"), None);
    }
}
