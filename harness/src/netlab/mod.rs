//! The packet-level tier of the hostile-network simulator: dead peers a process cannot fake on
//! its own. A process that stops answering still has a kernel that answers TCP for it (ACKs,
//! FIN, RST); a host that lost power, a cable pulled or a firewall that forgets a connection
//! answers nothing at all. To play that, the harness puts its own end of the traffic in a
//! network namespace it creates (a veth pair to this host, an address on each side) and drops
//! packets there with nftables: whole connections from a chosen moment on (the peer vanishes),
//! or every packet to a listening port (connects hang, they are not refused).
//!
//! Only the harness's sockets live in the namespace (made by a short thread that enters it);
//! the system under test stays on this host and is reached at, or reaches, the veth's
//! addresses. The firewall rules live in the namespace's own table, so this host's firewall is
//! never touched, and everything goes with the namespace when the lab is dropped. Creating one
//! needs root (or CAP_NET_ADMIN) and the `ip` (iproute2) and `nft` (nftables) programs; without
//! them [`Lab::create`] says why, and the cases that need it are skipped with that reason.

mod lab;

pub use lab::*;
