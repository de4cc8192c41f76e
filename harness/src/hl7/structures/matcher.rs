//! Matching a message's segment ids against a grammar, with findings that point at segments.
//!
//! The grammar becomes a small NFA (Thompson construction); the message is run through it as a
//! set of states, so the work is linear in the number of segments whatever the grammar. When a
//! segment cannot be consumed, the matcher recovers instead of cascading: it either finds the
//! required segments whose absence explains it (a shortest path that skips them) or reports the
//! segment as unexpected, out of order or repeated and goes on without it.

use super::grammar::{Item, Node};
use super::Version;
use crate::hl7::finding::{Finding, Location, Severity};
use std::collections::VecDeque;

const RULE_GRAMMAR: &str =
    "HL7 v2.5.1 ch. 2, abstract message syntax (segment order, optionality, repetition)";
const RULE_UNEXPECTED: &str =
    "HL7 v2.5.1 ch. 2, 2.6.2 (rules for the recipient: ignore segments that were not expected)";

/// At most this many grammar findings per message; the rest are counted in one more finding.
pub const MAX_GRAMMAR_FINDINGS: usize = 50;

/// Whether Z-segments (locally defined, ch. 2, 2.5.2) may appear anywhere without a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZSegments {
    AllowedAnywhere,
    AsWritten,
}

#[derive(Debug, Default, Clone)]
struct State {
    epsilon: Vec<usize>,
    /// Consuming this segment (a symbol: an index into `Automaton::symbols`) moves to the
    /// target state.
    segment: Option<(usize, usize)>,
}

/// A set of states, one bit each: a grammar has a few hundred states, so a step is a few
/// word-wide ORs of precomputed closures.
type StateSet = Vec<u64>;

/// The compiled grammar.
#[derive(Debug, Clone)]
pub struct Automaton {
    states: Vec<State>,
    /// Words of a [`StateSet`].
    words: usize,
    /// Every state's epsilon closure (itself included), computed once, as [`StateSet`]s laid
    /// end to end (`words` each): matching a segment is a union of precomputed sets rather than
    /// a graph walk.
    closures: Vec<u64>,
    start: usize,
    accept: usize,
    /// The three-byte segment ids the grammar names as [`id_key`]s, sorted, each with its
    /// symbol: a segment's symbol is found by comparing integers, not strings.
    alphabet: Vec<(u32, usize)>,
    /// Per symbol, the `(state, target)` edges that consume it.
    consumers: Vec<Vec<(usize, usize)>>,
    /// Per symbol, its segment id.
    symbols: Vec<String>,
}

impl Automaton {
    pub fn new(items: &[Item]) -> Automaton {
        let mut automaton = Automaton {
            states: Vec::new(),
            words: 0,
            closures: Vec::new(),
            start: 0,
            accept: 0,
            alphabet: Vec::new(),
            consumers: Vec::new(),
            symbols: Vec::new(),
        };
        let (start, accept) = automaton.sequence(items);
        automaton.start = start;
        automaton.accept = accept;
        let words = automaton.states.len().div_ceil(64).max(1);
        automaton.words = words;
        let mut closures = vec![0u64; words * automaton.states.len()];
        for s in 0..automaton.states.len() {
            let mut set = vec![s];
            automaton.closure(&mut set);
            for t in set {
                closures[s * words + t / 64] |= 1 << (t % 64);
            }
        }
        automaton.closures = closures;
        automaton.consumers = vec![Vec::new(); automaton.symbols.len()];
        for (s, state) in automaton.states.iter().enumerate() {
            if let Some((symbol, target)) = state.segment {
                automaton.consumers[symbol].push((s, target));
            }
        }
        automaton.alphabet = (automaton.symbols.iter().enumerate())
            .filter_map(|(i, id)| Some((id_key(id)?, i)))
            .collect();
        automaton.alphabet.sort_unstable();
        automaton
    }

    /// The symbol of a segment id, `None` when the grammar does not name it.
    fn symbol(&self, id: &str) -> Option<usize> {
        match id_key(id) {
            Some(key) => {
                let at = self.alphabet.binary_search_by_key(&key, |&(known, _)| known).ok()?;
                Some(self.alphabet[at].1)
            }
            // Grammar ids are three characters (the notation's parser says so), so this is a
            // malformed id of the message; searched anyway, for an automaton built otherwise.
            None => self.symbols.iter().position(|known| known == id),
        }
    }

    fn closure_of(&self, state: usize) -> &[u64] {
        &self.closures[state * self.words..(state + 1) * self.words]
    }

    fn contains(set: &[u64], state: usize) -> bool {
        set[state / 64] >> (state % 64) & 1 == 1
    }

    /// The states of a set, in order.
    fn members(set: &[u64]) -> Vec<usize> {
        let mut out = Vec::new();
        for (w, &word) in set.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                out.push(w * 64 + word.trailing_zeros() as usize);
                word &= word - 1;
            }
        }
        out
    }

    fn state(&mut self) -> usize {
        self.states.push(State::default());
        self.states.len() - 1
    }

    fn sequence(&mut self, items: &[Item]) -> (usize, usize) {
        let start = self.state();
        let mut end = start;
        for item in items {
            let (s, e) = self.item(item);
            self.states[end].epsilon.push(s);
            end = e;
        }
        (start, end)
    }

    fn item(&mut self, item: &Item) -> (usize, usize) {
        let (start, end) = match &item.node {
            Node::Segment(id) => {
                let start = self.state();
                let end = self.state();
                let symbol = match self.symbols.iter().position(|known| known == id) {
                    Some(symbol) => symbol,
                    None => {
                        self.symbols.push(id.clone());
                        self.symbols.len() - 1
                    }
                };
                self.states[start].segment = Some((symbol, end));
                (start, end)
            }
            Node::Group { items, .. } => self.sequence(items),
            Node::Choice(alternatives) => {
                let start = self.state();
                let end = self.state();
                for alternative in alternatives {
                    let (s, e) = self.sequence(alternative);
                    self.states[start].epsilon.push(s);
                    self.states[e].epsilon.push(end);
                }
                (start, end)
            }
        };
        // Wrap so the loop-back and bypass edges do not leak into neighbouring items.
        let outer_start = self.state();
        let outer_end = self.state();
        self.states[outer_start].epsilon.push(start);
        self.states[end].epsilon.push(outer_end);
        if item.optional {
            self.states[outer_start].epsilon.push(outer_end);
        }
        if item.repeating {
            self.states[end].epsilon.push(start);
        }
        (outer_start, outer_end)
    }

    /// Adds every state reachable by epsilon edges. A bitmap, not a hash set: this runs once
    /// per segment and grammars have a few hundred states.
    fn closure(&self, set: &mut Vec<usize>) {
        let mut seen = vec![false; self.states.len()];
        for &s in set.iter() {
            seen[s] = true;
        }
        let mut stack = set.clone();
        while let Some(s) = stack.pop() {
            for &t in &self.states[s].epsilon {
                if !seen[t] {
                    seen[t] = true;
                    set.push(t);
                    stack.push(t);
                }
            }
        }
    }

    /// The states after consuming `symbol` from `set`, closed under epsilon edges, into
    /// `next`; false when no state of `set` takes it (`next` is then empty).
    fn step(&self, set: &[u64], symbol: usize, next: &mut [u64]) -> bool {
        next.fill(0);
        let mut any = false;
        for &(s, target) in &self.consumers[symbol] {
            if Automaton::contains(set, s) {
                any = true;
                for (word, closure) in next.iter_mut().zip(self.closure_of(target)) {
                    *word |= closure;
                }
            }
        }
        any
    }

    /// The fewest segments to skip from `set` to reach states where `goal` holds: which
    /// segments (their symbols, along one shortest path, in order) and every goal state at that
    /// cost. 0-1 breadth-first search: epsilon edges cost 0, skipping a segment costs 1.
    ///
    /// Costs and predecessors are kept in arrays indexed by state (`scratch`, reused from one
    /// search to the next) rather than hash maps: a message that does not fit its grammar runs
    /// one search per misfit, and hashing every state reached was most of validation's time.
    /// The states are explored in the same order either way, so the path is the same.
    fn skip_path(
        &self,
        set: &[u64],
        goal: impl Fn(usize) -> bool,
        scratch: &mut Scratch,
    ) -> Option<SkipPath> {
        let Scratch { cost, previous, queue } = scratch;
        cost.clear();
        cost.resize(self.states.len(), UNREACHED);
        previous.clear();
        previous.resize(self.states.len(), None);
        queue.clear();
        for s in Automaton::members(set) {
            cost[s] = 0;
            queue.push_back(s);
        }
        while let Some(s) = queue.pop_front() {
            let c = cost[s];
            let state = &self.states[s];
            let epsilon = state.epsilon.iter().map(|&t| (t, 0, None));
            let segment = state.segment.iter().map(|&(symbol, t)| (t, 1, Some(symbol)));
            for (t, w, skipped) in epsilon.chain(segment) {
                if cost[t] == UNREACHED || c + w < cost[t] {
                    cost[t] = c + w;
                    previous[t] = Some((s, skipped));
                    if w == 0 {
                        queue.push_front(t);
                    } else {
                        queue.push_back(t);
                    }
                }
            }
        }
        let reached = || (0..cost.len()).filter(|&s| cost[s] != UNREACHED && goal(s));
        let best = reached().map(|s| cost[s]).min()?;
        let targets: Vec<usize> = reached().filter(|&s| cost[s] == best).collect();
        // Start states never get a predecessor (nothing costs less than 0), and predecessors
        // form a shortest-path tree, so this walk ends.
        let mut skipped = Vec::new();
        let mut at = targets[0];
        while let Some((from, symbol)) = previous[at] {
            skipped.extend(symbol);
            at = from;
        }
        skipped.reverse();
        Some(SkipPath { skipped, targets })
    }
}

/// A state [`Automaton::skip_path`] has not reached.
const UNREACHED: usize = usize::MAX;

/// The working memory of [`Automaton::skip_path`], one per message matched.
#[derive(Default)]
struct Scratch {
    /// Per state, the fewest segments skipped to reach it.
    cost: Vec<usize>,
    /// Per state reached, the state it was reached from and the symbol skipped on the way.
    previous: Vec<Option<(usize, Option<usize>)>>,
    queue: VecDeque<usize>,
}

/// What [`Automaton::skip_path`] found.
struct SkipPath {
    /// Symbols of the segments skipped, in order.
    skipped: Vec<usize>,
    targets: Vec<usize>,
}

/// A three-byte segment id as one integer (`None` for any other length), so that finding a
/// segment's symbol compares integers.
fn id_key(id: &str) -> Option<u32> {
    match *id.as_bytes() {
        [a, b, c] => Some(u32::from_be_bytes([0, a, b, c])),
        _ => None,
    }
}

/// Matches `ids` (the message's segment ids in order) and reports what does not fit.
///
/// A message that fits costs a symbol look-up and a step per segment and nothing else: the
/// bookkeeping that explains a misfit (segments still to come, segments already taken) is
/// only built once a segment does not fit. That bookkeeping is kept per symbol (the grammar's
/// segment ids, numbered), in arrays: it is only ever asked about segments the grammar names.
pub fn match_segments(
    ids: &[&str],
    automaton: &Automaton,
    structure: &str,
    version: Version,
    z_segments: ZSegments,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let words = automaton.words;
    let mut current: StateSet = automaton.closure_of(automaton.start).to_vec();
    let mut next: StateSet = vec![0; words];
    // Per symbol, how often it occurs after the segment being matched; counted at the first
    // misfit.
    let mut remaining: Option<Vec<usize>> = None;
    let mut scratch = Scratch::default();
    // Symbols taken so far (a segment seen again where only one is allowed is "repeated").
    let mut taken = vec![false; automaton.symbols.len()];
    // Per symbol, the index in `findings` of its first out-of-order/repeated finding.
    let mut misplaced: Vec<Option<usize>> = vec![None; automaton.symbols.len()];
    let context = || format!("{structure} v{version}");
    for (i, &id) in ids.iter().enumerate() {
        let index = i + 1;
        // Past the cap the rest is not matched at all: each misplaced segment costs a search
        // of the automaton, and a frame of a million of them must still be answered quickly.
        if findings.len() > MAX_GRAMMAR_FINDINGS {
            findings.truncate(MAX_GRAMMAR_FINDINGS);
            findings.push(Finding::new(
                "too-many-findings",
                Severity::Warning,
                Location::segment(index, id),
                format!(
                    "more than {MAX_GRAMMAR_FINDINGS} segment-grammar findings: segments \
                     {index} to {} not checked",
                    ids.len()
                ),
                RULE_GRAMMAR,
            ));
            return findings;
        }
        let symbol = automaton.symbol(id);
        if let (Some(counts), Some(symbol)) = (remaining.as_mut(), symbol) {
            counts[symbol] -= 1;
        }
        if z_segments == ZSegments::AllowedAnywhere && id.starts_with('Z') {
            continue;
        }
        let Some(symbol) = symbol else {
            findings.push(Finding::new(
                "unexpected-segment",
                Severity::Warning,
                Location::segment(index, id),
                format!("{id} is not part of {}", context()),
                RULE_UNEXPECTED,
            ));
            continue;
        };
        if automaton.step(&current, symbol, &mut next) {
            std::mem::swap(&mut current, &mut next);
            taken[symbol] = true;
            continue;
        }
        let remaining = remaining.get_or_insert_with(|| {
            let mut counts = vec![0; automaton.symbols.len()];
            for later in ids[index..].iter().filter_map(|id| automaton.symbol(id)) {
                counts[later] += 1;
            }
            counts
        });
        let can_take =
            |s: usize| automaton.states[s].segment.is_some_and(|(taker, _)| taker == symbol);
        let path = automaton.skip_path(&current, can_take, &mut scratch);
        // Skipping a segment the message still holds later would only move the problem.
        let explained = path.filter(|path| path.skipped.iter().all(|&s| remaining[s] == 0));
        let location = Location::segment(index, id);
        if let Some(path) = explained {
            let context = context();
            for &missing in &path.skipped {
                let missing = &automaton.symbols[missing];
                findings.push(Finding::new(
                    "missing-required-segment",
                    Severity::Error,
                    location.clone(),
                    format!("{missing} is required before {id} (segment {index}) in {context}"),
                    RULE_GRAMMAR,
                ));
            }
            let mut targets: StateSet = vec![0; words];
            for &t in &path.targets {
                targets[t / 64] |= 1 << (t % 64);
            }
            automaton.step(&targets, symbol, &mut current);
            taken[symbol] = true;
            continue;
        }
        let (code, why) = if taken[symbol] {
            ("repeated-segment", format!("{id} appears again where {} allows only one", context()))
        } else {
            (
                "out-of-order-segment",
                format!("{id} is out of order: {} does not allow it here", context()),
            )
        };
        misplaced[symbol].get_or_insert(findings.len());
        findings.push(Finding::new(code, Severity::Warning, location, why, RULE_GRAMMAR));
    }
    if !Automaton::contains(&current, automaton.accept) {
        let accept = automaton.accept;
        if let Some(path) = automaton.skip_path(&current, |s| s == accept, &mut scratch) {
            let context = context();
            for &symbol in &path.skipped {
                let missing = &automaton.symbols[symbol];
                // A required segment that is present but misplaced: a receiver ignores it as
                // unexpected (ch. 2, 2.6.2) and so loses it, which makes it an error.
                if let Some(at) = misplaced[symbol] {
                    let finding = &mut findings[at];
                    finding.severity = Severity::Error;
                    finding.message.push_str(&format!(
                        "; {missing} is required and no other {missing} is where {context} needs it"
                    ));
                    continue;
                }
                findings.push(Finding::new(
                    "missing-required-segment",
                    Severity::Error,
                    Location::default(),
                    format!("{missing} is required after segment {} in {context}", ids.len()),
                    RULE_GRAMMAR,
                ));
            }
        }
    }
    if findings.len() > MAX_GRAMMAR_FINDINGS {
        let more = findings.len() - MAX_GRAMMAR_FINDINGS;
        findings.truncate(MAX_GRAMMAR_FINDINGS);
        findings.push(Finding::new(
            "too-many-findings",
            Severity::Warning,
            Location::default(),
            format!("{more} more segment-grammar findings not listed"),
            RULE_GRAMMAR,
        ));
    }
    findings
}

/// The matcher as it was before its bookkeeping moved to arrays (hash maps keyed by segment id
/// and by state, the symbol found by comparing names): kept as the reference that the faster
/// one must agree with, finding for finding.
#[cfg(test)]
pub(crate) mod reference {
    use super::*;
    use std::collections::HashMap;

    fn skip_path(
        automaton: &Automaton,
        set: &[usize],
        goal: impl Fn(usize) -> bool,
    ) -> Option<(Vec<String>, Vec<usize>)> {
        let mut cost: HashMap<usize, usize> = HashMap::new();
        let mut previous: HashMap<usize, (usize, Option<&str>)> = HashMap::new();
        let mut queue: VecDeque<usize> = VecDeque::new();
        for &s in set {
            cost.insert(s, 0);
            queue.push_back(s);
        }
        while let Some(s) = queue.pop_front() {
            let c = cost[&s];
            let state = &automaton.states[s];
            let epsilon = state.epsilon.iter().map(|&t| (t, 0, None));
            let segment = state
                .segment
                .iter()
                .map(|&(symbol, t)| (t, 1, Some(automaton.symbols[symbol].as_str())));
            for (t, w, skipped) in epsilon.chain(segment) {
                if cost.get(&t).is_none_or(|&old| c + w < old) {
                    cost.insert(t, c + w);
                    previous.insert(t, (s, skipped));
                    if w == 0 {
                        queue.push_front(t);
                    } else {
                        queue.push_back(t);
                    }
                }
            }
        }
        let best = cost.iter().filter(|(s, _)| goal(**s)).map(|(_, c)| *c).min()?;
        let mut targets: Vec<usize> =
            cost.iter().filter(|(s, c)| goal(**s) && **c == best).map(|(s, _)| *s).collect();
        targets.sort_unstable();
        let mut skipped = Vec::new();
        let mut at = targets[0];
        while let Some((from, segment)) = previous.get(&at) {
            skipped.extend(segment.map(str::to_string));
            at = *from;
        }
        skipped.reverse();
        Some((skipped, targets))
    }

    pub(crate) fn match_segments(
        ids: &[&str],
        automaton: &Automaton,
        structure: &str,
        version: Version,
        z_segments: ZSegments,
    ) -> Vec<Finding> {
        let mut findings = Vec::new();
        let words = automaton.words;
        let mut current: StateSet = automaton.closure_of(automaton.start).to_vec();
        let mut next: StateSet = vec![0; words];
        let mut remaining: Option<HashMap<&str, usize>> = None;
        let mut taken = vec![false; automaton.symbols.len()];
        let mut misplaced: HashMap<String, usize> = HashMap::new();
        let context = || format!("{structure} v{version}");
        for (i, &id) in ids.iter().enumerate() {
            let index = i + 1;
            if findings.len() > MAX_GRAMMAR_FINDINGS {
                findings.truncate(MAX_GRAMMAR_FINDINGS);
                findings.push(Finding::new(
                    "too-many-findings",
                    Severity::Warning,
                    Location::segment(index, id),
                    format!(
                        "more than {MAX_GRAMMAR_FINDINGS} segment-grammar findings: segments \
                         {index} to {} not checked",
                        ids.len()
                    ),
                    RULE_GRAMMAR,
                ));
                return findings;
            }
            if let Some(n) = remaining.as_mut().and_then(|r| r.get_mut(id)) {
                *n -= 1;
            }
            if z_segments == ZSegments::AllowedAnywhere && id.starts_with('Z') {
                continue;
            }
            let location = Location::segment(index, id);
            let Some(symbol) = automaton.symbols.iter().position(|known| known == id) else {
                findings.push(Finding::new(
                    "unexpected-segment",
                    Severity::Warning,
                    location,
                    format!("{id} is not part of {}", context()),
                    RULE_UNEXPECTED,
                ));
                continue;
            };
            if automaton.step(&current, symbol, &mut next) {
                std::mem::swap(&mut current, &mut next);
                taken[symbol] = true;
                continue;
            }
            let remaining = remaining.get_or_insert_with(|| {
                let mut counts: HashMap<&str, usize> = HashMap::new();
                for later in &ids[index..] {
                    *counts.entry(later).or_default() += 1;
                }
                counts
            });
            let can_take =
                |s: usize| automaton.states[s].segment.is_some_and(|(taker, _)| taker == symbol);
            let path = skip_path(automaton, &Automaton::members(&current), can_take);
            let explained = path.filter(|(skipped, _)| {
                skipped.iter().all(|s| remaining.get(s.as_str()).copied().unwrap_or(0) == 0)
            });
            if let Some((skipped, targets)) = explained {
                let context = context();
                for missing in &skipped {
                    findings.push(Finding::new(
                        "missing-required-segment",
                        Severity::Error,
                        location.clone(),
                        format!("{missing} is required before {id} (segment {index}) in {context}"),
                        RULE_GRAMMAR,
                    ));
                }
                let mut set: StateSet = vec![0; words];
                for &t in &targets {
                    set[t / 64] |= 1 << (t % 64);
                }
                automaton.step(&set, symbol, &mut current);
                taken[symbol] = true;
                continue;
            }
            let (code, why) = if taken[symbol] {
                (
                    "repeated-segment",
                    format!("{id} appears again where {} allows only one", context()),
                )
            } else {
                (
                    "out-of-order-segment",
                    format!("{id} is out of order: {} does not allow it here", context()),
                )
            };
            misplaced.entry(id.to_string()).or_insert(findings.len());
            findings.push(Finding::new(code, Severity::Warning, location, why, RULE_GRAMMAR));
        }
        if !Automaton::contains(&current, automaton.accept) {
            let accept = automaton.accept;
            if let Some((skipped, _)) =
                skip_path(automaton, &Automaton::members(&current), |s| s == accept)
            {
                let context = context();
                for missing in &skipped {
                    if let Some(&at) = misplaced.get(missing) {
                        let finding = &mut findings[at];
                        finding.severity = Severity::Error;
                        finding.message.push_str(&format!(
                            "; {missing} is required and no other {missing} is where {context} needs it"
                        ));
                        continue;
                    }
                    findings.push(Finding::new(
                        "missing-required-segment",
                        Severity::Error,
                        Location::default(),
                        format!("{missing} is required after segment {} in {context}", ids.len()),
                        RULE_GRAMMAR,
                    ));
                }
            }
        }
        if findings.len() > MAX_GRAMMAR_FINDINGS {
            let more = findings.len() - MAX_GRAMMAR_FINDINGS;
            findings.truncate(MAX_GRAMMAR_FINDINGS);
            findings.push(Finding::new(
                "too-many-findings",
                Severity::Warning,
                Location::default(),
                format!("{more} more segment-grammar findings not listed"),
                RULE_GRAMMAR,
            ));
        }
        findings
    }
}

#[cfg(test)]
mod tests {
    use super::super::grammar::parse_grammar;
    use super::*;
    use proptest::prelude::*;

    fn run(grammar: &str, ids: &str) -> Vec<Finding> {
        let automaton = Automaton::new(&parse_grammar(grammar).unwrap());
        let ids: Vec<&str> = ids.split_whitespace().collect();
        match_segments(&ids, &automaton, "TEST", Version::V2_5, ZSegments::AllowedAnywhere)
    }

    fn check(grammar: &str, ids: &str, expected: &[&str]) {
        let findings = run(grammar, ids);
        let got: Vec<String> = findings
            .iter()
            .map(|f| match f.location.segment_index {
                Some(i) => format!("{}@{i}", f.code),
                None => f.code.to_string(),
            })
            .collect();
        assert_eq!(got, expected, "{ids:?}: {findings:#?}");
    }

    const ADT_A01: &str = "MSH [{SFT}] EVN PID [PD1] [{ROL}] [{NK1}] PV1 [PV2] [{ROL}] [{OBX}] [{AL1}] [{ PROCEDURE: PR1 [{ROL}] }]";
    const ORU: &str = "MSH { PATIENT_RESULT: [ PATIENT: PID [{NTE}] ] { ORDER_OBSERVATION: [ORC] OBR [{NTE}] [{ OBSERVATION: OBX [{NTE}] }] } } [DSC]";

    #[test]
    fn valid_messages() {
        check(ADT_A01, "MSH EVN PID PV1", &[]);
        check(ADT_A01, "MSH SFT SFT EVN PID PD1 NK1 NK1 PV1 PV2 ROL OBX AL1 PR1 ROL PR1", &[]);
        check(ADT_A01, "MSH EVN PID PV1 ZPD", &[]);
        check(ADT_A01, "MSH EVN ZEV PID PV1", &[]);
        check(ORU, "MSH PID OBR OBX OBX NTE OBR OBX PID OBR", &[]);
        check(ORU, "MSH OBR", &[]);
        check("MSH < OBR | RQD > [PV1]", "MSH RQD PV1", &[]);
    }

    #[test]
    fn problems() {
        check(ADT_A01, "MSH EVN PV1", &["missing-required-segment@3"]);
        check(ADT_A01, "MSH EVN PID", &["missing-required-segment"]);
        check(
            ADT_A01,
            "MSH",
            &["missing-required-segment", "missing-required-segment", "missing-required-segment"],
        );
        check(ADT_A01, "MSH EVN PID PV1 NK1", &["out-of-order-segment@5"]);
        check(ADT_A01, "MSH EVN EVN PID PV1", &["repeated-segment@3"]);
        check(ADT_A01, "MSH EVN PID ORC PV1", &["unexpected-segment@4"]);
        check(ADT_A01, "MSH EVN PV1 PID", &["out-of-order-segment@3"]);
        let findings = run(ADT_A01, "MSH EVN PV1 PID");
        assert_eq!(findings[0].severity, Severity::Error, "a misplaced required segment is lost");
        let findings = run(ADT_A01, "MSH EVN PID PV1 NK1");
        assert_eq!(findings[0].severity, Severity::Warning, "a misplaced optional one is ignored");
        check(ORU, "MSH PID OBX", &["missing-required-segment@3"]);
        check(
            "MSH < OBR | RQD >",
            "MSH PV1",
            &["unexpected-segment@2", "missing-required-segment"],
        );
    }

    #[test]
    fn symbols_by_key_are_the_symbols_by_name() {
        let automaton = Automaton::new(&parse_grammar(ORU).unwrap());
        let others = ["", "P", "PI", "PIDX", "pid", "ZZZ", "OB\u{e9}", "MSH\0"];
        for id in automaton.symbols.iter().map(String::as_str).chain(others) {
            let by_name = automaton.symbols.iter().position(|known| known == id);
            assert_eq!(automaton.symbol(id), by_name, "{id:?}");
        }
        // An automaton may be built from items a caller wrote, with ids of any length.
        let items =
            vec![Item { node: Node::Segment("LONG".into()), optional: false, repeating: false }];
        let automaton = Automaton::new(&items);
        assert_eq!(automaton.symbol("LONG"), Some(0));
        assert_eq!(automaton.symbol("LON"), None);
    }

    /// Every structure of every version the tables hold, compiled once for the property below.
    fn every_structure() -> &'static [&'static super::super::Structure] {
        static ALL: std::sync::OnceLock<Vec<&'static super::super::Structure>> =
            std::sync::OnceLock::new();
        ALL.get_or_init(|| {
            let ids = super::super::structure_ids();
            Version::ALL
                .into_iter()
                .flat_map(|v| ids.iter().filter_map(move |id| super::super::structure(v, id)))
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// Speed never changes a finding: for any real grammar and any sequence of its segments
        /// (shuffled, repeated, left out, with Z-segments and ids it does not name), the matcher
        /// says exactly what the hash-map reference says, in the same order, word for word.
        #[test]
        fn matcher_agrees_with_the_reference(
            which in any::<proptest::sample::Index>(),
            picks in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..10), 0..40),
            as_written in any::<bool>(),
        ) {
            let structure = which.get(every_structure());
            let automaton = structure.automaton();
            let mut ids: Vec<&str> = vec!["MSH"];
            for (pick, kind) in &picks {
                ids.push(match kind {
                    0 => "ZPD",
                    1 => "XYZ",
                    2 => "PI",
                    3 => "NTE",
                    _ => pick.get(&automaton.symbols).as_str(),
                });
            }
            let z = if as_written { ZSegments::AsWritten } else { ZSegments::AllowedAnywhere };
            let version = structure.version;
            let got = match_segments(&ids, automaton, &structure.id, version, z);
            let want = reference::match_segments(&ids, automaton, &structure.id, version, z);
            prop_assert_eq!(got, want, "{} v{} {:?}", structure.id, version, ids);
        }
    }

    #[test]
    fn hostile_input_terminates_and_is_capped() {
        let mut ids = vec!["MSH", "EVN", "PID", "PV1"];
        ids.extend(std::iter::repeat_n("EVN", 100_000));
        let automaton = Automaton::new(&parse_grammar(ADT_A01).unwrap());
        let findings =
            match_segments(&ids, &automaton, "T", Version::V2_5, ZSegments::AllowedAnywhere);
        assert_eq!(findings.len(), MAX_GRAMMAR_FINDINGS + 1);
        assert_eq!(findings.last().unwrap().code, "too-many-findings");
    }
}
