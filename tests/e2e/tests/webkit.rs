//! WebKitGTK (Debian's MiniBrowser, under Xvfb) through the harness's own
//! WebDriver client, with the media settings turned on: which frame and
//! call APIs it has, the camera and its typed errors, the effects on the
//! standard frame path, the vision module without SIMD, and a room with a
//! Chromium peer, which this WebKit cannot call because its build has no
//! WebRTC.
//!
//! The page is tests/pages/webkit.html with the library's debug build in
//! `target/e2e-site/pkg`.

use std::time::Duration;

use peerlens_e2e::{
    test_site, wait_for, Browser, Chromedriver, LoggedSite, TestServer, WebKitDriver, MEDIA_ARGS,
};
use serde_json::Value;

fn outcome(browser: &Browser) -> Value {
    let result = wait_for("the page's result", Duration::from_secs(120), || {
        let value = browser.execute("return window.result || null;");
        (!value.is_null()).then_some(value)
    });
    assert_eq!(result["ok"], true, "the page failed: {result}");
    result
}

fn run(driver: &WebKitDriver, args: &[&str], site: &LoggedSite, query: &str) -> Value {
    let browser = driver.browser_with(args);
    browser.goto(&format!("{}/webkit.html?{query}", site.url()));
    outcome(&browser)
}

/// The APIs this WebKit has with every media setting on: the standard
/// frame path (processor and `VideoTrackGenerator` in workers, track
/// transfer), `OffscreenCanvas` in workers and canvas capture, but no
/// `MediaStreamTrackGenerator` (Chromium's) and no `RTCPeerConnection`.
#[test]
fn webkit_has_the_standard_frame_path_and_no_webrtc() {
    let site = LoggedSite::start(test_site());
    let driver = WebKitDriver::start();
    let result = run(&driver, &MEDIA_ARGS, &site, "probe");
    let page = &result["page"];
    assert_eq!(page["RTCPeerConnection"], false, "{result}");
    assert_eq!(page["MediaStreamTrackGenerator"], false, "{result}");
    assert_eq!(page["VideoFrame"], true, "{result}");
    assert_eq!(page["captureStream"], true, "{result}");
    let worker = &result["worker"];
    assert_eq!(worker["VideoTrackGenerator"], true, "{result}");
    assert_eq!(worker["MediaStreamTrackProcessor"], true, "{result}");
    assert_eq!(worker["OffscreenCanvas2d"], true, "{result}");
    assert_eq!(result["trackTransfer"], true, "{result}");
    // Safari has no relaxed SIMD, nor has this WebKit by default.
    assert_eq!(result["visionBuild"], "simd128", "{result}");
}

#[test]
fn the_camera_opens_and_its_errors_are_typed() {
    let site = LoggedSite::start(test_site());
    let driver = WebKitDriver::start();
    let result = run(&driver, &MEDIA_ARGS, &site, "camera");
    assert_eq!(
        (result["width"].as_u64(), result["height"].as_u64()),
        (Some(640), Some(480)),
        "{result}"
    );
    assert_eq!(result["missing"]["name"], "Overconstrained", "{result}");
    // Without the mock devices there is no camera at all: still a typed
    // error, not a hang.
    let args: Vec<&str> = MEDIA_ARGS
        .iter()
        .copied()
        .filter(|a| !a.starts_with("--enable-mock-capture-devices"))
        .map(|a| {
            if a.starts_with("--features=") {
                "--features=+MediaStreamTrackProcessing"
            } else {
                a
            }
        })
        .collect();
    let result = run(&driver, &args, &site, "camera-error");
    assert_eq!(result["opened"], false, "{result}");
    let name = result["name"].as_str().unwrap_or_default();
    assert!(
        [
            "NotFound",
            "Overconstrained",
            "PermissionDenied",
            "NotReadable"
        ]
        .contains(&name),
        "a typed camera error: {result}"
    );
}

/// Face boxes and blur on the mock camera: the effects take the standard
/// path (the track moves to a worker, `VideoTrackGenerator` there), in the
/// simd128 build, and the output shows a picture.
#[test]
fn the_effects_run_on_the_standard_frame_path() {
    let site = LoggedSite::start(test_site());
    let driver = WebKitDriver::start();
    let result = run(&driver, &MEDIA_ARGS, &site, "effects");
    assert_eq!(result["loaded"], true, "{result}");
    assert_eq!(result["errors"], serde_json::json!([]), "{result}");
    assert_eq!(result["thread"], "worker", "{result}");
    assert_eq!(result["path"]["input"], "processor", "{result}");
    assert_eq!(result["path"]["output"], "videoTrackGenerator", "{result}");
    assert_eq!(result["visionBuild"], "simd128", "{result}");
    let stats = &result["stats"];
    assert!(stats["processed"].as_u64().unwrap_or(0) >= 10, "{result}");
    assert_eq!(stats["output"], "videoTrackGenerator", "{result}");
    let picture = &result["picture"];
    assert_eq!(
        (picture["width"].as_u64(), picture["height"].as_u64()),
        (Some(640), Some(480)),
        "{result}"
    );
    assert_eq!(
        picture["opaque"], picture["pixels"],
        "an opaque picture: {result}"
    );
    assert!(
        picture["lumaStd"].as_f64().unwrap_or(0.0) > 5.0,
        "a picture, not a blank: {result}"
    );
}

/// With WebAssembly SIMD switched off in JavaScriptCore, no vision build
/// can run: the main module (built without SIMD) still loads, loading the
/// effects is a typed error that fetches no vision wasm, and the camera
/// still plays.
#[test]
fn without_wasm_simd_the_effects_fail_typed_and_the_camera_plays() {
    let site = LoggedSite::start(test_site());
    let driver = WebKitDriver::start_with_env(&[("JSC_useWasmSIMD", "0")]);
    let probe = run(&driver, &MEDIA_ARGS, &site, "probe");
    assert_eq!(
        probe["visionBuild"],
        Value::Null,
        "no build can run: {probe}"
    );
    let result = run(&driver, &MEDIA_ARGS, &site, "effects");
    assert_eq!(result["loaded"], false, "{result}");
    assert_eq!(result["name"], "Unsupported", "{result}");
    assert!(
        result["message"]
            .as_str()
            .unwrap_or_default()
            .contains("simd128"),
        "{result}"
    );
    assert!(
        result["picture"]["lumaStd"].as_f64().unwrap_or(0.0) > 5.0,
        "{result}"
    );
    let requests = site.requests();
    assert!(
        requests.iter().all(|p| !p.contains("peerlens_vision")),
        "no vision wasm is fetched when none can run: {requests:?}"
    );
}

/// A 1:1 call with a Chromium peer over the reference server: WebKit joins
/// the room, and its peer connection to the Chromium side fails with
/// `NoWebRtc`, naming the peer, instead of a bare `ReferenceError`.
#[test]
fn a_call_with_a_chromium_peer_fails_typed_for_lack_of_webrtc() {
    let site = LoggedSite::start(test_site());
    let signaling = TestServer::start(None);
    let ws = format!("{}/ws", signaling.http_url().replacen("http", "ws", 1));
    let chromedriver = Chromedriver::start();
    let chromium = chromedriver.browser();
    chromium.goto(&format!("{}/vision-loading.html?signal={ws}", site.url()));
    let joined = outcome(&chromium);
    assert_eq!(joined["joined"], true, "{joined}");
    let driver = WebKitDriver::start();
    let result = run(
        &driver,
        &MEDIA_ARGS,
        &site,
        &format!("signal={ws}&room=vision-loading"),
    );
    assert_eq!(result["joined"], true, "WebKit joins the room: {result}");
    assert_eq!(result["name"], "NoWebRtc", "{result}");
    assert!(
        result["peer"].is_string(),
        "the error names the peer: {result}"
    );
}
