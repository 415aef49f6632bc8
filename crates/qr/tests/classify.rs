//! Every answer the classifier can give, each from a real-looking scan.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::borrow::Cow;

use qr::{
    AliasMatch, ConsumerCodes, ConsumerConfig, ConsumerError, ConsumerSecret, LooksLike,
    MemoryContext, MerchantCode, MerchantStatus, PaymentTarget, Recognised, ScanAnswer, Scheme,
    TokenId, classify, classify_str,
};

const OURS: &str = "busan-dongbaek";
const NOW_US: u64 = 1_790_000_000_000_000;
const SHOP: u64 = 1_234_567;

fn ctx() -> MemoryContext {
    let mut ctx = MemoryContext::new(OURS);
    ctx.add_active(SHOP);
    ctx.set_merchant(
        20,
        OURS,
        MerchantStatus::Suspended {
            reason: Cow::Borrowed("tax audit"),
        },
    );
    ctx.set_merchant(21, OURS, MerchantStatus::Closed);
    ctx.set_merchant(22, "seoul-love", MerchantStatus::Active);
    let report = ctx.aliases.import_csv(
        "payload,merchant_id,note\n\
         https://pay.example.kr/m?id=123,1234567,old operator sticker\n\
         0012345678,1234567,\n\
         00020101021129370016A000000677010111011300668012345675802TH530376463046197,1234567,imported PromptPay sticker\n"
            .as_bytes(),
    );
    assert!(report.rejected.is_empty(), "{report:?}");
    ctx
}

fn code(merchant: u64) -> MerchantCode {
    MerchantCode::new_static(OURS, merchant, 5812, "마을식당", "부산")
}

/// One scan, one expected answer.
fn check(scanned: &str, expected: ScanAnswer) {
    let answer = classify_str(scanned, &ctx(), NOW_US);
    assert_eq!(answer, expected, "classify({scanned:?})");
    // Every answer can be shown to a person in both languages.
    assert!(!answer.message_ko().is_empty() && !answer.message_en().is_empty());
}

fn target(merchant: u64, amount_won: Option<u64>, via: Recognised) -> ScanAnswer {
    ScanAnswer::Merchant(PaymentTarget {
        merchant,
        amount_won,
        via,
        reference: None,
        terminal: None,
    })
}

#[test]
fn maeul_static_and_dynamic_codes_find_the_merchant() {
    check(
        &code(SHOP).encode().unwrap(),
        target(SHOP, None, Recognised::MaeulStatic),
    );
    check(
        &code(SHOP).with_amount(8_000).encode().unwrap(),
        target(SHOP, Some(8_000), Recognised::MaeulDynamic),
    );
    let kiosk = code(SHOP)
        .with_amount(3_500)
        .with_reference("A-17")
        .with_terminal("K2");
    check(
        &kiosk.encode().unwrap(),
        ScanAnswer::Merchant(PaymentTarget {
            merchant: SHOP,
            amount_won: Some(3_500),
            via: Recognised::MaeulDynamic,
            reference: Some("A-17".into()),
            terminal: Some("K2".into()),
        }),
    );
    // Scanners often append a newline.
    check(
        &format!("{}\r\n", code(SHOP).encode().unwrap()),
        target(SHOP, None, Recognised::MaeulStatic),
    );
}

#[test]
fn legacy_aliases_find_the_merchant() {
    let alias = |line, matched| target(SHOP, None, Recognised::Alias { matched, line });
    check(
        "https://pay.example.kr/m?id=123",
        alias(2, AliasMatch::Exact),
    );
    check(
        " HTTPS://PAY.EXAMPLE.KR/m?id=123\n",
        alias(2, AliasMatch::Exact),
    );
    check("0012345678", alias(3, AliasMatch::Exact));
    // The exact imported PromptPay sticker, and a re-print of the same account with an
    // amount (different checksum) still reach the shop.
    check(
        "00020101021129370016A000000677010111011300668012345675802TH530376463046197",
        alias(4, AliasMatch::Exact),
    );
    let reprint = reprint_with_amount(
        "00020101021129370016A000000677010111011300668012345675802TH53037646304",
    );
    check(&reprint, alias(4, AliasMatch::Account));
}

/// Adds tag 54 before the CRC and recomputes it.
fn reprint_with_amount(without_crc: &str) -> String {
    let body = without_crc.strip_suffix("6304").unwrap();
    let body = format!("{body}540550.006304");
    let crc = qr::crc::crc16(body.as_bytes());
    format!("{body}{crc:04X}")
}

#[test]
fn paths_and_queries_of_urls_are_case_sensitive() {
    check(
        "https://pay.example.kr/M?id=123",
        ScanAnswer::NotPayment {
            looks_like: LooksLike::Url {
                host: "pay.example.kr".into(),
            },
        },
    );
    check(
        "12345678",
        ScanAnswer::NotPayment {
            looks_like: LooksLike::Number,
        },
    );
}

#[test]
fn damaged_codes_say_expected_and_found_checksums() {
    let good = code(SHOP).encode().unwrap();
    let bad = good.replacen("부산", "서울", 1);
    let expected = qr::crc::crc16(&bad.as_bytes()[..bad.len() - 4]);
    let found = u16::from_str_radix(&good[good.len() - 4..], 16).unwrap();
    check(&bad, ScanAnswer::BadChecksum { expected, found });
}

#[test]
fn malformed_payloads_say_which_tag_and_why() {
    use qr::{FieldPath, Problem};
    // A maeul payload whose merchant id has a letter; checksum recomputed so the
    // structure, not the damage, is what is wrong.
    let body = "00020101021126410008KR.MAEUL0114busan-dongbaek0207123A5675204581253034105802KR5904마을식당6002부산6304";
    let payload = format!("{body}{:04X}", qr::crc::crc16(body.as_bytes()));
    let answer = classify_str(&payload, &ctx(), NOW_US);
    assert!(
        matches!(
            answer,
            ScanAnswer::MalformedEmv {
                field: Some(FieldPath {
                    tag: 26,
                    sub: Some(2)
                }),
                problem: Problem::NotDigits,
                ..
            }
        ),
        "{answer:?}"
    );
    // Dynamic code without an amount.
    let body = "00020101021226410008KR.MAEUL0114busan-dongbaek020712345675204581253034105802KR5904마을식당6002부산6304";
    let payload = format!("{body}{:04X}", qr::crc::crc16(body.as_bytes()));
    let answer = classify_str(&payload, &ctx(), NOW_US);
    assert!(
        matches!(
            answer,
            ScanAnswer::MalformedEmv {
                field: Some(FieldPath { tag: 54, sub: None }),
                problem: Problem::Missing,
                ..
            }
        ),
        "{answer:?}"
    );
    // Truncated in the middle (no checksum to check): a scan cut short, not a bad code.
    let answer = classify_str("000201010211264100", &ctx(), NOW_US);
    assert!(
        matches!(
            answer,
            ScanAnswer::IncompleteScan {
                field: Some(FieldPath { tag: 26, .. }),
                problem: Problem::Tlv(qr::tlv::TlvProblem::TruncatedValue),
                ..
            }
        ),
        "{answer:?}"
    );
    assert_eq!(answer.code(), "incomplete_scan");
    // Whole (its checksum agrees) but with a length that runs past the end: the
    // generator's fault, and a new scan will not help.
    let body = "00020101021126410008KR.MAEUL0114busan-dongbaek020712345675204581253034105802KR5904마을식당6099부산6304";
    let payload = format!("{body}{:04X}", qr::crc::crc16(body.as_bytes()));
    let answer = classify_str(&payload, &ctx(), NOW_US);
    assert_eq!(answer.code(), "malformed_emv", "{answer:?}");
}

#[test]
fn a_scan_cut_short_is_incomplete_not_malformed() {
    use qr::{FieldPath, Problem};
    let good = code(SHOP).with_amount(8_000).encode().unwrap();
    let cut = |n: usize| classify(&good.as_bytes()[..n], &ctx(), NOW_US);
    // The checksum's digits cut off, some or all of them.
    for lost in 1..=4 {
        let answer = cut(good.len() - lost);
        assert!(
            matches!(
                answer,
                ScanAnswer::IncompleteScan {
                    field: Some(FieldPath { tag: 63, sub: None }),
                    ..
                }
            ),
            "{lost} lost: {answer:?}"
        );
    }
    // No checksum field at all.
    assert!(matches!(
        cut(good.len() - 8),
        ScanAnswer::IncompleteScan {
            problem: Problem::MissingCrc,
            ..
        }
    ));
    // Cut inside the Korean name, in the middle of a character: not "binary data".
    let name_at = good.find("마을식당").unwrap();
    let answer = cut(name_at + 4);
    assert!(
        matches!(
            answer,
            ScanAnswer::IncompleteScan {
                field: Some(FieldPath { tag: 59, sub: None }),
                ..
            }
        ),
        "{answer:?}"
    );
    // The words say to scan again, steadier and closer; they are not the malformed ones.
    let malformed = ScanAnswer::MalformedEmv {
        field: None,
        offset: 0,
        problem: Problem::NoFormatIndicator,
    };
    assert_eq!(answer.code(), "incomplete_scan");
    assert!(
        answer.message_ko().contains("다시 스캔"),
        "{}",
        answer.message_ko()
    );
    assert!(
        answer.message_en().contains("scan again"),
        "{}",
        answer.message_en()
    );
    assert!(answer.message_en().contains("steady"));
    assert_ne!(answer.message_ko(), malformed.message_ko());
    assert_ne!(answer.message_en(), malformed.message_en());
    // Bytes that are not UTF-8 for another reason stay binary.
    let mut broken = good.as_bytes()[..name_at + 4].to_vec();
    broken.push(b'A');
    assert_eq!(
        classify(&broken, &ctx(), NOW_US),
        ScanAnswer::NotPayment {
            looks_like: LooksLike::Binary
        }
    );
    assert_eq!(
        classify(&[0xEB, 0xA7], &ctx(), NOW_US),
        ScanAnswer::NotPayment {
            looks_like: LooksLike::Binary
        }
    );
}

#[test]
fn merchants_that_cannot_be_paid() {
    check(
        &code(20).encode().unwrap(),
        ScanAnswer::MerchantSuspended {
            merchant: 20,
            reason: "tax audit".into(),
        },
    );
    check(
        &code(21).encode().unwrap(),
        ScanAnswer::MerchantClosed { merchant: 21 },
    );
    check(
        &code(99).encode().unwrap(),
        ScanAnswer::UnknownMerchant {
            scheme: Scheme::Maeul,
            merchant: Some(99),
        },
    );
    // The registry puts merchant 22 in another currency.
    check(
        &code(22).encode().unwrap(),
        ScanAnswer::OtherCurrency {
            merchant: Some(22),
            currency: "seoul-love".into(),
        },
    );
    // The code itself names another currency.
    let seoul = MerchantCode::new_static("seoul-love", 5, 5812, "가게", "서울");
    check(
        &seoul.encode().unwrap(),
        ScanAnswer::OtherCurrency {
            merchant: Some(5),
            currency: "seoul-love".into(),
        },
    );
}

#[test]
fn other_schemes_are_named() {
    let unknown = |scheme| ScanAnswer::UnknownMerchant {
        scheme,
        merchant: None,
    };
    check(
        "upi://pay?pa=shop@okbank&pn=Shop&cu=INR",
        unknown(Scheme::Upi),
    );
    check(
        "wxp://f2f0Xk3P0xGmGzIC8lFNV0S4pY6yJ2r2hIwz",
        unknown(Scheme::WeChatPay),
    );
    check(
        "https://qr.alipay.com/fkx07120vzhsliuln927l74",
        unknown(Scheme::Alipay),
    );
    check(
        "https://qr.kakaopay.com/Ej84nMWnw",
        unknown(Scheme::KakaoPay),
    );
    check(
        "https://new-m.pay.naver.com/pcpay?x=1",
        unknown(Scheme::NaverPay),
    );
    check("https://toss.me/maeul", unknown(Scheme::Toss));
    check("https://www.zeropay.or.kr/qr/123", unknown(Scheme::ZeroPay));
    check(
        "bitcoin:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        unknown(Scheme::Crypto),
    );
    check(
        "hQVDUFYwMWETTwegAAAAVVVVUAhQcm9kdWN0MWET",
        unknown(Scheme::EmvConsumerPresented),
    );
    // A Korean EMV payload without a GUID we know (e.g. another domestic service).
    let body = "00020101021126310013KR.EXAMPLEPAY0110123456789052045812530341058".to_string()
        + "02KR5904가게상점6002부산6304";
    let payload = format!("{body}{:04X}", qr::crc::crc16(body.as_bytes()));
    check(&payload, unknown(Scheme::KoreanEmv));
}

#[test]
fn things_that_are_not_payment_codes_are_named() {
    let not = |looks_like| ScanAnswer::NotPayment { looks_like };
    check("WIFI:T:WPA;S:cafe;P:secret;;", not(LooksLike::WifiConfig));
    check(
        "BEGIN:VCARD\nVERSION:3.0\nFN:Kim\nEND:VCARD",
        not(LooksLike::Contact),
    );
    check("MECARD:N:Kim;TEL:0101234;;", not(LooksLike::Contact));
    check(
        "BEGIN:VEVENT\nSUMMARY:x\nEND:VEVENT",
        not(LooksLike::Calendar),
    );
    check("mailto:help@example.kr", not(LooksLike::Email));
    check("tel:+82-51-123-4567", not(LooksLike::Phone));
    check("SMSTO:010:hi", not(LooksLike::Sms));
    check("geo:35.1,129.0", not(LooksLike::Geo));
    check(
        "www.example.kr/menu",
        not(LooksLike::Url {
            host: "www.example.kr".into(),
        }),
    );
    check(
        "https://Example.KR/menu",
        not(LooksLike::Url {
            host: "example.kr".into(),
        }),
    );
    check("오늘의 메뉴: 국밥", not(LooksLike::Text));
    check("   \n", not(LooksLike::Empty));
    check("", not(LooksLike::Empty));
}

#[test]
fn bytes_that_are_not_text_empty_or_huge_are_answered() {
    let ctx = ctx();
    let not = |looks_like| ScanAnswer::NotPayment { looks_like };
    assert_eq!(classify(b"", &ctx, NOW_US), not(LooksLike::Empty));
    assert_eq!(
        classify(&[0xff, 0xfe, 0x00, 0x81], &ctx, NOW_US),
        not(LooksLike::Binary)
    );
    let huge = vec![b'0'; 10_000];
    assert_eq!(
        classify(&huge, &ctx, NOW_US),
        not(LooksLike::TooLong { bytes: 10_000 })
    );
    assert_eq!(classify(&huge, &ctx, NOW_US).code(), "not_payment_code");
}

fn consumer_ctx() -> (MemoryContext, ConsumerCodes) {
    let secret = ConsumerSecret([42; 32]);
    let issuer = ConsumerCodes::new(&secret, OURS, ConsumerConfig::default()).unwrap();
    let verifier = ConsumerCodes::new(&secret, OURS, ConsumerConfig::default()).unwrap();
    (ctx().with_consumer_codes(verifier), issuer)
}

#[test]
fn consumer_codes_pay_once() {
    let (ctx, issuer) = consumer_ctx();
    let issued = issuer.issue(TokenId([3; 10]), NOW_US);
    let answer = classify_str(&issued.text, &ctx, NOW_US + 1_000_000);
    let ScanAnswer::Payer(verified) = answer else {
        panic!("{answer:?}");
    };
    assert_eq!(verified.token, TokenId([3; 10]));
    assert_eq!(
        classify_str(&issued.text, &ctx, NOW_US + 2_000_000),
        ScanAnswer::ConsumerRejected(ConsumerError::AlreadyUsed)
    );
}

#[test]
fn consumer_codes_that_cannot_be_honoured() {
    let (ctx, issuer) = consumer_ctx();
    let rejected = |text: &str, now| match classify_str(text, &ctx, now) {
        ScanAnswer::ConsumerRejected(e) => e,
        other => panic!("{other:?}"),
    };
    let issued = issuer.issue(TokenId([4; 10]), NOW_US);
    assert!(matches!(
        rejected(&issued.text, NOW_US + 200_000_000),
        ConsumerError::Expired { .. }
    ));
    assert!(matches!(
        rejected(&issued.text, NOW_US - 60_000_000),
        ConsumerError::NotYetValid { .. }
    ));
    let other_key = ConsumerCodes::new(&ConsumerSecret([1; 32]), OURS, ConsumerConfig::default())
        .unwrap()
        .issue(TokenId([5; 10]), NOW_US);
    assert_eq!(rejected(&other_key.text, NOW_US), ConsumerError::Forged);
    let other_currency = ConsumerCodes::new(
        &ConsumerSecret([42; 32]),
        "seoul-love",
        ConsumerConfig::default(),
    )
    .unwrap()
    .issue(TokenId([6; 10]), NOW_US);
    assert_eq!(
        rejected(&other_currency.text, NOW_US),
        ConsumerError::WrongCurrency
    );
    assert_eq!(rejected("MC1:TOOSHORT", NOW_US), ConsumerError::Malformed);
    // A citizen-side scanner (no verifier) never redeems someone's code.
    let citizen = MemoryContext::new(OURS);
    assert_eq!(
        classify_str(&issued.text, &citizen, NOW_US),
        ScanAnswer::ConsumerRejected(ConsumerError::NotAcceptedHere)
    );
}

#[test]
fn answer_codes_are_stable_and_distinct() {
    let answers = [
        ("merchant_found", target(1, None, Recognised::MaeulStatic)),
        (
            "incomplete_scan",
            ScanAnswer::IncompleteScan {
                field: None,
                offset: 0,
                problem: qr::Problem::MissingCrc,
            },
        ),
        (
            "malformed_emv",
            ScanAnswer::MalformedEmv {
                field: None,
                offset: 0,
                problem: qr::Problem::NoFormatIndicator,
            },
        ),
        (
            "not_payment_code",
            ScanAnswer::NotPayment {
                looks_like: LooksLike::Text,
            },
        ),
        (
            "unknown_merchant",
            ScanAnswer::UnknownMerchant {
                scheme: Scheme::Pix,
                merchant: None,
            },
        ),
        (
            "bad_checksum",
            ScanAnswer::BadChecksum {
                expected: 1,
                found: 2,
            },
        ),
        (
            "merchant_closed",
            ScanAnswer::MerchantClosed { merchant: 1 },
        ),
        (
            "consumer_code_expired",
            ScanAnswer::ConsumerRejected(ConsumerError::Expired { ago_us: 1 }),
        ),
        (
            "consumer_code_already_used",
            ScanAnswer::ConsumerRejected(ConsumerError::AlreadyUsed),
        ),
        (
            "consumer_code_forged",
            ScanAnswer::ConsumerRejected(ConsumerError::Forged),
        ),
    ];
    for (code, answer) in answers {
        assert_eq!(answer.code(), code);
    }
    let promptpay = ScanAnswer::UnknownMerchant {
        scheme: Scheme::PromptPay,
        merchant: None,
    };
    assert!(promptpay.message_ko().contains("PromptPay"));
    assert!(promptpay.message_en().contains("PromptPay"));
}

#[test]
fn a_consumer_code_given_back_after_a_refused_sale_pays_again() {
    let (ctx, issuer) = consumer_ctx();
    let issued = issuer.issue(TokenId([9; 10]), NOW_US);
    let ScanAnswer::Payer(first) = classify_str(&issued.text, &ctx, NOW_US) else {
        panic!("the first scan pays");
    };
    // The ledger refused the sale (over the balance): the code goes back.
    assert!(ctx.release_consumer_code(first.token, NOW_US + 1_000_000));
    assert_eq!(
        classify_str(&issued.text, &ctx, NOW_US + 2_000_000),
        ScanAnswer::Payer(first)
    );
    assert_eq!(
        classify_str(&issued.text, &ctx, NOW_US + 3_000_000),
        ScanAnswer::ConsumerRejected(ConsumerError::AlreadyUsed)
    );
    // A citizen-side context has nothing to give back.
    assert!(!MemoryContext::new(OURS).release_consumer_code(first.token, NOW_US));
}

/// An ASCII EMV payload from top-level fields, checksum appended.
fn emv(fields: &[(u8, &str)]) -> String {
    let mut out = String::new();
    for (tag, value) in fields {
        out.push_str(&format!("{tag:02}{:02}{value}", value.len()));
    }
    out.push_str("6304");
    let crc = qr::crc::crc16(out.as_bytes());
    format!("{out}{crc:04X}")
}

/// A merchant account template `00 guid, 01 account`.
fn account(guid: &str) -> String {
    format!("00{:02}{guid}0110ACCOUNT123", guid.len())
}

/// Every scheme the classifier can name. The match makes a new `Scheme` variant fail to
/// compile here until it is given a sample below.
fn every_scheme() -> Vec<Scheme> {
    use qr::CardNetwork::*;
    let all = vec![
        Scheme::Maeul,
        Scheme::ZeroPay,
        Scheme::KakaoPay,
        Scheme::NaverPay,
        Scheme::Toss,
        Scheme::Payco,
        Scheme::KoreanEmv,
        Scheme::Pix,
        Scheme::PayNow,
        Scheme::PromptPay,
        Scheme::DuitNow,
        Scheme::Qris,
        Scheme::VietQr,
        Scheme::HongKongFps,
        Scheme::Upi,
        Scheme::Alipay,
        Scheme::WeChatPay,
        Scheme::Card(Visa),
        Scheme::Card(Mastercard),
        Scheme::Card(Discover),
        Scheme::Card(Amex),
        Scheme::Card(Jcb),
        Scheme::Card(UnionPay),
        Scheme::Crypto,
        Scheme::EmvConsumerPresented,
        Scheme::OtherEmv {
            guid: None,
            country: None,
        },
    ];
    for s in &all {
        match s {
            Scheme::Maeul
            | Scheme::ZeroPay
            | Scheme::KakaoPay
            | Scheme::NaverPay
            | Scheme::Toss
            | Scheme::Payco
            | Scheme::KoreanEmv
            | Scheme::Pix
            | Scheme::PayNow
            | Scheme::PromptPay
            | Scheme::DuitNow
            | Scheme::Qris
            | Scheme::VietQr
            | Scheme::HongKongFps
            | Scheme::Upi
            | Scheme::Alipay
            | Scheme::WeChatPay
            | Scheme::Card(Visa | Mastercard | Discover | Amex | Jcb | UnionPay)
            | Scheme::Crypto
            | Scheme::EmvConsumerPresented
            | Scheme::OtherEmv { .. } => {}
        }
    }
    all
}

#[test]
fn foreign_schemes_have_a_machine_readable_code() {
    let tail = [
        (52, "5812"),
        (53, "410"),
        (58, "KR"),
        (59, "SHOP"),
        (60, "SEOUL"),
    ];
    let with = |head: &[(u8, &str)]| {
        let mut fields = vec![(0u8, "01"), (1, "11")];
        fields.extend_from_slice(head);
        fields.extend_from_slice(&tail);
        emv(&fields)
    };
    let template = |guid: &str| {
        let t = account(guid);
        let mut fields = vec![(0u8, "01"), (1, "11"), (26, t.as_str())];
        fields.extend_from_slice(&[
            (52, "5812"),
            (53, "702"),
            (58, "SG"),
            (59, "SHOP"),
            (60, "X"),
        ]);
        emv(&fields)
    };
    let samples: Vec<(String, &str)> = vec![
        ("https://www.zeropay.or.kr/qr/123".into(), "zeropay"),
        ("https://qr.kakaopay.com/Ej84nMWnw".into(), "kakaopay"),
        ("https://new-m.pay.naver.com/pcpay?x=1".into(), "naverpay"),
        ("https://toss.me/maeul".into(), "toss"),
        ("payco://pay?shop=1".into(), "payco"),
        (with(&[(26, &account("KR.EXAMPLEPAY"))]), "korean_emv"),
        (
            "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D".into(),
            "pix",
        ),
        (template("SG.PAYNOW"), "paynow"),
        (
            "00020101021129370016A000000677010111011300668012345675802TH530376463046197".into(),
            "promptpay",
        ),
        (template("A0000006150001"), "duitnow"),
        (template("ID.CO.QRIS.WWW"), "qris"),
        (template("A000000727"), "vietqr"),
        (template("HK.COM.HKICL"), "hk_fps"),
        ("upi://pay?pa=shop@okbank&pn=Shop&cu=INR".into(), "upi"),
        ("https://qr.alipay.com/fkx07120vzhsliuln927l74".into(), "alipay"),
        ("wxp://f2f0Xk3P0xGmGzIC8lFNV0S4pY6yJ2r2hIwz".into(), "wechat_pay"),
        (with(&[(2, "4111111111111111")]), "visa"),
        (with(&[(4, "5500000000000004")]), "mastercard"),
        (with(&[(9, "6011000000000004")]), "discover"),
        (with(&[(11, "378282246310005")]), "amex"),
        (with(&[(13, "3530111333300000")]), "jcb"),
        (with(&[(15, "6212345678901234")]), "unionpay"),
        ("bitcoin:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq".into(), "crypto"),
        ("hQVDUFYwMWETTwegAAAAVVVVUAhQcm9kdWN0MWET".into(), "emv_consumer_presented"),
        (template("XX.UNKNOWN.PAY"), "other_emv"),
    ];
    let ctx = MemoryContext::new(OURS);
    for (scanned, code) in &samples {
        let answer = classify_str(scanned, &ctx, NOW_US);
        let ScanAnswer::UnknownMerchant {
            scheme,
            merchant: None,
        } = &answer
        else {
            panic!("{scanned}: {answer:?}");
        };
        assert_eq!(answer.scheme(), Some(*code), "{scanned}: {answer:?}");
        assert_eq!(scheme.code(), *code);
        assert_eq!(answer.code(), "unknown_merchant");
        assert!(
            code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{code}"
        );
    }
    // Every foreign scheme has a sample, and each has its own code.
    for scheme in every_scheme().iter().filter(|s| **s != Scheme::Maeul) {
        let code = scheme.code();
        assert!(
            samples.iter().any(|(_, c)| *c == code),
            "no sample for {scheme:?}"
        );
    }
    let mut codes: Vec<&str> = samples.iter().map(|(_, c)| *c).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), samples.len(), "scheme codes are distinct");
}

#[test]
fn maeul_answers_name_no_foreign_scheme() {
    let ctx = ctx();
    for scanned in [
        code(SHOP).encode().unwrap(),
        code(99).encode().unwrap(),
        code(22).encode().unwrap(),
        code(20).encode().unwrap(),
        "WIFI:T:WPA;S:cafe;P:secret;;".into(),
        "000201010211264100".into(),
    ] {
        let answer = classify_str(&scanned, &ctx, NOW_US);
        assert_eq!(answer.scheme(), None, "{scanned}: {answer:?}");
    }
}
