//! The text form of the client's `network:` faults and the receiver role's `answers:`:
//! `KIND[:KEY=VALUE,...]` with the YAML's own words (`fragment:size=1,delay=5ms` is
//! `{fragment: {size: 1, delay: 5ms}}`). The text is turned into the YAML's data model and read
//! by the same serde derive the scenario loader uses, so both spellings give the same values
//! under the same rules; printing goes the other way. Only a variant written with a bare value
//! in YAML (`idle: 200ms`) needs a key name in text (`idle:for=200ms`): the table says which.
//! Pure.

use super::answer::Answer;
use super::network::NetworkFault;
use super::spec::SpecError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

/// What a key's value is, in text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Key {
    /// A whole number (sizes, offsets, counts).
    Count,
    /// `true` or `false`.
    Bool,
    /// A duration as the YAML writes it (`5ms`, `2s`).
    Span,
    /// Bytes as text, with `\r`, `\n`, `\t`, `\\`, `\,` and `\xHH` escapes.
    Bytes,
    /// One of a few codes.
    Code(&'static [&'static str]),
}

/// How a kind is written in YAML.
#[derive(Debug, Clone, Copy)]
pub(super) enum Shape {
    /// A bare word (`coalesce`).
    Unit,
    /// A map of keys (`fragment: {size: 1}`): the keys in print order, and which are required.
    Struct(&'static [(&'static str, Key)], &'static [&'static str]),
    /// A bare value (`idle: 200ms`): its key name in text, its type, whether it may be absent.
    Newtype(&'static str, Key, bool),
}

/// The client's `network:` kinds, in the order of [`NetworkFault`].
pub(super) const CLIENT_KINDS: &[(&str, Shape)] = &[
    (
        "fragment",
        Shape::Struct(
            &[("size", Key::Count), ("delay", Key::Span), ("max_size", Key::Count)],
            &["size"],
        ),
    ),
    ("coalesce", Shape::Unit),
    ("pipeline", Shape::Unit),
    ("half_close", Shape::Unit),
    ("slow", Shape::Struct(&[("bytes_per_second", Key::Count)], &["bytes_per_second"])),
    ("close_before_ack", Shape::Unit),
    (
        "reset",
        Shape::Struct(
            &[("offset", Key::Count), ("mid_frame", Key::Bool), ("after_acks", Key::Count)],
            &[],
        ),
    ),
    ("bytes_before_frame", Shape::Newtype("bytes", Key::Bytes, true)),
    ("bytes_between_frames", Shape::Newtype("bytes", Key::Bytes, true)),
    ("missing_trailer_cr", Shape::Unit),
    ("lf_segments", Shape::Unit),
    ("oversized", Shape::Struct(&[("bytes", Key::Count)], &[])),
    ("unterminated", Shape::Struct(&[("silence", Key::Span)], &[])),
    ("idle", Shape::Newtype("for", Key::Span, false)),
    ("storm", Shape::Struct(&[("connections", Key::Count)], &["connections"])),
    ("bad_checksum", Shape::Unit),
    ("blackhole", Shape::Struct(&[("offset", Key::Count), ("mid_frame", Key::Bool)], &[])),
];

/// The receiver role's `answers:` kinds, in the order of [`Answer`].
pub(super) const ANSWER_KINDS: &[(&str, Shape)] = &[
    ("ack", Shape::Unit),
    ("no_ack", Shape::Unit),
    ("late_ack", Shape::Newtype("delay", Key::Span, false)),
    ("duplicate_ack", Shape::Unit),
    ("wrong_msa2", Shape::Unit),
    ("nak", Shape::Newtype("code", Key::Code(&["AE", "AR"]), false)),
    ("close", Shape::Unit),
    ("reset", Shape::Unit),
    ("silent_peer", Shape::Unit),
    ("blackhole", Shape::Newtype("for", Key::Span, false)),
    ("as_specified", Shape::Unit),
];

/// The client's kind names.
pub(super) fn client_kinds() -> impl Iterator<Item = &'static str> {
    CLIENT_KINDS.iter().map(|(kind, _)| *kind)
}

/// Reads a client fault's text.
pub(super) fn parse_client(text: &str) -> Result<NetworkFault, SpecError> {
    parse_with(text, CLIENT_KINDS)
}

/// Reads a receiver answer's text.
pub(super) fn parse_answer(text: &str) -> Result<Answer, SpecError> {
    parse_with(text, ANSWER_KINDS)
}

/// The canonical text of a client fault.
pub(super) fn print_client(fault: &NetworkFault) -> String {
    print_with(fault, CLIENT_KINDS)
}

/// The canonical text of a receiver answer.
pub(super) fn print_answer(answer: &Answer) -> String {
    print_with(answer, ANSWER_KINDS)
}

/// `rest` split at commas that are not escaped, each piece with its byte offset in `rest`.
fn split_items(rest: &str) -> Vec<(usize, &str)> {
    let mut items = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (at, c) in rest.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                items.push((start, &rest[start..at]));
                start = at + 1;
            }
            _ => {}
        }
    }
    items.push((start, &rest[start..]));
    items
}

/// Reads `\r`, `\n`, `\t`, `\\`, `\,` and `\xHH` (ASCII only, so the text stays UTF-8).
fn unescape(value: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(c @ ('\\' | ',')) => out.push(c),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                match u8::from_str_radix(&hex, 16) {
                    Ok(byte) if hex.len() == 2 && byte < 0x80 => out.push(char::from(byte)),
                    _ => return Err(format!("bad escape \\x{hex}: give two hex digits below 80")),
                }
            }
            other => {
                let shown = other.map(String::from).unwrap_or_default();
                return Err(format!(
                    "unknown escape \\{shown}; use \\r, \\n, \\t, \\\\, \\, or \\xHH"
                ));
            }
        }
    }
    Ok(out)
}

/// The escaped form [`unescape`] reads back.
fn escape(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\\' | ',' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u8)),
            c => out.push(c),
        }
    }
    out
}

/// One value read as its key's type says, in the YAML's data model.
fn value_of(key: &str, ty: Key, value: &str) -> Result<Value, String> {
    match ty {
        Key::Count => match value.parse::<u64>() {
            Ok(n) if value.bytes().all(|b| b.is_ascii_digit()) => Ok(Value::from(n)),
            _ => Err(format!("{key} must be a whole number, found {value:?}")),
        },
        Key::Bool => match value {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("{key} must be true or false, found {value:?}")),
        },
        Key::Span => match crate::vocab::parse_duration(value) {
            Ok(_) if value.trim() == value => Ok(Value::String(value.to_string())),
            Ok(_) => Err(format!("{key} must be a duration such as 5ms or 2s, found {value:?}")),
            Err(why) => Err(format!("{key}: {why}")),
        },
        Key::Bytes => unescape(value).map(Value::String),
        Key::Code(codes) if codes.contains(&value) => Ok(Value::String(value.to_string())),
        Key::Code(codes) => Err(format!("{key} must be {}, found {value:?}", codes.join(" or "))),
    }
}

/// Reads `KIND[:KEY=VALUE,...]` with `table`'s kinds into the YAML's data model, then through
/// serde into `T`. Errors name the spec and the column, as the proxy's do.
fn parse_with<T: DeserializeOwned>(text: &str, table: &[(&str, Shape)]) -> Result<T, SpecError> {
    let spec = text.trim();
    let fail = |at: usize, message: String| SpecError {
        spec: spec.to_string(),
        column: spec[..at.min(spec.len())].chars().count() + 1,
        message,
    };
    let (kind, rest) = match spec.split_once(':') {
        Some((kind, rest)) => (kind, Some(rest)),
        None => (spec, None),
    };
    let Some((_, shape)) = table.iter().find(|(k, _)| *k == kind) else {
        let known: Vec<&str> = table.iter().map(|(k, _)| *k).collect();
        return Err(fail(
            0,
            format!("unknown fault kind {kind:?}; expected one of {}", known.join(", ")),
        ));
    };
    let newtype_key: [(&str, Key); 1];
    let keys: &[(&str, Key)] = match shape {
        Shape::Unit => &[],
        Shape::Struct(keys, _) => keys,
        Shape::Newtype(key, ty, _) => {
            newtype_key = [(key, *ty)];
            &newtype_key
        }
    };
    let mut values: Vec<(&str, Value)> = Vec::new();
    if let Some(rest) = rest {
        let rest_at = kind.len() + 1;
        if keys.is_empty() {
            return Err(fail(rest_at, format!("{kind} takes no keys")));
        }
        for (offset, item) in split_items(rest) {
            let at = rest_at + offset;
            let Some((key, value)) = item.split_once('=') else {
                return Err(fail(at, format!("expected KEY=VALUE, found {item:?}")));
            };
            let Some((_, ty)) = keys.iter().find(|(k, _)| *k == key) else {
                let takes: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
                return Err(fail(
                    at,
                    format!("{kind} takes no key {key:?}; it takes {}", takes.join(", ")),
                ));
            };
            if values.iter().any(|(k, _)| *k == key) {
                return Err(fail(at, format!("key {key:?} given twice")));
            }
            let value = value_of(key, *ty, value).map_err(|m| fail(at + key.len() + 1, m))?;
            values.push((key, value));
        }
    }
    let data = match shape {
        Shape::Unit => Value::String(kind.to_string()),
        Shape::Struct(_, required) => {
            if let Some(key) = required.iter().find(|r| !values.iter().any(|(k, _)| k == *r)) {
                return Err(fail(spec.len(), format!("{kind} needs {key}=…")));
            }
            let fields: Map<String, Value> =
                values.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            Value::Object(Map::from_iter([(kind.to_string(), Value::Object(fields))]))
        }
        Shape::Newtype(key, _, optional) => {
            let value = match values.pop() {
                Some((_, value)) => value,
                None if *optional => Value::Null,
                None => return Err(fail(spec.len(), format!("{kind} needs {key}=…"))),
            };
            Value::Object(Map::from_iter([(kind.to_string(), value)]))
        }
    };
    serde_json::from_value(data).map_err(|err| fail(0, err.to_string()))
}

/// One value as text: numbers and `true` as they are, strings escaped where they hold bytes.
fn text_of(ty: Key, value: &Value) -> String {
    match (ty, value) {
        (Key::Bytes, Value::String(s)) => escape(s),
        (_, Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    }
}

/// The canonical text of `value`: its kind, then the keys that are set (not null, not false)
/// in the table's order.
fn print_with<T: Serialize>(value: &T, table: &[(&str, Shape)]) -> String {
    let data = serde_json::to_value(value)
        .expect("fault values serialise to JSON (no maps with non-string keys)");
    let (kind, inner) = match data {
        Value::String(kind) => return kind,
        Value::Object(map) => map.into_iter().next().expect("an enum serialises to a one-key map"),
        other => unreachable!("an enum serialises to a string or a one-key map, not {other}"),
    };
    let shape = table.iter().find(|(k, _)| *k == kind).map(|(_, s)| *s);
    let keys: Vec<String> = match (shape, &inner) {
        (Some(Shape::Struct(keys, _)), Value::Object(fields)) => keys
            .iter()
            .filter_map(|(key, ty)| match fields.get(*key) {
                None | Some(Value::Null) | Some(Value::Bool(false)) => None,
                Some(value) => Some(format!("{key}={}", text_of(*ty, value))),
            })
            .collect(),
        (Some(Shape::Newtype(_, _, _)), Value::Null) => Vec::new(),
        (Some(Shape::Newtype(key, ty, _)), value) => vec![format!("{key}={}", text_of(ty, value))],
        _ => unreachable!("{kind} is in the text table with the shape its serde derive has"),
    };
    if keys.is_empty() {
        kind
    } else {
        format!("{kind}:{}", keys.join(","))
    }
}
