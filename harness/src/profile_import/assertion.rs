//! Predicates and conformance statements into the target profile's expression language
//! (`profile::expr`): the NIST assertion trees (`<PlainText Path="5[1].1[1]" …/>`, `<AND>`, …)
//! and the common English forms of the HL7 v2.x format's free-text predicates ("If PID-8 is
//! valued"). What cannot be read faithfully is an `Err` naming the construct; the caller reports
//! it, never guesses.

use super::xml::{attr, elements};
use crate::profile::expr::Expr;
use crate::profile::ValueSet;
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Most codes written out as `in (…)` for a `<ValueSet>` assertion.
const MAX_INLINE_CODES: usize = 200;

/// Where the relative paths of a NIST context start: a segment (`PID`), a field of it
/// (`PID-3`, for a data type used there) or a component (`PID-3.4`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    pub segment: String,
    /// Field, then component, already consumed by the context.
    pub positions: Vec<u16>,
    /// The field's repetition when the context is one (`<SubContext Path="3[2]">`).
    pub repetition: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Index {
    First,
    Nth(u32),
    Any,
}

/// `3[2].1[1]` relative to `base` → `PID-3[2].1`; `.` is the base itself.
pub fn path_text(base: &Base, relative: &str) -> Result<String, String> {
    let mut steps: Vec<(u16, Index)> = base.positions.iter().map(|p| (*p, Index::First)).collect();
    if let (Some(first), Some(n)) = (steps.first_mut(), base.repetition) {
        first.1 = Index::Nth(n);
    }
    let relative = relative.trim();
    if relative != "." {
        for step in relative.split('.') {
            let (number, index) = match step.split_once('[') {
                None => (step, Index::First),
                Some((n, rest)) => {
                    let inside = rest.strip_suffix(']').ok_or(format!("path {relative:?}"))?;
                    let index = match inside {
                        "*" => Index::Any,
                        "1" => Index::First,
                        n => Index::Nth(n.parse().map_err(|_| format!("path {relative:?}"))?),
                    };
                    (n, index)
                }
            };
            let number: u16 = number.parse().map_err(|_| format!("path {relative:?}"))?;
            if number == 0 {
                return Err(format!("path {relative:?}: positions start at 1"));
            }
            steps.push((number, index));
        }
    }
    if steps.is_empty() {
        return Err(format!("path {relative:?} names the whole segment"));
    }
    if steps.len() > 3 {
        return Err(format!("path {relative:?} goes below a sub-component"));
    }
    let mut text = base.segment.clone();
    for (i, (number, index)) in steps.iter().enumerate() {
        text.push(if i == 0 { '-' } else { '.' });
        text.push_str(&number.to_string());
        match (i, index) {
            (_, Index::First) => {}
            (0, Index::Nth(n)) => text.push_str(&format!("[{n}]")),
            (0, Index::Any) => text.push_str("[*]"),
            // Components and sub-components do not repeat: only their first instance exists.
            (_, Index::Nth(_)) => return Err(format!("path {relative:?}: a component repeats")),
            (_, Index::Any) => {}
        }
    }
    Ok(text)
}

/// A text literal of the expression language.
pub fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Whether an assertion is read where "not present" fails (a predicate's condition) or passes
/// (a conformance statement, NIST's default `NotPresentBehavior="PASS"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    Condition,
    Statement,
}

/// A NIST `<Assertion>`/`<Condition>` element's single child → an expression text.
pub fn assertion(
    node: roxmltree::Node<'_, '_>,
    base: &Base,
    value_sets: &BTreeMap<String, ValueSet>,
    reading: Reading,
) -> Result<String, String> {
    let mut children = elements(node);
    let (Some(first), None) = (children.next(), children.next()) else {
        return Err("an assertion needs exactly one element".into());
    };
    let text = term(first, base, value_sets, reading, 0)?;
    Expr::parse(&text).map_err(|e| e.to_string())?;
    Ok(text)
}

fn term(
    node: roxmltree::Node<'_, '_>,
    base: &Base,
    sets: &BTreeMap<String, ValueSet>,
    reading: Reading,
    depth: usize,
) -> Result<String, String> {
    if depth > 32 {
        return Err("assertion nested too deep".into());
    }
    let name = node.tag_name().name();
    let sub = |n| term(n, base, sets, reading, depth + 1);
    let parts = || -> Result<Vec<String>, String> { elements(node).map(sub).collect() };
    let path = |key: &str| -> Result<String, String> {
        let rel = attr(node, key).ok_or(format!("<{name}> has no {key}="))?;
        let text = path_text(base, rel)?;
        let any = text.contains("[*]");
        if any && name != "Presence" && attr(node, "AtLeastOnce") != Some("true") {
            return Err(format!(
                "<{name}> on every repetition of {rel} (no AtLeastOnce) cannot be written"
            ));
        }
        Ok(text)
    };
    // A value test, with what it means when the element is absent.
    let absent_passes = match (attr(node, "NotPresentBehavior"), reading) {
        (Some("FAIL"), _) => false,
        (Some(_), _) => true,
        (None, Reading::Statement) => true,
        (None, Reading::Condition) => false,
    };
    let valued_test = |p: &str, test: String| {
        if absent_passes {
            format!("({p} is not valued or {test})")
        } else {
            test
        }
    };
    if attr(node, "Min").is_some() || attr(node, "Max").is_some() {
        return Err(format!("<{name}> with Min/Max occurrence counts is not supported"));
    }
    match name {
        "Presence" => Ok(format!("{} is valued", path("Path")?)),
        "PlainText" => {
            let p = path("Path")?;
            let text = attr(node, "Text").ok_or("<PlainText> has no Text=")?;
            let test = if attr(node, "IgnoreCase") == Some("true") {
                format!("{p} matches {}", quote(&format!("(?i){}", regex::escape(text))))
            } else {
                format!("{p} = {}", quote(text))
            };
            Ok(valued_test(&p, test))
        }
        "StringList" | "NumberList" => {
            let p = path("Path")?;
            let csv = attr(node, "CSV").ok_or(format!("<{name}> has no CSV="))?;
            let values: Vec<String> = csv.split(',').map(|v| quote(v.trim())).collect();
            if attr(node, "IgnoreCase") == Some("true") {
                return Err("<StringList IgnoreCase=\"true\"> is not supported".into());
            }
            Ok(valued_test(&p, format!("{p} in ({})", values.join(", "))))
        }
        "SimpleValue" => {
            let p = path("Path")?;
            let value = attr(node, "Value").ok_or("<SimpleValue> has no Value=")?;
            let op = operator(attr(node, "Operator"))?;
            let rhs = if attr(node, "Type") == Some("Number") && value.parse::<f64>().is_ok() {
                value.to_string()
            } else {
                quote(value)
            };
            Ok(valued_test(&p, format!("{p} {op} {rhs}")))
        }
        "Format" => {
            let p = path("Path")?;
            let written = attr(node, "Regex").ok_or("<Format> has no Regex=")?;
            let regex = super::common::java_regex(written);
            Regex::new(&regex).map_err(|e| format!("<Format> regex {written:?}: {e}"))?;
            Ok(valued_test(&p, format!("{p} matches {}", quote(&regex))))
        }
        "PathValue" => {
            let (p1, p2) = (path("Path1")?, path("Path2")?);
            if p2.contains("[*]") {
                return Err("<PathValue> over every repetition is not supported".into());
            }
            let op = operator(attr(node, "Operator"))?;
            Ok(valued_test(&p1, format!("{p1} {op} {p2}")))
        }
        "ValueSet" => {
            let p = path("Path")?;
            let id = attr(node, "ValueSetID").ok_or("<ValueSet> has no ValueSetID=")?;
            let set =
                sets.get(id).ok_or(format!("value set {id:?} is not in the value set file"))?;
            if set.codes.is_empty() || set.codes.len() > MAX_INLINE_CODES {
                return Err(format!("value set {id:?} has {} codes", set.codes.len()));
            }
            let codes: Vec<String> = set.codes.iter().map(|c| quote(c)).collect();
            Ok(valued_test(&p, format!("{p} in ({})", codes.join(", "))))
        }
        "AND" | "OR" => {
            let parts = parts()?;
            if parts.len() < 2 {
                return Err(format!("<{name}> needs two parts"));
            }
            let glue = if name == "AND" { " and " } else { " or " };
            Ok(parts.iter().map(|p| format!("({p})")).collect::<Vec<_>>().join(glue))
        }
        "NOT" => match parts()?.as_slice() {
            [one] => Ok(format!("not ({one})")),
            _ => Err("<NOT> needs one part".into()),
        },
        "IMPLY" => match parts()?.as_slice() {
            [a, b] => Ok(format!("not ({a}) or ({b})")),
            _ => Err("<IMPLY> needs two parts".into()),
        },
        "XOR" => match parts()?.as_slice() {
            [a, b] => Ok(format!("(({a}) and not ({b})) or (not ({a}) and ({b}))")),
            _ => Err("<XOR> needs two parts".into()),
        },
        "SubContext" => {
            let rel = attr(node, "Path").ok_or("<SubContext> has no Path=")?;
            let inner_base = sub_base(base, rel)?;
            let mut inner = elements(node);
            let (Some(one), None) = (inner.next(), inner.next()) else {
                return Err("<SubContext> needs one part".into());
            };
            term(one, &inner_base, sets, reading, depth + 1)
        }
        other => Err(format!("<{other}> is not supported")),
    }
}

/// A `SubContext` path as a new base: one instance (`3[1]`, or a numbered repetition of a field
/// `3[2]`); over every repetition (`3[*]`) it is not one.
fn sub_base(base: &Base, rel: &str) -> Result<Base, String> {
    let text = path_text(base, rel)?;
    if text.contains("[*]") {
        return Err(format!("<SubContext Path={rel:?}> over every repetition is not supported"));
    }
    let mut out = base.clone();
    for step in rel.split('.') {
        let mut parts = step.split('[');
        let number = parts.next().unwrap_or_default();
        out.positions.push(number.parse().map_err(|_| format!("path {rel:?}"))?);
        let index =
            parts.next().and_then(|i| i.strip_suffix(']')).and_then(|i| i.parse::<u32>().ok());
        if out.positions.len() == 1 && index.is_some_and(|n| n > 1) {
            out.repetition = index;
        }
    }
    Ok(out)
}

fn operator(op: Option<&str>) -> Result<&'static str, String> {
    Ok(match op {
        Some("EQ") => "=",
        Some("NE") => "!=",
        Some("GT") => ">",
        Some("LT") => "<",
        Some("GE") => ">=",
        Some("LE") => "<=",
        other => return Err(format!("operator {other:?} is not supported")),
    })
}

/// The common English forms of an HL7 v2.x free-text predicate → an expression text, e.g.
/// "If PID-8 is valued." → `PID-8 is valued`, "Required if PV1-2 = 'I'" → `PV1-2 = "I"`.
pub fn english_predicate(text: &str) -> Option<String> {
    static FORMS: OnceLock<Option<[Regex; 2]>> = OnceLock::new();
    let forms = FORMS.get_or_init(|| {
        let lead = r"(?i)^\s*(?:(?:this\s+\w+\s+is\s+)?(?:required|conditional|mandatory|must\s+be\s+(?:valued|present|sent))\s+)?(?:only\s+)?(?:if|when)\s+";
        let path = r"([A-Z][A-Z0-9]{2}[-.]\d+(?:\.\d+){0,2})";
        let presence = format!(
            r"{lead}(?:the\s+)?(?:field\s+)?{path}\s+(?:is\s+|has\s+been\s+)?(not\s+valued|not\s+present|not\s+populated|empty|absent|blank|valued|present|populated|not\s+empty|sent)\s*\.?\s*$"
        );
        let equals = format!(
            r#"{lead}(?:the\s+)?(?:field\s+)?{path}\s+(?:is\s+not|!=|<>|is\s+equal\s+to|equals|=|is\s+valued\s+(?:with|as)|is\s+valued|is)\s+['"“]?([A-Za-z0-9_./ -]{{1,40}}?)['"”]?\s*\.?\s*$"#
        );
        Some([Regex::new(&presence).ok()?, Regex::new(&equals).ok()?])
    });
    let [presence, equals] = forms.as_ref()?;
    let fix = |p: &str| -> String {
        // PID.8 → PID-8 (the separator after the segment id only).
        let mut s = p.to_string();
        if s.as_bytes().get(3) == Some(&b'.') {
            s.replace_range(3..4, "-");
        }
        s
    };
    let expr = if let Some(c) = presence.captures(text) {
        let word = c[2].to_ascii_lowercase();
        let negated = word.starts_with("not valued")
            || word.starts_with("not present")
            || word.starts_with("not populated")
            || ["empty", "absent", "blank"].contains(&word.as_str());
        let negated = negated && !word.starts_with("not empty");
        format!("{} is {}valued", fix(&c[1]), if negated { "not " } else { "" })
    } else if let Some(c) = equals.captures(text) {
        let whole = c.get(0).map_or("", |m| m.as_str()).to_ascii_lowercase();
        let negated = whole.contains(" is not ") || whole.contains("!=") || whole.contains("<>");
        let op = if negated { "!=" } else { "=" };
        format!("{} {op} {}", fix(&c[1]), quote(c[2].trim()))
    } else {
        return None;
    };
    Expr::parse(&expr).ok().map(|_| expr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(name: &str) -> Base {
        Base { segment: name.into(), positions: vec![], repetition: None }
    }

    fn nist(xml: &str, base: &Base, reading: Reading) -> Result<String, String> {
        let wrapped = format!("<Assertion>{xml}</Assertion>");
        let doc = roxmltree::Document::parse(&wrapped).expect("xml");
        let sets = BTreeMap::from([(
            "VS1".to_string(),
            ValueSet { description: None, codes: vec!["A".into(), "B".into()] },
        )]);
        assertion(doc.root_element(), base, &sets, reading)
    }

    #[test]
    fn paths_become_harness_paths() {
        assert_eq!(path_text(&seg("PID"), "5[1].1[1]").as_deref(), Ok("PID-5.1"));
        assert_eq!(path_text(&seg("PID"), "3[2].1[1]").as_deref(), Ok("PID-3[2].1"));
        assert_eq!(path_text(&seg("PID"), "3[*]").as_deref(), Ok("PID-3[*]"));
        let field = Base { segment: "MSH".into(), positions: vec![3], repetition: None };
        assert_eq!(path_text(&field, "2[1]").as_deref(), Ok("MSH-3.2"));
        assert_eq!(path_text(&field, ".").as_deref(), Ok("MSH-3"));
        assert!(path_text(&seg("PID"), ".").is_err());
        assert!(path_text(&seg("PID"), "1.2.3.4").is_err());
        assert!(path_text(&seg("PID"), "x[1]").is_err());
    }

    #[test]
    fn assertion_trees_translate() {
        let pid = seg("PID");
        let check = |xml: &str, reading, expected: &str| {
            assert_eq!(nist(xml, &pid, reading).as_deref(), Ok(expected), "{xml}");
        };
        check(r#"<Presence Path="8[1]"/>"#, Reading::Condition, "PID-8 is valued");
        check(r#"<PlainText Path="8[1]" Text="M"/>"#, Reading::Condition, r#"PID-8 = "M""#);
        check(
            r#"<PlainText Path="8[1]" Text="M"/>"#,
            Reading::Statement,
            r#"(PID-8 is not valued or PID-8 = "M")"#,
        );
        check(
            r#"<StringList Path="8[1]" CSV="M,F" NotPresentBehavior="FAIL"/>"#,
            Reading::Statement,
            r#"PID-8 in ("M", "F")"#,
        );
        check(
            r#"<IMPLY><Presence Path="7[1]"/><NOT><Presence Path="29[1]"/></NOT></IMPLY>"#,
            Reading::Condition,
            "not (PID-7 is valued) or (not (PID-29 is valued))",
        );
        check(
            r#"<ValueSet Path="8[1]" ValueSetID="VS1" BindingStrength="R" BindingLocation="1" NotPresentBehavior="FAIL"/>"#,
            Reading::Statement,
            r#"PID-8 in ("A", "B")"#,
        );
        check(
            r#"<SubContext Path="3[2]"><PlainText Path="1[1]" Text="x" NotPresentBehavior="FAIL"/></SubContext>"#,
            Reading::Statement,
            r#"PID-3[2].1 = "x""#,
        );
        check(
            r#"<Format Path="7[1]" Regex="^\d{8}$" NotPresentBehavior="FAIL"/>"#,
            Reading::Statement,
            r#"PID-7 matches "^[0-9]{8}$""#,
        );
    }

    #[test]
    fn unsupported_assertions_say_what() {
        let pid = seg("PID");
        let error = nist(r#"<FORALL><Presence Path="1[1]"/></FORALL>"#, &pid, Reading::Statement);
        assert!(error.expect_err("forall").contains("<FORALL>"));
        let error = nist(r#"<PlainText Path="3[*]" Text="x"/>"#, &pid, Reading::Statement);
        assert!(error.expect_err("every rep").contains("every repetition"));
        assert!(
            nist(r#"<ValueSet Path="8[1]" ValueSetID="nope"/>"#, &pid, Reading::Statement).is_err()
        );
    }

    #[test]
    fn english_predicates() {
        let check = |text: &str, expected: Option<&str>| {
            assert_eq!(english_predicate(text).as_deref(), expected, "{text}");
        };
        check("If PID-8 is valued.", Some("PID-8 is valued"));
        check("Required if PID.8 is present", Some("PID-8 is valued"));
        check("if PV1-3.1 is not valued", Some("PV1-3.1 is not valued"));
        check("If PV1-2 = 'I'", Some(r#"PV1-2 = "I""#));
        check("Required when PV1-2 is not \"O\"", Some(r#"PV1-2 != "O""#));
        check("If the first component for the HD data type is present", None);
        check("Either start or stop date or both must be present", None);
    }
}
