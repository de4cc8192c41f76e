//! `hl7-harness inspect`: a message as a readable tree, as JSON, or one value by path.

use super::exit;
use super::input::InputFile;
use crate::hl7::names::{component_name, field_name, segment_name};
use crate::hl7::{Level, Message, Path, Segment, Value};
use serde::ser::{Serialize, SerializeStruct, Serializer};
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
    /// Print the tree as JSON (written as it is walked: memory stays that of the message).
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
    let mut documents: Vec<(usize, Message<'_>)> = Vec::new();
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
            documents.push((index + 1, message));
        } else {
            if indexes.len() > 1 || index > 0 {
                writeln!(out, "── message {} of {} ──", index + 1, file.messages.len())?;
            }
            write!(out, "{}", render_tree(&message))?;
        }
    }
    if args.json {
        let document = DocumentJson { file: &file.path, messages: &documents };
        let mut buffered = std::io::BufWriter::new(&mut *out);
        serde_json::to_writer_pretty(&mut buffered, &document)?;
        writeln!(buffered)?;
        buffered.flush()?;
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

/// The JSON form of a message: every field with its raw bytes and decoded parts. Written to
/// the output as it is walked, never built as a tree first: a value tree took about 3 KB per
/// repetition (a 1 MB field of empty repetitions took 2.97 GB, issue 14); streamed, memory
/// stays that of the parsed message. Keys come in the order a `serde_json::Value` prints them
/// (sorted), so the output is what it was.
pub struct MessageJson<'m, 'a> {
    pub message: &'m Message<'a>,
    /// 1-based.
    pub index: usize,
}

impl Serialize for MessageJson<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let message = self.message;
        let mut m = s.serialize_struct("Message", 9)?;
        m.serialize_field("charset", message.charset().code())?;
        m.serialize_field("control_id", &message.control_id())?;
        m.serialize_field("delimiters", &message.delimiters().to_string())?;
        m.serialize_field("findings", message.findings())?;
        m.serialize_field("index", &self.index)?;
        let message_type = message.header().field(9).map(|v| message.text(&v).into_owned());
        m.serialize_field("message_type", &message_type)?;
        m.serialize_field("offset", &message.origin())?;
        m.serialize_field(
            "segments",
            &Seq(|| message.segments().map(|s| SegmentJson(message, s))),
        )?;
        m.serialize_field("version", &message.version())?;
        m.end()
    }
}

/// A sequence serialised from an iterator made on demand (nothing collected).
struct Seq<F>(F);

impl<F, I> Serialize for Seq<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

struct SegmentJson<'m, 'a>(&'m Message<'a>, Segment<'a>);

impl Serialize for SegmentJson<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let SegmentJson(message, segment) = self;
        let mut m = s.serialize_struct("Segment", 5)?;
        let fields = || {
            segment.fields().filter(|(_, f)| !f.is_empty()).map(|(n, field)| FieldJson {
                message,
                segment,
                n,
                field,
            })
        };
        m.serialize_field("fields", &Seq(fields))?;
        m.serialize_field("id", segment.id())?;
        m.serialize_field("index", &segment.index())?;
        m.serialize_field("name", &segment_name(segment.id()))?;
        m.serialize_field("offset", &segment.offset())?;
        m.end()
    }
}

struct FieldJson<'m, 'a> {
    message: &'m Message<'a>,
    segment: &'m Segment<'a>,
    n: usize,
    field: Value<'a>,
}

impl Serialize for FieldJson<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (message, field) = (self.message, &self.field);
        let mut m = s.serialize_struct("Field", 5)?;
        m.serialize_field("name", &field_name(self.segment.id(), self.n))?;
        m.serialize_field("null", &field.is_null())?;
        m.serialize_field("position", &self.n)?;
        m.serialize_field("raw", &String::from_utf8_lossy(field.as_bytes()))?;
        if field.level() == Level::Opaque || !field.is_composite() {
            m.serialize_field("text", &message.text(field))?;
        } else {
            let repetitions = || field.repetitions().map(|r| RepetitionJson(message, r));
            m.serialize_field("repetitions", &Seq(repetitions))?;
        }
        m.end()
    }
}

struct RepetitionJson<'m, 'a>(&'m Message<'a>, Value<'a>);

impl Serialize for RepetitionJson<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let RepetitionJson(message, repetition) = self;
        let mut m = s.serialize_struct("Repetition", 1)?;
        let components = || repetition.components().map(|c| ComponentJson(message, c));
        m.serialize_field("components", &Seq(components))?;
        m.end()
    }
}

struct ComponentJson<'m, 'a>(&'m Message<'a>, Value<'a>);

impl Serialize for ComponentJson<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ComponentJson(message, component) = self;
        let mut m = s.serialize_struct("Component", 1)?;
        if component.is_composite() {
            let texts = || component.subcomponents().map(|sub| message.text(&sub).into_owned());
            m.serialize_field("subcomponents", &Seq(texts))?;
        } else {
            m.serialize_field("text", &message.text(component))?;
        }
        m.end()
    }
}

/// `{"file": …, "messages": […]}`, streamed.
struct DocumentJson<'m, 'a> {
    file: &'m str,
    messages: &'m [(usize, Message<'a>)],
}

impl Serialize for DocumentJson<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_struct("Document", 2)?;
        m.serialize_field("file", self.file)?;
        let messages =
            || self.messages.iter().map(|(index, message)| MessageJson { message, index: *index });
        m.serialize_field("messages", &Seq(messages))?;
        m.end()
    }
}
