//! The accept loop every listener shares (the reference endpoint's MLLP, HLLP and HTTP sides,
//! the proxy and its control API): one task per connection, a backoff when accepts fail.

use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;

/// The accept loop every listener of the endpoint (and of the proxy) shares: runs `serve` for
/// each connection on its own task (or, when `sequential`, one after another) until `shutdown`
/// resolves; returns how many connections were accepted. `who` labels its log lines
/// (`hl7-harness serve`, `hl7-harness proxy`).
///
/// A failed accept (most often EMFILE: out of file descriptors) leaves the pending connection
/// in the backlog, so the listener is at once ready again: retrying straight away spins at
/// full CPU and logs a line per try. Instead the loop backs off ([`ACCEPT_BACKOFF_FIRST`],
/// doubling up to [`ACCEPT_BACKOFF_MAX`]) and logs each burst of failures twice: when it
/// starts, and once no accept has failed for [`ACCEPT_BURST_QUIET`], with the count. A burst
/// goes on through accepts that succeed in between (a proxy out of descriptors frees one each
/// time an upstream connect fails), so the backoff keeps growing. Connections already open are
/// served meanwhile (each runs on its own task).
pub async fn accept_until<F, Fut>(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    sequential: bool,
    who: &'static str,
    serve: F,
) -> std::io::Result<u64>
where
    F: FnMut(tokio::net::TcpStream, std::net::SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let log = move |line: std::fmt::Arguments<'_>| eprintln!("{who}: {line}");
    accept_logging(listener, shutdown, sequential, log, serve).await
}

/// [`accept_until`] with its lines (without a prefix) going to `log`, for a listener whose
/// caller chooses where it logs (the reference endpoint started in-process by `run`).
pub async fn accept_logging<F, Fut>(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    sequential: bool,
    log: impl Fn(std::fmt::Arguments<'_>),
    mut serve: F,
) -> std::io::Result<u64>
where
    F: FnMut(tokio::net::TcpStream, std::net::SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::pin!(shutdown);
    let mut accepted = 0u64;
    let mut burst: Option<AcceptBurst> = None;
    loop {
        let quiet_at = burst.as_ref().map(|b| b.last_failure + ACCEPT_BURST_QUIET);
        let quiet = async move {
            match quiet_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let result = tokio::select! {
            _ = &mut shutdown => return Ok(accepted),
            () = quiet => {
                if let Some(ended) = burst.take() {
                    log(format_args!(
                        "accepting again after {} failed accept(s) over {:?}",
                        ended.failures,
                        ended.last_failure - ended.started
                    ));
                }
                continue;
            }
            result = listener.accept() => result,
        };
        let (stream, peer) = match result {
            Ok(pair) => pair,
            Err(err) => {
                let now = tokio::time::Instant::now();
                let burst = burst.get_or_insert_with(|| {
                    log(format_args!(
                        "accept failed: {err}; backing off (from {ACCEPT_BACKOFF_FIRST:?} \
                         up to {ACCEPT_BACKOFF_MAX:?}), open connections are still served"
                    ));
                    AcceptBurst {
                        failures: 0,
                        started: now,
                        last_failure: now,
                        delay: ACCEPT_BACKOFF_FIRST,
                    }
                });
                burst.failures += 1;
                burst.last_failure = now;
                let delay = burst.delay;
                burst.delay = (delay * 2).min(ACCEPT_BACKOFF_MAX);
                tokio::select! {
                    _ = &mut shutdown => return Ok(accepted),
                    () = tokio::time::sleep(delay) => continue,
                }
            }
        };
        accepted += 1;
        let connection = serve(stream, peer);
        if sequential {
            connection.await;
        } else {
            tokio::spawn(connection);
        }
    }
}

/// The first wait after a failed accept.
pub const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(10);
/// The longest wait between accepts while they fail.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// A burst of failed accepts ends when none has failed for this long.
pub const ACCEPT_BURST_QUIET: Duration = Duration::from_secs(2);

/// A run of failed accepts, logged when it starts and when it ends.
struct AcceptBurst {
    failures: u64,
    started: tokio::time::Instant,
    last_failure: tokio::time::Instant,
    delay: Duration,
}
