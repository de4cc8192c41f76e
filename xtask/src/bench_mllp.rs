//! `cargo xtask bench mllp`: MLLP round trips (send a message, wait for its ACK) on loopback,
//! with 1 and 16 connections, for
//! - the harness client (`MllpConnection`) against the reference endpoint (`serve`'s code:
//!   parse, validate, decide, apply, build the ACK), and
//! - a minimal raw tokio client against a minimal frame-echo server that answers every frame
//!   with a fixed ACK — the loopback ceiling, measured in the same run on the same machine, and
//! - the harness client against python-hl7's asyncio MLLP server (a real peer, installed into
//!   the interop virtualenv); skipped, saying why, where python3 or PyPI is not available.

use anyhow::Context;
use hl7_harness::target::endpoint::Endpoint;
use hl7_harness::target::responder::ResponderConfig;
use hl7_harness::target::server::{serve_mllp, ServerOptions};
use hl7_harness::transport::connection::{MllpConnection, Timeouts};
use hl7_harness::transport::mllp::MllpOptions;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tabled::{Table, Tabled};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long each configuration runs.
const RUN_FOR: Duration = Duration::from_secs(3);
/// The message sent: one of the corpus's ADT^A04.
const MESSAGE: &str = "corpus/adt/adt_a04_v26_utf8_latin.hl7";
const FIXED_ACK: &[u8] = b"\x0bMSH|^~\\&|R|R|S|S|20240101||ACK^A04^ACK|1|P|2.6\rMSA|AA|1\r\x1c\r";

#[derive(Debug, Serialize)]
struct Measurement {
    name: String,
    connections: usize,
    round_trips: u64,
    per_second: f64,
    p50_micros: u64,
    p99_micros: u64,
    max_micros: u64,
    /// Round trips per second as a fraction of the raw ceiling with as many connections.
    fraction_of_ceiling: f64,
}

#[derive(Tabled)]
struct Row {
    benchmark: String,
    connections: usize,
    #[tabled(rename = "round trips/s")]
    per_second: String,
    p50: String,
    p99: String,
    #[tabled(rename = "vs ceiling")]
    fraction: String,
}

pub fn mllp(root: &Path) -> anyhow::Result<serde_json::Value> {
    let payload =
        std::fs::read(root.join(MESSAGE)).with_context(|| format!("reading {MESSAGE}"))?;
    let python = match crate::interop::python_hl7_server(root) {
        Ok(server) => Some(server),
        Err(err) => {
            eprintln!("bench mllp: python-hl7 peer skipped: {err:#}");
            None
        }
    };
    let python_addr = python.as_ref().map(|(_, port)| format!("127.0.0.1:{port}"));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let results = runtime.block_on(async {
        let endpoint = Arc::new(Endpoint::new(ResponderConfig::default()));
        let serve = TcpListener::bind("127.0.0.1:0").await?;
        let serve_addr = serve.local_addr()?.to_string();
        let options = ServerOptions {
            mllp: MllpOptions::default(),
            timeouts: Timeouts::default(),
            tls: None,
            connection_threads: hl7_harness::target::threaded::DEFAULT_CONNECTION_THREADS,
            read_spin: hl7_harness::target::threaded::DEFAULT_READ_SPIN,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve_mllp(serve, endpoint, options, async {
            let _ = stopped.await;
        }));
        let echo = TcpListener::bind("127.0.0.1:0").await?;
        let echo_addr = echo.local_addr()?.to_string();
        tokio::spawn(echo_server(echo));

        let mut results = Vec::new();
        for connections in [1usize, 16] {
            let ceiling =
                measure(connections, || raw_client(echo_addr.clone(), payload.clone())).await?;
            let harness =
                measure(connections, || harness_client(serve_addr.clone(), payload.clone()))
                    .await?;
            let rate = |latencies: &[u64]| latencies.len() as f64 / RUN_FOR.as_secs_f64();
            let ceiling_rate = rate(&ceiling);
            for (name, latencies) in
                [("raw client → echo (ceiling)", &ceiling), ("harness client → serve", &harness)]
            {
                results.push(summarise(name, connections, latencies, ceiling_rate));
            }
            if let Some(addr) = &python_addr {
                let peer =
                    measure(connections, || harness_client(addr.clone(), payload.clone())).await?;
                results.push(summarise(
                    "harness client → python-hl7",
                    connections,
                    &peer,
                    ceiling_rate,
                ));
            }
        }
        let _ = stop.send(());
        anyhow::Ok(results)
    })?;

    let rows = results.iter().map(|m| Row {
        benchmark: m.name.clone(),
        connections: m.connections,
        per_second: format!("{:.0}", m.per_second),
        p50: format!("{} µs", m.p50_micros),
        p99: format!("{} µs", m.p99_micros),
        fraction: format!("{:.1}%", m.fraction_of_ceiling * 100.0),
    });
    println!("{}", Table::new(rows));
    drop(python);
    Ok(serde_json::json!({ "suite": "mllp", "run_seconds": RUN_FOR.as_secs(), "results": results }))
}

fn summarise(name: &str, connections: usize, latencies: &[u64], ceiling_rate: f64) -> Measurement {
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    let at = |q: f64| sorted.get(((sorted.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(0);
    let per_second = sorted.len() as f64 / RUN_FOR.as_secs_f64();
    Measurement {
        name: name.to_string(),
        connections,
        round_trips: sorted.len() as u64,
        per_second,
        p50_micros: at(0.5),
        p99_micros: at(0.99),
        max_micros: sorted.last().copied().unwrap_or(0),
        fraction_of_ceiling: if ceiling_rate > 0.0 { per_second / ceiling_rate } else { 0.0 },
    }
}

/// Runs `connections` clients for [`RUN_FOR`]; returns every round-trip latency in µs.
async fn measure<F, Fut>(connections: usize, client: F) -> anyhow::Result<Vec<u64>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Vec<u64>>> + Send + 'static,
{
    let tasks: Vec<_> = (0..connections).map(|_| tokio::spawn(client())).collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    Ok(all)
}

async fn harness_client(addr: String, payload: Vec<u8>) -> anyhow::Result<Vec<u64>> {
    let mut connection =
        MllpConnection::connect(&addr, MllpOptions::default(), Timeouts::default()).await?;
    let mut latencies = Vec::new();
    let end = Instant::now() + RUN_FOR;
    while Instant::now() < end {
        let started = Instant::now();
        connection.send(&payload).await?;
        connection.receive(None).await?;
        latencies.push(started.elapsed().as_micros() as u64);
    }
    Ok(latencies)
}

async fn raw_client(addr: String, payload: Vec<u8>) -> anyhow::Result<Vec<u64>> {
    let mut stream = TcpStream::connect(&addr).await?;
    stream.set_nodelay(true)?;
    let mut frame = vec![0x0b];
    frame.extend_from_slice(&payload);
    frame.extend_from_slice(b"\x1c\r");
    let mut buffer = vec![0u8; 64 * 1024];
    let mut latencies = Vec::new();
    let end = Instant::now() + RUN_FOR;
    while Instant::now() < end {
        let started = Instant::now();
        stream.write_all(&frame).await?;
        read_frame(&mut stream, &mut buffer).await?;
        latencies.push(started.elapsed().as_micros() as u64);
    }
    Ok(latencies)
}

/// Reads until a frame's `0x1C 0x0D` (the benchmark's peers never pipeline).
async fn read_frame(stream: &mut TcpStream, buffer: &mut [u8]) -> anyhow::Result<()> {
    let mut filled = 0;
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer[filled..]))
            .await??;
        anyhow::ensure!(n > 0, "peer closed");
        filled += n;
        if filled >= 2 && buffer[filled - 2..filled] == [0x1c, 0x0d] {
            return Ok(());
        }
        anyhow::ensure!(filled < buffer.len(), "frame larger than the buffer");
    }
}

async fn echo_server(listener: TcpListener) {
    while let Ok((mut stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let mut buffer = vec![0u8; 64 * 1024];
            while read_frame(&mut stream, &mut buffer).await.is_ok() {
                if stream.write_all(FIXED_ACK).await.is_err() {
                    return;
                }
            }
        });
    }
}
