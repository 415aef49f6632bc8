//! The threads that hash passwords, at a lower CPU priority than the rest of the process.
//!
//! A password hash is tens of milliseconds of a core, by design. On a launch day a storm
//! of sign-ups and sign-ins would take every core from the counter payments, whose own
//! work is a fraction of a millisecond; on threads of their own, niced, the hashes get
//! the time the payments leave. The threads end when their `Hashers` is dropped.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// A few low-priority threads taking hashing jobs in turn.
#[derive(Debug)]
pub struct Hashers {
    jobs: Mutex<mpsc::Sender<Job>>,
}

/// How much lower than the process the hashing threads run (`nice`, 0–19).
const NICENESS: i32 = 10;

impl Hashers {
    /// `threads` hashing threads (each takes one job at a time).
    pub fn new(threads: usize) -> std::io::Result<Hashers> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("maeul-hash-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        // The lock is held only while taking a job, not while running it.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Hashers {
            jobs: Mutex::new(tx),
        })
    }

    /// Runs `f` on a hashing thread; `None` if the threads are gone.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.jobs.lock().ok()?.send(job).ok()?;
        rx.await.ok()
    }
}

/// Lowers the calling thread's CPU priority (Linux: `nice` is per thread). Not being
/// allowed to is not an error: the hashes then run at the usual priority.
fn lower_priority() {
    let _ = rustix::process::setpriority_process(None, NICENESS);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_niced_threads_and_answer() {
        let hashers = Hashers::new(2).expect("threads");
        let (name, nice) = hashers
            .run(|| {
                let name = std::thread::current().name().map(str::to_owned);
                let nice = rustix::process::getpriority_process(None).unwrap_or(0);
                (name, nice)
            })
            .await
            .expect("an answer");
        assert!(name.is_some_and(|n| n.starts_with("maeul-hash-")));
        assert_eq!(nice, NICENESS);
        let sum: u32 = sum_on_hashers(&hashers).await;
        assert_eq!(sum, (0..16u32).sum::<u32>());
    }

    async fn sum_on_hashers(h: &Hashers) -> u32 {
        let mut total = 0;
        for i in 0..16u32 {
            total += h.run(move || i).await.expect("an answer");
        }
        total
    }
}
