//! HTTP Basic authentication (RFC 7617) for the reference endpoint's HTTP listeners (ingest and
//! state), with failed guesses logged and slowed down.
//!
//! Every request that presents wrong credentials is logged with the peer and the user name it
//! tried (never the password). After [`FREE_FAILURES`] failures in a row from one IP address,
//! that address is blocked: its requests are answered `429 Too Many Requests` with a
//! `Retry-After`, without looking at their credentials, for [`FIRST_BLOCK`], doubling with each
//! failure after the block up to [`MAX_BLOCK`]. A success clears the address's record; a record
//! whose last failure is older than [`FORGET_AFTER`] is forgotten. At most [`MAX_PEERS`]
//! addresses are tracked (the oldest record goes first), so memory stays bounded whatever the
//! number of addresses guessing. Requests refused while blocked are counted, not logged one by
//! one: the count goes into the line that logs the next block.

use hyper::header::HeaderValue;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The Basic pieces live in `transport`, shared with the receiver role's HTTP listener.
pub use crate::transport::http_server::{read_basic, BasicCredentials, Presented};

/// Wrong guesses an address may make in a row before it is blocked.
pub const FREE_FAILURES: u32 = 5;
/// How long the first block lasts.
pub const FIRST_BLOCK: Duration = Duration::from_secs(1);
/// The longest block.
pub const MAX_BLOCK: Duration = Duration::from_secs(60);
/// A record with no failure for this long is forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(600);
/// The most addresses tracked at once.
pub const MAX_PEERS: usize = 10_000;
/// The longest user name a log line shows.
const MAX_USER_SHOWN: usize = 64;

/// The answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// 401: no credentials, or wrong ones.
    Denied,
    /// 429: this address guessed wrong too often; try again after this long.
    Blocked {
        retry_after: Duration,
    },
}

#[derive(Debug)]
struct Record {
    failures: u32,
    last_failure: Instant,
    blocked_until: Option<Instant>,
    /// Requests refused while blocked since the last block was logged.
    refused: u64,
}

/// Basic credentials and the record of failed guesses, one per listener set.
#[derive(Debug)]
pub struct BasicAuth {
    credentials: BasicCredentials,
    /// Labels log lines, e.g. `http`.
    label: &'static str,
    /// Where failed logins and blocks are logged.
    log: super::log::Log,
    peers: Mutex<HashMap<IpAddr, Record>>,
}

impl BasicAuth {
    pub fn new(
        credentials: BasicCredentials,
        label: &'static str,
        log: super::log::Log,
    ) -> BasicAuth {
        BasicAuth { credentials, label, log, peers: Mutex::new(HashMap::new()) }
    }

    /// Checks one request's `Authorization` header from `peer`, logs a failure and keeps the
    /// record.
    pub fn check(&self, header: Option<&HeaderValue>, peer: std::net::SocketAddr) -> Verdict {
        let now = Instant::now();
        let ip = peer.ip();
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(record) = peers.get_mut(&ip) {
            if let Some(until) = record.blocked_until.filter(|until| *until > now) {
                record.refused += 1;
                return Verdict::Blocked { retry_after: until - now };
            }
        }
        let (good, presented) = read_basic(header, &self.credentials);
        if good {
            peers.remove(&ip);
            return Verdict::Allowed;
        }
        let user = match presented {
            // Not a guess: the client has not sent credentials yet (RFC 7235 challenge).
            Presented::Nothing => return Verdict::Denied,
            Presented::Malformed => "(malformed credentials)".to_string(),
            Presented::User(user) => shown_user(&user),
        };
        if !peers.contains_key(&ip) && peers.len() >= MAX_PEERS {
            peers.retain(|_, r| now.duration_since(r.last_failure) < FORGET_AFTER);
            if peers.len() >= MAX_PEERS {
                let oldest = peers.iter().min_by_key(|(_, r)| r.last_failure).map(|(ip, _)| *ip);
                if let Some(oldest) = oldest {
                    peers.remove(&oldest);
                }
            }
        }
        let record = peers.entry(ip).or_insert(Record {
            failures: 0,
            last_failure: now,
            blocked_until: None,
            refused: 0,
        });
        if now.duration_since(record.last_failure) >= FORGET_AFTER {
            *record = Record { failures: 0, last_failure: now, blocked_until: None, refused: 0 };
        }
        record.failures += 1;
        record.last_failure = now;
        let label = self.label;
        let failures = record.failures;
        self.log.line(format_args!(
            "{label} {peer}: Basic auth failed for user {user} (failure {failures} in a row from \
             {ip})"
        ));
        if failures >= FREE_FAILURES {
            let doublings = (failures - FREE_FAILURES).min(16);
            let block = FIRST_BLOCK.saturating_mul(1 << doublings).min(MAX_BLOCK);
            record.blocked_until = Some(now + block);
            let refused = std::mem::take(&mut record.refused);
            self.log.line(format_args!(
                "{label} {peer}: {ip} blocked for {block:?} after {failures} failed logins in a \
                 row (429 until then; {refused} request(s) refused during earlier blocks)"
            ));
        }
        Verdict::Denied
    }
}

/// The user name as a log line shows it: quoted, escaped, at most [`MAX_USER_SHOWN`] characters.
fn shown_user(user: &str) -> String {
    let cut: String = user.chars().take(MAX_USER_SHOWN).collect();
    let more = if cut.len() < user.len() { "…" } else { "" };
    format!("{cut:?}{more}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> BasicCredentials {
        BasicCredentials { user: "partner_mailco".into(), password: "testing".into() }
    }

    #[test]
    fn repeated_failures_block_the_address_and_memory_stays_bounded() {
        let auth = BasicAuth::new(creds(), "test", super::super::log::Log::kept());
        let peer: std::net::SocketAddr = "192.0.2.1:1000".parse().unwrap();
        let wrong = HeaderValue::from_static("Basic cGFydG5lcl9tYWlsY286d3Jvbmc=");
        let good = HeaderValue::from_static("Basic cGFydG5lcl9tYWlsY286dGVzdGluZw==");
        let verdicts: Vec<Verdict> = (0..20).map(|_| auth.check(Some(&wrong), peer)).collect();
        let denied = verdicts.iter().filter(|v| **v == Verdict::Denied).count();
        assert_eq!(denied, FREE_FAILURES as usize, "{verdicts:?}");
        // Even the right password waits out the block: a guess is not evaluated then.
        assert!(matches!(auth.check(Some(&good), peer), Verdict::Blocked { .. }));
        // Another address is not affected; no credentials at all is not a guess.
        let other: std::net::SocketAddr = "192.0.2.2:1000".parse().unwrap();
        assert_eq!(auth.check(Some(&good), other), Verdict::Allowed);
        for _ in 0..20 {
            assert_eq!(auth.check(None, other), Verdict::Denied);
        }
        for i in 0..(MAX_PEERS as u32 + 100) {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            auth.check(Some(&wrong), (ip, 1).into());
        }
        assert!(auth.peers.lock().unwrap().len() <= MAX_PEERS);
    }
}
