//! What the benchmarks share: a timing loop.

use std::time::{Duration, Instant};

/// Runs `op` repeatedly for about `budget` after a tenth of it as warm-up; returns operations
/// per second.
pub fn ops_per_second(budget: Duration, mut op: impl FnMut()) -> f64 {
    let warm = Instant::now();
    while warm.elapsed() < budget / 10 {
        op();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        op();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// The same loop, as seconds per operation.
#[allow(dead_code)] // Each bench includes this file and uses what it needs.
pub fn seconds_per_op(budget: Duration, op: impl FnMut()) -> f64 {
    1.0 / ops_per_second(budget, op)
}
