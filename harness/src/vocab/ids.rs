//! Identifiers every layer passes around, as newtypes so a seed is never mistaken for a count,
//! a control id for a check id, or a check id for free text.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The seed every generated message and fault of a run derives from. Reports print it; the same
/// seed gives the same bytes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Seed(pub u64);

impl Seed {
    /// The random stream this seed starts: ChaCha8, whose draws are the same on every platform
    /// and version, so the same seed gives the same bytes. Every seeded choice of the harness
    /// (mutations, fault decisions, chunk sizes, storms) draws from a stream made here.
    pub fn rng(self) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(self.0)
    }

    /// The seed `n` places on (wrapping): mutation `i` of a chain, variant `i` of `generate`,
    /// step `n` of a connection. Recorded runs reproduce only if these stay plain additions.
    pub fn offset(self, n: u64) -> Seed {
        Seed(self.0.wrapping_add(n))
    }

    /// This seed with `part` mixed in by XOR: a case's seed from the run's and the hash of the
    /// case's name, a connection's from the case's. Kept as XOR (not [`Seed::derive`]) because
    /// reports and baselines record seeds made this way.
    pub fn mix(self, part: u64) -> Seed {
        Seed(self.0 ^ part)
    }

    /// A seed of its own for a new part of a run, derived from this one and `part` with
    /// SplitMix64's finaliser, so neighbouring parts get unrelated streams. The existing parts
    /// (cases, connections, steps) keep [`Seed::mix`] and [`Seed::offset`], whose values runs
    /// have already recorded.
    pub fn derive(self, part: u64) -> Seed {
        let mut z = self.0 ^ part.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Seed(z ^ (z >> 31))
    }
}

impl fmt::Display for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u64> for Seed {
    fn from(value: u64) -> Seed {
        Seed(value)
    }
}

/// MSH-10, the message control id, as the message carries it (any bytes a peer sent, shown
/// lossily as text).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ControlId(pub String);

impl ControlId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ControlId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for ControlId {
    fn from(value: String) -> ControlId {
        ControlId(value)
    }
}

impl From<&str> for ControlId {
    fn from(value: &str) -> ControlId {
        ControlId(value.to_string())
    }
}

/// The stable id of a check (`ack.msa2-echo`): published once, never changed; reports and JUnit
/// use it verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct CheckId(pub &'static str);

impl CheckId {
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::ops::Deref for CheckId {
    type Target = str;
    fn deref(&self) -> &str {
        self.0
    }
}

impl PartialEq<str> for CheckId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for CheckId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_seeds_are_stable_and_distinct() {
        let run = Seed(7);
        assert_eq!(run.derive(1), Seed(7).derive(1), "same input, same seed");
        assert_ne!(run.derive(1), run.derive(2));
        assert_ne!(run.derive(1), Seed(8).derive(1));
        assert_eq!(run.to_string(), "7");
    }

    #[test]
    fn mixed_and_offset_seeds_are_the_plain_arithmetic_runs_recorded() {
        assert_eq!(Seed(0x55).mix(2 << 32), Seed(0x55 ^ (2 << 32)));
        assert_eq!(Seed(u64::MAX).offset(2), Seed(1), "wraps");
        assert_eq!(serde_json::to_string(&Seed(7)).expect("json"), "7");
        let same: Seed = serde_json::from_str("7").expect("json");
        assert_eq!(same, Seed(7));
    }

    #[test]
    fn the_stream_is_the_one_seed_from_u64_makes() {
        use rand::Rng;
        let mut ours = Seed(42).rng();
        let mut theirs = ChaCha8Rng::seed_from_u64(42);
        for _ in 0..8 {
            assert_eq!(ours.random::<u64>(), theirs.random::<u64>());
        }
    }

    #[test]
    fn ids_print_and_compare_as_their_text() {
        let id = CheckId("ack.msa2-echo");
        assert!(id == "ack.msa2-echo");
        assert_eq!(id.to_string(), "ack.msa2-echo");
        assert_eq!(serde_json::to_string(&id).expect("json"), "\"ack.msa2-echo\"");
        let control = ControlId::from("M1");
        assert_eq!(serde_json::to_string(&control).expect("json"), "\"M1\"");
        assert_eq!(control.as_str(), "M1");
    }
}
