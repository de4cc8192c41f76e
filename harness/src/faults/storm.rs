//! The `storm` fault's seeded choices: how each connection of a reconnect storm ends. Pure.

use super::network::STORM_MAX;
use crate::vocab::Seed;
use rand::Rng;

/// For each connection of a `storm`, whether it ends with a reset (true) or a close.
pub fn storm_plan(connections: u32, seed: Seed) -> Vec<bool> {
    let mut rng = seed.rng();
    (0..connections.min(STORM_MAX)).map(|_| rng.random_bool(0.5)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::network::{NetworkFault, OVERSIZED_MAX};

    #[test]
    fn storm_choices_follow_the_seed() {
        assert_eq!(storm_plan(30, Seed(9)), storm_plan(30, Seed(9)));
        assert_ne!(storm_plan(30, Seed(9)), storm_plan(30, Seed(10)));
        assert!(
            storm_plan(30, Seed(9)).iter().any(|r| *r)
                && storm_plan(30, Seed(9)).iter().any(|r| !*r)
        );
        assert!(NetworkFault::Storm { connections: STORM_MAX + 1 }.validate().is_err());
        let huge = NetworkFault::Oversized { bytes: Some(OVERSIZED_MAX + 1) };
        assert!(huge.validate().is_err());
    }
}
