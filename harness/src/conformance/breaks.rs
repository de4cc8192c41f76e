//! One broken variant per constraint of a message profile, each made from the first valid
//! message by changing one thing: an R element cleared, an X element valued, a value outside
//! its value set, too long, of a bad data type, off its fixed value or pattern, a condition
//! broken, a segment missing or repeated, a statement made false, a unique value sent again.

use super::draft::{Draft, DraftSegment, Node as Value};
use super::eval::{eval, holds_everywhere, Context};
use super::generate::{Broken, Builder};
use super::plan::{Field, ValueSetRef};
use super::violation::Rule;
use crate::hl7::datatype::invalid_value;
use crate::hl7::message::Message;
use crate::profile::expr::Node as Expr;
use crate::profile::usage::{Plain, Usage};

/// Every broken variant of `valid` the plan's constraints give.
/// `fresh` is another valid message, the first of the pair a `unique` break sends.
pub(super) fn broken(builder: &mut Builder<'_, '_>, valid: &Draft, fresh: &Draft) -> Vec<Broken> {
    let plan = builder.plan;
    let mut out = Vec::new();
    for rule in &plan.segment_rules {
        let present = valid.segments.iter().any(|s| s.id == rule.id);
        if let Some(usage) = rule.usage {
            match usage.resolve(true) {
                Plain::Required if present && !usage.is_conditional() => {
                    let mut draft = valid.clone();
                    draft.segments.retain(|s| s.id != rule.id);
                    push(
                        &mut out,
                        draft,
                        builder,
                        Rule::Usage,
                        &rule.place,
                        format!("{}: segment (usage {usage}) left out", rule.id),
                        None,
                    );
                }
                Plain::NotSupported if !usage.is_conditional() => {
                    let mut draft = valid.clone();
                    let mut segment = DraftSegment::new(&rule.id);
                    segment.at(&[1]).into_iter().for_each(|n| n.text = "1".into());
                    draft.segments.push(segment);
                    push(
                        &mut out,
                        draft,
                        builder,
                        Rule::Usage,
                        &rule.place,
                        format!("{}: segment (usage {usage}) sent", rule.id),
                        None,
                    );
                }
                _ => {}
            }
        }
        if let (Some(cardinality), true) = (rule.cardinality, present) {
            if let Some(max) = cardinality.max.filter(|m| *m > 0 && *m < 50) {
                let mut draft = valid.clone();
                let Some(at) = draft.segments.iter().position(|s| s.id == rule.id) else {
                    continue;
                };
                let copy = draft.segments[at].clone();
                let have = draft.segments.iter().filter(|s| s.id == rule.id).count();
                for _ in have..=(max as usize) {
                    draft.segments.insert(at + 1, copy.clone());
                }
                push(
                    &mut out,
                    draft,
                    builder,
                    Rule::Cardinality,
                    &rule.place,
                    format!("{}: segment sent {} times (allowed {cardinality})", rule.id, max + 1),
                    None,
                );
            }
        }
    }
    let ids: Vec<String> = valid.segments.iter().map(|s| s.id.clone()).collect();
    let mut done = std::collections::HashSet::new();
    for (index, id) in ids.iter().enumerate() {
        if !done.insert(id.clone()) {
            continue;
        }
        let Some(fields) = builder.fields_for(id, index) else { continue };
        for rule in fields.iter() {
            field_breaks(builder, valid, index, &[], rule, &mut out);
        }
    }
    for statement in &plan.statements {
        let place = format!("statements {}", statement.id);
        if let Some(expr) = &statement.assert {
            match falsify(&expr.node, statement.each.as_deref(), valid) {
                Some(draft) => push(
                    &mut out,
                    draft,
                    builder,
                    Rule::Statement,
                    &place,
                    format!("statement {} made false: {}", statement.id, expr),
                    None,
                ),
                None => builder
                    .notes
                    .push(format!("{place}: no single change makes it false (not generatable)")),
            }
        }
        if let Some(path) = &statement.unique {
            // The fresh message again under a new control id: its unique value repeats.
            let mut draft = fresh.clone();
            let control = format!("GEN{}", builder.filler());
            if let Some(node) = draft.segment("MSH").and_then(|s| s.at(&[10])) {
                node.text = control;
            }
            let p = &path.0;
            let positions: Vec<usize> =
                [p.field, p.component, p.subcomponent].into_iter().flatten().collect();
            let sent = fresh
                .segments
                .iter()
                .find(|s| s.id == p.segment_id())
                .is_some_and(|s| s.valued(&positions));
            if sent {
                push(
                    &mut out,
                    draft,
                    builder,
                    Rule::Unique,
                    &place,
                    format!("{path} of the message sent first sent again"),
                    Some(fresh.encode()),
                );
            } else {
                builder.notes.push(format!(
                    "{place}: {path} is not valued in the valid message (not generatable)"
                ));
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn push(
    out: &mut Vec<Broken>,
    draft: Draft,
    _builder: &Builder<'_, '_>,
    rule: Rule,
    place: &str,
    description: String,
    first: Option<String>,
) {
    out.push(Broken {
        text: draft.encode(),
        rule,
        place: place.to_string(),
        path: description.split(':').next().filter(|p| !p.contains(' ')).map(str::to_string),
        description,
        first,
    });
}

/// The variants of one field, component or sub-component rule (and of its children), in the
/// first segment with that id.
fn field_breaks(
    builder: &mut Builder<'_, '_>,
    valid: &Draft,
    index: usize,
    prefix: &[usize],
    rule: &Field,
    out: &mut Vec<Broken>,
) {
    let mut positions = prefix.to_vec();
    positions.push(rule.position);
    let id = valid.segments[index].id.clone();
    let is_header_key = id == "MSH" && matches!(positions.first(), Some(1 | 2 | 9 | 10 | 12));
    if is_header_key {
        // MSH-1, 2, 9, 10 and 12 stay valid so the message is routed to its profile at all.
        return;
    }
    let path =
        format!("{id}-{}", positions.iter().map(usize::to_string).collect::<Vec<_>>().join("."));
    let valued = valid.segments[index].valued(&positions);
    let with = |text: Option<String>, rule_kind: Rule, what: String, out: &mut Vec<Broken>| {
        let mut draft = valid.clone();
        let segment = &mut draft.segments[index];
        match text {
            Some(text) => {
                if let Some(node) = segment.at(&positions) {
                    *node = Value::text(text);
                }
            }
            None => {
                segment.clear(&positions);
                if positions.len() > 1 && !segment.valued(&positions[..positions.len() - 1]) {
                    // Keep the parent valued so only this element is missing.
                    let mut sibling = positions.clone();
                    if let Some(last) = sibling.last_mut() {
                        *last = if *last == 1 { 2 } else { 1 };
                    }
                    if let Some(node) = segment.at(&sibling) {
                        node.text = "P".into();
                    }
                }
            }
        }
        out.push(Broken {
            text: draft.encode(),
            rule: rule_kind,
            place: rule.place.clone(),
            description: format!("{path}: {what}"),
            path: Some(path.clone()),
            first: None,
        });
    };
    if let Some(usage) = rule.usage {
        match (usage, valued) {
            (Usage::R, true) => with(None, Rule::Usage, "required, left empty".into(), out),
            (u, true)
                if u.is_conditional()
                    && holds(rule, valid, &id) == Some(true)
                    && u.resolve(true) == Plain::Required =>
            {
                with(None, Rule::Usage, format!("condition holds (usage {u}), left empty"), out)
            }
            (Usage::X, false) => {
                with(Some("X".into()), Rule::Usage, "not supported, sent".into(), out)
            }
            _ => {}
        }
    }
    if !valued {
        return;
    }
    if rule.components.is_empty() {
        if let Some(ValueSetRef::Site { name, codes }) = &rule.value_set {
            let code =
                ["ZZ", "Q", "ZZZ9"].iter().find(|c| !codes.contains(**c)).map(|c| c.to_string());
            with(code, Rule::ValueSet, format!("a code outside value set {name}"), out);
        } else if let Some(ValueSetRef::Hl7Table { name, number }) = &rule.value_set {
            let outside = ["ZZ", "Q", "ZZZ9"]
                .iter()
                .find(|c| super::base::table_has(*number, c, &builder.version) == Some(false));
            match outside {
                Some(code) => with(Some(code.to_string()), Rule::ValueSet, format!("a code outside {name}"), out),
                None => builder.notes.push(format!("{}: {name} has no codes in the harness's tables for {}, a code outside it is not judged (not generatable)", rule.place, builder.version)),
            }
        }
        if let Some(max) = rule.length.and_then(|l| l.max) {
            if max < 10_000 {
                let text: String = std::iter::repeat_n('9', max as usize + 1).collect();
                with(Some(text), Rule::Length, format!("{} characters (max {max})", max + 1), out);
            }
        }
        if let Some(datatype) = &rule.datatype {
            match invalid_value(datatype, &builder.version) {
                Some(bad) => {
                    with(Some(bad), Rule::Datatype, format!("not a valid {datatype}"), out)
                }
                None => builder.notes.push(format!(
                    "{}: data type {datatype} has no format to break (not generatable)",
                    rule.place
                )),
            }
        }
        if let Some(fixed) = &rule.fixed {
            let other = if fixed == "Z" { "Y" } else { "Z" };
            with(Some(other.into()), Rule::Fixed, format!("not the fixed value {fixed:?}"), out);
        }
        if let Some((text, re)) = &rule.pattern {
            match ["nomatch", "!", "a b", "9"].iter().find(|c| !re.is_match(c)) {
                Some(bad) => with(
                    Some(bad.to_string()),
                    Rule::Pattern,
                    format!("does not match {text:?}"),
                    out,
                ),
                None => builder.notes.push(format!(
                    "{}: pattern {text:?} matches every probe (not generatable)",
                    rule.place
                )),
            }
        }
    }
    for child in &rule.components {
        field_breaks(builder, valid, index, &positions, child, out);
    }
}

fn holds(rule: &Field, valid: &Draft, id: &str) -> Option<bool> {
    let text = valid.encode();
    let message = Message::parse(text.as_bytes()).ok()?;
    Some(
        rule.predicate
            .as_ref()
            .is_none_or(|p| eval(p, &message, Context { segment: Some((id, 1)) })),
    )
}

/// A change of `valid` that makes the statement false: the first candidate the evaluator
/// agrees with.
fn falsify(node: &Expr, each: Option<&str>, valid: &Draft) -> Option<Draft> {
    let mut candidates = Vec::new();
    candidates_for(node, valid, &mut candidates);
    candidates.into_iter().find(|draft| {
        let text = draft.encode();
        Message::parse(text.as_bytes()).is_ok_and(|m| !holds_everywhere(node, each, &m))
    })
}

fn candidates_for(node: &Expr, valid: &Draft, out: &mut Vec<Draft>) {
    match node {
        Expr::Valued(p) => {
            let path = &p.path;
            let positions: Vec<usize> =
                [path.field, path.component, path.subcomponent].into_iter().flatten().collect();
            let mut draft = valid.clone();
            for segment in draft.segments.iter_mut().filter(|s| s.id == path.segment_id()) {
                segment.clear(&positions);
                if positions.len() > 1 && !segment.valued(&positions[..1]) {
                    let mut sibling = positions.clone();
                    if let Some(last) = sibling.last_mut() {
                        *last = if *last == 1 { 2 } else { 1 };
                    }
                    if let Some(n) = segment.at(&sibling) {
                        n.text = "P".into();
                    }
                }
            }
            out.push(draft);
        }
        Expr::Or(nodes) => {
            // Every alternative false at once.
            let mut draft = valid.clone();
            for n in nodes {
                let mut inner = Vec::new();
                candidates_for(n, &draft, &mut inner);
                if let Some(first) = inner.into_iter().next() {
                    draft = first;
                }
            }
            out.push(draft);
        }
        Expr::And(nodes) => nodes.iter().for_each(|n| candidates_for(n, valid, out)),
        Expr::Count { path, .. } => {
            // One more (or one less) occurrence of the counted segment.
            let id = path.path.segment_id().to_string();
            let mut more = valid.clone();
            let at = more.segments.iter().rposition(|s| s.id == id);
            let mut segment = DraftSegment::new(&id);
            segment.at(&[1]).into_iter().for_each(|n| n.text = "1".into());
            match at {
                Some(at) => more.segments.insert(at + 1, more.segments[at].clone()),
                None => more.segments.push(segment),
            }
            out.push(more);
        }
        Expr::Not(_)
        | Expr::Const(_)
        | Expr::Compare { .. }
        | Expr::In { .. }
        | Expr::Matches { .. } => {}
    }
}
