//! `hl7-harness inspect`: a message as a readable tree, as JSON, or one value by path.

use super::exit;
use super::input::InputFile;
use crate::hl7::names::{component_name, field_name, segment_name};
use crate::hl7::{Level, Message, Path, Segment, Value};
use serde_json::{json, Value as Json};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// File holding one message, several back to back, or a batch (FHS/BHS … BTS/FTS).
    pub file: PathBuf,
    /// Print only this value, decoded (escapes resolved, character set applied), on one line;
    /// e.g. PID-5.1, PID-3[2].1, OBX[3]-5. Exit 1 when the message has no value there.
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// Print the tree as JSON.
    #[arg(long, conflicts_with = "path")]
    pub json: bool,
    /// Only the N-th message of the file (1-based).
    #[arg(long, value_name = "N")]
    pub message: Option<usize>,
}

pub fn run(args: &InspectArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let path = args.path.as_deref().map(Path::parse).transpose()?;
    let file = InputFile::read(&args.file)?;
    let indexes: Vec<usize> = match args.message {
        Some(0) => anyhow::bail!("--message counts from 1"),
        Some(n) => vec![n - 1],
        None => (0..file.messages.len()).collect(),
    };
    let mut code = exit::OK;
    let mut documents = Vec::new();
    for &index in &indexes {
        let message = file.message(index)?;
        if let Some(path) = &path {
            match message.get(path) {
                Some(value) => writeln!(out, "{}", message.text(&value))?,
                None => {
                    eprintln!("{}: message {}: {path} is not present", file.path, index + 1);
                    code = exit::FINDINGS;
                }
            }
        } else if args.json {
            documents.push(message_json(&message, index + 1));
        } else {
            if indexes.len() > 1 || index > 0 {
                writeln!(out, "── message {} of {} ──", index + 1, file.messages.len())?;
            }
            write!(out, "{}", render_tree(&message))?;
        }
    }
    if args.json {
        let document = json!({ "file": file.path, "messages": documents });
        writeln!(out, "{}", serde_json::to_string_pretty(&document)?)?;
    }
    Ok(code)
}

/// The readable tree: one line per segment, field, repetition and component that has a value.
pub fn render_tree(message: &Message<'_>) -> String {
    let mut out = String::new();
    let summary = [
        message.header().field(9).map(|v| message.text(&v).into_owned()),
        message.version().map(|v| format!("v{v}")),
        message.control_id().map(|c| format!("control id {c}")),
        Some(format!("delimiters {}", message.delimiters())),
        Some(format!("charset {}", message.charset().code())),
    ];
    let summary: Vec<String> = summary.into_iter().flatten().collect();
    out.push_str(&summary.join(", "));
    out.push('\n');
    for segment in message.segments() {
        let name = segment_name(segment.id()).unwrap_or("");
        out.push_str(format!("{:<4} {name}", segment.id()).trim_end());
        out.push('\n');
        for (n, field) in segment.fields() {
            render_field(message, &segment, n, field, &mut out);
        }
    }
    for finding in message.findings() {
        out.push_str(&format!("! {finding}\n"));
    }
    out
}

fn line(out: &mut String, indent: usize, path: &str, name: &str, value: &str) {
    let pad = " ".repeat(indent);
    let text = format!("{pad}{path:<14} {name:<34} {value}");
    out.push_str(text.trim_end());
    out.push('\n');
}

fn shown(message: &Message<'_>, value: &Value<'_>) -> String {
    if value.is_null() {
        "\"\" (present but null)".to_string()
    } else {
        message.text(value).into_owned()
    }
}

fn render_field(
    message: &Message<'_>,
    segment: &Segment<'_>,
    n: usize,
    field: Value<'_>,
    out: &mut String,
) {
    if field.is_empty() {
        return;
    }
    let id = segment.id();
    let name = field_name(id, n).unwrap_or("");
    let path = format!("{id}-{n}");
    if field.level() == Level::Opaque || !field.is_composite() {
        line(out, 2, &path, name, &shown(message, &field));
        return;
    }
    line(out, 2, &path, name, &String::from_utf8_lossy(field.as_bytes()));
    let repetitions: Vec<Value<'_>> = field.repetitions().collect();
    for (r, repetition) in repetitions.iter().enumerate() {
        let mut indent = 4;
        let rep_path =
            if repetitions.len() > 1 { format!("{path}[{}]", r + 1) } else { path.clone() };
        if repetitions.len() > 1 {
            if repetition.is_empty() {
                continue;
            }
            line(out, indent, &rep_path, "", &shown(message, repetition));
            indent += 2;
            if !repetition.is_composite() {
                continue;
            }
        }
        for (c, component) in repetition.components().enumerate() {
            if component.is_empty() {
                continue;
            }
            let c_path = format!("{rep_path}.{}", c + 1);
            let c_name = component_name(id, n, c + 1).unwrap_or("");
            line(out, indent, &c_path, c_name, &shown(message, &component));
            if component.is_composite() {
                for (s, sub) in component.subcomponents().enumerate() {
                    if !sub.is_empty() {
                        line(
                            out,
                            indent + 2,
                            &format!("{c_path}.{}", s + 1),
                            "",
                            &shown(message, &sub),
                        );
                    }
                }
            }
        }
    }
}

/// The JSON form of a message: every field with its raw bytes and decoded parts.
pub fn message_json(message: &Message<'_>, index: usize) -> Json {
    let segments: Vec<Json> = message
        .segments()
        .map(|segment| {
            let fields: Vec<Json> = segment
                .fields()
                .filter(|(_, f)| !f.is_empty())
                .map(|(n, f)| field_json(message, &segment, n, &f))
                .collect();
            json!({
                "index": segment.index(),
                "id": segment.id(),
                "name": segment_name(segment.id()),
                "offset": segment.offset(),
                "fields": fields,
            })
        })
        .collect();
    json!({
        "index": index,
        "offset": message.origin(),
        "delimiters": message.delimiters().to_string(),
        "charset": message.charset().code(),
        "message_type": message.header().field(9).map(|v| message.text(&v).into_owned()),
        "version": message.version(),
        "control_id": message.control_id(),
        "segments": segments,
        "findings": message.findings(),
    })
}

fn field_json(message: &Message<'_>, segment: &Segment<'_>, n: usize, field: &Value<'_>) -> Json {
    let text = |v: &Value<'_>| message.text(v).into_owned();
    let mut object = json!({
        "position": n,
        "name": field_name(segment.id(), n),
        "raw": String::from_utf8_lossy(field.as_bytes()),
        "null": field.is_null(),
    });
    if field.level() == Level::Opaque || !field.is_composite() {
        object["text"] = json!(text(field));
        return object;
    }
    let repetitions: Vec<Json> = field
        .repetitions()
        .map(|r| {
            let components: Vec<Json> = r
                .components()
                .map(|c| {
                    if c.is_composite() {
                        json!({ "subcomponents": c.subcomponents().map(|s| text(&s)).collect::<Vec<_>>() })
                    } else {
                        json!({ "text": text(&c) })
                    }
                })
                .collect();
            json!({ "components": components })
        })
        .collect();
    object["repetitions"] = json!(repetitions);
    object
}
