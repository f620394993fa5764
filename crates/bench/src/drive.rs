//! Concurrent writers, each a tokio task sending one command at a time and
//! timing it; whole-run figures (events over wall time, percentiles over
//! every command).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::figure::Figure;

/// What one command came to: stored, or refused as a version conflict.
pub type Outcome = Result<Stored, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Appended,
    Conflict,
}

pub type Append =
    Arc<dyn Fn(usize, u64) -> Pin<Box<dyn Future<Output = Outcome> + Send>> + Send + Sync>;

#[derive(Debug, Clone)]
pub struct Run {
    pub writers: usize,
    pub events: u64,
    pub conflicts: u64,
    pub elapsed: Duration,
    /// Sorted.
    pub latencies: Vec<Duration>,
}

impl Run {
    /// Runs of the same writers taken as one: their appends, conflicts and time added up,
    /// their latencies pooled.
    pub fn merge(runs: Vec<Run>) -> Run {
        let writers = runs.first().map_or(0, |r| r.writers);
        let mut merged = Run {
            writers,
            events: 0,
            conflicts: 0,
            elapsed: Duration::ZERO,
            latencies: Vec::new(),
        };
        for run in runs {
            merged.events += run.events;
            merged.conflicts += run.conflicts;
            merged.elapsed += run.elapsed;
            merged.latencies.extend(run.latencies);
        }
        merged.latencies.sort_unstable();
        merged
    }

    pub fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    pub fn quantile_ms(&self, q: f64) -> f64 {
        let n = self.latencies.len();
        let i = ((n as f64 * q) as usize).min(n.saturating_sub(1));
        self.latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    }

    /// `<name>` in events/s, `<name>.p50` and `<name>.p99` in ms.
    pub fn figures(&self, name: &str) -> [Figure; 3] {
        [
            Figure::new(name, self.rate(), "events/s").size(self.events),
            Figure::new(format!("{name}.p50"), self.quantile_ms(0.50), "ms").size(self.events),
            Figure::new(format!("{name}.p99"), self.quantile_ms(0.99), "ms").size(self.events),
        ]
    }

    pub fn describe(&self) -> String {
        format!(
            "{:>2} writers: {:>8.0} events/s  p50 {:>7.3} ms  p99 {:>7.3} ms  ({} events in {:.2} s, {} conflicts)",
            self.writers,
            self.rate(),
            self.quantile_ms(0.50),
            self.quantile_ms(0.99),
            self.events,
            self.elapsed.as_secs_f64(),
            self.conflicts
        )
    }
}

/// A 2-worker runtime, as in the log's own bench: the machine has 2 cores.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// `writers` tasks, each calling `append(writer, i)` for `i` in
/// `0..per_writer`, one at a time.
pub async fn drive(writers: usize, per_writer: u64, append: Append) -> Result<Run, String> {
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let append = append.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_writer as usize);
                let mut conflicts = 0;
                for i in 0..per_writer {
                    let t = Instant::now();
                    match append(w, i).await? {
                        Stored::Appended => latencies.push(t.elapsed()),
                        Stored::Conflict => conflicts += 1,
                    }
                }
                Ok::<_, String>((latencies, conflicts))
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(writers * per_writer as usize);
    let mut conflicts = 0;
    for task in tasks {
        let (l, c) = task
            .await
            .map_err(|e| format!("a writer task failed: {e}"))??;
        latencies.extend(l);
        conflicts += c;
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    Ok(Run {
        writers,
        events: latencies.len() as u64,
        conflicts,
        elapsed,
        latencies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(millis: &[u64], elapsed: u64) -> Run {
        Run {
            writers: 2,
            events: millis.len() as u64,
            conflicts: 1,
            elapsed: Duration::from_millis(elapsed),
            latencies: millis.iter().map(|m| Duration::from_millis(*m)).collect(),
        }
    }

    #[test]
    fn merged_runs_pool_their_latencies_and_add_their_time() {
        let merged = Run::merge(vec![run(&[1, 5], 100), run(&[2, 3, 4], 150)]);
        assert_eq!((merged.writers, merged.events, merged.conflicts), (2, 5, 2));
        assert_eq!(merged.elapsed, Duration::from_millis(250));
        assert_eq!(merged.rate(), 20.0);
        assert_eq!(merged.quantile_ms(0.5), 3.0);
        assert_eq!(merged.quantile_ms(0.99), 5.0);
    }
}
