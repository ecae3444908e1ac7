//! Browser tests: run by wasm-bindgen-test in headless Chromium and headless
//! Firefox (`cargo xtask test`), with the browsers' fake camera and
//! microphone (tests/webdriver.json).
//!
//! Tests whose name contains `chromium_only` run in Chromium only; each says
//! why.
#![cfg(target_arch = "wasm32")]

use std::{cell::RefCell, rc::Rc};

use js_sys::{Promise, Reflect};
use peerlens::{Camera, CameraConstraints};
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{
    CanvasRenderingContext2d, HtmlCanvasElement, HtmlVideoElement, MediaStream, RtcPeerConnection,
    RtcPeerConnectionIceEvent, RtcSdpType, RtcSessionDescriptionInit, RtcTrackEvent,
};

wasm_bindgen_test_configure!(run_in_browser);

#[path = "browser/effects.rs"]
mod effects;
#[path = "browser/effects_live.rs"]
mod effects_live;
#[path = "browser/rtc.rs"]
mod rtc;

fn is_chromium() -> bool {
    web_sys::window()
        .and_then(|w| w.navigator().user_agent().ok())
        .is_some_and(|ua| ua.contains("Chrome/"))
}

async fn sleep(ms: i32) {
    let promise = Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// Polls `ready` every 50 ms for up to `timeout_ms`.
async fn wait_until(what: &str, timeout_ms: i32, mut ready: impl FnMut() -> bool) {
    let mut waited = 0;
    while !ready() {
        assert!(
            waited < timeout_ms,
            "timed out after {timeout_ms} ms waiting for {what}"
        );
        sleep(50).await;
        waited += 50;
    }
}

async fn await_js(promise: Promise, what: &str) -> JsValue {
    JsFuture::from(promise)
        .await
        .unwrap_or_else(|e| panic!("{what} failed: {e:?}"))
}

/// Draws the element's current frame and returns its RGBA pixels.
fn pixels(video: &HtmlVideoElement) -> (u32, u32, Vec<u8>) {
    let (w, h) = (video.video_width(), video.video_height());
    let document = web_sys::window().unwrap().document().unwrap();
    let canvas: HtmlCanvasElement = document.create_element("canvas").unwrap().unchecked_into();
    canvas.set_width(w);
    canvas.set_height(h);
    let ctx: CanvasRenderingContext2d = canvas.get_context("2d").unwrap().unwrap().unchecked_into();
    ctx.draw_image_with_html_video_element(video, 0.0, 0.0)
        .unwrap();
    let data = ctx
        .get_image_data(0.0, 0.0, w as f64, h as f64)
        .unwrap()
        .data()
        .0;
    (w, h, data)
}

/// A frame is blank when it is uniformly black or fully transparent, which
/// is what an element shows before any frame has been decoded.
fn assert_not_blank(data: &[u8]) {
    assert!(!data.is_empty(), "no pixels");
    let opaque = data.chunks_exact(4).all(|px| px[3] == 255);
    let brightest = data
        .chunks_exact(4)
        .map(|px| px[0].max(px[1]).max(px[2]))
        .max()
        .unwrap_or(0);
    if !opaque {
        let pixels = data.len() / 4;
        let transparent: Vec<usize> = (0..pixels).filter(|i| data[i * 4 + 3] != 255).collect();
        panic!(
            "frame has transparent pixels: {} of {pixels}, the first at {} with {:?}",
            transparent.len(),
            transparent[0],
            &data[transparent[0] * 4..][..4]
        );
    }
    assert!(
        brightest > 16,
        "frame is black (brightest channel {brightest})"
    );
}

thread_local! {
    /// The video elements made so far, newest last.
    static VIDEOS: RefCell<std::collections::VecDeque<HtmlVideoElement>> = RefCell::default();
}

/// A muted, autoplaying video element of `stream`. Only the two newest
/// keep their streams: every element left playing is a media player, and
/// WebKit draws new ones blank now and then with dozens running.
fn video_element(stream: &MediaStream) -> HtmlVideoElement {
    VIDEOS.with(|videos| {
        let mut videos = videos.borrow_mut();
        while videos.len() >= 2 {
            if let Some(old) = videos.pop_front() {
                let _ = old.pause();
                old.set_src_object(None);
            }
        }
    });
    let video = new_video_element(stream);
    VIDEOS.with(|videos| videos.borrow_mut().push_back(Clone::clone(&video)));
    video
}

fn new_video_element(stream: &MediaStream) -> HtmlVideoElement {
    let document = web_sys::window().unwrap().document().unwrap();
    let video: HtmlVideoElement = document.create_element("video").unwrap().unchecked_into();
    video.set_muted(true);
    video.set_autoplay(true);
    video.set_src_object(Some(stream));
    video
}

#[wasm_bindgen_test]
async fn camera_opens_a_live_track_of_the_requested_size() {
    let camera = Camera::open(&CameraConstraints::default().size(640, 480))
        .await
        .expect("the fake camera opens");
    let track = camera.video_track().expect("a video track");
    assert_eq!(track.ready_state(), web_sys::MediaStreamTrackState::Live);
    let (w, h) = camera.video_size().expect("track settings have a size");
    if is_chromium() {
        assert_eq!(
            (w, h),
            (640, 480),
            "Chromium's fake camera honours the request"
        );
    } else {
        // Firefox's fake camera has one fixed size whatever is asked.
        assert!(w > 0 && h > 0, "size {w}x{h}");
    }
    drop(camera);
    assert_eq!(
        track.ready_state(),
        web_sys::MediaStreamTrackState::Ended,
        "dropping the Camera stops its tracks"
    );
}

/// Connects two peer connections on this page and sends the camera from the
/// first to the second; returns the second side's stream.
struct Loopback {
    a: RtcPeerConnection,
    b: RtcPeerConnection,
    remote: Rc<RefCell<Option<MediaStream>>>,
    _handlers: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.a.close();
        self.b.close();
    }
}

impl Loopback {
    async fn connect(stream: &MediaStream) -> Self {
        let a = RtcPeerConnection::new().expect("RTCPeerConnection a");
        let b = RtcPeerConnection::new().expect("RTCPeerConnection b");
        let mut handlers = Vec::new();
        for (from, to) in [(&a, &b), (&b, &a)] {
            let to = to.clone();
            let on_candidate = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let event: RtcPeerConnectionIceEvent = event.unchecked_into();
                if let Some(candidate) = event.candidate() {
                    let _ = to.add_ice_candidate_with_opt_rtc_ice_candidate(Some(&candidate));
                }
            });
            from.set_onicecandidate(Some(on_candidate.as_ref().unchecked_ref()));
            handlers.push(on_candidate);
        }
        let remote = Rc::new(RefCell::new(None));
        let on_track = Closure::<dyn FnMut(JsValue)>::new({
            let remote = Rc::clone(&remote);
            move |event: JsValue| {
                let event: RtcTrackEvent = event.unchecked_into();
                if let Ok(stream) = event.streams().get(0).dyn_into::<MediaStream>() {
                    *remote.borrow_mut() = Some(stream);
                }
            }
        });
        b.set_ontrack(Some(on_track.as_ref().unchecked_ref()));
        handlers.push(on_track);

        for track in stream.get_video_tracks().iter() {
            a.add_track_0(&track.unchecked_into(), stream);
        }
        let offer = await_js(a.create_offer(), "createOffer").await;
        let offer_sdp = Reflect::get(&offer, &"sdp".into())
            .unwrap()
            .as_string()
            .unwrap();
        let init = RtcSessionDescriptionInit::new(RtcSdpType::Offer);
        init.set_sdp(&offer_sdp);
        await_js(a.set_local_description(&init), "a.setLocalDescription").await;
        await_js(b.set_remote_description(&init), "b.setRemoteDescription").await;
        let answer = await_js(b.create_answer(), "createAnswer").await;
        let answer_sdp = Reflect::get(&answer, &"sdp".into())
            .unwrap()
            .as_string()
            .unwrap();
        let init = RtcSessionDescriptionInit::new(RtcSdpType::Answer);
        init.set_sdp(&answer_sdp);
        await_js(b.set_local_description(&init), "b.setLocalDescription").await;
        await_js(a.set_remote_description(&init), "a.setRemoteDescription").await;
        Self {
            a,
            b,
            remote,
            _handlers: handlers,
        }
    }
}

#[wasm_bindgen_test]
async fn a_camera_frame_crosses_a_loopback_peer_connection() {
    let camera = Camera::open(&CameraConstraints::default().size(640, 480))
        .await
        .expect("the fake camera opens");
    let (cam_w, cam_h) = camera.video_size().expect("camera size");
    let link = Loopback::connect(camera.stream()).await;
    wait_until("the remote track", 10_000, || {
        link.remote.borrow().is_some()
    })
    .await;
    let remote = link.remote.borrow().clone().unwrap();
    let video = video_element(&remote);
    let _ = video.play();
    wait_until("a decoded remote frame", 15_000, || {
        video.ready_state() >= 2 && video.video_width() > 0
    })
    .await;
    if is_chromium() {
        // The sender may start below full size while its bandwidth estimate
        // ramps up, so wait for the size the camera was asked for.
        wait_until("the remote frame to reach 640x480", 10_000, || {
            (video.video_width(), video.video_height()) == (640, 480)
        })
        .await;
    }
    let (w, h, data) = pixels(&video);
    // Firefox adapts the sent resolution (its fake camera reports 640x480
    // but sends 320x240, then 480x360); the aspect ratio is always kept.
    assert_eq!(
        w * cam_h,
        h * cam_w,
        "remote {w}x{h} vs camera {cam_w}x{cam_h}"
    );
    assert_eq!(data.len(), (w * h * 4) as usize);
    assert_not_blank(&data);
}
