//! The seed of a command: `--seed N` when given, else one taken from the clock and printed, so
//! any run can be repeated.

use crate::vocab::Seed;
use std::time::{SystemTime, UNIX_EPOCH};

/// `given`, else the clock's nanoseconds below 10⁹: different from run to run, and short
/// enough to type back as `--seed`.
pub(super) fn seed_or_clock(given: Option<u64>) -> Seed {
    Seed(given.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64 % 1_000_000_000)
            .unwrap_or(0)
    }))
}
