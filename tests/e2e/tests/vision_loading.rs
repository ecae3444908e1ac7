//! What a page downloads: the vision module is a wasm of its own, fetched
//! on the first use of the effects and never by `init()`, and then only
//! the build the probe chose (or the one the app forced). The network log
//! is the test site's own server's (`LoggedSite`), which records every
//! request, the worker's included.
//!
//! The page is tests/pages/vision-loading.html, with the library and the
//! vision module's debug builds in `target/e2e-site/pkg`.

use std::time::Duration;

use peerlens_e2e::{test_site, wait_for, Browser, Chromedriver, LoggedSite, TestServer};
use serde_json::Value;

fn outcome(browser: &Browser) -> Value {
    let result = wait_for("the page's result", Duration::from_secs(90), || {
        let value = browser.execute("return window.result || null;");
        (!value.is_null()).then_some(value)
    });
    assert_eq!(result["ok"], true, "the page failed: {result}");
    result
}

/// The vision wasm files among the requests.
fn vision_wasms(site: &LoggedSite) -> Vec<String> {
    site.requests()
        .into_iter()
        .filter(|path| path.contains("peerlens_vision") && path.ends_with(".wasm"))
        .collect()
}

#[test]
fn a_calls_only_page_never_requests_a_vision_wasm() {
    let site = LoggedSite::start(test_site());
    let signaling = TestServer::start(None);
    let driver = Chromedriver::start();
    let browser = driver.browser();
    let ws = format!("{}/ws", signaling.http_url().replacen("http", "ws", 1));
    browser.goto(&format!("{}/vision-loading.html?signal={ws}", site.url()));
    let result = outcome(&browser);
    assert_eq!(result["joined"], true, "{result}");
    let requests = site.requests();
    assert!(
        requests
            .iter()
            .any(|p| p.ends_with("/pkg/peerlens_bg.wasm")),
        "the main module was fetched: {requests:?}"
    );
    assert!(
        requests
            .iter()
            .all(|p| !p.contains("peerlens_vision") && !p.contains("peerlens_worker")),
        "a calls-only page fetched vision files: {requests:?}"
    );
}

/// Loads the effects with `query` and returns the page's outcome and the
/// vision wasms it fetched.
fn effects_page(query: &str) -> (Value, Vec<String>) {
    let site = LoggedSite::start(test_site());
    let driver = Chromedriver::start();
    let browser = driver.browser();
    browser.goto(&format!(
        "{}/vision-loading.html?effects{query}",
        site.url()
    ));
    let result = outcome(&browser);
    assert!(
        result["frames"].as_u64().unwrap_or(0) > 0,
        "no frames drawn: {result}"
    );
    (result, vision_wasms(&site))
}

fn wasm_of(build: &str) -> &'static str {
    match build {
        "relaxed-simd" => "/pkg/peerlens_vision_relaxed_bg.wasm",
        "simd128" => "/pkg/peerlens_vision_bg.wasm",
        other => panic!("unknown build {other}"),
    }
}

#[test]
fn the_effects_worker_fetches_exactly_the_probed_build() {
    let (result, wasms) = effects_page("");
    let probe = result["probe"].as_str().expect("Chromium has SIMD");
    assert_eq!(result["thread"], "worker", "{result}");
    assert_eq!(result["visionBuild"], probe, "{result}");
    assert_eq!(result["statsBuild"], probe, "{result}");
    assert_eq!(wasms, [wasm_of(probe)], "{result}");
}

#[test]
fn a_forced_build_is_the_one_fetched_on_the_main_thread_too() {
    let (result, wasms) = effects_page("&mode=main&build=simd128");
    assert_eq!(result["thread"], "main", "{result}");
    assert_eq!(result["statsThread"], "main", "{result}");
    assert_eq!(result["visionBuild"], "simd128", "{result}");
    assert_eq!(result["statsBuild"], "simd128", "{result}");
    assert_eq!(wasms, [wasm_of("simd128")], "{result}");
}
