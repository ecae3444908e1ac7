//! Property tests for every parser: arbitrary text, and arbitrary JSON that
//! looks like protocol messages, never panics, and every valid message
//! survives a round trip.
#![cfg(not(target_arch = "wasm32"))]

use peerlens_protocol::{
    codec::{decode_checked, PeerlensCodec, RelayCodec, RelayRole, SocketIoCodec, SocketIoConfig},
    ClientMessage, Codec, ServerMessage,
};
use proptest::prelude::*;
use serde_json::{json, Value};

/// JSON values up to a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Objects with a protocol `type` and fields drawn from the protocol's own
/// names, so the parser gets past its first checks.
fn message_like() -> impl Strategy<Value = Value> {
    let kinds = prop::sample::select(vec![
        "join",
        "ping",
        "signal",
        "leave",
        "welcome",
        "peer-joined",
        "peer-left",
        "pong",
        "error",
        "createOffer",
        "createAnswer",
        "iceCandidate",
    ]);
    let fields = prop::sample::select(vec![
        "room",
        "name",
        "peerId",
        "to",
        "from",
        "data",
        "id",
        "peers",
        "iceServers",
        "peer",
        "code",
        "message",
        "sdp",
        "candidate",
    ]);
    (kinds, prop::collection::btree_map(fields, any_json(), 0..6)).prop_map(|(kind, fields)| {
        let mut object: serde_json::Map<String, Value> =
            fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        object.insert("type".into(), json!(kind));
        Value::Object(object)
    })
}

fn codecs() -> Vec<Box<dyn Codec>> {
    vec![
        Box::new(PeerlensCodec),
        Box::new(RelayCodec::new(RelayRole::Sender)),
        Box::new(RelayCodec::new(RelayRole::Receiver)),
        Box::new(SocketIoCodec::new(SocketIoConfig::default())),
    ]
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = ClientMessage::from_json(&text);
        let _ = ServerMessage::from_json(&text);
        for mut codec in codecs() {
            let _ = decode_checked(codec.as_mut(), &text);
            let _ = decode_checked(codec.as_mut(), &format!("42{text}"));
            let _ = decode_checked(codec.as_mut(), &format!("0{text}"));
        }
    }

    #[test]
    fn message_like_json_never_panics(value in message_like()) {
        let text = value.to_string();
        let client = ClientMessage::from_json(&text);
        let _ = ServerMessage::from_json(&text);
        if let Ok(message) = client {
            // What parses re-serializes to something that parses the same.
            prop_assert_eq!(ClientMessage::from_json(&message.to_json()), Ok(message));
        }
        for mut codec in codecs() {
            let _ = decode_checked(codec.as_mut(), &text);
            let event = json!(["offer", value.clone()]);
            let _ = decode_checked(codec.as_mut(), &format!("42{event}"));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = ClientMessage::from_json(&text);
        for mut codec in codecs() {
            let _ = peerlens_protocol::codec::decode_binary_checked(codec.as_mut(), &bytes);
        }
    }

    #[test]
    fn valid_joins_round_trip(room in "[a-z]{1,64}", name in "[ -~]{0,64}", id in "[A-Za-z0-9_-]{1,64}") {
        let join = ClientMessage::Join { room, name, peer_id: Some(id) };
        prop_assert_eq!(ClientMessage::from_json(&join.to_json()), Ok(join));
    }
}
