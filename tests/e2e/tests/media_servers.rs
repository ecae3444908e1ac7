//! The media-server clients in real headless Chromium against real servers
//! on 127.0.0.1: Debian's Janus 1.1 (EchoTest, VideoRoom, Streaming fed by
//! ffmpeg over RTP) and an aiortc WHIP/WHEP endpoint
//! (tests/servers/whip_endpoint.py).
//!
//! The page is tests/pages/media-server.html with the library built into
//! `target/e2e-site` by `cargo xtask test`.

use std::time::Duration;

use peerlens_e2e::{
    face_video_flag, test_site, wait_for, Browser, Chromedriver, ExternalServer, Janus, RtpFeed,
    TestServer, MOUNTPOINT,
};
use serde_json::Value;

/// The colour the effects draw face boxes in.
const BOX_COLOUR: [u8; 3] = [0, 230, 118];

/// Chromium for these tests: host candidates as plain addresses. Without
/// camera permission (the playback pages never ask for it) Chromium hides
/// them behind mDNS names, which Janus is told to ignore rather than send
/// multicast queries for.
fn browser(driver: &Chromedriver, extra: &[&str]) -> Browser {
    let mut flags = vec!["--disable-features=WebRtcHideLocalIpsWithMdns"];
    flags.extend_from_slice(extra);
    driver.browser_with(&flags, &[])
}

/// Opens the test page and waits for the library to load.
fn open_page(browser: &Browser, site: &TestServer) {
    browser.goto(&format!("{}/media-server.html", site.http_url()));
    wait_for("the library to load", Duration::from_secs(30), || {
        let state = browser
            .execute("return { ready: window.t && t.ready, error: window.t && t.initError };");
        if let Some(error) = state["error"].as_str() {
            panic!("the library failed to load: {error}");
        }
        state["ready"].as_bool().filter(|r| *r)
    });
}

/// Runs `call` (an expression of `t`, a promise) and returns
/// `{ok, value}` or `{ok: false, error: {name, code, status, message}}`.
fn run(browser: &Browser, call: &str) -> Value {
    browser.execute_async(&format!(
        "const done = arguments[arguments.length - 1]; t.run(() => {call}).then(done);"
    ))
}

fn run_ok(browser: &Browser, call: &str) -> Value {
    let result = run(browser, call);
    assert_eq!(result["ok"], true, "{call}: {result}");
    result["value"].clone()
}

/// `t.frame(name, 1)` without the pixels: size and decoded frames.
fn frames(browser: &Browser, name: &str) -> (u64, u64) {
    let v = browser.execute(&format!(
        "const f = t.frame({name:?}, 1000); return f ? [f.width, f.frames] : [0, 0];"
    ));
    (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0))
}

/// Waits until video `name` plays and its frame count keeps rising.
fn wait_for_playing(browser: &Browser, name: &str, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    let start = loop {
        let (width, count) = frames(browser, name);
        if width > 0 && count > 0 {
            break count;
        }
        if std::time::Instant::now() > deadline {
            let log = browser
                .execute("return { log: t.log, errors: t.errors, videos: Object.keys(t.videos) };");
            panic!("timed out after {timeout:?} waiting for video {name} to play; page: {log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    wait_for(
        &format!("video {name} to advance"),
        Duration::from_secs(10),
        || (frames(browser, name).1 >= start + 10).then_some(()),
    );
}

fn errors(browser: &Browser) -> Vec<Value> {
    browser
        .execute("return t.errors;")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Fails on a Rust panic or an uncaught exception in the page's console.
fn assert_no_panic(browser: &Browser) {
    let bad: Vec<String> = browser
        .console()
        .into_iter()
        .filter(|e| {
            e.message.contains("panicked")
                || e.message.contains("RuntimeError")
                || e.message.contains("Uncaught")
        })
        .map(|e| e.message)
        .collect();
    assert!(bad.is_empty(), "console: {bad:#?}");
}

fn log_kinds(browser: &Browser, kind: &str) -> Vec<Value> {
    browser
        .execute(&format!(
            "return t.log.filter(e => e.kind === {kind:?}).map(e => e.detail);"
        ))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn janus_echotest_returns_the_face_boxes_drawn_before_publishing() {
    let janus = Janus::start();
    let site = TestServer::start(Some(test_site()));
    let driver = Chromedriver::start();
    let camera = face_video_flag();
    let browser = browser(&driver, &[&camera]);
    open_page(&browser, &site);
    run_ok(&browser, &format!("t.echo({:?}, true)", janus.ws_url()));
    wait_for_playing(&browser, "echo", Duration::from_secs(30));
    // The echo is Janus's copy of the processed canvas: it shows the boxes
    // the camera itself does not have.
    let boxed = wait_for("boxes in the echo", Duration::from_secs(20), || {
        let n = browser
            .execute(&format!(
                "return t.countColour('echo', {BOX_COLOUR:?}, 40);"
            ))
            .as_i64()
            .unwrap_or(-1);
        (n > 400).then_some(n)
    });
    let raw = browser
        .execute(&format!(
            "return t.countColour('camera', {BOX_COLOUR:?}, 40);"
        ))
        .as_i64()
        .unwrap_or(-1);
    assert!(
        (0..20).contains(&raw),
        "the camera itself has no box colour ({raw} pixels; echo {boxed})"
    );
    let (width, _) = frames(&browser, "echo");
    assert_eq!(width, 640, "the echo keeps the processed size");
    assert_eq!(errors(&browser), Vec::<Value>::new());
    assert_no_panic(&browser);
}

#[test]
fn janus_videoroom_of_three_publishers_each_receives_the_other_two() {
    let janus = Janus::start();
    let site = TestServer::start(Some(test_site()));
    let driver = Chromedriver::start();
    let browsers: Vec<Browser> = (0..3).map(|_| browser(&driver, &[])).collect();
    let mut ids = Vec::new();
    for (i, browser) in browsers.iter().enumerate() {
        open_page(browser, &site);
        let id = run_ok(
            browser,
            &format!("t.room({:?}, 4242, 'p{i}')", janus.ws_url()),
        );
        ids.push(id.as_u64().expect("a publisher id"));
    }
    for (i, browser) in browsers.iter().enumerate() {
        let others: Vec<u64> = ids
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, id)| *id)
            .collect();
        for feed in &others {
            wait_for_playing(browser, &format!("feed:{feed}"), Duration::from_secs(40));
        }
        let shown: Vec<String> = browser
            .execute("return Object.keys(t.videos).filter(k => k.startsWith('feed:'));")
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            shown.len(),
            2,
            "p{i} shows exactly the other two: {shown:?}"
        );
        assert_eq!(errors(browser), Vec::<Value>::new(), "p{i}");
    }
    // One leaves: the others drop its feed.
    let leaver = ids[2];
    run_ok(&browsers[2], "Promise.resolve(t.sessions.room.leave())");
    for browser in &browsers[..2] {
        wait_for("the leaver's feed to go", Duration::from_secs(10), || {
            let left = log_kinds(browser, "feed-left");
            left.iter()
                .any(|d| d["feed"].as_u64() == Some(leaver))
                .then_some(())
        });
    }
    for browser in &browsers {
        assert_no_panic(browser);
    }
}

#[test]
fn janus_streaming_plays_an_rtp_fed_clip_with_pause_start_and_stop() {
    let janus = Janus::start();
    let _feed = RtpFeed::start(janus.rtp_port());
    let site = TestServer::start(Some(test_site()));
    let driver = Chromedriver::start();
    let browser = browser(&driver, &[]);
    open_page(&browser, &site);
    run_ok(
        &browser,
        &format!("t.watch({:?}, {MOUNTPOINT})", janus.ws_url()),
    );
    wait_for_playing(&browser, "stream", Duration::from_secs(30));
    let (width, _) = frames(&browser, "stream");
    assert_eq!(width, 320, "the clip's size");
    // The test card is colourful: not a black or frozen frame.
    let spread = browser.execute(
        "const f = t.frame('stream', 8); return Math.max(...f.pixels) - Math.min(...f.pixels);",
    );
    assert!(spread.as_i64().unwrap_or(0) > 100, "a picture: {spread}");

    run_ok(&browser, "t.sessions.streaming.pause()");
    std::thread::sleep(Duration::from_millis(800));
    let (_, paused_at) = frames(&browser, "stream");
    std::thread::sleep(Duration::from_millis(1500));
    let (_, still) = frames(&browser, "stream");
    assert!(
        still <= paused_at + 2,
        "paused: frames went from {paused_at} to {still}"
    );

    run_ok(&browser, "t.sessions.streaming.resume()");
    wait_for("frames after resuming", Duration::from_secs(10), || {
        (frames(&browser, "stream").1 >= still + 10).then_some(())
    });

    run_ok(&browser, "t.sessions.streaming.stop()");
    std::thread::sleep(Duration::from_millis(800));
    let (_, stopped_at) = frames(&browser, "stream");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        frames(&browser, "stream").1 <= stopped_at + 2,
        "no frames after stop"
    );
    let statuses: Vec<String> = log_kinds(&browser, "status")
        .iter()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect();
    assert!(
        statuses == ["started", "pausing", "started", "stopping"],
        "Janus reported the states: {statuses:?}"
    );
    assert_eq!(errors(&browser), Vec::<Value>::new());
    assert_no_panic(&browser);
}

#[test]
fn janus_killed_mid_session_is_a_typed_error_event_without_a_panic() {
    let mut janus = Janus::start();
    let site = TestServer::start(Some(test_site()));
    let driver = Chromedriver::start();
    let browser = browser(&driver, &[]);
    open_page(&browser, &site);
    run_ok(&browser, &format!("t.echo({:?}, false)", janus.ws_url()));
    wait_for_playing(&browser, "echo", Duration::from_secs(30));

    janus.kill();
    let lost = wait_for("the typed error event", Duration::from_secs(10), || {
        let errors = errors(&browser);
        errors
            .iter()
            .find(|e| e["name"] == "JanusDisconnected")
            .cloned()
    });
    assert_eq!(lost["code"], "disconnected", "{lost}");
    // Requests on the lost session fail at once with the same typed error.
    let again = run(
        &browser,
        "t.pl.JanusEchoTest.start(t.sessions.janus, t.cameraStream)",
    );
    assert_eq!(again["error"]["name"], "JanusDisconnected", "{again}");
    let after = run(&browser, &format!("t.janus({:?})", "ws://127.0.0.1:9"));
    assert_eq!(after["ok"], false);
    assert_eq!(after["error"]["name"], "JanusConnectError", "{after}");
    assert_no_panic(&browser);
}

#[test]
fn janus_keepalives_hold_a_quiet_session_past_its_timeout() {
    let janus = Janus::start_with_session_timeout(3);
    let site = TestServer::start(Some(test_site()));
    let driver = Chromedriver::start();
    let browser = browser(&driver, &[]);
    open_page(&browser, &site);
    // Keepalives every second hold the session; one every 20 s does not.
    run_ok(
        &browser,
        &format!("t.janus({:?}, {{ keepaliveMs: 1000 }})", janus.ws_url()),
    );
    let quiet = run(
        &browser,
        &format!(
            "t.pl.Janus.connect({:?}, {{ keepaliveMs: 20000, onError: e => t.errors.push({{ where: 'quiet', name: e.name }}) }}).then(j => {{ t.sessions.quiet = j; return true; }})",
            janus.ws_url()
        ),
    );
    assert_eq!(quiet["ok"], true, "{quiet}");
    let timed_out = wait_for(
        "Janus to time the quiet session out",
        Duration::from_secs(15),
        || errors(&browser).into_iter().find(|e| e["where"] == "quiet"),
    );
    assert_eq!(timed_out["name"], "JanusSessionTimeout", "{timed_out}");
    run_ok(
        &browser,
        "t.camera().then(s => t.pl.JanusEchoTest.start(t.sessions.janus, s)).then(() => true)",
    );
    let kept: Vec<Value> = errors(&browser)
        .into_iter()
        .filter(|e| e["where"] != "quiet")
        .collect();
    assert_eq!(
        kept,
        Vec::<Value>::new(),
        "the kept-alive session has no error"
    );
    assert_no_panic(&browser);
}

/// An aiortc WHIP/WHEP endpoint and the test page in Chromium, in the
/// order they are dropped: browser, driver, site, endpoint.
fn whip_page(token: Option<&str>) -> (Browser, Chromedriver, TestServer, ExternalServer) {
    let endpoint = ExternalServer::whip_endpoint(token);
    let site = TestServer::start(Some(test_site()));
    let driver = Chromedriver::start();
    let browser = browser(&driver, &[]);
    open_page(&browser, &site);
    (browser, driver, site, endpoint)
}

/// The endpoint's record of its sessions.
fn endpoint_stats(endpoint: &ExternalServer) -> Vec<Value> {
    let stats: Value = ureq::get(&format!("{}/stats", endpoint.http_url()))
        .call()
        .expect("GET /stats")
        .into_json()
        .expect("stats JSON");
    stats["sessions"].as_array().cloned().unwrap_or_default()
}

#[test]
fn whip_publishes_trickles_restarts_ice_and_deletes() {
    let (browser, _driver, _site, endpoint) = whip_page(Some("s3cret"));
    let url = format!("{}/whip/cam", endpoint.http_url());

    // Without the token: a typed 401.
    let refused = run(&browser, &format!("t.whip({url:?}, {{}})"));
    assert_eq!(refused["ok"], false);
    assert_eq!(refused["error"]["name"], "WhipRejected", "{refused}");
    assert_eq!(refused["error"]["status"], 401);

    let started = run_ok(&browser, &format!("t.whip({url:?}, {{ token: 's3cret' }})"));
    let resource = started["resourceUrl"].as_str().expect("a resource URL");
    assert!(
        resource.starts_with(&format!("{}/resource/", endpoint.http_url())),
        "Location resolved against the endpoint: {resource}"
    );
    let servers = started["linkIceServers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(servers.len(), 2, "the Link headers: {started}");
    assert_eq!(servers[1]["username"], "peerlens");
    assert_eq!(servers[1]["credential"], "secret");

    // Media flows, candidates arrive by PATCH with the ETag.
    let session = wait_for("video at the endpoint", Duration::from_secs(20), || {
        endpoint_stats(&endpoint)
            .into_iter()
            .find(|s| s["frames"]["video"].as_u64().unwrap_or(0) > 20)
    });
    assert_eq!(session["authorization"], "Bearer s3cret");
    assert_eq!(session["connection_state"], "connected");
    let trickles: Vec<&Value> = session["patches"]
        .as_array()
        .map(|p| p.iter().filter(|p| p["kind"] == "trickle").collect())
        .unwrap_or_default();
    assert!(!trickles.is_empty(), "trickle PATCHes: {session}");
    assert!(
        trickles.iter().all(|p| p["status"] == 204
            && p["content_type"] == "application/trickle-ice-sdpfrag"
            && p["if_match"] == session["etag"]),
        "{trickles:?} vs ETag {}",
        session["etag"]
    );
    assert!(
        trickles
            .iter()
            .map(|p| p["candidates"].as_u64().unwrap_or(0))
            .sum::<u64>()
            >= 1,
        "candidates were sent"
    );

    // ICE restart: PATCH with If-Match: *, a new ufrag; the answer's
    // credentials end up in the remote description.
    run_ok(&browser, "Promise.resolve(t.sessions.whip.restartIce())");
    wait_for("the restart to be applied", Duration::from_secs(10), || {
        (!log_kinds(&browser, "ice-restarted").is_empty()).then_some(())
    });
    let session = endpoint_stats(&endpoint)
        .into_iter()
        .find(|s| s["kind"] == "whip" && s["restart"].is_object())
        .expect("the endpoint saw the restart");
    let restart = &session["restart"];
    assert_ne!(restart["old_ufrag"], restart["new_ufrag"]);
    let patch = session["patches"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["kind"] == "restart"))
        .cloned()
        .expect("a restart PATCH");
    assert_eq!(patch["if_match"], "*");
    assert_eq!(patch["status"], 200);
    let server_ufrag = restart["server_ufrag"].as_str().expect("server ufrag");
    let remote = browser.execute("return t.sessions.whip.peerConnection.remoteDescription.sdp;");
    assert!(
        remote
            .as_str()
            .is_some_and(|sdp| sdp.contains(&format!("a=ice-ufrag:{server_ufrag}"))),
        "the restart answer was applied: {remote}"
    );
    let local_ufrag = browser.execute(
        "return /a=ice-ufrag:(\\S+)/.exec(t.sessions.whip.peerConnection.localDescription.sdp)[1];",
    );
    assert_eq!(
        local_ufrag, restart["new_ufrag"],
        "the PATCH carried the new offer's ufrag"
    );

    run_ok(&browser, "t.sessions.whip.stop()");
    let session = endpoint_stats(&endpoint)
        .into_iter()
        .find(|s| s["kind"] == "whip" && s["restart"].is_object())
        .expect("the session");
    assert_eq!(session["deleted"], true, "DELETE on stop");
    assert_no_panic(&browser);
}

#[test]
fn whep_plays_the_endpoints_video_and_deletes_on_stop() {
    let (browser, _driver, _site, endpoint) = whip_page(None);
    let resource = run_ok(
        &browser,
        &format!("t.whep({:?})", format!("{}/whep/show", endpoint.http_url())),
    );
    assert!(resource.as_str().is_some_and(|r| r.contains("/resource/")));
    wait_for_playing(&browser, "whep", Duration::from_secs(20));
    assert_eq!(frames(&browser, "whep").0, 320);
    run_ok(&browser, "t.sessions.whep.stop()");
    let sessions = endpoint_stats(&endpoint);
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["kind"], "whep");
    assert_eq!(sessions[0]["deleted"], true);
    assert_eq!(errors(&browser), Vec::<Value>::new());
    assert_no_panic(&browser);
}

#[test]
fn whip_http_failures_are_typed_errors() {
    let (browser, _driver, _site, endpoint) = whip_page(None);
    for (path, name, status) in [
        ("/fail/503", "WhipServerError", 503),
        ("/fail/403", "WhipRejected", 403),
    ] {
        let result = run(
            &browser,
            &format!(
                "t.whip({:?}, {{}})",
                format!("{}{path}", endpoint.http_url())
            ),
        );
        assert_eq!(result["ok"], false, "{path}");
        assert_eq!(result["error"]["name"], name, "{result}");
        assert_eq!(result["error"]["status"], status, "{result}");
        assert!(
            result["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("refused for the test")),
            "the body is in the message: {result}"
        );
    }
    let unreachable = run(&browser, "t.whep('http://127.0.0.1:9/whep/x', {})");
    assert_eq!(
        unreachable["error"]["name"], "WhipNetworkError",
        "{unreachable}"
    );
    assert_no_panic(&browser);
}
