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

impl Stats {
    pub fn merge(&mut self, other: Stats) {
        self.latencies.extend(other.latencies);
        for (k, v) in other.by_status {
            *self.by_status.entry(k).or_default() += v;
        }
    }

    pub fn print(&mut self, name: &str) {
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
            .filter(|(k, _)| !k.starts_with('2'))
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        println!(
            "| {name} | {n} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            n as f64 / self.elapsed.as_secs_f64().max(1e-9),
            at(0.50),
            at(0.90),
            at(0.99),
            at(1.0),
            if errors.is_empty() {
                "none".into()
            } else {
                errors.join(", ")
            }
        );
    }
}
