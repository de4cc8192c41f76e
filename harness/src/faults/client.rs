//! The client connection's faults as ordered rules, decided like the proxy's: a case's
//! `network:` entries are rules that select every frame of the case, a step's own entries rules
//! that select that step's frame (its 1-based index, as the proxy's `frame=N`), all in the
//! direction the harness writes (`up`). Selection goes through the one rule selection every host
//! shares ([`super::select`]) with the case seed; what a selected fault does to the bytes is
//! the byte-level plan's ([`super::wire`], the first fault of each kind wins there, as the
//! first matching rule does in the engine). Pure.

use super::frame_ids::FrameIds;
use super::network::NetworkFault;
use super::rule::{Direction, Directions};
use super::select::{selects, Filter};
use crate::vocab::Seed;
use std::time::Duration;

/// One client rule: the fault and the step whose frame it selects (`None`: every frame).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ClientRule {
    id: u64,
    step: Option<u64>,
    fault: NetworkFault,
}

impl ClientRule {
    fn filter(&self) -> Filter<'static> {
        Filter { frame: self.step, ..Filter::every(Directions::Up) }
    }
}

/// The faults of one client case, as rules in order (the case's first, then each step's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFaults {
    seed: Seed,
    rules: Vec<ClientRule>,
}

impl ClientFaults {
    /// The rules of a case's `network:` list and of its steps' lists (`steps[i]` is step
    /// `i + 1`'s), drawn from `seed`.
    pub fn new(case: &[NetworkFault], steps: &[&[NetworkFault]], seed: Seed) -> ClientFaults {
        let case_rules = case.iter().map(|fault| (None, fault));
        let step_rules = steps
            .iter()
            .enumerate()
            .flat_map(|(i, faults)| faults.iter().map(move |fault| (Some(i as u64 + 1), fault)));
        let rules = case_rules
            .chain(step_rules)
            .zip(1..)
            .map(|((step, fault), id)| ClientRule { id, step, fault: fault.clone() })
            .collect();
        ClientFaults { seed, rules }
    }

    /// The case seed: every random choice of the case's faults derives from it (the storm's
    /// closes and resets, chunk sizes, a reset's offset), in the ways below.
    pub fn seed(&self) -> Seed {
        self.seed
    }

    /// The seed of the writes on the case's connection `number` (1-based): connections of one
    /// case draw apart.
    pub fn connection_seed(&self, number: usize) -> Seed {
        self.seed.mix((number as u64) << 32)
    }

    /// The seed of step `step`'s writes (1-based) on a connection seeded `connection`, when the
    /// steps go one at a time.
    pub fn step_seed(connection: Seed, step: usize) -> Seed {
        connection.offset(step as u64)
    }

    /// Whether the case has any fault at all.
    pub fn any(&self) -> bool {
        !self.rules.is_empty()
    }

    /// The faults that select step `step`'s frame (1-based), in rule order: what the frame is
    /// written with.
    pub fn for_step(&self, step: usize) -> Vec<NetworkFault> {
        let ids = FrameIds::default();
        self.selected(step as u64, Some(&ids))
    }

    /// The faults that select every frame of the case (its own `network:` list): what a
    /// coalesced write of all steps is written with, and what acts on the connections before
    /// the first frame (`storm`, `idle`).
    pub fn case_wide(&self) -> Vec<NetworkFault> {
        self.selected(0, None)
    }

    fn selected(&self, index: u64, ids: Option<&FrameIds>) -> Vec<NetworkFault> {
        self.rules
            .iter()
            .filter(|rule| selects(self.seed, rule.id, &rule.filter(), Direction::Up, index, ids))
            .map(|rule| rule.fault.clone())
            .collect()
    }

    /// The case's `storm`s, in order: how many connections each opens and ends before the
    /// case.
    pub fn storms(&self) -> Vec<u32> {
        self.case_wide()
            .iter()
            .filter_map(|fault| match fault {
                NetworkFault::Storm { connections } => Some(*connections),
                _ => None,
            })
            .collect()
    }

    /// The first `idle` of the case: how long the new connections wait before sending.
    pub fn idle(&self) -> Option<Duration> {
        self.case_wide().iter().find_map(|fault| match fault {
            NetworkFault::Idle(span) => Some(span.0),
            _ => None,
        })
    }

    /// Whether the steps go out together (`coalesce` or `pipeline` on the case).
    pub fn together(&self) -> bool {
        self.case_wide()
            .iter()
            .any(|fault| matches!(fault, NetworkFault::Coalesce | NetworkFault::Pipeline))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Span;

    /// The faults step 1, 2 and 3 are written with, and the case-wide ones.
    fn check(case: &[NetworkFault], steps: &[&[NetworkFault]], expected: [&[NetworkFault]; 4]) {
        let faults = ClientFaults::new(case, steps, Seed(7));
        let got = [faults.for_step(1), faults.for_step(2), faults.for_step(3), faults.case_wide()];
        let got: Vec<&[NetworkFault]> = got.iter().map(Vec::as_slice).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn case_rules_select_every_frame_step_rules_their_own() {
        use NetworkFault::*;
        check(&[], &[], [&[], &[], &[], &[]]);
        check(&[Coalesce], &[], [&[Coalesce], &[Coalesce], &[Coalesce], &[Coalesce]]);
        check(
            &[HalfClose],
            &[&[], &[LfSegments, MissingTrailerCr]],
            [&[HalfClose], &[HalfClose, LfSegments, MissingTrailerCr], &[HalfClose], &[HalfClose]],
        );
        // The case's rules come first: the first of a kind wins in the byte plan.
        let slow = |b| Slow { bytes_per_second: b };
        check(&[slow(5)], &[&[slow(9)]], [&[slow(5), slow(9)], &[slow(5)], &[slow(5)], &[slow(5)]]);
    }

    #[test]
    fn seeds_derive_from_the_case_seed() {
        // The values the seeds had as bare u64 arithmetic: recorded runs reproduce.
        let faults = ClientFaults::new(&[], &[], Seed(0x55));
        assert_eq!(faults.seed(), Seed(0x55));
        assert_eq!(faults.connection_seed(2), Seed(0x55 ^ (2 << 32)));
        let step = ClientFaults::step_seed(faults.connection_seed(1), 3);
        assert_eq!(step, Seed((0x55 ^ (1 << 32)) + 3));
        let wrapped = ClientFaults::step_seed(Seed(u64::MAX), 2);
        assert_eq!(wrapped, Seed(u64::MAX.wrapping_add(2)));
    }

    #[test]
    fn storm_idle_and_together_come_from_the_case_list() {
        let idle = NetworkFault::Idle(Span(Duration::from_millis(20)));
        let faults = ClientFaults::new(
            &[NetworkFault::Storm { connections: 3 }, idle.clone()],
            &[&[NetworkFault::Pipeline]],
            Seed(1),
        );
        assert_eq!(faults.storms(), [3]);
        assert_eq!(faults.idle(), Some(Duration::from_millis(20)));
        assert!(!faults.together(), "a step's pipeline is not the case's");
        assert!(faults.any());
        assert!(ClientFaults::new(&[NetworkFault::Coalesce], &[], Seed(1)).together());
        assert!(!ClientFaults::new(&[], &[&[]], Seed(1)).any());
    }
}
