//! What this page sends to the room: the camera's audio always, and as
//! video the shared screen while there is one, else the processed camera
//! while an effect is on, else the camera itself. Every change is a track
//! swap (`replace_track`), never a renegotiation.
//!
//! A hidden page (another tab in front) sends what a visible one does: the
//! effects write to a track generator, which keeps the camera's rate
//! behind another tab, so the raw camera never goes out while an effect is
//! on.
//!
//! The camera picker and the screen-share button live here, since both
//! change the video that is sent.

use std::{
    cell::RefCell,
    rc::{Rc, Weak},
};

use peerlens::{media::display_media, Camera, CameraConstraints, DeviceKind, Room};
use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::{HtmlSelectElement, HtmlVideoElement, MediaStream, MediaStreamTrack};

use crate::{effects_panel::EffectsPanel, Page};

pub struct Outgoing {
    page: Page,
    /// The stream the room published. Its video track is swapped in place
    /// when another camera is picked, so the mute buttons keep working.
    camera: MediaStream,
    panel: Option<Rc<EffectsPanel>>,
    processed: Option<MediaStream>,
    effects_on: bool,
    screen: Option<MediaStreamTrack>,
    room: Weak<Room>,
    /// Listeners that live as long as the page sends.
    listeners: Vec<Closure<dyn FnMut(web_sys::Event)>>,
}

pub type Shared = Rc<RefCell<Outgoing>>;

fn first_video(stream: &MediaStream) -> Option<MediaStreamTrack> {
    stream.get_video_tracks().get(0).dyn_into().ok()
}

impl Outgoing {
    /// Wires the camera picker and the screen-share button; the camera is
    /// sent until [`Outgoing::start_effects`] has the effects running.
    pub fn install(page: &Page, camera: MediaStream, room: &Rc<Room>) -> Shared {
        let outgoing = Rc::new(RefCell::new(Outgoing {
            page: page.clone(),
            camera,
            effects_on: false,
            panel: None,
            processed: None,
            screen: None,
            room: Rc::downgrade(room),
            listeners: Vec::new(),
        }));
        let weak = Rc::downgrade(&outgoing);
        let on_pick = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            if let Some(outgoing) = weak.upgrade() {
                wasm_bindgen_futures::spawn_local(pick_camera(outgoing));
            }
        });
        if let Some(select) = page.element::<HtmlSelectElement>("camera-select") {
            let _ =
                select.add_event_listener_with_callback("change", on_pick.as_ref().unchecked_ref());
        }
        let weak = Rc::downgrade(&outgoing);
        let on_share = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            if let Some(outgoing) = weak.upgrade() {
                wasm_bindgen_futures::spawn_local(toggle_screen(outgoing));
            }
        });
        if let Some(button) = page.element::<web_sys::HtmlElement>("share-screen") {
            let _ =
                button.add_event_listener_with_callback("click", on_share.as_ref().unchecked_ref());
        }
        outgoing.borrow_mut().listeners.extend([on_pick, on_share]);
        wasm_bindgen_futures::spawn_local(list_cameras(page.clone(), Rc::clone(&outgoing)));
        outgoing
    }

    /// Starts the effects on the camera, in the background: joining does
    /// not wait for the worker and the models. Once they run, the picker
    /// decides whether peers get the processed video.
    pub fn start_effects(outgoing: &Shared) {
        let weak = Rc::downgrade(outgoing);
        let (page, camera) = {
            let o = outgoing.borrow();
            (o.page.clone(), Clone::clone(&o.camera))
        };
        wasm_bindgen_futures::spawn_local(async move {
            let Some((panel, processed)) = EffectsPanel::start(&page, &camera).await else {
                return;
            };
            let Some(outgoing) = weak.upgrade() else {
                return;
            };
            let weak = Rc::downgrade(&outgoing);
            panel.on_switch(move |on| {
                if let Some(outgoing) = weak.upgrade() {
                    outgoing.borrow_mut().effects_on = on;
                    wasm_bindgen_futures::spawn_local(send(outgoing));
                }
            });
            let on = {
                let mut o = outgoing.borrow_mut();
                o.panel = Some(Rc::new(panel));
                o.processed = Some(processed);
                o.effects_on = EffectsPanel::any_on(&page);
                o.effects_on
            };
            if on {
                send(outgoing).await;
            }
        });
    }

    /// The video to send now, and the stream the local preview shows.
    fn current(&self) -> (Option<MediaStreamTrack>, MediaStream) {
        if let Some(screen) = &self.screen {
            let preview = MediaStream::new_with_tracks(&js_sys::Array::of1(screen))
                .unwrap_or_else(|_| Clone::clone(&self.camera));
            return (Some(screen.clone()), preview);
        }
        let source = match (&self.processed, self.effects_on) {
            (Some(processed), true) => processed,
            _ => &self.camera,
        };
        (first_video(source), Clone::clone(source))
    }
}

/// Shows and sends what [`Outgoing::current`] says.
async fn send(outgoing: Shared) {
    let (track, preview, room, page) = {
        let o = outgoing.borrow();
        let (track, preview) = o.current();
        (track, preview, o.room.upgrade(), o.page.clone())
    };
    if let Some(video) = page.element::<HtmlVideoElement>("local") {
        video.set_src_object(Some(&preview));
    }
    let Some(room) = room else { return };
    if let Err(e) = room.replace_track("video", track.as_ref()).await {
        page.log_error(e.name(), &e.to_string());
    }
}

/// Fills the camera picker with the video inputs, the current one
/// selected. Labels are known once the camera was allowed.
async fn list_cameras(page: Page, outgoing: Shared) {
    let Some(select) = page.element::<HtmlSelectElement>("camera-select") else {
        return;
    };
    let devices = match peerlens::devices().await {
        Ok(devices) => devices,
        Err(e) => {
            page.log_error(e.name(), &e.to_string());
            return;
        }
    };
    let current = first_video(&outgoing.borrow().camera)
        .map(|t| t.get_settings().get_device_id().unwrap_or_default())
        .unwrap_or_default();
    select.set_inner_html("");
    let cameras = devices.iter().filter(|d| d.kind == DeviceKind::VideoInput);
    for (i, device) in cameras.enumerate() {
        let Ok(option) = page.document.create_element("option") else {
            continue;
        };
        let _ = option.set_attribute("value", &device.device_id);
        let label = if device.label.is_empty() {
            format!("Camera {}", i + 1)
        } else {
            device.label.clone()
        };
        option.set_text_content(Some(&label));
        if device.device_id == current {
            let _ = option.set_attribute("selected", "");
        }
        let _ = select.append_child(&option);
    }
    select.set_disabled(select.length() < 2);
}

/// Opens the picked camera and swaps its video track in for the old one.
async fn pick_camera(outgoing: Shared) {
    let page = outgoing.borrow().page.clone();
    let Some(select) = page.element::<HtmlSelectElement>("camera-select") else {
        return;
    };
    let device = select.value();
    let constraints = CameraConstraints::default().size(640, 480).device(device);
    let opened = match Camera::open(&constraints).await {
        Ok(camera) => camera.into_stream(),
        Err(e) => {
            page.log_error(e.name(), &e.to_string());
            page.status(&crate::plain_camera_error(&e), true);
            return;
        }
    };
    let Some(new_track) = first_video(&opened) else {
        return;
    };
    let (camera, panel) = {
        let o = outgoing.borrow();
        (Clone::clone(&o.camera), o.panel.clone())
    };
    let old = first_video(&camera);
    if let Some(old) = &old {
        new_track.set_enabled(old.enabled());
        camera.remove_track(old);
    }
    camera.add_track(&new_track);
    if let Some(panel) = panel {
        // The effects now read the new camera; their old output ends.
        if let Some(processed) = panel.reapply(&page, &camera).await {
            outgoing.borrow_mut().processed = Some(processed);
        }
    }
    send(outgoing).await;
    // Only once nothing sends it any more.
    if let Some(old) = old {
        old.stop();
    }
}

/// Starts or stops sharing the screen in place of the camera.
async fn toggle_screen(outgoing: Shared) {
    let page = outgoing.borrow().page.clone();
    let sharing = outgoing.borrow_mut().screen.take();
    if let Some(screen) = sharing {
        screen.stop();
    } else {
        let track = match display_media(false).await {
            Ok(screen) => first_video(&screen.into_stream()),
            Err(e) => {
                // Cancelling the browser's picker lands here too.
                page.log_error(e.name(), &e.to_string());
                None
            }
        };
        if let Some(track) = &track {
            // The browser's own "Stop sharing" ends the track.
            let weak = Rc::downgrade(&outgoing);
            let ended = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                if let Some(outgoing) = weak.upgrade() {
                    if outgoing.borrow().screen.is_some() {
                        wasm_bindgen_futures::spawn_local(toggle_screen(outgoing));
                    }
                }
            });
            track.set_onended(Some(ended.as_ref().unchecked_ref()));
            outgoing.borrow_mut().listeners.push(ended);
        }
        outgoing.borrow_mut().screen = track;
    }
    let shared = outgoing.borrow().screen.is_some();
    if let Some(button) = page.element::<web_sys::HtmlElement>("share-screen") {
        button.set_text_content(Some(if shared {
            "Stop sharing"
        } else {
            "Share screen"
        }));
        let _ = button.set_attribute("aria-pressed", if shared { "true" } else { "false" });
    }
    send(outgoing).await;
}
