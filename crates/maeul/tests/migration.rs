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

/// `common::sign_in`, given the API's base (`…/api/v1`).
async fn sign_in(http: &reqwest::Client, api: &str, login: &str) -> String {
    common::sign_in(http, api.strip_suffix("/api/v1").unwrap_or(api), login).await
}

/// The operator issues the successor credential; it is written to `to`.
async fn issue_credential(http: &reqwest::Client, api: &str, to: &Path) {
    let operator = sign_in(http, api, "operator").await;
    let issued: serde_json::Value = http
        .post(format!("{api}/operator/demo/successor"))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    std::fs::write(to, issued["credential"].as_str().unwrap()).unwrap();
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

    // A rehearsal of the whole plan on a copy leaves the original as it was.
    let rehearsed = ok(maeul(&[
        "migrate",
        "rehearse",
        old.to_str().unwrap(),
        "--currency",
        "demo",
        "--work",
        tmp.path().join("rehearsal").to_str().unwrap(),
    ]));
    assert!(
        rehearsed.contains("expected write pause") && rehearsed.contains("both journals verify"),
        "{rehearsed}"
    );
    assert!(!tmp.path().join("rehearsal").exists(), "cleaned up");
    assert_eq!(verify(&old).chain_hash, before.chain_hash);

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

/// A free port on loopback (bound, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One acknowledged payment, as a client saw it.
#[derive(Clone, Debug)]
struct Paid {
    key: String,
    payment: u64,
    at: std::time::Instant,
    at_new_node: bool,
}

/// A citizen's app paying every few milliseconds with a fresh key, retrying a key
/// until it is answered, and moving to where a 308 says, as an app would.
async fn pay_until(
    base: String,
    token: String,
    code: String,
    client: usize,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<Paid> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    let mut base = base;
    let first_base = base.clone();
    let mut paid = Vec::new();
    let mut n = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        n += 1;
        let key = format!("load-{client}-{n}");
        loop {
            let sent = http
                .post(format!("{base}/api/v1/me/payments"))
                .bearer_auth(&token)
                .header("Idempotency-Key", &key)
                .json(
                    &serde_json::json!({"code": code, "amount": 10, "pin": maeul::demo::DEMO_PIN}),
                )
                .send()
                .await;
            let Ok(r) = sent else {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            };
            match r.status().as_u16() {
                200 => {
                    let v: serde_json::Value = r.json().await.unwrap();
                    paid.push(Paid {
                        key: key.clone(),
                        payment: v["payment"].as_u64().unwrap(),
                        at: std::time::Instant::now(),
                        at_new_node: base != first_base,
                    });
                    break;
                }
                308 => {
                    let location = r.headers()["location"].to_str().unwrap().to_owned();
                    base = location
                        .split("/api/")
                        .next()
                        .unwrap()
                        .trim_end_matches('/')
                        .to_owned();
                }
                503 | 429 => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                s => panic!("client {client} key {key}: {s} {}", r.text().await.unwrap()),
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    paid
}

#[test]
fn a_follower_takes_over_under_load_and_the_same_clients_carry_on_there() {
    let pause = cutover_under_load(true);
    assert!(
        pause < std::time::Duration::from_secs(10),
        "paused {pause:?}"
    );
}

/// The write pause the clients see, over 5 cutovers without kills (a release build:
/// `cargo test --release -p maeul --test migration -- --ignored --nocapture`).
#[test]
#[ignore = "a measurement: run by hand in a release build"]
fn cutover_pause_seen_by_clients() {
    let mut pauses: Vec<f64> = (0..5)
        .map(|_| cutover_under_load(false).as_secs_f64())
        .collect();
    pauses.sort_by(f64::total_cmp);
    println!(
        "write pause seen by the clients over {} cutovers: median {:.3} s, worst {:.3} s ({pauses:.3?})",
        pauses.len(),
        pauses[pauses.len() / 2],
        pauses[pauses.len() - 1]
    );
}

/// Clients pay through the old node; a follower (killed and restarted, with `kills`)
/// catches up and takes over (the cutover killed once part-way, with `kills`); the
/// same clients carry on at the new node. Answers the longest time the clients saw
/// between the old node's last acknowledged payment and the new node's first.
fn cutover_under_load(kills: bool) -> std::time::Duration {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old");
    let new = tmp.path().join("new");
    let key = tmp.path().join("successor.key");
    let credential = tmp.path().join("credential");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();

    let (old_child, old_base, bank) = common::serve(&old, 0, 300);
    let api = format!("{old_base}/api/v1");
    let (code, shop, payment_before, citizens) = rt.block_on(async {
        issue_credential(&http, &api, &credential).await;
        let code = sticker_of_running(&http, &api, 20_042).await;
        let shop = sign_in(&http, &api, "shop-0043").await;
        let first = sign_in(&http, &api, "citizen-0001").await;
        let before = pay(&http, &api, &first, &code, "before-cutover").await;
        let mut citizens = Vec::new();
        for i in 2..=5 {
            citizens.push(sign_in(&http, &api, &format!("citizen-{i:04}")).await);
        }
        (code, shop, before, citizens)
    });
    ok(maeul(&["migrate", "keygen", key.to_str().unwrap()]));

    // Clients pay through the old node from now on.
    let stop_clients = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = citizens
        .iter()
        .enumerate()
        .map(|(i, token)| {
            rt.spawn(pay_until(
                old_base.clone(),
                token.clone(),
                code.clone(),
                i,
                std::sync::Arc::clone(&stop_clients),
            ))
        })
        .collect();

    // The follower, killed at random moments and started again, converges.
    let follow = |seconds: &str| {
        Command::new(env!("CARGO_BIN_EXE_maeul"))
            .args(["migrate", "follow"])
            .arg(&new)
            .args(["--from", &old_base, "--currency", "demo", "--credential"])
            .arg(&credential)
            .args(["--seconds", seconds])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let kill_after: &[u64] = if kills { &[150, 400, 900] } else { &[] };
    for &delay_ms in kill_after {
        let mut child = follow("30");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let out = follow("1").wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("holds records 1..="));

    // The cutover, killed once part-way and run again.
    let port = free_port();
    let to = format!("http://127.0.0.1:{port}");
    let cutover = || {
        Command::new(env!("CARGO_BIN_EXE_maeul"))
            .args(["migrate", "cutover"])
            .arg(&new)
            .args(["--from", &old_base, "--currency", "demo", "--credential"])
            .arg(&credential)
            .arg("--identity")
            .arg(&key)
            .args(["--to", &to, "--listen", &format!("127.0.0.1:{port}")])
            .args(["--bank-url", &bank, "--seconds", "120"])
            .args(common::no_settlement(&[]))
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(tmp.path().join("cutover.log")).unwrap())
            .spawn()
            .unwrap()
    };
    if kills {
        let mut first = cutover();
        std::thread::sleep(std::time::Duration::from_millis(700));
        first.kill().unwrap();
        first.wait().unwrap();
    }
    let mut new_child = cutover();
    let mut lines =
        std::io::BufRead::lines(std::io::BufReader::new(new_child.stdout.take().unwrap()));
    let mut said = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        said.push_str(&line);
        said.push('\n');
        if line.starts_with("maeul: HTTP API on") {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    assert!(
        said.contains("0 won of difference"),
        "{said}\n{}",
        std::fs::read_to_string(tmp.path().join("cutover.log")).unwrap_or_default()
    );

    // The clients go on at the new node for a while, then stop.
    std::thread::sleep(std::time::Duration::from_secs(2));
    stop_clients.store(true, std::sync::atomic::Ordering::Relaxed);
    let paid: Vec<Paid> = clients
        .into_iter()
        .flat_map(|c| rt.block_on(c).unwrap())
        .collect();
    let before: Vec<&Paid> = paid.iter().filter(|p| !p.at_new_node).collect();
    let after: Vec<&Paid> = paid.iter().filter(|p| p.at_new_node).collect();
    assert!(
        !before.is_empty() && !after.is_empty(),
        "{} before, {} after",
        before.len(),
        after.len()
    );
    let last_old = before.iter().map(|p| p.at).max().unwrap();
    let first_new = after.iter().map(|p| p.at).min().unwrap();
    let pause = first_new.duration_since(last_old);
    println!(
        "write pause seen by the clients: {:.3} s; {said}",
        pause.as_secs_f64()
    );

    let new_api = format!("{to}/api/v1");
    rt.block_on(async {
        // Every payment acknowledged is there once: a retry of its key at the new node
        // answers the same payment, whichever node took it.
        for p in paid.iter().step_by(7) {
            let token = &citizens[p.key.split('-').nth(1).unwrap().parse::<usize>().unwrap()];
            let again = http
                .post(format!("{new_api}/me/payments"))
                .bearer_auth(token)
                .header("Idempotency-Key", &p.key)
                .json(
                    &serde_json::json!({"code": code, "amount": 10, "pin": maeul::demo::DEMO_PIN}),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), 200, "{}", p.key);
            let v: serde_json::Value = again.json().await.unwrap();
            assert_eq!(
                v["payment"].as_u64(),
                Some(p.payment),
                "{} paid twice",
                p.key
            );
        }
        // The shop's session came along: it refunds a payment made before the change.
        let refund = http
            .post(format!("{new_api}/me/payments/{payment_before}/refund"))
            .bearer_auth(&shop)
            .header("Idempotency-Key", "refund-before-cutover")
            .json(&serde_json::json!({"amount": 1000}))
            .send()
            .await
            .unwrap();
        assert_eq!(refund.status(), 200, "{}", refund.text().await.unwrap());
        // The old node sends everyone on.
        let moved = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!("{api}/me/wallet"))
            .send()
            .await
            .unwrap();
        assert_eq!(moved.status(), 308);
        assert!(
            moved.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with(&to)
        );
    });
    stop_child(new_child);
    stop_child(old_child);
    let old_report = verify(&old);
    // Restarted, the old node still sends everyone on and writes nothing more: its
    // jobs and the registry's ledger mirror are refused, not journaled.
    let (old_again, old_again_base, _) = common::serve(&old, 0, 60);
    rt.block_on(async {
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let moved = no_redirects
            .get(format!("{old_again_base}/api/v1/me/wallet"))
            .send()
            .await
            .unwrap();
        assert_eq!(moved.status(), 308);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    });
    stop_child(old_again);
    assert_eq!(
        verify(&old).last_seq,
        old_report.last_seq,
        "the old node wrote after its handover"
    );
    let new_report = verify(&new);
    assert!(
        new_report.last_seq > old_report.last_seq,
        "the new node wrote after the handover"
    );
    // The new journal is the old one, continued.
    let mut same = true;
    let mut old_records = Vec::new();
    maeul::data_dir::storage(&old, &engine::CurrencyCode::new("demo").unwrap())
        .read_records(1, None, &mut |r| {
            old_records.push(r.hash);
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    let mut i = 0;
    maeul::data_dir::storage(&new, &engine::CurrencyCode::new("demo").unwrap())
        .read_records(1, None, &mut |r| {
            if i < old_records.len() {
                same &= r.hash == old_records[i];
            }
            i += 1;
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    assert!(
        same,
        "the new journal begins with the old one, record for record"
    );
    pause
}

fn stop_child(child: std::process::Child) {
    stop(child);
}

/// The old node on a fixed port (so it comes back where the follower asks), its own
/// simulated bank on any.
fn serve_old_at(dir: &Path, port: u16) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_maeul"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--bank-listen", "127.0.0.1:0", "--demo-rate", "0"])
        .args(common::no_settlement(&[]))
        .args(["--seconds", "300", "--data-dir"])
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let first = lines.next().unwrap().unwrap();
    std::thread::spawn(move || lines.for_each(drop));
    assert!(first.contains(&format!("127.0.0.1:{port}")), "{first}");
    (child, format!("http://127.0.0.1:{port}"))
}

/// The old node SIGKILLed at moments of the cutover (before its halt, while it makes
/// the set, after it moved): it comes back, the cutover is run again, and the switch
/// completes with nothing lost: both journals verify, the new one continues the old
/// one, the old node sends everyone on, and a payment made before is refunded at the
/// new node.
#[test]
fn the_old_node_killed_during_the_cutover_finishes_it_when_back() {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old");
    let new = tmp.path().join("new");
    let key = tmp.path().join("successor.key");
    let credential = tmp.path().join("credential");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let port = free_port();
    let (mut old_child, old_base) = serve_old_at(&old, port);
    let api = format!("{old_base}/api/v1");
    let payment_before = rt.block_on(async {
        issue_credential(&http, &api, &credential).await;
        let code = sticker_of_running(&http, &api, 20_042).await;
        let citizen = sign_in(&http, &api, "citizen-0001").await;
        pay(&http, &api, &citizen, &code, "before-the-switch").await
    });
    ok(maeul(&["migrate", "keygen", key.to_str().unwrap()]));
    let out = Command::new(env!("CARGO_BIN_EXE_maeul"))
        .args(["migrate", "follow"])
        .arg(&new)
        .args(["--from", &old_base, "--currency", "demo", "--credential"])
        .arg(&credential)
        .args(["--seconds", "1"])
        .output()
        .unwrap();
    assert!(out.status.success());

    let to = format!("http://127.0.0.1:{}", free_port());
    let cutover = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_maeul"));
        c.args(["migrate", "cutover"])
            .arg(&new)
            .args(["--from", &old_base, "--currency", "demo", "--credential"])
            .arg(&credential)
            .arg("--identity")
            .arg(&key)
            .args(["--to", &to]);
        c
    };
    let mut rng = rand::rng();
    // (halt journaled, moved recorded) at each kill.
    let mut stages = Vec::new();
    for base_ms in [40u64, 120, 250, 400] {
        let mut switch = cutover()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let delay = base_ms * rand::Rng::random_range(&mut rng, 80..120) / 100;
        std::thread::sleep(std::time::Duration::from_millis(delay));
        old_child.kill().unwrap();
        old_child.wait().unwrap();
        // The cutover cannot finish without the old node: it gives up or is stopped.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let _ = switch.kill();
        let _ = switch.wait();
        // Whatever the moment, the old journal verifies.
        verify(&old);
        let halted = old_journal_halted(&old);
        let moved = std::fs::read_to_string(old.join("currencies/demo/handover.json"))
            .is_ok_and(|h| h.contains("\"to\""));
        stages.push((halted, moved));
        (old_child, _) = serve_old_at(&old, port);
    }
    println!("the old node's state at each kill (halted, moved): {stages:?}");
    let done = ok(cutover().output().unwrap());
    assert!(done.contains("0 won of difference"), "{done}");

    rt.block_on(async {
        // The old node, back, sends everyone on.
        let moved = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!("{api}/me/wallet"))
            .send()
            .await
            .unwrap();
        assert_eq!(moved.status(), 308);
    });
    stop_child(old_child);
    let old_report = verify(&old);

    // The new node serves; the shop refunds the payment made before the switch.
    let (new_child, new_base, _) = common::serve(&new, 0, 60);
    let new_api = format!("{new_base}/api/v1");
    rt.block_on(async {
        let shop = sign_in(&http, &new_api, "shop-0043").await;
        let refund = http
            .post(format!("{new_api}/me/payments/{payment_before}/refund"))
            .bearer_auth(&shop)
            .header("Idempotency-Key", "refund-after-old-node-kills")
            .json(&serde_json::json!({"amount": 1000}))
            .send()
            .await
            .unwrap();
        assert_eq!(refund.status(), 200, "{}", refund.text().await.unwrap());
    });
    stop_child(new_child);
    let new_report = verify(&new);
    assert!(new_report.last_seq > old_report.last_seq);
}

/// Whether the old journal's last command is the handover's halt.
fn old_journal_halted(dir: &Path) -> bool {
    let mut last_halt = false;
    maeul::data_dir::storage(dir, &engine::CurrencyCode::new("demo").unwrap())
        .read_records(1, None, &mut |r| {
            if let Ok(engine::record::RecordBody::Batch(b)) = engine::record::decode(&r.payload) {
                last_halt = b.commands.iter().any(|e| {
                    matches!(&e.command, ledger::Command::Halt { operator, .. } if operator.as_str() == "handover")
                });
            }
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    last_halt
}
