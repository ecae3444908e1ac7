//! The peerlens demo page: a mesh video room over the reference server, or
//! over any signaling server the library has a codec for.
//!
//! It uses the library as any Rust web app would. The URL configures it:
//! - `room`, `name`: prefill the form; `autojoin=1` joins at once;
//! - `signal`: the WebSocket URL (default: this server's `/ws`);
//! - `codec`: `peerlens` (default), `relay` (with `role=sender|receiver`)
//!   or `socketio` (with `socketio=` a JSON object of event and field
//!   names, as `SocketIoConfig` reads it);
//! - `peer`: a fixed peer id;
//! - `relay=1`: TURN relay candidates only (`iceTransportPolicy: "relay"`);
//! - `page`: `echo` and `playback` (see media_pages.rs), or `relay` with
//!   `role=sender|receiver`: a 1:1 call over the sender/receiver relay,
//!   whose URL is `signal=` or else the one in `services.json`.
//!
//! Every tile carries its peer id, connection state and live stats as
//! `data-` attributes, and every error event is listed with its name, so
//! the end-to-end tests read what a user would see.

mod controls;
mod effects_panel;
mod media_pages;
mod outgoing;

use std::{cell::RefCell, collections::BTreeMap, rc::Rc};

use futures::{channel::mpsc, StreamExt};
use peerlens::{
    protocol::{
        codec::{PeerlensCodec, RelayCodec, RelayRole, SocketIoCodec, SocketIoConfig},
        Codec,
    },
    Call, CallEvent, CallOptions, Camera, CameraConstraints, Room, RoomEvent, RoomOptions,
    Signaling, SignalingOptions, SignalingState,
};
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use web_sys::{
    Document, Element, HtmlInputElement, HtmlVideoElement, MediaStream, UrlSearchParams,
};

fn main() {
    wasm_bindgen_futures::spawn_local(run());
}

#[derive(Clone)]
struct Page {
    document: Document,
    params: UrlSearchParams,
}

impl Page {
    fn element<T: JsCast>(&self, id: &str) -> Option<T> {
        self.document.get_element_by_id(id)?.dyn_into().ok()
    }

    fn param(&self, key: &str) -> Option<String> {
        self.params.get(key).filter(|v| !v.is_empty())
    }

    fn status(&self, text: &str, is_error: bool) {
        if let Some(el) = self.document.get_element_by_id("status") {
            el.set_text_content(Some(text));
            el.set_class_name(if is_error { "error" } else { "" });
        }
    }

    fn status_is_error(&self) -> bool {
        self.document
            .get_element_by_id("status")
            .is_some_and(|el| el.class_name() == "error")
    }

    fn signaling_state(&self, state: &SignalingState) {
        let label = match state {
            SignalingState::Connecting { .. } => "connecting",
            SignalingState::Open => "open",
            SignalingState::Reconnecting { .. } => "reconnecting",
            SignalingState::Closed => "closed",
        };
        if let Some(el) = self.document.get_element_by_id("signaling") {
            el.set_text_content(Some(&format!("Signaling: {label}")));
            let _ = el.set_attribute("data-state", label);
        }
    }

    /// Appends an error event to the visible log.
    fn log_error(&self, name: &str, message: &str) {
        let (Some(log), Ok(item)) = (
            self.document.get_element_by_id("log"),
            self.document.create_element("li"),
        ) else {
            return;
        };
        let _ = item.set_attribute("data-name", name);
        item.set_text_content(Some(&format!("{name}: {message}")));
        let _ = log.append_child(&item);
    }

    fn input(&self, id: &str) -> String {
        self.element::<HtmlInputElement>(id)
            .map(|i| i.value())
            .unwrap_or_default()
    }

    fn set_input(&self, id: &str, value: &str) {
        if let Some(input) = self.element::<HtmlInputElement>(id) {
            input.set_value(value);
        }
    }
}

/// The remote tiles, by peer id.
struct Tiles {
    page: Page,
    tiles: BTreeMap<String, (Element, HtmlVideoElement, MediaStream)>,
}

impl Tiles {
    fn ensure(
        &mut self,
        peer: &str,
        name: &str,
    ) -> Option<&(Element, HtmlVideoElement, MediaStream)> {
        if !self.tiles.contains_key(peer) {
            let document = &self.page.document;
            let figure = document.create_element("figure").ok()?;
            figure.set_class_name("tile");
            let _ = figure.set_attribute("data-peer", peer);
            let video: HtmlVideoElement = document.create_element("video").ok()?.dyn_into().ok()?;
            video.set_autoplay(true);
            let _ = video.set_attribute("playsinline", "");
            let stream = MediaStream::new().ok()?;
            let caption = document.create_element("figcaption").ok()?;
            caption.set_text_content(Some(if name.is_empty() { peer } else { name }));
            // Connection state and live stats, in words, under the video.
            let info = document.create_element("p").ok()?;
            info.set_class_name("info");
            info.set_text_content(Some("connecting"));
            let _ = figure.append_child(&info);
            let _ = figure.append_child(&video);
            let _ = figure.append_child(&caption);
            if let Some(grid) = document.get_element_by_id("grid") {
                let _ = grid.append_child(&figure);
            }
            self.tiles.insert(peer.to_owned(), (figure, video, stream));
        }
        self.tiles.get(peer)
    }

    /// Shows a remote track. The track's own remote stream is attached once,
    /// so the element does not reload for the second track; a track with no
    /// stream joins the tile's own.
    fn add_track(
        &mut self,
        peer: &str,
        track: &web_sys::MediaStreamTrack,
        streams: &[MediaStream],
    ) {
        if let Some((_, video, own)) = self.ensure(peer, "") {
            let stream = match streams.first() {
                Some(remote) => remote.clone(),
                None => {
                    own.add_track(track);
                    own.clone()
                }
            };
            let attached = video
                .src_object()
                .and_then(|s| s.dyn_into::<MediaStream>().ok())
                .is_some_and(|s| s.id() == stream.id());
            if !attached {
                video.set_src_object(Some(&stream));
            }
        }
    }

    fn set_state(&mut self, peer: &str, state: &str) {
        if let Some((figure, _, _)) = self.ensure(peer, "") {
            let _ = figure.set_attribute("data-state", state);
            // Once connected, the stats line takes over where there is one.
            let shown = figure.query_selector(".info").ok().flatten();
            let stats_shown = shown
                .and_then(|info| info.text_content())
                .is_some_and(|text| text.starts_with("in "));
            if state != "connected" || !stats_shown {
                set_info(figure, state);
            }
        }
    }

    fn remove(&mut self, peer: &str) {
        if let Some((figure, video, _)) = self.tiles.remove(peer) {
            video.set_src_object(None);
            figure.remove();
        }
    }

    fn set_stats(&self, peer: &str, stats: &peerlens::StatsSummary) {
        if let Some((figure, _, _)) = self.tiles.get(peer) {
            let _ =
                figure.set_attribute("data-audio-bytes", &stats.audio_bytes_received.to_string());
            let _ = figure.set_attribute("data-frames", &stats.frames_decoded.to_string());
            if let Some(route) = &stats.local_candidate_type {
                let _ = figure.set_attribute("data-route", route);
            }
            let line = format!(
                "in {:.0} kbit/s, out {:.0} kbit/s, rtt {}, loss {:.1}%, {} fps",
                stats.bitrate_in_bps / 1000.0,
                stats.bitrate_out_bps / 1000.0,
                stats.rtt_ms.map_or("-".into(), |ms| format!("{ms:.0} ms")),
                stats.loss_ratio * 100.0,
                stats.fps_in.map_or("-".into(), |f| format!("{f:.0}")),
            );
            let _ = figure.set_attribute("title", &line);
            if figure.get_attribute("data-state").as_deref() == Some("connected") {
                set_info(figure, &line);
            }
        }
    }
}

/// The text of a tile's state and stats line.
fn set_info(figure: &Element, text: &str) {
    if let Ok(Some(info)) = figure.query_selector(".info") {
        info.set_text_content(Some(text));
    }
}

fn default_signal_url(page: &Page) -> Option<String> {
    let location = page.document.location()?;
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Some(format!("{scheme}://{}/ws", location.host().ok()?))
}

fn make_codec(page: &Page) -> Result<Box<dyn Codec>, String> {
    let relay_page = page.param("page").as_deref() == Some("relay");
    let codec = if relay_page {
        Some("relay".into())
    } else {
        page.param("codec")
    };
    match codec.as_deref().unwrap_or("peerlens") {
        "peerlens" => Ok(Box::new(PeerlensCodec)),
        "relay" => match page.param("role").as_deref() {
            Some("sender") => Ok(Box::new(RelayCodec::new(RelayRole::Sender))),
            Some("receiver") => Ok(Box::new(RelayCodec::new(RelayRole::Receiver))),
            _ => Err("codec=relay needs role=sender or role=receiver".into()),
        },
        "socketio" => {
            let config: SocketIoConfig = match page.param("socketio") {
                Some(json) => serde_json::from_str(&json).map_err(|e| format!("socketio: {e}"))?,
                None => SocketIoConfig::default(),
            };
            Ok(Box::new(SocketIoCodec::new(config)))
        }
        other => Err(format!("unknown codec {other:?}")),
    }
}

async fn run() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let Some(document) = window.document() else {
        return;
    };
    let search = window.location().search().unwrap_or_default();
    let Ok(params) = UrlSearchParams::new_with_str(&search) else {
        return;
    };
    let page = Page { document, params };
    for field in ["room", "name"] {
        if let Some(value) = page.param(field) {
            page.set_input(field, &value);
        }
    }
    let kind = page.param("page").unwrap_or_else(|| "room".into());
    show_page(&page, &kind);
    if kind == "playback" {
        media_pages::playback(&page).await;
        return;
    }

    // The camera stays open for the page's lifetime.
    let camera = match Camera::open(&CameraConstraints::default().size(640, 480).audio(true)).await
    {
        Ok(camera) => {
            if let Some(video) = page.element::<HtmlVideoElement>("local") {
                video.set_src_object(Some(camera.stream()));
            }
            match kind.as_str() {
                "room" => page.status("Camera on. Pick a room and join.", false),
                "relay" => page.status(
                    "Camera on. Start the call; the other side can start before or after.",
                    false,
                ),
                _ => {}
            }
            Some(camera)
        }
        Err(e) => {
            page.log_error(e.name(), &e.to_string());
            page.status(&plain_camera_error(&e), true);
            None
        }
    };

    if kind == "echo" {
        media_pages::echo(&page, camera).await;
        return;
    }

    let (joins_tx, mut joins) = mpsc::unbounded::<()>();
    let on_submit = Closure::<dyn FnMut(web_sys::Event)>::new({
        let joins_tx = joins_tx.clone();
        move |event: web_sys::Event| {
            event.prevent_default();
            let _ = joins_tx.unbounded_send(());
        }
    });
    if let Some(form) = page.document.get_element_by_id("join") {
        let _ = form.add_event_listener_with_callback("submit", on_submit.as_ref().unchecked_ref());
    }
    if page.param("autojoin").as_deref() == Some("1") {
        let _ = joins_tx.unbounded_send(());
    }
    if joins.next().await.is_none() {
        return;
    }
    if let Some(form) = page.element::<web_sys::HtmlElement>("join") {
        let _ = form.set_attribute("hidden", "");
    }
    // Effects start once the room is joined; `fx=0` leaves them out, and
    // a 1:1 relay call sends the camera as it is.
    let call_only = kind == "relay" || page.param("codec").as_deref() == Some("relay");
    let effects = camera.is_some() && !call_only && page.param("fx").as_deref() != Some("0");
    if !effects {
        if let Some(panel) = page.element::<web_sys::HtmlElement>("effects") {
            let _ = panel.set_attribute("hidden", "");
        }
    }
    // `Clone::clone`, not web-sys's `MediaStream::clone` (the JS method,
    // which copies every track, so muting the camera would not reach peers).
    let stream = camera.as_ref().map(|c| Clone::clone(c.stream()));
    let url = if kind == "relay" {
        let relay = media_pages::services(&page).await.relay;
        match page.param("signal").or(relay) {
            Some(url) => Some(url),
            None => {
                page.status(
                    "The relay server is not running. `cargo xtask demo` starts it.",
                    true,
                );
                return;
            }
        }
    } else {
        page.param("signal").or_else(|| default_signal_url(&page))
    };
    let Some(url) = url else {
        page.status("Cannot work out the signaling server's address.", true);
        return;
    };
    let codec = match make_codec(&page) {
        Ok(codec) => codec,
        Err(e) => {
            page.status(&e, true);
            return;
        }
    };
    let started = now();
    let (signaling, signaling_events) =
        Signaling::connect(&url, codec, SignalingOptions::default());
    let tiles = Rc::new(RefCell::new(Tiles {
        page: page.clone(),
        tiles: BTreeMap::new(),
    }));
    if signaling.has_rooms() {
        run_room(
            &page,
            signaling,
            signaling_events,
            stream,
            effects,
            tiles,
            started,
        )
        .await;
    } else {
        run_call(&page, signaling, signaling_events, stream, tiles).await;
    }
    drop(on_submit);
    drop(camera);
}

async fn run_room(
    page: &Page,
    signaling: Signaling,
    signaling_events: mpsc::UnboundedReceiver<peerlens::SignalingEvent>,
    stream: Option<MediaStream>,
    effects: bool,
    tiles: Rc<RefCell<Tiles>>,
    started: f64,
) {
    let mut timed = false;
    let options = RoomOptions {
        room: page.input("room"),
        name: page.input("name"),
        peer_id: page.param("peer"),
        ice_transport_policy: if page.param("relay").as_deref() == Some("1") {
            peerlens::IcePolicy::Relay
        } else {
            peerlens::IcePolicy::All
        },
        ..RoomOptions::default()
    };
    let (room, mut events) = match Room::join(signaling, signaling_events, options) {
        Ok(joined) => joined,
        Err(e) => {
            page.status(&e.to_string(), true);
            return;
        }
    };
    if let Some(stream) = &stream {
        if let Err(e) = room.publish(stream) {
            page.log_error(e.name(), &e.to_string());
        }
    }
    let room = Rc::new(room);
    let _controls = controls::Controls::install(page, stream.clone());
    // What is sent: the camera, the processed camera or the screen.
    let _outgoing = stream
        .as_ref()
        .map(|camera| outgoing::Outgoing::install(page, Clone::clone(camera), &room));
    if let (Some(outgoing), true) = (&_outgoing, effects) {
        outgoing::Outgoing::start_effects(outgoing);
    }
    wasm_bindgen_futures::spawn_local(poll_stats(Rc::downgrade(&room), Rc::clone(&tiles)));
    let _hooks = expose_room(&room);
    while let Some(event) = events.next().await {
        let mut tiles = tiles.borrow_mut();
        match event {
            RoomEvent::Joined {
                id,
                peers,
                rejoined,
            } => {
                let verb = if rejoined { "Rejoined" } else { "Joined" };
                page.status(&format!("{verb} as {id}."), false);
                for peer in peers {
                    tiles.ensure(&peer.id, &peer.name);
                }
            }
            RoomEvent::PeerJoined(peer) => {
                tiles.ensure(&peer.id, &peer.name);
            }
            RoomEvent::PeerLeft { id, .. } => tiles.remove(&id),
            RoomEvent::Track {
                peer,
                track,
                streams,
            } => {
                tiles.add_track(&peer, &track, &streams);
                if !timed && track.kind() == "video" {
                    timed = true;
                    time_first_frame(peer, started);
                }
            }
            RoomEvent::PeerState { peer, state } => tiles.set_state(&peer, state.as_str()),
            RoomEvent::Signaling(state) => {
                page.signaling_state(&state);
                match state {
                    SignalingState::Reconnecting { attempt, .. } if attempt >= 2 => page.status(
                        "Cannot reach the server. Retrying; the call goes on meanwhile.",
                        true,
                    ),
                    SignalingState::Open if page.status_is_error() => {
                        page.status("Connected to the server again.", false)
                    }
                    _ => {}
                }
            }
            RoomEvent::Data { .. } => {}
            RoomEvent::Error(e) => {
                if let Some(words) = plain_room_error(&e) {
                    page.status(&words, true);
                }
                page.log_error(e.name(), &e.to_string());
            }
        }
    }
}

/// Marks the current page in the navigation and shows only what it uses.
fn show_page(page: &Page, kind: &str) {
    if let Ok(links) = page.document.query_selector_all("#pages a") {
        for i in 0..links.length() {
            let Some(link) = links.get(i).and_then(|n| n.dyn_into::<Element>().ok()) else {
                continue;
            };
            let href = link.get_attribute("href").unwrap_or_default();
            let role = page.param("role").unwrap_or_default();
            let current = match kind {
                "room" => href == "?",
                "relay" => href == format!("?page=relay&role={role}"),
                other => href == format!("?page={other}"),
            };
            if current {
                let _ = link.set_attribute("aria-current", "page");
            }
        }
    }
    let hide = |id: &str| {
        if let Some(el) = page.element::<web_sys::HtmlElement>(id) {
            el.set_hidden(true);
        }
    };
    let show = |id: &str| {
        if let Some(el) = page.element::<web_sys::HtmlElement>(id) {
            el.set_hidden(false);
        }
    };
    let intro = match kind {
        "echo" => {
            hide("join");
            hide("signaling");
            "Echo: your camera, with the effects you pick, goes to the Janus media server and comes back."
        }
        "playback" => {
            hide("join");
            hide("effects");
            hide("local-tile");
            hide("signaling");
            show("playback");
            "Playback: a video file the server streams (ffmpeg into a Janus Streaming mountpoint)."
        }
        "relay" => {
            hide("room-field");
            hide("name-field");
            hide("effects");
            if let Some(button) = page.element::<web_sys::HtmlElement>("join-button") {
                button.set_text_content(Some("Start the call"));
            }
            "Relay: a 1:1 call over the sender/receiver relay. Open the sender and the receiver page."
        }
        _ => "",
    };
    if let Some(el) = page.element::<web_sys::HtmlElement>("intro") {
        el.set_text_content(Some(intro));
        el.set_hidden(intro.is_empty());
    }
}

/// What a camera error means for the user.
fn plain_camera_error(e: &peerlens::MediaError) -> String {
    use peerlens::MediaError;
    match e {
        MediaError::PermissionDenied(_) => {
            "Camera access was denied. Allow the camera for this site in the browser's settings, then reload. You can still join and see the others.".into()
        }
        MediaError::NotFound(_) => "No camera was found. You can still join and see the others.".into(),
        MediaError::NotReadable(_) => {
            "The camera is in use by another program. Close it and reload.".into()
        }
        MediaError::InsecureContext => {
            "The camera needs a secure page: open this demo over https or on localhost.".into()
        }
        other => format!("The camera could not start: {other}"),
    }
}

/// What a room error means for the user, for the ones worth a headline.
fn plain_room_error(e: &peerlens::RoomError) -> Option<String> {
    use peerlens::{protocol::ErrorCode, RoomError};
    match e {
        RoomError::Server {
            code: ErrorCode::RoomFull,
            ..
        }
        | RoomError::Full { .. } => Some("This room is full. Pick another room name.".into()),
        RoomError::Server {
            code: ErrorCode::ServerFull,
            ..
        } => Some("The server is full right now. Try again in a minute.".into()),
        RoomError::Server {
            code: ErrorCode::ForbiddenOrigin,
            ..
        } => Some("The server does not accept this page's address.".into()),
        _ => None,
    }
}

/// `window.peerlensDemo`: hooks for `cargo xtask bench rtc` and the tests.
///
/// - `firstFrameMs`: from the start of joining to the first remote video
///   frame, set once that frame is shown;
/// - `restartIce()`: restarts ICE towards the first peer and resolves with
///   the milliseconds until the first frame after the restart completed;
/// - `sentVideo()`: what is sent as video to the first peer (for the
///   end-to-end tests of the camera picker and screen sharing).
///
/// The returned closure must outlive the hook; the caller keeps it for as
/// long as the room runs.
type Hooks = (
    Closure<dyn FnMut() -> js_sys::Promise>,
    Closure<dyn FnMut() -> JsValue>,
);

fn expose_room(room: &Rc<Room>) -> Option<Hooks> {
    let weak = Rc::downgrade(room);
    let restart = Closure::<dyn FnMut() -> js_sys::Promise>::new(move || {
        let weak = weak.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let room = weak.upgrade().ok_or("the room is gone")?;
            let peer = room
                .peers()
                .first()
                .map(|p| p.id.clone())
                .ok_or("no peer")?;
            let pc = room.raw_connection(&peer).ok_or("no connection")?;
            let ufrag = |pc: &web_sys::RtcPeerConnection| {
                pc.local_description().map(|d| {
                    d.sdp()
                        .lines()
                        .find(|l| l.starts_with("a=ice-ufrag:"))
                        .unwrap_or_default()
                        .to_owned()
                })
            };
            let before = ufrag(&pc);
            let start = now();
            room.restart_ice(&peer).map_err(|e| e.to_string())?;
            drop(room);
            loop {
                gloo_timers::future::TimeoutFuture::new(2).await;
                let connected = matches!(
                    pc.ice_connection_state(),
                    web_sys::RtcIceConnectionState::Connected
                        | web_sys::RtcIceConnectionState::Completed
                );
                if ufrag(&pc) != before
                    && pc.signaling_state() == web_sys::RtcSignalingState::Stable
                    && connected
                {
                    break;
                }
                if now() - start > 20_000.0 {
                    return Err("the ICE restart did not complete in 20 s".into());
                }
            }
            let video = tile_video(&peer).ok_or("no tile")?;
            next_frame(&video).await;
            Ok(JsValue::from_f64(now() - start))
        })
    });
    set_hook("restartIce", restart.as_ref());
    let weak = Rc::downgrade(room);
    let sent = Closure::<dyn FnMut() -> JsValue>::new(move || {
        weak.upgrade()
            .and_then(|room| sent_video(&room))
            .unwrap_or(JsValue::NULL)
    });
    set_hook("sentVideo", sent.as_ref());
    Some((restart, sent))
}

/// What the first peer's connection sends as video: `{kind, deviceId,
/// label}`, where kind is `camera`, `screen` or `processed` (a canvas).
fn sent_video(room: &Room) -> Option<JsValue> {
    let peer = room.peers().first()?.id.clone();
    let pc = room.raw_connection(&peer)?;
    let track = pc
        .get_senders()
        .iter()
        .filter_map(|s| s.dyn_into::<web_sys::RtcRtpSender>().ok())
        .filter_map(|s| s.track())
        .find(|t| t.kind() == "video")?;
    let settings = track.get_settings();
    let surface = js_sys::Reflect::get(&settings, &"displaySurface".into()).ok();
    let device = settings.get_device_id().unwrap_or_default();
    let kind = if surface.is_some_and(|s| !s.is_undefined()) {
        "screen"
    } else if device.is_empty() {
        "processed"
    } else {
        "camera"
    };
    let out = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&out, &"kind".into(), &kind.into());
    let _ = js_sys::Reflect::set(&out, &"deviceId".into(), &device.into());
    let _ = js_sys::Reflect::set(&out, &"label".into(), &track.label().into());
    Some(out.into())
}

/// Sets `window.peerlensDemo[key]`, creating the object on first use.
fn set_hook(key: &str, value: &JsValue) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let hooks = js_sys::Reflect::get(&window, &"peerlensDemo".into())
        .ok()
        .filter(|v| v.is_object())
        .unwrap_or_else(|| js_sys::Object::new().into());
    let _ = js_sys::Reflect::set(&hooks, &key.into(), value);
    let _ = js_sys::Reflect::set(&window, &"peerlensDemo".into(), &hooks);
}

fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

fn tile_video(peer: &str) -> Option<HtmlVideoElement> {
    let document = web_sys::window()?.document()?;
    document
        .query_selector(&format!("#grid figure[data-peer=\"{peer}\"] video"))
        .ok()??
        .dyn_into()
        .ok()
}

/// Resolves at the next frame the element presents
/// (`requestVideoFrameCallback`).
async fn next_frame(video: &HtmlVideoElement) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        if let Ok(request) = js_sys::Reflect::get(video, &"requestVideoFrameCallback".into()) {
            if let Some(request) = request.dyn_ref::<js_sys::Function>() {
                let _ = request.call1(video, &resolve);
            }
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Records `window.peerlensDemo.firstFrameMs` at the first remote frame.
fn time_first_frame(peer: String, started: f64) {
    wasm_bindgen_futures::spawn_local(async move {
        // The tile's video exists once its first track arrived.
        let Some(video) = tile_video(&peer) else {
            return;
        };
        next_frame(&video).await;
        set_hook("firstFrameMs", &JsValue::from_f64(now() - started));
    });
}

async fn poll_stats(room: std::rc::Weak<Room>, tiles: Rc<RefCell<Tiles>>) {
    let mut ticks = gloo_timers::future::IntervalStream::new(1000);
    while ticks.next().await.is_some() {
        let Some(room) = room.upgrade() else { break };
        for peer in room.peers() {
            if let Ok(stats) = room.stats(&peer.id).await {
                tiles.borrow().set_stats(&peer.id, &stats);
            }
        }
    }
}

async fn run_call(
    page: &Page,
    signaling: Signaling,
    signaling_events: mpsc::UnboundedReceiver<peerlens::SignalingEvent>,
    stream: Option<MediaStream>,
    tiles: Rc<RefCell<Tiles>>,
) {
    let options = CallOptions {
        stream,
        ..CallOptions::default()
    };
    let (call, mut events) = match Call::start(signaling, signaling_events, options) {
        Ok(started) => started,
        Err(e) => {
            page.status(&e.to_string(), true);
            return;
        }
    };
    let role = if call.is_offerer() {
        "sender"
    } else {
        "receiver"
    };
    page.status(&format!("Calling as the {role}."), false);
    while let Some(event) = events.next().await {
        let mut tiles = tiles.borrow_mut();
        match event {
            CallEvent::Track { track, streams } => tiles.add_track("remote", &track, &streams),
            CallEvent::State(state) => {
                tiles.set_state("remote", state.as_str());
                if state == peerlens::PeerState::Connected {
                    page.status(&format!("Connected as the {role}."), false);
                }
            }
            CallEvent::Signaling(state) => page.signaling_state(&state),
            CallEvent::Error(e) => page.log_error(e.name(), &e.to_string()),
        }
    }
    drop(call);
}
