//! Whether a rule selects a frame, shared by every host's rules: the direction, the frame's
//! index, its message type and a probability drawn from the seed. Every draw is a function of
//! (seed, rule id, direction, frame index) alone — a ChaCha8 stream per rule and direction,
//! positioned at the frame — so the same rules and seed decide the same way however frames,
//! directions and connections interleave. Pure.

use super::frame_ids::{type_matches, FrameIds};
use super::rule::{Direction, Directions};
use crate::vocab::Seed;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// What a rule asks of a frame before it acts on it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Filter<'a> {
    pub dir: Directions,
    /// Only the frame with this 1-based index in its direction.
    pub frame: Option<u64>,
    /// Only with this probability, drawn from the seed.
    pub probability: Option<f64>,
    /// Only frames whose MSH-9 starts with these components.
    pub message_type: Option<&'a str>,
}

impl Filter<'_> {
    /// A filter that selects every frame in `dir`.
    pub fn every(dir: Directions) -> Filter<'static> {
        Filter { dir, frame: None, probability: None, message_type: None }
    }

    /// Whether the filter looks at anything but the direction (such a rule never selects
    /// bytes outside a frame).
    fn looks_at_frames(&self) -> bool {
        self.frame.is_some() || self.probability.is_some() || self.message_type.is_some()
    }
}

/// Words of the ChaCha8 stream reserved per frame (a draw uses at most 4).
const WORDS_PER_FRAME: u128 = 16;

/// The random stream of rule `rule` for frame `index` in `dir`.
pub fn stream(seed: Seed, rule: u64, dir: Direction, index: u64) -> ChaCha8Rng {
    let mut rng = seed.rng();
    rng.set_stream(rule << 1 | dir.index() as u64);
    rng.set_word_pos(u128::from(index) * WORDS_PER_FRAME);
    rng
}

/// Whether rule `rule` with `filter` selects frame `index` in `dir` (`ids` is `None` for bytes
/// outside a frame, which only filter-free rules select). The probability draw is the first
/// of the rule's stream at the frame.
pub fn selects(
    seed: Seed,
    rule: u64,
    filter: &Filter<'_>,
    dir: Direction,
    index: u64,
    ids: Option<&FrameIds>,
) -> bool {
    if !filter.dir.includes(dir) {
        return false;
    }
    let Some(ids) = ids else {
        return !filter.looks_at_frames();
    };
    if filter.frame.is_some_and(|n| n != index) {
        return false;
    }
    if let Some(wanted) = filter.message_type {
        if !type_matches(ids.msh9.as_deref(), wanted) {
            return false;
        }
    }
    match filter.probability {
        Some(p) => below(stream(seed, rule, dir, index).random::<u64>(), p),
        None => true,
    }
}

/// `draw` (uniform over u64) falls below probability `p`: integer arithmetic on 53 bits, the
/// same on every platform.
fn below(draw: u64, p: f64) -> bool {
    let threshold = (p * (1u64 << 53) as f64) as u64;
    (draw >> 11) < threshold
}
