//! Published EMVCo merchant-presented payloads, from specifications and the projects that
//! implement them. Each must read as a valid EMV payload with a correct checksum, and be
//! classified as the scheme it belongs to.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use qr::crc::crc16;
use qr::{EmvPayload, MemoryContext, ScanAnswer, Scheme, classify, classify_str};

struct Vector {
    source: &'static str,
    payload: &'static str,
    crc: u16,
    scheme: Scheme,
}

fn vectors() -> Vec<Vector> {
    vec![
        Vector {
            source: "EMVCo MPM specification v1.1, worked example (Chinese in tag 64)",
            payload: "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A",
            crc: 0xA13A,
            scheme: Scheme::OtherEmv {
                guid: Some("D15600000000".into()),
                country: Some("CN".into()),
            },
        },
        Vector {
            source: "Banco Central do Brasil, Manual de Padrões para Iniciação do Pix, static example",
            payload: "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D",
            crc: 0x1D3D,
            scheme: Scheme::Pix,
        },
        Vector {
            source: "Banco Central do Brasil, Pix manual, dynamic example (payload URL in 26.25)",
            payload: "00020101021226720014br.gov.bcb.pix2550bx.com.br/pix/8b3da2f3-9a41-40d1-a91a-bd93113bd4415204000053039865406123.455802BR5913Fulano de Tal6008BRASILIA62190515RP12345678-2019630445C8",
            crc: 0x45C8,
            scheme: Scheme::Pix,
        },
        Vector {
            source: "PromptPay, dtinth/promptpay-qr test suite, phone number",
            payload: "00020101021129370016A000000677010111011300668012345675802TH530376463046197",
            crc: 0x6197,
            scheme: Scheme::PromptPay,
        },
        Vector {
            source: "PromptPay, dtinth/promptpay-qr test suite, national id",
            payload: "00020101021129370016A000000677010111021311111111111115802TH530376463047B5A",
            crc: 0x7B5A,
            scheme: Scheme::PromptPay,
        },
        Vector {
            source: "PromptPay, dtinth/promptpay-qr test suite, with amount",
            payload: "00020101021229370016A000000677010111011300660000000005802TH530376454044.226304E469",
            crc: 0xE469,
            scheme: Scheme::PromptPay,
        },
        Vector {
            source: "phannaly/emv-qr-code README, dynamic KH payload with UnionPay tag 15",
            payload: "00020101021252044131153137210116372101160123456789ABCDE6016Banteay Meanchey5913Kuntheas Shop5802KH540510.005303840621201081234567863041FF2",
            crc: 0x1FF2,
            scheme: Scheme::Card(qr::CardNetwork::UnionPay),
        },
    ]
}

#[test]
fn published_payloads_parse_and_their_checksums_match() {
    for v in vectors() {
        let p = EmvPayload::parse(v.payload).unwrap_or_else(|e| panic!("{}: {e}", v.source));
        assert_eq!(p.crc(), v.crc, "{}", v.source);
        let body = &v.payload.as_bytes()[..v.payload.len() - 4];
        assert_eq!(crc16(body), v.crc, "{}", v.source);
    }
}

#[test]
fn published_payloads_are_named_by_scheme() {
    let ctx = MemoryContext::new("busan-dongbaek");
    for v in vectors() {
        let answer = classify_str(v.payload, &ctx, 0);
        assert_eq!(
            answer,
            ScanAnswer::UnknownMerchant {
                scheme: v.scheme,
                merchant: None
            },
            "{}",
            v.source
        );
    }
}

#[test]
fn a_single_changed_character_is_a_bad_checksum() {
    for v in vectors() {
        // Change one ASCII letter or digit in the middle of the payload.
        let mut bytes = v.payload.as_bytes().to_vec();
        let i = bytes.len() / 2;
        let i = (i..bytes.len())
            .find(|&j| bytes[j].is_ascii_alphanumeric())
            .unwrap();
        bytes[i] = if bytes[i] == b'1' { b'2' } else { b'1' };
        let altered = String::from_utf8(bytes).unwrap();
        let answer = classify_str(&altered, &MemoryContext::new("x"), 0);
        assert!(
            matches!(answer, ScanAnswer::BadChecksum { found, .. } if found == v.crc),
            "{}: {answer:?}",
            v.source
        );
    }
}

#[test]
fn emvco_lengths_count_characters_not_bytes() {
    // In the EMVCo example, 最佳运输 has length 04: four characters, twelve bytes.
    let v = &vectors()[0];
    let p = EmvPayload::parse(v.payload).unwrap();
    assert_eq!(p.length_unit(), qr::tlv::LengthUnit::Chars);
    assert_eq!(p.sub(64, 1).unwrap(), Some("最佳运输"));
    assert_eq!(p.sub(64, 2).unwrap(), Some("北京"));
}

#[test]
fn crc_check_value() {
    assert_eq!(crc16(b"123456789"), 0x29B1);
}

/// Our own payloads: a static sticker, and a one-sale code with every optional field and
/// Korean text (multi-byte characters to cut through).
fn ours() -> Vec<String> {
    vec![
        qr::MerchantCode::new_static("busan-dongbaek", 1_234_567, 5812, "마을식당", "부산")
            .encode()
            .unwrap(),
        qr::MerchantCode::new_static("busan-dongbaek", 7, 5812, "동백 분식", "해운대구")
            .with_amount(12_500)
            .with_reference("ORDER-77")
            .with_terminal("KIOSK1")
            .with_alternate(qr::AlternateLanguage {
                language: "EN".into(),
                name: "Dongbaek Snacks".into(),
                city: Some("Busan".into()),
            })
            .encode()
            .unwrap(),
    ]
}

/// Every payload cut at every byte length: an answer each time, never a panic; once
/// the cut is past `000201` the answer is always "incomplete"; a cut inside the
/// final checksum field (`6304` and its four digits), or right before it, always is.
#[test]
fn every_truncation_is_an_incomplete_scan() {
    let mut ctx = MemoryContext::new("busan-dongbaek");
    ctx.add_active(1_234_567);
    ctx.add_active(7);
    let payloads: Vec<String> = vectors()
        .iter()
        .map(|v| v.payload.to_owned())
        .chain(ours())
        .collect();
    let allowed = [
        "incomplete_scan",
        "bad_checksum",
        "malformed_emv",
        "not_payment_code",
    ];
    let mut cuts = 0;
    for payload in &payloads {
        let bytes = payload.as_bytes();
        for n in 0..bytes.len() {
            let answer = classify(&bytes[..n], &ctx, 0);
            cuts += 1;
            assert!(
                allowed.contains(&answer.code()),
                "{payload} cut to {n} bytes: {answer:?}"
            );
            assert!(!answer.message_ko().is_empty() && !answer.message_en().is_empty());
            if n >= bytes.len() - 8 {
                assert!(
                    matches!(answer, ScanAnswer::IncompleteScan { .. }),
                    "{payload} cut inside or before its checksum at {n}: {answer:?}"
                );
            }
            if n >= "000201".len() {
                assert_eq!(
                    answer.code(),
                    "incomplete_scan",
                    "{payload} cut to {n} bytes: {answer:?}"
                );
            } else {
                assert_eq!(answer.code(), "not_payment_code", "{n}: {answer:?}");
            }
            // The same through the text entry point wherever the cut is a character
            // boundary (a pasted payload).
            if let Ok(text) = std::str::from_utf8(&bytes[..n]) {
                assert_eq!(classify_str(text, &ctx, 0), answer, "{text}");
            }
        }
        // And whole, it is not incomplete.
        assert_ne!(classify_str(payload, &ctx, 0).code(), "incomplete_scan");
    }
    assert!(cuts > 1_000, "{cuts}");
}

/// A cut whose last eight characters happen to read `6304` and four hex digits is still
/// a cut inside the checksum, not a damaged code: the fields, read from the start, end
/// inside tag 63.
#[test]
fn a_cut_that_looks_like_a_checksum_field_is_still_incomplete() {
    // A city that ends in "6304", so that losing the last four digits of the real
    // checksum leaves "…6304" + "6304" at the end.
    let body = "00020101021129370016A0000006770101110113006680123456758
02TH53037645906SHOP  6008CITY63046304"
        .replace('\n', "");
    let payload = format!("{body}{:04X}", crc16(body.as_bytes()));
    let p = EmvPayload::parse(&payload).unwrap();
    assert_eq!(p.get(60), Some("CITY6304"));
    let cut = &payload[..payload.len() - 4];
    assert!(cut.ends_with("63046304"));
    let answer = classify_str(cut, &MemoryContext::new("x"), 0);
    assert_eq!(answer.code(), "incomplete_scan", "{answer:?}");
    assert!(matches!(
        EmvPayload::parse(cut),
        Err(qr::EmvError::Incomplete { .. })
    ));
}
