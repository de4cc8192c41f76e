//! The reference endpoint's journal: an append-only file of every message received, written and
//! synced before the message is acknowledged, so that "nothing acknowledged is ever lost" holds
//! across restarts and can be checked.
//!
//! # Format (version 2)
//!
//! One record per message, nothing between records:
//!
//! ```text
//! hl7-journal 2 <sequence> <unix millis> <length> <sha256>\n
//! <length payload bytes, exactly as received>\n
//! ```
//!
//! `<sha256>` is the lowercase hex SHA-256 of the header up to and without the space before it
//! (`hl7-journal 2 <sequence> <unix millis> <length>`), a `\n`, and the payload: a torn write, a
//! flipped bit or a spliced record fails it. Version 1 records (the same header without the
//! checksum) are still read, so journals written by earlier versions replay unchanged.
//!
//! # Failure and repair
//!
//! An append that fails (disk full, file size limit, I/O error) is rolled back: the file is cut
//! back to the length it had before the record, before anything else is written, so a failed
//! message leaves no partial record behind for later records to be appended after. When even
//! the cut fails, every later append tries it first and writes nothing until it succeeds.
//!
//! Reading stops at the first damaged record with [`JournalError::Damaged`], naming the byte
//! offset and the [`Damage`]. [`repair`] keeps every complete record (its checksum matches),
//! those after the damage included, moves the damaged bytes to a side file and says what it did.

use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};
use thiserror::Error;

/// The first word of every record header.
pub const RECORD_TAG: &str = "hl7-journal";
/// The format version this build writes.
pub const FORMAT_VERSION: u32 = 2;
/// The longest header line read: tag, version, three numbers of at most 20 digits, 64 hex
/// digits and the separators fit well within it.
const MAX_HEADER_BYTES: usize = 256;

/// Why a record cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Damage {
    #[error("no `{RECORD_TAG}` record header")]
    NoHeader,
    #[error("no end of the record header line within {MAX_HEADER_BYTES} bytes")]
    HeaderTooLong,
    #[error("record header cut off by the end of the file")]
    HeaderCut,
    #[error("journal format version {0:?} is not one this build reads (1 or 2)")]
    UnknownVersion(String),
    #[error("malformed record header: {0}")]
    BadHeader(String),
    #[error("record shorter than its length: {length} bytes declared, {left} left in the file")]
    LengthPastEnd { length: u64, left: u64 },
    #[error("record does not end with a newline")]
    NoNewline,
    #[error("record checksum does not match its header and payload")]
    ChecksumMismatch,
}

#[derive(Debug, Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "journal {path}: record at byte {offset} is damaged: {reason} (`hl7-harness serve \
         --journal {path} --repair` keeps every complete record and moves the damaged bytes \
         to a side file)"
    )]
    Damaged {
        path: String,
        offset: u64,
        #[source]
        reason: Damage,
    },
    #[error("journal {path}: the record at byte {offset} could not be written ({source}); {}",
        if *.rolled_back { "the journal was cut back to its last whole record" }
        else { "cutting the partial record off failed too: nothing is written until it succeeds" })]
    Append {
        path: String,
        offset: u64,
        rolled_back: bool,
        #[source]
        source: std::io::Error,
    },
}

/// One record as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// Byte offset of the record's header in the file.
    pub offset: u64,
    pub version: u32,
    pub sequence: u64,
    pub payload: &'a [u8],
    /// How many bytes the record takes, header and final newline included.
    pub len: usize,
}

/// The bytes of one version 2 record.
pub fn encode_record(sequence: u64, unix_millis: u128, payload: &[u8]) -> Vec<u8> {
    let header =
        format!("{RECORD_TAG} {FORMAT_VERSION} {sequence} {unix_millis} {}", payload.len());
    let sum = checksum(header.as_bytes(), payload);
    let mut record = Vec::with_capacity(header.len() + 66 + payload.len() + 1);
    record.extend_from_slice(header.as_bytes());
    record.push(b' ');
    record.extend_from_slice(sum.as_bytes());
    record.push(b'\n');
    record.extend_from_slice(payload);
    record.push(b'\n');
    record
}

fn checksum(header: &[u8], payload: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(header);
    hasher.update(b"\n");
    hasher.update(payload);
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses the record starting at `bytes[at]` (pure; `bytes` is the whole file).
pub fn parse_record(bytes: &[u8], at: usize) -> Result<Record<'_>, Damage> {
    let rest = &bytes[at..];
    let window = &rest[..rest.len().min(MAX_HEADER_BYTES)];
    let Some(end) = memchr::memchr(b'\n', window) else {
        let tag = RECORD_TAG.as_bytes();
        let looks_like_header = rest.starts_with(tag) || tag.starts_with(rest);
        return Err(match (looks_like_header, window.len() == rest.len()) {
            (true, true) => Damage::HeaderCut,
            (true, false) => Damage::HeaderTooLong,
            (false, _) => Damage::NoHeader,
        });
    };
    let line = &rest[..end];
    let text = std::str::from_utf8(line).map_err(|_| Damage::NoHeader)?;
    let mut words = text.split(' ');
    if words.next() != Some(RECORD_TAG) {
        return Err(Damage::NoHeader);
    }
    let version = match words.next() {
        Some("1") => 1,
        Some("2") => 2,
        other => return Err(Damage::UnknownVersion(other.unwrap_or_default().to_string())),
    };
    let number = |word: Option<&str>, what: &str| {
        word.and_then(|w| w.parse::<u64>().ok())
            .ok_or_else(|| Damage::BadHeader(format!("no {what}")))
    };
    let sequence = number(words.next(), "sequence number")?;
    number(words.next(), "time")?;
    let length = number(words.next(), "length")?;
    let sum = if version == 2 {
        Some(words.next().ok_or_else(|| Damage::BadHeader("no checksum".into()))?)
    } else {
        None
    };
    if words.next().is_some() {
        return Err(Damage::BadHeader("more fields than the format has".into()));
    }
    let body = &rest[end + 1..];
    // Checked before anything is sliced or allocated: an absurd length is damage, not a crash.
    let left = body.len() as u64;
    if length >= left {
        return Err(Damage::LengthPastEnd { length, left });
    }
    let length = length as usize;
    let payload = &body[..length];
    if body[length] != b'\n' {
        return Err(Damage::NoNewline);
    }
    if let Some(sum) = sum {
        let signed = &text[..text.len() - sum.len() - 1];
        if checksum(signed.as_bytes(), payload) != sum {
            return Err(Damage::ChecksumMismatch);
        }
    }
    Ok(Record { offset: at as u64, version, sequence, payload, len: end + 1 + length + 1 })
}

/// Every record of a journal file, in order; the first damaged record is an error.
pub fn read_journal(path: &Path) -> Result<Vec<Vec<u8>>, JournalError> {
    Ok(read_journal_sequenced(path)?.into_iter().map(|(_, payload)| payload).collect())
}

/// As [`read_journal`], each payload with its record's sequence number.
pub fn read_journal_sequenced(path: &Path) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
    let shown = path.display().to_string();
    let bytes =
        std::fs::read(path).map_err(|source| JournalError::Io { path: shown.clone(), source })?;
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let record = parse_record(&bytes, at).map_err(|reason| JournalError::Damaged {
            path: shown.clone(),
            offset: at as u64,
            reason,
        })?;
        records.push((record.sequence, record.payload.to_vec()));
        at += record.len;
    }
    Ok(records)
}

/// An open journal that records are appended to.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
    /// The length to cut the file back to before the next append, when an earlier cut failed.
    cut_to: Option<u64>,
}

impl Journal {
    /// Reads the records already in `path` (none when it does not exist or is not a regular
    /// file, e.g. `/dev/null`) and opens it for appending.
    pub fn open(path: &Path) -> Result<(Journal, Vec<Vec<u8>>), JournalError> {
        let previous = if path.is_file() { read_journal(path)? } else { Vec::new() };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| JournalError::Io { path: path.display().to_string(), source })?;
        Ok((Journal { file, path: path.to_path_buf(), cut_to: None }, previous))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record and syncs it; on failure the file is as it was before (see the
    /// module documentation).
    pub fn append(&mut self, sequence: u64, payload: &[u8]) -> Result<(), JournalError> {
        // The path is written out only for an error: not a String per message.
        let shown = |path: &Path| path.display().to_string();
        let io = |source| JournalError::Io { path: shown(&self.path), source };
        if let Some(length) = self.cut_to {
            self.file.set_len(length).and_then(|()| self.file.sync_data()).map_err(|source| {
                JournalError::Append {
                    path: shown(&self.path),
                    offset: length,
                    rolled_back: false,
                    source,
                }
            })?;
            self.cut_to = None;
        }
        let before = self.file.metadata().map_err(io)?.len();
        let record = encode_record(sequence, unix_millis(), payload);
        // One write of the whole record, then a sync: the ACK is sent only after both.
        let Err(source) = self.file.write_all(&record).and_then(|()| self.file.sync_data()) else {
            return Ok(());
        };
        // Only a regular file can be cut back; on a device (/dev/full) nothing was kept anyway.
        let is_file = self.file.metadata().map(|m| m.is_file()).unwrap_or(false);
        let rolled_back =
            !is_file || self.file.set_len(before).and_then(|()| self.file.sync_data()).is_ok();
        if !rolled_back {
            self.cut_to = Some(before);
        }
        Err(JournalError::Append { path: shown(&self.path), offset: before, rolled_back, source })
    }
}

/// A run of bytes [`repair`] moved out of the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedRun {
    /// Where the run started in the journal as it was.
    pub offset: u64,
    pub len: u64,
    /// Why the record at `offset` could not be read.
    pub reason: Damage,
}

/// What [`repair`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// Complete records kept, in their order.
    pub kept: usize,
    pub damaged: Vec<DamagedRun>,
    /// The file holding the damaged bytes, one run after another; `None` when nothing was
    /// damaged (the journal is then left untouched).
    pub side_file: Option<PathBuf>,
}

impl std::fmt::Display for Repair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(side) = &self.side_file else {
            return write!(
                f,
                "{} complete record(s), nothing damaged; journal unchanged",
                self.kept
            );
        };
        let bytes: u64 = self.damaged.iter().map(|d| d.len).sum();
        write!(
            f,
            "kept {} complete record(s); moved {bytes} damaged byte(s) in {} run(s) to {}:",
            self.kept,
            self.damaged.len(),
            side.display()
        )?;
        for run in &self.damaged {
            write!(
                f,
                "\n  bytes {}..{} ({} bytes): {}",
                run.offset,
                run.offset + run.len,
                run.len,
                run.reason
            )?;
        }
        Ok(())
    }
}

/// Repairs the journal at `path`: keeps every complete record in order, those after damaged
/// bytes included, and moves every damaged run to `<path>.damaged-<unix millis>`. The new
/// journal is written beside the old one, synced and renamed over it, so a crash during the
/// repair leaves the old journal whole.
pub fn repair(path: &Path) -> Result<Repair, JournalError> {
    let shown = path.display().to_string();
    let io = |source| JournalError::Io { path: shown.clone(), source };
    let bytes = std::fs::read(path).map_err(io)?;
    let mut kept = Vec::with_capacity(bytes.len());
    let mut kept_count = 0;
    let mut damaged: Vec<DamagedRun> = Vec::new();
    let mut side = Vec::new();
    let mut at = 0;
    let finder = memchr::memmem::Finder::new(RECORD_TAG.as_bytes());
    while at < bytes.len() {
        match parse_record(&bytes, at) {
            Ok(record) => {
                kept.extend_from_slice(&bytes[at..at + record.len]);
                kept_count += 1;
                at += record.len;
            }
            Err(reason) => {
                // The next offset, after this one, where a whole record starts.
                let next = finder
                    .find_iter(&bytes[at + 1..])
                    .map(|i| at + 1 + i)
                    .find(|&i| parse_record(&bytes, i).is_ok())
                    .unwrap_or(bytes.len());
                side.extend_from_slice(&bytes[at..next]);
                damaged.push(DamagedRun { offset: at as u64, len: (next - at) as u64, reason });
                at = next;
            }
        }
    }
    if damaged.is_empty() {
        return Ok(Repair { kept: kept_count, damaged, side_file: None });
    }
    let side_file = PathBuf::from(format!("{shown}.damaged-{}", unix_millis()));
    write_synced(&side_file, &side)
        .map_err(|source| JournalError::Io { path: side_file.display().to_string(), source })?;
    replace_synced(path, "repairing", &kept).map_err(io)?;
    Ok(Repair { kept: kept_count, damaged, side_file: Some(side_file) })
}

/// Replaces the file at `path` with `bytes` so that a crash at any moment leaves either the old
/// file or the new one whole: written beside it as `<path>.<stage>`, synced, renamed over it.
pub(crate) fn replace_synced(path: &Path, stage: &str, bytes: &[u8]) -> std::io::Result<()> {
    let fresh = PathBuf::from(format!("{}.{stage}", path.display()));
    // A leftover of a crash during an earlier replacement is not the journal: start over.
    let _ = std::fs::remove_file(&fresh);
    write_synced(&fresh, bytes)?;
    std::fs::rename(&fresh, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename is durable once the folder is synced (best effort: not every platform
        // lets a folder be opened).
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

pub(crate) fn unix_millis() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hl7-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        path
    }

    fn check(bytes: &[u8], expected: Result<&[u8], Damage>) {
        assert_eq!(parse_record(bytes, 0).map(|r| r.payload), expected, "{bytes:?}");
    }

    #[test]
    fn records_round_trip_and_damage_is_named() {
        let record = encode_record(7, 1_700_000_000_000, b"MSH|x\r");
        check(&record, Ok(b"MSH|x\r"));
        assert_eq!(parse_record(&record, 0).unwrap().len, record.len());
        // Version 1 records (no checksum) still read.
        check(b"hl7-journal 1 1 0 3\nabc\n", Ok(b"abc"));
        check(b"hl7-journal 3 1 0 3\nabc\n", Err(Damage::UnknownVersion("3".into())));
        check(b"hl7-journal 1 1 0 3\nabcd", Err(Damage::NoNewline));
        check(b"garbage\nhl7-journal 1 1 0 3\nabc\n", Err(Damage::NoHeader));
        check(b"hl7-jour", Err(Damage::HeaderCut));
        check(b"hl7-journal 1 1 0 x\nabc\n", Err(Damage::BadHeader("no length".into())));
        // An absurd length is damage with its offset, never an allocation or an overflow.
        for length in [u64::MAX, u64::MAX / 2, 1 << 40] {
            let bytes = format!("hl7-journal 1 1 0 {length}\nabc\n");
            check(bytes.as_bytes(), Err(Damage::LengthPastEnd { length, left: 4 }));
        }
        let mut flipped = record.clone();
        let last = flipped.len() - 2;
        flipped[last] ^= 1;
        check(&flipped, Err(Damage::ChecksumMismatch));
        check(&[b'x'; 1000], Err(Damage::NoHeader));
    }

    #[test]
    fn absurd_length_in_a_file_is_a_named_error_with_its_offset() {
        let path = temp("absurd");
        let mut bytes = encode_record(1, 0, b"one");
        bytes.extend_from_slice(b"hl7-journal 2 2 0 18446744073709551615 00\nx\n");
        std::fs::write(&path, &bytes).unwrap();
        let err = read_journal(&path).unwrap_err();
        let JournalError::Damaged { offset, reason: Damage::LengthPastEnd { .. }, .. } = &err
        else {
            panic!("{err}")
        };
        assert_eq!(*offset, encode_record(1, 0, b"one").len() as u64);
        assert!(err.to_string().contains(&format!("record at byte {offset} is damaged")), "{err}");
    }

    #[test]
    fn repair_keeps_every_complete_record_after_the_damage() {
        let path = temp("repair");
        let mut bytes = Vec::new();
        for i in 1..=3 {
            bytes.extend_from_slice(&encode_record(i, 0, format!("m{i}").as_bytes()));
        }
        let torn = encode_record(4, 0, b"a message cut by a full disk");
        bytes.extend_from_slice(&torn[..torn.len() - 9]);
        let torn_at = bytes.len() as u64 - (torn.len() as u64 - 9);
        for i in 5..=6 {
            bytes.extend_from_slice(&encode_record(i, 0, format!("m{i}").as_bytes()));
        }
        let mut flipped = encode_record(7, 0, b"m7");
        let last = flipped.len() - 2;
        flipped[last] ^= 0x20;
        bytes.extend_from_slice(&flipped);
        bytes.extend_from_slice(&encode_record(8, 0, b"m8"));
        std::fs::write(&path, &bytes).unwrap();
        assert!(
            matches!(read_journal(&path), Err(JournalError::Damaged { offset, .. }) if offset == torn_at)
        );

        let repair = repair(&path).unwrap();
        assert_eq!(repair.kept, 6, "{repair}");
        assert_eq!(repair.damaged.len(), 2, "{repair}");
        assert_eq!(repair.damaged[0].offset, torn_at);
        assert_eq!(repair.damaged[1].reason, Damage::ChecksumMismatch);
        let side = std::fs::read(repair.side_file.as_ref().unwrap()).unwrap();
        assert_eq!(side, [&torn[..torn.len() - 9], &flipped[..]].concat());
        let payloads = read_journal(&path).unwrap();
        assert_eq!(payloads, ["m1", "m2", "m3", "m5", "m6", "m8"].map(|s| s.as_bytes().to_vec()));
        assert!(repair.to_string().contains("kept 6 complete record(s)"), "{repair}");
        // A whole journal is left alone.
        let again = super::repair(&path).unwrap();
        assert_eq!((again.kept, again.side_file), (6, None));
    }

    #[test]
    fn failed_append_leaves_the_journal_as_it_was() {
        // /dev/full fails every write with ENOSPC; a device is never cut.
        let (mut journal, previous) = Journal::open(Path::new("/dev/full")).unwrap();
        assert!(previous.is_empty());
        let err = journal.append(1, b"m1").unwrap_err();
        assert!(matches!(err, JournalError::Append { rolled_back: true, .. }), "{err}");
    }
}
