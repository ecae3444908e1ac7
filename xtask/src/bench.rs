//! `cargo xtask bench ...`: builds what a benchmark needs, then runs its
//! driver (tests/e2e, `bench` binary), which prints the table to record in
//! BENCHMARKS.md.

use std::{fs, path::Path, process::Command};

use crate::{
    cmd::{run as run_cmd, Result},
    root, setup, target_dir,
};

pub fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("vision") => vision(),
        Some("rtc") => rtc(),
        Some("server") => server(),
        Some("effects") => effects(),
        Some("media-server") => media_server(),
        Some("size") => crate::size::run(),
        _ => Err("usage: cargo xtask bench vision|rtc|server|effects|media-server|size".into()),
    }
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root());
    command
}

/// `cargo run` of the benchmark driver (tests/e2e, `bench`) in release,
/// for the benchmark `name`; the caller adds its arguments.
fn driver(name: &str) -> Command {
    let mut command = cargo();
    command.args([
        "run",
        "--release",
        "--quiet",
        "-p",
        "peerlens-e2e",
        "--bin",
        "bench",
        "--",
        name,
    ]);
    command
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    fs::copy(from, to)
        .map(drop)
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

/// Copies the file or folder `from` to `to`, folders with everything in
/// them.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    if !from.is_dir() {
        return copy(from, to);
    }
    for entry in fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        copy_tree(&entry.path(), &to.join(entry.file_name()))?;
    }
    Ok(())
}

/// Size of `path` compressed with `gzip -9`.
fn gzipped_size(path: &Path) -> Result<usize> {
    let output = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run gzip: {e}"))?;
    Ok(output.stdout.len())
}

/// Builds the library's release wasm and its JS bindings into `out`, with
/// the vision module's release builds next to them. Returns the path of
/// the main `.wasm` the bindings load.
pub fn build_library_wasm(out: &Path) -> Result<std::path::PathBuf> {
    run_cmd(cargo().args([
        "build",
        "--release",
        "--target",
        "wasm32-unknown-unknown",
        "-p",
        "peerlens",
        "--lib",
    ]))?;
    let wasm = target_dir().join("wasm32-unknown-unknown/release/peerlens.wasm");
    run_cmd(
        Command::new("wasm-bindgen")
            // Function names only help debugging; they are 0.4 MB gzipped.
            .args([
                "--target",
                "web",
                "--remove-name-section",
                "--remove-producers-section",
                "--out-dir",
            ])
            .arg(out)
            .arg(&wasm),
    )?;
    let vision = root().join("target/vision-web/release");
    crate::vision::build(true, &vision)?;
    crate::vision::copy(&vision, out)?;
    Ok(out.join("peerlens_bg.wasm"))
}

/// Copies the shipped models into `dir/models`.
fn copy_models(dir: &Path) -> Result<()> {
    for model in [
        "face_detection_short_range",
        "face_landmark",
        "selfie_segmentation",
        "selfie_segmentation_landscape",
    ] {
        let onnx = format!("{model}.onnx");
        copy(
            &root().join("models").join(&onnx),
            &dir.join("models").join(&onnx),
        )?;
    }
    Ok(())
}

fn vision() -> Result<()> {
    setup::run()?;
    let dir = target_dir().join("bench/vision");
    let _ = fs::remove_dir_all(&dir);
    let vision = root().join("target/vision-web/release");
    crate::vision::build(true, &vision)?;
    fs::create_dir_all(dir.join("pkg")).map_err(|e| e.to_string())?;
    crate::vision::copy(&vision, &dir.join("pkg"))?;
    let mut sizes = Vec::new();
    for (stem, _) in crate::vision::BUILDS {
        let wasm = dir.join("pkg").join(format!("{stem}_bg.wasm"));
        let raw = fs::metadata(&wasm)
            .map_err(|e| format!("{}: {e}", wasm.display()))?
            .len();
        let gz = gzipped_size(&wasm)?;
        sizes.push(format!(
            "{stem}_bg.wasm {:.2} MB raw, {:.2} MB gzipped (-9)",
            raw as f64 / 1e6,
            gz as f64 / 1e6
        ));
    }

    let page = root().join("xtask/bench/vision");
    for file in ["index.html", "bench.js"] {
        copy(&page.join(file), &dir.join(file))?;
    }
    let ort = setup::node_dir().join("node_modules/onnxruntime-web/dist");
    for file in [
        "ort.wasm.min.mjs",
        "ort-wasm-simd-threaded.mjs",
        "ort-wasm-simd-threaded.wasm",
    ] {
        copy(&ort.join(file), &dir.join("ort").join(file))?;
    }
    let fixtures = root().join("crates/vision/tests/fixtures/raw");
    for model in [
        "face_detection_short_range",
        "face_landmark",
        "selfie_segmentation",
        "selfie_segmentation_landscape",
    ] {
        let onnx = format!("{model}.onnx");
        copy(
            &root().join("models").join(&onnx),
            &dir.join("models").join(&onnx),
        )?;
        copy(
            &root().join("models/plain").join(&onnx),
            &dir.join("models/plain").join(&onnx),
        )?;
        copy(
            &fixtures.join(format!("{model}.astronaut.input.f32")),
            &dir.join("inputs").join(format!("{model}.f32")),
        )?;
    }
    println!("\n== running the vision benchmark in headless Chromium (a few minutes)");
    run_cmd(driver("vision").arg(&dir).arg(sizes.join("; ")))
}

/// `bench rtc`: the demo (trunk release build) next to the raw-JS baseline
/// page, served by the reference server; the driver times join to first
/// remote frame for both, and ICE-restart recovery for peerlens.
fn rtc() -> Result<()> {
    setup::run()?;
    crate::demo::build_www()?;
    let dir = target_dir().join("bench/rtc");
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    // The demo with its models (the effects load them as it starts).
    copy_tree(&root().join("www/dist"), &dir)?;
    copy(
        &root().join("xtask/bench/rtc/baseline.html"),
        &dir.join("baseline.html"),
    )?;
    println!("\n== running the rtc benchmark in headless Chromium (a few minutes)");
    run_cmd(driver("rtc").arg(&dir))
}

/// `bench server`: the release server and the Node `ws` relay under the
/// same load, with the open-file limit raised for 2,000 clients.
fn server() -> Result<()> {
    setup::run()?;
    run_cmd(cargo().args([
        "build",
        "--release",
        "-q",
        "-p",
        "peerlens-server",
        "-p",
        "peerlens-e2e",
        "--bin",
        "peerlens-server",
        "--bin",
        "bench",
    ]))?;
    let release = target_dir().join("release");
    let node_modules = setup::node_dir().join("node_modules");
    println!("\n== running the server benchmark (about a minute)");
    let script = format!(
        "ulimit -n 16384 2>/dev/null || ulimit -n \"$(ulimit -Hn)\"; exec \"{}\" server \"{}\" \"{}\" \"{}\"",
        release.join("bench").display(),
        release.join("peerlens-server").display(),
        root().join("tests/servers/rooms.cjs").display(),
        node_modules.display(),
    );
    run_cmd(Command::new("sh").args(["-c", &script]))
}

/// `bench effects`: the library's release wasm and the three pages
/// (peerlens, the MediaPipe anchor, the onnxruntime-web anchor) with
/// their files, in one directory the driver serves.
fn effects() -> Result<()> {
    setup::run()?;
    let dir = target_dir().join("bench/effects");
    let _ = fs::remove_dir_all(&dir);
    build_library_wasm(&dir.join("pkg"))?;
    let pages = root().join("xtask/bench/effects");
    for file in ["common.js", "peerlens.html", "mediapipe.html", "ort.html"] {
        copy(&pages.join(file), &dir.join(file))?;
    }
    copy_models(&dir)?;
    copy(
        &root().join("models/plain/selfie_segmentation_landscape.onnx"),
        &dir.join("models/plain/selfie_segmentation_landscape.onnx"),
    )?;
    let modules = setup::node_dir().join("node_modules");
    let ort = modules.join("onnxruntime-web/dist");
    for file in [
        "ort.wasm.min.mjs",
        "ort-wasm-simd-threaded.mjs",
        "ort-wasm-simd-threaded.wasm",
    ] {
        copy(&ort.join(file), &dir.join("ort").join(file))?;
    }
    let mediapipe = modules.join("@mediapipe/selfie_segmentation");
    for entry in
        fs::read_dir(&mediapipe).map_err(|e| format!("cannot read {}: {e}", mediapipe.display()))?
    {
        let entry = entry.map_err(|e| e.to_string())?;
        copy(
            &entry.path(),
            &dir.join("mediapipe").join(entry.file_name()),
        )?;
    }
    println!("\n== running the effects benchmark in headless Chromium (about 10 minutes)");
    run_cmd(
        driver("effects")
            .arg(&dir)
            .arg(setup::face_video_path())
            .arg(setup::face_video_720p_path()),
    )
}

/// `bench media-server`: the library's release wasm with the end-to-end
/// test page, the models and the plain-JS EchoTest page; the driver starts
/// Janus and times publish to first echoed frame on both pages.
fn media_server() -> Result<()> {
    setup::run()?;
    let dir = target_dir().join("bench/media-server");
    let _ = fs::remove_dir_all(&dir);
    build_library_wasm(&dir.join("pkg"))?;
    for file in ["media-server.html", "media-server.js"] {
        copy(&root().join("tests/pages").join(file), &dir.join(file))?;
    }
    copy(
        &root().join("xtask/bench/media-server/plain-echo.html"),
        &dir.join("plain-echo.html"),
    )?;
    copy_models(&dir)?;
    println!("\n== running the media-server benchmark in headless Chromium (a minute or two)");
    run_cmd(
        driver("media-server")
            .arg(&dir)
            .arg(setup::face_video_path()),
    )
}
