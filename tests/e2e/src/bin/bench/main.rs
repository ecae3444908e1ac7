//! Benchmark drivers run by `cargo xtask bench ...`: each serves a page
//! the xtask assembled, runs it in headless Chromium, and prints a table.
//!
//! `bench vision DIR WASM_BYTES WASM_GZ_BYTES`
//! `bench rtc DIR`
//! `bench server SERVER_BIN ROOMS_CJS NODE_MODULES`
//! `bench media-server DIR FACE_Y4M`

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use peerlens_e2e::{wait_for, Chromedriver, TestServer};
use peerlens_vision::raw::RawModel;
use serde_json::Value;

mod effects;
mod media_server;
mod server_load;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("vision") if args.len() == 3 => vision(PathBuf::from(&args[1]), &args[2]),
        Some("rtc") if args.len() == 2 => rtc(PathBuf::from(&args[1])),
        Some("effects") if args.len() == 4 => {
            effects::run(&PathBuf::from(&args[1]), &args[2], &args[3])
        }
        Some("media-server") if args.len() == 3 => {
            media_server::run(&PathBuf::from(&args[1]), &args[2])
        }
        Some("server") if args.len() == 4 => server_load::run(&args[1], &args[2], &args[3]),
        _ => {
            eprintln!(
                "usage: bench vision DIR WASM_BYTES WASM_GZ_BYTES | bench rtc DIR | bench effects DIR FACE_Y4M FACE_720P_Y4M | bench media-server DIR FACE_Y4M | bench server SERVER_BIN ROOMS_CJS NODE_MODULES"
            );
            std::process::exit(2);
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Native tract: load time and median run time of one model.
fn native(
    dir: &std::path::Path,
    name: &str,
    input: &[usize],
    outputs: &[Vec<usize>],
    runs: usize,
) -> (f64, f64) {
    let bytes = std::fs::read(dir.join(format!("models/{name}.onnx"))).expect("model bytes");
    let raw = std::fs::read(dir.join(format!("inputs/{name}.f32"))).expect("input bytes");
    let data: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let shapes: Vec<&[usize]> = outputs.iter().map(Vec::as_slice).collect();
    let start = Instant::now();
    let mut model = RawModel::load(&bytes, input, &shapes).expect("the model loads natively");
    let load = start.elapsed().as_secs_f64() * 1e3;
    for _ in 0..10 {
        model.run(&data).expect("runs");
    }
    let times = (0..runs)
        .map(|_| {
            let start = Instant::now();
            model.run(&data).expect("runs");
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    (load, median(times))
}

fn vision(dir: PathBuf, sizes: &str) {
    let runs = 60;
    let server = TestServer::start(Some(dir.clone()));
    let driver = Chromedriver::start();
    let browser = driver.browser();
    browser.goto(&format!("{}/index.html?runs={runs}", server.http_url()));
    let result = wait_for(
        "the benchmark page to finish",
        Duration::from_secs(900),
        || {
            let value = browser
                .execute("return window.benchResult ? JSON.stringify(window.benchResult) : null;");
            value
                .as_str()
                .map(|s| serde_json::from_str::<Value>(s).expect("benchmark JSON"))
        },
    );
    if result["ok"] != Value::Bool(true) {
        eprintln!("the benchmark page failed: {}", result["error"]);
        std::process::exit(1);
    }
    let user_agent = result["userAgent"].as_str().unwrap_or_default();
    let chrome = user_agent
        .split_whitespace()
        .find(|p| p.contains("Chrome/"))
        .unwrap_or("Chromium");
    let models = [
        (
            "face_detection_short_range",
            vec![1, 128, 128, 3],
            vec![vec![1, 896, 16], vec![1, 896, 1]],
        ),
        (
            "face_landmark",
            vec![1, 192, 192, 3],
            vec![vec![1, 1, 1, 1404], vec![1, 1, 1, 1]],
        ),
        (
            "selfie_segmentation",
            vec![1, 256, 256, 3],
            vec![vec![1, 256, 256, 1]],
        ),
        (
            "selfie_segmentation_landscape",
            vec![1, 144, 256, 3],
            vec![vec![1, 144, 256, 1]],
        ),
    ];
    println!();
    println!(
        "vision: tract (the peerlens vision module, builds {} and {}, two instances in one page) vs onnxruntime-web {} (wasm, 1 thread, SIMD)",
        result["builds"]["simd"].as_str().unwrap_or("?"),
        result["builds"]["relaxed"].as_str().unwrap_or("?"),
        result["ort"]["web"].as_str().unwrap_or("?")
    );
    println!("headless {chrome}; median of {runs} interleaved runs after 10 warm-up runs; same input (astronaut fixture)");
    println!();
    println!("| model | tract simd128 ms | tract relaxed-simd ms | ORT plain ms | ORT on our file ms | simd128 / ORT best | relaxed-simd / ORT best | tract simd128, its own kernels ms | ours / its own | tract load+optimize ms | ORT load ms | native tract ms | native load ms |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for row in result["results"].as_array().into_iter().flatten() {
        let name = row["model"].as_str().unwrap_or_default();
        let Some((_, input, outputs)) = models.iter().find(|(n, _, _)| *n == name) else {
            continue;
        };
        let get = |key: &str| row[key].as_f64().unwrap_or(f64::NAN);
        let best = get("ort_plain_ms").min(get("ort_shipped_ms"));
        let (native_load, native_ms) = native(&dir, name, input, outputs, 100);
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2}x | **{:.2}x** | {:.2} | {:.2}x | {:.0} | {:.0} | {:.2} | {:.0} |",
            row["label"].as_str().unwrap_or(name),
            get("tract_ms"),
            get("tract_relaxed_ms"),
            get("ort_plain_ms"),
            get("ort_shipped_ms"),
            get("tract_ms") / best,
            get("tract_relaxed_ms") / best,
            get("tract_own_ms"),
            get("tract_ms") / get("tract_own_ms"),
            get("tract_load_ms"),
            get("ort_plain_load_ms"),
            native_ms,
            native_load,
        );
    }
    for row in result["results"].as_array().into_iter().flatten() {
        kernel_table(row);
    }
    for row in result["results"].as_array().into_iter().flatten() {
        profile_table(row);
    }
    println!();
    println!("vision module wasm, as shipped (no name section): {sizes}");
}

/// The GEMM kernels alone on one model's matrix-product shapes: the
/// heaviest shapes, and the whole model's products at each kernel's
/// measured speed.
fn kernel_table(row: &Value) {
    let label = row["label"].as_str().unwrap_or_default();
    let shapes = row["gemm"].as_array().cloned().unwrap_or_default();
    let num = |v: &Value, key: &str| v[key].as_f64().unwrap_or(f64::NAN);
    let flops = |v: &Value| 2.0 * num(v, "m") * num(v, "k") * num(v, "n") * num(v, "count");
    let mut shapes: Vec<&Value> = shapes.iter().collect();
    shapes.sort_by(|a, b| flops(b).total_cmp(&flops(a)));
    let kernel = shapes
        .first()
        .and_then(|s| s["kernel"].as_str())
        .unwrap_or("?");
    println!();
    println!("GEMM kernels on {label}'s products (tract picks {kernel}; bias + ReLU fused, packing excluded; best of 2 interleaved rounds):");
    println!();
    println!("| m x k x n | products | MFLOP per run | ours GFLOP/s | ours relaxed-simd GFLOP/s | tract 8x8 GFLOP/s | ours / tract | relaxed / simd128 |");
    println!("|---|---|---|---|---|---|---|---|");
    let (mut total, mut ours_ms, mut relaxed_ms, mut tract_ms) = (0.0, 0.0, 0.0, 0.0);
    for (ix, s) in shapes.iter().enumerate() {
        let (ours, relaxed, theirs) = (
            num(s, "ours_gflops"),
            num(s, "ours_relaxed_gflops"),
            num(s, "tract_gflops"),
        );
        total += flops(s);
        ours_ms += flops(s) / ours / 1e6;
        relaxed_ms += flops(s) / relaxed / 1e6;
        tract_ms += flops(s) / theirs / 1e6;
        if ix < 6 {
            println!(
                "| {}x{}x{} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2}x | {:.2}x |",
                s["m"],
                s["k"],
                s["n"],
                s["count"],
                flops(s) / 1e6,
                ours,
                relaxed,
                theirs,
                ours / theirs,
                relaxed / ours
            );
        }
    }
    if shapes.len() > 6 {
        println!("| ({} more shapes) | | | | | | | |", shapes.len() - 6);
    }
    println!(
        "| **all {} shapes** | | {:.1} | {:.2} | {:.2} | {:.2} | **{:.2}x** | **{:.2}x** |",
        shapes.len(),
        total / 1e6,
        total / ours_ms / 1e6,
        total / relaxed_ms / 1e6,
        total / tract_ms / 1e6,
        tract_ms / ours_ms,
        ours_ms / relaxed_ms
    );
}

/// Where one model's time goes, per tract op, with our kernels and with
/// tract's own.
fn profile_table(row: &Value) {
    let label = row["label"].as_str().unwrap_or_default();
    let ops = |key: &str| row[key].as_array().cloned().unwrap_or_default();
    let (ours, own) = (ops("profile"), ops("profile_own"));
    let ms = |v: &Value| v["ms"].as_f64().unwrap_or(0.0);
    let total = |list: &[Value]| list.iter().map(ms).sum::<f64>();
    let (ours_total, own_total) = (total(&ours), total(&own));
    println!();
    println!(
        "profile of {label} (mean of 10 profiled runs; {ours_total:.2} ms with ours, {own_total:.2} ms with tract's own kernels):"
    );
    println!();
    println!("| op | nodes | ms, our kernels | share | ms, tract's kernels |");
    println!("|---|---|---|---|---|");
    let cell = |v: Option<f64>| v.map_or("—".to_string(), |ms| format!("{ms:.2}"));
    let find =
        |list: &[Value], name: &str| list.iter().find(|o| o["op"].as_str() == Some(name)).map(ms);
    for op in ours.iter().take(8) {
        let name = op["op"].as_str().unwrap_or_default();
        println!(
            "| {name} | {} | {:.2} | {:.0}% | {} |",
            op["nodes"],
            ms(op),
            100.0 * ms(op) / ours_total,
            cell(find(&own, name))
        );
    }
    // What tract runs where our fused ops replaced its nodes.
    for op in own.iter().take(8) {
        let name = op["op"].as_str().unwrap_or_default();
        if find(&ours, name).is_none() {
            println!("| {name} | {} | — | — | {:.2} |", op["nodes"], ms(op));
        }
    }
}

/// Rounds per page kind in `bench rtc`.
const RTC_ROUNDS: usize = 7;

/// Polls a numeric page value until it is set.
fn page_number(browser: &peerlens_e2e::Browser, expr: &str, what: &str) -> f64 {
    wait_for(what, Duration::from_secs(60), || {
        browser
            .execute(&format!(
                "try {{ return {expr}; }} catch (e) {{ return null; }}"
            ))
            .as_f64()
    })
}

/// The pages `bench rtc` times.
#[derive(Clone, Copy)]
enum JoinPage {
    /// The raw-JS page.
    Baseline,
    /// The demo with its effects left out (`fx=0`): the call alone, like
    /// the baseline.
    Call,
    /// The demo as it opens by default: the effects' worker and models
    /// start on both pages while the call is set up.
    WithEffects,
}

/// One join: `host` is in the room already, `guest` joins; returns the
/// guest's join-to-first-remote-frame time in ms.
fn join_round(
    host: &peerlens_e2e::Browser,
    guest: &peerlens_e2e::Browser,
    base: &str,
    page: JoinPage,
    round: usize,
) -> f64 {
    let (prefix, fx) = match page {
        JoinPage::Baseline => ("js", ""),
        JoinPage::Call => ("pl", "&fx=0"),
        JoinPage::WithEffects => ("fx", ""),
    };
    let room = format!("{prefix}-{round}");
    if !matches!(page, JoinPage::Baseline) {
        host.goto(&format!("{base}/?room={room}&name=host&autojoin=1{fx}"));
        wait_for("the host to join", Duration::from_secs(60), || {
            host.execute("return document.getElementById('status').textContent")
                .as_str()
                .is_some_and(|s| s.starts_with("Joined as"))
                .then_some(())
        });
        guest.goto(&format!("{base}/?room={room}&name=guest&autojoin=1{fx}"));
        page_number(
            guest,
            "window.peerlensDemo.firstFrameMs",
            "peerlens's first frame",
        )
    } else {
        host.goto(&format!("{base}/baseline.html?room={room}&name=host"));
        page_number(
            host,
            "window.bench.welcomeMs",
            "the baseline host's welcome",
        );
        guest.goto(&format!("{base}/baseline.html?room={room}&name=guest"));
        page_number(
            guest,
            "window.bench.joinToFrameMs",
            "the baseline's first frame",
        )
    }
}

fn rtc(dir: PathBuf) {
    let server = TestServer::start(Some(dir));
    let base = server.http_url();
    let driver = Chromedriver::start();
    let host = driver.browser();
    let guest = driver.browser();
    let mut baseline = Vec::new();
    let mut ours = Vec::new();
    let mut with_effects = Vec::new();
    let mut restarts = Vec::new();
    // A warm-up round of each, not counted: the first page load compiles
    // the wasm and warms the camera.
    for page in [JoinPage::Baseline, JoinPage::Call, JoinPage::WithEffects] {
        join_round(&host, &guest, &base, page, 100);
    }
    for round in 0..RTC_ROUNDS {
        // Interleaved, so drift in machine load hits all alike.
        baseline.push(join_round(&host, &guest, &base, JoinPage::Baseline, round));
        with_effects.push(join_round(
            &host,
            &guest,
            &base,
            JoinPage::WithEffects,
            round,
        ));
        ours.push(join_round(&host, &guest, &base, JoinPage::Call, round));
        let restart: Value = guest.execute_async(
            "const done = arguments[arguments.length - 1];
             window.peerlensDemo.restartIce().then(ms => done(ms), e => done('error: ' + e));",
        );
        match restart.as_f64() {
            Some(ms) => restarts.push(ms),
            None => panic!("ICE restart failed: {restart}"),
        }
    }
    let (b, o, e, r) = (
        median(baseline.clone()),
        median(ours.clone()),
        median(with_effects.clone()),
        median(restarts.clone()),
    );
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!();
    println!("rtc benchmark: headless Chromium, loopback, {RTC_ROUNDS} interleaved rounds");
    println!();
    println!("| measure | raw JS baseline | peerlens | peerlens / baseline | target |");
    println!("|---|---:|---:|---:|---|");
    println!(
        "| join → first remote frame, median ms | {b:.0} | {o:.0} | {:.2}x | ≤ 1.2x |",
        o / b
    );
    println!(
        "| the same, with the demo's effects starting meanwhile | {b:.0} | {e:.0} | {:.2}x | – |",
        e / b
    );
    println!("| ICE restart → first frame after it, median ms | – | {r:.0} | – | ≤ 2000 ms |");
    println!();
    println!("rounds, baseline join ms: {}", list(&baseline));
    println!("rounds, peerlens join ms: {}", list(&ours));
    println!(
        "rounds, peerlens with effects join ms: {}",
        list(&with_effects)
    );
    println!("rounds, peerlens ICE restart ms: {}", list(&restarts));
}
