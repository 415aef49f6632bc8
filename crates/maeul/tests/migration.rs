//! An operator change through an interchange set, as two operators run it: the old
//! one exports a live demo currency, the successor imports it into a new data
//! directory, and citizens, merchants and old stickers carry on there.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn maeul(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maeul"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn failed(out: Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stop(mut child: std::process::Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
}

fn verify(dir: &Path) -> engine::VerifyReport {
    let report = engine::verify(
        maeul::data_dir::storage(dir, &engine::CurrencyCode::new("demo").unwrap()).as_ref(),
    );
    assert!(report.ok(), "{report}");
    report
}

async fn sign_in(http: &reqwest::Client, api: &str, login: &str) -> String {
    let session: serde_json::Value = http
        .post(format!("{api}/sessions"))
        .json(&serde_json::json!({"login": login, "password": maeul::serve::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    session["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{login} cannot sign in: {session}"))
        .to_owned()
}

async fn pay(http: &reqwest::Client, api: &str, token: &str, code: &str, key: &str) -> u64 {
    let paid = http
        .post(format!("{api}/me/payments"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&serde_json::json!({"code": code, "amount": 1000, "pin": maeul::demo::DEMO_PIN}))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 200, "{}", paid.text().await.unwrap());
    let paid: serde_json::Value = paid.json().await.unwrap();
    paid["payment"].as_u64().unwrap()
}

/// The sticker of merchant `id` as the set carries it.
fn sticker(set: &Path, id: u64) -> String {
    let text = std::fs::read_to_string(set.join("merchants.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|m| m["id"].as_u64() == Some(id))
        .unwrap()["sticker_payload"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_currency_changes_operator_through_a_set_and_carries_on_there() {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old");
    let new = tmp.path().join("new");
    let set = tmp.path().join("set");
    let key = tmp.path().join("successor.key");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();

    // The old operator's currency, with synthetic payments and one we refund later.
    let (child, base, _) = common::serve(&old, 200, 120);
    let api = format!("{base}/api/v1");
    let payment_before = rt.block_on(async {
        let citizen = sign_in(&http, &api, "citizen-0001").await;
        pay(
            &http,
            &api,
            &citizen,
            &sticker_of_running(&http, &api, 20_042).await,
            "before-1",
        )
        .await
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    stop(child);
    let before = verify(&old);

    // The successor makes a key; the old operator exports to it.
    let public = ok(maeul(&["migrate", "keygen", key.to_str().unwrap()]));
    let public = public.trim();
    assert!(public.starts_with("age1"), "{public}");
    let exported = ok(maeul(&[
        "export",
        old.to_str().unwrap(),
        set.to_str().unwrap(),
        "--to",
        public,
    ]));
    assert!(exported.contains("state hash"), "{exported}");
    let people = std::fs::read(set.join("people.jsonl.age")).unwrap();
    assert!(
        !people.windows(12).any(|w| w == b"citizen-0001"),
        "people's data is encrypted"
    );

    // Tampering is caught before anything is written.
    let tampered = tmp.path().join("tampered");
    copy_dir(&set, &tampered);
    let accounts = tampered.join("accounts.jsonl");
    let text = std::fs::read_to_string(&accounts).unwrap();
    let (first, rest) = text.split_once('\n').unwrap();
    let mut row: serde_json::Value = serde_json::from_str(first).unwrap();
    row["balance"] = (row["balance"].as_i64().unwrap() + 1).into();
    std::fs::write(&accounts, format!("{row}\n{rest}")).unwrap();
    let err = failed(maeul(&[
        "import",
        tampered.to_str().unwrap(),
        tmp.path().join("t1").to_str().unwrap(),
        "--identity",
        key.to_str().unwrap(),
    ]));
    assert!(
        err.contains("accounts.jsonl") && err.contains("SHA-256"),
        "{err}"
    );
    // …also when the manifest is made to agree: the journal says otherwise.
    restate_in_manifest(&tampered, "accounts.jsonl");
    let err = failed(maeul(&[
        "import",
        tampered.to_str().unwrap(),
        tmp.path().join("t2").to_str().unwrap(),
        "--identity",
        key.to_str().unwrap(),
    ]));
    assert!(
        err.contains("accounts.jsonl line 1") && err.contains("replayed journal"),
        "{err}"
    );
    assert!(!tmp.path().join("t2/currencies/demo").exists());
    // Another successor's key opens nothing, and nothing is written.
    let other = tmp.path().join("other.key");
    ok(maeul(&["migrate", "keygen", other.to_str().unwrap()]));
    let err = failed(maeul(&[
        "import",
        set.to_str().unwrap(),
        tmp.path().join("t3").to_str().unwrap(),
        "--identity",
        other.to_str().unwrap(),
    ]));
    assert!(err.contains("does not open with this key"), "{err}");
    assert!(!tmp.path().join("t3/currencies/demo").exists());

    // The import, killed at random moments and rerun, ends the same.
    for delay_ms in [30u64, 120, 400] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_maeul"))
            .args([
                "import",
                set.to_str().unwrap(),
                new.to_str().unwrap(),
                "--identity",
            ])
            .arg(&key)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
    }
    let imported = ok(maeul(&[
        "import",
        set.to_str().unwrap(),
        new.to_str().unwrap(),
        "--identity",
        key.to_str().unwrap(),
    ]));
    assert!(imported.contains("0 won of difference"), "{imported}");
    let again = ok(maeul(&[
        "import",
        set.to_str().unwrap(),
        new.to_str().unwrap(),
        "--identity",
        key.to_str().unwrap(),
    ]));
    assert!(again.contains("already there"), "{again}");
    assert!(
        again.contains("0 alias files added, 0 notices added, 0 of"),
        "{again}"
    );

    // Same journal, same state, same report.
    let after = verify(&new);
    assert_eq!(after.state_hash, before.state_hash);
    assert_eq!(after.chain_hash, before.chain_hash);
    assert_eq!(after.totals_by_account_kind, before.totals_by_account_kind);
    assert_eq!(
        ok(maeul(&["report", old.to_str().unwrap()])),
        ok(maeul(&["report", new.to_str().unwrap()]))
    );

    // The successor serves: the same people sign in with the same passwords and PIN,
    // the old sticker pays, and a payment made before the change is refunded after it.
    let (child, base, _) = common::serve(&new, 0, 120);
    let api = format!("{base}/api/v1");
    rt.block_on(async {
        let citizen = sign_in(&http, &api, "citizen-0001").await;
        pay(&http, &api, &citizen, &sticker(&set, 20_042), "after-1").await;
        let shop = sign_in(&http, &api, "shop-0043").await;
        let refund = http
            .post(format!("{api}/me/payments/{payment_before}/refund"))
            .bearer_auth(&shop)
            .header("Idempotency-Key", "refund-before")
            .json(&serde_json::json!({"amount": 1000}))
            .send()
            .await
            .unwrap();
        assert_eq!(refund.status(), 200, "{}", refund.text().await.unwrap());
    });
    stop(child);
    verify(&new);
}

async fn sticker_of_running(http: &reqwest::Client, api: &str, merchant: u64) -> String {
    let operator = sign_in(http, api, "operator").await;
    let png = http
        .get(format!(
            "{api}/operator/demo/merchants/{merchant}/qr?format=png"
        ))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    String::from_utf8(qr::decode_image(&png).unwrap().remove(0)).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Makes the manifest state a changed file's size and hash, as a forger would.
fn restate_in_manifest(set: &Path, name: &str) {
    use sha2::Digest as _;
    let bytes = std::fs::read(set.join(name)).unwrap();
    let digest = sha2::Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let path = set.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for f in manifest["files"].as_array_mut().unwrap() {
        if f["name"] == name {
            f["sha256"] = hex.clone().into();
            f["bytes"] = bytes.len().into();
        }
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
}
