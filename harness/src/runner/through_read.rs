//! The through role's read destinations (`through.destinations.NAME.read`): destinations the
//! harness does not listen as but reads, because the engine delivers to a store of its own.
//! `dir:` reads each new file of a folder once; `command:` runs a program whose output lists
//! every message in the store and takes what was not there before. Each is read once before
//! the engine starts (what is there then is not the case's), then every `every` after the
//! inputs are sent, and a last time when the case's wait is over.
//!
//! Nothing is answered: what is there is delivered (the arrival is recorded as accepted, with
//! the answer `none (read)`). Every read is bounded (a command's run time and output, a file's
//! size, the folder's entries, the messages per case); what could not be read is recorded in
//! [`DestinationRead::problems`] for `through.destination-read`, never a panic or a hang.

mod output;

use crate::observation::{Arrival, DestinationRead, ThroughArrival};
use crate::scenario::{ReadSetup, ReadSource};
use crate::transport::userinfo::Secrets;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::AsyncReadExt;
use tokio::sync::Mutex;
use tokio::time::Instant;

pub use output::split_messages;

/// The most entries of a read folder looked at (the names present before the case among
/// them): a folder is an engine's output, not an archive of millions.
const MAX_DIR_ENTRIES: usize = 100_000;
/// What the arrival records as its answer: nothing was answered.
pub const READ_ANSWER: &str = "none (read)";

/// The values a read command's placeholders stand for.
pub struct Placeholders<'a> {
    pub workdir: &'a Path,
    pub scenario_dir: &'a Path,
    /// `{destination.NAME}`: each listener's address, each read folder's path.
    pub destinations: &'a BTreeMap<String, String>,
}

impl Placeholders<'_> {
    pub fn fill(&self, text: &str) -> String {
        let mut filled = text
            .replace("{workdir}", &self.workdir.display().to_string())
            .replace("{scenario_dir}", &self.scenario_dir.display().to_string());
        for (name, value) in self.destinations {
            filled = filled.replace(&format!("{{destination.{name}}}"), value);
        }
        filled
    }
}

/// The folder a `dir:` destination names: placeholders filled, relative to the scenario's
/// folder. The runner gives it to the engine as `{destination.NAME}`.
pub fn read_folder(setup: &ReadSetup, places: &Placeholders<'_>) -> Option<PathBuf> {
    let ReadSource::Dir(dir) = &setup.source else { return None };
    Some(folder(dir, places))
}

fn folder(dir: &str, places: &Placeholders<'_>) -> PathBuf {
    let dir = PathBuf::from(places.fill(dir));
    if dir.is_relative() {
        places.scenario_dir.join(dir)
    } else {
        dir
    }
}

/// Prepares every read destination of the case (before the engine starts): each read folder
/// goes into `addresses` as `{destination.NAME}` first, so the engine's command and the other
/// read commands can name it. `Err`: a folder could not be made.
pub async fn prepare_all(
    ctx: &super::through::ThroughContext,
    workdir: &Path,
    addresses: &mut BTreeMap<String, String>,
    started: Instant,
) -> Result<BTreeMap<String, ReadDestination>, String> {
    let reads: Vec<(&String, &ReadSetup)> = ctx
        .setup
        .destinations
        .iter()
        .filter_map(|(name, d)| d.read.as_ref().map(|r| (name, r)))
        .collect();
    for (name, setup) in &reads {
        let places =
            Placeholders { workdir, scenario_dir: &ctx.scenario_dir, destinations: addresses };
        if let Some(dir) = read_folder(setup, &places) {
            addresses.insert((*name).clone(), dir.display().to_string());
        }
    }
    let places = Placeholders { workdir, scenario_dir: &ctx.scenario_dir, destinations: addresses };
    let mut readers = BTreeMap::new();
    for (name, setup) in reads {
        let reader = ReadDestination::prepare(name, setup, &places, &ctx.secrets, started).await?;
        readers.insert(name.clone(), reader);
    }
    Ok(readers)
}

/// Stops every reader after a last read: their arrivals and records.
pub async fn stop_all(
    readers: BTreeMap<String, ReadDestination>,
    secrets: &Secrets,
) -> (Vec<ThroughArrival>, Vec<DestinationRead>) {
    let (mut arrivals, mut reads) = (Vec::new(), Vec::new());
    for (name, reader) in readers {
        let (read, record) = reader.stop(secrets).await;
        arrivals.extend(
            read.into_iter().map(|arrival| ThroughArrival { destination: name.clone(), arrival }),
        );
        reads.push(record);
    }
    (arrivals, reads)
}

/// One store as read so far.
enum Store {
    Command {
        line: Vec<String>,
        /// Each message's copies already accounted for (there before the case, or read).
        known: HashMap<Vec<u8>, usize>,
    },
    Dir {
        path: PathBuf,
        /// Names there before the case, and names already read (or refused): never again.
        done: HashSet<OsString>,
        /// New files seen once: (size, modification time) then, and when first seen.
        pending: HashMap<OsString, (u64, Option<SystemTime>, Duration)>,
    },
}

struct Reading {
    store: Store,
    record: DestinationRead,
    arrivals: Vec<Arrival>,
    /// Problems already recorded, with how often each recurred.
    counted: Vec<(String, usize)>,
}

/// A destination being read: its state behind a lock the polling task and the last read share.
pub struct ReadDestination {
    setup: ReadSetup,
    started: Instant,
    reading: Arc<Mutex<Reading>>,
    read: Arc<AtomicUsize>,
    poller: Option<tokio::task::JoinHandle<()>>,
}

impl ReadDestination {
    /// Sets the store up before the engine starts: the folder created and its names taken,
    /// or the command run once and its messages taken as there before the case (a command
    /// that fails then counts as an empty store: the engine may not have made it yet).
    /// `Err` when a folder cannot be made (the case cannot run, as a port it cannot bind).
    pub async fn prepare(
        name: &str,
        setup: &ReadSetup,
        places: &Placeholders<'_>,
        secrets: &Secrets,
        started: Instant,
    ) -> Result<ReadDestination, String> {
        let mut record =
            DestinationRead { destination: name.to_string(), ..DestinationRead::default() };
        let mut counted = Vec::new();
        let store = match &setup.source {
            ReadSource::Dir(dir) => {
                let path = folder(dir, places);
                std::fs::create_dir_all(&path).map_err(|e| {
                    format!("destination {name}: cannot create the folder {}: {e}", path.display())
                })?;
                record.how = format!("folder {}", path.display());
                let mut before = HashSet::new();
                if let Err(why) = list(&path, &mut before) {
                    counted.push((format!("before the case: {why}"), 1));
                }
                Store::Dir { path, done: before, pending: HashMap::new() }
            }
            ReadSource::Command(command) => {
                let line: Vec<String> = command.iter().map(|a| places.fill(a)).collect();
                record.how = secrets.hide(&line.join(" "));
                let mut known = HashMap::new();
                if let Ok(bytes) = run(&line, setup).await {
                    for message in split_messages(&bytes).0 {
                        *known.entry(message).or_default() += 1;
                    }
                }
                Store::Command { line, known }
            }
        };
        let reading = Reading { store, record, arrivals: Vec::new(), counted };
        Ok(ReadDestination {
            setup: setup.clone(),
            started,
            reading: Arc::new(Mutex::new(reading)),
            read: Arc::new(AtomicUsize::new(0)),
            poller: None,
        })
    }

    /// Starts reading every `every` (after the inputs are sent).
    pub fn start(&mut self) {
        let (reading, read) = (Arc::clone(&self.reading), Arc::clone(&self.read));
        let (setup, started) = (self.setup.clone(), self.started);
        self.poller = Some(tokio::spawn(async move {
            loop {
                {
                    let mut reading = reading.lock().await;
                    read_once(&mut reading, &setup, started, false).await;
                    read.store(reading.arrivals.len(), Ordering::Relaxed);
                }
                tokio::time::sleep(setup.every).await;
            }
        }));
    }

    /// Messages read so far.
    pub fn accepted(&self) -> usize {
        self.read.load(Ordering::Relaxed)
    }

    /// Stops the reading, reads a last time, and gives what was read and the record.
    pub async fn stop(mut self, secrets: &Secrets) -> (Vec<Arrival>, DestinationRead) {
        if let Some(poller) = self.poller.take() {
            // A run cut here is killed (`kill_on_drop`); the state changes only after a run.
            poller.abort();
            let _ = poller.await;
        }
        let mut reading = self.reading.lock().await;
        read_once(&mut reading, &self.setup, self.started, true).await;
        let mut record = std::mem::take(&mut reading.record);
        record.problems = reading
            .counted
            .iter()
            .map(|(problem, n)| match n {
                1 => secrets.hide(problem),
                n => format!("{} (×{n})", secrets.hide(problem)),
            })
            .collect();
        (std::mem::take(&mut reading.arrivals), record)
    }
}

impl Reading {
    fn problem(&mut self, text: String) {
        match self.counted.iter_mut().find(|(known, _)| *known == text) {
            Some((_, n)) => *n += 1,
            None => self.counted.push((text, 1)),
        }
    }

    /// One more message, unless the case's cap is reached.
    fn arrived(&mut self, payload: Vec<u8>, received: Duration, cap: usize) -> bool {
        if self.arrivals.len() >= cap {
            self.problem(format!(
                "more than {cap} messages (read.max_messages); the rest not read"
            ));
            return false;
        }
        let mut arrival = Arrival::unanswered(0, payload, Vec::new(), received);
        arrival.answer = READ_ANSWER.into();
        // Being in the store is the delivery: nobody answers it, and nothing is left to do.
        arrival.accepted = true;
        self.arrivals.push(arrival);
        true
    }
}

/// One read of the store; `last`: the case is over, so a new file is read without waiting
/// for it to hold still.
async fn read_once(reading: &mut Reading, setup: &ReadSetup, started: Instant, last: bool) {
    reading.record.reads += 1;
    let now = started.elapsed();
    match &mut reading.store {
        Store::Command { line, .. } => {
            let line = line.clone();
            match run(&line, setup).await {
                Ok(bytes) => take_output(reading, &bytes, now, setup.max_messages),
                Err(why) => reading.problem(why),
            }
        }
        Store::Dir { .. } => read_dir(reading, setup, now, last),
    }
}

/// The messages of one run's output that are not accounted for yet, as arrivals: a message
/// listed `n` times is `n` copies (a store holding a duplicate shows it twice).
fn take_output(reading: &mut Reading, bytes: &[u8], now: Duration, cap: usize) {
    let (messages, notes) = split_messages(bytes);
    for note in notes {
        reading.problem(format!("output: {note}"));
    }
    let mut listed: Vec<(Vec<u8>, usize)> = Vec::new();
    for message in messages {
        match listed.iter_mut().find(|(m, _)| *m == message) {
            Some((_, n)) => *n += 1,
            None => listed.push((message, 1)),
        }
    }
    for (message, count) in listed {
        let Store::Command { known, .. } = &mut reading.store else { return };
        let had = known.get(&message).copied().unwrap_or(0);
        if count <= had {
            continue;
        }
        known.insert(message.clone(), count);
        for _ in had..count {
            if !reading.arrived(message.clone(), now, cap) {
                return;
            }
        }
    }
}

/// Runs the command once, bounded; its output, or why it is not to be used.
async fn run(line: &[String], setup: &ReadSetup) -> Result<Vec<u8>, String> {
    let Some(program) = line.first() else { return Err("the command is empty".into()) };
    let mut child = tokio::process::Command::new(program)
        .args(&line[1..])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("could not start: {e}"))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err("no output pipe".into());
    };
    let limit = setup.max_bytes;
    let work = async {
        let mut out = Vec::new();
        let mut stdout = stdout.take(limit.saturating_add(1));
        let (read_out, err) = tokio::join!(stdout.read_to_end(&mut out), kept_start(stderr));
        (read_out, out, err)
    };
    let Ok((read_out, out, err)) = tokio::time::timeout(setup.timeout, work).await else {
        let _ = child.kill().await;
        return Err(format!(
            "did not finish within {} ms (read.timeout)",
            setup.timeout.as_millis()
        ));
    };
    if out.len() as u64 > limit {
        let _ = child.kill().await;
        return Err(format!("printed more than {limit} bytes (read.max_bytes)"));
    }
    if let Err(e) = read_out {
        let _ = child.kill().await;
        return Err(format!("its output could not be read: {e}"));
    }
    let status = match tokio::time::timeout(setup.timeout, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Err(format!("could not be waited for: {e}")),
        Err(_) => {
            let _ = child.kill().await;
            return Err(format!(
                "did not exit within {} ms (read.timeout)",
                setup.timeout.as_millis()
            ));
        }
    };
    if status.success() {
        return Ok(out);
    }
    let code = status.code().map_or("by a signal".to_string(), |c| format!("with code {c}"));
    let said = String::from_utf8_lossy(&err);
    let said = said.trim();
    Err(match said.is_empty() {
        true => format!("exited {code}"),
        false => format!("exited {code}: {}", said.chars().take(300).collect::<String>()),
    })
}

/// The first 4 KiB of a stream read to its end (so a command that prints much on stderr does
/// not block on a full pipe), for the evidence.
async fn kept_start(mut stream: impl tokio::io::AsyncRead + Unpin) -> Vec<u8> {
    const KEPT: usize = 4096;
    let (mut kept, mut buf) = (Vec::new(), [0u8; 8192]);
    while let Ok(n @ 1..) = stream.read(&mut buf).await {
        let room = KEPT.saturating_sub(kept.len()).min(n);
        kept.extend_from_slice(&buf[..room]);
    }
    kept
}

/// The regular files' names of `dir` (at most [`MAX_DIR_ENTRIES`] entries looked at) into
/// `names`.
fn list(dir: &Path, names: &mut HashSet<OsString>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for (n, entry) in entries.enumerate() {
        if n >= MAX_DIR_ENTRIES {
            return Err(format!("more than {MAX_DIR_ENTRIES} entries; the rest not looked at"));
        }
        let Ok(entry) = entry else { continue };
        names.insert(entry.file_name());
    }
    Ok(())
}

/// Reads the folder: new files that held still since the last read (every one on the last
/// read), in modification-time then name order, each once.
fn read_dir(reading: &mut Reading, setup: &ReadSetup, now: Duration, last: bool) {
    let Store::Dir { path, done, pending } = &mut reading.store else { return };
    let path = path.clone();
    let mut names = HashSet::new();
    let listed = list(&path, &mut names);
    let mut ready: Vec<(Option<SystemTime>, OsString, Duration)> = Vec::new();
    let mut problems = Vec::new();
    if let Err(why) = listed {
        problems.push(why);
    }
    for name in names {
        if done.contains(&name) || name.to_string_lossy().starts_with('.') {
            continue;
        }
        let full = path.join(&name);
        let Ok(meta) = std::fs::symlink_metadata(&full) else { continue };
        if meta.file_type().is_symlink() {
            problems.push(format!("{}: a symbolic link, not followed", name.to_string_lossy()));
            done.insert(name);
            continue;
        }
        if !meta.is_file() {
            done.insert(name);
            continue;
        }
        let now_seen = (meta.len(), meta.modified().ok());
        let held = match pending.get(&name) {
            Some(&(len, modified, first)) if (len, modified) == now_seen => Some(first),
            Some(&(_, _, first)) => {
                pending.insert(name.clone(), (now_seen.0, now_seen.1, first));
                last.then_some(first)
            }
            None => {
                pending.insert(name.clone(), (now_seen.0, now_seen.1, now));
                last.then_some(now)
            }
        };
        if let Some(first) = held {
            ready.push((now_seen.1, name, first));
        }
    }
    ready.sort();
    let mut files = Vec::new();
    for (_, name, first) in ready {
        pending.remove(&name);
        done.insert(name.clone());
        match read_file(&path.join(&name), setup.max_bytes) {
            Ok(bytes) => files.push((bytes, first)),
            Err(why) => problems.push(format!("{}: {why}", name.to_string_lossy())),
        }
    }
    for problem in problems {
        reading.problem(problem);
    }
    for (bytes, first) in files {
        if !reading.arrived(output::normalized(&bytes), first, setup.max_messages) {
            break;
        }
    }
}

/// One file's bytes, at most `limit`; never through a link (the file opened is the one
/// listed: same device and inode).
fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let listed = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if !listed.is_file() {
        return Err("no longer a regular file".into());
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let opened = file.metadata().map_err(|e| e.to_string())?;
    if (opened.dev(), opened.ino()) != (listed.dev(), listed.ino()) {
        return Err("replaced while it was opened; not read".into());
    }
    if opened.len() > limit {
        return Err(format!(
            "{} bytes, more than {limit} (read.max_bytes); not read",
            opened.len()
        ));
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!("grew past {limit} bytes (read.max_bytes); not read"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests;
