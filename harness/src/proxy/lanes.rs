//! The proxy's lanes: connections spread over threads of the proxy's own, each a
//! current-thread runtime, instead of the tasks of one multi-thread runtime. Accepting, the
//! rules, the outage, the event log and the counters stay shared as in [`serve`]; only where a
//! connection's two pumps run changes.

use super::event::Event;
use super::server::{handle, Proxy};
use std::future::Future;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};

#[cfg(doc)]
use super::server::serve;

/// [`serve`] with the connections spread over `threads` lanes: threads of the proxy's own,
/// each a current-thread runtime that takes every n-th accepted connection (both its pumps
/// and its upstream side) for the connection's life. A frame's read, its forwarding and the
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
) -> std::io::Result<u64> {
    let mut lanes = Vec::new();
    let mut ended = Vec::new();
    for _ in 0..threads.max(1) {
        if let Some((lane, done)) = start_lane(Arc::clone(&proxy)) {
            lanes.push(lane);
            ended.push(done);
        }
    }
    let mut turn = 0usize;
    let accepted = crate::transport::accept::accept_until(
        listener,
        shutdown,
        false,
        "hl7-harness proxy",
        move |stream, peer| {
            let proxy = Arc::clone(&proxy);
            // The stream leaves this runtime's reactor and joins the lane's.
            let handed = match (lanes.get(turn % lanes.len().max(1)), stream.into_std()) {
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
    for done in ended {
        let _ = done.await;
    }
    accepted
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

/// Starts one lane of [`serve_on_threads`]: its sender of accepted connections, and a receiver
/// that answers when the lane has ended (its sender dropped, its connections ended). `None`
/// when no runtime or thread can be had.
fn start_lane(proxy: Arc<Proxy>) -> Option<(Lane, tokio::sync::oneshot::Receiver<()>)> {
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
            }
            // Dropping the set ends the connections still open, as dropping a runtime would.
            connections.shutdown().await;
        });
        let _ = done.send(());
    };
    std::thread::Builder::new().name("hl7-proxy".into()).spawn(lane_loop).ok()?;
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

    /// Connections spread over lanes are proxied and counted as on one runtime, each frame
    /// once; when the shutdown comes, the lanes end and the accept count is returned.
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
        let served = tokio::spawn(serve_on_threads(listener, Arc::clone(&proxy), shutdown, 2));
        let limit = Duration::from_secs(5);
        for _ in 0..4 {
            let mut client = TcpStream::connect(addr).await.unwrap();
            for _ in 0..3 {
                client.write_all(MESSAGE).await.unwrap();
                let mut back = vec![0u8; MESSAGE.len()];
                tokio::time::timeout(limit, client.read_exact(&mut back)).await.unwrap().unwrap();
                assert_eq!(back, MESSAGE);
            }
        }
        assert_eq!(proxy.stats().frames, [12, 12]);
        stop.send(true).unwrap();
        let accepted = tokio::time::timeout(limit, served).await.unwrap().unwrap().unwrap();
        assert_eq!(accepted, 4);
        let connects = proxy.events.recent().iter().filter(|e| e.fault == "connect").count();
        assert_eq!(connects, 4);
    }
}
