//! The port a through case's engine is told to listen on (`{input}` in `through.input`).
//!
//! The harness cannot hold the port for the engine: it checks that the port is free, lets it
//! go, and starts the engine, which binds it. Whatever binds in between takes it, and the case
//! would then send its inputs to that other listener. A port the kernel hands out for a
//! `bind` to port 0 (every test server, every other case's listener) or for an outgoing
//! connection comes from its ephemeral range (`net.ipv4.ip_local_port_range`), so the port is
//! chosen below that range, where only a program that asks for that very port could take it.
//! Within one process the ports are handed out in turn, so two cases never get the same one.

use std::sync::atomic::{AtomicU32, Ordering};
use tokio::net::TcpListener;

/// Where the kernel says its ephemeral range is.
const EPHEMERAL_RANGE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// The lowest port handed out: well above the registered services most hosts run.
const LOWEST: u16 = 10_000;

/// Ports tried before falling back to one the kernel picks.
const TRIES: u32 = 64;

/// Counts the ports handed out by this process.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A free `127.0.0.1:PORT` for the engine's input: below the kernel's ephemeral range when
/// there is room there, otherwise (or when no port there is free) one the kernel picks.
pub(super) async fn free_input_address() -> std::io::Result<String> {
    let range = std::fs::read_to_string(EPHEMERAL_RANGE).ok().and_then(|t| below_ephemeral(&t));
    if let Some((low, high)) = range {
        let span = u32::from(high - low) + 1;
        let start = std::process::id().wrapping_mul(2_654_435_761) % span;
        for _ in 0..TRIES {
            let turn = NEXT.fetch_add(1, Ordering::Relaxed);
            let port = low + (start.wrapping_add(turn) % span) as u16;
            if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)).await {
                return Ok(listener.local_addr()?.to_string());
            }
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    Ok(listener.local_addr()?.to_string())
}

/// The ports from [`LOWEST`] up to just below the ephemeral range that `text` (the contents
/// of [`EPHEMERAL_RANGE`]: "LOW HIGH") names; `None` when it leaves fewer than 1,000.
fn below_ephemeral(text: &str) -> Option<(u16, u16)> {
    let low: u16 = text.split_whitespace().next()?.parse().ok()?;
    let high = low.checked_sub(1)?;
    (high >= LOWEST + 1_000).then_some((LOWEST, high))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ports_lie_below_the_ephemeral_range_when_it_leaves_room() {
        assert_eq!(below_ephemeral("32768\t60999\n"), Some((10_000, 32_767)));
        assert_eq!(below_ephemeral("10500 60999"), None, "too little room below");
        assert_eq!(below_ephemeral("1024 65535"), None);
        assert_eq!(below_ephemeral(""), None);
        assert_eq!(below_ephemeral("many ports"), None);
    }

    #[tokio::test]
    async fn each_case_gets_its_own_free_port_outside_the_range_bind_zero_uses() {
        let range = std::fs::read_to_string(EPHEMERAL_RANGE).ok().and_then(|t| below_ephemeral(&t));
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..20 {
            let addr: std::net::SocketAddr = free_input_address().await.unwrap().parse().unwrap();
            assert!(addr.ip().is_loopback());
            assert!(seen.insert(addr.port()), "{} handed out twice", addr.port());
            if let Some((low, high)) = range {
                assert!((low..=high).contains(&addr.port()), "{addr} outside {low}..={high}");
            }
            // Free when handed out: the engine can bind it.
            drop(TcpListener::bind(addr).await.unwrap());
        }
    }
}
