//! Every fault at once with many concurrent orders, each settled the way maeul settles a
//! pending bank order: retry the identical order while ambiguous, ask `status`, and treat
//! `unknown` as "never happened" only once the bank's clock is past `not_after_ms`.
//! Then compare what the clients concluded with what the bank did.
// Helper functions (not #[test] themselves) unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bank::{Bank, FaultPlan, HttpBank, Order, OrderStatus, SimBankConfig};
use common::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Allowance for the client's clock against the bank's, both on this machine.
const CLOCK_MARGIN_MS: u64 = 20;

/// Settles one order. Returns its final status, or `Unknown` when it provably never
/// executed. With `resend` the identical order is sent again after each ambiguous failure;
/// without, it is sent once and then only looked up.
async fn settle_order(c: &HttpBank, o: &Order, pull: bool, resend: bool) -> OrderStatus {
    let mut first = true;
    loop {
        if first || resend {
            first = false;
            let sent = if pull {
                c.pull(o).await
            } else {
                c.pay(o).await
            };
            match sent {
                Ok(s) => {
                    assert!(s.is_final(), "{}: {s:?}", o.reference);
                    return s;
                }
                Err(e) => assert!(e.is_ambiguous(), "{}: {e}", o.reference),
            }
        }
        // Read our clock before asking, so the bank's answer is at least as late.
        let asked_at = now_ms();
        match c.status(&o.reference).await {
            Ok(s) if s.is_final() => return s,
            Ok(OrderStatus::Unknown) if asked_at > o.not_after_ms + CLOCK_MARGIN_MS => {
                return OrderStatus::Unknown;
            }
            Ok(_) => {}
            Err(e) => assert!(e.is_ambiguous(), "{}: {e}", o.reference),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn mixed_plan() -> FaultPlan {
    FaultPlan {
        timeout_permille: 80,
        timeout_ms: 200,
        late_permille: 80,
        late_ms: 200,
        lost_answer_permille: 80,
        slow_permille: 80,
        slow_ms: 30,
        duplicate_permille: 80,
        reject_permille: 80,
        status_fail_permille: 150,
        enquiry_fail_permille: 150,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn mixed_faults_conserve_money_and_execute_at_most_once() {
    for seed in [1u64, 2] {
        run_mixed(seed).await;
    }
}

async fn run_mixed(seed: u64) {
    let bank = start_with(SimBankConfig {
        seed,
        faults: FaultPlan::none(),
        ..SimBankConfig::default()
    })
    .await;
    let citizens: Vec<String> = (0..20).map(|i| format!("citizen-{i}")).collect();
    let merchants: Vec<String> = (0..10).map(|i| format!("merchant-{i}")).collect();
    let mut initial: HashMap<String, i64> = HashMap::new();
    initial.insert(ISSUER.into(), 2_000_000);
    for c in &citizens {
        initial.insert(c.clone(), 300_000);
    }
    for m in &merchants {
        initial.insert(m.clone(), 0);
    }
    for (number, balance) in &initial {
        open(&bank, number, *balance).await;
    }
    bank.set_faults(mixed_plan()).unwrap();

    let c = HttpBank::with_timeout(bank.url(), Duration::from_millis(120)).unwrap();
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut orders = Vec::new();
    for i in 0..600 {
        let pull = i % 3 != 2;
        let (debit, credit) = if pull {
            (
                citizens[rng.random_range(0..citizens.len())].as_str(),
                ISSUER,
            )
        } else {
            (
                ISSUER,
                merchants[rng.random_range(0..merchants.len())].as_str(),
            )
        };
        // Some deadlines are shorter than the late hold, so some late orders expire.
        let ms = rng.random_range(150..1500);
        let amount = rng.random_range(1..60_000);
        let resend = i % 2 == 0;
        orders.push((
            order_for(&format!("s{seed}-o{i}"), debit, credit, amount, ms),
            pull,
            resend,
        ));
    }

    let tasks: Vec<_> = orders
        .iter()
        .cloned()
        .map(|(o, pull, resend)| {
            let c = c.clone();
            tokio::spawn(async move {
                let s = settle_order(&c, &o, pull, resend).await;
                (o, s)
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    settle(&bank).await;
    bank.set_faults(FaultPlan::none()).unwrap();

    // What the clients concluded is what the bank did.
    let mut expected = initial.clone();
    let mut counts = [0usize; 3];
    for (o, s) in &results {
        let executed = bank.executed(&o.reference);
        match s {
            OrderStatus::Completed {
                bank_tx_id, amount, ..
            } => {
                counts[0] += 1;
                let e = executed.unwrap_or_else(|| panic!("{} not executed", o.reference));
                assert_eq!((e.bank_tx_id, e.amount), (*bank_tx_id, *amount));
                assert_eq!(*amount, o.amount);
                *expected.get_mut(o.debit.as_str()).unwrap() -= amount;
                *expected.get_mut(o.credit.as_str()).unwrap() += amount;
            }
            OrderStatus::Rejected { .. } => {
                counts[1] += 1;
                assert!(executed.is_none(), "{} rejected but executed", o.reference);
                assert_eq!(bank.status(&o.reference), *s);
            }
            OrderStatus::Unknown => {
                counts[2] += 1;
                assert!(
                    executed.is_none(),
                    "{} concluded never executed, but it was",
                    o.reference
                );
                let now = bank.status(&o.reference);
                assert!(
                    now == OrderStatus::Unknown || !now.is_completed(),
                    "{}: {now:?}",
                    o.reference
                );
            }
        }
    }
    for (number, balance) in &expected {
        assert_eq!(bank.balance(&acct(number)), Some(*balance), "{number}");
        let lines = c.statement(&acct(number), 0, u64::MAX).await.unwrap();
        assert_eq!(
            lines.iter().map(|l| l.amount).sum::<i64>(),
            *balance,
            "{number}"
        );
    }
    let audit = assert_consistent(&bank);
    assert_eq!(audit.transactions, counts[0]);
    assert_eq!(
        audit.total_balance,
        initial.values().map(|b| i128::from(*b)).sum()
    );

    // The feed holds every final answer, once or twice, and nothing else.
    let feed = all_answers(&c).await;
    let mut in_feed: HashMap<&bank::Reference, Vec<&OrderStatus>> = HashMap::new();
    for a in &feed {
        in_feed.entry(&a.reference).or_default().push(&a.status);
    }
    for (o, s) in &results {
        let bank_status = bank.status(&o.reference);
        match in_feed.get(&o.reference) {
            Some(seen) => {
                assert!(seen.len() <= 2, "{}: {} times", o.reference, seen.len());
                assert!(seen.iter().all(|x| **x == bank_status));
                if s.is_final() {
                    assert_eq!(*s, bank_status);
                }
            }
            None => assert_eq!(bank_status, OrderStatus::Unknown, "{}", o.reference),
        }
    }
    assert!(
        feed.len() > in_feed.len(),
        "the duplicate fault never showed"
    );
    // Every kind of outcome should have shown up in 600 orders.
    eprintln!("seed {seed}: completed, rejected, never executed = {counts:?}");
    assert!(counts.iter().all(|n| *n > 0), "{counts:?}");
    bank.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn racing_retries_of_one_order_agree() {
    let bank = start_with(SimBankConfig {
        seed: 9,
        ..SimBankConfig::default()
    })
    .await;
    open(&bank, ISSUER, 0).await;
    open(&bank, "citizen-1", 1_000_000).await;
    bank.set_faults(mixed_plan()).unwrap();
    let c = HttpBank::with_timeout(bank.url(), Duration::from_millis(120)).unwrap();
    for round in 0..10 {
        let o = Arc::new(order_for(
            &format!("race-{round}"),
            "citizen-1",
            ISSUER,
            10,
            400,
        ));
        let tasks: Vec<_> = (0..24)
            .map(|_| {
                let (c, o) = (c.clone(), o.clone());
                tokio::spawn(async move { settle_order(&c, &o, true, true).await })
            })
            .collect();
        let mut seen = Vec::new();
        for t in tasks {
            seen.push(t.await.unwrap());
        }
        assert!(
            seen.iter().all(|s| *s == seen[0]),
            "{}: {seen:?}",
            o.reference
        );
        settle(&bank).await;
        match &seen[0] {
            OrderStatus::Unknown => assert!(bank.executed(&o.reference).is_none()),
            s => assert_eq!(bank.status(&o.reference), *s),
        }
    }
    let audit = assert_consistent(&bank);
    assert_eq!(
        bank.balance(&acct("citizen-1")),
        Some(1_000_000 - 10 * audit.transactions as i64)
    );
    bank.shutdown().await;
}
