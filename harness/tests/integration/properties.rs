//! Property tests: encode ∘ parse is identity on generated messages with any delimiters;
//! setting a value by path and reading it back gives the value.

use hl7_harness::hl7::edit::MessageBuf;
use hl7_harness::hl7::encode::{decode_segments, encode_segments, FieldTree, SegmentTree};
use hl7_harness::hl7::{Delimiters, Message, Path};
use proptest::prelude::*;

/// Five distinct delimiter characters from the printable, non-alphanumeric ASCII set.
fn delimiters() -> impl Strategy<Value = Delimiters> {
    let pool: Vec<u8> = (0x21u8..0x7f).filter(|c| !c.is_ascii_alphanumeric()).collect();
    Just(pool).prop_shuffle().prop_map(|p| Delimiters {
        field: p[0],
        component: p[1],
        repetition: p[2],
        escape: Some(p[3]),
        subcomponent: Some(p[4]),
        truncation: None,
    })
}

/// Text with any characters, delimiters and CR/LF included, but not the lone `""`, which the
/// standard reserves for present-but-null and would read back as null, not as text.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 |^~\\\\&$%#!(\\r\\nøäñ中\"]{0,12}"
}

fn field() -> impl Strategy<Value = FieldTree> {
    prop::collection::vec(prop::collection::vec(prop::collection::vec(text(), 1..3), 1..4), 1..3)
}

fn segment_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("PID".to_string()),
        Just("OBX".to_string()),
        Just("ZPD".to_string()),
        "[A-Z][A-Z0-9]{2}"
    ]
    .prop_filter("not a header segment", |id| !matches!(id.as_str(), "MSH" | "FHS" | "BHS"))
}

fn message() -> impl Strategy<Value = (Delimiters, Vec<SegmentTree>)> {
    let body = prop::collection::vec(
        (segment_id(), prop::collection::vec(field(), 0..6))
            .prop_map(|(id, fields)| SegmentTree { id, fields }),
        0..6,
    );
    (delimiters(), prop::collection::vec(field(), 15), body).prop_map(|(d, header, body)| {
        let mut fields = vec![vec![vec![vec![String::new()]]], vec![vec![vec![String::new()]]]];
        // MSH-3..MSH-17 anything; MSH-18 declares UTF-8 so any text can be written.
        fields.extend(header);
        fields.push(vec![vec![vec!["UNICODE UTF-8".to_string()]]]);
        let mut segments = vec![SegmentTree { id: "MSH".into(), fields }];
        segments.extend(body);
        (d, segments)
    })
}

/// The tree as it reads back: a segment written with no fields has none, every written field
/// reads back as written.
fn comparable(segments: &[SegmentTree]) -> Vec<(String, Vec<FieldTree>)> {
    segments
        .iter()
        .map(|s| (s.id.clone(), s.fields.get(2..).unwrap_or_default().to_vec()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn encode_then_parse_is_identity((d, segments) in message()) {
        let null_free = segments.iter().all(|s| {
            s.fields.iter().flatten().flatten().flatten().all(|t| t != "\"\"")
        });
        prop_assume!(null_free);
        let bytes = encode_segments(&d, &segments).unwrap();
        let message = Message::parse(&bytes).unwrap();
        prop_assert_eq!(message.delimiters(), &d);
        prop_assert_eq!(message.encode(), bytes.clone());
        let back = decode_segments(&message);
        // MSH-1/2 come from the delimiters; the body fields keep their positions.
        let body: Vec<_> = back.iter().skip(1).map(|s| (s.id.clone(), s.fields.clone())).collect();
        let want: Vec<_> = segments.iter().skip(1).map(|s| (s.id.clone(), s.fields.clone())).collect();
        prop_assert_eq!(body, want);
        prop_assert_eq!(comparable(&back[..1]), comparable(&segments[..1]));
    }

    #[test]
    fn set_then_get_returns_the_value(
        d in delimiters(),
        value in "[a-zA-Z0-9 |^~\\\\&$%#!(øä]{1,12}",
        field in 3usize..25,
        repetition in prop::option::of(1usize..4),
        component in prop::option::of(1usize..5),
        subcomponent in prop::option::of(1usize..3),
    ) {
        prop_assume!(value != "\"\"");
        let header = vec![vec![vec![vec![String::new()]]]; 2]
            .into_iter()
            .chain([vec![vec![vec!["APP".to_string()]]]])
            .collect();
        let segments = vec![
            SegmentTree { id: "MSH".into(), fields: header },
            SegmentTree { id: "PID".into(), fields: vec![vec![vec![vec!["1".into()]]]] },
        ];
        // MSH-18 declares UTF-8 so the non-ASCII values can be written.
        let mut bytes = encode_segments(&d, &segments).unwrap();
        let msh_end = bytes.iter().position(|b| *b == b'\r').unwrap();
        let charset: Vec<u8> = std::iter::repeat_n(d.field, 15).chain(*b"UNICODE UTF-8").collect();
        bytes.splice(msh_end..msh_end, charset);
        let mut buf = MessageBuf::new(bytes).unwrap();
        let subcomponent = if component.is_some() { subcomponent } else { None };
        let mut text = format!("PID-{field}");
        if let Some(r) = repetition { text.push_str(&format!("[{r}]")); }
        if let Some(c) = component { text.push_str(&format!(".{c}")); }
        if let Some(s) = subcomponent { text.push_str(&format!(".{s}")); }
        let path = Path::parse(&text).unwrap();
        buf.set(&path, &value).unwrap();
        let message = buf.message();
        let got = message.get(&path).map(|v| message.text(&v).into_owned());
        prop_assert_eq!(got.as_deref(), Some(value.as_str()), "path {} in {:?}", path, String::from_utf8_lossy(buf.as_bytes()));
        prop_assert_eq!(message.get(&Path::parse("MSH-3").unwrap()).map(|v| v.as_bytes().to_vec()), Some(b"APP".to_vec()));
    }
}
