//! The decision engine: ordered rules, frame counters and the seed. Pure and deterministic: the
//! same rules, seed and frames give the same decisions, however the two directions and the
//! connections interleave, because every random draw is a function of (seed, rule id,
//! direction, frame index) alone — a ChaCha8 stream per rule and direction, positioned at the
//! frame. No clock and no I/O here: timing is carried out by the proxy's connection loop.

use super::frame_ids::{corrupt_byte, last_byte_of, FrameIds};
use super::rule::{CorruptTarget, Direction, FaultKind, FaultSpec, TriggerPoint};
use super::select::{selects, stream};
use super::shape::Shaping;
use crate::vocab::Seed;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// A rule as installed: its id (stable for the proxy's run) and whether a one-shot trigger has
/// fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: u64,
    pub spec: FaultSpec,
    /// Connection triggers (half-close, reset, outage) fire once.
    pub spent: bool,
}

/// What happens to one frame's bytes (the first matching frame rule wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Forward,
    Drop,
    Delay(Duration),
    Duplicate,
    /// Forward with these payload bytes replaced: `(payload index, old, new)`.
    Corrupt(Vec<(usize, u8, u8)>),
}

/// A connection-level event that follows the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    HalfClose,
    Reset,
    Outage(Duration),
}

/// One rule that acted, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub rule: u64,
    pub fault: &'static str,
    pub spec: String,
    /// What exactly was done (bytes changed, delay), short.
    pub detail: String,
}

/// Everything the engine decided about one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// 1-based index of the frame in its direction over the proxy's run.
    pub index: u64,
    pub verdict: Verdict,
    pub shaping: Shaping,
    pub trigger: Option<Trigger>,
    pub applied: Vec<Applied>,
}

/// Ordered rules and the seed.
#[derive(Debug, Clone)]
pub struct Engine {
    seed: Seed,
    rules: Vec<Rule>,
    next_id: u64,
    frames: [u64; 2],
}

impl Engine {
    pub fn new(seed: Seed) -> Engine {
        Engine { seed, rules: Vec::new(), next_id: 1, frames: [0, 0] }
    }

    pub fn seed(&self) -> Seed {
        self.seed
    }

    /// Installs a rule after the others; returns its id.
    pub fn add(&mut self, spec: FaultSpec) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.rules.push(Rule { id, spec, spent: false });
        id
    }

    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.id != id);
        self.rules.len() != before
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Frames seen so far, up and down.
    pub fn frames(&self) -> [u64; 2] {
        self.frames
    }

    /// Outage rules without `after=` that have not run yet: they start when installed. Marks
    /// them spent and returns `(rule, spec, length)`.
    pub fn take_immediate_outages(&mut self) -> Vec<(u64, String, Duration)> {
        let mut out = Vec::new();
        for rule in &mut self.rules {
            if let FaultKind::Outage { after: None, length } = rule.spec.kind {
                if !rule.spent {
                    rule.spent = true;
                    out.push((rule.id, rule.spec.to_string(), length));
                }
            }
        }
        out
    }

    /// The first unspent `bytes=N` trigger that falls in `len` bytes read in `dir` starting at
    /// connection stream offset `offset`: how many of them to forward before it fires, what
    /// fires, and the log entry. Marks the rule spent.
    pub fn bytes(
        &mut self,
        dir: Direction,
        offset: u64,
        len: usize,
    ) -> Option<(usize, Trigger, Applied)> {
        let end = offset + len as u64;
        let rule = self.rules.iter_mut().find(|rule| {
            let at = match rule.spec.kind {
                FaultKind::HalfClose { at: TriggerPoint::AfterBytes(n) }
                | FaultKind::Reset { at: TriggerPoint::AfterBytes(n) } => n,
                _ => return false,
            };
            !rule.spent && rule.spec.dir.includes(dir) && offset < at && at <= end
        })?;
        rule.spent = true;
        let (trigger, at) = match rule.spec.kind {
            FaultKind::Reset { at: TriggerPoint::AfterBytes(n) } => (Trigger::Reset, n),
            FaultKind::HalfClose { at: TriggerPoint::AfterBytes(n) } => (Trigger::HalfClose, n),
            _ => return None,
        };
        let applied = applied_of(rule, format!("after byte {at} of the connection"));
        Some(((at - offset) as usize, trigger, applied))
    }

    /// The random stream of `rule` for frame `index` in `dir`.
    fn rng(&self, rule: u64, dir: Direction, index: u64) -> ChaCha8Rng {
        stream(self.seed, rule, dir, index)
    }

    /// Whether `rule`'s direction and frame filters select this frame, by the selection every
    /// host's rules share ([`super::select`]).
    fn selects(&self, rule: &Rule, dir: Direction, index: u64, ids: Option<&FrameIds>) -> bool {
        selects(self.seed, rule.id, &rule.spec.filter(), dir, index, ids)
    }

    /// Shaping for bytes outside any frame in `dir`: filter-free rules only.
    pub fn unframed(&self, dir: Direction) -> (Shaping, Vec<Applied>) {
        let mut shaping = Shaping::default();
        let mut applied = Vec::new();
        for rule in &self.rules {
            if self.selects(rule, dir, 0, None) {
                shape(&mut shaping, &mut applied, rule);
            }
        }
        (shaping, applied)
    }

    /// Counts a frame in `dir` and decides what happens to it. `payload` is the frame's
    /// payload (for corruption targets and sizes).
    pub fn frame(&mut self, dir: Direction, ids: &FrameIds, payload: &[u8]) -> Decision {
        self.frames[dir.index()] += 1;
        let index = self.frames[dir.index()];
        let mut verdict = None;
        let mut shaping = Shaping::default();
        let mut trigger = None;
        let mut applied = Vec::new();
        let mut fired = None;
        for rule in &self.rules {
            let spec = &rule.spec;
            match &spec.kind {
                FaultKind::HalfClose { at: TriggerPoint::AfterFrame(after) }
                | FaultKind::Reset { at: TriggerPoint::AfterFrame(after) }
                | FaultKind::Outage { after: Some(after), .. } => {
                    let fires = trigger.is_none()
                        && !rule.spent
                        && *after == index
                        && spec.dir.includes(dir);
                    if !fires {
                        continue;
                    }
                    let (fired_trigger, detail) = match spec.kind {
                        FaultKind::Reset { .. } => (Trigger::Reset, String::new()),
                        FaultKind::Outage { length, .. } => {
                            (Trigger::Outage(length), format!(", for {} ms", length.as_millis()))
                        }
                        _ => (Trigger::HalfClose, String::new()),
                    };
                    trigger = Some(fired_trigger);
                    fired = Some(rule.id);
                    applied.push(applied_of(rule, format!("after frame {index}{detail}")));
                }
                // Started when installed, or by a byte count ([`Engine::bytes`]), not by a frame.
                FaultKind::Outage { after: None, .. }
                | FaultKind::HalfClose { at: TriggerPoint::AfterBytes(_) }
                | FaultKind::Reset { at: TriggerPoint::AfterBytes(_) } => {}
                FaultKind::Drop
                | FaultKind::Delay(_)
                | FaultKind::Duplicate
                | FaultKind::Corrupt(_) => {
                    if verdict.is_some() || !self.selects(rule, dir, index, Some(ids)) {
                        continue;
                    }
                    let (v, detail) = self.verdict_of(rule, dir, index, payload);
                    verdict = Some(v);
                    applied.push(applied_of(rule, detail));
                }
                FaultKind::Latency(_) | FaultKind::Bandwidth(_) | FaultKind::Slice { .. } => {
                    if !self.selects(rule, dir, index, Some(ids)) {
                        continue;
                    }
                    shape(&mut shaping, &mut applied, rule);
                }
            }
        }
        if let Some(id) = fired {
            if let Some(rule) = self.rules.iter_mut().find(|r| r.id == id) {
                rule.spent = true;
            }
        }
        Decision { index, verdict: verdict.unwrap_or(Verdict::Forward), shaping, trigger, applied }
    }

    fn verdict_of(
        &self,
        rule: &Rule,
        dir: Direction,
        index: u64,
        payload: &[u8],
    ) -> (Verdict, String) {
        match &rule.spec.kind {
            FaultKind::Drop => (Verdict::Drop, "not forwarded".into()),
            FaultKind::Delay(d) => (Verdict::Delay(*d), format!("held {} ms", d.as_millis())),
            FaultKind::Duplicate => (Verdict::Duplicate, "forwarded twice".into()),
            FaultKind::Corrupt(target) => {
                let at = match target {
                    CorruptTarget::Byte(n) => (*n < payload.len()).then_some(*n),
                    CorruptTarget::Random if !payload.is_empty() => {
                        // The draw after the probability draw of the same stream.
                        let mut rng = self.rng(rule.id, dir, index);
                        let _ = rng.random::<u64>();
                        Some((rng.random::<u64>() % payload.len() as u64) as usize)
                    }
                    CorruptTarget::Random => None,
                    CorruptTarget::Msa2 => last_byte_of(payload, false),
                    CorruptTarget::Msh10 => last_byte_of(payload, true),
                };
                match at {
                    Some(at) => {
                        let (old, new) = (payload[at], corrupt_byte(payload[at]));
                        (
                            Verdict::Corrupt(vec![(at, old, new)]),
                            format!("payload byte {at}: 0x{old:02x} -> 0x{new:02x}"),
                        )
                    }
                    None => (
                        Verdict::Forward,
                        format!("no such byte in the {}-byte payload; unchanged", payload.len()),
                    ),
                }
            }
            _ => (Verdict::Forward, String::new()),
        }
    }
}

fn applied_of(rule: &Rule, detail: String) -> Applied {
    Applied { rule: rule.id, fault: rule.spec.kind.name(), spec: rule.spec.to_string(), detail }
}

/// Adds `rule`'s shaping unless one of its kind is already set.
fn shape(shaping: &mut Shaping, applied: &mut Vec<Applied>, rule: &Rule) {
    let detail = match rule.spec.kind {
        FaultKind::Latency(d) if shaping.latency.is_none() => {
            shaping.latency = Some(d);
            format!("{} ms", d.as_millis())
        }
        FaultKind::Bandwidth(bps) if shaping.bandwidth.is_none() => {
            shaping.bandwidth = Some(bps);
            format!("{bps} bytes/s")
        }
        FaultKind::Slice { size, pause } if shaping.slice.is_none() => {
            shaping.slice = Some((size, pause));
            format!("writes of {size} byte(s), {} ms apart", pause.as_millis())
        }
        _ => return,
    };
    applied.push(applied_of(rule, detail));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::parse_spec;

    const ACK: &[u8] = b"MSH|^~\\&|R|F|S|F|20260101||ACK^A04^ACK|A1|P|2.5\rMSA|AA|MSG1\r";

    fn engine(seed: u64, specs: &[&str]) -> Engine {
        let mut engine = Engine::new(Seed(seed));
        for spec in specs {
            engine.add(parse_spec(spec).unwrap());
        }
        engine
    }

    fn ids(msh9: &str) -> FrameIds {
        FrameIds { msh9: Some(msh9.into()), ..FrameIds::default() }
    }

    /// Verdicts for `n` frames up.
    fn verdicts(engine: &mut Engine, n: usize) -> Vec<Verdict> {
        (0..n).map(|_| engine.frame(Direction::Up, &ids("ADT^A04"), b"MSH|x").verdict).collect()
    }

    #[test]
    fn first_matching_rule_wins_and_frame_counts_per_direction() {
        let mut e = engine(1, &["drop:dir=up,frame=2", "duplicate:dir=both,frame=2", "delay:ms=5"]);
        let d1 = e.frame(Direction::Up, &ids("ADT^A04"), b"");
        assert_eq!((d1.index, d1.verdict), (1, Verdict::Delay(Duration::from_millis(5))));
        assert_eq!(e.frame(Direction::Up, &ids("ADT^A04"), b"").verdict, Verdict::Drop);
        assert_eq!(e.frame(Direction::Down, &ids("ACK"), b"").index, 1);
        let down2 = e.frame(Direction::Down, &ids("ACK"), b"");
        assert_eq!(down2.verdict, Verdict::Duplicate);
        assert_eq!(down2.applied.len(), 1);
        assert_eq!(down2.applied[0].rule, 2);
        assert_eq!(e.frames(), [2, 2]);
    }

    #[test]
    fn type_filter() {
        let mut e = engine(1, &["drop:type=ADT^A08"]);
        assert_eq!(e.frame(Direction::Up, &ids("ADT^A04^ADT_A01"), b"").verdict, Verdict::Forward);
        assert_eq!(e.frame(Direction::Up, &ids("ADT^A08^ADT_A01"), b"").verdict, Verdict::Drop);
        assert_eq!(e.frame(Direction::Up, &FrameIds::default(), b"").verdict, Verdict::Forward);
    }

    #[test]
    fn same_seed_same_decisions_whatever_the_interleaving() {
        let specs = ["drop:p=0.3", "corrupt:p=0.5,byte=random"];
        let mut a = engine(42, &specs);
        let mut b = engine(42, &specs);
        let ups_a = verdicts(&mut a, 200);
        // b sees down frames in between: the up decisions must not change.
        let ups_b: Vec<Verdict> = (0..200)
            .map(|_| {
                b.frame(Direction::Down, &ids("ACK"), b"xyz");
                b.frame(Direction::Up, &ids("ADT^A04"), b"MSH|x").verdict
            })
            .collect();
        assert_eq!(ups_a, ups_b);
        let drops = ups_a.iter().filter(|v| **v == Verdict::Drop).count();
        assert!((30..=90).contains(&drops), "about 30% of 200 dropped, got {drops}");
        assert!(ups_a.iter().any(|v| matches!(v, Verdict::Corrupt(_))));
        let mut c = engine(43, &specs);
        assert_ne!(verdicts(&mut c, 200), ups_a, "another seed, other decisions");
        assert_eq!(verdicts(&mut engine(42, &["drop:p=0"]), 50), vec![Verdict::Forward; 50]);
        assert_eq!(verdicts(&mut engine(42, &["drop:p=1"]), 50), vec![Verdict::Drop; 50]);
    }

    #[test]
    fn corrupt_targets_exact_bytes() {
        let mut e = engine(7, &["corrupt:byte=msa2", "corrupt:byte=3"]);
        let d = e.frame(Direction::Down, &ids("ACK"), ACK);
        let at = ACK.len() - 2; // the `1` of MSG1, before the final CR
        assert_eq!(d.verdict, Verdict::Corrupt(vec![(at, b'1', b'2')]));
        let mut e = engine(7, &["corrupt:byte=3"]);
        assert_eq!(
            e.frame(Direction::Up, &ids("X"), b"MSH|").verdict,
            Verdict::Corrupt(vec![(3, b'|', b'?')])
        );
        let d = e.frame(Direction::Up, &ids("X"), b"MS");
        assert_eq!(d.verdict, Verdict::Forward);
        assert!(d.applied[0].detail.contains("unchanged"));
    }

    #[test]
    fn triggers_fire_once_after_the_nth_frame() {
        let mut e = engine(1, &["reset:after=2,dir=down", "half-close:after=1,dir=up"]);
        assert_eq!(e.frame(Direction::Up, &ids("A"), b"").trigger, Some(Trigger::HalfClose));
        assert_eq!(e.frame(Direction::Down, &ids("A"), b"").trigger, None);
        assert_eq!(e.frame(Direction::Down, &ids("A"), b"").trigger, Some(Trigger::Reset));
        assert_eq!(e.frame(Direction::Up, &ids("A"), b"").trigger, None);
        // Byte triggers fire inside the read that crosses them, once, and not on frames.
        let mut e = engine(1, &["reset:bytes=10,dir=up", "half-close:bytes=4"]);
        assert_eq!(e.frame(Direction::Up, &ids("A"), b"").trigger, None);
        let (cut, trigger, applied) = e.bytes(Direction::Down, 0, 8).unwrap();
        assert_eq!((cut, trigger, applied.rule), (4, Trigger::HalfClose, 2));
        assert!(e.bytes(Direction::Up, 0, 9).is_none());
        assert_eq!(e.bytes(Direction::Up, 9, 5).map(|b| (b.0, b.1)), Some((1, Trigger::Reset)));
        assert!(e.bytes(Direction::Up, 14, 100).is_none());
        let mut e = engine(1, &["outage:ms=20", "outage:ms=30,after=1"]);
        assert_eq!(e.take_immediate_outages().len(), 1);
        assert!(e.take_immediate_outages().is_empty());
        let d = e.frame(Direction::Up, &ids("A"), b"");
        assert_eq!(d.trigger, Some(Trigger::Outage(Duration::from_millis(30))));
    }

    #[test]
    fn shaping_combines_kinds_and_reaches_unframed_bytes() {
        let mut e = engine(
            1,
            &[
                "latency:ms=50,dir=down",
                "latency:ms=99",
                "slice:size=1,ms=2,dir=up",
                "bandwidth:bps=10",
            ],
        );
        let up = e.frame(Direction::Up, &ids("A"), b"");
        assert_eq!(
            up.shaping,
            Shaping {
                latency: Some(Duration::from_millis(99)),
                bandwidth: Some(10),
                slice: Some((1, Duration::from_millis(2)))
            }
        );
        assert_eq!(e.unframed(Direction::Down).0.latency, Some(Duration::from_millis(50)));
        let mut e = engine(1, &["slice:size=1,frame=1"]);
        assert_eq!(e.unframed(Direction::Up).0, Shaping::default(), "frame filters skip unframed");
        assert!(e.frame(Direction::Up, &ids("A"), b"").shaping.slice.is_some());
        assert!(e.frame(Direction::Up, &ids("A"), b"").shaping.slice.is_none());
    }

    #[test]
    fn rules_are_added_removed_and_cleared_by_id() {
        let mut e = engine(1, &["drop", "duplicate"]);
        assert!(e.remove(1));
        assert!(!e.remove(1));
        assert_eq!(e.add(parse_spec("delay:ms=1").unwrap()), 3);
        assert_eq!(e.rules().iter().map(|r| r.id).collect::<Vec<_>>(), vec![2, 3]);
        e.clear();
        assert!(e.rules().is_empty());
        assert_eq!(verdicts(&mut e, 1), vec![Verdict::Forward]);
    }
}
