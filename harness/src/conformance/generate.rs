//! Tests generated from a profile: for each message profile, seeded valid messages (every R
//! and RE element valued, optional ones varied by the seed, conditions and statements
//! satisfied) and one broken variant per constraint, labelled with the rule kind and the place
//! in the profile it breaks. Built on the compiled [`Plan`] so generation and judging read the
//! profile the same way.

use super::draft::{Draft, DraftSegment, Node as Value};
use super::eval::{eval, Context};
use super::plan::{Field, Kind, Plan, ValueSetRef};
use super::violation::Rule;
use super::Validator;
use crate::hl7::datatype::sample_value;
use crate::hl7::message::Message;
use crate::hl7::structures::grammar::{Item, Node as Grammar};
use crate::hl7::structures::{required_fields, structure, structure_for_event, Version};
use crate::hl7::Severity;
use crate::profile::expr::Node as Expr;
use crate::profile::usage::Plain;
use crate::profile::TargetProfile;

/// Attempts per valid message: a message whose statements the construction does not satisfy
/// is rebuilt with the next seed variant, this many times at most.
const MAX_ATTEMPTS: u64 = 8;

/// Examples tried for a pattern, in order; the first the pattern matches is used.
const PATTERN_EXAMPLES: &[&str] =
    &["client@example.org", "alias{controller}", "A1", "1", "A", "abc", "ABC-123", "2024-01-01"];

/// The generated tests of one message profile.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The message profile's id.
    pub profile: String,
    pub valid: Vec<String>,
    pub broken: Vec<Broken>,
    /// Elements the generator could not value or break, with why.
    pub not_generatable: Vec<String>,
}

/// A message that breaks exactly one constraint.
#[derive(Debug, Clone)]
pub struct Broken {
    pub text: String,
    pub rule: Rule,
    /// Where the constraint stands in the profile (as violations name it).
    pub place: String,
    pub description: String,
    /// The element changed (`PID-5.1`, `PV1`), when one is.
    pub path: Option<String>,
    /// Whether the break is only seen after the first valid message (a `unique` statement).
    pub after_first_valid: bool,
}

/// Generates `count` valid messages and the broken variants of every message profile.
pub fn generate(profile: &TargetProfile, seed: u64, count: usize) -> Vec<Generated> {
    let default_version = profile_version(profile);
    let mut counter = Counter { next: seed.wrapping_mul(1000) % 1_000_000 };
    profile
        .message_profiles
        .iter()
        .map(|p| {
            let plan = Plan::compile(p, &profile.value_sets);
            let version = plan.version.clone().unwrap_or_else(|| default_version.clone());
            let mut builder =
                Builder { plan: &plan, version, counter: &mut counter, notes: vec![] };
            let mut valid = Vec::new();
            let mut first = None;
            for k in 0..count as u64 {
                let draft = builder.valid(seed.wrapping_add(k), profile);
                valid.push(draft.encode());
                first.get_or_insert(draft);
            }
            let broken = match &first {
                Some(draft) => super::breaks::broken(&mut builder, draft),
                None => Vec::new(),
            };
            let mut notes = builder.notes;
            notes.sort();
            notes.dedup();
            Generated { profile: plan.id.clone(), valid, broken, not_generatable: notes }
        })
        .collect()
}

fn profile_version(profile: &TargetProfile) -> String {
    use crate::profile::AnyOr;
    match &profile.versions {
        Some(AnyOr::Only(list)) => list.first().cloned(),
        _ => None,
    }
    .unwrap_or_else(|| "2.5.1".to_string())
}

/// Distinct values across the whole generated set: control ids and untyped fillers, so no
/// two messages share a value a `unique` statement may name.
pub(super) struct Counter {
    next: u64,
}

impl Counter {
    fn next(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
}

pub(super) struct Builder<'p, 'c> {
    pub plan: &'p Plan,
    pub version: String,
    pub counter: &'c mut Counter,
    pub notes: Vec<String>,
}

impl Builder<'_, '_> {
    pub fn filler(&mut self) -> String {
        format!("V{}", self.counter.next())
    }

    /// A valid message; rebuilt with other seed variants until the validator finds no error
    /// or warning in it, [`MAX_ATTEMPTS`] at most (the last one is kept either way).
    fn valid(&mut self, seed: u64, profile: &TargetProfile) -> Draft {
        let mut draft = self.build(seed, false);
        for attempt in 0..MAX_ATTEMPTS {
            draft = self.build(seed.wrapping_add(attempt * 7919), attempt > 0);
            let mut validator = Validator::new(profile);
            let text = draft.encode();
            let Ok(message) = Message::parse(text.as_bytes()) else { continue };
            let clean = validator
                .validate(&message)
                .iter()
                .all(|v| !matches!(v.severity, Severity::Error | Severity::Warning));
            if clean {
                break;
            }
        }
        draft
    }

    /// One message: the header, the segments the standard requires and the profile asks for,
    /// each valued by its rules. `all_optional` values every optional element too.
    fn build(&mut self, seed: u64, all_optional: bool) -> Draft {
        let plan = self.plan;
        let code = plan.key.code.clone();
        let event = plan.key.event.clone();
        let std_version = Version::parse(&self.version);
        let structure_id = std_version
            .and_then(|v| structure_for_event(v, &code, &event, None))
            .map(str::to_string);
        let mut wanted: Vec<String> = Vec::new();
        for rule in &plan.segment_rules {
            if rule.usage.is_some_and(|u| u.resolve(true) != Plain::NotSupported) {
                wanted.push(rule.id.clone());
            }
        }
        for id in plan.fields_by_id.keys() {
            if plan.segment_rules.iter().all(|r| r.id != *id || r.usage.is_some()) {
                wanted.push(id.clone());
            }
        }
        let mut forced: Vec<(String, Vec<usize>)> = Vec::new();
        for statement in &plan.statements {
            if let Some(expr) = &statement.assert {
                valued_paths(&expr.node, &mut forced);
            }
        }
        for (id, _) in &forced {
            wanted.push(id.clone());
        }
        let ids = match &plan.tree {
            Some(tree) => tree_segments(tree),
            None => {
                let grammar = std_version
                    .zip(structure_id.as_deref())
                    .and_then(|(v, id)| structure(v, id))
                    .map(|s| s.items.as_slice());
                ordered(grammar, &wanted)
            }
        };
        let mut draft = Draft::default();
        for id in ids {
            let mut segment = DraftSegment::new(&id);
            if id == "MSH" {
                self.header(&mut segment, structure_id.as_deref());
            } else if let Some(v) = std_version {
                for &position in required_fields(v, &id) {
                    if let Some(node) = segment.at(&[position]) {
                        node.text = self.filler();
                    }
                }
            }
            draft.segments.push(segment);
        }
        // Fields by rule, after the standard's fillers so the profile's values win.
        for index in 0..draft.segments.len() {
            let id = draft.segments[index].id.clone();
            let fields = self.fields_for(&id, index);
            if let Some(fields) = fields {
                for (k, rule) in fields.iter().enumerate() {
                    let vary = all_optional || (seed >> (k % 60)) & 1 == 1;
                    self.value_rule(&mut draft, index, &[], rule, vary, false);
                }
            }
        }
        for (id, positions) in &forced {
            if let Some(segment) = draft.segment(id) {
                if !segment.valued(positions) {
                    let text = self.filler();
                    if let Some(node) = segment.at(positions) {
                        *node = Value::text(text);
                    }
                }
            }
        }
        // Conditional elements once everything else is in place (their predicates read it).
        for index in 0..draft.segments.len() {
            let id = draft.segments[index].id.clone();
            if let Some(fields) = self.fields_for(&id, index) {
                for rule in fields.iter() {
                    self.value_rule(&mut draft, index, &[], rule, false, true);
                }
            }
        }
        draft
    }

    /// The field rules of the segment at `index` (the tree's, when it places the segment).
    pub fn fields_for(&self, id: &str, _index: usize) -> Option<std::sync::Arc<Vec<Field>>> {
        self.plan.fields_by_id.get(id).cloned()
    }

    fn header(&mut self, segment: &mut DraftSegment, structure_id: Option<&str>) {
        let key = &self.plan.key;
        let control = format!("GEN{}", self.counter.next());
        let mut set = |positions: &[usize], text: &str| {
            if let Some(node) = segment.at(positions) {
                node.text = text.to_string();
            }
        };
        set(&[3], "EHR");
        set(&[4], "SITE");
        set(&[5], "RECEIVER");
        set(&[6], "FACILITY");
        set(&[7], "20240101120000");
        set(&[9, 1], &key.code);
        set(&[9, 2], &key.event);
        if let Some(id) = structure_id {
            set(&[9, 3], id);
        }
        set(&[10], &control);
        set(&[11], "P");
        let version = self.version.clone();
        set(&[12], &version);
    }

    /// Values `rule` (at `prefix` + its position) in the segment at `index` when its usage
    /// asks for it: R, RE, or an optional one when `vary`. `conditional` runs the pass for
    /// C(a/b) elements only.
    fn value_rule(
        &mut self,
        draft: &mut Draft,
        index: usize,
        prefix: &[usize],
        rule: &Field,
        vary: bool,
        conditional: bool,
    ) {
        let mut positions = prefix.to_vec();
        positions.push(rule.position);
        let id = draft.segments[index].id.clone();
        if id == "MSH" && positions.len() == 1 && matches!(rule.position, 1 | 2 | 9 | 10 | 12) {
            return;
        }
        if id == "MSH" && positions.first() == Some(&9) {
            return;
        }
        let usage = match rule.usage {
            Some(u) if u.is_conditional() => {
                if !conditional {
                    return;
                }
                let text = draft.encode();
                let holds = match Message::parse(text.as_bytes()) {
                    Ok(m) => rule
                        .predicate
                        .as_ref()
                        .is_none_or(|p| eval(p, &m, Context { segment: Some((id.as_str(), 1)) })),
                    Err(_) => false,
                };
                u.resolve(holds)
            }
            Some(u) => u.resolve(true),
            None => Plain::Optional,
        };
        let wanted = match usage {
            Plain::Required | Plain::RequiredOrEmpty => true,
            Plain::Optional => vary || has_own_constraint(rule),
            Plain::NotSupported => {
                draft.segments[index].clear(&positions);
                return;
            }
        };
        if conditional && !rule.usage.is_some_and(|u| u.is_conditional()) {
            // Conditional children of an unconditional element.
            if draft.segments[index].valued(&positions) {
                for child in &rule.components {
                    self.value_rule(draft, index, &positions, child, false, true);
                }
            }
            return;
        }
        if !wanted {
            return;
        }
        if rule.components.is_empty() {
            let text = if self.named_unique(&id, &positions) && is_free_text(rule) {
                // Two messages must not share it: a sample word could repeat.
                Some(fit(self.filler(), rule))
            } else {
                self.leaf(rule)
            };
            if let Some(text) = text {
                if let Some(node) = draft.segments[index].at(&positions) {
                    *node = Value::text(text);
                }
            }
            return;
        }
        for (k, child) in rule.components.iter().enumerate() {
            let vary_child = vary && k % 2 == 0;
            self.value_rule(draft, index, &positions, child, vary_child, false);
        }
        if !draft.segments[index].valued(&positions) {
            // No component asked for a value: the first free one carries the element.
            let free = (1..).find(|p| rule.components.iter().all(|c| c.position != *p));
            let text = self.filler();
            if let Some(node) = free.and_then(|p| {
                let mut at = positions.clone();
                at.push(p);
                draft.segments[index].at(&at)
            }) {
                *node = Value::text(text);
            }
        }
    }

    /// Whether a `unique` statement names this element or one it is part of (`PID-3` holds
    /// `PID-3.1`).
    fn named_unique(&self, segment: &str, positions: &[usize]) -> bool {
        self.plan.statements.iter().filter_map(|s| s.unique.as_ref()).any(|unique| {
            let path = &unique.0;
            let named: Vec<usize> =
                [path.field, path.component, path.subcomponent].into_iter().flatten().collect();
            path.segment_id() == segment && positions.starts_with(&named)
        })
    }

    /// A value for an element without components: fixed, from its value set, a pattern's
    /// example, a data type sample, else a distinct filler; fitted to its length.
    pub fn leaf(&mut self, rule: &Field) -> Option<String> {
        let seed = self.counter.next();
        let text = if let Some(fixed) = &rule.fixed {
            fixed.clone()
        } else if let Some(set) = &rule.value_set {
            match set {
                ValueSetRef::Site { codes, .. } => {
                    let mut codes: Vec<&String> = codes.iter().collect();
                    codes.sort();
                    match codes.get(seed as usize % codes.len().max(1)) {
                        Some(code) => code.to_string(),
                        None => {
                            self.notes.push(format!("{}: empty value set", rule.place));
                            return None;
                        }
                    }
                }
                ValueSetRef::Hl7Table { number, .. } => {
                    let standard = crate::hl7::standard::Version::parse(&self.version)
                        .and_then(|v| crate::hl7::standard::table(v, *number))
                        .map(|t| t.codes.clone())
                        .filter(|codes| !codes.is_empty());
                    match standard.as_deref().or(table_codes(*number)) {
                        Some(codes) => codes[seed as usize % codes.len()].to_string(),
                        None => self.filler(),
                    }
                }
            }
        } else if let Some((text, re)) = &rule.pattern {
            match PATTERN_EXAMPLES.iter().find(|e| re.is_match(e)) {
                Some(example) => example.to_string(),
                None => {
                    self.notes.push(format!(
                        "{}: no example matches pattern {text:?} (not generatable)",
                        rule.place
                    ));
                    return None;
                }
            }
        } else if let Some(sample) =
            rule.datatype.as_deref().and_then(|d| sample_value(d, &self.version, seed))
        {
            sample
        } else {
            self.filler()
        };
        Some(fit(text, rule))
    }
}

/// Whether the element takes any text a filler is: a string type (or none known), with no
/// fixed value, value set or pattern to keep to.
fn is_free_text(rule: &Field) -> bool {
    matches!(rule.datatype.as_deref(), None | Some("ST" | "TX" | "FT"))
        && rule.fixed.is_none()
        && rule.value_set.is_none()
        && rule.pattern.is_none()
}

/// Fits a value to a rule's length: cut to its maximum, padded to its minimum.
fn fit(mut text: String, rule: &Field) -> String {
    if let Some(length) = rule.length {
        if let Some(max) = length.max {
            text = text.chars().take(max as usize).collect();
        }
        while text.chars().count() < length.min as usize {
            text.push('0');
        }
    }
    text
}

fn has_own_constraint(rule: &Field) -> bool {
    rule.pattern.is_some() || rule.fixed.is_some()
}

/// Codes of HL7 tables the standard's generated tables leave empty (user-defined tables),
/// for valuing elements bound to them; others get a filler.
fn table_codes(number: u16) -> Option<&'static [&'static str]> {
    match number {
        1 => Some(&["F", "M", "O", "U"]),
        180 => Some(&["MAD", "MUP", "MDC", "MAC", "MDL"]),
        _ => None,
    }
}

/// The paths a statement needs valued to hold: every `is valued` of an `and`, the first
/// alternative of an `or`.
fn valued_paths(node: &Expr, out: &mut Vec<(String, Vec<usize>)>) {
    match node {
        Expr::Valued(p) => {
            let path = &p.path;
            let positions: Vec<usize> =
                [path.field, path.component, path.subcomponent].into_iter().flatten().collect();
            out.push((path.segment_id().to_string(), positions));
        }
        Expr::And(nodes) => nodes.iter().for_each(|n| valued_paths(n, out)),
        Expr::Or(nodes) => {
            if let Some(first) = nodes.first() {
                valued_paths(first, out);
            }
        }
        _ => {}
    }
}

/// The segments of a profile's own tree that must be sent: R and RE ones, in order.
fn tree_segments(tree: &[super::plan::Element]) -> Vec<String> {
    let mut out = Vec::new();
    for element in tree {
        if element.usage.resolve(true) == Plain::NotSupported
            || matches!(element.usage.resolve(true), Plain::Optional)
        {
            continue;
        }
        match &element.kind {
            Kind::Segment { id, .. } => out.push(id.clone()),
            Kind::Group(children) => out.extend(tree_segments(children)),
        }
    }
    if out.first().map(String::as_str) != Some("MSH") {
        out.insert(0, "MSH".to_string());
    }
    out
}

/// MSH, the segments the standard's structure requires and the `wanted` ones, in the
/// structure's order (wanted ones it does not place go at the end).
fn ordered(grammar: Option<&[Item]>, wanted: &[String]) -> Vec<String> {
    let mut out = vec!["MSH".to_string()];
    if let Some(items) = grammar {
        walk(items, false, wanted, &mut out);
    }
    for id in wanted {
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    out
}

fn walk(items: &[Item], optional: bool, wanted: &[String], out: &mut Vec<String>) {
    for item in items {
        let optional = optional || item.optional;
        match &item.node {
            Grammar::Segment(id) => {
                if (!optional || wanted.contains(id)) && !out.contains(id) {
                    out.push(id.clone());
                }
            }
            Grammar::Group { items, .. } => walk(items, optional, wanted, out),
            Grammar::Choice(alternatives) => {
                if let Some(first) = alternatives.first() {
                    walk(first, optional, wanted, out);
                }
            }
        }
    }
}
