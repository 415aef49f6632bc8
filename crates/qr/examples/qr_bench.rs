//! Scan classification throughput on one core, against a naive decoder in the same run.
//!
//! `cargo run --release -p qr --example qr_bench [-- ROUNDS_PER_RUN]`
//!
//! The mix is what a busy till sees: 35 % static maeul stickers, 30 % dynamic one-sale
//! codes, 20 % legacy aliases (URL stickers and numeric ids), 10 % other schemes' EMV
//! codes (PromptPay, Pix, the EMVCo sample) and 5 % text that is not a payment code.
//! Each decode is the full path: trim, checksum, TLV, maeul template, alias lookup,
//! merchant registry lookup, answer.
//!
//! The baseline is a plausible first implementation: it copies the scan into a `String`,
//! parses every tag (and every template's sub-tags) into a `HashMap<String, String>`,
//! checks the CRC bit by bit and compares it as formatted hex, then decides. The two are
//! checked to agree on every input before timing.
//!
//! Also timed: decoding one QR code from a PNG (screen-sized code and a 300-dpi sticker).

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use qr::{
    CALL_TO_ACTION, MemoryContext, MerchantCode, QrOptions, ScanAnswer, ScanContext, Sticker,
    StickerPngOptions, classify_str, decode_image, render_png, render_sticker_png,
};

const OURS: &str = "busan-dongbaek";
const NOW_US: u64 = 1_790_000_000_000_000;
const RUNS: usize = 7;

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let (ctx, naive, inputs) = setup();

    // Both decoders must reach the same verdict before their speed means anything.
    for s in &inputs {
        let ours = verdict(&classify_str(s, &ctx, NOW_US));
        let theirs = naive.classify(s, &ctx);
        assert_eq!(ours, theirs, "decoders disagree on {s:?}");
    }
    let payable = inputs
        .iter()
        .filter(|s| classify_str(s, &ctx, NOW_US).is_payable())
        .count();
    println!(
        "inputs: {} distinct scans, {payable} payable; {rounds} decodes per run, median of {RUNS} runs, one thread",
        inputs.len()
    );

    let ours = median_rate(rounds, &inputs, |s| {
        black_box(classify_str(black_box(s), &ctx, NOW_US).is_payable())
    });
    let baseline = median_rate(rounds / 4, &inputs, |s| {
        black_box(naive.classify(black_box(s), &ctx).0)
    });
    println!("classify (this crate):            {:>10.0} decodes/s", ours);
    println!(
        "naive HashMap decoder (baseline): {:>10.0} decodes/s",
        baseline
    );
    println!("speed-up: {:.1}x", ours / baseline);

    image_decode_times();
}

fn median_rate(rounds: usize, inputs: &[String], mut f: impl FnMut(&str) -> bool) -> f64 {
    let mut rates = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        let mut payable = 0usize;
        for i in 0..rounds {
            payable += usize::from(f(&inputs[i % inputs.len()]));
        }
        black_box(payable);
        rates.push(rounds as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    rates[RUNS / 2]
}

fn image_decode_times() {
    let payload = MerchantCode::new_static(OURS, 1_234_567, 5812, "동백 분식", "부산")
        .encode()
        .unwrap_or_default();
    let screen = render_png(&payload, &QrOptions::default()).unwrap_or_default();
    let sticker = render_sticker_png(
        &Sticker {
            payload: &payload,
            merchant_name: "동백 분식",
            currency_name: "동백전",
            call_to_action: CALL_TO_ACTION,
        },
        &StickerPngOptions::default(),
    )
    .map(|s| s.png)
    .unwrap_or_default();
    for (name, png) in [
        ("screen code PNG (392 px)", &screen),
        ("A6 sticker PNG at 300 dpi", &sticker),
    ] {
        let mut times: Vec<Duration> = (0..15)
            .map(|_| {
                let start = Instant::now();
                let decoded = decode_image(black_box(png));
                assert!(decoded.is_ok_and(|p| p.len() == 1), "{name} must decode");
                start.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "image decode, {name}: median {:.2} ms ({} bytes)",
            times[times.len() / 2].as_secs_f64() * 1e3,
            png.len()
        );
    }
}

/// A comparable summary of an answer: (payable, merchant or 0).
fn verdict(answer: &ScanAnswer) -> (bool, u64) {
    match answer {
        ScanAnswer::Merchant(t) => (true, t.merchant),
        _ => (false, 0),
    }
}

fn setup() -> (MemoryContext, Naive, Vec<String>) {
    let mut ctx = MemoryContext::new(OURS);
    let mut naive = Naive::default();
    let mut csv = String::from("payload,merchant_id\n");
    for id in 1..=2_000u64 {
        ctx.add_active(id);
        let url = format!("https://pay.old-operator.kr/m?id={id:05}");
        let number = format!("{:010}", 9_000_000 + id);
        csv.push_str(&format!("{url},{id}\n{number},{id}\n"));
        naive.aliases.insert(url, id);
        naive.aliases.insert(number, id);
    }
    let report = ctx.aliases.import_csv(csv.as_bytes());
    assert!(report.rejected.is_empty());

    let foreign = [
        "00020101021129370016A000000677010111011300668012345675802TH530376463046197",
        "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D",
        "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A",
    ];
    let names = [
        "동백 분식",
        "마을식당",
        "Maeul Mart",
        "해운대 꽃집",
        "부산 철물",
    ];
    let mut inputs = Vec::new();
    for i in 0..1_000u64 {
        let id = 1 + (i * 7_919) % 2_000;
        let name = names[(i % 5) as usize];
        let s = match i % 20 {
            0..=6 => MerchantCode::new_static(OURS, id, 5812, name, "부산").encode(),
            7..=12 => MerchantCode::new_static(OURS, id, 5812, name, "부산")
                .with_amount(1_000 + i * 100)
                .encode(),
            13..=15 => Ok(format!("https://pay.old-operator.kr/m?id={id:05}")),
            16 => Ok(format!("{:010}\n", 9_000_000 + id)),
            17 | 18 => Ok(foreign[(i % 3) as usize].to_string()),
            _ => Ok(format!("오늘의 메뉴 {i}")),
        };
        inputs.push(s.unwrap_or_default());
    }
    (ctx, naive, inputs)
}

/// The baseline decoder.
#[derive(Default)]
struct Naive {
    aliases: HashMap<String, u64>,
}

impl Naive {
    fn classify(&self, scanned: &str, ctx: &MemoryContext) -> (bool, u64) {
        let text = scanned.trim().to_string();
        if let Some(&id) = self.aliases.get(&text) {
            return self.merchant(id, ctx);
        }
        if !text.starts_with("000201") {
            return (false, 0);
        }
        let Some(fields) = parse_all(&text) else {
            return (false, 0);
        };
        let Some(crc_at) = text.rfind("6304") else {
            return (false, 0);
        };
        let computed = format!("{:04X}", bitwise_crc(&text.as_bytes()[..crc_at + 4]));
        if fields.get("63") != Some(&computed) {
            return (false, 0);
        }
        let mut maeul = None;
        for tag in 26..=51 {
            if fields.get(&format!("{tag}.00")).map(|g| g.to_uppercase()) == Some("KR.MAEUL".into())
            {
                maeul = Some(tag);
            }
        }
        let Some(tag) = maeul else {
            return (false, 0);
        };
        if fields.get(&format!("{tag}.01")).map(String::as_str) != Some(OURS) {
            return (false, 0);
        }
        let Some(id) = fields
            .get(&format!("{tag}.02"))
            .and_then(|m| m.parse::<u64>().ok())
        else {
            return (false, 0);
        };
        if fields.get("53").map(String::as_str) != Some("410") {
            return (false, 0);
        }
        if fields.get("01").map(String::as_str) == Some("12")
            && fields
                .get("54")
                .and_then(|a| a.parse::<u64>().ok())
                .is_none()
        {
            return (false, 0);
        }
        self.merchant(id, ctx)
    }

    fn merchant(&self, id: u64, ctx: &MemoryContext) -> (bool, u64) {
        match ctx.merchant(id) {
            Some(info) if info.currency == OURS && info.status == qr::MerchantStatus::Active => {
                (true, id)
            }
            _ => (false, 0),
        }
    }
}

/// Every tag into a map; templates also as "tag.sub".
fn parse_all(text: &str) -> Option<HashMap<String, String>> {
    let mut map = HashMap::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let tag: String = chars.get(i..i + 2)?.iter().collect();
        let len: usize = chars
            .get(i + 2..i + 4)?
            .iter()
            .collect::<String>()
            .parse()
            .ok()?;
        let value: String = chars.get(i + 4..i + 4 + len)?.iter().collect();
        let n: u32 = tag.parse().ok()?;
        if (26..=51).contains(&n) || n == 62 || n == 64 {
            let sub_chars: Vec<char> = value.chars().collect();
            let mut j = 0;
            while j + 4 <= sub_chars.len() {
                let sub: String = sub_chars[j..j + 2].iter().collect();
                let sub_len: usize = sub_chars[j + 2..j + 4]
                    .iter()
                    .collect::<String>()
                    .parse()
                    .ok()?;
                let sub_value: String = sub_chars.get(j + 4..j + 4 + sub_len)?.iter().collect();
                map.insert(format!("{tag}.{sub}"), sub_value);
                j += 4 + sub_len;
            }
        }
        map.insert(tag, value);
        i += 4 + len;
    }
    Some(map)
}

fn bitwise_crc(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}
