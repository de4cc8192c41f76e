//! Reading message files named on the command line: size-capped reads, directories expanded to
//! their `*.hl7` files, every file split into messages (batch files included).

use crate::hl7::{split_batch, Message, ParseError, ParseOptions};
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Largest file the commands read: HL7 files are messages, not archives; past this the input is
/// almost certainly not what the user meant, and memory stays bounded.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Error)]
pub enum InputError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: file is larger than the {max}-byte limit of this command")]
    TooLarge { path: String, max: u64 },
    #[error("{path}: byte {offset}: {source}")]
    Parse {
        path: String,
        offset: usize,
        #[source]
        source: ParseError,
    },
    #[error("{path}: message {index} not found (the file holds {count})")]
    NoSuchMessage { path: String, index: usize, count: usize },
}

/// One input file's bytes and the ranges of its messages.
pub struct InputFile {
    pub path: String,
    pub bytes: Vec<u8>,
    pub messages: Vec<Range<usize>>,
    pub findings: Vec<crate::hl7::Finding>,
}

impl InputFile {
    pub fn read(path: &Path) -> Result<InputFile, InputError> {
        Self::read_at_most(path, MAX_FILE_BYTES)
    }

    /// Like [`Self::read`] with a command's own limit: a larger file is refused before it is
    /// read, by an error naming it and the limit.
    pub fn read_at_most(path: &Path, max: u64) -> Result<InputFile, InputError> {
        let shown = path.display().to_string();
        let io = |source| InputError::Io { path: shown.clone(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.len() > max {
            return Err(InputError::TooLarge { path: shown, max });
        }
        let mut bytes = Vec::new();
        file.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
        if bytes.len() as u64 > max {
            return Err(InputError::TooLarge { path: shown, max });
        }
        let batch = split_batch(&bytes).map_err(|source| InputError::Parse {
            path: shown.clone(),
            offset: source.offset(),
            source,
        })?;
        Ok(InputFile { path: shown, bytes, messages: batch.messages, findings: batch.findings })
    }

    /// Parses message `index` (0-based) leniently; offsets in findings and errors are file
    /// offsets.
    pub fn message(&self, index: usize) -> Result<Message<'_>, InputError> {
        self.message_with(index, false)
    }

    /// Like [`Self::message`]; `strict` rejects LF and CRLF segment separators.
    pub fn message_with(&self, index: usize, strict: bool) -> Result<Message<'_>, InputError> {
        let range = self.messages.get(index).cloned().ok_or(InputError::NoSuchMessage {
            path: self.path.clone(),
            index: index + 1,
            count: self.messages.len(),
        })?;
        let options = ParseOptions { origin: range.start, strict_line_endings: strict };
        Message::parse_with(&self.bytes[range], options).map_err(|source| InputError::Parse {
            path: self.path.clone(),
            offset: source.offset(),
            source,
        })
    }
}

/// Expands directories into their `*.hl7` files (recursively, sorted); files stay as given.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, InputError> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            collect_dir(path, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn collect_dir(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let io = |source| InputError::Io { path: dir.display().to_string(), source };
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(io)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_dir(&entry, out)?;
        } else if entry.extension().is_some_and(|e| e == "hl7") {
            out.push(entry);
        }
    }
    Ok(())
}
