//! HLLP over a TCP connection, both sides: the [`FramedConnection`] over the pure
//! [`HllpCodec`], with the same timeouts and errors as
//! [`MllpConnection`](super::connection::MllpConnection). What a block means (answer a good `D`
//! block, NAK a damaged one, resend after a NAK) is the caller's: this only moves blocks.

use super::connection::TransportError;
use super::framed::{FrameCodec, FramedConnection};
use super::hllp::{HllpCodec, HllpError, HllpOptions, NakReason, Outgoing};
use bytes::BytesMut;
use std::net::SocketAddr;
use tokio_util::codec::Encoder;

/// One HLLP connection: the framed connection over the [`HllpCodec`].
pub type HllpConnection = FramedConnection<HllpCodec>;

impl FrameCodec for HllpCodec {
    type Options = HllpOptions;

    fn with_options(options: HllpOptions) -> Self {
        HllpCodec::new(options)
    }

    fn current_options(&self) -> HllpOptions {
        *self.options()
    }

    fn is_cut_short(error: &HllpError) -> bool {
        matches!(error, HllpError::UnexpectedEof { .. })
    }

    /// A block too large to buffer or data HLLP cannot frame, reported as an I/O error.
    fn transport_error(peer: SocketAddr, error: HllpError) -> TransportError {
        TransportError::Io { peer, source: std::io::Error::other(error) }
    }
}

/// What only HLLP does: its block types.
impl HllpConnection {
    /// Writes one block: a `D` block around an HL7 message or response, or an `N` block.
    pub async fn send(&mut self, block: Outgoing<'_>) -> Result<(), TransportError> {
        let mut out = BytesMut::new();
        let peer = self.peer;
        self.codec.encode(block, &mut out).map_err(|e| HllpCodec::transport_error(peer, e))?;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::connection::tests::short;
    use crate::transport::hllp::{BlockType, Checksum, ChecksumSpan};
    use tokio::net::TcpListener;

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
