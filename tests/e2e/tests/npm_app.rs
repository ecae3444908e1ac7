//! The npm package as an app uses it: the Vite app of tests/npm/app,
//! built against `pkg/` (wasm-pack), in two headless Chromiums joined in
//! one room on the reference server: camera, effects in the worker, and
//! each other's processed video.
//!
//! The first app keeps no reference to its camera, effects or room, and
//! the test runs the garbage collector in it (`--expose-gc`) until the
//! handles are gone: the call must go on. The second keeps its handles
//! and stops everything at the end, which must end it for the first.

use std::time::{Duration, Instant};

use peerlens_e2e::{npm_app, wait_for, Browser, Chromedriver, TestServer, UNTHROTTLED};
use serde_json::Value;

fn app(browser: &Browser) -> Value {
    browser.execute(
        "const v = [...document.querySelectorAll('#remote video')].map(v => ({
             width: v.videoWidth, frames: v.getVideoPlaybackQuality().totalVideoFrames }));
         const app = window.app || {};
         return { ...app, remote: v,
                  running: app.running ? app.running() : null,
                  collected: app.handles ? app.handles.filter(h => !h.deref()).length : null };",
    )
}

fn remote_frames(state: &Value) -> u64 {
    state["remote"][0]["frames"].as_u64().unwrap_or(0)
}

/// Waits for `browser`'s one remote video to advance by 10 frames.
fn remote_video_advances(browser: &Browser, who: &str) {
    let before = remote_frames(&app(browser));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = app(browser);
        if remote_frames(&state) >= before + 10 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{who}'s remote video did not advance from {before} frames: {state}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_vite_app_runs_the_package_camera_effects_and_a_room_of_two() {
    let server = TestServer::start(Some(npm_app()));
    let driver = Chromedriver::start();
    // Two windows, one of them in the background, both at full speed
    // (the processed stream is a canvas), with `gc()` exposed.
    let flags: Vec<&str> = UNTHROTTLED
        .iter()
        .copied()
        .chain(["--js-flags=--expose-gc"])
        .collect();
    let browsers: Vec<Browser> = (0..2).map(|_| driver.browser_with(&flags, &[])).collect();
    // One after the other: the second starts once the first has joined, so
    // the two do not compile the wasm and load the models at the same time
    // on a 2-core machine.
    for (i, browser) in browsers.iter().enumerate() {
        let keep = if i == 1 { "&keep=1" } else { "" };
        browser.goto(&format!("{}/?room=npm&name=p{i}{keep}", server.http_url()));
        wait_for(&format!("p{i} to join"), Duration::from_secs(90), || {
            let state = app(browser);
            if let Some(error) = state["error"].as_str() {
                panic!("p{i}: {error}");
            }
            (state["status"] == "joined").then_some(())
        });
    }
    for (i, browser) in browsers.iter().enumerate() {
        wait_for(
            &format!("p{i} to show the other's video"),
            Duration::from_secs(60),
            || {
                let state = app(browser);
                if let Some(error) = state["error"].as_str() {
                    panic!("p{i}: {error}");
                }
                let remote = state["remote"].as_array()?;
                (remote.len() == 1 && remote[0]["width"].as_u64().unwrap_or(0) > 0).then_some(())
            },
        );
        remote_video_advances(browser, &format!("p{i}"));
        wait_for(
            &format!("p{i}'s effects to process frames"),
            Duration::from_secs(60),
            || (app(browser)["effectsFrames"].as_u64().unwrap_or(0) > 10).then_some(()),
        );
    }

    // p0 holds no handle: collect them, then the call must still run.
    let p0 = &browsers[0];
    wait_for(
        "p0's camera, effects and room handles to be collected",
        Duration::from_secs(30),
        || {
            p0.execute("gc(); return null;");
            (app(p0)["collected"] == 3).then_some(())
        },
    );
    // The FinalizationRegistry frees the handles in later tasks.
    std::thread::sleep(Duration::from_secs(2));
    let state = app(p0);
    assert_eq!(
        state["running"], 3,
        "p0 still runs camera, effects and room: {state}"
    );
    remote_video_advances(p0, "p0 (after its handles were collected)");
    remote_video_advances(&browsers[1], "p1 (after p0's handles were collected)");
    let frames = app(p0)["effectsFrames"].as_u64().unwrap_or(0);
    wait_for(
        "p0's effects to go on after its handles were collected",
        Duration::from_secs(10),
        || (app(p0)["effectsFrames"].as_u64().unwrap_or(0) > frames + 10).then_some(()),
    );

    // p1 stops what it started: nothing of it runs, and p0's tile goes.
    let p1 = &browsers[1];
    assert_eq!(app(p1)["running"], 3, "p1 runs camera, effects and room");
    p1.execute("window.app.stop(); return null;");
    assert_eq!(app(p1)["running"], 0, "stop() and leave() end everything");
    wait_for(
        "p1's tile to leave p0's page",
        Duration::from_secs(5),
        || {
            let state = app(p0);
            state["remote"].as_array()?.is_empty().then_some(())
        },
    );

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
