//! Evaluating predicates and conformance statements (`profile::expr`) against a message.

use crate::hl7::message::{Message, Segment};
use crate::hl7::value::Value;
use crate::profile::expr::{Counted, ExprPath, Node, Op, Operand};
use regex::Regex;
use std::borrow::Cow;
use std::cmp::Ordering;

/// The segment a predicate is evaluated beside: a path to the same segment id without an
/// occurrence reads this occurrence (OBX-5's predicate reads its own OBX-2).
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'s> {
    pub segment: Option<(&'s str, usize)>,
}

/// Where a statement's assertion is evaluated: once over the message (`each` absent), or once
/// for every occurrence of the `each` segment, with that occurrence (1-based) and its
/// 1-based index among the message's segments.
pub fn statement_contexts<'s>(
    each: Option<&'s str>,
    message: &Message<'_>,
) -> Vec<(Context<'s>, Option<(usize, usize)>)> {
    let Some(id) = each else { return vec![(Context::default(), None)] };
    message
        .segments()
        .enumerate()
        .filter(|(_, s)| s.id() == id)
        .enumerate()
        .map(|(k, (index, _))| (Context { segment: Some((id, k + 1)) }, Some((k + 1, index + 1))))
        .collect()
}

/// Whether a statement's assertion holds in every context [`statement_contexts`] gives.
pub fn holds_everywhere(node: &Node, each: Option<&str>, message: &Message<'_>) -> bool {
    statement_contexts(each, message).into_iter().all(|(context, _)| eval(node, message, context))
}

pub fn eval(node: &Node, message: &Message<'_>, context: Context<'_>) -> bool {
    match node {
        Node::Const(b) => *b,
        Node::And(parts) => parts.iter().all(|p| eval(p, message, context)),
        Node::Or(parts) => parts.iter().any(|p| eval(p, message, context)),
        Node::Not(inner) => !eval(inner, message, context),
        Node::Valued(path) => !values(path, message, context).is_empty(),
        Node::Compare { path, op, rhs } => {
            let right: Vec<Cow<'_, str>> = match rhs {
                Operand::Literal(text) => vec![Cow::Borrowed(text.as_str())],
                Operand::Path(other) => values(other, message, context),
            };
            let left = values(path, message, context);
            let any = |want: &dyn Fn(Ordering) -> bool| {
                left.iter().any(|l| right.iter().any(|r| want(compare(l, r))))
            };
            match op {
                Op::Eq => any(&|o| o == Ordering::Equal),
                Op::Ne => !any(&|o| o == Ordering::Equal),
                Op::Lt => any(&|o| o == Ordering::Less),
                Op::Le => any(&|o| o != Ordering::Greater),
                Op::Gt => any(&|o| o == Ordering::Greater),
                Op::Ge => any(&|o| o != Ordering::Less),
            }
        }
        Node::In { path, values: allowed } => {
            values(path, message, context).iter().any(|v| allowed.iter().any(|a| a == v.as_ref()))
        }
        Node::Matches { path, pattern } => {
            // Checked when the profile was read; a pattern that fails now matches nothing.
            let Ok(re) = Regex::new(&format!("^(?:{pattern})$")) else { return false };
            values(path, message, context).iter().any(|v| re.is_match(v))
        }
        Node::Count { path, op, rhs } => {
            let count = count(path, message, context) as u64;
            let n = &match rhs {
                Counted::Number(n) => *n,
                Counted::Count(other) => self::count(other, message, context) as u64,
            };
            match op {
                Op::Eq => count == *n,
                Op::Ne => count != *n,
                Op::Lt => count < *n,
                Op::Le => count <= *n,
                Op::Gt => count > *n,
                Op::Ge => count >= *n,
            }
        }
    }
}

/// Numbers compare as numbers, everything else as text.
fn compare(left: &str, right: &str) -> Ordering {
    match (left.trim().parse::<f64>(), right.trim().parse::<f64>()) {
        (Ok(l), Ok(r)) => l.partial_cmp(&r).unwrap_or(Ordering::Equal),
        _ => left.cmp(right),
    }
}

fn segments<'a>(path: &ExprPath, message: &Message<'a>, context: Context<'_>) -> Vec<Segment<'a>> {
    let id = path.path.segment_id();
    if path.any_occurrence {
        return message.segments().filter(|s| s.id() == id).collect();
    }
    let occurrence = match (path.path.occurrence, context.segment) {
        (Some(n), _) => n,
        (None, Some((current, n))) if current == id => n,
        (None, _) => 1,
    };
    message.find_segment(id, occurrence).into_iter().collect()
}

/// The decoded texts a path reads that are valued (`""`, present but null, counts as valued).
fn values<'a>(path: &ExprPath, message: &Message<'a>, context: Context<'_>) -> Vec<Cow<'a, str>> {
    let mut out = Vec::new();
    for segment in segments(path, message, context) {
        let Some(field_number) = path.path.field else {
            out.push(Cow::Borrowed(segment.id()));
            continue;
        };
        let Some(field) = segment.field(field_number) else { continue };
        let repetitions: Vec<Value<'a>> = match (path.any_repetition, path.path.repetition) {
            (true, _) => field.repetitions().collect(),
            (false, Some(n)) => field.repetition(n).into_iter().collect(),
            (false, None) => vec![field],
        };
        for repetition in repetitions {
            let mut value = Some(repetition);
            if let Some(c) = path.path.component {
                value = value.and_then(|v| v.component(c));
            }
            if let Some(s) = path.path.subcomponent {
                value = value.and_then(|v| v.subcomponent(s));
            }
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                out.push(message.text(&v));
            }
        }
    }
    out
}

/// Occurrences of a segment, or valued repetitions of a field.
fn count(path: &ExprPath, message: &Message<'_>, context: Context<'_>) -> usize {
    if path.path.field.is_none() {
        return message.segments().filter(|s| s.id() == path.path.segment_id()).count();
    }
    let every = ExprPath { any_repetition: true, ..path.clone() };
    values(&every, message, context).len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::expr::Expr;

    const MSG: &[u8] = b"MSH|^~\\&|S|F|R|F|20240101||ADT^A04|1|P|2.6\rPID|1||123^^^H^MR~456^^^H^PI||Doe^Jane||19800101|F\rOBX|1|NM|x||5\rOBX|2|ST|y||\r";

    fn holds(text: &str) -> bool {
        let message = Message::parse(MSG).expect("parse");
        eval(&Expr::parse(text).expect("expr").node, &message, Context::default())
    }

    #[test]
    fn valued_and_comparisons() {
        assert!(holds("PID-8 is valued"));
        assert!(holds("PID-6 is not valued"));
        assert!(holds("PID-8 = F and MSH-12 = 2.6"));
        assert!(holds("PID-8 != M"));
        assert!(!holds("PID-6 = X"), "a test on a value is false when not valued");
        assert!(holds("PID-6 != X"));
        assert!(holds("PID-7 > 19791231 and PID-7 <= 19800101"));
        assert!(holds("PID-8 in (M, F)"));
        assert!(holds("PID-5.1 matches \"[A-Z][a-z]+\""));
        assert!(holds("PID-5.1 = \"Doe\""));
    }

    #[test]
    fn repetitions_and_occurrences() {
        assert!(!holds("PID-3.5 = PI"), "first repetition only");
        assert!(holds("PID-3[*].5 = PI"));
        assert!(holds("PID-3[2].1 = 456"));
        assert!(holds("count(OBX) = 2"));
        assert!(holds("count(PID-3) = 2"));
        assert!(holds("count(OBX) > count(PID)"));
        assert!(holds("OBX[*]-2 = ST"));
        assert!(!holds("OBX-2 = ST"));
        assert!(holds("PID-3.1 != PID-3[2].1"));
    }

    #[test]
    fn the_context_segment_is_the_default_occurrence() {
        let message = Message::parse(MSG).expect("parse");
        let expr = Expr::parse("OBX-5 is valued").expect("expr");
        let second = Context { segment: Some(("OBX", 2)) };
        assert!(eval(&expr.node, &message, Context::default()));
        assert!(!eval(&expr.node, &message, second));
    }
}
