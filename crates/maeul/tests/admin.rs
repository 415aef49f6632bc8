//! The operator's offline verbs, as an operator runs them.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn maeul(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_maeul"))
        .args(args)
        .env("MAEUL_PASSWORD", "a-long-operator-password")
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn an_operator_creates_a_currency_loads_a_new_scheme_and_adds_staff() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let schemes = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemes");
    let seoul = format!("{schemes}/seoul-like.toml");
    let busan = format!("{schemes}/busan-like.toml");
    let out = maeul(
        &[
            "admin",
            "create-currency",
            data,
            "seoul",
            "--scheme",
            &seoul,
            "--budget-funding",
            "1000000000",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = maeul(&["admin", "load-scheme", data, "seoul", &busan], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("scheme version 2"));
    let out = maeul(
        &[
            "admin",
            "add-staff",
            data,
            "--login",
            "seoul-ops",
            "--role",
            "operator",
            "--currencies",
            "seoul",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A second currency of the same code is refused, saying why.
    let out = maeul(
        &[
            "admin",
            "create-currency",
            data,
            "seoul",
            "--scheme",
            &seoul,
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    // A bad scheme file names the field at fault.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&seoul)
            .unwrap()
            .replace("discount_bp = 700", "discount_bp = 9000"),
    )
    .unwrap();
    let out = maeul(
        &["admin", "load-scheme", data, "seoul", bad.to_str().unwrap()],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("discount_bp"));
    let out = maeul(&["verify", data], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn an_operator_syncs_a_cp949_registry_and_imports_aliases_offline() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let busan = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemes/busan-like.toml");
    let out = maeul(
        &["admin", "create-currency", data, "busan", "--scheme", busan],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merchants = directory::synth::Synth::new(9)
        .only_in("부산광역시")
        .merchants(300, 1, 0);
    let file = dir.path().join("registry.csv");
    std::fs::write(
        &file,
        directory::synth::write_registry_csv(
            &merchants,
            directory::synth::CsvEncoding::Cp949,
            directory::synth::HeaderStyle::Korean,
        ),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let run = |args: &[&str]| {
        let out = maeul(args, dir.path());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dry = run(&["admin", "sync-registry", data, "busan", file, "--dry-run"]);
    assert!(dry.starts_with("would sync 300 rows (EucKr)"), "{dry}");
    let first = run(&["admin", "sync-registry", data, "busan", file]);
    let added = merchants
        .iter()
        .filter(|m| m.status != directory::Status::Closed)
        .count();
    assert!(first.contains(&format!(": {added} added")), "{first}");
    let again = run(&["admin", "sync-registry", data, "busan", file]);
    assert!(
        again.contains(": 0 added, 0 changed") && again.contains(&format!("{added} unchanged")),
        "{again}"
    );
    let aliases = dir.path().join("aliases.csv");
    std::fs::write(&aliases, "payload,merchant_id\n0012345678,3000000000\n,1\n").unwrap();
    let out = run(&[
        "admin",
        "import-aliases",
        data,
        "busan",
        aliases.to_str().unwrap(),
    ]);
    assert!(
        out.starts_with("1 aliases added, 0 repeated, 1 rows rejected"),
        "{out}"
    );
}

/// A previous operator's dump the way it comes (CP949, CRLF, band labels, its QR codes,
/// typos and bad coordinates), synced offline: every row is in the report file, the old
/// QR codes pay, and the operator's choices are kept.
#[test]
fn an_offline_sync_writes_every_row_to_a_report_and_links_the_old_qr_codes() {
    let dir = tempfile::tempdir().unwrap();
    let data_path = dir.path().join("data");
    let data = data_path.to_str().unwrap();
    let busan = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemes/busan-like.toml");
    let out = maeul(
        &["admin", "create-currency", data, "busan", "--scheme", busan],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let brn = |n: u32| {
        directory::Brn::from_prefix(310_000_000 + n)
            .unwrap()
            .to_string()
    };
    let mut text =
        String::from("사업자등록번호,상호명,도로명주소,위도,경도,매출구간,영업상태,기존QR\r\n");
    // 40 rows; the first 30 with a coordinate nobody can read; row 40 with a typo in its
    // 사업자등록번호; every row with its old sticker's payload and the operator's grade.
    for i in 0..40u32 {
        let mut number = brn(i);
        if i == 39 {
            let last = number.pop().and_then(|c| c.to_digit(10)).unwrap();
            number.push(char::from_digit((last + 1) % 10, 10).unwrap());
        }
        let lat = if i < 30 { "??" } else { "35.1" };
        text.push_str(&format!(
            "{number},가게 {i},부산광역시 중구 중앙대로 {i},{lat},129.03,S등급,영업,OLDQR-{i:03}\r\n"
        ));
    }
    let cp949 = directory::synth::encode_cp949(&text);
    let file = dir.path().join("dump.csv");
    std::fs::write(&file, cp949).unwrap();
    let bands = dir.path().join("bands.csv");
    std::fs::write(&bands, "label,min_won,max_won\nS등급,0,3억\n").unwrap();
    let report = dir.path().join("report.csv");
    let file = file.to_str().unwrap();
    let run = |args: &[&str]| {
        let out = maeul(args, dir.path());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let common = [
        "--report",
        report.to_str().unwrap(),
        "--revenue-bands",
        bands.to_str().unwrap(),
        "--new-status",
        "applied",
        "--unverified-brn",
        "accept",
    ];
    let mut dry_args = vec!["admin", "sync-registry", data, "busan", file, "--dry-run"];
    dry_args.extend(common);
    let dry = run(&dry_args);
    assert!(dry.starts_with("would sync 40 rows (EucKr)"), "{dry}");
    assert!(
        dry.contains("40 added") && dry.contains("40 linked"),
        "{dry}"
    );
    // 30 bad locations and one unverified number: 20 printed, the rest in the file.
    assert!(dry.contains("… and 11 more"), "{dry}");
    assert!(
        dry.contains(&format!("is in {}", report.display())),
        "{dry}"
    );

    let mut args = vec!["admin", "sync-registry", data, "busan", file];
    args.extend(common);
    let out = run(&args);
    assert!(
        out.contains("1 revenue labels of the operator's stored"),
        "{out}"
    );
    let csv = std::fs::read(&report).unwrap();
    assert!(csv.starts_with(b"\xEF\xBB\xBF"), "a BOM for Excel");
    let csv = String::from_utf8(csv[3..].to_vec()).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("line,brn,outcome,code,message_ko,message_en,merchant_id")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let with = |outcome: &str, code: &str| -> Vec<u64> {
        rows.iter()
            .filter(|r| r[2] == outcome && r[3] == code)
            .map(|r| r[0].parse().unwrap())
            .collect()
    };
    assert_eq!(with("added", "added"), (2..=41).collect::<Vec<u64>>());
    assert_eq!(
        with("warning", "location_invalid"),
        (2..=31).collect::<Vec<u64>>()
    );
    assert_eq!(with("warning", "brn_unverified"), vec![41]);
    assert_eq!(with("alias", "alias_added"), (2..=41).collect::<Vec<u64>>());
    assert!(
        with("warning", "revenue_unreadable").is_empty(),
        "S등급 read"
    );

    // The server (stopped) finds them when it starts: records, aliases, the table.
    let key = service::auth::load_or_create_key(&data_path.join("qr.key")).unwrap();
    let merchants = service::merchants::Merchants::open(&data_path, "busan", key).unwrap();
    assert!(merchants.revenue_bands_csv().contains("S등급,0,300000000"));
    let now = service::now_us();
    let first_id: u64 = rows
        .iter()
        .find(|r| r[0] == "2" && r[2] == "added")
        .map(|r| r.last().unwrap().parse().unwrap())
        .unwrap();
    match merchants.classify_for_citizen(b"OLDQR-000", now) {
        // Awaiting the operator's review, as asked: found, not yet payable.
        qr::ScanAnswer::MerchantSuspended { merchant, .. } => assert_eq!(merchant, first_id),
        other => panic!("{other:?}"),
    }
    let all_applied = merchants.read(|r| {
        r.records()
            .iter()
            .all(|m| m.status == directory::Status::Applied)
    });
    assert!(all_applied);
    let unverified = merchants.read(|r| r.records().iter().filter(|m| m.brn_unverified).count());
    assert_eq!(unverified, 1);
}

#[test]
fn scheme_check_lists_every_problem_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let busan = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemes/busan-like.toml");
    let out = maeul(&["scheme", "check", busan], dir.path());
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("busan-like.toml: valid"), "{said}");
    assert!(said.contains("cash-back caps"), "{said}");
    // Two problems, each with its line: the console's editor shows the same.
    let text = std::fs::read_to_string(busan)
        .unwrap()
        .replace("validity_days = 1826", "validity_days = 0")
        .replace("small_value_max = 10000", "small_value_max = -1");
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, &text).unwrap();
    let out = maeul(&["scheme", "check", broken.to_str().unwrap()], dir.path());
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .position(|l| l.contains("small_value_max = -1"))
        .unwrap()
        + 1;
    assert!(
        said.contains(&format!(
            "broken.toml:{line}: refunds.small_value_max: negative"
        )),
        "{said}"
    );
    assert!(said.contains("purchase.validity_days"), "{said}");
    assert!(said.contains("3 problem(s)"), "{said}");
}
