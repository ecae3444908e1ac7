//! Runs a wasm-bindgen-test browser test binary in WebKitGTK.
//!
//! Cargo's runner for wasm32 in the WebKit steps of `cargo xtask test`
//! (`CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER`): cargo calls it as it
//! would call wasm-bindgen-test-runner, with the test wasm and the test
//! arguments. wasm-bindgen-test-runner cannot give WebKit the capabilities
//! it needs (it sends a Safari-type driver empty ones), so this starts it
//! in its interactive mode (`NO_HEADLESS`), where it only serves the test
//! page, and drives that page itself through [`WebKitDriver`]. The page's
//! output is printed as it grows, so the tally of `cargo xtask test` reads
//! its `test result:` line as for any other runner.
//!
//! Environment: `WASM_BINDGEN_TEST_TIMEOUT` (seconds, 300 by default);
//! `PEERLENS_WEBKIT_JSC` (`NAME=VALUE,...`), JavaScriptCore switches for
//! the page processes.

use std::{
    io::Write,
    net::TcpStream,
    os::unix::process::CommandExt,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use peerlens_e2e::{free_port, WebKitDriver};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!("usage: webkit-test-runner TEST.wasm [TEST ARGS...]");
        std::process::exit(2);
    }
    let addr = format!("127.0.0.1:{}", free_port());
    let mut server = Command::new("wasm-bindgen-test-runner")
        .args(&args)
        .env("NO_HEADLESS", "1")
        .env("WASM_BINDGEN_TEST_ADDRESS", &addr)
        .process_group(0)
        .stdout(Stdio::null())
        .spawn()
        .expect("start wasm-bindgen-test-runner (cargo xtask setup installs it)");
    let stop_server = |server: &mut std::process::Child| {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", server.id())])
            .status();
        let _ = server.wait();
    };
    // The runner binds its port once wasm-bindgen has processed the test
    // wasm, which takes seconds for a large one.
    let deadline = Instant::now() + Duration::from_secs(180);
    while TcpStream::connect(&addr).is_err() {
        if let Ok(Some(status)) = server.try_wait() {
            eprintln!("wasm-bindgen-test-runner exited before serving the tests: {status}");
            std::process::exit(1);
        }
        if Instant::now() > deadline {
            stop_server(&mut server);
            eprintln!("wasm-bindgen-test-runner did not serve the tests within 180 s");
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    let jsc: Vec<(String, String)> = std::env::var("PEERLENS_WEBKIT_JSC")
        .unwrap_or_default()
        .split(',')
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect();
    let env: Vec<(&str, &str)> = jsc.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let timeout = std::env::var("WASM_BINDGEN_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    println!("Running the tests in WebKitGTK (MiniBrowser under Xvfb), {timeout} s at most");

    let result = std::panic::catch_unwind(|| {
        let driver = WebKitDriver::start_with_env(&env);
        let browser = driver.browser();
        browser.goto(&format!("http://{addr}"));
        let deadline = Instant::now() + Duration::from_secs(timeout);
        let mut printed = 0;
        loop {
            let output = browser
                .execute(
                    "const o = document.getElementById('output'); return o ? o.textContent : '';",
                )
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if output.len() > printed && output.is_char_boundary(printed) {
                print!("{}", &output[printed..]);
                let _ = std::io::stdout().flush();
                printed = output.len();
            }
            if output.contains("test result: ") {
                return output;
            }
            if Instant::now() > deadline {
                println!("\nwebkit-test-runner: no test result after {timeout} s");
                return output;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    stop_server(&mut server);
    match result {
        Ok(output) if output.contains("test result: ok") => println!(),
        Ok(_) => {
            println!();
            std::process::exit(1);
        }
        Err(_) => std::process::exit(1),
    }
}
