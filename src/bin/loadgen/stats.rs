//! What a scenario measured, and its line in the report table.

use std::collections::BTreeMap;
use std::time::Duration;

/// What a scenario measured.
#[derive(Default)]
pub struct Stats {
    pub latencies: Vec<Duration>,
    pub by_status: BTreeMap<String, u64>,
    pub elapsed: Duration,
}

/// The figures of a scenario.
#[derive(Clone, Debug)]
pub struct Summary {
    pub requests: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Every answer that was not 2xx, by status, or "none".
    pub non_2xx: String,
}

impl Stats {
    pub fn merge(&mut self, other: Stats) {
        self.latencies.extend(other.latencies);
        for (k, v) in other.by_status {
            *self.by_status.entry(k).or_default() += v;
        }
    }

    /// The figures, counting every answer that is not 2xx as unexpected.
    pub fn summary(&mut self) -> Summary {
        self.summary_expecting("2")
    }

    /// The figures, counting answers whose status starts with neither `2` nor `expected` as
    /// unexpected (a 404 scenario expects `404`).
    pub fn summary_expecting(&mut self, expected: &str) -> Summary {
        self.latencies.sort_unstable();
        let n = self.latencies.len();
        let at = |q: f64| {
            let i = ((n as f64 * q).ceil() as usize).clamp(1, n.max(1)) - 1;
            self.latencies
                .get(i)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        let errors: Vec<String> = self
            .by_status
            .iter()
            .filter(|(k, _)| !k.starts_with('2') && !k.starts_with(expected))
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        Summary {
            requests: n,
            per_second: n as f64 / self.elapsed.as_secs_f64().max(1e-9),
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: at(1.0),
            non_2xx: if errors.is_empty() {
                "none".into()
            } else {
                errors.join(", ")
            },
        }
    }

    /// Prints the scenario's row of the report table and returns its figures.
    pub fn print(&mut self, name: &str) -> Summary {
        let s = self.summary();
        println!(
            "| {name} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            s.requests, s.per_second, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms, s.non_2xx
        );
        s
    }
}
