//! The third-party receivers beside python-hl7: nodehl7 2.0.0 (npm) behind its `MLLPServer`, and
//! a receiver built on the `mllp` crate 0.3.0 (crates.io). Each is installed or built under
//! `target/xtask/interop/` from files pinned in this repository (xtask/interop-nodehl7's
//! package-lock.json, xtask/interop-mllp's Cargo.lock), started on a loopback port xtask chooses,
//! probed until it accepts connections, and killed when dropped. A missing tool (node, npm) or a
//! failed install is an error of the task, never a skip.

use super::Running;
use crate::process::Command;
use anyhow::{bail, Context};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The npm release under test; package.json and package-lock.json in xtask/interop-nodehl7 pin
/// it and its dependencies.
pub const NODEHL7: &str = "nodehl7@2.0.0";

/// The crates.io release under test; xtask/interop-mllp's Cargo.toml (`=0.3.0`) and Cargo.lock
/// pin it.
pub const MLLP_CRATE: &str = "mllp 0.3.0";

/// Longest a receiver may take from start to accepting connections.
const READY_LIMIT: Duration = Duration::from_secs(30);

/// A loopback port that was free a moment ago, for a receiver that takes its port as an
/// argument.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// Waits until `port` on 127.0.0.1 accepts a connection, failing early when the receiver
/// exits and after [`READY_LIMIT`].
fn wait_ready(running: &mut Running, port: u16, what: &str, log: &Path) -> anyhow::Result<()> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + READY_LIMIT;
    loop {
        if let Some(status) = running.0.try_wait()? {
            bail!("{what} exited ({status}) before listening; its log: {}", log.display());
        }
        if TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{what} did not listen on {address} within {READY_LIMIT:?}; log: {}",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Spawns `command` with its output in `log`, then waits for `port`.
fn spawn(
    mut command: std::process::Command,
    port: u16,
    what: &str,
    log: &Path,
) -> anyhow::Result<Running> {
    let file = std::fs::File::create(log).with_context(|| log.display().to_string())?;
    command.stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file);
    let child = command.spawn().with_context(|| format!("starting {what}"))?;
    let mut running = Running(child);
    wait_ready(&mut running, port, what, log)?;
    Ok(running)
}

/// Installs nodehl7 with `npm ci` from the pinned lock file into `target/xtask/interop/nodehl7`
/// (again only when the lock file changed) and starts xtask/interop-nodehl7/server.js on a
/// loopback port. Returns the process and its port.
pub fn nodehl7(root: &Path) -> anyhow::Result<(Running, u16)> {
    let source = root.join("xtask").join("interop-nodehl7");
    let dir = root.join("target").join("xtask").join("interop").join("nodehl7");
    std::fs::create_dir_all(&dir)?;
    let lock = std::fs::read(source.join("package-lock.json"))?;
    let installed = dir.join("node_modules").join(".hl7-harness-lock");
    if std::fs::read(&installed).ok().as_deref() != Some(&lock[..]) {
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(source.join(file), dir.join(file))
                .with_context(|| format!("copying {file} into {}", dir.display()))?;
        }
        // `npm ci` installs exactly the lock file's versions (checked against its integrity
        // hashes) and fails when package.json and the lock disagree; no install scripts run.
        Command::new("interop npm ci", "npm")
            .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .run()
            .with_context(|| format!("installing {NODEHL7} (needs node and npm on PATH)"))?;
        std::fs::write(&installed, &lock)?;
    }
    std::fs::copy(source.join("server.js"), dir.join("server.js"))?;
    let port = free_port()?;
    let mut command = std::process::Command::new("node");
    command.arg(dir.join("server.js")).arg(port.to_string()).arg("127.0.0.1").current_dir(&dir);
    let running = spawn(command, port, "nodehl7 server", &dir.join("server.log"))?;
    Ok((running, port))
}

/// Builds xtask/interop-mllp (its own cargo workspace, `--locked` to its Cargo.lock) into
/// `target/xtask/interop/mllp-target`; returns the receiver's binary.
pub fn build_mllp_crate(root: &Path) -> anyhow::Result<PathBuf> {
    let target_dir = root.join("target").join("xtask").join("interop").join("mllp-target");
    let manifest = root.join("xtask").join("interop-mllp").join("Cargo.toml");
    Command::new("interop build mllp receiver", "cargo")
        .args(["build", "--quiet", "--release", "--locked", "--manifest-path"])
        .args([&manifest])
        .args(["--target-dir"])
        .args([&target_dir])
        .current_dir(root)
        .run()
        .with_context(|| format!("building the {MLLP_CRATE} receiver"))?;
    Ok(target_dir.join("release").join("interop-mllp"))
}

/// Builds the `mllp`-crate receiver ([`build_mllp_crate`]) and starts it on a loopback port.
/// Returns the process and its port.
pub fn mllp_crate(root: &Path) -> anyhow::Result<(Running, u16)> {
    let dir = root.join("target").join("xtask").join("interop");
    let binary = build_mllp_crate(root)?;
    let port = free_port()?;
    let mut command = std::process::Command::new(binary);
    command.arg(format!("127.0.0.1:{port}"));
    let running = spawn(command, port, "mllp crate receiver", &dir.join("mllp-receiver.log"))?;
    Ok((running, port))
}
