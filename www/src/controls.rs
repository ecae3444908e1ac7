//! Call controls: mute the microphone, stop the camera, leave.

use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::{MediaStream, MediaStreamTrack};

use crate::Page;

/// The controls' listeners; they stay installed while this lives.
pub struct Controls {
    _listeners: Vec<Closure<dyn FnMut(web_sys::Event)>>,
}

/// Flips `enabled` on the tracks of `kind`; returns whether they are now
/// muted.
fn toggle(stream: &MediaStream, kind: &str) -> bool {
    let mut muted = false;
    for track in stream.get_tracks().iter() {
        if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
            if track.kind() == kind {
                track.set_enabled(!track.enabled());
                muted = !track.enabled();
            }
        }
    }
    muted
}

impl Controls {
    /// Shows the controls and wires them to `camera`'s tracks.
    pub fn install(page: &Page, camera: Option<MediaStream>) -> Self {
        let mut listeners = Vec::new();
        let mut on_click = |id: &str, mut action: Box<dyn FnMut(&web_sys::HtmlElement)>| {
            let Some(button) = page.element::<web_sys::HtmlElement>(id) else {
                return;
            };
            let target = button.clone();
            let listener = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| action(&target));
            let _ =
                button.add_event_listener_with_callback("click", listener.as_ref().unchecked_ref());
            listeners.push(listener);
        };
        for (id, kind, on, off) in [
            ("mute-mic", "audio", "Unmute mic", "Mute mic"),
            ("mute-cam", "video", "Start camera", "Stop camera"),
        ] {
            let camera = camera.clone();
            on_click(
                id,
                Box::new(move |button| {
                    let Some(camera) = &camera else { return };
                    let muted = toggle(camera, kind);
                    button.set_text_content(Some(if muted { on } else { off }));
                    let _ =
                        button.set_attribute("aria-pressed", if muted { "true" } else { "false" });
                }),
            );
        }
        let leave_page = page.clone();
        on_click(
            "leave",
            Box::new(move |_| {
                // Reloading without `autojoin` closes every connection (the
                // others see this peer leave) and shows the join form.
                let room = leave_page.input("room");
                let name = leave_page.input("name");
                if let (Some(window), Ok(params)) =
                    (web_sys::window(), web_sys::UrlSearchParams::new())
                {
                    params.append("room", &room);
                    params.append("name", &name);
                    let query: String = params.to_string().into();
                    let _ = window.location().set_search(&query);
                }
            }),
        );
        if let Some(controls) = page.element::<web_sys::HtmlElement>("controls") {
            let _ = controls.remove_attribute("hidden");
        }
        Self {
            _listeners: listeners,
        }
    }
}
