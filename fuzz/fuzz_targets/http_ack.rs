//! `parse_reply` (the HL7-over-HTTP client's reading of a reply: the Content-Type's HL7 media
//! type and charset, the ACK in the body) on arbitrary replies: never panics, gives the same
//! answer twice, a recognised media type is the one the header names, a charset is text of the
//! header, and an ACK is read only from a body that parses as an HL7 message.
#![no_main]

use arbitrary::Arbitrary;
use hl7_harness::hl7::ack::ReceivedAck;
use hl7_harness::hl7::Message;
use hl7_harness::transport::http_client::{parse_reply, HttpReply};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let reply =
        HttpReply { status: input.status, content_type: input.content_type, body: input.body };
    let parsed = parse_reply(&reply);
    assert_eq!(parsed, parse_reply(&reply), "deterministic");
    if let (Some(content_type), Some(header)) = (&parsed.content_type, &reply.content_type) {
        let media = header.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        assert_eq!(media, content_type.spelling.media_type());
        if let Some(charset) = &content_type.charset {
            assert!(header.contains(charset.as_str()), "{charset:?} not in {header:?}");
        }
    }
    if reply.content_type.is_none() {
        assert!(parsed.content_type.is_none());
    }
    match (&parsed.ack, Message::parse(&reply.body)) {
        (Some(ack), Ok(message)) => {
            assert_eq!(*ack, ReceivedAck::of(&message));
            assert_eq!(ack.is_accept(), ack.msa1 == "AA" || ack.msa1 == "CA");
        }
        (None, Err(_)) => {}
        (ack, parsed) => panic!("ACK {ack:?} but the body parses: {}", parsed.is_ok()),
    }
});
