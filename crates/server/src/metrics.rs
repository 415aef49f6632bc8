//! Prometheus metrics: requests by route and status, latency histograms by route, and
//! per currency the sequencer's queue depth, batches, commands and busy answers, and
//! histograms of commit (durable write) latency and batch size.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub rejections: IntCounterVec,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Metrics> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "maeul_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "maeul_http_request_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
            ]),
            &["route"],
        )?;
        let rejections = IntCounterVec::new(
            Opts::new(
                "maeul_rejections_total",
                "Refusals answered, by stable code",
            ),
            &["code"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(rejections.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            rejections,
        })
    }

    /// The text exposition, with the engines' own counters appended.
    pub fn render(&self, state: &crate::AppState) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        let mut text = String::from_utf8(buf).unwrap_or_default();
        use std::fmt::Write;
        use std::sync::atomic::Ordering::Relaxed;
        let _ = writeln!(
            text,
            "# HELP maeul_queue_depth Submissions waiting for the sequencer.\n# TYPE maeul_queue_depth gauge"
        );
        for (code, c) in &state.currencies {
            let _ = writeln!(
                text,
                "maeul_queue_depth{{currency=\"{code}\"}} {}",
                c.engine.queue_depth()
            );
        }
        let (in_flight, _) = state.load();
        let (connections, _) = state.connections.load();
        state.gate.render_metrics(&mut text);
        let _ = writeln!(
            text,
            "# HELP maeul_requests_in_flight Requests admitted and not yet answered.\n# TYPE maeul_requests_in_flight gauge\nmaeul_requests_in_flight {in_flight}"
        );
        let _ = writeln!(
            text,
            "# HELP maeul_connections_open HTTP connections open.\n# TYPE maeul_connections_open gauge\nmaeul_connections_open {connections}"
        );
        for (name, help) in [
            (
                "batches",
                "Batches applied (commands / batches = mean batch size).",
            ),
            ("commands", "Commands applied."),
            ("busy_rejections", "Submissions answered busy."),
            (
                "durable_writes",
                "Durable journal writes (one fdatasync each).",
            ),
            (
                "commit_microseconds",
                "Time in durable writes (/ durable_writes = mean commit latency).",
            ),
        ] {
            let _ = writeln!(
                text,
                "# HELP maeul_{name}_total {help}\n# TYPE maeul_{name}_total counter"
            );
            for (code, c) in &state.currencies {
                let counters = c.engine.counters();
                let v = match name {
                    "batches" => counters.batches.load(Relaxed),
                    "commands" => counters.commands.load(Relaxed),
                    "durable_writes" => counters.durable_writes.load(Relaxed),
                    "commit_microseconds" => counters.write_us.load(Relaxed),
                    _ => counters.busy_rejections.load(Relaxed),
                };
                let _ = writeln!(text, "maeul_{name}_total{{currency=\"{code}\"}} {v}");
            }
        }
        for (name, help, scale) in [
            (
                "maeul_commit_seconds",
                "Durable journal write (commit) latency.",
                1e-6,
            ),
            ("maeul_batch_size", "Commands per applied batch.", 1.0),
        ] {
            let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} histogram");
            for (code, c) in &state.currencies {
                let counters = c.engine.counters();
                let (bounds, counts, count, sum): (&[u64], Vec<u64>, u64, u64) =
                    if name == "maeul_batch_size" {
                        let b = &counters.batch_sizes;
                        let counts = b.counts.iter().map(|c| c.load(Relaxed)).collect();
                        (
                            &b.bounds,
                            counts,
                            b.count.load(Relaxed),
                            b.sum.load(Relaxed),
                        )
                    } else {
                        let b = &counters.commit_latency;
                        let counts = b.counts.iter().map(|c| c.load(Relaxed)).collect();
                        (
                            &b.bounds,
                            counts,
                            b.count.load(Relaxed),
                            b.sum.load(Relaxed),
                        )
                    };
                let mut cumulative = 0;
                for (bound, n) in bounds.iter().zip(counts) {
                    cumulative += n;
                    let _ = writeln!(
                        text,
                        "{name}_bucket{{currency=\"{code}\",le=\"{}\"}} {cumulative}",
                        *bound as f64 * scale
                    );
                }
                let _ = writeln!(
                    text,
                    "{name}_bucket{{currency=\"{code}\",le=\"+Inf\"}} {count}\n{name}_sum{{currency=\"{code}\"}} {}\n{name}_count{{currency=\"{code}\"}} {count}",
                    sum as f64 * scale
                );
            }
        }
        text
    }
}
