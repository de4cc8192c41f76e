//! The load engine: C connections share one message sequence. Open loop (`--rate`): message n
//! is due at start + n / rate whatever the target does, and its latency counts from that due
//! time, so time spent queued behind a slow target is in the figures (no coordinated omission).
//! (A message whose connection was idle counts from when it was sent: the timer's own lateness
//! is the generator's, reported apart as schedule lag.)
//! Closed loop: each connection sends its next message when the last one is answered, which
//! finds the target's maximum. The run ends after its duration or count: nothing is written after
//! the deadline, even a message that fell due before it while every connection was waiting for
//! an answer (counted as `behind_schedule`, never sent); messages out at that moment are waited
//! for (each within the ACK timeout), so every sent message is accounted and a target that never
//! answers holds the run at most one ACK timeout past its duration.

use super::client::Exchange;
use super::source::MessageSource;
use super::stats::{Account, Ending, Recorder};
use super::tally::{Ended, Tally};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Open or closed loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Messages per second, on a fixed schedule.
    Open { rate: f64 },
    /// As fast as the answers come, one message out per connection.
    Closed,
}

/// How long and how hard.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub mode: Mode,
    pub connections: usize,
    /// Measured time after the warmup; the run ends at whichever of duration and count comes
    /// first (at least one is set).
    pub duration: Option<Duration>,
    /// Messages in all, warmup included.
    pub count: Option<u64>,
    /// Sent and accounted first, but kept out of latency and throughput.
    pub warmup: Duration,
    /// Length of each point of the throughput and latency timeline.
    pub slice: Duration,
}

impl Plan {
    /// When message `seq` is due in open loop, counted from the start.
    pub fn due(rate: f64, seq: u64) -> Duration {
        Duration::from_nanos((seq as f64 * 1e9 / rate) as u64)
    }

    /// The end of the run, from the start, when it has a duration.
    fn end(&self) -> Option<Duration> {
        self.duration.map(|d| d + self.warmup)
    }

    /// Open loop with a duration: how many messages fall due before the end (at most `count`).
    fn due_before_end(&self) -> Option<u64> {
        let (Mode::Open { rate }, Some(end)) = (self.mode, self.end()) else { return None };
        // The first sequence number due at or after the end, from the float estimate corrected
        // by the exact schedule.
        let mut n = (end.as_secs_f64() * rate).ceil().max(0.0) as u64;
        while n > 0 && Plan::due(rate, n - 1) >= end {
            n -= 1;
        }
        while Plan::due(rate, n) < end {
            n += 1;
        }
        Some(self.count.map_or(n, |count| n.min(count)))
    }
}

/// The live figures the progress line shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    pub elapsed: Duration,
    pub sent: u64,
    pub codes: BTreeMap<String, u64>,
    pub timeouts: u64,
    pub errors: u64,
    pub lost: u64,
    /// Messages finished per second in the last timeline slice.
    pub rate: f64,
    pub p99: Duration,
}

/// What a load run did, with its wall-clock time.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub account: Account,
    pub elapsed: Duration,
    /// True when the run was stopped early (Ctrl-C).
    pub interrupted: bool,
}

/// How often the progress callback is called.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Pause before a connection tries again after a failed connect (closed loop), so a dead
/// target is not hammered in a tight loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);

/// Where the connections' loops run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spread {
    /// As tasks of the runtime that calls [`run_spread`] (the engine's tests run on paused
    /// time there).
    Here,
    /// On this many threads of the engine's own, each a current-thread runtime with every
    /// n-th connection: a connection's answer wakes its loop on the thread that reads it, with
    /// no work stealing, no hand-over between workers and no wake-up of an idle one (on a
    /// multi-thread runtime each of these costs a futex call and a migrated task). At most one
    /// thread per connection.
    Threads(usize),
    /// Every connection that can block ([`Exchange::blocks`]: plain MLLP to an IP address) on
    /// a thread of its own, up to [`BLOCKING_THREADS`], its reads sleeping in the kernel: a
    /// round trip costs a write and a read, where a runtime adds a readiness poll (and, on a
    /// shared runtime, the wake-up of its loop). The other connections as `Threads(n)`.
    Blocking(usize),
}

/// Most connections one run gives a thread of their own: a thread costs its stack's touched
/// pages and a read buffer, so a run of thousands of connections puts the rest on runtimes.
pub const BLOCKING_THREADS: usize = 64;

impl Spread {
    /// What `load` uses: each connection that can block on a thread of its own, the others
    /// on one current-thread runtime per core (at most one per connection).
    pub fn for_load(connections: usize) -> Spread {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Spread::Blocking(cores.min(connections.max(1)))
    }
}

/// Runs `plan`: `connect()` makes each connection; `stop` ends the run early when it turns true.
/// The connections run as tasks of the calling runtime ([`Spread::Here`]).
pub async fn run<E, F>(
    plan: &Plan,
    source: Arc<MessageSource>,
    connect: F,
    stop: watch::Receiver<bool>,
    progress: Arc<dyn Fn(&Progress) + Send + Sync>,
) -> Finished
where
    E: Exchange,
    F: Fn() -> E,
{
    run_spread(plan, source, connect, stop, progress, Spread::Here).await
}

/// [`run`] with the connections' loops where `spread` says. The progress ticker and the
/// accounting stay on the calling runtime; the figures are the same whichever spread.
pub async fn run_spread<E, F>(
    plan: &Plan,
    source: Arc<MessageSource>,
    connect: F,
    stop: watch::Receiver<bool>,
    progress: Arc<dyn Fn(&Progress) + Send + Sync>,
    spread: Spread,
) -> Finished
where
    E: Exchange,
    F: Fn() -> E,
{
    let start = Instant::now();
    let recorder = Arc::new(Mutex::new(Recorder::new(plan.slice)));
    let next = Arc::new(AtomicU64::new(0));
    // The stop signal as a flag the loops read without a lock (a watch channel's value is
    // behind one, and each turn looks at it).
    let stopped = Arc::new(AtomicBool::new(*stop.borrow()));
    let stop_watch = tokio::spawn({
        let (mut stop, stopped) = (stop.clone(), Arc::clone(&stopped));
        async move {
            if stop.wait_for(|s| *s).await.is_ok() {
                stopped.store(true, Ordering::Relaxed);
            }
        }
    });
    let connections = plan.connections.max(1);
    let (threads, may_block) = match spread {
        Spread::Here => (0, false),
        Spread::Threads(n) => (n.clamp(1, connections), false),
        Spread::Blocking(n) => (n.clamp(1, connections), true),
    };
    let mut groups: Vec<Vec<(Worker, E)>> = (0..threads).map(|_| Vec::new()).collect();
    let mut workers = tokio::task::JoinSet::new();
    let mut threads_done = Vec::new();
    let (mut blocking, mut on_runtimes) = (0, 0);
    for _ in 0..connections {
        let worker = Worker {
            plan: plan.clone(),
            source: Arc::clone(&source),
            tally: Tally::new(Arc::clone(&recorder)),
            next: Arc::clone(&next),
            claimed: 0..0,
            start,
            stop: stop.clone(),
            stopped: Arc::clone(&stopped),
        };
        let mut pair = (worker, connect());
        if may_block && blocking < BLOCKING_THREADS && pair.1.blocks() {
            match on_blocking_thread(pair) {
                Ok(done) => {
                    threads_done.push(done);
                    blocking += 1;
                    continue;
                }
                // No thread to be had: this connection goes with the others.
                Err(unstarted) => pair = *unstarted,
            }
        }
        match groups.get_mut(on_runtimes % threads.max(1)) {
            Some(group) => group.push(pair),
            None => {
                workers.spawn(pair.0.run(pair.1));
            }
        }
        on_runtimes += 1;
    }
    groups.retain(|group| !group.is_empty());
    for group in groups {
        match on_own_thread(group) {
            Ok(done) => threads_done.push(done),
            // No thread or runtime to be had: these connections run here instead.
            Err(group) => {
                for (worker, connection) in group {
                    workers.spawn(worker.run(connection));
                }
            }
        }
    }
    let ticker = tokio::spawn({
        let recorder = Arc::clone(&recorder);
        let progress = Arc::clone(&progress);
        async move {
            let mut tick = tokio::time::interval(PROGRESS_EVERY);
            loop {
                tick.tick().await;
                let figures = snapshot(&recorder, start.elapsed());
                progress(&figures);
            }
        }
    });
    while workers.join_next().await.is_some() {}
    for done in threads_done {
        // An error means the thread ended without a word (a panic): its loops are over too.
        let _ = done.await;
    }
    ticker.abort();
    stop_watch.abort();
    let elapsed = start.elapsed();
    progress(&snapshot(&recorder, elapsed));
    let interrupted = *stop.borrow();
    let recorder = match Arc::try_unwrap(recorder) {
        Ok(mutex) => mutex.into_inner().unwrap_or_else(|p| p.into_inner()),
        // The aborted ticker may hold its handle a moment longer: take the figures out.
        Err(shared) => std::mem::replace(&mut *lock(&shared), Recorder::new(plan.slice)),
    };
    let measured = elapsed.saturating_sub(plan.warmup);
    let mut account = recorder.finish(measured);
    if !interrupted {
        let written = account.sent + account.not_sent;
        account.behind_schedule =
            plan.due_before_end().map_or(0, |due| due.saturating_sub(written));
    }
    Finished { account, elapsed, interrupted }
}

/// Runs `group`'s loops on a thread of their own, on a current-thread runtime; the receiver
/// answers when all have ended. Hands the group back when no thread or runtime can be had.
#[allow(clippy::type_complexity)]
fn on_own_thread<E: Exchange>(
    group: Vec<(Worker, E)>,
) -> Result<tokio::sync::oneshot::Receiver<()>, Vec<(Worker, E)>> {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(_) => return Err(group),
    };
    let (done, finished) = tokio::sync::oneshot::channel();
    // The group goes to the thread through a slot it can be taken back from when the thread
    // cannot be started.
    let slot = Arc::new(Mutex::new(Some(group)));
    let taken = Arc::clone(&slot);
    let spawned = std::thread::Builder::new().name("hl7-load".into()).spawn(move || {
        let group = taken.lock().unwrap_or_else(|p| p.into_inner()).take();
        runtime.block_on(async move {
            let mut loops = tokio::task::JoinSet::new();
            for (worker, connection) in group.into_iter().flatten() {
                loops.spawn(worker.run(connection));
            }
            while loops.join_next().await.is_some() {}
        });
        let _ = done.send(());
    });
    match spawned {
        Ok(_) => Ok(finished),
        Err(_) => Err(slot.lock().unwrap_or_else(|p| p.into_inner()).take().unwrap_or_default()),
    }
}

/// Runs one connection's loop on a thread of its own, its exchanges blocking the thread; the
/// receiver answers when the loop has ended. Hands the pair back when no thread can be had.
fn on_blocking_thread<E: Exchange>(
    pair: (Worker, E),
) -> Result<tokio::sync::oneshot::Receiver<()>, Box<(Worker, E)>> {
    let (done, finished) = tokio::sync::oneshot::channel();
    let slot = Arc::new(Mutex::new(Some(pair)));
    let taken = Arc::clone(&slot);
    let spawned = std::thread::Builder::new().name("hl7-load".into()).spawn(move || {
        let pair = taken.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((worker, connection)) = pair {
            worker.run_blocking(connection);
        }
        let _ = done.send(());
    });
    match spawned {
        Ok(_) => Ok(finished),
        // A thread that never started never took the pair.
        Err(_) => match slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(pair) => Err(Box::new(pair)),
            None => Ok(finished),
        },
    }
}

fn lock(recorder: &Mutex<Recorder>) -> std::sync::MutexGuard<'_, Recorder> {
    recorder.lock().unwrap_or_else(|p| p.into_inner())
}

fn snapshot(recorder: &Mutex<Recorder>, elapsed: Duration) -> Progress {
    let r = lock(recorder);
    Progress {
        elapsed,
        sent: r.sent,
        codes: r.codes.clone(),
        timeouts: r.timeouts,
        errors: r.connection_errors,
        lost: r.lost,
        rate: r.current_rate(),
        p99: r.p99(),
    }
}

/// One connection's loop.
struct Worker {
    plan: Plan,
    source: Arc<MessageSource>,
    /// Where its messages' endings go, a few at a time.
    tally: Tally,
    next: Arc<AtomicU64>,
    /// Numbers taken from `next` and not sent yet (closed loop without a count).
    claimed: std::ops::Range<u64>,
    start: Instant,
    stop: watch::Receiver<bool>,
    /// `stop`, read without a lock.
    stopped: Arc<AtomicBool>,
}

/// One message's turn on a connection: its number, when it falls due, and when the connection
/// was ready to send it.
struct Turn {
    seq: u64,
    due: Instant,
    ready: Instant,
}

/// How many message numbers a connection of a closed loop without a count takes at a time.
const CLAIM: u64 = 16;

/// How often a blocking loop's wait for a due time looks at the stop signal.
const STOP_CHECK: Duration = Duration::from_millis(50);

impl Worker {
    /// The connection's loop on a runtime.
    async fn run<E: Exchange>(mut self, mut connection: E) {
        // Each message is built into these, kept for the connection's life.
        let (mut control_id, mut payload) = (String::new(), Vec::new());
        while let Some(turn) = self.turn() {
            if turn.due > turn.ready {
                self.tally.flush();
                tokio::select! {
                    _ = tokio::time::sleep_until(turn.due) => {}
                    _ = self.stop.wait_for(|s| *s) => return,
                }
            }
            let sent = Instant::now();
            self.source.write_message(turn.seq, &mut control_id, &mut payload);
            let (ending, strays) = connection.exchange(&payload, &control_id).await;
            if self.account(&turn, sent, &control_id, ending, strays) {
                self.tally.flush();
                tokio::time::sleep(RECONNECT_PAUSE).await;
            }
        }
    }

    /// The same loop on a thread of its own, the exchanges blocking it ([`Exchange::blocks`]).
    fn run_blocking<E: Exchange>(mut self, mut connection: E) {
        let (mut control_id, mut payload) = (String::new(), Vec::new());
        while let Some(turn) = self.turn() {
            if turn.due > turn.ready && !self.sleep_until(turn.due) {
                return;
            }
            let sent = Instant::now();
            self.source.write_message(turn.seq, &mut control_id, &mut payload);
            let (ending, strays) = connection.exchange_blocking(&payload, &control_id);
            if self.account(&turn, sent, &control_id, ending, strays)
                && !self.sleep_until(Instant::now() + RECONNECT_PAUSE)
            {
                return;
            }
        }
    }

    /// Sleeps the thread until `until` (having handed its records over); false when the run
    /// was stopped meanwhile.
    fn sleep_until(&mut self, until: Instant) -> bool {
        self.tally.flush();
        loop {
            if self.stopped.load(Ordering::Relaxed) {
                return false;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(STOP_CHECK));
        }
    }

    /// The next message this connection sends, or `None` when its loop is over (stopped, the
    /// count reached, the deadline passed).
    fn turn(&mut self) -> Option<Turn> {
        if self.stopped.load(Ordering::Relaxed) {
            return None;
        }
        let seq = self.claim();
        if self.plan.count.is_some_and(|count| seq >= count) {
            return None;
        }
        let now = Instant::now();
        let due = match self.plan.mode {
            Mode::Open { rate } => self.start + Plan::due(rate, seq),
            Mode::Closed => now,
        };
        // Past the deadline nothing more is written, even a message that fell due before it
        // but waited behind an unanswered one (the account counts it as behind schedule).
        let end = self.plan.end().map(|e| self.start + e);
        if end.is_some_and(|end| due >= end || now >= end) {
            return None;
        }
        Some(Turn { seq, due, ready: now })
    }

    /// The number of the next message this connection sends. A closed loop without a count
    /// takes [`CLAIM`] numbers at a time, so that connections do not all write the shared
    /// counter with every message; an open loop takes one (message n is due at start + n /
    /// rate, whichever connection sends it) and so does a counted run (each of its few numbers
    /// goes to the first connection free, not to the one that took a block).
    fn claim(&mut self) -> u64 {
        if let Some(seq) = self.claimed.next() {
            return seq;
        }
        if self.plan.mode != Mode::Closed || self.plan.count.is_some() {
            return self.next.fetch_add(1, Ordering::Relaxed);
        }
        let first = self.next.fetch_add(CLAIM, Ordering::Relaxed);
        self.claimed = first + 1..first + CLAIM;
        first
    }

    /// Records how `turn`'s message, sent at `sent`, ended; true when the connection should
    /// pause before its next message (closed loop, after a message that could not be sent).
    fn account(
        &mut self,
        turn: &Turn,
        sent: Instant,
        control_id: &str,
        ending: Ending,
        strays: u64,
    ) -> bool {
        let done = Instant::now();
        let warm_until = self.start + self.plan.warmup;
        // A message whose connection was still busy when it fell due waited behind the
        // target: its latency counts from the due time. One whose connection was idle only
        // waited for the timer (tokio's has millisecond granularity): that lateness is the
        // generator's, reported as schedule lag, not charged to the target.
        let from = if turn.ready >= turn.due { turn.due } else { sent };
        let not_sent = matches!(ending, Ending::NotSent { .. });
        let at = (turn.due >= warm_until).then(|| done.saturating_duration_since(warm_until));
        let lag = (matches!(self.plan.mode, Mode::Open { .. }) && at.is_some())
            .then(|| sent.saturating_duration_since(turn.due));
        let latency = done.saturating_duration_since(from);
        self.tally.record(done, control_id, Ended { ending, latency, at, lag, strays });
        not_sent && self.plan.mode == Mode::Closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::source::SourceOptions;

    const A04: &str = "MSH|^~\\&|EHR|HOSP|HARNESS|FAC|20240101||ADT^A04^ADT_A01|M1|P|2.6\rEVN|A04|20240101\rPID|1||C1^^^EHR^PI||Doe^Jo\rPV1|1|O\r";

    /// An in-memory peer: answers AA after a delay chosen by the message's sequence number, and
    /// never answers every `drop_every`-th message (a timeout of `timeout`).
    struct Peer {
        delay: fn(u64) -> Duration,
        drop_every: u64,
        timeout: Duration,
        sent_at: Arc<Mutex<Vec<Duration>>>,
        start: Instant,
    }

    impl Exchange for Peer {
        async fn exchange(&mut self, _payload: &[u8], control_id: &str) -> (Ending, u64) {
            self.sent_at.lock().unwrap().push(self.start.elapsed());
            let seq: u64 = control_id.rsplit('-').next().unwrap().parse().unwrap();
            if self.drop_every > 0 && (seq + 1) % self.drop_every == 0 {
                tokio::time::sleep(self.timeout).await;
                return (Ending::Lost { reason: "read-timeout" }, 0);
            }
            tokio::time::sleep((self.delay)(seq)).await;
            (Ending::Answered { code: "AA".into() }, 0)
        }
    }

    /// Within the histogram's precision (3 significant digits).
    fn near(got: f64, want: f64) -> bool {
        (got - want).abs() <= want * 0.002
    }

    fn source() -> Arc<MessageSource> {
        let templates = [("a04".to_string(), A04.as_bytes().to_vec())];
        Arc::new(MessageSource::new(&templates, &SourceOptions::default()).unwrap())
    }

    async fn run_peer(
        plan: Plan,
        delay: fn(u64) -> Duration,
        drop_every: u64,
    ) -> (Finished, Vec<Duration>) {
        let sent_at = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now();
        let (_stop, stopped) = watch::channel(false);
        let connect = || Peer {
            delay,
            drop_every,
            timeout: Duration::from_secs(1),
            sent_at: Arc::clone(&sent_at),
            start,
        };
        let finished = run(&plan, source(), connect, stopped, Arc::new(|_: &Progress| {})).await;
        let mut times = sent_at.lock().unwrap().clone();
        times.sort();
        (finished, times)
    }

    fn open(rate: f64, connections: usize, seconds: u64) -> Plan {
        Plan {
            mode: Mode::Open { rate },
            connections,
            duration: Some(Duration::from_secs(seconds)),
            count: None,
            warmup: Duration::ZERO,
            slice: Duration::from_secs(1),
        }
    }

    #[test]
    fn due_times_follow_the_rate() {
        assert_eq!(Plan::due(100.0, 0), Duration::ZERO);
        assert_eq!(Plan::due(100.0, 250), Duration::from_millis(2500));
        assert_eq!(Plan::due(3.0, 3), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn open_loop_sends_on_schedule() {
        let (finished, times) = run_peer(open(100.0, 4, 5), |_| Duration::from_millis(2), 0).await;
        assert_eq!(finished.account.sent, 500, "rate × duration, exactly");
        for (n, at) in times.iter().enumerate() {
            assert_eq!(*at, Plan::due(100.0, n as u64), "message {n} sent when due");
        }
        assert!(near(finished.account.latency.max_ms, 2.0));
        assert_eq!(finished.account.schedule_lag.max_ms, 0.0, "paused time: never late");
        assert!((finished.account.throughput_per_s - 100.0).abs() < 1.0);
    }

    #[tokio::test(start_paused = true)]
    async fn open_loop_latency_includes_queueing() {
        // One connection, 10 messages/s, each answered in 250 ms: the target keeps up with 4/s.
        // The 10th message is due at 0.9 s but can only go out at 2.25 s; its latency is 1.6 s,
        // not the 250 ms a closed-loop measurement would report.
        let plan = Plan { count: Some(10), duration: None, ..open(10.0, 1, 0) };
        let (finished, _) = run_peer(plan, |_| Duration::from_millis(250), 0).await;
        assert!(near(finished.account.latency.max_ms, 1600.0), "{:?}", finished.account.latency);
        assert!(near(finished.account.schedule_lag.max_ms, 1350.0), "sent 1.35 s after due");
        assert_eq!(finished.account.latency.count, 10);
    }

    #[tokio::test(start_paused = true)]
    async fn closed_loop_sends_after_each_answer() {
        let plan = Plan { mode: Mode::Closed, ..open(1.0, 2, 1) };
        let (finished, _) = run_peer(plan, |_| Duration::from_millis(10), 0).await;
        assert_eq!(finished.account.sent, 200, "2 connections × 100 round trips of 10 ms");
        assert!(near(finished.account.latency.p50_ms, 10.0));
    }

    #[tokio::test(start_paused = true)]
    async fn percentiles_of_a_fixed_delay_schedule() {
        // 87 % at 1 ms, 11 % at 20 ms, 2 % at 300 ms (by sequence number), closed loop: no
        // percentile asked for sits on a boundary between two delays.
        fn delay(seq: u64) -> Duration {
            match seq % 100 {
                0 | 1 => Duration::from_millis(300),
                2..=12 => Duration::from_millis(20),
                _ => Duration::from_millis(1),
            }
        }
        let plan =
            Plan { mode: Mode::Closed, count: Some(1000), duration: None, ..open(1.0, 1, 0) };
        let (finished, _) = run_peer(plan, delay, 0).await;
        let p = finished.account.latency;
        let want = [
            (p.p50_ms, 1.0),
            (p.p90_ms, 20.0),
            (p.p99_ms, 300.0),
            (p.p999_ms, 300.0),
            (p.max_ms, 300.0),
        ];
        assert!(want.iter().all(|(got, want)| near(*got, *want)), "{p:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn warmup_is_accounted_but_not_measured() {
        let plan = Plan { warmup: Duration::from_secs(1), ..open(10.0, 1, 2) };
        let (finished, _) = run_peer(plan, |_| Duration::from_millis(1), 0).await;
        let a = finished.account;
        assert_eq!((a.sent, a.warmup, a.latency.count), (30, 10, 20));
    }

    #[tokio::test(start_paused = true)]
    async fn lost_messages_are_listed_by_control_id() {
        let plan = Plan { count: Some(50), duration: None, ..open(100.0, 3, 0) };
        let (finished, _) = run_peer(plan, |_| Duration::from_millis(1), 10).await;
        let a = finished.account;
        assert!(a.balances());
        assert_eq!((a.sent, a.acknowledged, a.lost, a.timeouts), (50, 45, 5, 5));
        let mut lost: Vec<String> =
            a.lost_messages.iter().map(|l| l.control_id.to_string()).collect();
        lost.sort();
        assert_eq!(lost, ["L0-19", "L0-29", "L0-39", "L0-49", "L0-9"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_target_that_never_answers_does_not_stretch_the_duration() {
        // 10/s for 5 s on one connection, every message unanswered within the 1 s timeout:
        // one message a second goes out, nothing after the deadline; the 45 others that fell
        // due are counted as behind schedule, not sent after the end (which took 50 s).
        let (finished, times) = run_peer(open(10.0, 1, 5), |_| Duration::ZERO, 1).await;
        let a = &finished.account;
        assert!(a.balances());
        assert_eq!((a.sent, a.lost, a.acknowledged, a.behind_schedule), (5, 5, 0, 45));
        assert_eq!(finished.elapsed, Duration::from_secs(5));
        assert!(times.iter().all(|t| *t < Duration::from_secs(5)), "{times:?}");
    }

    /// Answers AA at once and notes the thread each exchange ran on.
    struct ThreadPeer {
        threads: Arc<Mutex<Vec<Option<String>>>>,
    }

    impl Exchange for ThreadPeer {
        async fn exchange(&mut self, _payload: &[u8], _control_id: &str) -> (Ending, u64) {
            let name = std::thread::current().name().map(str::to_string);
            self.threads.lock().unwrap().push(name);
            tokio::task::yield_now().await;
            (Ending::Answered { code: "AA".into() }, 0)
        }
    }

    /// On threads of its own the engine accounts exactly as on the calling runtime: every
    /// message once, every connection's loop on one of the engine's current-thread runtimes.
    #[tokio::test]
    async fn connections_spread_over_threads_account_every_message() {
        for spread in [Spread::Threads(2), Spread::Threads(9), Spread::Here] {
            let threads = Arc::new(Mutex::new(Vec::new()));
            let connect = || ThreadPeer { threads: Arc::clone(&threads) };
            let plan =
                Plan { mode: Mode::Closed, count: Some(300), duration: None, ..open(1.0, 3, 0) };
            let (_stop, stopped) = watch::channel(false);
            let quiet = Arc::new(|_: &Progress| {});
            let finished = run_spread(&plan, source(), connect, stopped, quiet, spread).await;
            let a = &finished.account;
            assert!(a.balances(), "{spread:?}");
            assert_eq!((a.sent, a.acknowledged, a.lost), (300, 300, 0), "{spread:?}");
            let seen = threads.lock().unwrap();
            assert_eq!(seen.len(), 300);
            let on_own = seen.iter().all(|t| t.as_deref() == Some("hl7-load"));
            assert_eq!(on_own, spread != Spread::Here, "{spread:?}");
        }
    }

    /// (thread name, outside a runtime) per exchange.
    type Seen = Arc<Mutex<Vec<(Option<String>, bool)>>>;

    /// Answers AA at once, on the runtime or blocking, and notes whether each exchange ran
    /// blocking on a thread outside any runtime.
    struct BlockingPeer {
        /// Whether this connection says it can block.
        blocks: bool,
        seen: Seen,
    }

    impl BlockingPeer {
        fn note(&self) {
            let name = std::thread::current().name().map(str::to_string);
            let outside = tokio::runtime::Handle::try_current().is_err();
            self.seen.lock().unwrap().push((name, outside));
        }
    }

    impl Exchange for BlockingPeer {
        async fn exchange(&mut self, _payload: &[u8], _control_id: &str) -> (Ending, u64) {
            self.note();
            tokio::time::sleep(Duration::from_millis(1)).await;
            (Ending::Answered { code: "AA".into() }, 0)
        }

        fn blocks(&self) -> bool {
            self.blocks
        }

        fn exchange_blocking(&mut self, _payload: &[u8], _control_id: &str) -> (Ending, u64) {
            self.note();
            std::thread::sleep(Duration::from_millis(1));
            (Ending::Answered { code: "AA".into() }, 0)
        }
    }

    /// Connections that can block each get a thread outside any runtime, up to
    /// [`BLOCKING_THREADS`]; the rest (and those that cannot) run on the per-core runtimes.
    /// Every message is accounted once either way.
    #[tokio::test]
    async fn connections_that_can_block_get_threads_of_their_own() {
        let connections = BLOCKING_THREADS + 6;
        for blocks in [true, false] {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let made = Arc::new(AtomicU64::new(0));
            let connect = || {
                made.fetch_add(1, Ordering::Relaxed);
                BlockingPeer { blocks, seen: Arc::clone(&seen) }
            };
            // A duration, not a count: every connection's loop runs to the end.
            let plan = Plan {
                mode: Mode::Closed,
                duration: Some(Duration::from_millis(300)),
                connections,
                ..open(1.0, 1, 0)
            };
            let (_stop, stopped) = watch::channel(false);
            let quiet = Arc::new(|_: &Progress| {});
            let finished =
                run_spread(&plan, source(), connect, stopped, quiet, Spread::Blocking(2)).await;
            let a = &finished.account;
            assert!(a.balances());
            assert!(a.sent >= connections as u64, "every connection sent: {}", a.sent);
            assert_eq!((a.acknowledged, a.lost), (a.sent, 0), "blocks: {blocks}");
            assert_eq!(made.load(Ordering::Relaxed), connections as u64);
            let seen = seen.lock().unwrap();
            assert!(seen.iter().all(|(name, _)| name.as_deref() == Some("hl7-load")));
            let outside = seen.iter().filter(|(_, outside)| *outside).count();
            assert_eq!(seen.len() as u64, a.sent);
            if blocks {
                // 64 loops outside, 6 on runtimes, each at about a message a millisecond.
                let share = outside as f64 / seen.len() as f64;
                assert!(share > 0.5 && share < 1.0, "both kinds ran: {outside} of {}", seen.len());
            } else {
                assert_eq!(outside, 0, "nothing blocks that cannot");
            }
        }
    }

    #[test]
    fn one_runtime_per_core_and_never_more_than_connections() {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        assert_eq!(Spread::for_load(1), Spread::Blocking(1));
        assert_eq!(Spread::for_load(0), Spread::Blocking(1));
        assert_eq!(Spread::for_load(1000), Spread::Blocking(cores));
    }

    /// A peer that answers at once after `delay` and notes every control id it is sent.
    struct Noting {
        delay: Duration,
        ids: Arc<Mutex<Vec<String>>>,
    }

    impl Exchange for Noting {
        async fn exchange(&mut self, _payload: &[u8], control_id: &str) -> (Ending, u64) {
            self.ids.lock().unwrap().push(control_id.to_string());
            tokio::time::sleep(self.delay).await;
            (Ending::Answered { code: "AA".into() }, 0)
        }
    }

    async fn noted_ids(plan: Plan, delay: Duration) -> (Finished, Vec<u64>) {
        let ids = Arc::new(Mutex::new(Vec::new()));
        let (_stop, stopped) = watch::channel(false);
        let connect = || Noting { delay, ids: Arc::clone(&ids) };
        let finished = run(&plan, source(), connect, stopped, Arc::new(|_: &Progress| {})).await;
        let mut seqs: Vec<u64> = ids
            .lock()
            .unwrap()
            .iter()
            .map(|id| id.rsplit('-').next().unwrap().parse().unwrap())
            .collect();
        seqs.sort_unstable();
        (finished, seqs)
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_loop_taking_numbers_in_blocks_never_sends_one_twice() {
        // 3 connections, 1 s of 10 ms round trips: 100 each, in blocks of CLAIM numbers.
        let plan = Plan { mode: Mode::Closed, ..open(1.0, 3, 1) };
        let (finished, seqs) = noted_ids(plan, Duration::from_millis(10)).await;
        assert_eq!(finished.account.sent, 300);
        assert_eq!(seqs.len(), 300);
        let mut unique = seqs.clone();
        unique.dedup();
        assert_eq!(unique, seqs, "no number sent twice");
        // Each connection's blocks are whole but for its last one.
        assert!(*seqs.last().unwrap() < 300 + 3 * CLAIM);
    }

    #[tokio::test(start_paused = true)]
    async fn a_counted_closed_loop_sends_each_number_below_the_count_once() {
        let plan = Plan { mode: Mode::Closed, count: Some(5), duration: None, ..open(1.0, 4, 0) };
        let (finished, seqs) = noted_ids(plan, Duration::from_millis(10)).await;
        assert_eq!(finished.account.sent, 5);
        assert_eq!(seqs, [0, 1, 2, 3, 4]);
        // Shared among the connections, not one connection's block: 4 at once, then 1.
        assert!(finished.elapsed < Duration::from_millis(30), "{:?}", finished.elapsed);
    }

    #[tokio::test(start_paused = true)]
    async fn stop_ends_the_run_early() {
        let (stop, stopped) = watch::channel(false);
        let sent_at = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now();
        let connect = || Peer {
            delay: |_| Duration::from_millis(1),
            drop_every: 0,
            timeout: Duration::from_secs(1),
            sent_at: Arc::clone(&sent_at),
            start,
        };
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(995)).await;
            let _ = stop.send(true);
        });
        let plan = open(100.0, 1, 3600);
        let finished = run(&plan, source(), connect, stopped, Arc::new(|_: &Progress| {})).await;
        stopper.await.unwrap();
        assert!(finished.interrupted);
        assert_eq!(finished.account.sent, 100);
    }
}
