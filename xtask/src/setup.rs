//! `cargo xtask setup`: installs what the build and the tests need, and only
//! what is missing, saying what it does.
//!
//! Every tool the project needs is listed here, in one place: later pieces
//! of the project add their rows to these tables.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::cmd::{probe, run as run_cmd, Result};

/// Debian packages, with the reason each is needed.
const APT_PACKAGES: &[(&str, &str)] = &[
    ("chromium", "browser tests and end-to-end tests"),
    ("chromium-driver", "WebDriver for Chromium"),
    ("firefox-esr", "browser tests in Firefox"),
    ("binaryen", "wasm-opt, which shrinks the release wasm"),
    ("gzip", "measuring the gzipped wasm size"),
    ("brotli", "measuring the brotli size of the npm package's files (bench size)"),
    (
        "coturn",
        "the TURN server of the relay-only end-to-end test",
    ),
    ("nginx", "the reverse-proxy test of docs/deploy/nginx.conf"),
    (
        "redis-server",
        "the test of several server processes sharing rooms",
    ),
    ("openssl", "self-signed certificates for the TLS tests"),
    (
        "webkit2gtk-driver",
        "WebKitWebDriver and WebKitGTK's MiniBrowser, the third browser of the tests",
    ),
    ("xvfb", "the X display MiniBrowser needs: it has no headless mode"),
    // What libwebkit2gtk-4.1-0 recommends for media (and for WebRTC, which
    // Debian's build leaves out): the WebKit tests run with them.
    ("gstreamer1.0-gl", "WebKitGTK's media: GL video sinks"),
    ("gstreamer1.0-libav", "WebKitGTK's media: software decoders"),
    ("gstreamer1.0-plugins-bad", "WebKitGTK's media: WebRTC and capture elements"),
    ("libgl1-mesa-dri", "WebKitGTK's software GL"),
    (
        "ffmpeg",
        "the face video the effects tests play as Chromium's camera, and the RTP feed of the Janus Streaming test",
    ),
    (
        "janus",
        "the media server of the EchoTest, VideoRoom and Streaming tests",
    ),
    // Debian's nodejs; NodeSource's nodejs package, which bundles npm,
    // also satisfies it.
    (
        "nodejs",
        "the npm `ws` relay server of the end-to-end tests, and npm",
    ),
];

/// npm packages (name, exact version, why), installed into [`node_dir`].
const NPM_PACKAGES: &[(&str, &str, &str)] = &[
    (
        "onnxruntime-web",
        "1.30.0",
        "the baseline of `cargo xtask bench vision`",
    ),
    (
        "ws",
        "8.23.0",
        "the sender/receiver relay server of the end-to-end tests",
    ),
    (
        "@mediapipe/selfie_segmentation",
        "0.1.1675465747",
        "the MediaPipe anchor of `cargo xtask bench effects`",
    ),
    (
        "typescript",
        "5.9.3",
        "`tsc --noEmit` of tests/npm/usage.ts against the package's types",
    ),
    (
        "vite",
        "6.4.6",
        "the Vite app (tests/npm/app) that imports the npm package",
    ),
];

/// The pinned PyPI packages of the python test servers.
const PYTHON_REQUIREMENTS: &str = "tests/servers/requirements.txt";

/// Which installed versions of a cargo-installed tool are acceptable.
enum Wanted {
    /// Exactly this version (wasm-bindgen-cli must match the library).
    Exact(String),
    /// Any version starting with this prefix.
    Prefix(&'static str),
}

struct CargoTool {
    binary: &'static str,
    krate: &'static str,
    wanted: Wanted,
    /// The version to install when missing (None: the newest).
    install: Option<String>,
    why: &'static str,
}

fn cargo_tools() -> Result<Vec<CargoTool>> {
    let bindgen = wasm_bindgen_version()?;
    Ok(vec![
        CargoTool {
            binary: "wasm-bindgen",
            krate: "wasm-bindgen-cli",
            wanted: Wanted::Exact(bindgen.clone()),
            install: Some(bindgen),
            why: "wasm-bindgen and wasm-bindgen-test-runner, pinned to Cargo.lock",
        },
        CargoTool {
            binary: "trunk",
            krate: "trunk",
            // trunk 0.22 needs a newer rustc than this toolchain's.
            wanted: Wanted::Prefix("0.21."),
            install: Some("0.21.14".into()),
            why: "builds the demo page",
        },
        CargoTool {
            binary: "wasm-pack",
            krate: "wasm-pack",
            wanted: Wanted::Prefix("0."),
            install: Some("0.15.1".into()),
            why: "builds the npm package (`cargo xtask pack`)",
        },
        CargoTool {
            binary: "geckodriver",
            krate: "geckodriver",
            wanted: Wanted::Prefix(""),
            install: None,
            why: "WebDriver for Firefox",
        },
    ])
}

/// Installs whatever is missing.
pub fn run() -> Result<()> {
    println!("setup: checking the toolchain and test tools");
    ensure_path();
    wasm_target()?;
    apt_packages(APT_PACKAGES)?;
    for tool in cargo_tools()? {
        cargo_tool(&tool)?;
    }
    npm_packages()?;
    python_venv()?;
    face_video()?;
    println!("setup: everything is installed");
    Ok(())
}

/// The directory `cargo install` puts binaries in.
pub fn cargo_bin() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"));
    home.join("bin")
}

/// Puts cargo's bin directory on PATH for this process and its children, so
/// tools installed a moment ago are found.
fn ensure_path() {
    let bin = cargo_bin();
    let path = std::env::var_os("PATH").unwrap_or_default();
    if !std::env::split_paths(&path).any(|p| p == bin) {
        let mut paths = vec![bin];
        paths.extend(std::env::split_paths(&path));
        if let Ok(joined) = std::env::join_paths(paths) {
            std::env::set_var("PATH", joined);
        }
    }
}

fn wasm_target() -> Result<()> {
    let installed =
        probe(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        println!("setup: wasm32-unknown-unknown target present");
        return Ok(());
    }
    println!("setup: installing the wasm32-unknown-unknown target");
    run_cmd(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
}

fn is_root() -> bool {
    probe(Command::new("id").arg("-u")).is_some_and(|uid| uid.trim() == "0")
}

fn deb_installed(package: &str) -> bool {
    probe(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))
        .is_some_and(|status| status.contains("install ok installed"))
}

/// Installs the missing Debian packages of `packages` with apt-get.
pub fn apt_packages(packages: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .filter(|(name, _)| !deb_installed(name))
        .map(|(name, _)| *name)
        .collect();
    let present: Vec<&str> = packages
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !missing.contains(name))
        .collect();
    if !present.is_empty() {
        println!("setup: Debian packages present: {}", present.join(", "));
    }
    if missing.is_empty() {
        return Ok(());
    }
    for (name, why) in packages.iter().filter(|(n, _)| missing.contains(n)) {
        println!("setup: missing Debian package {name} ({why})");
    }
    let line = format!(
        "apt-get install -y --no-install-recommends {}",
        missing.join(" ")
    );
    if !is_root() {
        return Err(format!(
            "these Debian packages are missing and installing them needs root; run:\n  sudo apt-get update && sudo {line}\nthen run this command again"
        ));
    }
    println!("setup: installing {} with apt-get", missing.join(", "));
    run_cmd(Command::new("apt-get").args(["update", "-q"]))?;
    run_cmd(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn installed_version(binary: &str) -> Option<String> {
    let out = probe(Command::new(binary).arg("--version"))?;
    // "wasm-bindgen 0.2.130", "trunk 0.21.14", "geckodriver 0.36.0 (...)"
    out.split_whitespace().nth(1).map(str::to_owned)
}

fn cargo_tool(tool: &CargoTool) -> Result<()> {
    let have = installed_version(tool.binary);
    let ok = match (&have, &tool.wanted) {
        (Some(v), Wanted::Exact(want)) => v == want,
        (Some(v), Wanted::Prefix(prefix)) => v.starts_with(prefix),
        (None, _) => false,
    };
    if ok {
        println!(
            "setup: {} {} present",
            tool.binary,
            have.as_deref().unwrap_or("")
        );
        return Ok(());
    }
    let version = tool.install.as_deref();
    match &have {
        Some(v) => println!(
            "setup: {} {v} is not the version needed; installing {} {} ({}); this takes a few minutes",
            tool.binary,
            tool.krate,
            version.unwrap_or("latest"),
            tool.why
        ),
        None => println!(
            "setup: {} not found; installing {} {} ({}); this takes a few minutes",
            tool.binary,
            tool.krate,
            version.unwrap_or("latest"),
            tool.why
        ),
    }
    let install = |locked: bool| {
        let mut command = Command::new("cargo");
        command.arg("install").arg(tool.krate);
        if let Some(v) = version {
            command.args(["--version", v]);
        }
        if locked {
            command.arg("--locked");
        }
        command.arg("--force");
        run_cmd(&mut command)
    };
    // The tool's own lock file is the tested combination; a registry that
    // lacks one of its exact versions gets the newest compatible ones.
    install(true).or_else(|e| {
        println!("setup: {e}; retrying without --locked");
        install(false)
    })
}

/// The wasm-bindgen version Cargo.lock pins, which wasm-bindgen-cli must match.
pub fn wasm_bindgen_version() -> Result<String> {
    let lock_path = crate::root().join("Cargo.lock");
    if !lock_path.exists() {
        run_cmd(
            Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["generate-lockfile"])
                .current_dir(crate::root()),
        )?;
    }
    let lock = std::fs::read_to_string(&lock_path)
        .map_err(|e| format!("cannot read {}: {e}", lock_path.display()))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            if let Some(version) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = \""))
                .and_then(|v| v.strip_suffix('"'))
            {
                return Ok(version.to_owned());
            }
        }
    }
    Err("Cargo.lock has no wasm-bindgen package".into())
}

/// Where the project's npm packages live: outside the clone, so a fresh
/// checkout on a warm machine reuses them.
pub fn node_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".cache/peerlens/node")
}

fn npm_version(package: &str) -> Option<String> {
    let manifest = node_dir()
        .join("node_modules")
        .join(package)
        .join("package.json");
    let text = std::fs::read_to_string(manifest).ok()?;
    let start = text.find("\"version\"")?;
    let rest = &text[start + 9..];
    let open = rest.find('"')? + 1;
    let close = rest[open..].find('"')? + open;
    Some(rest[open..close].to_owned())
}

fn npm_packages() -> Result<()> {
    let missing: Vec<String> = NPM_PACKAGES
        .iter()
        .filter(|(name, version, _)| npm_version(name).as_deref() != Some(*version))
        .map(|(name, version, why)| {
            println!("setup: npm package {name}@{version} missing ({why})");
            format!("{name}@{version}")
        })
        .collect();
    if missing.is_empty() {
        let names: Vec<String> = NPM_PACKAGES
            .iter()
            .map(|(n, v, _)| format!("{n}@{v}"))
            .collect();
        println!("setup: npm packages present: {}", names.join(", "));
        return Ok(());
    }
    let dir = node_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let manifest = dir.join("package.json");
    if !manifest.exists() {
        std::fs::write(&manifest, "{\"private\": true}\n")
            .map_err(|e| format!("cannot write {}: {e}", manifest.display()))?;
    }
    println!(
        "setup: installing {} with npm into {}",
        missing.join(", "),
        dir.display()
    );
    run_cmd(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--save-exact"])
            .args(&missing)
            .current_dir(&dir),
    )
}

/// The virtualenv the python test servers (python-socketio, aiortc) run in.
pub fn signal_venv() -> PathBuf {
    node_dir().with_file_name("signal-venv")
}

/// Creates the virtualenv and installs the pinned requirements, unless the
/// same requirements were installed before.
fn python_venv() -> Result<()> {
    let requirements_path = crate::root().join(PYTHON_REQUIREMENTS);
    let requirements = std::fs::read_to_string(&requirements_path)
        .map_err(|e| format!("cannot read {}: {e}", requirements_path.display()))?;
    let venv = signal_venv();
    let marker = venv.join("peerlens-requirements.txt");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(requirements.as_str())
        && venv.join("bin/python").exists()
    {
        println!("setup: python venv for the test servers present");
        return Ok(());
    }
    println!(
        "setup: python venv for the test servers missing or outdated; creating {} (python-socketio, aiohttp, aiortc)",
        venv.display()
    );
    run_cmd(Command::new("python3").args(["-m", "venv"]).arg(&venv)).map_err(|e| {
        format!("{e}\n`python3 -m venv` failed; on Debian install python3-venv and run again")
    })?;
    run_cmd(
        Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "--disable-pip-version-check", "-r"])
            .arg(&requirements_path),
    )?;
    std::fs::write(&marker, requirements)
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))
}

/// The face video Chromium plays as its fake camera in the effects tests
/// and benchmark: `astronaut.png` scaled by [`FACE_VIDEO_SCALE`] and
/// cropped to 640x480 from the top-left corner, 30 identical frames at
/// 30 fps. The tests map the image's reference face box and mask into
/// the video with the same numbers.
pub fn face_video_path() -> PathBuf {
    node_dir()
        .with_file_name("fixtures")
        .join("face-640x480.y4m")
}

/// The scale from astronaut.png (512x512) to the face video.
pub const FACE_VIDEO_SCALE: f64 = 1.25;

/// The same picture at 1280x720 (scaled by 2.8125, cropped from the
/// top-left corner), for the benchmark's 720p rows.
pub fn face_video_720p_path() -> PathBuf {
    node_dir()
        .with_file_name("fixtures")
        .join("face-1280x720.y4m")
}

fn face_video() -> Result<()> {
    make_face_video(&face_video_path(), FACE_VIDEO_SCALE, (640, 480))?;
    make_face_video(&face_video_720p_path(), 2.8125, (1280, 720))
}

fn make_face_video(video: &Path, scale: f64, (width, height): (u32, u32)) -> Result<()> {
    let image = crate::root().join("crates/vision/tests/fixtures/images/astronaut.png");
    let side = (512.0 * scale) as u32;
    let filter =
        format!("scale={side}:{side}:flags=bicubic,crop={width}:{height}:0:0,format=yuv420p");
    // The filter is part of the marker: a change regenerates the video.
    let marker = video.with_extension("filter");
    if video.exists() && std::fs::read_to_string(&marker).ok().as_deref() == Some(filter.as_str()) {
        println!("setup: face video {width}x{height} present");
        return Ok(());
    }
    println!(
        "setup: face video {width}x{height} missing; making {} with ffmpeg",
        video.display()
    );
    if let Some(dir) = video.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    run_cmd(
        Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-loop",
                "1",
                "-i",
            ])
            .arg(&image)
            .args(["-vf", &filter, "-r", "30", "-frames:v", "30"])
            .arg(video),
    )?;
    std::fs::write(&marker, filter).map_err(|e| format!("cannot write {}: {e}", marker.display()))
}
