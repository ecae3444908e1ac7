//! The peerlens demo page: a camera preview and room presence against the
//! reference server.
//!
//! It uses the library as any Rust web app would. Calls, effects and the
//! grid of remote videos arrive with the pieces of the library that provide
//! them.

use std::collections::BTreeMap;

use futures::{channel::mpsc, future::Either, SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message};
use peerlens::{Camera, CameraConstraints};
use peerlens_protocol::{ClientMessage, PeerInfo, ServerMessage};
use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::{Document, HtmlInputElement, HtmlVideoElement};

fn main() {
    wasm_bindgen_futures::spawn_local(run());
}

struct Page {
    document: Document,
}

impl Page {
    fn element<T: JsCast>(&self, id: &str) -> Option<T> {
        self.document.get_element_by_id(id)?.dyn_into().ok()
    }

    fn status(&self, text: &str, is_error: bool) {
        if let Some(el) = self.document.get_element_by_id("status") {
            el.set_text_content(Some(text));
            el.set_class_name(if is_error { "error" } else { "" });
        }
    }

    fn input(&self, id: &str) -> String {
        self.element::<HtmlInputElement>(id)
            .map(|i| i.value())
            .unwrap_or_default()
    }

    fn render_peers(&self, peers: &BTreeMap<String, String>) {
        let Some(list) = self.document.get_element_by_id("peers") else {
            return;
        };
        list.set_inner_html("");
        for (id, name) in peers {
            if let Ok(item) = self.document.create_element("li") {
                let label = if name.is_empty() {
                    id.as_str()
                } else {
                    name.as_str()
                };
                item.set_text_content(Some(label));
                let _ = list.append_child(&item);
            }
        }
    }
}

fn socket_url(page: &Page) -> Option<String> {
    let location = page.document.location()?;
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Some(format!("{scheme}://{}/ws", location.host().ok()?))
}

async fn run() {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let page = Page { document };

    // The camera stays open for the page's lifetime: `_camera` lives as long
    // as this task, which runs until the page closes.
    let _camera = match Camera::open(&CameraConstraints::default().size(640, 480)).await {
        Ok(camera) => {
            if let Some(video) = page.element::<HtmlVideoElement>("local") {
                video.set_src_object(Some(camera.stream()));
            }
            page.status("Camera on. Pick a room and join.", false);
            Some(camera)
        }
        Err(e) => {
            page.status(&format!("Camera unavailable: {e}"), true);
            None
        }
    };

    let (joins_tx, joins) = mpsc::unbounded::<(String, String)>();
    let on_submit = Closure::<dyn FnMut(web_sys::Event)>::new({
        let page = Page {
            document: page.document.clone(),
        };
        move |event: web_sys::Event| {
            event.prevent_default();
            let _ = joins_tx.unbounded_send((page.input("room"), page.input("name")));
        }
    });
    if let Some(form) = page.document.get_element_by_id("join") {
        let _ = form.add_event_listener_with_callback("submit", on_submit.as_ref().unchecked_ref());
    }

    let Some(url) = socket_url(&page) else {
        page.status(
            "Cannot work out the server address from this page's URL.",
            true,
        );
        return;
    };
    let socket = match WebSocket::open(&url) {
        Ok(socket) => socket,
        Err(e) => {
            page.status(&format!("Signaling server unreachable: {e}"), true);
            return;
        }
    };
    let (mut to_server, from_server) = socket.split();
    let mut events =
        futures::stream::select(joins.map(Either::Left), from_server.map(Either::Right));
    let mut peers = BTreeMap::new();
    while let Some(event) = events.next().await {
        match event {
            Either::Left((room, name)) => {
                let join = ClientMessage::Join {
                    room,
                    name,
                    peer_id: None,
                };
                if to_server.send(Message::Text(join.to_json())).await.is_err() {
                    page.status("Lost the connection to the signaling server.", true);
                }
            }
            Either::Right(Ok(Message::Text(text))) => match ServerMessage::from_json(&text) {
                Ok(ServerMessage::Welcome {
                    id, peers: present, ..
                }) => {
                    peers = present.into_iter().map(|p| (p.id, p.name)).collect();
                    page.status(&format!("Joined as {id}."), false);
                    page.render_peers(&peers);
                }
                Ok(ServerMessage::PeerJoined {
                    peer: PeerInfo { id, name },
                }) => {
                    peers.insert(id, name);
                    page.render_peers(&peers);
                }
                Ok(ServerMessage::PeerLeft { id }) => {
                    peers.remove(&id);
                    page.render_peers(&peers);
                }
                Ok(ServerMessage::Error { message, .. }) => page.status(&message, true),
                Ok(_) => {}
                Err(e) => page.status(&format!("Unreadable message from the server: {e}"), true),
            },
            Either::Right(Ok(Message::Bytes(_))) => {}
            Either::Right(Err(e)) => {
                page.status(&format!("Signaling server unreachable: {e}"), true);
                break;
            }
        }
    }
    drop(on_submit);
}
