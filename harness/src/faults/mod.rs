//! Network misbehaviour a case applies while sending (the scenario field `network:`). Each
//! fault turns the frames of a step into the exact bytes and writes the runner performs, so what
//! was done can be reported byte for byte. Pure: no I/O here.

use crate::scenario::Span;
use crate::transport::mllp::{END_BLOCK, START_BLOCK};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One fault, as written in a scenario's `network:` list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum NetworkFault {
    /// Write each frame in chunks of `size` bytes with `delay` between them.
    Fragment {
        size: usize,
        #[serde(default)]
        delay: Option<Span>,
    },
    /// Write the frames of all steps of the case in one write (pipelined, then read the ACKs).
    Coalesce,
    /// Shut down the write side after sending (TCP half-close), then read the ACK.
    HalfClose,
    /// Bytes outside any frame, written before the frame (default `"\r\n"`).
    BytesBeforeFrame(#[serde(default)] Option<String>),
    /// End the frame with 0x1C but no 0x0D (tolerated by lenient receivers).
    MissingTrailerCr,
}

impl NetworkFault {
    pub fn name(&self) -> &'static str {
        match self {
            NetworkFault::Fragment { .. } => "fragment",
            NetworkFault::Coalesce => "coalesce",
            NetworkFault::HalfClose => "half_close",
            NetworkFault::BytesBeforeFrame(_) => "bytes_before_frame",
            NetworkFault::MissingTrailerCr => "missing_trailer_cr",
        }
    }

    /// Checks parameters that serde cannot (a zero chunk size would never finish).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            NetworkFault::Fragment { size: 0, .. } => {
                Err("fragment: size must be at least 1".into())
            }
            _ => Ok(()),
        }
    }
}

/// One write: bytes, then a pause before the next write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub bytes: Vec<u8>,
    pub pause: Duration,
}

/// What the runner does on the wire for one or more frames.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WirePlan {
    pub writes: Vec<Write>,
    /// Shut down the write side after the last write.
    pub half_close: bool,
}

/// Frames `payloads` with the faults applied: coalescing is the caller's choice (it passes all
/// payloads at once); every other fault applies to each frame.
pub fn plan(payloads: &[&[u8]], faults: &[NetworkFault]) -> WirePlan {
    let mut stream = Vec::new();
    for payload in payloads {
        for fault in faults {
            if let NetworkFault::BytesBeforeFrame(bytes) = fault {
                stream.extend_from_slice(bytes.as_deref().unwrap_or("\r\n").as_bytes());
            }
        }
        stream.push(START_BLOCK);
        stream.extend_from_slice(payload);
        stream.push(END_BLOCK);
        if !faults.contains(&NetworkFault::MissingTrailerCr) {
            stream.push(b'\r');
        }
    }
    let fragment = faults.iter().find_map(|f| match f {
        NetworkFault::Fragment { size, delay } => Some((*size, delay.map(|d| d.0))),
        _ => None,
    });
    let writes = match fragment {
        Some((size, delay)) => stream
            .chunks(size.max(1))
            .map(|chunk| Write {
                bytes: chunk.to_vec(),
                pause: delay.unwrap_or(Duration::from_millis(5)),
            })
            .collect(),
        None => vec![Write { bytes: stream, pause: Duration::ZERO }],
    };
    WirePlan { writes, half_close: faults.contains(&NetworkFault::HalfClose) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_frame_is_one_write() {
        let plan = plan(&[b"MSH|x"], &[]);
        assert_eq!(plan.writes.len(), 1);
        assert_eq!(plan.writes[0].bytes, b"\x0bMSH|x\x1c\r");
        assert!(!plan.half_close);
    }

    #[test]
    fn faults_shape_the_bytes() {
        let faults = [
            NetworkFault::BytesBeforeFrame(Some("junk".into())),
            NetworkFault::MissingTrailerCr,
            NetworkFault::Fragment { size: 3, delay: None },
            NetworkFault::HalfClose,
        ];
        let plan = plan(&[b"AB", b"CD"], &faults);
        let joined: Vec<u8> = plan.writes.iter().flat_map(|w| w.bytes.clone()).collect();
        assert_eq!(joined, b"junk\x0bAB\x1cjunk\x0bCD\x1c");
        assert!(plan.writes.iter().all(|w| w.bytes.len() <= 3));
        assert!(plan.half_close);
        assert!(NetworkFault::Fragment { size: 0, delay: None }.validate().is_err());
    }

    #[test]
    fn yaml_forms() {
        let faults: Vec<NetworkFault> = crate::scenario::from_yaml(
            "[coalesce, half_close, {fragment: {size: 1, delay: 1ms}}, {bytes_before_frame: x}]",
        )
        .unwrap();
        assert_eq!(faults.len(), 4);
        assert!(crate::scenario::from_yaml::<Vec<NetworkFault>>("[half_closed]").is_err());
    }
}
