//! Effect probes: an HTTP GET whose JSON must contain the expected values (a subset match), or
//! a command whose exit code and output are checked. Every probe has a time limit.

use crate::scenario::{Pattern, Placeholders, Probe};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::header::HOST;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Largest probe response read.
const MAX_PROBE_BYTES: usize = 4 * 1024 * 1024;
/// Largest command output kept.
const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// Runs one probe; `Ok(what)` when it passed, `Err((what, why))` when not.
pub async fn run_probe(
    probe: &Probe,
    values: &(dyn Placeholders + Sync),
) -> Result<String, (String, String)> {
    let limit = probe.timeout.map(|t| t.0).unwrap_or(Duration::from_secs(5));
    if let Some(url) = &probe.http_get {
        let url = url.render(values).map_err(|e| (url.source.clone(), e))?;
        let what = format!("GET {url}");
        return match timeout(limit, http_get(&url)).await {
            Err(_) => Err((what, format!("no answer within {}ms", limit.as_millis()))),
            Ok(Err(e)) => Err((what, e)),
            Ok(Ok((status, body))) => check_http(probe, status, &body, values)
                .map(|()| what.clone())
                .map_err(|e| (what, e)),
        };
    }
    if let Some(command) = &probe.command {
        let argv: Vec<String> = command
            .iter()
            .map(|p| p.render(values))
            .collect::<Result<_, _>>()
            .map_err(|e| ("command".to_string(), e))?;
        let what = argv.join(" ");
        return run_command(probe, &argv, limit, values)
            .await
            .map(|()| what.clone())
            .map_err(|e| (what, e));
    }
    Err(("probe".into(), "a probe needs http_get or command".into()))
}

fn check_http(
    probe: &Probe,
    status: u16,
    body: &[u8],
    values: &(dyn Placeholders + Sync),
) -> Result<(), String> {
    let want = probe.status.unwrap_or(200);
    if status != want {
        return Err(format!(
            "HTTP {status}, expected {want}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ));
    }
    let Some(expected) = &probe.json else { return Ok(()) };
    let actual: Value =
        serde_json::from_slice(body).map_err(|e| format!("the response is not JSON: {e}"))?;
    let expected = render_json(expected, values)?;
    match first_difference(&expected, &actual, "") {
        None => Ok(()),
        Some(diff) => Err(diff),
    }
}

/// Fills placeholders in every string of the expected JSON.
fn render_json(value: &Value, values: &(dyn Placeholders + Sync)) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) => Value::String(Pattern::parse(text)?.render(values)?),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| render_json(v, values)).collect::<Result<_, _>>()?)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_json(v, values)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Subset match: every key of an expected object must be in the actual one and match; every
/// element of an expected array must match some element of the actual one; scalars compare by
/// value (a string matches a number or boolean with the same text).
pub fn first_difference(expected: &Value, actual: &Value, at: &str) -> Option<String> {
    let here = if at.is_empty() { "the response".to_string() } else { at.to_string() };
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => want.iter().find_map(|(key, value)| {
            let path = if at.is_empty() { key.clone() } else { format!("{at}.{key}") };
            match have.get(key) {
                None => Some(format!("{path}: missing (expected {value})")),
                Some(found) => first_difference(value, found, &path),
            }
        }),
        (Value::Array(want), Value::Array(have)) => want.iter().find_map(|item| {
            (!have.iter().any(|h| first_difference(item, h, at).is_none()))
                .then(|| format!("{here}: no element matches {item}"))
        }),
        (Value::String(want), Value::Number(_) | Value::Bool(_))
            if want.as_str() == actual.to_string().as_str() =>
        {
            None
        }
        (want, have) if want == have => None,
        (want, have) => Some(format!("{here}: expected {want}, found {have}")),
    }
}

/// GET over plain HTTP/1.1; returns status and body.
pub async fn http_get(url: &str) -> Result<(u16, Vec<u8>), String> {
    let target = crate::transport::http_client::HttpTarget::parse(url)
        .ok_or_else(|| format!("{url:?} is not an http:// URL"))?;
    let stream =
        TcpStream::connect(&target.authority).await.map_err(|e| format!("connect: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    tokio::spawn(connection);
    let request = Request::get(target.path.as_str())
        .header(HOST, target.authority.as_str())
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| format!("GET: {e}"))?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_PROBE_BYTES)
        .collect()
        .await
        .map_err(|e| format!("reading the body: {e}"))?
        .to_bytes()
        .to_vec();
    Ok((status, body))
}

async fn run_command(
    probe: &Probe,
    argv: &[String],
    limit: Duration,
    values: &(dyn Placeholders + Sync),
) -> Result<(), String> {
    let (program, args) = argv.split_first().ok_or("the command is empty")?;
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = match timeout(limit, child).await {
        Err(_) => return Err(format!("did not finish within {}ms (killed)", limit.as_millis())),
        Ok(Err(e)) => return Err(format!("could not start {program:?}: {e}")),
        Ok(Ok(output)) => output,
    };
    let stdout =
        String::from_utf8_lossy(&output.stdout[..output.stdout.len().min(MAX_OUTPUT_BYTES)]);
    let want = probe.exit.unwrap_or(0);
    if output.status.code() != Some(want) {
        let stderr = String::from_utf8_lossy(&output.stderr[..output.stderr.len().min(500)]);
        return Err(format!(
            "exit {:?}, expected {want}; stderr: {}",
            output.status.code(),
            stderr.trim()
        ));
    }
    if let Some(needle) = &probe.stdout_contains {
        let needle = needle.render(values)?;
        if !stdout.contains(&needle) {
            return Err(format!(
                "stdout does not contain {needle:?}: {}",
                stdout.chars().take(200).collect::<String>()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subset_matching() {
        let actual = json!({"id": "C1", "family": "Dürst", "active": true, "n": 3, "merged": ["C2", "C3"], "x": {"y": 1}});
        assert_eq!(first_difference(&json!({"family": "Dürst"}), &actual, ""), None);
        assert_eq!(first_difference(&json!({"active": "true", "n": "3"}), &actual, ""), None);
        assert_eq!(first_difference(&json!({"merged": ["C3"]}), &actual, ""), None);
        assert_eq!(first_difference(&json!({"x": {"y": 1}}), &actual, ""), None);
        let diff = first_difference(&json!({"family": "Durst"}), &actual, "").unwrap();
        assert!(diff.contains("family: expected \"Durst\", found \"Dürst\""), "{diff}");
        assert!(first_difference(&json!({"email": "x"}), &actual, "")
            .unwrap()
            .contains("email: missing"));
        assert!(first_difference(&json!({"merged": ["C9"]}), &actual, "").is_some());
        assert!(first_difference(&json!({"x": {"y": 2}}), &actual, "").unwrap().starts_with("x.y"));
    }
}
