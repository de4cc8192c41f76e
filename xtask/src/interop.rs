//! `cargo xtask interop`: the harness against a third-party MLLP implementation, python-hl7
//! (PyPI package `hl7`), installed into a virtual environment under `target/xtask/interop/`.
//!
//! 1. `hl7-harness send` sends the corpus's valid messages to python-hl7's asyncio MLLP server
//!    (`hl7.mllp.start_hl7_server`, answering `create_ack()`); every message must get its AA.
//! 2. python-hl7's `mllp_send` client sends the same messages, MLLP-framed in one file, to
//!    `hl7-harness serve`; every message must get one ACK whose MSA-2 is its MSH-10 (MSA-1 is
//!    the endpoint's verdict: AR for events the e-health interface does not handle, e.g. A09).

use crate::process::Command;
use anyhow::{bail, ensure, Context};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The python-hl7 release the interop runs against.
const PYTHON_HL7: &str = "hl7==0.4.5";

/// The corpus folders whose messages every correct receiver accepts.
const MESSAGES: &[&str] = &["corpus/adt", "corpus/mfn"];

/// Our asyncio server script for python-hl7 (port 0; prints the port it bound).
const SERVER: &str = r#"
import asyncio, sys
import hl7
from hl7.mllp import start_hl7_server

async def answer(reader, writer):
    try:
        while not writer.is_closing():
            message = await reader.readmessage()
            writer.writemessage(message.create_ack())
            await writer.drain()
    except asyncio.IncompleteReadError:
        if not writer.is_closing():
            writer.close()
            await writer.wait_closed()

async def main():
    # python-hl7 decodes each block with one codec (ASCII by default); ISO-8859-1 maps every
    # byte, so messages in any MSH-18 character set reach create_ack().
    async with await start_hl7_server(answer, host="127.0.0.1", port=0, encoding="iso-8859-1") as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

asyncio.run(main())
"#;

/// A child process killed when dropped.
pub struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command` and returns it with the first line it prints (within 30 s).
fn start(mut command: std::process::Command, what: &str) -> anyhow::Result<(Running, String)> {
    let mut child =
        command.stdout(Stdio::piped()).spawn().with_context(|| format!("starting {what}"))?;
    let stdout = child.stdout.take().context("piped stdout")?;
    let running = Running(child);
    let (tx, rx) = mpsc::channel();
    // Keeps reading after the first line, so the child never writes into a closed pipe.
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let _ = tx.send(first);
        for _ in lines {}
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .with_context(|| format!("{what} printed nothing in 30 s"))?;
    ensure!(!line.trim().is_empty(), "{what} exited without printing its address");
    Ok((running, line.trim().to_string()))
}

/// Runs `command` to completion, killing it after `limit`: a peer that never answers must not
/// hang CI.
pub(crate) fn output_within(
    mut command: std::process::Command,
    limit: Duration,
    what: &str,
) -> anyhow::Result<std::process::Output> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    // Drained on threads so a chatty child never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok(std::process::Output { status, stdout, stderr })
}

/// Longest a whole interop exchange may take.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(120);

/// The interop folder and its virtual environment's python, with python-hl7 installed.
fn python_hl7(root: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = root.join("target").join("xtask").join("interop");
    std::fs::create_dir_all(&dir)?;
    let venv = dir.join("venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        Command::new("interop venv", "python3").args(["-m", "venv"]).args([&venv]).run()?;
    }
    Command::new("interop pip", &python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", PYTHON_HL7])
        .run()?;
    Ok((dir, python))
}

/// python-hl7's asyncio MLLP server on a loopback port (the bench's real peer): the running
/// process and the port it listens on.
#[cfg_attr(not(feature = "bench"), allow(dead_code))]
pub fn python_hl7_server(root: &Path) -> anyhow::Result<(Running, String)> {
    let (dir, python) = python_hl7(root)?;
    start_server(&dir, &python)
}

fn start_server(dir: &Path, python: &Path) -> anyhow::Result<(Running, String)> {
    let script = dir.join("server.py");
    std::fs::write(&script, SERVER)?;
    let mut server = std::process::Command::new(python);
    server.arg(&script);
    start(server, "python-hl7 server")
}

pub fn run(root: &Path) -> anyhow::Result<()> {
    let (dir, python) = python_hl7(root)?;
    let venv = dir.join("venv");
    Command::new("interop build", "cargo")
        .args(["build", "--quiet", "-p", "hl7-harness"])
        .current_dir(root)
        .run()?;
    let harness = root.join("target").join("debug").join("hl7-harness");
    let messages = corpus_messages(root)?;
    eprintln!("--- interop with {PYTHON_HL7}: {} messages", messages.len());

    // 1. Our sender → python-hl7's server.
    let (_server, port) = start_server(&dir, &python)?;
    let output = std::process::Command::new(&harness)
        .args([
            "send",
            "--json",
            "--ack-timeout",
            "10s",
            "--target",
            &format!("mllp://127.0.0.1:{port}"),
        ])
        .args(MESSAGES)
        .current_dir(root)
        .output()?;
    // `send --json` prints one object per message; "accepted" is true only for AA/CA whose
    // MSA-2 matched.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let verdicts = stdout.lines().filter(|l| l.starts_with('{')).count();
    let accepted = stdout.lines().filter(|l| l.contains("\"accepted\":true")).count();
    eprintln!("--- hl7-harness send → python-hl7 server: {accepted}/{verdicts} accepted");
    if accepted != messages.len() || !output.status.success() {
        bail!(
            "hl7-harness send → python-hl7: {accepted} of {} accepted\n{}",
            messages.len(),
            String::from_utf8_lossy(&output.stdout)
        );
    }

    // 2. python-hl7's mllp_send → our endpoint.
    let mut serve = std::process::Command::new(&harness);
    serve.args(["serve", "--listen", "127.0.0.1:0"]).stderr(Stdio::null());
    let (_serve, line) = start(serve, "hl7-harness serve")?;
    let port = line.rsplit(':').next().unwrap_or_default().to_string();
    let framed = dir.join("framed.hl7");
    let mut bytes = Vec::new();
    for (_, payload) in &messages {
        bytes.push(0x0b);
        bytes.extend_from_slice(payload);
        bytes.extend_from_slice(&[0x1c, 0x0d]);
    }
    std::fs::write(&framed, bytes)?;
    let mut mllp_send = std::process::Command::new(venv.join("bin").join("mllp_send"));
    mllp_send.args(["--port", &port, "--file"]).arg(&framed).arg("127.0.0.1");
    let output = output_within(mllp_send, EXCHANGE_LIMIT, "mllp_send")?;
    let text = String::from_utf8_lossy(&output.stdout).replace('\r', "\n");
    let mut missing = Vec::new();
    let mut codes = std::collections::BTreeMap::<&str, usize>::new();
    for (control_id, _) in &messages {
        // MSA-2 ends the line, or MSA-3 (the reason, before v2.5) follows it.
        let code = ["AA", "AE", "AR"].into_iter().find(|c| {
            let msa = format!("MSA|{c}|{control_id}");
            text.contains(&format!("{msa}\n")) || text.contains(&format!("{msa}|"))
        });
        match code {
            Some(code) => *codes.entry(code).or_default() += 1,
            None => missing.push(control_id.clone()),
        }
    }
    eprintln!("--- python-hl7 mllp_send → hl7-harness serve: {}/{} acknowledged with their MSA-2 ({codes:?})", messages.len() - missing.len(), messages.len());
    if !output.status.success() || !missing.is_empty() {
        bail!("mllp_send → hl7-harness serve: no ACK for {missing:?}\n{text}");
    }
    Ok(())
}

/// Every message of the interop folders: (MSH-10, bytes).
fn corpus_messages(root: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut files: Vec<PathBuf> = Vec::new();
    for folder in MESSAGES {
        for entry in std::fs::read_dir(root.join(folder))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "hl7") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let bytes = std::fs::read(&path)?;
        let text = String::from_utf8_lossy(&bytes);
        let control_id = text
            .split('\r')
            .next()
            .and_then(|msh| msh.split('|').nth(9))
            .unwrap_or_default()
            .to_string();
        ensure!(!control_id.is_empty(), "{}: no MSH-10", path.display());
        out.push((control_id, bytes));
    }
    Ok(out)
}
