//! Peer connections, two on one page, linked by an in-page signaling pair:
//! each side's outgoing signals are fed to the other through channels, as a
//! server would relay them.

use std::{
    cell::RefCell,
    collections::BTreeSet,
    rc::{Rc, Weak},
};

use futures::StreamExt;
use peerlens::{
    protocol::{Codec, CodecError, ProtocolError, ServerMessage},
    Camera, CameraConstraints, DataChannelKind, DataMessage, JsCodec, MediaError, PeerConnection,
    PeerEvent, PeerOptions, PeerState,
};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, MediaStream, MediaStreamTrack};

use super::{pixels, sleep, video_element, wait_until};

#[derive(Default)]
struct Log {
    tracks: Vec<MediaStreamTrack>,
    states: Vec<PeerState>,
    data: Vec<(DataChannelKind, DataMessage)>,
    open: BTreeSet<String>,
    errors: Vec<String>,
}

struct Side {
    pc: Rc<PeerConnection>,
    log: Rc<RefCell<Log>>,
}

impl Side {
    fn errors(&self) -> Vec<String> {
        self.log.borrow().errors.clone()
    }
}

/// Two connected-to-be peers; `a` is impolite, `b` polite.
fn pair(data_channels: bool) -> (Side, Side) {
    let options = |polite: bool| PeerOptions {
        polite,
        data_channels,
        // The impolite side makes the first offer.
        initiator: !polite,
        ..PeerOptions::default()
    };
    let (a, a_events) = PeerConnection::new(options(false)).expect("peer a");
    let (b, b_events) = PeerConnection::new(options(true)).expect("peer b");
    let (a, b) = (Rc::new(a), Rc::new(b));
    let a_log = Rc::new(RefCell::new(Log::default()));
    let b_log = Rc::new(RefCell::new(Log::default()));
    pump(a_events, Rc::downgrade(&b), Rc::clone(&a_log));
    pump(b_events, Rc::downgrade(&a), Rc::clone(&b_log));
    (Side { pc: a, log: a_log }, Side { pc: b, log: b_log })
}

fn pump(
    mut events: futures::channel::mpsc::UnboundedReceiver<PeerEvent>,
    other: Weak<PeerConnection>,
    log: Rc<RefCell<Log>>,
) {
    wasm_bindgen_futures::spawn_local(async move {
        while let Some(event) = events.next().await {
            match event {
                PeerEvent::Signal(payload) => {
                    if let Some(other) = other.upgrade() {
                        other.handle_signal(payload);
                    }
                }
                PeerEvent::Track { track, .. } => log.borrow_mut().tracks.push(track),
                PeerEvent::State(state) => log.borrow_mut().states.push(state),
                PeerEvent::ChannelOpen(kind) => {
                    log.borrow_mut().open.insert(format!("{kind:?}"));
                }
                PeerEvent::Data(kind, message) => log.borrow_mut().data.push((kind, message)),
                PeerEvent::Error(e) => log.borrow_mut().errors.push(e.to_string()),
                PeerEvent::IceRestart => {}
            }
        }
    });
}

async fn microphone() -> (MediaStream, MediaStreamTrack) {
    let camera = Camera::open(&CameraConstraints::default().audio(true))
        .await
        .expect("fake camera and microphone");
    let stream = camera.into_stream();
    let track = stream
        .get_audio_tracks()
        .get(0)
        .dyn_into::<MediaStreamTrack>()
        .expect("an audio track");
    (stream, track)
}

#[wasm_bindgen_test]
async fn glare_twenty_simultaneous_renegotiations_all_settle() {
    let (_mic_stream, mic) = microphone().await;
    let (a, b) = pair(false);
    let (stream_a, stream_b) = (MediaStream::new().unwrap(), MediaStream::new().unwrap());
    let mut collided_rounds = 0;
    for round in 1..=20usize {
        let offers_before = a.pc.offers_made() + b.pc.offers_made();
        // Both sides add a track in the same task: both fire
        // negotiationneeded and both offer before either offer arrives.
        a.pc.add_track(&mic.clone(), &stream_a).expect("a adds");
        b.pc.add_track(&mic.clone(), &stream_b).expect("b adds");
        wait_until(&format!("round {round} to settle"), 15_000, || {
            a.pc.is_stable()
                && b.pc.is_stable()
                && a.pc.remote_tracks().len() == round
                && b.pc.remote_tracks().len() == round
        })
        .await;
        if a.pc.offers_made() + b.pc.offers_made() - offers_before >= 2 {
            collided_rounds += 1;
        }
        assert_eq!(a.errors(), Vec::<String>::new(), "round {round}: a");
        assert_eq!(b.errors(), Vec::<String>::new(), "round {round}: b");
    }
    // Each round must have been a real collision, or this test proves
    // nothing about glare.
    assert!(
        collided_rounds >= 15,
        "only {collided_rounds} of 20 rounds had both sides offering"
    );
    assert_eq!(a.log.borrow().tracks.len(), 20);
    assert_eq!(b.log.borrow().tracks.len(), 20);
}

async fn camera_pair() -> (Camera, Side, Side, web_sys::HtmlVideoElement) {
    let camera = Camera::open(&CameraConstraints::default().size(320, 240))
        .await
        .expect("fake camera");
    let (a, b) = pair(false);
    a.pc.add_stream(camera.stream())
        .expect("a sends its camera");
    wait_until("a track at b", 10_000, || !b.log.borrow().tracks.is_empty()).await;
    let track = b.log.borrow().tracks[0].clone();
    let remote = MediaStream::new().unwrap();
    remote.add_track(&track);
    let video = video_element(&remote);
    wait_until("the remote video to play", 10_000, || {
        video.video_width() > 0
    })
    .await;
    (camera, a, b, video)
}

#[wasm_bindgen_test]
async fn ice_restart_gets_new_credentials_and_media_keeps_flowing() {
    let (_camera, a, b, _video) = camera_pair().await;
    wait_until("both connected", 10_000, || {
        a.pc.state() == PeerState::Connected && b.pc.state() == PeerState::Connected
    })
    .await;
    let (ufrag_a, ufrag_b) = (a.pc.local_ice_ufrag(), b.pc.local_ice_ufrag());
    assert!(ufrag_a.is_some() && ufrag_b.is_some());
    let decoded_before = b.pc.stats().await.expect("stats").frames_decoded;
    b.pc.restart_ice().expect("restart");
    wait_until("new ICE credentials on both sides", 10_000, || {
        a.pc.is_stable()
            && b.pc.is_stable()
            && a.pc.local_ice_ufrag() != ufrag_a
            && b.pc.local_ice_ufrag() != ufrag_b
    })
    .await;
    wait_until("connected after the restart", 10_000, || {
        a.pc.state() == PeerState::Connected && b.pc.state() == PeerState::Connected
    })
    .await;
    let mut decoded_after = decoded_before;
    for _ in 0..40 {
        decoded_after = b.pc.stats().await.expect("stats").frames_decoded;
        if decoded_after > decoded_before + 10.0 {
            break;
        }
        sleep(100).await;
    }
    assert!(
        decoded_after > decoded_before + 10.0,
        "frames stopped: {decoded_before} then {decoded_after}"
    );
    assert_eq!(a.errors(), Vec::<String>::new());
    assert_eq!(b.errors(), Vec::<String>::new());
}

fn texts(side: &Side, kind: DataChannelKind) -> Vec<String> {
    side.log
        .borrow()
        .data
        .iter()
        .filter(|(k, _)| *k == kind)
        .filter_map(|(_, m)| match m {
            DataMessage::Text(t) => Some(t.clone()),
            DataMessage::Binary(_) => None,
        })
        .collect()
}

#[wasm_bindgen_test]
async fn data_channels_round_trip_reliable_and_unordered() {
    let (a, b) = pair(true);
    wait_until("all four channel ends open", 10_000, || {
        a.log.borrow().open.len() == 2 && b.log.borrow().open.len() == 2
    })
    .await;
    for kind in [DataChannelKind::Reliable, DataChannelKind::Unreliable] {
        let sent: Vec<String> = (0..20).map(|i| format!("{kind:?}-{i}")).collect();
        for text in &sent {
            a.pc.send_text(kind, text).expect("a sends");
        }
        wait_until(&format!("{kind:?} at b"), 5_000, || {
            texts(&b, kind).len() == 20
        })
        .await;
        for text in texts(&b, kind) {
            b.pc.send_text(kind, &format!("echo {text}"))
                .expect("b echoes");
        }
        wait_until(&format!("{kind:?} echoes at a"), 5_000, || {
            texts(&a, kind).len() == 20
        })
        .await;
        let echoed: Vec<String> = texts(&a, kind)
            .into_iter()
            .map(|t| t.trim_start_matches("echo ").to_owned())
            .collect();
        if kind == DataChannelKind::Reliable {
            assert_eq!(echoed, sent, "the reliable channel keeps order");
        } else {
            let (mut got, mut want) = (echoed, sent);
            got.sort();
            want.sort();
            assert_eq!(got, want, "every unordered message made the trip");
        }
    }
    a.pc.send_bytes(DataChannelKind::Reliable, &[0, 1, 254, 255])
        .expect("binary");
    wait_until("binary at b", 5_000, || {
        b.log
            .borrow()
            .data
            .iter()
            .any(|(_, m)| *m == DataMessage::Binary(vec![0, 1, 254, 255]))
    })
    .await;
}

fn solid_canvas(color: &str) -> (HtmlCanvasElement, CanvasRenderingContext2d) {
    let document = web_sys::window().unwrap().document().unwrap();
    let canvas: HtmlCanvasElement = document.create_element("canvas").unwrap().unchecked_into();
    canvas.set_width(320);
    canvas.set_height(240);
    let ctx: CanvasRenderingContext2d = canvas.get_context("2d").unwrap().unwrap().unchecked_into();
    ctx.set_fill_style_str(color);
    ctx.fill_rect(0.0, 0.0, 320.0, 240.0);
    (canvas, ctx)
}

fn centre_is_magenta(video: &web_sys::HtmlVideoElement) -> bool {
    let (w, h, data) = pixels(video);
    if w == 0 || h == 0 {
        return false;
    }
    let i = ((h / 2 * w + w / 2) * 4) as usize;
    data[i] > 200 && data[i + 1] < 70 && data[i + 2] > 200
}

#[wasm_bindgen_test]
async fn replace_track_switches_the_picture_without_renegotiating() {
    let (_camera, a, b, video) = camera_pair().await;
    wait_until("stable after the first negotiation", 10_000, || {
        a.pc.is_stable() && b.pc.is_stable() && a.pc.state() == PeerState::Connected
    })
    .await;
    assert!(!centre_is_magenta(&video), "the fake camera is not magenta");
    let offers = a.pc.offers_made() + b.pc.offers_made();
    let (canvas, ctx) = solid_canvas("#ff00ff");
    let canvas_stream = canvas.capture_stream().expect("captureStream");
    let canvas_track: MediaStreamTrack = canvas_stream.get_video_tracks().get(0).unchecked_into();
    a.pc.replace_track("video", Some(&canvas_track))
        .await
        .expect("replaceTrack");
    let mut seen = false;
    for _ in 0..100 {
        // A canvas stream only emits frames when the canvas changes.
        ctx.fill_rect(0.0, 0.0, 320.0, 240.0);
        if centre_is_magenta(&video) {
            seen = true;
            break;
        }
        sleep(100).await;
    }
    assert!(seen, "the remote picture never became the canvas");
    assert_eq!(
        a.pc.offers_made() + b.pc.offers_made(),
        offers,
        "replace_track must not renegotiate"
    );
    assert!(a.pc.is_stable() && b.pc.is_stable());
    assert_eq!(a.errors(), Vec::<String>::new());
}

#[wasm_bindgen_test]
async fn stats_summary_reports_flowing_media() {
    let (_camera, a, b, _video) = camera_pair().await;
    wait_until("connected", 10_000, || b.pc.state() == PeerState::Connected).await;
    let _ = b.pc.stats().await.expect("first sample");
    let _ = a.pc.stats().await.expect("first sample");
    sleep(1500).await;
    let rx = b.pc.stats().await.expect("stats");
    let tx = a.pc.stats().await.expect("stats");
    assert!(
        rx.bytes_received > 0.0 && rx.bitrate_in_bps > 10_000.0,
        "{rx:?}"
    );
    assert!(
        tx.bytes_sent > 0.0 && tx.bitrate_out_bps > 10_000.0,
        "{tx:?}"
    );
    assert!(rx.frames_decoded > 0.0, "{rx:?}");
    assert!(
        rx.rtt_ms.is_some_and(|ms| (0.0..1000.0).contains(&ms)),
        "{rx:?}"
    );
    assert!((0.0..=1.0).contains(&rx.loss_ratio));
}

#[wasm_bindgen_test]
async fn a_side_that_never_offers_holds_tracks_for_its_answer_and_refuses_to_renegotiate() {
    let (_mic_stream, mic) = microphone().await;
    let options = |policy, polite| PeerOptions {
        polite,
        offer_policy: policy,
        data_channels: false,
        ..PeerOptions::default()
    };
    use peerlens::protocol::OfferPolicy;
    let (sender, s_events) = PeerConnection::new(options(OfferPolicy::LocalOnly, false)).unwrap();
    let (receiver, r_events) = PeerConnection::new(options(OfferPolicy::RemoteOnly, true)).unwrap();
    let (sender, receiver) = (Rc::new(sender), Rc::new(receiver));
    let s_log = Rc::new(RefCell::new(Log::default()));
    let r_log = Rc::new(RefCell::new(Log::default()));
    pump(s_events, Rc::downgrade(&receiver), Rc::clone(&s_log));
    pump(r_events, Rc::downgrade(&sender), Rc::clone(&r_log));
    let stream = MediaStream::new().unwrap();
    // The receiver's track waits for the offer.
    receiver.add_track(&mic.clone(), &stream).expect("held");
    sleep(300).await;
    assert_eq!(receiver.offers_made(), 0);
    sender.add_track(&mic, &stream).expect("sender adds");
    wait_until("a two-way call from one offer", 10_000, || {
        sender.is_stable()
            && receiver.is_stable()
            && sender.remote_tracks().len() == 1
            && receiver.remote_tracks().len() == 1
    })
    .await;
    assert_eq!(receiver.offers_made(), 0, "the receiver never offers");
    assert_eq!(
        receiver.add_track(&mic.clone(), &stream),
        Err(peerlens::RtcError::OfferNotAllowed)
    );
    assert_eq!(
        receiver.restart_ice(),
        Err(peerlens::RtcError::OfferNotAllowed)
    );
}

#[wasm_bindgen_test]
async fn a_missing_device_is_a_typed_overconstrained_error() {
    let err = Camera::open(&CameraConstraints::default().device("no-such-device"))
        .await
        .expect_err("no such device");
    assert!(
        matches!(err, MediaError::Overconstrained { ref constraint, .. } if constraint == "deviceId"),
        "{err:?}"
    );
    assert_eq!(err.name(), "Overconstrained");
}

fn js_fn(args: &str, body: &str) -> js_sys::Function {
    js_sys::Function::new_with_args(args, body)
}

#[wasm_bindgen_test]
fn a_codec_defined_in_javascript_encodes_decodes_and_reports_errors() {
    let encode = js_fn(
        "m",
        "if (m.type === 'ping') return null;
         if (m.type === 'leave') return ['bye', 'bye-again'];
         if (m.type === 'signal') return JSON.stringify({op: 'relay', target: m.to, payload: m.data});
         if (m.type === 'join') return JSON.stringify({op: 'enter', room: m.room, me: m.peerId});
         return 42;",
    );
    let decode = js_fn(
        "f",
        "const o = JSON.parse(f);
         if (o.op === 'hello') return {type: 'welcome', id: o.you, peers: o.others};
         if (o.op === 'many') return [{type: 'pong'}, {type: 'peer-left', id: 'z'}];
         if (o.op === 'quiet') return null;
         if (o.op === 'broken') return {type: 'welcome'};
         throw new RangeError('cannot read ' + o.op);",
    );
    let mut codec = JsCodec::new(encode, decode);
    let join = peerlens::protocol::ClientMessage::Join {
        room: "r".into(),
        name: "n".into(),
        peer_id: Some("me".into()),
    };
    assert_eq!(
        codec.encode(&join).unwrap(),
        vec![r#"{"op":"enter","room":"r","me":"me"}"#.to_string()]
    );
    let signal = peerlens::protocol::ClientMessage::Signal {
        to: "b".into(),
        data: serde_json::json!({"candidate": {"candidate": "c"}}),
    };
    assert_eq!(
        codec.encode(&signal).unwrap(),
        vec![
            r#"{"op":"relay","target":"b","payload":{"candidate":{"candidate":"c"}}}"#.to_string()
        ]
    );
    assert!(codec
        .encode(&peerlens::protocol::ClientMessage::Ping)
        .unwrap()
        .is_empty());
    assert_eq!(
        codec
            .encode(&peerlens::protocol::ClientMessage::Leave)
            .unwrap(),
        vec!["bye", "bye-again"]
    );
    let welcome = codec
        .decode(r#"{"op":"hello","you":"me","others":[{"id":"b","name":"Bo"}]}"#)
        .unwrap();
    assert_eq!(
        welcome.messages,
        vec![ServerMessage::Welcome {
            id: "me".into(),
            peers: vec![peerlens::protocol::PeerInfo {
                id: "b".into(),
                name: "Bo".into()
            }],
            ice_servers: vec![]
        }]
    );
    assert_eq!(codec.decode(r#"{"op":"many"}"#).unwrap().messages.len(), 2);
    assert!(codec
        .decode(r#"{"op":"quiet"}"#)
        .unwrap()
        .messages
        .is_empty());
    assert!(matches!(
        codec.decode(r#"{"op":"broken"}"#),
        Err(CodecError::Protocol(ProtocolError::InvalidField { .. }))
    ));
    match codec.decode(r#"{"op":"unknown"}"#) {
        Err(CodecError::Callback(message)) => {
            assert!(message.contains("RangeError"), "{message}")
        }
        other => panic!("a throwing decode gave {other:?}"),
    }
    assert!(matches!(
        codec.decode("not json"),
        Err(CodecError::Callback(_))
    ));
}
