//! `bench effects`: peerlens's Effects on the face video (640x480 at 30
//! fps, Chromium's fake camera) for each effect combination, in worker and
//! main-thread mode, against two anchors doing the same background blur:
//! @mediapipe/selfie_segmentation (WebGL on SwiftShader) and a plain-JS
//! page running onnxruntime-web (wasm, one thread). Then a long run for
//! memory after 10,000 frames.
//!
//! Beside the default (two workers on a machine with two cores, frames
//! out through a track generator): one worker, the canvas paths, a page
//! hidden behind another tab for the whole run, and 1280x720.

use std::{path::Path, time::Duration};

use peerlens_e2e::{wait_for, Browser, Chromedriver, TestServer};
use serde_json::Value;

const BLUR: &str = r#"{"background":{"kind":"blur","radius":10}}"#;
const COMBOS: &[(&str, &str)] = &[
    ("none (pass-through)", "{}"),
    ("face boxes", r#"{"faceBoxes":true}"#),
    ("face mesh", r#"{"faceMesh":true}"#),
    ("blur", BLUR),
    (
        "removal",
        r#"{"background":{"kind":"remove","color":[0,0,0,0]}}"#,
    ),
    (
        "boxes + mesh + blur",
        r#"{"faceBoxes":true,"faceMesh":true,"background":{"kind":"blur","radius":10}}"#,
    ),
    (
        "boxes + mesh + blur, segmentEvery 2",
        r#"{"faceBoxes":true,"faceMesh":true,"segmentEvery":2,"background":{"kind":"blur","radius":10}}"#,
    ),
];
const LONG_RUN_FRAMES: u64 = 10_000;

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn run_page(browser: &Browser, url: &str, timeout: Duration) -> Value {
    browser.goto(url);
    wait_result(browser, url, timeout)
}

/// Runs the page behind a tab opened in front of it as soon as it starts,
/// so it loads, warms up and measures hidden; then brings it back to read
/// its result.
fn run_page_hidden(browser: &Browser, url: &str, timeout: Duration) -> Value {
    browser.goto(url);
    let page = browser.open_tab_in_front();
    std::thread::sleep(Duration::from_secs(25));
    browser.switch_to(&page);
    wait_result(browser, url, timeout)
}

fn wait_result(browser: &Browser, url: &str, timeout: Duration) -> Value {
    let result = wait_for("the benchmark page", timeout, || {
        browser
            .execute("return window.benchResult ? JSON.stringify(window.benchResult) : null;")
            .as_str()
            .map(|s| serde_json::from_str::<Value>(s).expect("benchmark JSON"))
    });
    if result["ok"] != Value::Bool(true) {
        eprintln!("{url} failed: {}", result["error"]);
        std::process::exit(1);
    }
    result
}

/// One row of the effects table: `mode` is followed by the number of
/// workers and the frame path (how frames came in, how they went out).
fn print_row(name: &str, mode: &str, r: &Value) {
    let ms = &r["ms"];
    let workers = match r["workers"].as_u64() {
        Some(n) if mode.starts_with("worker") => format!(" ×{n}"),
        _ => String::new(),
    };
    let per_worker = r["workerMs"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(role, ms)| format!("{role} {:.1}", num(ms)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    // What the page saw while it measured, when not only "visible".
    let hidden = match r["visibility"].as_str() {
        Some("visible") | None => String::new(),
        Some(states) => format!(", {states}"),
    };
    println!(
        "| {name} | {mode}{workers}{hidden} ({} → {}) | **{:.1}** | {:.1} | {} | {}/{} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {per_worker} | {:.2} |",
        r["source"].as_str().unwrap_or("?"),
        r["output"].as_str().unwrap_or("?"),
        num(&r["fpsOut"]),
        num(&r["fpsIn"]),
        r["dropped"],
        r["processedDelta"],
        r["framesDelta"],
        num(&ms["preprocess"]),
        num(&ms["faces"]),
        num(&ms["segmentation"]),
        num(&ms["compositing"]),
        num(&ms["drawing"]),
        num(&ms["upload"]),
        num(&ms["total"]),
        num(&r["mainThreadMs"]),
    );
}

fn table_header() {
    println!("| effects | mode | output fps | camera fps | dropped | processed/frames | preprocess | faces | segmentation | compositing | drawing | upload | total ms | ms/frame by worker | main-thread ms/frame |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

pub fn run(dir: &Path, video: &str, video_720p: &str) {
    let server = TestServer::start(Some(dir.to_path_buf()));
    let base = server.http_url();
    let driver = Chromedriver::start();
    let camera = format!("--use-file-for-fake-video-capture={video}");
    let page_timeout = Duration::from_secs(180);

    println!();
    println!("effects: 640x480 at 30 fps (the face video as Chromium's camera), warm-up 4 s, 10 s measured; output fps counted on the output track");
    println!();
    table_header();
    let mut blur_fps = f64::NAN;
    let user_agent;
    {
        let browser = driver.browser_with(&[&camera], &[]);
        let mut agent = String::new();
        for mode in ["worker", "main"] {
            // PEERLENS_BENCH_ONLY=<text> runs only the combinations whose
            // name contains it, for quick iterations.
            let only = std::env::var("PEERLENS_BENCH_ONLY").unwrap_or_default();
            for (name, fx) in COMBOS.iter().filter(|(n, _)| n.contains(only.as_str())) {
                let r = run_page(
                    &browser,
                    &format!("{base}/peerlens.html?mode={mode}&fx={}", encode(fx)),
                    page_timeout,
                );
                agent = r["userAgent"].as_str().unwrap_or_default().to_owned();
                if mode == "worker" && *fx == BLUR {
                    blur_fps = num(&r["fpsOut"]);
                }
                let thread = r["thread"].as_str().unwrap_or(mode).to_owned();
                print_row(name, &thread, &r);
            }
        }
        // One worker doing everything, beside the default two.
        for (name, fx) in COMBOS.iter().filter(|(n, _)| n.starts_with("boxes")) {
            let r = run_page(
                &browser,
                &format!(
                    "{base}/peerlens.html?mode=worker&workers=1&fx={}",
                    encode(fx)
                ),
                page_timeout,
            );
            print_row(name, "worker", &r);
        }
        // A page hidden behind another tab from start to end.
        for (name, fx) in COMBOS
            .iter()
            .filter(|(n, _)| *n == "blur" || n.starts_with("boxes + mesh + blur"))
        {
            let r = run_page_hidden(
                &browser,
                &format!("{base}/peerlens.html?mode=worker&fx={}", encode(fx)),
                page_timeout,
            );
            print_row(name, "worker", &r);
        }
        // The canvas paths beside the generator: the worker drawing on the
        // transferred canvas the page captures, or handing frames back as
        // bitmaps.
        for (output, label) in [
            ("transferred", "worker, canvas"),
            ("bitmaps", "worker, bitmaps out"),
        ] {
            for (name, fx) in COMBOS.iter().filter(|(n, _)| n.starts_with("boxes")) {
                let r = run_page(
                    &browser,
                    &format!(
                        "{base}/peerlens.html?mode=worker&output={output}&fx={}",
                        encode(fx)
                    ),
                    page_timeout,
                );
                print_row(name, label, &r);
            }
        }
        let ort = run_page(
            &browser,
            &format!("{base}/ort.html?radius=10"),
            page_timeout,
        );
        println!(
            "| blur: onnxruntime-web page (plain conversion, wasm 1 thread) | main | **{:.1}** | | | | | | | | | | | | {:.2} |",
            num(&ort["fpsOut"]),
            num(&ort["mainThreadMs"]),
        );
        println!();
        println!(
            "blur, peerlens (worker) vs onnxruntime-web page: **{:.2}x** the fps",
            blur_fps / num(&ort["fpsOut"])
        );
        user_agent = agent;
    }
    {
        // 1280x720: the same picture, larger, as the camera.
        let camera = format!("--use-file-for-fake-video-capture={video_720p}");
        let browser = driver.browser_with(&[&camera], &[]);
        println!();
        println!("1280x720 at 30 fps:");
        println!();
        table_header();
        for (name, fx) in COMBOS
            .iter()
            .filter(|(n, _)| *n == "blur" || *n == "boxes + mesh + blur")
        {
            for workers in [2, 1] {
                let r = run_page(
                    &browser,
                    &format!(
                        "{base}/peerlens.html?mode=worker&workers={workers}&width=1280&height=720&fx={}",
                        encode(fx)
                    ),
                    page_timeout,
                );
                print_row(name, "worker", &r);
            }
        }
    }
    {
        // MediaPipe needs WebGL: SwiftShader, and the GPU process on.
        let browser = driver.browser_with(
            &[
                &camera,
                "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader",
            ],
            &["--disable-gpu"],
        );
        let mp = run_page(
            &browser,
            &format!("{base}/mediapipe.html?radius=10"),
            page_timeout,
        );
        let same = run_page(
            &browser,
            &format!("{base}/peerlens.html?mode=worker&fx={}", encode(BLUR)),
            page_timeout,
        );
        println!(
            "blur, @mediapipe/selfie_segmentation (WebGL: {}): **{:.1} fps**, main thread {:.2} ms/frame",
            mp["webgl"].as_str().unwrap_or("?"),
            num(&mp["fpsOut"]),
            num(&mp["mainThreadMs"])
        );
        println!(
            "blur, peerlens (worker) with the same browser flags: **{:.1} fps**",
            num(&same["fpsOut"])
        );
        println!(
            "blur, peerlens (worker) vs MediaPipe: **{:.2}x** (standard flags), **{:.2}x** (same flags)",
            blur_fps / num(&mp["fpsOut"]),
            num(&same["fpsOut"]) / num(&mp["fpsOut"])
        );
    }
    // PEERLENS_BENCH_SHORT=1 skips the long run, for quick iterations.
    if std::env::var_os("PEERLENS_BENCH_SHORT").is_none() {
        let browser = driver.browser_with(&[&camera], &[]);
        println!();
        println!(
            "memory: worker mode, boxes + mesh + blur, until {LONG_RUN_FRAMES} frames (about {} min)",
            LONG_RUN_FRAMES / 30 / 60 + 1
        );
        let fx = COMBOS[5].1;
        let r = run_page(
            &browser,
            &format!(
                "{base}/peerlens.html?mode=worker&fx={}&frames={LONG_RUN_FRAMES}",
                encode(fx)
            ),
            Duration::from_secs(LONG_RUN_FRAMES / 10 + 120),
        );
        println!();
        println!("| frames | worker wasm memory MB | worker live JS refs | open camera frames | page JS heap MB |");
        println!("|---|---|---|---|---|");
        for m in r["memory"].as_array().into_iter().flatten() {
            println!(
                "| {} | {:.2} | {} | {} | {:.1} |",
                m["frames"],
                num(&m["wasmBytes"]) / 1048576.0,
                m["liveRefs"],
                m["openFrames"],
                num(&m["jsHeap"]) / 1048576.0,
            );
        }
    }
    let chrome = user_agent
        .split_whitespace()
        .find(|p| p.contains("Chrome/"))
        .unwrap_or("Chromium");
    println!();
    println!("headless {chrome}");
}
