//! The npm package as an app uses it: the Vite app of tests/npm/app,
//! built against `pkg/` (wasm-pack), in two headless Chromiums joined in
//! one room on the reference server: camera, effects in the worker, and
//! each other's processed video.

use std::time::Duration;

use peerlens_e2e::{npm_app, wait_for, Browser, Chromedriver, TestServer};
use serde_json::Value;

fn app(browser: &Browser) -> Value {
    browser.execute(
        "const v = [...document.querySelectorAll('#remote video')].map(v => ({
             width: v.videoWidth, frames: v.getVideoPlaybackQuality().totalVideoFrames }));
         return { ...(window.app || {}), remote: v };",
    )
}

#[test]
fn the_vite_app_runs_the_package_camera_effects_and_a_room_of_two() {
    let server = TestServer::start(Some(npm_app()));
    let driver = Chromedriver::start();
    // Two windows, one of them in the background: without these flags
    // Chromium throttles the background page's canvas capture (the
    // processed stream) to about a frame a second.
    let flags = [
        "--disable-renderer-backgrounding",
        "--disable-background-timer-throttling",
        "--disable-backgrounding-occluded-windows",
    ];
    let browsers: Vec<Browser> = (0..2).map(|_| driver.browser_with(&flags, &[])).collect();
    for (i, browser) in browsers.iter().enumerate() {
        browser.goto(&format!("{}/?room=npm&name=p{i}", server.http_url()));
    }
    for (i, browser) in browsers.iter().enumerate() {
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        let state = loop {
            let state = app(browser);
            if let Some(error) = state["error"].as_str() {
                panic!("p{i}: {error}");
            }
            let playing = state["remote"]
                .as_array()
                .is_some_and(|v| v.len() == 1 && v[0]["width"].as_u64().unwrap_or(0) > 0);
            if state["status"] == "joined" && playing {
                break state;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "p{i} did not show the other's video within 90 s: {state}"
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        let before = state["remote"][0]["frames"].as_u64().unwrap_or(0);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let state = app(browser);
            if state["remote"][0]["frames"].as_u64().unwrap_or(0) >= before + 10 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "p{i}'s remote video did not advance from {before} frames: {state}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        wait_for(
            &format!("p{i}'s effects to process frames"),
            Duration::from_secs(30),
            || (app(browser)["effectsFrames"].as_u64().unwrap_or(0) > 10).then_some(()),
        );
    }
    for browser in &browsers {
        let errors: Vec<String> = browser
            .console()
            .into_iter()
            .filter(|e| e.level == "SEVERE")
            .map(|e| e.message)
            .collect();
        assert!(errors.is_empty(), "console errors: {errors:#?}");
    }
}
