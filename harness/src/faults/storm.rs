//! The `storm` fault's seeded choices: how each connection of a reconnect storm ends. Pure.

use super::network::STORM_MAX;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// For each connection of a `storm`, whether it ends with a reset (true) or a close.
pub fn storm_plan(connections: u32, seed: u64) -> Vec<bool> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..connections.min(STORM_MAX)).map(|_| rng.random_bool(0.5)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::network::{NetworkFault, OVERSIZED_MAX};

    #[test]
    fn storm_choices_follow_the_seed() {
        assert_eq!(storm_plan(30, 9), storm_plan(30, 9));
        assert_ne!(storm_plan(30, 9), storm_plan(30, 10));
        assert!(storm_plan(30, 9).iter().any(|r| *r) && storm_plan(30, 9).iter().any(|r| !*r));
        assert!(NetworkFault::Storm { connections: STORM_MAX + 1 }.validate().is_err());
        let huge = NetworkFault::Oversized { bytes: Some(OVERSIZED_MAX + 1) };
        assert!(huge.validate().is_err());
    }
}
