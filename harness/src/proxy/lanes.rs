//! The proxy's lanes: connections on threads of the proxy's own, each a current-thread
//! runtime, instead of the tasks of one multi-thread runtime. The first connections open at
//! once (up to [`OWN_LANES`]) each get a lane of their own, as socat gives each a process; the
//! connections past them share one lane per core. Accepting, the rules, the outage, the event
//! log and the counters stay shared as in [`serve`]; only where a connection's two pumps run
//! changes.
//!
//! Measured on loopback (`cargo xtask bench net`, 2 cores, 2026-12-04, 16 connections): a lane
//! per connection gave 0.99× socat where a lane per core gave 0.83×, and equal with one
//! connection.

use super::event::Event;
use super::server::{handle, Proxy};
use std::future::Future;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot::error::TryRecvError;

#[cfg(doc)]
use super::server::serve;

/// Connections open at once that get a lane of their own unless told otherwise: a lane costs
/// a thread (its stack's touched pages) and a runtime, so this bounds what idle connections
/// can hold that way. Measured on 2026-12-04 (`proxy`, idle connections after one message
/// each): about 115 KiB of RSS per connection on a lane of its own, 27 KiB on a shared one,
/// so the 64 own lanes hold at most about 6 MiB more than shared lanes would.
pub const OWN_LANES: usize = 64;

/// [`serve`] with each connection on a lane: up to `own` connections open at once on a lane
/// of their own (started when the connection is accepted, ended with it), the others spread
/// over `threads` shared lanes. A lane is a thread of the proxy's own with a current-thread
/// runtime, that takes a connection (both its pumps and its upstream side) for the
/// connection's life; a shared lane takes every n-th connection past the own ones. A frame's read, its forwarding and the
/// answer's way back then run on the thread whose socket woke, with no work stealing and no
/// wake-up of an idle worker (on a multi-thread runtime each costs a futex call, and on a
/// machine whose cores the peers need, a spurious run of a worker). Accepting (and the rules,
/// the outage, the event log and the counters, which every lane shares) stays as in
/// [`serve`]. When `shutdown` resolves, the lanes end their connections (as dropping a
/// runtime does) and this returns once they have. Falls back to [`serve`]'s tasks on the
/// calling runtime for a lane whose thread or runtime cannot be had.
pub async fn serve_on_threads(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    shutdown: impl Future<Output = ()>,
    threads: usize,
    own: usize,
) -> std::io::Result<u64> {
    let mut lanes = Vec::new();
    let mut ended = Vec::new();
    for _ in 0..threads.max(1) {
        if let Some((lane, done)) = start_lane(Arc::clone(&proxy), Ends::WithItsSender) {
            lanes.push(lane);
            ended.push(done);
        }
    }
    // The lanes of one connection each, open now: kept to end them at the shutdown.
    let own_lanes = Arc::new(std::sync::Mutex::new(Vec::<(Lane, Ended)>::new()));
    let kept = Arc::clone(&own_lanes);
    let mut turn = 0usize;
    let accepted = crate::transport::accept::accept_until(
        listener,
        shutdown,
        false,
        "hl7-harness proxy",
        move |stream, peer| {
            let proxy = Arc::clone(&proxy);
            // The stream leaves this runtime's reactor and joins the lane's.
            let stream = match stream.into_std() {
                Ok(stream) => match own_lane(&proxy, &kept, own, stream, peer) {
                    None => return run_here(None),
                    Some(stream) => Ok(stream),
                },
                Err(err) => Err(err),
            };
            let handed = match (lanes.get(turn % lanes.len().max(1)), stream) {
                (Some(lane), Ok(stream)) => lane.send((stream, peer)).map_err(|e| e.0 .0),
                (None, Ok(stream)) => Err(stream),
                (_, Err(err)) => {
                    let note = Event::note(0, None, "socket-error", err.to_string());
                    proxy.events.record(note);
                    return run_here(None);
                }
            };
            turn = turn.wrapping_add(1);
            run_here(handed.err().map(|stream| (proxy, stream, peer)))
        },
    )
    .await;
    // Dropping the senders ends the lanes; each ends its connections first.
    let own_lanes = std::mem::take(&mut *own_lanes.lock().unwrap_or_else(|p| p.into_inner()));
    for (lane, done) in own_lanes {
        drop(lane);
        let _ = done.await;
    }
    for done in ended {
        let _ = done.await;
    }
    accepted
}

/// Gives `stream` a lane of its own when fewer than `own` connections have one now; hands it
/// back when not, or when no lane could be started.
fn own_lane(
    proxy: &Arc<Proxy>,
    open: &std::sync::Mutex<Vec<(Lane, Ended)>>,
    own: usize,
    stream: std::net::TcpStream,
    peer: std::net::SocketAddr,
) -> Option<std::net::TcpStream> {
    let mut open = open.lock().unwrap_or_else(|p| p.into_inner());
    // A lane whose connection ended has ended too (or is ending): its place is free.
    open.retain_mut(|(_, done)| matches!(done.try_recv(), Err(TryRecvError::Empty)));
    if open.len() >= own {
        return Some(stream);
    }
    let Some((lane, done)) = start_lane(Arc::clone(proxy), Ends::WithItsConnection) else {
        return Some(stream);
    };
    match lane.send((stream, peer)) {
        Ok(()) => {
            open.push((lane, done));
            None
        }
        Err(back) => Some(back.0 .0),
    }
}

/// What the accept loop of [`serve_on_threads`] spawns for a connection: nothing when a lane
/// took it, else the connection itself on the calling runtime.
async fn run_here(here: Option<(Arc<Proxy>, std::net::TcpStream, std::net::SocketAddr)>) {
    let Some((proxy, stream, peer)) = here else { return };
    match TcpStream::from_std(stream) {
        Ok(stream) => handle(proxy, stream, peer).await,
        Err(err) => proxy.events.record(Event::note(0, None, "socket-error", err.to_string())),
    }
}

type Lane = tokio::sync::mpsc::UnboundedSender<(std::net::TcpStream, std::net::SocketAddr)>;
type Ended = tokio::sync::oneshot::Receiver<()>;

/// When a lane ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ends {
    /// When its sender is dropped (the shutdown), ending the connections still open.
    WithItsSender,
    /// Also when its one connection has ended.
    WithItsConnection,
}

/// Starts one lane of [`serve_on_threads`]: its sender of accepted connections, and a receiver
/// that answers when the lane has ended (its sender dropped, its connections ended). `None`
/// when no runtime or thread can be had.
fn start_lane(proxy: Arc<Proxy>, ends: Ends) -> Option<(Lane, Ended)> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
    let (lane, mut incoming) = tokio::sync::mpsc::unbounded_channel();
    let (done, ended) = tokio::sync::oneshot::channel();
    let lane_loop = move || {
        runtime.block_on(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    next = incoming.recv() => {
                        let Some((stream, peer)) = next else { break };
                        match TcpStream::from_std(stream) {
                            Ok(stream) => {
                                connections.spawn(handle(Arc::clone(&proxy), stream, peer));
                            }
                            Err(err) => {
                                let note = Event::note(0, None, "socket-error", err.to_string());
                                proxy.events.record(note);
                            }
                        }
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
                // A lane of one connection ends with it (or with the stream it could not take).
                if ends == Ends::WithItsConnection && connections.is_empty() {
                    break;
                }
            }
            // Dropping the set ends the connections still open, as dropping a runtime would.
            connections.shutdown().await;
        });
        let _ = done.send(());
    };
    let name = match ends {
        Ends::WithItsSender => "hl7-proxy",
        Ends::WithItsConnection => "hl7-proxy-conn",
    };
    std::thread::Builder::new().name(name.into()).spawn(lane_loop).ok()?;
    Some((lane, ended))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Engine;
    use crate::proxy::event::EventLog;
    use crate::proxy::server::{ProxyOptions, Upstream};
    use crate::vocab::Seed;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::watch;

    const MESSAGE: &[u8] = b"\x0bMSH|^~\\&|S|F|R|F|2026||ADT^A04|M1|P|2.5\r\x1c\r";

    /// Connections on lanes (their own, up to the bound, then the shared ones) are proxied and
    /// counted as on one runtime, each frame once; a connection's own lane ends with it; when
    /// the shutdown comes, the lanes end and the accept count is returned.
    #[tokio::test]
    async fn connections_on_lanes_are_proxied_and_counted() {
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        // An upstream that echoes every byte back.
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = upstream.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = stream.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        let proxy = Proxy::new(
            Engine::new(Seed(1)),
            EventLog::new(false),
            ProxyOptions {
                upstream: Upstream { addr: upstream_addr.to_string(), tls: None },
                max_frame_bytes: 1024,
                connect_timeout: Duration::from_secs(2),
                idle_timeout: Duration::from_secs(30),
            },
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, mut stopped) = watch::channel(false);
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        let served = tokio::spawn(serve_on_threads(listener, Arc::clone(&proxy), shutdown, 2, 1));
        let limit = Duration::from_secs(5);
        let exchange = |mut client: TcpStream| async move {
            for _ in 0..3 {
                client.write_all(MESSAGE).await.unwrap();
                let mut back = vec![0u8; MESSAGE.len()];
                tokio::time::timeout(limit, client.read_exact(&mut back)).await.unwrap().unwrap();
                assert_eq!(back, MESSAGE);
            }
            client
        };
        // The first connection gets a lane of its own, which ends when the connection does.
        let first = exchange(TcpStream::connect(addr).await.unwrap()).await;
        assert_eq!(threads_named("hl7-proxy-conn"), 1);
        drop(first);
        assert!(no_thread_named("hl7-proxy-conn", limit).await, "the lane outlived its connection");
        // Its place is free again: of three open at once, one gets it, two share the lanes.
        let mut open = Vec::new();
        for _ in 0..3 {
            open.push(exchange(TcpStream::connect(addr).await.unwrap()).await);
        }
        assert_eq!(threads_named("hl7-proxy-conn"), 1);
        assert_eq!(proxy.stats().frames, [12, 12]);
        stop.send(true).unwrap();
        let accepted = tokio::time::timeout(limit, served).await.unwrap().unwrap().unwrap();
        assert_eq!(accepted, 4);
        assert!(no_thread_named("hl7-proxy-conn", limit).await, "the shutdown ended every lane");
        let connects = proxy.events.recent().iter().filter(|e| e.fault == "connect").count();
        assert_eq!(connects, 4);
        drop(open);
    }

    /// Whether the threads named `name` are gone within `limit` (a thread ends a moment after
    /// it says it has).
    async fn no_thread_named(name: &str, limit: Duration) -> bool {
        let until = std::time::Instant::now() + limit;
        while threads_named(name) > 0 {
            if std::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// How many of this process's threads have the name `name` (as Linux lists them).
    fn threads_named(name: &str) -> usize {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
        tasks
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .filter(|comm| comm.trim_end() == name)
            .count()
    }
}
