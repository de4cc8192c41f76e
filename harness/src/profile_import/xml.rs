//! The XML side of an import: parsing with limits (size, nodes, depth; no DTD, so no entity
//! expansion), lines for every note and error, and the notes themselves.
//!
//! A profile file is input like any other: it may be truncated, garbled or built to exhaust
//! memory. Everything here returns an error naming the file and line, never panics.

use std::collections::BTreeMap;
use std::fmt;

/// Largest XML file read (a NIST value set library of a large guide is a few MB).
pub const MAX_XML_BYTES: usize = 16 * 1024 * 1024;
/// Most XML nodes (elements, text, attributes count apart) in one file.
pub const MAX_XML_NODES: u32 = 2_000_000;
/// Deepest element nesting read. Real profiles nest groups a handful of levels deep.
pub const MAX_XML_DEPTH: usize = 64;
/// A line longer than this gets a column in notes (byte offset in the line, 1-based).
const LONG_LINE: usize = 400;

/// Why a file could not be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: {bytes} bytes is more than the {limit}-byte limit for a profile file")]
    TooLarge { file: String, bytes: usize, limit: usize },
    #[error("{file}:{line}:{column}: not well-formed XML: {message}")]
    Xml { file: String, line: u32, column: u32, message: String },
    #[error("{file}:{line}: elements nested more than {limit} levels deep; refused past that")]
    TooDeep { file: String, line: u32, limit: usize },
    #[error(
        "{file}:{line}: root element <{root}> is neither an HL7 v2.x message profile \
         (<HL7v2xConformanceProfile>) nor a NIST/IGAMT export (<ConformanceProfile>)"
    )]
    UnknownFormat { file: String, line: u32, root: String },
    #[error("{file}:{line}: <{element}> {problem}")]
    Structure { file: String, line: u32, element: String, problem: String },
    #[error("{file}: {message}")]
    Read { file: String, message: String },
}

/// Something of the source file the target profile does not carry as written: a construct not
/// supported, a value read more permissively, a reference that could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub file: String,
    pub line: u32,
    /// The column too, when the line is long (an export written on one line).
    pub column: Option<u32>,
    /// The XML element the note is about, e.g. `DynamicDef`.
    pub element: String,
    pub message: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:", self.file, self.line)?;
        if let Some(column) = self.column {
            write!(f, "{column}:")?;
        }
        write!(f, " <{}> {}", self.element, self.message)
    }
}

/// Notes gathered while importing. Notes that would repeat for every element (an attribute a
/// whole export carries) are counted under one key and written once, with the first line and
/// how many more there were.
#[derive(Debug, Default)]
pub struct Notes {
    list: Vec<Note>,
    repeated: BTreeMap<(String, String), (Note, usize)>,
}

impl Notes {
    pub fn add(
        &mut self,
        doc: &Doc<'_>,
        node: roxmltree::Node<'_, '_>,
        message: impl Into<String>,
    ) {
        self.list.push(doc.note(node, message.into()));
    }

    pub fn push(&mut self, note: Note) {
        self.list.push(note);
    }

    /// A note that the same construct would give many times: kept once per (element, message).
    pub fn add_once(
        &mut self,
        doc: &Doc<'_>,
        node: roxmltree::Node<'_, '_>,
        message: impl Into<String>,
    ) {
        let note = doc.note(node, message.into());
        let key = (note.element.clone(), note.message.clone());
        self.repeated.entry(key).and_modify(|(_, n)| *n += 1).or_insert((note, 0));
    }

    /// Every note, in file and line order.
    pub fn finish(self) -> Vec<Note> {
        let mut all = self.list;
        all.extend(self.repeated.into_values().map(|(mut note, more)| {
            if more > 0 {
                note.message = format!("{} (and {more} more like it)", note.message);
            }
            note
        }));
        all.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        all
    }
}

/// A parsed XML file with its name and a line index.
pub struct Doc<'a> {
    pub file: String,
    pub doc: roxmltree::Document<'a>,
    line_starts: Vec<usize>,
    len: usize,
}

impl<'a> Doc<'a> {
    /// Parses `text` within the limits; a DTD is refused (roxmltree's default), so no entity
    /// is ever expanded.
    pub fn parse(file: &str, text: &'a str) -> Result<Doc<'a>, ImportError> {
        if text.len() > MAX_XML_BYTES {
            return Err(ImportError::TooLarge {
                file: file.into(),
                bytes: text.len(),
                limit: MAX_XML_BYTES,
            });
        }
        let options =
            roxmltree::ParsingOptions { nodes_limit: MAX_XML_NODES, ..Default::default() };
        let doc = roxmltree::Document::parse_with_options(text, options).map_err(|e| {
            let pos = e.pos();
            ImportError::Xml {
                file: file.into(),
                line: pos.row,
                column: pos.col,
                message: e.to_string(),
            }
        })?;
        let line_starts = std::iter::once(0)
            .chain(text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i + 1))
            .collect();
        let parsed = Doc { file: file.into(), doc, line_starts, len: text.len() };
        parsed.check_depth()?;
        Ok(parsed)
    }

    /// Walks the tree once without recursion; every later walk may then recurse safely.
    fn check_depth(&self) -> Result<(), ImportError> {
        let mut stack = vec![(self.doc.root_element(), 1usize)];
        while let Some((node, depth)) = stack.pop() {
            if depth > MAX_XML_DEPTH {
                return Err(ImportError::TooDeep {
                    file: self.file.clone(),
                    line: self.line(node),
                    limit: MAX_XML_DEPTH,
                });
            }
            stack.extend(node.children().filter(|c| c.is_element()).map(|c| (c, depth + 1)));
        }
        Ok(())
    }

    pub fn root(&self) -> roxmltree::Node<'_, 'a> {
        self.doc.root_element()
    }

    /// The 1-based line a node starts on.
    pub fn line(&self, node: roxmltree::Node<'_, '_>) -> u32 {
        let at = node.range().start;
        let line = match self.line_starts.binary_search(&at) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        u32::try_from(line).unwrap_or(u32::MAX)
    }

    pub fn note(&self, node: roxmltree::Node<'_, '_>, message: String) -> Note {
        let at = node.range().start;
        let line = self.line(node);
        let start = self.line_starts.get(line.saturating_sub(1) as usize).copied().unwrap_or(0);
        let end = self.line_starts.get(line as usize).copied().unwrap_or(self.len);
        let column = (end.saturating_sub(start) > LONG_LINE)
            .then(|| u32::try_from(at.saturating_sub(start) + 1).unwrap_or(u32::MAX));
        Note {
            file: self.file.clone(),
            line,
            column,
            element: node.tag_name().name().to_string(),
            message,
        }
    }

    pub fn structure(
        &self,
        node: roxmltree::Node<'_, '_>,
        problem: impl Into<String>,
    ) -> ImportError {
        ImportError::Structure {
            file: self.file.clone(),
            line: self.line(node),
            element: node.tag_name().name().to_string(),
            problem: problem.into(),
        }
    }

    /// A required attribute, trimmed.
    pub fn required<'n>(
        &self,
        node: roxmltree::Node<'n, 'a>,
        name: &str,
    ) -> Result<&'n str, ImportError>
    where
        'a: 'n,
    {
        attr(node, name).ok_or_else(|| self.structure(node, format!("has no {name}= attribute")))
    }
}

/// An attribute, trimmed; `None` when absent or blank.
pub fn attr<'n>(node: roxmltree::Node<'n, '_>, name: &str) -> Option<&'n str> {
    node.attribute(name).map(str::trim).filter(|v| !v.is_empty())
}

/// Child elements of `node` (text and comments left out).
pub fn elements<'n, 'i>(
    node: roxmltree::Node<'n, 'i>,
) -> impl Iterator<Item = roxmltree::Node<'n, 'i>> {
    node.children().filter(|c| c.is_element())
}

/// The first child element named `name`.
pub fn child<'n, 'i>(node: roxmltree::Node<'n, 'i>, name: &str) -> Option<roxmltree::Node<'n, 'i>> {
    elements(node).find(|c| c.tag_name().name() == name)
}

/// The text of an element with its whitespace runs folded to single spaces (profiles wrap
/// prose over many indented lines).
pub fn text_of(node: roxmltree::Node<'_, '_>) -> Option<String> {
    let joined: String = node
        .descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect::<Vec<_>>()
        .join(" ");
    let folded = joined.split_whitespace().collect::<Vec<_>>().join(" ");
    (!folded.is_empty()).then_some(folded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_errors_name_the_place() {
        let doc = Doc::parse("p.xml", "<a>\n  <b/>\n\n  <c x=' y '/>\n</a>").expect("parses");
        let c = child(doc.root(), "c").expect("c");
        assert_eq!(doc.line(c), 4);
        assert_eq!(attr(c, "x"), Some("y"));
        let error = Doc::parse("p.xml", "<a>\n<b>\n</a>").err().expect("bad").to_string();
        assert!(error.starts_with("p.xml:3:"), "{error}");
    }

    #[test]
    fn dtds_and_entities_are_refused() {
        let bomb = "<?xml version='1.0'?><!DOCTYPE a [<!ENTITY x 'xxxxxxxx'>]><a>&x;</a>";
        assert!(Doc::parse("p.xml", bomb).is_err());
    }

    #[test]
    fn depth_is_bounded_without_recursion() {
        let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
        let error = Doc::parse("deep.xml", &deep).err().expect("too deep");
        assert!(matches!(error, ImportError::TooDeep { .. }), "{error}");
    }

    #[test]
    fn repeated_notes_are_counted_once() {
        let doc = Doc::parse("p.xml", "<a><b/><b/><b/></a>").expect("parses");
        let mut notes = Notes::default();
        for b in elements(doc.root()) {
            notes.add_once(&doc, b, "not kept");
        }
        let all = notes.finish();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].to_string(), "p.xml:1: <b> not kept (and 2 more like it)");
    }
}
