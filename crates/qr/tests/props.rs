//! Property tests: whatever is scanned, the readers never panic and the classifier always
//! answers; valid codes round-trip; damaged codes never pay.
//!
//! Invariants checked on every case:
//! - `classify` returns an answer with a non-empty code and Korean and English messages;
//! - `EmvPayload::parse`, `MerchantCode::parse`, the TLV reader, the alias normaliser and
//!   the CSV importer return (Ok or Err) for any input;
//! - encode → parse is the identity for every valid `MerchantCode`;
//! - a single-character change to a valid maeul code is never payable (CRC-16 catches
//!   every error burst of 16 bits or less).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use proptest::prelude::*;
use qr::alias::normalize;
use qr::{
    AliasTable, ConsumerCodes, ConsumerConfig, ConsumerSecret, EmvPayload, MemoryContext,
    MerchantCode, ScanAnswer, TokenId, classify, classify_str,
};

const OURS: &str = "busan-dongbaek";
const NOW_US: u64 = 1_790_000_000_000_000;

fn ctx() -> MemoryContext {
    let secret = ConsumerSecret([9; 32]);
    let codes = ConsumerCodes::new(&secret, OURS, ConsumerConfig::default()).unwrap();
    let mut ctx = MemoryContext::new(OURS).with_consumer_codes(codes);
    for id in 0..50 {
        ctx.add_active(id);
    }
    ctx.aliases
        .import_csv(b"https://pay.example.kr/m?id=1,1\n0012345678,2\n");
    ctx
}

fn check_answer(answer: &ScanAnswer) {
    assert!(!answer.code().is_empty());
    assert!(!answer.message_ko().is_empty());
    assert!(!answer.message_en().is_empty());
}

/// Seeds that reach deep into each reader.
fn seeds() -> Vec<String> {
    let secret = ConsumerSecret([9; 32]);
    let codes = ConsumerCodes::new(&secret, OURS, ConsumerConfig::default()).unwrap();
    vec![
        MerchantCode::new_static(OURS, 7, 5812, "마을식당", "부산").encode().unwrap(),
        MerchantCode::new_static(OURS, 7, 5812, "Maeul Diner", "Busan")
            .with_amount(12_000)
            .with_reference("R-1")
            .with_terminal("K1")
            .encode()
            .unwrap(),
        "00020101021229370016A000000677010111011300668012345675802TH530376463046197".into(),
        "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A".into(),
        codes.issue(TokenId([1; 10]), NOW_US).text,
        "https://pay.example.kr/m?id=1".into(),
        "WIFI:T:WPA;S:x;P:y;;".into(),
    ]
}

#[derive(Clone, Debug)]
enum Mutation {
    Replace(usize, char),
    Insert(usize, String),
    Delete(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<char>()).prop_map(|(i, c)| Mutation::Replace(i, c)),
        (any::<usize>(), "[0-9A-Z가-힣]{1,4}").prop_map(|(i, s)| Mutation::Insert(i, s)),
        (any::<usize>(), 1usize..8).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(seed: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = seed.chars().collect();
    for m in mutations {
        let n = chars.len().max(1);
        match m {
            Mutation::Replace(i, c) => {
                if !chars.is_empty() {
                    chars[i % n] = *c;
                }
            }
            Mutation::Insert(i, s) => {
                let at = i % (chars.len() + 1);
                chars.splice(at..at, s.chars());
            }
            Mutation::Delete(i, len) => {
                let at = i % n;
                let end = (at + len).min(chars.len());
                if at < end {
                    chars.drain(at..end);
                }
            }
            Mutation::Truncate(i) => chars.truncate(i % (chars.len() + 1)),
        }
    }
    chars.into_iter().collect()
}

fn merchant_code() -> impl Strategy<Value = MerchantCode> {
    (
        "[a-z][a-z0-9-]{0,20}",
        any::<u64>(),
        0u16..10_000,
        "[가-힣A-Za-z0-9 ]{0,24}[가-힣A-Z]",
        "[가-힣A-Za-z]{1,15}",
        proptest::option::of(1u64..10_000_000_000_000),
        proptest::option::of("[A-Z0-9-]{1,25}"),
        proptest::option::of("[A-Z0-9]{1,25}"),
    )
        .prop_map(
            |(currency, merchant, mcc, name, city, amount, reference, terminal)| {
                let mut code = MerchantCode::new_static(currency, merchant, mcc, name, city);
                code.amount_won = amount;
                code.reference = reference;
                code.terminal = terminal;
                code
            },
        )
}

proptest! {
    // Failures are saved next to this file and replayed first on the next run.
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("tests/props.proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_string_gets_an_answer(s in any::<String>()) {
        let ctx = ctx();
        check_answer(&classify_str(&s, &ctx, NOW_US));
        let _ = EmvPayload::parse(&s);
        let _ = MerchantCode::parse(&s);
        let n = normalize(&s);
        prop_assert_eq!(normalize(&n), n.clone(), "normalize is idempotent");
    }

    #[test]
    fn any_bytes_get_an_answer(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let ctx = ctx();
        check_answer(&classify(&bytes, &ctx, NOW_US));
        let mut table = AliasTable::new();
        let _ = table.import_csv(&bytes);
    }

    #[test]
    fn emv_shaped_noise_gets_an_answer(tail in "[0-9A-Za-z.가-힣 *]{0,200}") {
        let ctx = ctx();
        let s = format!("000201{tail}");
        check_answer(&classify_str(&s, &ctx, NOW_US));
        let with_crc = format!("{s}6304");
        let crc = qr::crc::crc16(with_crc.as_bytes());
        let s = format!("{with_crc}{crc:04X}");
        check_answer(&classify_str(&s, &ctx, NOW_US));
    }

    #[test]
    fn mutated_valid_payloads_get_an_answer(
        seed in 0usize..7,
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let ctx = ctx();
        let seeds = seeds();
        let s = apply(&seeds[seed % seeds.len()], &mutations);
        check_answer(&classify_str(&s, &ctx, NOW_US));
        let _ = MerchantCode::parse(&s);
    }

    #[test]
    fn one_changed_character_never_pays(
        code in merchant_code().prop_filter("ASCII names", |c| c.name.is_ascii() && c.city.is_ascii()),
        at in any::<usize>(),
        replacement in proptest::char::range('!', '~'),
    ) {
        let mut code = code;
        code.currency = OURS.into();
        code.merchant %= 50; // registered and active in ctx()
        let payload = code.encode().unwrap();
        let ctx = MemoryContext::new(OURS);
        let mut bytes = payload.into_bytes();
        let i = at % bytes.len();
        prop_assume!(bytes[i] != replacement as u8);
        // The checksum's hex digits are read without case: `b` for `B` means the same.
        prop_assume!(!(i + 4 >= bytes.len() && bytes[i].eq_ignore_ascii_case(&(replacement as u8))));
        bytes[i] = replacement as u8;
        let damaged = String::from_utf8(bytes).unwrap();
        let mut ctx = ctx;
        for id in 0..50 { ctx.add_active(id); }
        let answer = classify_str(&damaged, &ctx, NOW_US);
        prop_assert!(!answer.is_payable(), "{damaged:?} -> {answer:?}");
    }

    #[test]
    fn valid_codes_round_trip(code in merchant_code()) {
        let payload = code.encode().unwrap();
        prop_assert_eq!(MerchantCode::parse(&payload).unwrap(), code.clone());
        let mut ctx = MemoryContext::new(code.currency.clone());
        ctx.add_active(code.merchant);
        match classify_str(&payload, &ctx, NOW_US) {
            ScanAnswer::Merchant(t) => {
                prop_assert_eq!(t.merchant, code.merchant);
                prop_assert_eq!(t.amount_won, code.amount_won);
                prop_assert_eq!(t.reference, code.reference);
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn consumer_codes_verify_inside_their_window(
        token in any::<[u8; 10]>(),
        issued_s in 1_000_000_000u64..4_000_000_000,
        offset_us in 0u64..180_000_000,
        secret in any::<[u8; 32]>(),
    ) {
        let codes = ConsumerCodes::new(&ConsumerSecret(secret), OURS, ConsumerConfig::default()).unwrap();
        let now = issued_s * 1_000_000;
        let issued = codes.issue(TokenId(token), now);
        let verified = codes.verify(&issued.text, now + offset_us).unwrap();
        prop_assert_eq!(verified.token, TokenId(token));
        prop_assert_eq!(verified.expires_at_us, issued.expires_at_us);
    }
}
