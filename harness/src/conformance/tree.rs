//! Matching a message's segments against a profile's `segments:` tree: which element each
//! segment is, and the usage and cardinality of every element in every group occurrence.
//!
//! Greedy, as HL7 parsers read messages (HAPI does the same): each element takes as many
//! segments as it can, then the next element is tried. A group occurs when its members consume
//! at least one segment; what a group's members require is judged only in the occurrences the
//! message has. Segments whose id the tree never names are reported once each and set aside
//! first; a named segment out of place at the top level is reported and skipped, so one
//! misplaced segment does not make every later one look missing.

use super::eval::{eval, Context};
use super::plan::{Element, Kind};
use super::violation::{Rule, Violation};
use crate::hl7::message::Message;
use crate::hl7::Severity;
use crate::profile::usage::Plain;

/// At most this many structure violations per message.
const MAX_STRUCTURE_FINDINGS: usize = 50;

/// Which tree element each segment of the message was matched to (by 0-based segment
/// position), with the violations found on the way.
pub struct Matched<'p> {
    pub assigned: Vec<Option<&'p Element>>,
    pub violations: Vec<Violation>,
    /// Places of the elements the message has.
    pub present: Vec<String>,
}

pub fn match_tree<'p>(tree: &'p [Element], message: &Message<'_>, profile_id: &str) -> Matched<'p> {
    let ids: Vec<&str> = message.segments().map(|s| s.id()).collect();
    let mut m = Matcher {
        ids: &ids,
        kept: Vec::new(),
        pos: 0,
        assigned: vec![None; ids.len()],
        violations: Vec::new(),
        message,
        profile_id,
        structure_findings: 0,
        present: Vec::new(),
    };
    for (i, id) in ids.iter().enumerate() {
        if tree.iter().any(|e| e.holds(id)) {
            m.kept.push(i);
        } else {
            m.structure(i, format!("segment {id} is not in the profile"), Severity::Warning);
        }
    }
    let mut next = 0;
    while next < tree.len() {
        let element = &tree[next];
        m.element(element);
        // A segment the elements after this one cannot take, but an earlier one could, is out
        // of place: report it and go on with the same element.
        if let Some(&at) = m.kept.get(m.pos) {
            let id = ids[at];
            let later = tree[next + 1..].iter().any(|e| e.holds(id));
            if !later {
                m.structure(at, format!("segment {id} is out of place here"), Severity::Error);
                m.pos += 1;
                continue;
            }
        }
        next += 1;
    }
    while let Some(&at) = m.kept.get(m.pos) {
        m.structure(at, format!("segment {} is out of place here", ids[at]), Severity::Error);
        m.pos += 1;
    }
    Matched { assigned: m.assigned, violations: m.violations, present: m.present }
}

struct Matcher<'p, 'i, 'm> {
    ids: &'i [&'i str],
    /// Positions of the segments the tree names, in order.
    kept: Vec<usize>,
    /// Index into `kept`.
    pos: usize,
    assigned: Vec<Option<&'p Element>>,
    violations: Vec<Violation>,
    message: &'i Message<'m>,
    profile_id: &'i str,
    structure_findings: usize,
    present: Vec<String>,
}

impl<'p> Matcher<'p, '_, '_> {
    fn structure(&mut self, at: usize, text: String, severity: Severity) {
        self.structure_findings += 1;
        if self.structure_findings > MAX_STRUCTURE_FINDINGS {
            return;
        }
        let segment = self.message.segment(at);
        let occurrence = self.occurrence(at);
        self.violations.push(Violation {
            severity,
            rule: Rule::Structure,
            path: format!("{}[{occurrence}]", self.ids[at]),
            segment_index: segment.map(|s| s.index()),
            message: text,
            profile: self.profile_id.to_string(),
            place: "segments".into(),
        });
    }

    /// 1-based occurrence of the segment at `at` among segments with its id.
    fn occurrence(&self, at: usize) -> usize {
        self.ids[..=at].iter().filter(|id| **id == self.ids[at]).count()
    }

    fn current(&self) -> Option<&str> {
        self.kept.get(self.pos).map(|&at| self.ids[at])
    }

    /// Consumes as many occurrences of the element as the message has here, then judges its
    /// usage and cardinality. Returns whether anything was consumed.
    fn element(&mut self, element: &'p Element) -> bool {
        let mut count = 0usize;
        let first_at = self.kept.get(self.pos).copied();
        loop {
            let consumed = match &element.kind {
                Kind::Segment { id, .. } => {
                    if self.current() == Some(id.as_str()) {
                        let at = self.kept[self.pos];
                        self.assigned[at] = Some(element);
                        self.pos += 1;
                        true
                    } else {
                        false
                    }
                }
                Kind::Group(children) => self.group(children),
            };
            // Every occurrence consumed at least one segment, so this ends.
            if !consumed {
                break;
            }
            count += 1;
        }
        self.judge(element, count, first_at);
        count > 0
    }

    /// One occurrence of a group: its members in order. When nothing is consumed, what the
    /// members reported is taken back (the group is absent, not broken).
    fn group(&mut self, children: &'p [Element]) -> bool {
        let start = self.pos;
        let reported = self.violations.len();
        for child in children {
            self.element(child);
        }
        if self.pos == start {
            self.violations.truncate(reported);
            false
        } else {
            true
        }
    }

    fn judge(&mut self, element: &Element, count: usize, first_at: Option<usize>) {
        if count > 0 {
            self.present.push(element.place.clone());
        }
        let context = Context::default();
        let holds = element.predicate.as_ref().is_none_or(|p| eval(p, self.message, context));
        let asked = element.usage.resolve(holds);
        let at = first_at.filter(|_| count > 0);
        let (path, segment_index) = match (&element.kind, at) {
            (Kind::Segment { id, .. }, Some(at)) => (
                format!("{id}[{}]", self.occurrence(at)),
                self.message.segment(at).map(|s| s.index()),
            ),
            (Kind::Segment { id, .. }, None) => (id.clone(), None),
            (Kind::Group(_), _) => (element.label.clone(), None),
        };
        let mut report = |severity, rule, message: String| {
            self.violations.push(Violation {
                severity,
                rule,
                path: path.clone(),
                segment_index,
                message,
                profile: self.profile_id.to_string(),
                place: element.place.clone(),
            })
        };
        let usage = element.usage;
        match asked {
            Plain::Required if count == 0 => report(
                Severity::Error,
                Rule::Usage,
                format!("{} is required (usage {usage}) but absent", element.label),
            ),
            Plain::RequiredOrEmpty if count == 0 => report(
                Severity::Warning,
                Rule::Usage,
                format!(
                    "{} (usage {usage}) is absent: it must be sent when the sender has the data",
                    element.label
                ),
            ),
            Plain::NotSupported if count > 0 => report(
                Severity::Error,
                Rule::Usage,
                format!("{} is not supported (usage {usage}) but present", element.label),
            ),
            _ => {}
        }
        let cardinality = element.cardinality;
        if count > 0 && !cardinality.allows(count) && asked != Plain::NotSupported {
            report(
                Severity::Error,
                Rule::Cardinality,
                format!(
                    "{} occurs {count} time(s); the profile allows {cardinality}",
                    element.label
                ),
            );
        }
    }
}
