//! A synthetic legacy dump, the way another vendor's system would write one: CP949,
//! CRLF, quoted fields with commas and quotes inside, Korean headers, its own words for
//! wallet types, statuses and revenue bands, three date formats, and (with `defects`) a
//! row breaking each rule the import checks, whose report is known in advance.
//!
//! Later days (`day` > 0) are the same system a day on: some balances spent, some new
//! members, merchants owed more. The same seed and day always write the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use directory::synth::{Synth, encode_cp949};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::totals::Imported;

#[derive(Clone, Copy, Debug)]
pub struct SynthOptions {
    pub members: usize,
    pub merchants: usize,
    /// Add the rows that break the rules (their report is `SynthDump::expected_codes`).
    pub defects: bool,
    pub seed: u64,
    /// 0: the first dump; 1, 2, ...: the days after.
    pub day: u32,
    /// Expiry dates are written relative to this (Unix microseconds).
    pub now_us: u64,
}

/// What was written, and what a correct import of it yields.
#[derive(Clone, Debug, Default)]
pub struct SynthDump {
    pub expected: Imported,
    /// Report code → rows, for the defect rows.
    pub expected_codes: BTreeMap<&'static str, usize>,
    pub member_rows: usize,
    pub wallet_rows: usize,
    pub merchant_rows: usize,
}

pub const MAPPING: &str = r#"# The old vendor's columns and words, mapped to maeul's.
system = "oldpay"
encoding = "auto"

[members]
file = "members.csv"
id = "회원번호"
name = "성명"
address = "주소"
birth_year = "출생연도"
status = "회원상태"
statuses = { "정상" = "active", "정지" = "frozen", "탈퇴" = "closed" }

[wallets]
file = "wallets.csv"
id = "지갑번호"
member = "회원번호"
kind = "지갑구분"
balance = "잔액"
expires = "유효기간"
kinds = { "일반충전" = "purchased", "정책수당" = "allowance", "캐시백" = "cashback", "포인트" = "ignore" }

[merchants]
file = "merchants.csv"
id = "가맹점번호"
brn = "사업자등록번호"
name = "상호"
status = "상태"
revenue_band = "매출구간"
unpaid = "미정산금액"
qr = "QR"
address = "주소"
statuses = { "정상" = "approved", "휴업" = "suspended", "폐업" = "closed" }
revenue_bands = { "A" = "1억 미만", "B" = "1억~3억", "C" = "3억~10억", "D" = "10억~30억", "E" = "30억 초과" }
"#;

/// A CSV field as the old system writes it: quoted when it must be.
fn field(out: &mut String, v: &str) {
    if v.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

fn row(out: &mut String, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(out, f);
    }
    out.push_str("\r\n");
}

/// A date `days` after `now_us`, in one of the formats old systems use.
fn date(now_us: u64, days: i64, style: u8) -> String {
    let t = (now_us / 1_000_000) as i64 + 9 * 3_600 + days * 86_400;
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    match style % 3 {
        0 => format!("{y:04}{m:02}{d:02}"),
        1 => format!("{y:04}-{m:02}-{d:02}"),
        _ => format!("{y:04}.{m:02}.{d:02}"),
    }
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const KINDS: [(&str, u8); 3] = [("일반충전", 0), ("정책수당", 1), ("캐시백", 2)];

/// Writes `members.csv`, `wallets.csv`, `merchants.csv`, `mapping.toml` and
/// `totals.toml` (the totals a correct import yields, `skew_won` added to the purchased
/// value outstanding: 0 for a dump whose totals agree).
pub fn write_dump(dir: &Path, o: &SynthOptions, skew_won: i64) -> std::io::Result<SynthDump> {
    std::fs::create_dir_all(dir)?;
    // Members and merchants draw from their own generators, so a later day's new
    // members do not change who the merchants are.
    let mut s = Synth::new(o.seed);
    let mut shop_synth = Synth::new(o.seed ^ 0x5348_4f50);
    let mut shop_rng = SmallRng::seed_from_u64(o.seed ^ 0x7368_6f70);
    let mut day_rng = SmallRng::seed_from_u64(o.seed ^ (u64::from(o.day) << 32) ^ 0x5eed);
    let mut out = SynthDump::default();
    let mut codes: BTreeMap<&'static str, usize> = BTreeMap::new();
    let e = &mut out.expected;
    let mut members = String::new();
    let mut wallets = String::new();
    row(
        &mut members,
        &["회원번호", "성명", "주소", "출생연도", "회원상태"],
    );
    row(
        &mut wallets,
        &["지갑번호", "회원번호", "지갑구분", "잔액", "유효기간"],
    );
    let now = o.now_us;

    if o.defects {
        let mut code = |c: &'static str, n: usize| *codes.entry(c).or_default() += n;
        let addr = "부산광역시 해운대구 해운대로 1, 101동 202호";
        row(&mut members, &["", "홍길동", addr, "1980", "정상"]);
        code("missing_value", 1);
        row(&mut members, &["MX0000001", "김철수", addr, "1970", "정상"]);
        row(&mut members, &["MX0000001", "김영희", addr, "1971", "정상"]);
        code("conflicting_duplicate", 2);
        for _ in 0..2 {
            row(
                &mut members,
                &["MX0000002", "이\"둘\"리", addr, "1990", "정상"],
            );
        }
        code("duplicate_id", 1);
        row(
            &mut wallets,
            &["WX0000002", "MX0000002", "일반충전", "1,000원", ""],
        );
        row(
            &mut wallets,
            &["WX0000002", "MX0000002", "일반충전", "1,000원", ""],
        );
        code("duplicate_id", 1);
        e.members += 1;
        e.outstanding_purchased += 1_000;
        row(&mut members, &["MX0000003", "박휴면", addr, "1985", "휴면"]);
        code("unknown_member_status", 1);
        row(
            &mut wallets,
            &["WX0000003", "MX0000003", "일반충전", "2000", ""],
        );
        e.members += 1;
        e.outstanding_purchased += 2_000;
        row(&mut members, &["MX0000004", "최탈퇴", addr, "1960", "탈퇴"]);
        code("closed_member_skipped", 1);
        row(&mut members, &["MX0000005", "정잔액", addr, "1961", "탈퇴"]);
        row(
            &mut wallets,
            &["WX0000005", "MX0000005", "정책수당", "3000", ""],
        );
        code("closed_with_value", 1);
        e.members += 1;
        e.outstanding_allowance += 3_000;
        row(&mut members, &["MX0000006", "강연도", addr, "19x0", "정상"]);
        code("bad_birth_year", 1);
        e.members += 1;
        members.push_str("MX0000007,짧은행\r\n");
        code("unreadable_row", 1);
        let far = date(now, 400, 1);
        row(
            &mut wallets,
            &["WX0000010", "MNOBODY", "일반충전", "1000", &far],
        );
        code("orphan_wallet", 1);
        row(
            &mut wallets,
            &["WX0000011", "MX0000006", "일반충전", "12,3x4", &far],
        );
        code("bad_amount", 1);
        row(
            &mut wallets,
            &["WX0000012", "MX0000006", "일반충전", "-500", &far],
        );
        code("negative_amount", 1);
        row(
            &mut wallets,
            &["WX0000013", "MX0000006", "일반충전", "100.5", &far],
        );
        code("fraction_of_won", 1);
        row(
            &mut wallets,
            &["WX0000014", "MX0000006", "일반충전", "100", "2027-02-30"],
        );
        code("bad_date", 1);
        row(
            &mut wallets,
            &["WX0000015", "MX0000006", "일반충전", "100", "2020-01-01"],
        );
        code("expired_balance", 1);
        row(
            &mut wallets,
            &["WX0000016", "MX0000006", "이벤트", "100", &far],
        );
        code("unknown_wallet_kind", 1);
        row(
            &mut wallets,
            &["WX0000017", "MX0000006", "포인트", "100", &far],
        );
        code("not_money", 1);
        row(
            &mut wallets,
            &["WX0000018", "MX0000003", "캐시백", "700", &far],
        );
        row(
            &mut wallets,
            &["WX0000018", "MX0000003", "캐시백", "800", &far],
        );
        code("conflicting_duplicate", 2);
    }

    let mut kinds_rng = SmallRng::seed_from_u64(o.seed ^ 0x6b69_6e64);
    let new_members = if o.day == 0 {
        0
    } else {
        (o.members / 1000).max(1) * o.day as usize
    };
    let mut wallet_no = 0u64;
    for i in 0..o.members + new_members {
        let c = s.citizen();
        let id = format!("M{i:08}");
        let birth = (1940 + kinds_rng.random_range(0..70u16)).to_string();
        let frozen = kinds_rng.random_bool(0.05);
        row(
            &mut members,
            &[
                &id,
                &c.name,
                &c.address,
                &birth,
                if frozen { "정지" } else { "정상" },
            ],
        );
        out.member_rows += 1;
        e.members += 1;
        let lots = 1 + kinds_rng.random_range(0..3u32);
        for lot in 0..lots {
            wallet_no += 1;
            let (kind, source) = KINDS[match kinds_rng.random_range(0..10u32) {
                0..=6 => 0,
                7 | 8 => 1,
                _ => 2,
            }];
            let mut amount = i64::from(kinds_rng.random_range(0..50_000u32)) * 10;
            // Later days: some value spent at the old operator's shops.
            if o.day > 0 && lot == 0 && day_rng.random_bool(0.05) {
                amount = amount * i64::from(day_rng.random_range(0..10u32)) / 10;
            }
            let expiry = if kinds_rng.random_bool(0.1) {
                String::new()
            } else {
                date(now, kinds_rng.random_range(30..1800), kinds_rng.random())
            };
            let wid = format!("W{wallet_no:09}");
            row(
                &mut wallets,
                &[&wid, &id, kind, &amount.to_string(), &expiry],
            );
            out.wallet_rows += 1;
            match source {
                0 => e.outstanding_purchased += amount,
                1 => e.outstanding_allowance += amount,
                _ => e.outstanding_cashback += amount,
            }
        }
    }

    let mut shops = String::new();
    row(
        &mut shops,
        &[
            "가맹점번호",
            "사업자등록번호",
            "상호",
            "상태",
            "매출구간",
            "미정산금액",
            "QR",
            "주소",
        ],
    );
    if o.defects {
        let mut code = |c: &'static str, n: usize| *codes.entry(c).or_default() += n;
        let good = shop_synth.brn().to_string();
        let mut bad = good.clone();
        let last = bad.pop().and_then(|c| c.to_digit(10)).unwrap_or(0);
        bad.push(char::from_digit((last + 1) % 10, 10).unwrap_or('0'));
        row(
            &mut shops,
            &["SX00001", &bad, "잘못된번호상회", "정상", "A", "0", "", ""],
        );
        code("bad_brn", 1);
        let twice = shop_synth.brn().to_string();
        row(
            &mut shops,
            &["SX00002", &twice, "쌍둥이상회", "정상", "A", "1000", "", ""],
        );
        row(
            &mut shops,
            &[
                "SX00003",
                &twice,
                "쌍둥이상회 2호점",
                "정상",
                "A",
                "1000",
                "",
                "",
            ],
        );
        code("duplicate_brn", 2);
        let b = shop_synth.brn().to_string();
        row(
            &mut shops,
            &[
                "SX00004",
                &b,
                "영업정지상회",
                "영업정지",
                "B",
                "5000",
                "",
                "",
            ],
        );
        code("unknown_merchant_status", 1);
        e.merchants += 1;
        e.unpaid_to_merchants += 5_000;
        let b = shop_synth.brn().to_string();
        row(
            &mut shops,
            &["SX00005", &b, "구간모름상회", "정상", "Z", "6000", "", ""],
        );
        code("unknown_revenue_band", 1);
        e.merchants += 1;
        e.unpaid_to_merchants += 6_000;
        let b = shop_synth.brn().to_string();
        row(
            &mut shops,
            &["SX00006", &b, "반올림상회", "정상", "A", "1.5", "", ""],
        );
        code("fraction_of_won", 1);
        let shared = "https://pay.old-vendor.example/m/SHARED";
        for id in ["SX00007", "SX00008"] {
            let b = shop_synth.brn().to_string();
            row(
                &mut shops,
                &[id, &b, "\"행복\"상회, 본점", "정상", "C", "0", shared, ""],
            );
            e.merchants += 1;
        }
        code("qr_refused", 2);
    }
    let bands = ["A", "B", "C", "D", "E"];
    for i in 0..o.merchants {
        let id = format!("S{i:07}");
        let brn = shop_synth.brn().to_string();
        let p = shop_synth.profile();
        let status = match shop_rng.random_range(0..20u32) {
            0 => "휴업",
            1 => "폐업",
            _ => "정상",
        };
        let band = bands[shop_rng.random_range(0..bands.len())];
        let mut unpaid = i64::from(shop_rng.random_range(0..500_000u32)) * 10;
        if o.day > 0 && day_rng.random_bool(0.1) {
            unpaid += i64::from(day_rng.random_range(1..100_000u32)) * 10;
        }
        let qr = if shop_rng.random_bool(0.8) {
            format!("https://pay.old-vendor.example/m/{id}")
        } else {
            String::new()
        };
        let address = p.road_address.clone().unwrap_or_default();
        row(
            &mut shops,
            &[
                &id,
                &brn,
                &p.name,
                status,
                band,
                &unpaid.to_string(),
                &qr,
                &address,
            ],
        );
        out.merchant_rows += 1;
        e.merchants += 1;
        e.unpaid_to_merchants += unpaid;
    }

    let mut totals = String::new();
    let _ = writeln!(
        totals,
        "# The old operator's control totals, as it states them."
    );
    let _ = writeln!(totals, "members = {}", e.members);
    let _ = writeln!(totals, "merchants = {}", e.merchants);
    let _ = writeln!(totals, "unpaid_to_merchants = {}", e.unpaid_to_merchants);
    let _ = writeln!(totals, "[outstanding]");
    let _ = writeln!(totals, "purchased = {}", e.outstanding_purchased + skew_won);
    let _ = writeln!(totals, "allowance = {}", e.outstanding_allowance);
    let _ = writeln!(totals, "cashback = {}", e.outstanding_cashback);
    std::fs::write(dir.join("members.csv"), encode_cp949(&members))?;
    std::fs::write(dir.join("wallets.csv"), encode_cp949(&wallets))?;
    std::fs::write(dir.join("merchants.csv"), encode_cp949(&shops))?;
    std::fs::write(dir.join("mapping.toml"), MAPPING)?;
    std::fs::write(dir.join("totals.toml"), totals)?;
    out.expected_codes = codes;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_the_reader() {
        let now = 1_796_000_000_000_000; // 2026-12
        for style in 0..3 {
            let d = date(now, 10, style);
            let end = super::super::parse::parse_last_day(&d).unwrap();
            let days = (end.as_micros() - now) / 86_400_000_000;
            assert!((10..=11).contains(&days), "{d}: {days}");
        }
    }
}
