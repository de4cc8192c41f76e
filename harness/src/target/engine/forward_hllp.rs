//! Forwarding to an HLLP destination (`url: hllp://HOST:PORT`): each output one `D` block over
//! the wire client's HLLP connection (`transport::client::send_and_await_hllp`), kept open from
//! one output to the next like an MLLP connection, the answer the `D` block whose ACK echoes
//! the output's MSH-10.
//!
//! HL7 v2 Appendix C 2.3, as the wire client's `Recover` policy applies it: a damaged answer
//! block is answered with an `N` block (the destination then sends its answer again); an `N`
//! block from the destination (it could not read the output) means the same bytes go again
//! after the backoff, on the same connection. No ACK in time, a close or a reset closes the
//! connection, as over MLLP.

use super::forward::{judge, timeouts, Attempt, Outgoing};
use super::routes::Destination;
use crate::transport::client::{send_and_await_hllp, AckWait, HllpAnswer, HllpBlocks, Takes};
use crate::transport::hllp::HllpOptions;
use crate::transport::hllp_connection::HllpConnection;

/// Sends `item` once over the destination's HLLP connection (opened when there is none).
pub(super) async fn send_once(
    destination: &Destination,
    connection: &mut Option<HllpConnection>,
    item: &Outgoing,
) -> Attempt {
    let open = match connection {
        Some(open) => open,
        None => {
            let opened = HllpConnection::connect(
                &destination.addr,
                HllpOptions::default(),
                timeouts(destination),
            )
            .await;
            match opened {
                Ok(c) => connection.insert(c),
                Err(err) => return Attempt::Failed(err),
            }
        }
    };
    let wait = AckWait {
        control_id: &item.control_id,
        takes: Takes::Echo,
        stop_on_commit_nak: true,
        wait: destination.ack_timeout,
    };
    match send_and_await_hllp(open, &item.payload, wait, HllpBlocks::Recover, |_| {}).await {
        Ok(HllpAnswer::Ack(ack)) => judge(destination, &ack),
        Ok(HllpAnswer::Negative { reason }) => {
            let reason = reason.map_or_else(
                || "no reason".to_string(),
                |r| format!("reason {}", char::from(r.byte())),
            );
            Attempt::Retry(format!("an N block from the destination ({reason})"))
        }
        Err(err) => Attempt::Failed(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::engine::routes::parse_routes;
    use crate::transport::hllp::NakReason;
    use tokio::net::TcpListener;

    const OUTPUT: &[u8] = b"MSH|^~\\&|E|H|R|F|20240101||ADT^A04|C9|P|2.5\rPID|1||X\r";

    /// An `N` block from the destination is a retry on the same connection; the AA that
    /// follows delivers; a destination that closes is a failure (the connection dropped).
    #[tokio::test]
    async fn an_n_block_is_retried_and_an_aa_delivers() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let routes = parse_routes(
            &format!(
                "destinations:\n  d:\n    url: hllp://{addr}\n    ack_timeout: 2s\nroutes: []\n"
            ),
            "r.yaml",
        )
        .unwrap();
        let destination = routes.destinations[0].clone();
        assert_eq!(destination.url(), format!("hllp://{addr}"));
        let item =
            Outgoing { sequence: 1, number: 1, payload: OUTPUT.to_vec(), control_id: "C9".into() };
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let timeouts = crate::transport::connection::Timeouts::default();
            let mut peer =
                HllpConnection::from_stream(stream, HllpOptions::default(), timeouts).unwrap();
            let first = peer.receive(None).await.unwrap();
            assert_eq!(&first.data[..], OUTPUT);
            peer.send_nak(NakReason::Checksum).await.unwrap();
            let _again = peer.receive(None).await.unwrap();
            peer.send_data(b"MSH|^~\\&|R|F|E|H|20240101||ACK|A1|P|2.5\rMSA|AA|C9\r").await.unwrap();
        });
        let mut connection = None;
        let first = send_once(&destination, &mut connection, &item).await;
        assert!(
            matches!(&first, Attempt::Retry(why) if why.contains("N block") && why.contains("reason X"))
        );
        assert!(connection.is_some(), "kept open after an N block");
        assert!(matches!(send_once(&destination, &mut connection, &item).await, Attempt::Accepted));
        server.await.unwrap();
        assert!(matches!(
            send_once(&destination, &mut connection, &item).await,
            Attempt::Failed(_)
        ));
    }
}
