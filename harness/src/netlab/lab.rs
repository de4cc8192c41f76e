//! The lab itself: a network namespace with a veth pair, and the nftables rules that make a peer vanish.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Every namespace the harness creates is called `hl7h-<pid>-<n>`; a crashed run's are removed
/// by the next one.
const PREFIX: &str = "hl7h-";

/// How long one `ip` or `nft` command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// The table the lab's rules live in, inside the namespace.
const TABLE: &str = "hl7_harness";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Held while a lab of this process is made (see [`Lab::create`]).
static CREATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The lab cannot be made on this machine (no privilege, a program missing).
    #[error(
        "the packet-level tier is unavailable (it needs root or CAP_NET_ADMIN, iproute2's `ip` \
         and nftables' `nft`): {0}"
    )]
    Unavailable(String),
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("a socket in the lab's network namespace: {0}")]
    Socket(#[from] io::Error),
}

/// Which packets of a connection or port to drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Packets from this host into the namespace (what the harness would receive).
    ToHarness,
    /// Packets the harness sends out of the namespace.
    FromHarness,
    Both,
}

/// What to cut: one connection, by the harness's port and the peer's port, or everything to
/// and from one port of the harness (a listener and all its connections).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    Connection { harness_port: u16, peer_port: u16 },
    Port(u16),
}

/// A network namespace with a veth pair to this host and a firewall table that drops what the
/// faults say. Removed on drop.
#[derive(Debug)]
pub struct Lab {
    name: String,
    host_if: String,
    host_ip: Ipv4Addr,
    inside_ip: Ipv4Addr,
    netns: File,
}

impl Lab {
    /// Creates the namespace, the veth pair and the table; [`LabError::Unavailable`] with the
    /// reason when this machine does not allow it.
    pub async fn create() -> Result<Lab, LabError> {
        for program in ["ip", "nft"] {
            if !on_path(program) {
                return Err(LabError::Unavailable(format!("`{program}` is not installed")));
            }
        }
        // Labs of one process are made one at a time: each picks its address block from the
        // addresses in use, so the next one must see it taken.
        let _one_at_a_time = CREATING.lock().await;
        sweep_stale().await;
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{pid}-{n}");
        // Interface names have at most 15 bytes.
        let host_if = format!("h7{:x}", (u64::from(pid) << 8 | u64::from(n & 0xff)) & 0xffff_ffff);
        run(&["ip", "netns", "add", &name]).await.map_err(|e| match e {
            LabError::Command { detail, .. } => LabError::Unavailable(detail),
            other => other,
        })?;
        // From here on, dropping `lab` removes what exists.
        let netns = File::open(format!("/run/netns/{name}"))
            .or_else(|_| File::open(format!("/var/run/netns/{name}")));
        let netns = match netns {
            Ok(file) => file,
            Err(err) => {
                let _ = run(&["ip", "netns", "del", &name]).await;
                return Err(LabError::Unavailable(format!("/run/netns/{name}: {err}")));
            }
        };
        let (host_ip, inside_ip) = free_block(pid, n).await?;
        let mut lab = Lab { name, host_if, host_ip, inside_ip, netns };
        if let Err(err) = lab.wire().await {
            lab.remove();
            return Err(err);
        }
        Ok(lab)
    }

    async fn wire(&mut self) -> Result<(), LabError> {
        let (ns, host_if) = (self.name.as_str(), self.host_if.as_str());
        let host_cidr = format!("{}/30", self.host_ip);
        let inside_cidr = format!("{}/30", self.inside_ip);
        run(&["ip", "link", "add", host_if, "type", "veth", "peer", "name", "lab0", "netns", ns])
            .await?;
        run(&["ip", "addr", "add", &host_cidr, "dev", host_if]).await?;
        run(&["ip", "link", "set", host_if, "up"]).await?;
        run(&["ip", "-n", ns, "addr", "add", &inside_cidr, "dev", "lab0"]).await?;
        run(&["ip", "-n", ns, "link", "set", "lab0", "up"]).await?;
        run(&["ip", "-n", ns, "link", "set", "lo", "up"]).await?;
        let table = format!(
            "table inet {TABLE} {{
  set in_conns {{ type inet_service . inet_service; }}
  set out_conns {{ type inet_service . inet_service; }}
  set in_ports {{ type inet_service; }}
  set out_ports {{ type inet_service; }}
  chain input {{
    type filter hook input priority 0; policy accept;
    tcp dport . tcp sport @in_conns drop
    tcp dport @in_ports drop
  }}
  chain output {{
    type filter hook output priority 0; policy accept;
    tcp sport . tcp dport @out_conns drop
    tcp sport @out_ports drop
  }}
}}
"
        );
        nft_script(ns, &table).await
    }

    /// The host side of the veth: where the harness, inside, reaches this host.
    pub fn host_ip(&self) -> Ipv4Addr {
        self.host_ip
    }

    /// The harness's address inside the namespace: where this host reaches it.
    pub fn inside_ip(&self) -> Ipv4Addr {
        self.inside_ip
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `make` on a thread that has entered the namespace, so the socket it makes belongs
    /// there for good (a socket keeps the namespace it was created in).
    fn inside<T: Send + 'static>(
        &self,
        make: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> Result<T, LabError> {
        let netns = self.netns.try_clone()?;
        let thread = std::thread::spawn(move || {
            nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(io::Error::from)?;
            make()
        });
        match thread.join() {
            Ok(made) => Ok(made?),
            Err(_) => Err(LabError::Socket(io::Error::other("the namespace thread panicked"))),
        }
    }

    /// A connection from inside the namespace to `addr` on this host, within `wait`.
    pub async fn connect(&self, addr: SocketAddr, wait: Duration) -> Result<TcpStream, LabError> {
        let socket = self.inside(|| {
            let socket = socket2::Socket::new(
                socket2::Domain::IPV4,
                socket2::Type::STREAM,
                Some(socket2::Protocol::TCP),
            )?;
            socket.set_nonblocking(true)?;
            Ok(std::net::TcpStream::from(socket))
        })?;
        let socket = TcpSocket::from_std_stream(socket);
        match tokio::time::timeout(wait, socket.connect(addr)).await {
            Ok(connected) => Ok(connected?),
            Err(_) => Err(LabError::Socket(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connecting to {addr} from the lab took over {}ms", wait.as_millis()),
            ))),
        }
    }

    /// A listener inside the namespace on `port` (0: a free one).
    pub fn listen(&self, port: u16) -> Result<TcpListener, LabError> {
        let addr = SocketAddr::V4(SocketAddrV4::new(self.inside_ip, port));
        let listener = self.inside(move || {
            let bound = std::net::TcpListener::bind(addr);
            let listener =
                bound.map_err(|e| io::Error::new(e.kind(), format!("listening on {addr}: {e}")))?;
            listener.set_nonblocking(true)?;
            Ok(listener)
        })?;
        Ok(TcpListener::from_std(listener)?)
    }

    /// Drops the packets of `cut` going `direction` from now on, until [`Lab::restore`].
    pub async fn drop_packets(&self, cut: Cut, direction: Direction) -> Result<(), LabError> {
        self.elements("add", cut, direction).await
    }

    /// Lets the packets of `cut` through again.
    pub async fn restore(&self, cut: Cut, direction: Direction) -> Result<(), LabError> {
        self.elements("delete", cut, direction).await
    }

    async fn elements(&self, verb: &str, cut: Cut, direction: Direction) -> Result<(), LabError> {
        let mut script = String::new();
        let (to, from) = match direction {
            Direction::ToHarness => (true, false),
            Direction::FromHarness => (false, true),
            Direction::Both => (true, true),
        };
        let (set, element) = match cut {
            Cut::Connection { harness_port, peer_port } => {
                ("conns", format!("{harness_port} . {peer_port}"))
            }
            Cut::Port(port) => ("ports", port.to_string()),
        };
        for (wanted, side) in [(to, "in"), (from, "out")] {
            if wanted {
                script.push_str(&format!(
                    "{verb} element inet {TABLE} {side}_{set} {{ {element} }}\n"
                ));
            }
        }
        nft_script(&self.name, &script).await
    }

    fn remove(&mut self) {
        // The veth pair goes with the namespace; the host side is removed too in case the
        // kernel is slow to do it (its address must not linger).
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.host_if])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.remove();
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// Runs one command, bounded in time; its stderr is the error.
async fn run(args: &[&str]) -> Result<(), LabError> {
    command(args, None).await
}

/// Feeds `script` to `nft -f -` inside the namespace `ns`.
async fn nft_script(ns: &str, script: &str) -> Result<(), LabError> {
    command(&["ip", "netns", "exec", ns, "nft", "-f", "-"], Some(script)).await
}

async fn command(args: &[&str], input: Option<&str>) -> Result<(), LabError> {
    let shown = args.join(" ");
    let failed = |detail: String| LabError::Command { command: shown.clone(), detail };
    let mut child = tokio::process::Command::new(args[0])
        .args(&args[1..])
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        use tokio::io::AsyncWriteExt;
        stdin.write_all(text.as_bytes()).await.map_err(|e| failed(e.to_string()))?;
    }
    let output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| failed(format!("no answer within {}s", COMMAND_TIMEOUT.as_secs())))?
        .map_err(|e| failed(e.to_string()))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(failed(format!("{} ({})", stderr.trim(), output.status)))
    }
}

async fn output_of(args: &[&str]) -> String {
    let run = tokio::process::Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(COMMAND_TIMEOUT, run).await {
        Ok(Ok(out)) => String::from_utf8_lossy(&out.stdout).into_owned(),
        _ => String::new(),
    }
}

/// Removes the namespaces of harness processes that are gone (a run that was killed).
async fn sweep_stale() {
    let listed = output_of(&["ip", "netns", "list"]).await;
    for name in listed.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(pid) = name.strip_prefix(PREFIX).and_then(|rest| rest.split('-').next()) else {
            continue;
        };
        let alive = std::path::Path::new("/proc").join(pid).exists();
        if !alive {
            let _ = run(&["ip", "netns", "del", name]).await;
        }
    }
}

/// A /30 in 10.77.0.0/16 that no interface of this host uses yet: (host side, inside).
async fn free_block(pid: u32, n: u32) -> Result<(Ipv4Addr, Ipv4Addr), LabError> {
    let used = output_of(&["ip", "-o", "-4", "addr", "show"]).await;
    let start = (pid.wrapping_mul(7919) ^ n.wrapping_mul(104_729)) % 16384;
    for step in 0..16384u32 {
        let block = (start + step) % 16384;
        let base = u32::from(Ipv4Addr::new(10, 77, 0, 0)) + block * 4;
        let (host, inside) = (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2));
        if !used.contains(&format!(" {host}/")) && !used.contains(&format!(" {inside}/")) {
            return Ok((host, inside));
        }
    }
    Err(LabError::Unavailable("no free /30 left in 10.77.0.0/16".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The lab where this machine allows it; `None` (said on stderr) where it does not, unless
    /// HL7H_REQUIRE_NETLAB=1 (set by CI where it checked the privilege) makes that a failure.
    pub(crate) async fn lab_or_skip() -> Option<Lab> {
        match Lab::create().await {
            Ok(lab) => Some(lab),
            Err(err) if std::env::var("HL7H_REQUIRE_NETLAB").as_deref() == Ok("1") => {
                panic!("HL7H_REQUIRE_NETLAB=1 but {err}")
            }
            Err(err) => {
                eprintln!("SKIPPED (packet-level tier): {err}");
                None
            }
        }
    }

    #[tokio::test]
    async fn a_cut_connection_goes_silent_while_others_pass() {
        let Some(lab) = lab_or_skip().await else { return };
        let outside = TcpListener::bind((lab.host_ip(), 0)).await.unwrap();
        let addr = outside.local_addr().unwrap();
        let mut cut = lab.connect(addr, Duration::from_secs(2)).await.unwrap();
        let (mut cut_peer, _) = outside.accept().await.unwrap();
        let harness_port = cut.local_addr().unwrap().port();
        assert_eq!(cut.local_addr().unwrap().ip(), lab.inside_ip());
        lab.drop_packets(Cut::Connection { harness_port, peer_port: addr.port() }, Direction::Both)
            .await
            .unwrap();
        cut_peer.write_all(b"lost").await.unwrap();
        let mut buf = [0u8; 4];
        let read = tokio::time::timeout(Duration::from_millis(300), cut.read(&mut buf)).await;
        assert!(read.is_err(), "a packet of a cut connection arrived: {read:?}");
        // Another connection from the lab still works meanwhile.
        let mut other = lab.connect(addr, Duration::from_secs(2)).await.unwrap();
        let (mut other_peer, _) = outside.accept().await.unwrap();
        other_peer.write_all(b"fine").await.unwrap();
        other.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"fine");
        // Restored, the stalled bytes come through (TCP retransmits them).
        lab.restore(Cut::Connection { harness_port, peer_port: addr.port() }, Direction::Both)
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), cut.read_exact(&mut buf))
            .await
            .expect("retransmitted after restore")
            .unwrap();
        assert_eq!(&buf, b"lost");
    }

    #[tokio::test]
    async fn a_cut_listener_makes_connects_hang_not_fail() {
        let Some(lab) = lab_or_skip().await else { return };
        let listener = lab.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        assert_eq!(addr.ip(), lab.inside_ip());
        lab.drop_packets(Cut::Port(addr.port()), Direction::Both).await.unwrap();
        let hung = tokio::time::timeout(Duration::from_millis(400), TcpStream::connect(addr)).await;
        assert!(hung.is_err(), "the connect did not hang: {hung:?}");
        lab.restore(Cut::Port(addr.port()), Direction::Both).await.unwrap();
        let connected = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
            .await
            .expect("connects once restored");
        assert!(connected.is_ok());
    }

    #[tokio::test]
    async fn labs_made_at_once_are_apart_and_each_reaches_this_host() {
        let (Some(a), Some(b)) = tokio::join!(lab_or_skip(), lab_or_skip()) else { return };
        assert_ne!(a.name(), b.name());
        let addresses = [a.host_ip(), a.inside_ip(), b.host_ip(), b.inside_ip()];
        for (n, x) in addresses.iter().enumerate() {
            assert!(!addresses[n + 1..].contains(x), "{x} is in both labs: {addresses:?}");
        }
        for lab in [&a, &b] {
            let outside = TcpListener::bind((lab.host_ip(), 0)).await.unwrap();
            let addr = outside.local_addr().unwrap();
            let (inside, accepted) =
                tokio::join!(lab.connect(addr, Duration::from_secs(2)), outside.accept());
            let peer = accepted.unwrap().1;
            assert_eq!(peer.ip(), lab.inside_ip(), "the connection comes from its own lab");
            assert_eq!(inside.unwrap().local_addr().unwrap().ip(), lab.inside_ip());
        }
    }

    #[tokio::test]
    async fn the_namespace_goes_with_the_lab() {
        let Some(lab) = lab_or_skip().await else { return };
        let name = lab.name().to_string();
        assert!(output_of(&["ip", "netns", "list"]).await.contains(&name));
        drop(lab);
        assert!(!output_of(&["ip", "netns", "list"]).await.contains(&name));
    }
}
