//! Scenario files whose faults need the packet-level lab (see [`crate::netlab`]): one lab per
//! file, the built-in endpoint reachable from it, and the reason a file is skipped when the
//! machine does not allow a lab.

use super::target::TargetUrl;
use crate::netlab::Lab;
use crate::scenario::ScenarioFile;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Whether a case of the file (or the receiver side) has a fault that needs the lab.
pub(super) fn file_needs_lab(file: &ScenarioFile) -> bool {
    let client = file.cases.iter().any(|case| {
        case.network
            .iter()
            .chain(case.steps.iter().flat_map(|s| s.network.iter()))
            .any(|f| f.needs_lab())
    });
    client || file.receive.iter().any(|case| case.needs_lab())
}

/// The lab for one file, or why the file is skipped.
pub(super) async fn create() -> Result<Lab, String> {
    Lab::create().await.map_err(|err| format!("{err}; these cases need it, so the file is skipped"))
}

/// The target as seen from inside the lab: a target on this host (loopback) is reached at the
/// host side of the veth, on the same port, so it must listen on that address too (0.0.0.0,
/// or the built-in endpoint, which the runner binds there). Other hosts are out of reach.
pub(super) fn through_lab(url: TargetUrl, lab: &Lab) -> Result<TargetUrl, String> {
    let TargetUrl::Mllp(addr) = &url else {
        return Err("packet-level faults run over plain MLLP (mllp:// or builtin)".into());
    };
    let parsed: Option<SocketAddr> = addr.parse().ok().or_else(|| {
        let (host, port) = addr.rsplit_once(':')?;
        let port = port.parse().ok()?;
        (host == "localhost").then(|| SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    });
    match parsed {
        Some(sock) if sock.ip().is_loopback() || sock.ip() == IpAddr::V4(lab.host_ip()) => {
            Ok(TargetUrl::Mllp(SocketAddr::from((lab.host_ip(), sock.port())).to_string()))
        }
        _ => Err(format!(
            "packet-level faults reach only a target on this host (mllp://127.0.0.1:PORT \
             listening on all addresses, or builtin), not {addr}"
        )),
    }
}
