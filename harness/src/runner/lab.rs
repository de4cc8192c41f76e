//! Scenario files whose faults need the packet-level lab (see [`crate::netlab`]): one lab per
//! file, the built-in endpoint reachable from it, and the reason a file is skipped when the
//! machine does not allow a lab.

use super::target::TargetUrl;
use crate::netlab::{Lab, LabError};
use crate::scenario::Scenario;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Why a file's packet-level cases cannot run; the file is skipped, saying this.
#[derive(Debug, thiserror::Error)]
pub(super) enum LabSkip {
    #[error("{0}; these cases need it, so the file is skipped")]
    Unavailable(#[source] LabError),
    #[error("packet-level faults run over plain MLLP (mllp:// or builtin)")]
    NotPlainMllp,
    #[error(
        "packet-level faults reach only a target on this host (mllp://127.0.0.1:PORT \
         listening on all addresses, or builtin), not {addr}"
    )]
    OffHost { addr: String },
    #[error(
        "the packet-level cases reach the target from the harness's network namespace at \
         {target}, and it does not answer there ({source}): make it listen on all addresses \
         (0.0.0.0) as well as loopback"
    )]
    Unreachable {
        target: SocketAddr,
        #[source]
        source: LabError,
    },
}

/// Whether a case of the file (or the receiver side) has a fault that needs the lab.
pub(super) fn needs_lab(file: &Scenario) -> bool {
    let client = file.cases.iter().any(|case| case.network_faults().any(|f| f.needs_lab()));
    client || file.receive.iter().any(|case| case.needs_lab())
}

/// The lab for one file when its faults need one (`None` when they do not), or why the file
/// is skipped.
pub(super) async fn for_file(file: &Scenario) -> Result<Option<Arc<Lab>>, LabSkip> {
    if !needs_lab(file) {
        return Ok(None);
    }
    match Lab::create().await {
        Ok(lab) => Ok(Some(Arc::new(lab))),
        Err(err) => Err(LabSkip::Unavailable(err)),
    }
}

/// The target as seen from inside the lab: a target on this host (loopback) is reached at the
/// host side of the veth, on the same port, so it must listen on that address too (0.0.0.0,
/// or the built-in endpoint, which the runner binds there). Other hosts are out of reach.
pub(super) fn through_lab(url: TargetUrl, host_ip: Ipv4Addr) -> Result<TargetUrl, LabSkip> {
    let TargetUrl::Mllp(addr) = &url else {
        return Err(LabSkip::NotPlainMllp);
    };
    let parsed: Option<SocketAddr> = addr.parse().ok().or_else(|| {
        let (host, port) = addr.rsplit_once(':')?;
        let port = port.parse().ok()?;
        (host == "localhost").then(|| SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    });
    match parsed {
        Some(sock) if sock.ip().is_loopback() || sock.ip() == IpAddr::V4(host_ip) => {
            Ok(TargetUrl::Mllp(SocketAddr::from((host_ip, sock.port())).to_string()))
        }
        _ => Err(LabSkip::OffHost { addr: addr.clone() }),
    }
}

/// Whether the lab reaches the target (a target on this host that listens on loopback only
/// does not); why not, when it does not. The probe connection is closed without a byte.
pub(super) async fn reachable(lab: &Lab, url: &TargetUrl, wait: Duration) -> Result<(), LabSkip> {
    let TargetUrl::Mllp(addr) = url else { return Ok(()) };
    let Ok(target) = addr.parse::<SocketAddr>() else { return Ok(()) };
    lab.connect(target, wait)
        .await
        .map(drop)
        .map_err(|source| LabSkip::Unreachable { target, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_on_this_host_are_reached_at_the_veth() {
        let host = Ipv4Addr::new(10, 77, 3, 1);
        let via = |url: &str| {
            through_lab(TargetUrl::parse(url).unwrap(), host).map_err(|e| e.to_string())
        };
        assert_eq!(via("mllp://127.0.0.1:2575"), Ok(TargetUrl::Mllp("10.77.3.1:2575".into())));
        assert_eq!(via("mllp://localhost:2575"), Ok(TargetUrl::Mllp("10.77.3.1:2575".into())));
        assert_eq!(via("mllp://10.77.3.1:9"), Ok(TargetUrl::Mllp("10.77.3.1:9".into())));
        assert!(via("mllp://192.0.2.7:2575").unwrap_err().contains("only a target on this host"));
        assert!(via("hllp://127.0.0.1:2575").unwrap_err().contains("plain MLLP"));
        assert!(via("http://127.0.0.1:8080/hl7").unwrap_err().contains("plain MLLP"));
    }
}
