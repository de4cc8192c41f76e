//! Group commit for the reference endpoint's [`Journal`]: records of several connections that
//! arrive while a sync runs share the next `fdatasync`, instead of one each.
//!
//! The rule it keeps is the journal's: nothing is acknowledged before it is durable. An
//! appender writes its record (under the writers' lock, so records never interleave) and gets a
//! [`Pending`]; it may answer only once [`GroupJournal::durable`] says its record is synced.
//! Whoever waits while no sync runs becomes the leader: it takes the batch of records written
//! so far, syncs them outside the writers' lock (others go on writing into the next batch),
//! and tells every waiter of the batch the outcome. A failed sync fails the whole batch and
//! every record written after it (the file is cut back to its last durable length, as a failed
//! [`Journal::append`] is), so none of them is acknowledged as stored; their sequence numbers
//! are given back, so the journal's numbers stay those of a replay.
//!
//! The leader syncs on its own thread (a tokio worker, as the journal always did): the
//! followers wait without blocking theirs, so the other connections keep writing meanwhile.
//! [`SyncMode::EachRecord`] is the plain journal (a write and a sync per record, under the
//! lock), kept to show what group commit saves.

use super::journal::{Journal, JournalError};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

/// How records are made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// Records written while a sync runs share the next one.
    #[default]
    Group,
    /// A write and a sync per record, one record at a time.
    EachRecord,
}

/// Why a record of a batch is not durable: the sync of its batch failed. Shared by every
/// record of the batch, so the error is kept rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotStored(Arc<str>);

impl From<&JournalError> for NotStored {
    fn from(error: &JournalError) -> NotStored {
        NotStored(error.to_string().into())
    }
}

/// The records written between two syncs, and the outcome of the sync that covers them.
#[derive(Debug, Default)]
struct Batch {
    outcome: OnceLock<Result<(), NotStored>>,
}

/// A record written and not yet known to be durable.
#[derive(Debug)]
#[must_use = "a record may be acknowledged only once `durable` says it is stored"]
pub struct Pending {
    /// The record's sequence number.
    pub sequence: u64,
    batch: Arc<Batch>,
}

/// What the writers share, under one lock.
#[derive(Debug)]
struct Writer {
    journal: Journal,
    /// The sequence number of the last record written.
    sequence: u64,
    /// The batch new records join.
    batch: Arc<Batch>,
    /// Whether `batch` holds a record.
    batch_used: bool,
    /// Length and last sequence number of the journal as last synced.
    durable_len: u64,
    durable_sequence: u64,
}

/// How the leader syncs the file (a [`super::journal::JournalSyncer`]; a failing one in tests).
type Syncer = Box<dyn Fn() -> std::io::Result<()> + Send + Sync>;

/// A [`Journal`] with group commit.
pub struct GroupJournal {
    writer: Mutex<Writer>,
    syncer: Syncer,
    mode: SyncMode,
    /// Records written so far (synced or not), for readers that must not take the lock.
    written: AtomicU64,
    /// Whether a leader is syncing, and how many syncs have ended (for blocking waiters).
    leading: Mutex<(bool, u64)>,
    ended: Condvar,
    ended_async: tokio::sync::Notify,
}

impl std::fmt::Debug for GroupJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupJournal")
            .field("mode", &self.mode)
            .field("written", &self.written())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl GroupJournal {
    /// Opens the journal at `path` (see [`Journal::open`]); returns the records it holds.
    /// The first record appended is numbered after them.
    pub fn open(path: &Path, mode: SyncMode) -> Result<(GroupJournal, Vec<Vec<u8>>), JournalError> {
        let (journal, previous) = Journal::open(path)?;
        Ok((GroupJournal::new(journal, previous.len() as u64, mode)?, previous))
    }

    /// Wraps an open journal whose last record is numbered `sequence`.
    pub fn new(
        journal: Journal,
        sequence: u64,
        mode: SyncMode,
    ) -> Result<GroupJournal, JournalError> {
        let syncer = journal.syncer()?;
        Ok(GroupJournal::syncing_with(journal, sequence, mode, Box::new(move || syncer.sync())))
    }

    fn syncing_with(
        journal: Journal,
        sequence: u64,
        mode: SyncMode,
        syncer: Syncer,
    ) -> GroupJournal {
        let durable_len = journal.len();
        GroupJournal {
            writer: Mutex::new(Writer {
                journal,
                sequence,
                batch: Arc::default(),
                batch_used: false,
                durable_len,
                durable_sequence: sequence,
            }),
            syncer,
            mode,
            written: AtomicU64::new(sequence),
            leading: Mutex::new((false, 0)),
            ended: Condvar::new(),
            ended_async: tokio::sync::Notify::new(),
        }
    }

    /// Records written so far, synced or not (a record whose write or sync failed gives its
    /// number back).
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    /// Writes `payload` as the next record. Under [`SyncMode::EachRecord`] it is synced before
    /// this returns; under [`SyncMode::Group`] [`GroupJournal::durable`] (or
    /// [`GroupJournal::durable_blocking`]) says when it is.
    pub fn append(&self, payload: &[u8]) -> Result<Pending, JournalError> {
        let mut writer = lock(&self.writer);
        let sequence = writer.sequence + 1;
        match self.mode {
            SyncMode::EachRecord => {
                let before = writer.journal.write(sequence, payload)?;
                if let Err(source) = (self.syncer)() {
                    return Err(writer.journal.cut_back(before, source));
                }
                writer.durable_len = writer.journal.len();
                writer.durable_sequence = sequence;
            }
            SyncMode::Group => {
                writer.journal.write(sequence, payload)?;
                writer.batch_used = true;
            }
        }
        writer.sequence = sequence;
        self.written.store(sequence, Ordering::SeqCst);
        let batch = Arc::clone(&writer.batch);
        if self.mode == SyncMode::EachRecord {
            let _ = batch.outcome.set(Ok(()));
            // The next record gets a batch of its own.
            writer.batch = Arc::default();
        }
        Ok(Pending { sequence, batch })
    }

    /// Waits until `pending`'s record is durable, or its batch failed. Never blocks the
    /// thread while another leads; leads (and syncs on this thread) when no one does.
    pub async fn durable(&self, pending: &Pending) -> Result<(), NotStored> {
        loop {
            let ended = self.ended_async.notified();
            tokio::pin!(ended);
            // Registered before the outcome is looked at, so an end in between is not missed.
            ended.as_mut().enable();
            if let Some(outcome) = pending.batch.outcome.get() {
                return outcome.clone();
            }
            if self.try_lead() {
                self.lead();
                continue;
            }
            ended.await;
        }
    }

    /// [`GroupJournal::durable`] for a caller that is not async: waits on a condition
    /// variable while another thread leads.
    pub fn durable_blocking(&self, pending: &Pending) -> Result<(), NotStored> {
        loop {
            let seen = lock(&self.leading).1;
            if let Some(outcome) = pending.batch.outcome.get() {
                return outcome.clone();
            }
            if self.try_lead() {
                self.lead();
                continue;
            }
            let mut leading = lock(&self.leading);
            while leading.0 && leading.1 == seen {
                leading = self.ended.wait(leading).unwrap_or_else(PoisonError::into_inner);
            }
        }
    }

    fn try_lead(&self) -> bool {
        let mut leading = lock(&self.leading);
        if leading.0 {
            return false;
        }
        leading.0 = true;
        true
    }

    /// Syncs the current batch and settles it (the caller has just become the leader). A
    /// batch is settled only by its leader, before leadership is let go: so a waiter that
    /// becomes leader with its batch unsettled finds it is the current one.
    fn lead(&self) {
        let (batch, synced_len, synced_sequence) = {
            let mut writer = lock(&self.writer);
            let batch = std::mem::take(&mut writer.batch);
            let used = std::mem::take(&mut writer.batch_used);
            if !used {
                // Nothing written since the last sync (a waiter whose batch was settled).
                let _ = batch.outcome.set(Ok(()));
                drop(writer);
                self.end_leading();
                return;
            }
            (batch, writer.journal.len(), writer.sequence)
        };
        let synced = (self.syncer)();
        {
            let mut writer = lock(&self.writer);
            match synced {
                Ok(()) => {
                    writer.durable_len = synced_len;
                    writer.durable_sequence = synced_sequence;
                    let _ = batch.outcome.set(Ok(()));
                }
                Err(source) => {
                    // Every record after the last durable one goes: this batch's, and those
                    // written into the next batch meanwhile, which the cut removes as well.
                    let cut_to = writer.durable_len;
                    let error = writer.journal.cut_back(cut_to, source);
                    let failed = NotStored::from(&error);
                    let next = std::mem::take(&mut writer.batch);
                    writer.batch_used = false;
                    writer.sequence = writer.durable_sequence;
                    self.written.store(writer.sequence, Ordering::SeqCst);
                    let _ = batch.outcome.set(Err(failed.clone()));
                    let _ = next.outcome.set(Err(failed));
                }
            }
        }
        self.end_leading();
    }

    fn end_leading(&self) {
        {
            let mut leading = lock(&self.leading);
            leading.0 = false;
            leading.1 += 1;
        }
        self.ended.notify_all();
        self.ended_async.notify_waiters();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::target::journal::read_journal_sequenced;
    use std::path::PathBuf;
    use std::sync::atomic::AtomicBool;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hl7-group-commit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        path
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_are_all_durable_numbered_in_order() {
        let path = temp("concurrent");
        let (journal, previous) = GroupJournal::open(&path, SyncMode::Group).unwrap();
        assert!(previous.is_empty());
        let journal = Arc::new(journal);
        let tasks: Vec<_> = (0..16)
            .map(|connection| {
                let journal = Arc::clone(&journal);
                tokio::spawn(async move {
                    let mut sequences = Vec::new();
                    for n in 0..25 {
                        let payload = format!("c{connection}-m{n}");
                        let pending = journal.append(payload.as_bytes()).unwrap();
                        journal.durable(&pending).await.unwrap();
                        sequences.push((pending.sequence, payload));
                    }
                    sequences
                })
            })
            .collect();
        let mut acknowledged = Vec::new();
        for task in tasks {
            let sequences = task.await.unwrap();
            // Each connection's records are numbered in the order it sent them.
            assert!(sequences.windows(2).all(|w| w[0].0 < w[1].0), "{sequences:?}");
            acknowledged.extend(sequences);
        }
        acknowledged.sort();
        let on_disk: Vec<(u64, String)> = read_journal_sequenced(&path)
            .unwrap()
            .into_iter()
            .map(|(s, p)| (s, String::from_utf8(p).unwrap()))
            .collect();
        assert_eq!(on_disk, acknowledged, "every acknowledged record is in the journal");
        assert_eq!(on_disk.iter().map(|r| r.0).collect::<Vec<_>>(), (1..=400).collect::<Vec<_>>());
        assert_eq!(journal.written(), 400);
    }

    #[test]
    fn blocking_waiters_on_threads_are_all_durable() {
        let path = temp("threads");
        let (journal, _) = GroupJournal::open(&path, SyncMode::Group).unwrap();
        let journal = Arc::new(journal);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let journal = Arc::clone(&journal);
                std::thread::spawn(move || {
                    for n in 0..20 {
                        let pending = journal.append(format!("t{t}-{n}").as_bytes()).unwrap();
                        journal.durable_blocking(&pending).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(read_journal_sequenced(&path).unwrap().len(), 160);
    }

    #[test]
    fn each_record_mode_is_durable_on_return() {
        let path = temp("each");
        let (journal, _) = GroupJournal::open(&path, SyncMode::EachRecord).unwrap();
        let pending = journal.append(b"m1").unwrap();
        assert_eq!(pending.batch.outcome.get(), Some(&Ok(())));
        assert_eq!(read_journal_sequenced(&path).unwrap(), vec![(1, b"m1".to_vec())]);
        // Reopened, numbering goes on after the records already there.
        drop(journal);
        let (journal, previous) = GroupJournal::open(&path, SyncMode::Group).unwrap();
        assert_eq!(previous.len(), 1);
        let pending = journal.append(b"m2").unwrap();
        assert_eq!(pending.sequence, 2);
        journal.durable_blocking(&pending).unwrap();
    }

    /// A journal on `path` whose syncs fail while `failing` is set.
    pub(crate) fn failing_syncs(path: &Path, mode: SyncMode) -> (GroupJournal, Arc<AtomicBool>) {
        let (journal, previous) = Journal::open(path).unwrap();
        let failing = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&failing);
        let real = journal.syncer().unwrap();
        let syncer: Syncer = Box::new(move || {
            if flag.load(Ordering::SeqCst) {
                return Err(std::io::Error::other("injected fsync failure"));
            }
            real.sync()
        });
        (GroupJournal::syncing_with(journal, previous.len() as u64, mode, syncer), failing)
    }

    #[test]
    fn a_failed_sync_fails_its_whole_batch_and_gives_the_numbers_back() {
        let path = temp("failing");
        let (journal, failing) = failing_syncs(&path, SyncMode::Group);
        let first = journal.append(b"m1").unwrap();
        journal.durable_blocking(&first).unwrap();
        failing.store(true, Ordering::SeqCst);
        // Three records written before anyone syncs: one batch.
        let batch: Vec<Pending> =
            ["m2", "m3", "m4"].iter().map(|m| journal.append(m.as_bytes()).unwrap()).collect();
        for pending in &batch {
            let err = journal.durable_blocking(pending).unwrap_err();
            assert!(err.to_string().contains("injected fsync failure"), "{err}");
        }
        assert_eq!(journal.written(), 1, "the failed records' numbers are given back");
        assert_eq!(read_journal_sequenced(&path).unwrap(), vec![(1, b"m1".to_vec())]);
        failing.store(false, Ordering::SeqCst);
        let next = journal.append(b"m5").unwrap();
        assert_eq!(next.sequence, 2);
        journal.durable_blocking(&next).unwrap();
        let on_disk = read_journal_sequenced(&path).unwrap();
        assert_eq!(on_disk, vec![(1, b"m1".to_vec()), (2, b"m5".to_vec())]);
    }

    #[tokio::test]
    async fn a_failed_sync_fails_async_waiters_too() {
        let path = temp("failing-async");
        let (journal, failing) = failing_syncs(&path, SyncMode::Group);
        failing.store(true, Ordering::SeqCst);
        let a = journal.append(b"a").unwrap();
        let b = journal.append(b"b").unwrap();
        assert!(journal.durable(&b).await.is_err());
        assert!(journal.durable(&a).await.is_err(), "settled with its batch");
        assert!(read_journal_sequenced(&path).unwrap().is_empty());
    }

    #[test]
    fn each_record_mode_refuses_a_record_whose_sync_fails() {
        let path = temp("each-failing");
        let (journal, failing) = failing_syncs(&path, SyncMode::EachRecord);
        failing.store(true, Ordering::SeqCst);
        assert!(matches!(journal.append(b"m1"), Err(JournalError::Append { .. })));
        assert_eq!(journal.written(), 0);
        assert!(read_journal_sequenced(&path).unwrap().is_empty());
    }

    #[test]
    fn a_failed_write_is_refused_at_once_and_numbers_nothing() {
        // /dev/full fails every write with ENOSPC.
        let (journal, _) = GroupJournal::open(Path::new("/dev/full"), SyncMode::Group).unwrap();
        assert!(matches!(journal.append(b"m1"), Err(JournalError::Append { .. })));
        assert_eq!(journal.written(), 0);
    }
}
