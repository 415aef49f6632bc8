//! Measurements of the server under hostile load, against the real binary (`maeul serve`
//! on a temporary data directory with the demo currency). Not run by default: they print
//! figures for docs/benchmarks.md rather than check a bound a noisy machine could miss.
//!
//! ```text
//! cargo test -p maeul --test overload -- --ignored --nocapture --test-threads 1
//! ```
//!
//! - `image_scan_memory`: resident memory of the server while 24 citizens upload at once
//!   a ~61 KB PNG of 6900×6900 pixels (cheap to send, large to decode), and the answers;
//!   then the same with 6300×6300, the largest square the qr crate decodes.
//! - `payment_while_300_connections_stall`: 300 connections send a payment's headers and
//!   part of its body, then stall; meanwhile a citizen pays: the answer and its time.
#![allow(clippy::unwrap_used)]

mod common;

use common::sign_in;

use std::process::Child;
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `maeul serve` on an empty data directory: the demo, without synthetic traffic.
fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (child, base, _) = common::serve(dir.path(), 0, 300);
    Server {
        child,
        base,
        _dir: dir,
    }
}

/// A field of /proc/<pid>/status, in KiB (`VmRSS`: resident now; `VmHWM`: the most
/// resident since the process started).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A `side`×`side` grayscale PNG, white with a QR code drawn large in the middle: at
/// 6900 about 61 KB to send, 47.6 million pixels to decode.
fn huge_png(side_px: u32) -> Vec<u8> {
    use image::{GrayImage, ImageEncoder, Luma};
    let code = qr::render_png("https://maeul.dev/huge", &qr::QrOptions::default()).unwrap();
    let code = image::load_from_memory(&code).unwrap().to_luma8();
    let scale = (side_px * 3 / 4) / code.width().max(1);
    let (w, h) = (code.width() * scale, code.height() * scale);
    let (x0, y0) = ((side_px - w) / 2, (side_px - h) / 2);
    let img = GrayImage::from_fn(side_px, side_px, |x, y| {
        if (x0..x0 + w).contains(&x) && (y0..y0 + h).contains(&y) {
            *code.get_pixel((x - x0) / scale, (y - y0) / scale)
        } else {
            Luma([255])
        }
    });
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(img.as_raw(), side_px, side_px, image::ExtendedColorType::L8)
    .unwrap();
    out
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn image_scan_memory() {
    // The image of the report, which the qr crate now refuses from its header (over
    // 40 million pixels), and the largest square it decodes.
    for side in [6900, 6300] {
        image_scan_memory_at(side);
    }
}

fn image_scan_memory_at(side: u32) {
    const UPLOADS: usize = 24;
    let png = huge_png(side);
    let server = start();
    let pid = server.child.id();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let citizen = sign_in(&http, &server.base, "citizen-0001").await;
        // Settle after start-up, then measure from here.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let start_rss = status_kib(pid, "VmRSS");
        let start_hwm = status_kib(pid, "VmHWM");
        let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let sampler = {
            let sampling = std::sync::Arc::clone(&sampling);
            std::thread::spawn(move || {
                let mut peak = 0;
                while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                    peak = peak.max(status_kib(pid, "VmRSS"));
                    std::thread::sleep(Duration::from_millis(5));
                }
                peak
            })
        };
        let started = Instant::now();
        let mut uploads = tokio::task::JoinSet::new();
        for _ in 0..UPLOADS {
            let (http, base, citizen, png) = (
                http.clone(),
                server.base.clone(),
                citizen.clone(),
                png.clone(),
            );
            uploads.spawn(async move {
                let res = http
                    .post(format!("{base}/api/v1/me/scan-image"))
                    .bearer_auth(citizen)
                    .header("content-type", "image/png")
                    .body(png)
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let body: serde_json::Value = res.json().await.unwrap_or_default();
                (status, body["code"].as_str().unwrap_or("").to_owned())
            });
        }
        let mut answers = std::collections::BTreeMap::<(u16, String), usize>::new();
        while let Some(a) = uploads.join_next().await {
            *answers.entry(a.unwrap()).or_default() += 1;
        }
        let took = started.elapsed();
        sampling.store(false, std::sync::atomic::Ordering::Relaxed);
        let sampled_peak = sampler.join().unwrap();
        let end_rss = status_kib(pid, "VmRSS");
        let end_hwm = status_kib(pid, "VmHWM");
        println!(
            "image_scan_memory: png {} bytes {side}x{side}, {UPLOADS} concurrent uploads in {:.1} s",
            png.len(),
            took.as_secs_f64()
        );
        println!(
            "  start RSS {} MiB (HWM {} MiB); peak RSS sampled {} MiB, HWM after {} MiB; RSS after {} MiB",
            start_rss / 1024,
            start_hwm / 1024,
            sampled_peak / 1024,
            end_hwm / 1024,
            end_rss / 1024
        );
        for ((status, code), n) in &answers {
            println!("  {n} × {status} {code}");
        }
    });
}

/// Writes all of `bytes` (tokio's `io-util` is not among this workspace's features).
async fn send(conn: &tokio::net::TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        conn.writable().await?;
        match conn.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn payment_while_300_connections_stall() {
    const STALLED: usize = 300;
    let server = start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let citizen = sign_in(&http, &server.base, "citizen-0001").await;
        let addr: std::net::SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
        // From three other loopback addresses, 100 each.
        let mut stalled = Vec::new();
        for i in 0..STALLED {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket
                .bind(std::net::SocketAddr::from(([127, 0, 0, 2 + (i % 3) as u8], 0)))
                .unwrap();
            let conn = socket.connect(addr).await.unwrap();
            send(
                &conn,
                format!(
                    "POST /api/v1/me/payments HTTP/1.1\r\nhost: maeul\r\nauthorization: Bearer {citizen}\r\nidempotency-key: stall-{i}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"amount\""
                )
                .as_bytes(),
            )
            .await
            .unwrap();
            stalled.push(conn);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let started = Instant::now();
        let res = http
            .post(format!("{}/api/v1/me/payments", server.base))
            .bearer_auth(&citizen)
            .header("Idempotency-Key", "through-the-stalls")
            .json(&serde_json::json!({"merchant": 20000, "amount": 1000, "pin": maeul::demo::DEMO_PIN}))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        let took = started.elapsed();
        let ready = http
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .unwrap();
        let ready_status = ready.status().as_u16();
        let ready: serde_json::Value = ready.json().await.unwrap_or_default();
        println!(
            "payment_while_300_connections_stall: {STALLED} stalled; payment {status} {} in {} ms",
            body["code"].as_str().unwrap_or("ok"),
            took.as_millis()
        );
        println!(
            "  readyz {ready_status}: in_flight {} / {}, connections_open {}, saturated {}",
            ready["in_flight"], ready["in_flight_max"], ready["connections_open"], ready["saturated"]
        );
        drop(stalled);
    });
}
