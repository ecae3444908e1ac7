//! `bench media-server DIR FACE_Y4M`: time from publishing to the first
//! echoed frame through Janus's EchoTest, for peerlens (the processed
//! stream with face boxes running, and the plain camera) and for a
//! plain-JS EchoTest page, in the same run against the same Janus.

use std::{path::Path, time::Duration};

use peerlens_e2e::{wait_for, Browser, Chromedriver, Janus, TestServer};
use serde_json::Value;

/// Echo sessions timed per row.
const RUNS: usize = 15;

fn ready(browser: &Browser, url: &str, check: &str) {
    browser.goto(url);
    wait_for("the page to load", Duration::from_secs(60), || {
        browser
            .execute(&format!("return {check};"))
            .as_bool()
            .filter(|r| *r)
    });
}

/// Runs `call` (a promise of milliseconds) `RUNS` times.
fn time_runs(browser: &Browser, call: impl Fn(usize) -> String) -> Vec<f64> {
    (0..RUNS)
        .map(|i| {
            let script = format!(
                "const done = arguments[arguments.length - 1];
                 Promise.resolve().then(() => {}).then(ms => done({{ ms }}), e => done({{ error: String(e) }}));",
                call(i)
            );
            let result = browser.execute_async(&script);
            if let Some(error) = result["error"].as_str() {
                eprintln!("run {i} failed: {error}");
                std::process::exit(1);
            }
            result["ms"].as_f64().expect("milliseconds")
        })
        .collect()
}

fn row(name: &str, runs: &[f64], baseline: f64) {
    let median = super::median(runs.to_vec());
    let min = runs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = runs.iter().copied().fold(0.0, f64::max);
    println!(
        "| {name:<42} | {:>4} | {median:>8.1} | {min:>7.1} | {max:>7.1} | {:>6.2}x |",
        runs.len(),
        median / baseline
    );
}

pub fn run(dir: &Path, video: &str) {
    let janus = Janus::start();
    let server = TestServer::start(Some(dir.to_path_buf()));
    let driver = Chromedriver::start();
    let camera = format!("--use-file-for-fake-video-capture={video}");
    let flags = [
        camera.as_str(),
        "--disable-features=WebRtcHideLocalIpsWithMdns",
    ];
    let url = janus.ws_url();

    // One browser at a time, so no row shares the CPU with another page.
    let plain = {
        let browser = driver.browser_with(&flags, &[]);
        ready(
            &browser,
            &format!("{}/plain-echo.html", server.http_url()),
            "typeof window.echoOnce === 'function'",
        );
        browser.execute_async(
            "const done = arguments[arguments.length - 1]; openCamera().then(() => done(true));",
        );
        time_runs(&browser, |i| format!("echoOnce({url:?}, 'run{i}')"))
    };
    let (camera_runs, processed_runs) = {
        let browser = driver.browser_with(&flags, &[]);
        ready(
            &browser,
            &format!("{}/media-server.html", server.http_url()),
            "!!(window.t && t.ready)",
        );
        let camera_runs = time_runs(&browser, |i| {
            format!("t.echoTimed({url:?}, false, 'cam{i}')")
        });
        browser.execute_async("const done = arguments[arguments.length - 1]; t.effects().then(() => done(true), e => done(String(e)));");
        // The effects run before the first timed publish.
        wait_for("processed frames", Duration::from_secs(60), || {
            let frames = browser.execute(
                "const v = t.videos.processed; return v ? v.getVideoPlaybackQuality().totalVideoFrames : 0;",
            );
            (frames.as_u64().unwrap_or(0) > 30).then_some(())
        });
        let processed_runs =
            time_runs(&browser, |i| format!("t.echoTimed({url:?}, true, 'fx{i}')"));
        let errors: Value = browser.execute("return t.errors;");
        if errors.as_array().is_some_and(|e| !e.is_empty()) {
            eprintln!("page errors: {errors}");
        }
        (camera_runs, processed_runs)
    };
    let baseline = super::median(plain.clone());
    println!("\n### Publish to first echoed frame through Janus EchoTest (ms)\n");
    println!("Janus 1.1.2 on 127.0.0.1, headless Chromium, camera: the 640x480 face video; {RUNS} runs per row; each run connects a new Janus session.\n");
    println!("| page | runs | median | min | max | vs plain JS |");
    println!("|---|---:|---:|---:|---:|---:|");
    row("plain-JS EchoTest page (camera)", &plain, baseline);
    row("peerlens, camera", &camera_runs, baseline);
    row(
        "peerlens, processed stream (face boxes running)",
        &processed_runs,
        baseline,
    );
}
