//! `cargo xtask test`: every check and test, in the order a failure is
//! cheapest to find, with one tally at the end.
//!
//! Steps run even after an earlier one failed, so one run reports every
//! problem. Test counts come from the runners' own `test result:` lines;
//! a step that fails without such a line (a compile error, a crashed
//! browser) counts as one failure.

use std::process::Command;

use crate::{
    cmd::{run_captured, Result},
    root, setup,
};

/// Test names containing this run in Chromium only; each such test says
/// why in its doc comment.
pub const CHROMIUM_ONLY: &str = "chromium_only";

/// Test names starting with this need the face video as the camera: they
/// run in a Chromium of their own, started with
/// `--use-file-for-fake-video-capture`.
pub const FACE_VIDEO: &str = "effects_live::face_video";

/// Test names containing these need `RTCPeerConnection`, which Debian's
/// WebKitGTK leaves out: they do not run in WebKit. The e2e test
/// `webkit::webrtc_is_missing_and_a_room_says_so` proves it missing there.
pub const NEEDS_WEBRTC: [&str; 2] = ["rtc::", "peer_connection"];

/// Crates that build for wasm32 and are linted for it: those of the main
/// module, built without target features...
const WASM_CRATES: &[&str] = &[
    "peerlens",
    "peerlens-core",
    "peerlens-protocol",
    "peerlens-demo",
];

/// ...and those of the vision module, built with simd128 in the simd128
/// build's target directory.
const VISION_WASM_CRATES: &[&str] = &[
    "peerlens-vision",
    "peerlens-vision-wasm",
    "peerlens-kernels",
];

/// Makes `command` build like the vision module's simd128 build.
fn as_simd128(command: &mut Command) -> &mut Command {
    command
        .env("CARGO_TARGET_DIR", crate::vision::build_target_dir(""))
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
            crate::vision::rustflags(""),
        )
}

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    failed_steps: Vec<String>,
    /// The failed tests with their panic messages, repeated at the end of
    /// the run, where a CI log's tail shows them.
    failures: Vec<String>,
}

impl Tally {
    /// Runs a step that is a check, not a test suite: it adds to the tally
    /// only when it fails.
    fn check(&mut self, name: &str, command: &mut Command) {
        println!("\n== {name}");
        match run_captured(command) {
            Ok((true, _)) => println!("== {name}: ok"),
            Ok((false, _)) => self.fail_step(name),
            Err(e) => {
                eprintln!("{e}");
                self.fail_step(name);
            }
        }
    }

    /// Runs a cargo test step and adds its counts.
    fn tests(&mut self, name: &str, command: &mut Command) {
        println!("\n== {name}");
        let (ok, output) = match run_captured(command) {
            Ok(result) => result,
            Err(e) => {
                eprintln!("{e}");
                (false, String::new())
            }
        };
        let (passed, failed) = count_results(&output);
        self.failures.extend(failed_tests(&output));
        self.passed += passed;
        self.failed += failed;
        println!("== {name}: {passed} passed, {failed} failed");
        if !ok && failed == 0 {
            self.fail_step(name);
        } else if failed > 0 {
            self.failed_steps.push(name.to_owned());
        }
    }

    fn fail_step(&mut self, name: &str) {
        println!("== {name}: FAILED");
        self.failed += 1;
        self.failed_steps.push(name.to_owned());
    }
}

/// The failed tests of a runner's output, each with the first line of its
/// panic message when the output has one.
fn failed_tests(output: &str) -> Vec<String> {
    let lines: Vec<&str> = output.lines().collect();
    let mut failures: Vec<String> = lines
        .iter()
        .filter_map(|l| {
            let name = l.strip_prefix("test ")?;
            let name = name
                .strip_suffix(" ... FAILED")
                .or_else(|| name.strip_suffix(" ... FAIL"))?;
            Some(name.to_owned())
        })
        .collect();
    for failure in &mut failures {
        // Both runners print `---- NAME ... ----` (wasm-bindgen-test:
        // `---- NAME output ----`) before the test's own output.
        let header = lines
            .iter()
            .position(|l| l.starts_with("---- ") && l.contains(failure.as_str()));
        let message = header.and_then(|at| {
            let rest = &lines[at + 1..];
            let panic = rest
                .iter()
                .take_while(|l| !l.starts_with("---- "))
                .position(|l| l.contains("panicked at"))?;
            rest.get(panic + 1).map(|m| m.trim().to_owned())
        });
        if let Some(message) = message.filter(|m| !m.is_empty()) {
            failure.push_str(": ");
            failure.push_str(&message);
        }
    }
    failures
}

/// Sums the `N passed; M failed` of every `test result:` line.
fn count_results(output: &str) -> (usize, usize) {
    let mut totals = (0, 0);
    for line in output.lines().filter(|l| l.contains("test result:")) {
        let number_before = |word: &str| {
            line.split(';')
                .find_map(|part| {
                    part.trim()
                        .strip_suffix(word)?
                        .trim()
                        .rsplit(' ')
                        .next()?
                        .parse::<usize>()
                        .ok()
                })
                .unwrap_or(0)
        };
        totals.0 += number_before("passed");
        totals.1 += number_before("failed");
    }
    totals
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root());
    command
}

/// Writes a copy of tests/webdriver.json whose Chromium plays the face
/// video as its camera; returns its path.
fn face_video_webdriver_json() -> Result<std::path::PathBuf> {
    let base = root().join("tests/webdriver.json");
    let text = std::fs::read_to_string(&base)
        .map_err(|e| format!("cannot read {}: {e}", base.display()))?;
    let anchor = "\"--use-fake-device-for-media-stream\",";
    if !text.contains(anchor) {
        return Err(format!("{} no longer has {anchor}", base.display()));
    }
    let video = setup::face_video_path();
    let with_video = text.replacen(
        anchor,
        &format!(
            "{anchor}\n      \"--use-file-for-fake-video-capture={}\",",
            video.display()
        ),
        1,
    );
    let path = crate::target_dir().join("webdriver-face-video.json");
    std::fs::create_dir_all(crate::target_dir()).map_err(|e| e.to_string())?;
    std::fs::write(&path, with_video)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// Builds `target/e2e-site`, the site of the media-server end-to-end
/// tests: `tests/pages`, the library (debug build) bound by wasm-bindgen
/// into `pkg/` with the vision module's debug builds next to it, and the
/// models.
fn build_test_site() -> Result<()> {
    println!("\n== building the end-to-end test site (tests/pages and the library)");
    let status = cargo()
        .args([
            "build",
            "--target",
            "wasm32-unknown-unknown",
            "-p",
            "peerlens",
            "--lib",
        ])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the library for the test site failed".into());
    }
    let target = crate::target_dir();
    let site = target.join("e2e-site");
    let _ = std::fs::remove_dir_all(&site);
    let status = Command::new("wasm-bindgen")
        .args(["--target", "web", "--out-dir"])
        .arg(site.join("pkg"))
        .arg(target.join("wasm32-unknown-unknown/debug/peerlens.wasm"))
        .status()
        .map_err(|e| format!("cannot run wasm-bindgen: {e}"))?;
    if !status.success() {
        return Err("wasm-bindgen failed on the test site's library".into());
    }
    let copy_dir = |from: &std::path::Path, to: &std::path::Path, ext: &str| -> Result<()> {
        std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
        let entries =
            std::fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
        for entry in entries.filter_map(std::result::Result::ok) {
            let path = entry.path();
            if path.is_file()
                && path
                    .extension()
                    .is_some_and(|e| ext.split(',').any(|x| e == x))
            {
                std::fs::copy(&path, to.join(entry.file_name()))
                    .map_err(|e| format!("cannot copy {}: {e}", path.display()))?;
            }
        }
        Ok(())
    };
    crate::vision::copy(&crate::vision::test_dir().join("debug"), &site.join("pkg"))?;
    copy_dir(&root().join("tests/pages"), &site, "html,js")?;
    copy_dir(&root().join("models"), &site.join("models"), "onnx")
}

/// Builds the npm package (`pkg/`, wasm-pack) and the Vite app of
/// tests/npm/app against it into `target/npm-app`, with the models.
fn build_npm_app() -> Result<()> {
    crate::pack::build()?;
    println!("\n== building the Vite app (tests/npm/app) against pkg/");
    let out = crate::target_dir().join("npm-app");
    let vite = setup::node_dir().join("node_modules/vite/bin/vite.js");
    let status = Command::new("node")
        .arg(vite)
        .arg("build")
        .arg("--config")
        .arg(root().join("tests/npm/app/vite.config.js"))
        .arg("--outDir")
        .arg(&out)
        .current_dir(root().join("tests/npm/app"))
        .status()
        .map_err(|e| format!("cannot run node: {e}"))?;
    if !status.success() {
        return Err("vite build of tests/npm/app failed".into());
    }
    let models = out.join("models");
    std::fs::create_dir_all(&models)
        .map_err(|e| format!("cannot create {}: {e}", models.display()))?;
    for model in [
        "face_detection_short_range",
        "face_landmark",
        "selfie_segmentation_landscape",
    ] {
        let name = format!("{model}.onnx");
        std::fs::copy(root().join("models").join(&name), models.join(&name))
            .map_err(|e| format!("cannot copy {name}: {e}"))?;
    }
    Ok(())
}

/// The browser test command for one browser: the main crate's tests.
fn browser_tests(driver_var: &str, driver: &str) -> Command {
    browser_tests_of("peerlens", driver_var, driver)
}

/// The vision module's browser tests in one browser, in the build of
/// `features` (see [`crate::vision::BUILDS`]).
fn vision_browser_tests(driver_var: &str, driver: &str, features: &str) -> Command {
    let mut command = browser_tests_of("peerlens-vision-wasm", driver_var, driver);
    let build = if features.is_empty() {
        "simd128"
    } else {
        "relaxed-simd"
    };
    command
        .env(
            "CARGO_TARGET_DIR",
            crate::vision::build_target_dir(features),
        )
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
            crate::vision::rustflags(features),
        )
        .env("PEERLENS_VISION_BUILD", build);
    command
}

/// Makes `command` (a wasm browser test command) run in WebKitGTK: cargo's
/// runner for wasm32 becomes the e2e crate's `webkit-test-runner`, which
/// serves the tests with wasm-bindgen-test-runner and drives MiniBrowser
/// with the media settings.
fn in_webkit(command: &mut Command) -> &mut Command {
    command.env(
        "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
        crate::target_dir().join("debug/webkit-test-runner"),
    )
}

fn browser_tests_of(krate: &str, driver_var: &str, driver: &str) -> Command {
    let mut command = cargo();
    command
        .args([
            "test",
            "-p",
            krate,
            "--target",
            "wasm32-unknown-unknown",
            "--test",
            "browser",
        ])
        .env(driver_var, driver)
        .env("WASM_BINDGEN_TEST_TIMEOUT", "300")
        .env(
            "WASM_BINDGEN_TEST_WEBDRIVER_JSON",
            root().join("tests/webdriver.json"),
        );
    command
}

pub fn run(args: &[String]) -> Result<()> {
    if let Some(extra) = args.first() {
        return Err(format!(
            "`cargo xtask test` takes no arguments (got {extra:?})"
        ));
    }
    setup::run()?;
    let mut tally = Tally::default();

    tally.check("rustfmt", cargo().args(["fmt", "--all", "--", "--check"]));
    tally.check(
        "clippy (native)",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    );
    for (name, crates, simd) in [
        ("clippy (wasm32)", WASM_CRATES, false),
        (
            "clippy (wasm32, the vision module's crates, simd128)",
            VISION_WASM_CRATES,
            true,
        ),
    ] {
        let mut wasm_clippy = cargo();
        wasm_clippy.args([
            "clippy",
            "--target",
            "wasm32-unknown-unknown",
            "--all-targets",
        ]);
        for krate in crates {
            wasm_clippy.args(["-p", krate]);
        }
        wasm_clippy.args(["--", "-D", "warnings"]);
        if simd {
            as_simd128(&mut wasm_clippy);
        }
        tally.check(name, &mut wasm_clippy);
    }
    // The API docs, for both targets, with every rustdoc warning an error.
    tally.check(
        "cargo doc (native)",
        cargo()
            .args(["doc", "--no-deps", "--workspace"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    );
    for (name, crates, simd) in [
        ("cargo doc (wasm32)", WASM_CRATES, false),
        (
            "cargo doc (wasm32, the vision module's crates, simd128)",
            VISION_WASM_CRATES,
            true,
        ),
    ] {
        let mut wasm_doc = cargo();
        wasm_doc.args(["doc", "--no-deps", "--target", "wasm32-unknown-unknown"]);
        for krate in crates {
            wasm_doc.args(["-p", krate]);
        }
        wasm_doc.env("RUSTDOCFLAGS", "-D warnings");
        if simd {
            as_simd128(&mut wasm_doc);
        }
        tally.check(name, &mut wasm_doc);
    }

    tally.tests(
        "native tests",
        cargo().args([
            "test",
            "--workspace",
            "--no-fail-fast",
            "--exclude",
            "peerlens-demo",
            "--exclude",
            "peerlens-e2e",
        ]),
    );

    // The kernels against their scalar references, in wasm, in node: the
    // target's runner is wasm-bindgen-test-runner (.cargo/config.toml).
    tally.tests(
        "kernel tests (wasm32, node)",
        as_simd128(cargo().args([
            "test",
            "-p",
            "peerlens-kernels",
            "--target",
            "wasm32-unknown-unknown",
        ])),
    );

    // The vision module in each build: the parity tests and the kernels'
    // in both (Chromium has relaxed SIMD), in Firefox in simd128.
    let geckodriver = setup::cargo_bin().join("geckodriver");
    for (stem, features) in crate::vision::BUILDS {
        let name = format!("vision browser tests (Chromium, {stem})");
        tally.tests(
            &name,
            &mut vision_browser_tests("CHROMEDRIVER", "/usr/bin/chromedriver", features),
        );
    }
    tally.tests(
        "vision browser tests (Firefox, peerlens_vision)",
        &mut vision_browser_tests("GECKODRIVER", &geckodriver.to_string_lossy(), ""),
    );
    // WebKit: the simd128 build, as Safari has no relaxed SIMD.
    let webkit_runner = cargo()
        .args(["build", "-p", "peerlens-e2e", "--bin", "webkit-test-runner"])
        .status()
        .map_err(|e| e.to_string())
        .and_then(|s| {
            s.success()
                .then_some(())
                .ok_or_else(|| "building webkit-test-runner failed".to_owned())
        });
    if let Err(e) = &webkit_runner {
        eprintln!("{e}");
        tally.fail_step("building the WebKit test runner");
    } else {
        tally.tests(
            "vision browser tests (WebKit, peerlens_vision)",
            in_webkit(&mut vision_browser_tests(
                "CHROMEDRIVER",
                "/usr/bin/chromedriver",
                "",
            )),
        );
    }

    // The main crate's effects tests load the vision module's debug
    // builds from target/vision-web/debug.
    if let Err(e) = crate::vision::build(false, &crate::vision::test_dir().join("debug")) {
        eprintln!("{e}");
        tally.fail_step("building the vision module for the browser tests");
    }
    let mut chromium = browser_tests("CHROMEDRIVER", "/usr/bin/chromedriver");
    chromium.args(["--", "--skip", FACE_VIDEO]);
    tally.tests("browser tests (Chromium)", &mut chromium);
    match face_video_webdriver_json() {
        Ok(json) => {
            let mut face = browser_tests("CHROMEDRIVER", "/usr/bin/chromedriver");
            face.env("WASM_BINDGEN_TEST_WEBDRIVER_JSON", json)
                .args(["--", FACE_VIDEO]);
            tally.tests("browser tests (Chromium, face video camera)", &mut face);
        }
        Err(e) => {
            eprintln!("{e}");
            tally.fail_step("browser tests (Chromium, face video camera)");
        }
    }
    let mut firefox = browser_tests("GECKODRIVER", &geckodriver.to_string_lossy());
    firefox.args(["--", "--skip", CHROMIUM_ONLY, "--skip", FACE_VIDEO]);
    tally.tests("browser tests (Firefox)", &mut firefox);
    if webkit_runner.is_ok() {
        let mut webkit = browser_tests("CHROMEDRIVER", "/usr/bin/chromedriver");
        in_webkit(&mut webkit).args(["--", "--skip", CHROMIUM_ONLY, "--skip", FACE_VIDEO]);
        for name in NEEDS_WEBRTC {
            webkit.args(["--skip", name]);
        }
        tally.tests("browser tests (WebKit)", &mut webkit);
    }

    let built = crate::demo::build_www()
        .and_then(|()| build_test_site())
        .and_then(|()| build_npm_app());
    let node_bin = setup::node_dir().join("node_modules/.bin");
    tally.check(
        "tsc --noEmit (tests/npm/usage.ts against the package's types)",
        Command::new(node_bin.join("tsc"))
            .args(["--noEmit", "-p"])
            .arg(root().join("tests/npm/tsconfig.json")),
    );
    match built {
        Ok(()) => tally.tests(
            "end-to-end tests",
            // One test at a time: each starts several Chromiums, and the
            // machine has two cores.
            cargo().args([
                "test",
                "-p",
                "peerlens-e2e",
                "--no-fail-fast",
                "--",
                "--test-threads=1",
            ]),
        ),
        Err(e) => {
            eprintln!("{e}");
            tally.fail_step("end-to-end tests (building www/, the test site and the npm app)");
        }
    }

    println!();
    for failure in &tally.failures {
        println!("failed: {failure}");
    }
    if !tally.failed_steps.is_empty() {
        println!("failed steps: {}", tally.failed_steps.join(", "));
    }
    println!("{} passed, {} failed", tally.passed, tally.failed);
    if tally.failed > 0 {
        // The tally is the run's last line, for people and for CI alike.
        std::process::exit(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::count_results;

    #[test]
    fn sums_native_and_wasm_result_lines() {
        let output = "\
test result: ok. 5 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s
noise
test result: FAILED. 2 passed; 3 failed; 0 ignored; 1 filtered out
";
        assert_eq!(count_results(output), (7, 3));
        assert_eq!(count_results("no results at all"), (0, 0));
    }

    #[test]
    fn names_failed_tests_with_their_panic_message() {
        let output = "\
test a::passes ... ok
test a::fails ... FAIL
test b::also_fails ... FAILED

failures:

---- a::fails output ----
    error output:
        panicked at tests/a.rs:7:9:
        worker vs main: mean 1.18

---- b::also_fails stdout ----
thread 'b::also_fails' panicked at src/b.rs:3:5:
assertion failed: x
";
        assert_eq!(
            super::failed_tests(output),
            [
                "a::fails: worker vs main: mean 1.18",
                "b::also_fails: assertion failed: x"
            ]
        );
        assert!(super::failed_tests("test a ... ok").is_empty());
    }
}
