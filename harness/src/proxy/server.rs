//! The proxy's sockets: an accept loop over an already-bound listener (tests bind port 0), one
//! upstream connection per downstream connection, and two pumps per connection (up and down)
//! that cut their byte stream into frames, ask the [`Engine`] what to do with each, do it and
//! log it. A peer's half-close or reset is passed on to the other side unless a fault says
//! otherwise; every wait has a timeout; buffers are bounded by the frame limit.

use super::event::{Event, EventKind, EventLog};
use super::frame::{frame_ids, payload, FrameIds, Splitter, Unit};
use crate::faults::{
    write_shaped, Applied, Decision, Direction, Engine, FaultSpec, Trigger, Verdict,
};
use crate::transport::connection::TransportError;
use crate::transport::dial::{connect_tcp, tls_handshake, Route};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

/// Most rules installed at once: the control interface must not grow memory without bound.
pub const MAX_RULES: usize = 1000;
/// Most rules the report lists (installed over the run, removed ones included).
pub const MAX_HISTORY: usize = 10_000;

/// Where the proxy forwards to.
#[derive(Clone)]
pub struct Upstream {
    /// `host:port`.
    pub addr: String,
    /// MLLP over TLS (`mllps://`) when set.
    pub tls: Option<tokio_rustls::TlsConnector>,
}

impl Upstream {
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "mllps" } else { "mllp" };
        format!("{scheme}://{}", self.addr)
    }
}

/// Limits and timeouts.
#[derive(Clone)]
pub struct ProxyOptions {
    pub upstream: Upstream,
    /// Frames larger than this are passed on unframed (see `frame`).
    pub max_frame_bytes: usize,
    /// Connecting (and the TLS handshake) to the upstream.
    pub connect_timeout: Duration,
    /// A connection on which neither side sent anything for this long is closed; also the
    /// longest a write may wait for a peer to take bytes.
    pub idle_timeout: Duration,
}

/// Counters for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub connections: u64,
    pub frames: [u64; 2],
    pub bytes: [u64; 2],
}

/// An outage in progress: until when, and the rule that started it.
#[derive(Debug, Clone)]
struct Outage {
    until: Instant,
    rule: u64,
    spec: String,
}

/// State shared by every connection and the control interface.
pub struct Proxy {
    engine: Mutex<Engine>,
    pub events: EventLog,
    options: ProxyOptions,
    outage: Mutex<Option<Outage>>,
    /// Bumped when an outage starts: every connection resets itself.
    kill: watch::Sender<u64>,
    connections: AtomicU64,
    bytes: [AtomicU64; 2],
    /// Rules installed during the run, `(id, canonical spec)`, removed ones included (the
    /// first [`MAX_HISTORY`]).
    installed: Mutex<Vec<(u64, String)>>,
    /// `--record`: every frame is handed to the recorder (a non-blocking send).
    tap: std::sync::OnceLock<Arc<super::record::Tap>>,
}

impl Proxy {
    pub fn new(engine: Engine, events: EventLog, options: ProxyOptions) -> Arc<Proxy> {
        let installed = engine.rules().iter().map(|r| (r.id, r.spec.to_string())).collect();
        let proxy = Arc::new(Proxy {
            engine: Mutex::new(engine),
            events,
            options,
            outage: Mutex::new(None),
            kill: watch::channel(0).0,
            connections: AtomicU64::new(0),
            bytes: [AtomicU64::new(0), AtomicU64::new(0)],
            installed: Mutex::new(installed),
            tap: std::sync::OnceLock::new(),
        });
        proxy.start_immediate_outages();
        proxy
    }

    /// Hands every later frame (as it arrived, before any fault) to a recording; a second
    /// call is ignored.
    pub fn record(&self, tap: Arc<super::record::Tap>) {
        let _ = self.tap.set(tap);
    }

    pub fn options(&self) -> &ProxyOptions {
        &self.options
    }

    fn engine(&self) -> std::sync::MutexGuard<'_, Engine> {
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The installed rules as `(id, canonical spec, spent)`.
    pub fn rules(&self) -> Vec<(u64, String, bool)> {
        self.engine().rules().iter().map(|r| (r.id, r.spec.to_string(), r.spent)).collect()
    }

    /// Installs a rule while the proxy runs (logged as a note); returns its id, or `None` when
    /// [`MAX_RULES`] are installed already.
    pub fn add_rule(&self, spec: FaultSpec) -> Option<u64> {
        let text = spec.to_string();
        let id = {
            let mut engine = self.engine();
            if engine.rules().len() >= MAX_RULES {
                return None;
            }
            engine.add(spec)
        };
        let mut installed = self.installed.lock().unwrap_or_else(|p| p.into_inner());
        if installed.len() < MAX_HISTORY {
            installed.push((id, text.clone()));
        }
        drop(installed);
        self.events.record(Event::note(0, None, "rule-added", format!("rule {id}: {text}")));
        self.start_immediate_outages();
        Some(id)
    }

    /// Every rule installed during the run, removed ones included.
    pub fn installed(&self) -> Vec<(u64, String)> {
        self.installed.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn remove_rule(&self, id: u64) -> bool {
        let removed = self.engine().remove(id);
        if removed {
            self.events.record(Event::note(0, None, "rule-removed", format!("rule {id}")));
        }
        removed
    }

    pub fn clear_rules(&self) {
        self.engine().clear();
        self.events.record(Event::note(0, None, "rules-cleared", String::new()));
    }

    pub fn stats(&self) -> Stats {
        Stats {
            connections: self.connections.load(Ordering::Relaxed),
            frames: self.engine().frames(),
            bytes: [self.bytes[0].load(Ordering::Relaxed), self.bytes[1].load(Ordering::Relaxed)],
        }
    }

    fn start_immediate_outages(&self) {
        let outages = self.engine().take_immediate_outages();
        for (rule, spec, length) in outages {
            let mut event =
                Event::note(0, None, "outage", format!("for {} ms", length.as_millis()));
            event.kind = EventKind::Fault;
            event.rule = Some(rule);
            event.spec = Some(spec.clone());
            self.events.record(event);
            self.start_outage(length, rule, spec);
        }
    }

    fn start_outage(&self, length: Duration, rule: u64, spec: String) {
        let until = Instant::now() + length;
        *self.outage.lock().unwrap_or_else(|p| p.into_inner()) = Some(Outage { until, rule, spec });
        self.kill.send_modify(|generation| *generation += 1);
    }

    /// The fast path of a frame: when no rule is installed (nothing can act on it and nothing
    /// is logged for it), the frame is only counted, so the indices rules added later see stay
    /// those of the whole run; its ids are not read and no decision is built. Returns the
    /// frame's index then, `None` when the frame must go through [`Engine::frame`].
    ///
    /// A recording (`--record`) watches every frame: with one, every frame takes the full path.
    fn count_plain_frame(&self, dir: Direction) -> Option<u64> {
        if self.tap.get().is_some() {
            return None;
        }
        let mut engine = self.engine();
        if !engine.rules().is_empty() {
            return None;
        }
        Some(engine.frame(dir, &FrameIds::default(), &[]).index)
    }

    /// The outage in progress, if any.
    fn outage_now(&self) -> Option<Outage> {
        let outage = self.outage.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
        (Instant::now() < outage.until).then_some(outage)
    }
}

/// Serves until `shutdown` resolves; returns how many connections were accepted.
pub async fn serve(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<u64> {
    crate::transport::accept::accept_until(
        listener,
        shutdown,
        false,
        "hl7-harness proxy",
        move |stream, peer| {
            let proxy = Arc::clone(&proxy);
            async move { handle(proxy, stream, peer).await }
        },
    )
    .await
}

type Reader = Box<dyn AsyncRead + Unpin + Send>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// A socket's own handle (a duplicate of its descriptor), kept to reset it whoever holds the
/// stream halves: with SO_LINGER 0 the last close sends RST instead of FIN.
fn with_handle(stream: TcpStream) -> std::io::Result<(TcpStream, std::net::TcpStream)> {
    let std_stream = stream.into_std()?;
    let handle = std_stream.try_clone()?;
    Ok((TcpStream::from_std(std_stream)?, handle))
}

fn arm_reset(handle: &std::net::TcpStream) {
    let _ = socket2::SockRef::from(handle).set_linger(Some(Duration::ZERO));
}

fn halves<S: AsyncRead + AsyncWrite + Send + 'static>(stream: S) -> (Reader, Writer) {
    // `tokio::io::split` (not `into_split`): dropping its write half sends no FIN, so a reset
    // reaches the peer as a reset.
    let (r, w) = tokio::io::split(stream);
    (Box::new(r), Box::new(w))
}

/// Why the upstream could not be reached; the downstream connection is then closed and the
/// event log notes this (`upstream-unreachable`), naming the upstream by its URL.
#[derive(Debug, thiserror::Error)]
enum UpstreamError {
    #[error("no connection to {url} within {after:?}")]
    ConnectTimeout { url: String, after: Duration },
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no TLS handshake with {url} within {after:?}")]
    HandshakeTimeout { url: String, after: Duration },
    #[error("TLS handshake with {url} failed: {source}")]
    Handshake {
        url: String,
        #[source]
        source: std::io::Error,
    },
    /// The socket could not be duplicated for resets, or the host is no TLS server name.
    #[error("{0}")]
    Setup(String),
}

impl UpstreamError {
    /// The proxy's words for a failed step of the client connect (which names the address
    /// only).
    fn of(error: TransportError, upstream: &Upstream, handshake: bool) -> UpstreamError {
        let url = upstream.url();
        match error {
            TransportError::ConnectTimeout { after, .. } if handshake => {
                UpstreamError::HandshakeTimeout { url, after }
            }
            TransportError::ConnectTimeout { after, .. } => {
                UpstreamError::ConnectTimeout { url, after }
            }
            TransportError::Connect { source, .. } => UpstreamError::Connect { url, source },
            TransportError::Tls { source, .. } => UpstreamError::Handshake { url, source },
            other => UpstreamError::Setup(other.to_string()),
        }
    }
}

/// Connects to the upstream through the client connect of `transport` (TCP, then TLS for
/// `mllps://`), each step within the connect timeout; the socket's handle comes along for
/// resets.
async fn connect_upstream(
    options: &ProxyOptions,
) -> Result<(Reader, Writer, std::net::TcpStream), UpstreamError> {
    let upstream = &options.upstream;
    let wait = options.connect_timeout;
    let stream = connect_tcp(&upstream.addr, &Route::Direct, wait)
        .await
        .map_err(|e| UpstreamError::of(e, upstream, false))?;
    let _ = stream.set_nodelay(true);
    let (stream, handle) = with_handle(stream).map_err(|e| UpstreamError::Setup(e.to_string()))?;
    let Some(connector) = &upstream.tls else {
        let (r, w) = halves(stream);
        return Ok((r, w, handle));
    };
    let name = crate::transport::tls::server_name(&upstream.addr)
        .map_err(|e| UpstreamError::Setup(e.to_string()))?;
    let tls = tls_handshake(stream, &upstream.addr, name, connector, wait)
        .await
        .map_err(|e| UpstreamError::of(e, upstream, true))?;
    let (r, w) = halves(tls);
    Ok((r, w, handle))
}

pub(super) async fn handle(proxy: Arc<Proxy>, client: TcpStream, peer: std::net::SocketAddr) {
    let id = proxy.connections.fetch_add(1, Ordering::Relaxed) + 1;
    if let Some(outage) = proxy.outage_now() {
        let left = outage.until.saturating_duration_since(Instant::now());
        let mut event = Event::note(
            id,
            None,
            "outage",
            format!("connection from {peer} reset: outage, {} ms left", left.as_millis()),
        );
        event.kind = EventKind::Fault;
        event.rule = Some(outage.rule);
        event.spec = Some(outage.spec);
        proxy.events.record(event);
        let _ = socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO));
        return;
    }
    proxy.events.record(Event::note(id, None, "connect", format!("from {peer}")));
    let (upstream_r, upstream_w, upstream_handle) = match connect_upstream(&proxy.options).await {
        Ok(parts) => parts,
        Err(why) => {
            // The downstream peer sees its connection closed, as with an unreachable server.
            let why = why.to_string();
            proxy.events.record(Event::note(id, None, "upstream-unreachable", why));
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let (client, client_handle) = match with_handle(client) {
        Ok(parts) => parts,
        Err(err) => {
            proxy.events.record(Event::note(id, None, "socket-error", err.to_string()));
            return;
        }
    };
    let client = halves(client);
    let upstream = (upstream_r, upstream_w);
    run_connection(proxy, id, client, upstream, vec![client_handle, upstream_handle]).await;
}

/// Runs one proxied connection over any byte streams until both directions end. `handles` are
/// the sockets, so a reset can arm them (in-memory streams in tests have none).
async fn run_connection(
    proxy: Arc<Proxy>,
    id: u64,
    (client_r, client_w): (Reader, Writer),
    (upstream_r, upstream_w): (Reader, Writer),
    handles: Vec<std::net::TcpStream>,
) {
    let conn = Arc::new(Conn {
        id,
        proxy: Arc::clone(&proxy),
        handles,
        stop: watch::channel(Stop::Running).0,
        started: Instant::now(),
        last_activity_ms: AtomicU64::new(0),
    });
    tokio::join!(
        pump(Arc::clone(&conn), Direction::Up, client_r, upstream_w),
        pump(Arc::clone(&conn), Direction::Down, upstream_r, client_w),
    );
    let how = match *conn.stop.borrow() {
        Stop::Running => "both sides closed",
        Stop::Close => "closed",
        Stop::Reset => "reset",
    };
    proxy.events.record(Event::note(id, None, "closed", how.to_string()));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Running,
    /// Close both sides (FIN).
    Close,
    /// Reset both sides (RST).
    Reset,
}

/// One proxied connection, shared by its two pumps.
struct Conn {
    id: u64,
    proxy: Arc<Proxy>,
    /// The downstream and upstream sockets.
    handles: Vec<std::net::TcpStream>,
    stop: watch::Sender<Stop>,
    started: Instant,
    last_activity_ms: AtomicU64,
}

impl Conn {
    fn touch(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last_activity_ms.store(now, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_activity_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    fn reset(&self) {
        for handle in &self.handles {
            arm_reset(handle);
        }
        self.stop.send_replace(Stop::Reset);
    }

    fn close(&self) {
        self.stop.send_if_modified(|s| {
            let running = *s == Stop::Running;
            if running {
                *s = Stop::Close;
            }
            running
        });
    }

    fn note(&self, dir: Direction, code: &str, detail: String) {
        self.proxy.events.record(Event::note(self.id, Some(dir), code, detail));
    }

    /// Logs the rules that acted on a unit (a frame when `frame` is set).
    fn faults(&self, dir: Direction, frame: Option<(u64, &FrameIds)>, applied: Vec<Applied>) {
        for a in applied {
            let mut event = Event::note(self.id, Some(dir), a.fault, a.detail);
            event.kind = EventKind::Fault;
            event.rule = Some(a.rule);
            event.spec = Some(a.spec);
            if let Some((index, ids)) = frame {
                event.frame = Some(index);
                event.ids = ids.clone();
            }
            self.proxy.events.record(event);
        }
    }
}

/// What a pump does after forwarding a batch of units.
enum Flow {
    Continue,
    Stop,
}

/// Reads one direction until its end, forwarding what the engine decides.
async fn pump(conn: Arc<Conn>, dir: Direction, mut reader: Reader, mut writer: Writer) {
    let proxy = Arc::clone(&conn.proxy);
    let idle = proxy.options.idle_timeout;
    let mut splitter = Splitter::new(proxy.options.max_frame_bytes);
    let mut stop = conn.stop.subscribe();
    let mut kill = proxy.kill.subscribe();
    // One wait for each signal and one idle timer for the pump's life, not one per read: a
    // frame then costs no registration with the signals' waiter lists (the kill signal is
    // shared by every connection) and no new timer (a later deadline only moves this one).
    let stopped = stop.changed();
    let killed = kill.changed();
    let quiet = tokio::time::sleep(idle);
    tokio::pin!(stopped, killed, quiet);
    let mut state = PumpState { half_closed: false };
    let mut buf = vec![0u8; 16 * 1024];
    // Bytes read this way on this connection: where `bytes=N` triggers fire.
    let mut read_so_far = 0u64;
    loop {
        let read = tokio::select! {
            _ = &mut stopped => return,
            _ = &mut killed => return conn.reset(),
            _ = &mut quiet => Err(()),
            read = reader.read(&mut buf) => Ok(read),
        };
        let (units, eof, cut) = match read {
            Err(()) if conn.idle_for() >= idle => {
                conn.note(
                    dir,
                    "idle-timeout",
                    format!("nothing sent either way for {idle:?}; closing"),
                );
                return conn.close();
            }
            Err(()) => {
                // The other direction was active: wait again.
                quiet.as_mut().reset(Instant::now() + idle);
                continue;
            }
            Ok(Err(err)) => {
                // A reset (or another failure) on one side is passed on as a reset.
                conn.note(dir, "read-failed", format!("{err}; resetting the other side"));
                return conn.reset();
            }
            Ok(Ok(0)) => (splitter.finish(), true, None),
            Ok(Ok(n)) => {
                conn.touch();
                let offset = read_so_far;
                read_so_far += n as u64;
                match proxy.engine().bytes(dir, offset, n) {
                    None => (splitter.push(&buf[..n]), false, None),
                    Some((at, trigger, applied)) => {
                        let mut units = splitter.push(&buf[..at]);
                        units.extend(splitter.cut());
                        (units, false, Some((trigger, applied, n - at)))
                    }
                }
            }
        };
        let flow = tokio::select! {
            _ = &mut stopped => return,
            _ = &mut killed => return conn.reset(),
            flow = forward(&conn, dir, units, &mut writer, &mut state) => flow,
        };
        // The next read may wait `idle` from now, as a timeout around each read would.
        quiet.as_mut().reset(Instant::now() + idle);
        if let Flow::Stop = flow {
            return;
        }
        if let Some((trigger, applied, rest)) = cut {
            conn.faults(dir, None, vec![applied]);
            if rest > 0 {
                let detail = format!("{rest} byte(s) read after the cut not delivered");
                conn.note(dir, "discarded-after-cut", detail);
            }
            if trigger == Trigger::Reset {
                return conn.reset();
            }
            let _ = tokio::time::timeout(idle, writer.shutdown()).await;
            state.half_closed = true;
        }
        if eof {
            if !state.half_closed {
                conn.note(dir, "peer-closed", "end of stream; half-close passed on".into());
                let _ = tokio::time::timeout(idle, writer.shutdown()).await;
            }
            return;
        }
    }
}

struct PumpState {
    /// A fault shut the write side down: later bytes are read and discarded (and logged).
    half_closed: bool,
}

async fn forward(
    conn: &Conn,
    dir: Direction,
    units: Vec<Unit>,
    writer: &mut Writer,
    state: &mut PumpState,
) -> Flow {
    let proxy = &conn.proxy;
    let idle = proxy.options.idle_timeout;
    for unit in units {
        let bytes = unit.bytes().clone();
        proxy.bytes[dir.index()].fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if matches!(unit, Unit::Frame { .. }) && !state.half_closed {
            if let Some(index) = proxy.count_plain_frame(dir) {
                if let Err(err) = write_plain(writer, &bytes, idle).await {
                    let ids = frame_ids(payload(&bytes));
                    return write_failed(conn, dir, bytes.len(), Some((index, &ids)), &err);
                }
                continue;
            }
        }
        let (frame, decision) = match &unit {
            Unit::Unframed { why, offset, .. } => {
                conn.note(
                    dir,
                    why.code(),
                    format!("{} byte(s) at stream offset {offset} passed on unframed", bytes.len()),
                );
                (None, None)
            }
            Unit::Frame { .. } => {
                if let Some(tap) = proxy.tap.get() {
                    tap.frame(conn.id, dir, &bytes);
                }
                let ids = frame_ids(payload(&bytes));
                let decision = proxy.engine().frame(dir, &ids, payload(&bytes));
                (Some(ids), Some(decision))
            }
        };
        if state.half_closed {
            let what = match (&frame, &decision) {
                (Some(ids), Some(d)) => {
                    format!("frame {} ({}) not delivered", d.index, describe(ids))
                }
                _ => "bytes not delivered".into(),
            };
            conn.note(
                dir,
                "discarded-after-half-close",
                format!("{} byte(s): {what}", bytes.len()),
            );
            continue;
        }
        let Some(Decision { index, verdict, shaping, trigger, applied }) = decision else {
            let (shaping, applied) = proxy.engine().unframed(dir);
            conn.faults(dir, None, applied);
            if let Err(err) = write_shaped(writer, &bytes, shaping, idle).await {
                return write_failed(conn, dir, bytes.len(), None, &err);
            }
            continue;
        };
        let ids = frame.unwrap_or_default();
        let outage_rule =
            applied.iter().find(|a| a.fault == "outage").map(|a| (a.rule, a.spec.clone()));
        conn.faults(dir, Some((index, &ids)), applied);
        let copies: Vec<bytes::Bytes> = match verdict {
            Verdict::Forward => vec![bytes],
            Verdict::Drop => vec![],
            Verdict::Delay(delay) => {
                tokio::time::sleep(delay).await;
                vec![bytes]
            }
            Verdict::Duplicate => vec![bytes.clone(), bytes],
            Verdict::Corrupt(changes) => {
                let mut changed = bytes.to_vec();
                for (at, _, new) in changes {
                    // Payload index → frame index: skip the Start Block.
                    changed[at + 1] = new;
                }
                vec![changed.into()]
            }
        };
        for copy in copies {
            if let Err(err) = write_shaped(writer, &copy, shaping, idle).await {
                return write_failed(conn, dir, copy.len(), Some((index, &ids)), &err);
            }
        }
        match trigger {
            None => {}
            Some(Trigger::HalfClose) => {
                let _ = tokio::time::timeout(idle, writer.shutdown()).await;
                state.half_closed = true;
            }
            Some(Trigger::Reset) => {
                conn.reset();
                return Flow::Stop;
            }
            Some(Trigger::Outage(length)) => {
                let rule = outage_rule.unwrap_or((0, String::new()));
                let (rule, spec) = rule;
                proxy.start_outage(length, rule, spec);
                conn.reset();
                return Flow::Stop;
            }
        }
    }
    Flow::Continue
}

/// Writes a frame as read, within `idle` (as `write_shaped` does with no shaping, without
/// building its list of writes).
async fn write_plain(writer: &mut Writer, bytes: &[u8], idle: Duration) -> std::io::Result<()> {
    let written = async {
        writer.write_all(bytes).await?;
        writer.flush().await
    };
    match tokio::time::timeout(idle, written).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the peer took no bytes for {idle:?}"),
        )),
    }
}

fn describe(ids: &FrameIds) -> String {
    let parts: Vec<String> = [("MSH-9", &ids.msh9), ("MSH-10", &ids.msh10), ("MSA-2", &ids.msa2)]
        .iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| format!("{name} {v}")))
        .collect();
    if parts.is_empty() {
        "no MSH".into()
    } else {
        parts.join(", ")
    }
}

/// A peer that no longer takes bytes: what could not be delivered is logged, both sides close.
fn write_failed(
    conn: &Conn,
    dir: Direction,
    len: usize,
    frame: Option<(u64, &FrameIds)>,
    err: &std::io::Error,
) -> Flow {
    let what = match frame {
        Some((index, ids)) => format!("frame {index} ({})", describe(ids)),
        None => "unframed bytes".into(),
    };
    conn.note(
        dir,
        "write-failed",
        format!("{len} byte(s) of {what} not delivered: {err}; closing"),
    );
    conn.close();
    Flow::Stop
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::parse_spec;
    use crate::vocab::Seed;
    use tokio::io::DuplexStream;

    fn proxy(specs: &[&str]) -> Arc<Proxy> {
        let options = ProxyOptions {
            upstream: Upstream { addr: "127.0.0.1:9".into(), tls: None },
            max_frame_bytes: 1024,
            connect_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(3600),
        };
        let mut engine = Engine::new(Seed(1));
        for spec in specs {
            engine.add(parse_spec(spec).unwrap());
        }
        Proxy::new(engine, EventLog::new(false), options)
    }

    /// One connection through `proxy` over in-memory pipes: (client side, upstream side, the
    /// connection's task).
    fn connection(proxy: &Arc<Proxy>) -> (DuplexStream, DuplexStream, tokio::task::JoinHandle<()>) {
        let (client, proxy_client) = tokio::io::duplex(1 << 16);
        let (proxy_upstream, upstream) = tokio::io::duplex(1 << 16);
        let task = tokio::spawn(run_connection(
            Arc::clone(proxy),
            1,
            halves(proxy_client),
            halves(proxy_upstream),
            Vec::new(),
        ));
        (client, upstream, task)
    }

    async fn read_exactly(stream: &mut DuplexStream, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        stream.read_exact(&mut buf).await.unwrap();
        buf
    }

    const MESSAGE: &[u8] = b"\x0bMSH|^~\\&|S|F|R|F|2026||ADT^A04|M1|P|2.5\r\x1c\r";
    const ACK: &[u8] = b"\x0bMSH|^~\\&|R|F|S|F|2026||ACK^A04|A1|P|2.5\rMSA|AA|M1\r\x1c\r";

    #[tokio::test(start_paused = true)]
    async fn frame_faults_through_a_connection_take_exact_virtual_time() {
        let proxy = proxy(&[
            "delay:dir=up,frame=1,ms=500",
            "duplicate:dir=down,frame=1",
            "latency:dir=down,ms=20",
        ]);
        let (mut client, mut upstream, task) = connection(&proxy);
        let start = Instant::now();
        client.write_all(MESSAGE).await.unwrap();
        assert_eq!(read_exactly(&mut upstream, MESSAGE.len()).await, MESSAGE);
        assert_eq!(start.elapsed(), Duration::from_millis(500));
        upstream.write_all(ACK).await.unwrap();
        // Two copies, each after the direction's latency.
        assert_eq!(read_exactly(&mut client, 2 * ACK.len()).await, [ACK, ACK].concat());
        assert_eq!(start.elapsed(), Duration::from_millis(540));
        drop(client);
        drop(upstream);
        task.await.unwrap();
        let faults: Vec<String> = proxy
            .events
            .recent()
            .iter()
            .filter(|e| e.kind == EventKind::Fault)
            .map(|e| format!("{} {:?} {:?}", e.fault, e.dir, e.frame))
            .collect();
        assert_eq!(
            faults,
            [
                "delay Some(\"up\") Some(1)",
                "duplicate Some(\"down\") Some(1)",
                "latency Some(\"down\") Some(1)"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_reset_ends_both_directions_and_a_drop_forwards_nothing() {
        let proxy = proxy(&["drop:dir=up,frame=1", "reset:dir=up,after=2"]);
        let (mut client, mut upstream, task) = connection(&proxy);
        client.write_all(MESSAGE).await.unwrap();
        client.write_all(MESSAGE).await.unwrap();
        // Frame 1 dropped, frame 2 forwarded, then the connection ends on both sides.
        let mut got = Vec::new();
        upstream.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, MESSAGE);
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        task.await.unwrap();
        let last = proxy.events.recent().pop().unwrap();
        assert_eq!((last.fault.as_str(), last.detail.as_str()), ("closed", "reset"));
    }

    /// Without a rule a frame takes the fast path: forwarded as read, and still counted, so a
    /// rule installed later picks its frame by the index over the whole run.
    #[tokio::test]
    async fn frames_without_rules_pass_as_read_and_keep_their_indices() {
        const FOURTH: &[u8] = b"\x0bMSH|^~\\&|S|F|R|F|2026||ADT^A04|M4|P|2.5\r\x1c\r";
        let proxy = proxy(&[]);
        let (mut client, mut upstream, task) = connection(&proxy);
        for _ in 0..2 {
            client.write_all(MESSAGE).await.unwrap();
            assert_eq!(read_exactly(&mut upstream, MESSAGE.len()).await, MESSAGE);
        }
        proxy.add_rule(parse_spec("drop:dir=up,frame=3").unwrap());
        client.write_all(MESSAGE).await.unwrap();
        client.write_all(FOURTH).await.unwrap();
        assert_eq!(read_exactly(&mut upstream, FOURTH.len()).await, FOURTH, "frame 3 dropped");
        drop(client);
        drop(upstream);
        task.await.unwrap();
        assert_eq!(proxy.stats().frames, [4, 0]);
    }

    #[test]
    fn the_control_interface_cannot_install_rules_without_bound() {
        let proxy = proxy(&[]);
        let spec = parse_spec("drop:frame=1").unwrap();
        for n in 1..=MAX_RULES as u64 {
            assert_eq!(proxy.add_rule(spec.clone()), Some(n));
        }
        assert_eq!(proxy.add_rule(spec.clone()), None);
        assert!(proxy.remove_rule(7));
        assert_eq!(proxy.add_rule(spec), Some(MAX_RULES as u64 + 1));
        assert_eq!(proxy.installed().len(), MAX_RULES + 1);
        assert_eq!(proxy.rules().len(), MAX_RULES);
    }
}
