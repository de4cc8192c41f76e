//! HLLP over a TCP connection, both sides: the pure [`HllpCodec`] under tokio, with a timeout on
//! every connect, read and write that waits on the peer, like
//! [`MllpConnection`](super::connection::MllpConnection). What a block means (answer a good `D`
//! block, NAK a damaged one, resend after a NAK) is the caller's: this only moves blocks.

use super::connection::{Timeouts, TransportError};
use super::hllp::{HllpBlock, HllpCodec, HllpError, HllpOptions, NakReason, Outgoing};
use bytes::BytesMut;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::codec::{Decoder, Encoder};

/// One HLLP connection.
#[derive(Debug)]
pub struct HllpConnection {
    stream: TcpStream,
    peer: SocketAddr,
    codec: HllpCodec,
    buffer: BytesMut,
    timeouts: Timeouts,
}

const READ_CHUNK: usize = 64 * 1024;

impl HllpConnection {
    /// Connects to `addr` (`host:port`) within the connect timeout.
    pub async fn connect(
        addr: &str,
        options: HllpOptions,
        timeouts: Timeouts,
    ) -> Result<HllpConnection, TransportError> {
        let stream = match timeout(timeouts.connect, TcpStream::connect(addr)).await {
            Err(_) => {
                return Err(TransportError::ConnectTimeout {
                    addr: addr.to_string(),
                    after: timeouts.connect,
                })
            }
            Ok(Err(source)) => {
                return Err(TransportError::Connect { addr: addr.to_string(), source })
            }
            Ok(Ok(stream)) => stream,
        };
        HllpConnection::from_stream(stream, options, timeouts)
            .map_err(|source| TransportError::Connect { addr: addr.to_string(), source })
    }

    /// Wraps an accepted or connected stream.
    pub fn from_stream(
        stream: TcpStream,
        options: HllpOptions,
        timeouts: Timeouts,
    ) -> std::io::Result<HllpConnection> {
        let peer = stream.peer_addr()?;
        stream.set_nodelay(true)?;
        Ok(HllpConnection {
            stream,
            peer,
            codec: HllpCodec::new(options),
            buffer: BytesMut::new(),
            timeouts,
        })
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Writes one block: a `D` block around an HL7 message or response, or an `N` block.
    pub async fn send(&mut self, block: Outgoing<'_>) -> Result<(), TransportError> {
        let mut out = BytesMut::new();
        self.codec.encode(block, &mut out).map_err(|e| self.hllp_error(e))?;
        self.write_raw(&out).await
    }

    /// A `D` block around `data`.
    pub async fn send_data(&mut self, data: &[u8]) -> Result<(), TransportError> {
        self.send(Outgoing::Data(data)).await
    }

    /// An `N` block giving `reason`.
    pub async fn send_nak(&mut self, reason: NakReason) -> Result<(), TransportError> {
        self.send(Outgoing::Nak(reason)).await
    }

    /// Writes bytes as they are (already framed, or deliberately damaged).
    pub async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        let peer = self.peer;
        match timeout(self.timeouts.write, self.stream.write_all(bytes)).await {
            Err(_) => Err(TransportError::WriteTimeout { peer, after: self.timeouts.write }),
            Ok(Err(e)) => Err(io_error(peer, e)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// The next block, good or damaged ([`HllpBlock::nak_reason`] says which), waiting at most
    /// `wait` (the read timeout when `None`).
    pub async fn receive(&mut self, wait: Option<Duration>) -> Result<HllpBlock, TransportError> {
        let wait = wait.unwrap_or(self.timeouts.read);
        let peer = self.peer;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self.codec.decode(&mut self.buffer) {
                Ok(Some(block)) => return Ok(block),
                Ok(None) => {}
                Err(e) => return Err(self.hllp_error(e)),
            }
            self.buffer.reserve(READ_CHUNK);
            let read = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buffer));
            match read.await {
                Err(_) => {
                    let buffered = self.buffer.len();
                    return Err(TransportError::ReadTimeout { peer, after: wait, buffered });
                }
                Ok(Err(e)) => return Err(io_error(peer, e)),
                Ok(Ok(0)) => match self.codec.decode_eof(&mut self.buffer) {
                    Ok(Some(block)) => return Ok(block),
                    Ok(None) | Err(HllpError::UnexpectedEof { .. }) => {
                        let buffered = self.buffer.len();
                        return Err(TransportError::PeerClosed { peer, buffered });
                    }
                    Err(e) => return Err(self.hllp_error(e)),
                },
                Ok(Ok(_)) => {}
            }
        }
    }

    /// A block too large to buffer or data HLLP cannot frame, reported as an I/O error.
    fn hllp_error(&self, error: HllpError) -> TransportError {
        TransportError::Io { peer: self.peer, source: std::io::Error::other(error) }
    }
}

fn io_error(peer: SocketAddr, error: std::io::Error) -> TransportError {
    match error.kind() {
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => TransportError::Reset { peer },
        ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof => {
            TransportError::PeerClosed { peer, buffered: 0 }
        }
        _ => TransportError::Io { peer, source: error },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::hllp::{BlockType, Checksum, ChecksumSpan};
    use tokio::net::TcpListener;

    fn short() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(2),
            read: Duration::from_millis(300),
            write: Duration::from_secs(2),
        }
    }

    async fn pair(options: HllpOptions) -> (HllpConnection, HllpConnection) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (client, accepted) =
            tokio::join!(HllpConnection::connect(&addr, options, short()), listener.accept());
        let server = HllpConnection::from_stream(accepted.unwrap().0, options, short()).unwrap();
        (client.unwrap(), server)
    }

    #[tokio::test]
    async fn blocks_naks_and_damage_over_a_real_socket() {
        let options = HllpOptions {
            checksum: Checksum::SumMod256,
            span: ChecksumSpan::StartBlockToData,
            ..HllpOptions::default()
        };
        let (mut client, mut server) = pair(options).await;
        client.send_data(b"MSH|^~\\&|A\r").await.unwrap();
        let block = server.receive(None).await.unwrap();
        assert_eq!((block.block_type, &block.data[..]), (BlockType::Data, &b"MSH|^~\\&|A\r"[..]));
        assert_eq!(block.nak_reason(), None);
        server.send_nak(NakReason::Checksum).await.unwrap();
        let nak = client.receive(None).await.unwrap();
        assert_eq!(nak.nak_reason_sent(), Some(NakReason::Checksum));
        // The right size (7 bytes from 0x0B on) and a wrong checksum: decoded, owed an X NAK.
        client.write_raw(b"\x0bD21\rAB00007000\x1c\r").await.unwrap();
        assert_eq!(server.receive(None).await.unwrap().nak_reason(), Some(NakReason::Checksum));
        let err = client.receive(None).await.unwrap_err();
        assert_eq!(err.code(), "read-timeout");
        drop(server);
        assert_eq!(client.receive(None).await.unwrap_err().code(), "peer-closed");
    }
}
