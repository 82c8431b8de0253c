//! Timing one path: warm up, then time each iteration on its own, and summarise the spread.

use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Per-iteration durations of one path, sorted.
pub struct Samples(Vec<Duration>);

impl Samples {
    /// Runs `once` `warmup` times untimed, then `iterations` times, timing each call.
    pub fn take<E>(
        warmup: usize,
        iterations: usize,
        mut once: impl FnMut() -> Result<(), E>,
    ) -> Result<Samples, E> {
        for _ in 0..warmup {
            once()?;
        }
        let mut samples = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            let started = Instant::now();
            once()?;
            samples.push(started.elapsed());
        }
        samples.sort();
        Ok(Samples(samples))
    }

    /// The duration below which `q` (0..=1) of the iterations fall (nearest rank).
    pub fn quantile(&self, q: f64) -> Duration {
        let rank = (q * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }

    fn mean(&self) -> Duration {
        self.0.iter().sum::<Duration>() / self.0.len() as u32
    }

    /// p50, p99, max and mean in microseconds, and the sample count.
    pub fn summary(&self) -> Value {
        let us = |d: Duration| (d.as_secs_f64() * 1e7).round() / 10.0;
        json!({
            "iterations": self.0.len(),
            "p50_us": us(self.quantile(0.50)),
            "p99_us": us(self.quantile(0.99)),
            "max_us": us(self.quantile(1.0)),
            "mean_us": us(self.mean()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let s = Samples((1..=100).map(Duration::from_micros).collect());
        assert_eq!(s.quantile(0.5), Duration::from_micros(50));
        assert_eq!(s.quantile(0.99), Duration::from_micros(99));
        assert_eq!(s.quantile(1.0), Duration::from_micros(100));
        assert_eq!(s.quantile(0.0), Duration::from_micros(1));
    }
}
