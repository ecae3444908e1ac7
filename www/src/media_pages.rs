//! The pages beside the room, one for each system peerlens replaces that
//! needs a media server:
//! - **Echo** (`?page=echo`): the processed camera goes to Janus's EchoTest
//!   and comes back;
//! - **Playback** (`?page=playback`): a Janus Streaming mountpoint, fed
//!   from a video file by ffmpeg, with Start and Stop.
//!
//! (The Relay pages are the call page with the relay codec; see main.rs.)
//!
//! Where the services are comes from the URL (`janus=`, `mountpoint=`,
//! `relay=`) or else from `services.json`, which `cargo xtask demo` writes
//! next to the page once it has started them. Without either, or when a
//! service does not answer, the page says so in words.

use std::{cell::RefCell, collections::BTreeMap, rc::Rc};

use futures::{channel::mpsc, StreamExt};
use peerlens::{
    janus::{
        EchoTest, Janus, JanusError, JanusEvent, JanusMediaEvent, JanusOptions, StreamingPlayer,
    },
    Camera,
};
use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::{HtmlButtonElement, HtmlVideoElement};

use crate::{effects_panel::EffectsPanel, Page, Tiles};

/// Where the demo's media services listen.
pub struct Services {
    pub janus: Option<String>,
    pub mountpoint: u64,
    pub relay: Option<String>,
}

/// What `cargo xtask demo` says it started, if it wrote `services.json`.
async fn services_file() -> serde_json::Value {
    let Ok(response) = gloo_net::http::Request::get("services.json").send().await else {
        return serde_json::Value::Null;
    };
    if !response.ok() {
        return serde_json::Value::Null;
    }
    let text = response.text().await.unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

pub async fn services(page: &Page) -> Services {
    let file = services_file().await;
    let from_file = |key: &str| file[key].as_str().map(str::to_owned);
    Services {
        janus: page.param("janus").or_else(|| from_file("janus")),
        mountpoint: page
            .param("mountpoint")
            .and_then(|m| m.parse().ok())
            .or_else(|| file["mountpoint"].as_u64())
            .unwrap_or(1),
        relay: page.param("relay-url").or_else(|| from_file("relay")),
    }
}

const NOT_RUNNING: &str = "The Janus media server is not running. `cargo xtask demo` starts it \
     (with Janus installed by `cargo xtask setup`).";

/// Connects to Janus, or says in words why not.
async fn connect(
    page: &Page,
    services: &Services,
) -> Option<(Janus, mpsc::UnboundedReceiver<JanusEvent>)> {
    let Some(url) = &services.janus else {
        page.status(NOT_RUNNING, true);
        return None;
    };
    match Janus::connect(url, JanusOptions::default()).await {
        Ok(connected) => Some(connected),
        Err(e) => {
            page.log_error(e.name(), &e.to_string());
            let words = match e {
                JanusError::Connect { .. } | JanusError::Disconnected => {
                    format!("The Janus media server is not answering at {url}. {NOT_RUNNING}")
                }
                other => format!("Janus refused the session: {other}"),
            };
            page.status(&words, true);
            None
        }
    }
}

fn tiles(page: &Page) -> Rc<RefCell<Tiles>> {
    Rc::new(RefCell::new(Tiles {
        page: page.clone(),
        tiles: BTreeMap::new(),
    }))
}

/// Shows a plugin's media events in the tile `name`; returns when Janus
/// or the plugin ends.
fn show_media(page: &Page, tiles: &Rc<RefCell<Tiles>>, tile: &str, event: JanusMediaEvent) {
    let mut tiles = tiles.borrow_mut();
    match event {
        JanusMediaEvent::Track { track, streams, .. } => tiles.add_track(tile, &track, &streams),
        JanusMediaEvent::State { state, .. } => tiles.set_state(tile, state.as_str()),
        JanusMediaEvent::Status(status) => {
            if let Some((figure, _, _)) = tiles.tiles.get(tile) {
                let _ = figure.set_attribute("data-status", &status);
            }
        }
        JanusMediaEvent::Error(e) => page.log_error(e.name(), &e.to_string()),
        _ => {}
    }
}

/// The Echo page: the camera, with the effects picked, through Janus's
/// EchoTest and back.
pub async fn echo(page: &Page, camera: Option<Camera>) {
    let Some(camera) = camera else {
        // The camera error is already shown.
        return;
    };
    let panel = EffectsPanel::start(page, camera.stream()).await;
    let sent = panel
        .as_ref()
        .map_or_else(|| Clone::clone(camera.stream()), |(_, p)| Clone::clone(p));
    if let Some(video) = page.element::<HtmlVideoElement>("local") {
        video.set_src_object(Some(&sent));
    }
    let services = services(page).await;
    let Some((janus, mut lost)) = connect(page, &services).await else {
        return;
    };
    page.status("Connected to Janus; starting the echo…", false);
    let (echo, mut events) = match EchoTest::start(&janus, &sent).await {
        Ok(started) => started,
        Err(e) => {
            page.log_error(e.name(), &e.to_string());
            page.status(&format!("The echo could not start: {e}"), true);
            return;
        }
    };
    page.status(
        "Echoing: the tile shows your video after a round trip through Janus.",
        false,
    );
    let tiles = tiles(page);
    tiles.borrow_mut().ensure("echo", "Echo from Janus");
    loop {
        futures::select! {
            event = events.next() => match event {
                Some(event) => show_media(page, &tiles, "echo", event),
                None => break,
            },
            event = lost.next() => if let Some(JanusEvent::Lost(e)) = event {
                page.log_error(e.name(), &e.to_string());
                page.status("Janus went away; reload to try again.", true);
                break;
            },
        }
    }
    drop((echo, panel, camera));
}

#[derive(Clone, Copy)]
enum Command {
    Start,
    Stop,
}

/// The Playback page: Start watches the mountpoint, Stop ends it.
pub async fn playback(page: &Page) {
    let services = services(page).await;
    let (start, stop) = (
        page.element::<HtmlButtonElement>("play-start"),
        page.element::<HtmlButtonElement>("play-stop"),
    );
    let (Some(start), Some(stop)) = (start, stop) else {
        return;
    };
    let (commands_tx, mut commands) = mpsc::unbounded();
    let mut listeners = Vec::new();
    for (button, command) in [(&start, Command::Start), (&stop, Command::Stop)] {
        let tx = commands_tx.clone();
        let listener = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            let _ = tx.unbounded_send(command);
        });
        let _ = button.add_event_listener_with_callback("click", listener.as_ref().unchecked_ref());
        listeners.push(listener);
    }
    let Some((janus, mut lost)) = connect(page, &services).await else {
        start.set_disabled(true);
        return;
    };
    let mountpoint = services.mountpoint;
    page.status(
        &format!("Connected to Janus. Start plays mountpoint {mountpoint}."),
        false,
    );
    start.set_disabled(false);
    let tiles = tiles(page);
    let (media_tx, mut media) = mpsc::unbounded::<JanusMediaEvent>();
    let mut player: Option<StreamingPlayer> = None;
    loop {
        futures::select! {
            command = commands.next() => match command {
                Some(Command::Start) if player.is_none() => {
                    start.set_disabled(true);
                    page.status("Starting playback…", false);
                    match StreamingPlayer::watch(&janus, mountpoint).await {
                        Ok((started, mut events)) => {
                            tiles.borrow_mut().ensure("playback", "Playback from Janus");
                            let tx = media_tx.clone();
                            wasm_bindgen_futures::spawn_local(async move {
                                while let Some(event) = events.next().await {
                                    let _ = tx.unbounded_send(event);
                                }
                            });
                            player = Some(started);
                            stop.set_disabled(false);
                            page.status("Playing the server's video.", false);
                        }
                        Err(e) => {
                            page.log_error(e.name(), &e.to_string());
                            page.status(&format!("Playback could not start: {e}"), true);
                            start.set_disabled(false);
                        }
                    }
                }
                Some(Command::Stop) => {
                    if let Some(playing) = player.take() {
                        if let Err(e) = playing.stop().await {
                            page.log_error(e.name(), &e.to_string());
                        }
                    }
                    tiles.borrow_mut().remove("playback");
                    stop.set_disabled(true);
                    start.set_disabled(false);
                    page.status("Stopped. Start plays it again.", false);
                }
                Some(Command::Start) => {}
                None => break,
            },
            event = media.next() => if let Some(event) = event {
                if player.is_some() {
                    show_media(page, &tiles, "playback", event);
                }
            },
            event = lost.next() => if let Some(JanusEvent::Lost(e)) = event {
                page.log_error(e.name(), &e.to_string());
                page.status("Janus went away; reload to try again.", true);
                start.set_disabled(true);
                stop.set_disabled(true);
                break;
            },
        }
    }
    drop((player, listeners));
}
