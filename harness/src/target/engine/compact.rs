//! Compaction of the engine's journals. Without it `inbox.journal` keeps every input ever
//! accepted and a start maps all of them again: disk and start time grow without bound on an
//! engine that runs for weeks. An input is *closed* when the outcome journal closes every one of
//! its outputs; closed inputs and their outcome records are dropped by rewriting both files.
//!
//! Crash safety: each file is replaced whole (written beside it, synced, renamed over it), the
//! inbox first. A crash between the two leaves the new inbox with the old outcomes, which only
//! holds extra records for inputs no longer in the inbox: harmless. The last input journaled is
//! always kept, closed or not, so a start reads the highest sequence number and never gives a
//! new input the number of a dropped one (whose outcome records may still be on disk).

use crate::target::journal::{encode_record, replace_synced, unix_millis, JournalError};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Closed inputs that trigger a compaction while the engine runs: often enough that the inbox
/// stays small, rarely enough that the rewrite (under the journal lock) costs little per input.
pub const COMPACT_EVERY: u64 = 1024;

/// Which journaled inputs still have outputs open, and how many closed since the last
/// compaction.
#[derive(Debug, Default)]
pub struct OpenInputs {
    /// Input sequence → outputs neither delivered nor given up.
    remaining: HashMap<u64, u32>,
    closed_since_compaction: u64,
}

impl OpenInputs {
    /// An input journaled with `outputs` outputs open.
    pub fn opened(&mut self, sequence: u64, outputs: u32) {
        if outputs > 0 {
            self.remaining.insert(sequence, outputs);
        }
    }

    /// One output of `sequence` closed. True when that closed the input and enough inputs have
    /// closed since the last compaction to compact now.
    pub fn output_closed(&mut self, sequence: u64) -> bool {
        let Some(left) = self.remaining.get_mut(&sequence) else { return false };
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.remaining.remove(&sequence);
            self.closed_since_compaction += 1;
        }
        self.closed_since_compaction >= COMPACT_EVERY
    }

    pub fn is_open(&self, sequence: u64) -> bool {
        self.remaining.contains_key(&sequence)
    }

    pub fn open_count(&self) -> usize {
        self.remaining.len()
    }

    fn compacted(&mut self) {
        self.closed_since_compaction = 0;
    }
}

/// What one compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    pub inputs_kept: usize,
    pub inputs_dropped: usize,
    pub outcomes_dropped: usize,
}

/// Rewrites `inbox` keeping the inputs `open` lists (and the last one), then `outcomes`
/// keeping the records of the inputs kept. Records keep their sequence numbers; their
/// timestamps become the time of the rewrite. Nothing is written when nothing would be dropped.
pub fn compact(
    inbox: &Path,
    outcomes: &Path,
    open: &mut OpenInputs,
) -> Result<Compaction, JournalError> {
    let inputs = read_if_present(inbox)?;
    let last = inputs.last().map(|(sequence, _)| *sequence);
    let keep = |sequence: u64| open.is_open(sequence) || Some(sequence) == last;
    let kept: Vec<&(u64, Vec<u8>)> = inputs.iter().filter(|(s, _)| keep(*s)).collect();
    let kept_sequences: HashSet<u64> = kept.iter().map(|(s, _)| *s).collect();
    let records = read_if_present(outcomes)?;
    let kept_outcomes: Vec<&(u64, Vec<u8>)> =
        records.iter().filter(|(s, _)| kept_sequences.contains(s)).collect();
    let done = Compaction {
        inputs_kept: kept.len(),
        inputs_dropped: inputs.len() - kept.len(),
        outcomes_dropped: records.len() - kept_outcomes.len(),
    };
    if done.inputs_dropped > 0 || done.outcomes_dropped > 0 {
        rewrite(inbox, &kept)?;
        rewrite(outcomes, &kept_outcomes)?;
    }
    open.compacted();
    Ok(done)
}

fn read_if_present(path: &Path) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
    match path.is_file() {
        true => crate::target::journal::read_journal_sequenced(path),
        false => Ok(Vec::new()),
    }
}

fn rewrite(path: &Path, records: &[&(u64, Vec<u8>)]) -> Result<(), JournalError> {
    let now = unix_millis();
    let mut bytes = Vec::new();
    for (sequence, payload) in records {
        bytes.extend_from_slice(&encode_record(*sequence, now, payload));
    }
    replace_synced(path, "compacting", &bytes)
        .map_err(|source| JournalError::Io { path: path.display().to_string(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::journal::{read_journal_sequenced, Journal};

    fn folder(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("hl7-engine-compact-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn closed_inputs_and_their_outcomes_go_open_ones_and_the_last_stay() {
        let dir = folder("drop");
        let (inbox, outcomes) = (dir.join("inbox.journal"), dir.join("outcomes.journal"));
        let (mut i, _) = Journal::open(&inbox).unwrap();
        let (mut o, _) = Journal::open(&outcomes).unwrap();
        let mut open = OpenInputs::default();
        for sequence in 1..=4 {
            i.append(sequence, format!("input {sequence}").as_bytes()).unwrap();
            open.opened(sequence, 2);
        }
        // 1 and 4 fully closed, 2 half, 3 open.
        for (sequence, number) in [(1, 1), (1, 2), (2, 1), (4, 1), (4, 2)] {
            o.append(sequence, format!("delivered {sequence} {number} A").as_bytes()).unwrap();
            open.output_closed(sequence);
        }
        let done = compact(&inbox, &outcomes, &mut open).unwrap();
        assert_eq!(done, Compaction { inputs_kept: 3, inputs_dropped: 1, outcomes_dropped: 2 });
        let kept: Vec<u64> = read_journal_sequenced(&inbox).unwrap().iter().map(|r| r.0).collect();
        assert_eq!(kept, [2, 3, 4], "the last input stays to hold the highest sequence");
        let outcomes_left: Vec<Vec<u8>> =
            read_journal_sequenced(&outcomes).unwrap().into_iter().map(|r| r.1).collect();
        assert_eq!(
            outcomes_left,
            [b"delivered 2 1 A".to_vec(), b"delivered 4 1 A".to_vec(), b"delivered 4 2 A".to_vec()]
        );
        // Nothing more to drop: the files are left as they are.
        let before = std::fs::metadata(&inbox).unwrap().modified().unwrap();
        let again = compact(&inbox, &outcomes, &mut open).unwrap();
        assert_eq!(again.inputs_dropped + again.outcomes_dropped, 0);
        assert_eq!(std::fs::metadata(&inbox).unwrap().modified().unwrap(), before);
    }

    #[test]
    fn compaction_is_due_after_enough_closed_inputs() {
        let mut open = OpenInputs::default();
        for sequence in 0..COMPACT_EVERY {
            open.opened(sequence, 1);
        }
        open.opened(COMPACT_EVERY, 0);
        assert!(!open.is_open(COMPACT_EVERY), "an input without outputs is never open");
        let due: Vec<bool> = (0..COMPACT_EVERY).map(|s| open.output_closed(s)).collect();
        assert_eq!(due.iter().filter(|d| **d).count(), 1);
        assert!(due[due.len() - 1]);
        assert!(!open.output_closed(7), "closing an unknown input changes nothing");
        assert_eq!(open.open_count(), 0);
    }

    #[test]
    fn a_leftover_of_a_crashed_compaction_is_not_read_and_is_replaced() {
        let dir = folder("leftover");
        let (inbox, outcomes) = (dir.join("inbox.journal"), dir.join("outcomes.journal"));
        let (mut i, _) = Journal::open(&inbox).unwrap();
        i.append(1, b"one").unwrap();
        i.append(2, b"two").unwrap();
        std::fs::write(dir.join("inbox.journal.compacting"), b"half a file").unwrap();
        let mut open = OpenInputs::default();
        open.opened(2, 1);
        let done = compact(&inbox, &outcomes, &mut open).unwrap();
        assert_eq!(done.inputs_dropped, 1);
        assert_eq!(read_journal_sequenced(&inbox).unwrap(), [(2, b"two".to_vec())]);
        assert!(!dir.join("inbox.journal.compacting").exists());
    }
}
