//! `whenHidden`, on the captured-canvas output (the path of browsers
//! without a track generator, forced here with `workerOutput:
//! "transferred"`): with "camera" the output stream carries the camera's
//! track while the page is behind another tab, each swap announced; with
//! "freeze" (the default) it keeps the canvas's track and nothing is
//! announced.
//!
//! The page is tests/pages/when-hidden.html on the test site.

use std::time::Duration;

use peerlens_e2e::{test_site, wait_for, Chromedriver, LoggedSite};
use serde_json::{json, Value};

/// Loads the page with `query`, hides it behind a tab for 3 s, shows it
/// again; returns what the output carried while hidden (as the page saw
/// it) and the swaps the page was told of, once it is visible again.
fn hide_and_show(query: &str) -> (Vec<Value>, Value) {
    let site = LoggedSite::start(test_site());
    let driver = Chromedriver::start();
    let browser = driver.browser();
    browser.goto(&format!("{}/when-hidden.html{query}", site.url()));
    let result = wait_for("the page's result", Duration::from_secs(90), || {
        let value = browser.execute("return window.result || null;");
        (!value.is_null()).then_some(value)
    });
    assert_eq!(result["ok"], true, "the page failed: {result}");
    assert_eq!(result["output"], "canvasCapture", "{result}");
    assert_eq!(result["track"], "canvas", "{result}");
    let page = browser.open_tab_in_front();
    std::thread::sleep(Duration::from_secs(3));
    browser.switch_to(&page);
    // The page recorded what it carried while hidden; read it now.
    std::thread::sleep(Duration::from_millis(1500));
    let swaps = browser.execute("return window.swaps;");
    let seen = browser.execute("return window.seen;");
    let hidden: Vec<Value> = seen
        .as_array()
        .expect("window.seen")
        .iter()
        .filter(|s| s["visibility"] == "hidden")
        .cloned()
        .collect();
    assert_eq!(hidden.len(), 2, "two looks while hidden: {seen}");
    let now = browser.execute("return window.current();");
    assert_eq!(
        now,
        json!({ "tracks": 1, "track": "canvas", "first": true }),
        "visible again, the output carries the canvas's track"
    );
    (hidden, swaps)
}

#[test]
fn when_hidden_camera_swaps_the_camera_in_while_the_page_is_hidden() {
    let (hidden, swaps) = hide_and_show("?whenHidden=camera");
    for look in &hidden {
        assert_eq!(
            look,
            &json!({ "visibility": "hidden", "tracks": 1, "track": "camera", "first": false }),
            "hidden, the output carries the camera's track alone"
        );
    }
    assert_eq!(
        swaps,
        json!([
            { "visibility": "hidden", "track": "camera", "inStream": true },
            { "visibility": "visible", "track": "canvas", "inStream": true },
        ]),
        "the camera while hidden, the canvas once shown, each announced"
    );
}

#[test]
fn when_hidden_freeze_keeps_the_canvas_track_and_announces_nothing() {
    let (hidden, swaps) = hide_and_show("");
    for look in &hidden {
        assert_eq!(
            look,
            &json!({ "visibility": "hidden", "tracks": 1, "track": "canvas", "first": true }),
            "hidden, the output keeps the canvas's track"
        );
    }
    assert_eq!(swaps, json!([]), "no swap by default");
}
