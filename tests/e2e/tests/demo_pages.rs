//! The demo as its users drive it: the join form, the effect picker, the
//! camera picker, screen sharing and the pages beside the room (Echo,
//! Playback, Relay), each against the real service on 127.0.0.1.
//! Screenshots go to `target/e2e/` and are checked to show a page.

use std::{path::PathBuf, time::Duration};

use peerlens_e2e::{
    demo_dist,
    demo_page::{assert_frames_advance, box_pixels, text, tiles, wait_for_videos},
    face_video_flag, free_port, wait_for, Browser, Chromedriver, ExternalServer, Janus, RtpFeed,
    TestServer, MOUNTPOINT, UNTHROTTLED,
};

fn with_face(driver: &Chromedriver) -> Browser {
    let face = face_video_flag();
    let flags: Vec<&str> = UNTHROTTLED.iter().copied().chain([face.as_str()]).collect();
    driver.browser_with(&flags, &[])
}

fn screenshot_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| peerlens_e2e::root().join("target"))
        .join("e2e")
}

/// Saves `browser`'s window as `target/e2e/NAME.png` and checks that it
/// shows a page: many colours and contrast, not a blank or single-colour
/// window.
fn screenshot(browser: &Browser, name: &str) {
    let path = screenshot_dir().join(format!("{name}.png"));
    let shot = browser.screenshot(&path);
    let (colours, contrast) = (shot.distinct_colours(), shot.luma_std());
    assert!(
        shot.width >= 300 && shot.height >= 200 && colours > 500 && contrast > 10.0,
        "{} looks blank: {}x{}, {colours} colours, luma std {contrast:.1}",
        path.display(),
        shot.width,
        shot.height
    );
}

/// Waits until the effects have loaded their models on `browser`.
fn models_loaded(browser: &Browser, who: &str) {
    wait_for(
        &format!("the models to load on {who}"),
        Duration::from_secs(90),
        || {
            browser
                .execute("return document.getElementById('effects').dataset.loaded || null;")
                .as_str()
                .map(str::to_owned)
        },
    );
}

fn status(browser: &Browser) -> String {
    text(browser, "#status")
}

/// Waits until the page has its camera, and so its form's listener.
fn camera_on(browser: &Browser, who: &str) {
    wait_for(&format!("{who}'s camera"), Duration::from_secs(30), || {
        status(browser).starts_with("Camera on").then_some(())
    });
}

#[test]
fn three_browsers_join_from_the_form_and_see_each_other_with_effects_on_one() {
    let server = TestServer::start(Some(demo_dist()));
    let driver = Chromedriver::start();
    // Effects run on one peer only: three full pipelines need more than a
    // 2-core machine has.
    let browsers = [
        with_face(&driver),
        driver.browser_with(&UNTHROTTLED, &[]),
        driver.browser_with(&UNTHROTTLED, &[]),
    ];
    for (i, browser) in browsers.iter().enumerate() {
        let query = if i == 0 { "" } else { "?fx=0" };
        browser.goto(&format!("{}/{query}", server.http_url()));
        camera_on(browser, &format!("p{i}"));
        browser.type_into("#room", "trio");
        browser.type_into("#name", &format!("p{i}"));
        browser.click("#join-button");
    }
    models_loaded(&browsers[0], "p0");
    browsers[0].click("#fx-boxes");
    for (i, browser) in browsers.iter().enumerate() {
        wait_for_videos(browser, &format!("p{i}"), 2, Duration::from_secs(90));
        assert_frames_advance(browser, &format!("p{i}"));
        let names = browser.execute(
            "return [...document.querySelectorAll('#grid figure[data-peer] figcaption')].map(c => c.textContent).sort();",
        );
        let expected: Vec<String> = (0..3)
            .filter(|&j| j != i)
            .map(|j| format!("p{j}"))
            .collect();
        assert_eq!(
            names,
            serde_json::json!(expected),
            "p{i}'s tiles carry the names typed in"
        );
    }
    for (i, browser) in browsers.iter().enumerate().skip(1) {
        wait_for(
            &format!("p0's face boxes in p{i}'s tile"),
            Duration::from_secs(30),
            || (box_pixels(browser) > 400).then_some(()),
        );
    }
    for (i, browser) in browsers.iter().enumerate() {
        screenshot(browser, &format!("room-of-three-p{i}"));
    }
    browsers[2].click("#leave");
    for (i, browser) in browsers.iter().enumerate().take(2) {
        wait_for(
            &format!("p2's tile to leave p{i}'s page"),
            Duration::from_secs(5),
            || (tiles(browser).len() == 1).then_some(()),
        );
    }
}

#[test]
fn the_camera_picker_and_screen_sharing_change_what_peers_get() {
    let server = TestServer::start(Some(demo_dist()));
    let driver = Chromedriver::start();
    // Three fake cameras, and the fake screen Chromium's fake UI picks.
    let sender = driver.browser_with(
        &[
            &UNTHROTTLED[..],
            &["--use-fake-device-for-media-stream=device-count=3"],
        ]
        .concat(),
        &["--use-fake-device-for-media-stream"],
    );
    let viewer = driver.browser_with(&UNTHROTTLED, &[]);
    sender.goto(&format!(
        "{}/?room=pick&name=s&fx=0&autojoin=1",
        server.http_url()
    ));
    viewer.goto(&format!(
        "{}/?room=pick&name=v&fx=0&autojoin=1",
        server.http_url()
    ));
    wait_for_videos(&viewer, "the viewer", 1, Duration::from_secs(60));
    // Chromium's second fake camera is a depth camera (16-bit grey, which
    // its encoder does not send); the third is an ordinary one.
    let other = wait_for(
        "three cameras in the picker",
        Duration::from_secs(20),
        || {
            let other = sender.execute(
                "const s = document.getElementById('camera-select');
             const o = [...s.options];
             return !s.disabled && o.length === 3
               ? (o.find(o => o.textContent === 'fake_device_2') || {}).value || null : null;",
            );
            other.as_str().map(str::to_owned)
        },
    );
    let sent = |browser: &Browser| {
        browser
            .execute("return window.peerlensDemo.sentVideo();")
            .as_object()
            .cloned()
            .unwrap_or_default()
    };
    assert_ne!(
        sent(&sender).get("deviceId").and_then(|d| d.as_str()),
        Some(other.as_str()),
        "the page starts on the first camera"
    );
    sender.execute(&format!(
        "const s = document.getElementById('camera-select'); s.value = {other:?};
         s.dispatchEvent(new Event('change')); return null;"
    ));
    wait_for(
        "the other camera to be sent",
        Duration::from_secs(20),
        || {
            (sent(&sender).get("deviceId").and_then(|d| d.as_str()) == Some(other.as_str()))
                .then_some(())
        },
    );
    assert_frames_advance(&viewer, "the viewer after the camera switch");

    // Screen sharing: the button's click is the user gesture the browser
    // asks for; the screen replaces the camera at the viewer.
    // Compared by aspect ratio: the encoder may scale the size down when
    // the CPU is busy, but keeps the shape.
    let aspect = |browser: &Browser| {
        browser
            .execute(
                "const v = document.querySelector('#grid figure[data-peer] video');
                 return v && v.videoHeight ? v.videoWidth / v.videoHeight : null;",
            )
            .as_f64()
            .unwrap_or(0.0)
    };
    let camera_aspect = aspect(&viewer);
    sender.click("#share-screen");
    wait_for("the screen to be sent", Duration::from_secs(20), || {
        (sent(&sender).get("kind").and_then(|k| k.as_str()) == Some("screen")).then_some(())
    });
    wait_for(
        "the viewer to get the screen",
        Duration::from_secs(20),
        || {
            let shape = aspect(&viewer);
            (shape > 0.0 && (shape - camera_aspect).abs() > 0.05).then_some(())
        },
    );
    assert_frames_advance(&viewer, "the viewer during screen sharing");
    sender.click("#share-screen");
    wait_for("the camera to come back", Duration::from_secs(20), || {
        ((aspect(&viewer) - camera_aspect).abs() < 0.02).then_some(())
    });
    assert_frames_advance(&viewer, "the viewer after screen sharing");
    assert_eq!(
        sent(&sender).get("kind").and_then(|k| k.as_str()),
        Some("camera")
    );
}

#[test]
fn the_echo_page_sends_the_processed_camera_through_janus() {
    let janus = Janus::start();
    let server = TestServer::start(Some(demo_dist()));
    let driver = Chromedriver::start();
    let browser = with_face(&driver);
    browser.goto(&format!(
        "{}/?page=echo&janus={}",
        server.http_url(),
        janus.ws_url()
    ));
    models_loaded(&browser, "the echo page");
    browser.click("#fx-boxes");
    wait_for_videos(&browser, "the echo page", 1, Duration::from_secs(60));
    assert_frames_advance(&browser, "the echo");
    wait_for("face boxes in the echo", Duration::from_secs(30), || {
        (box_pixels(&browser) > 400).then_some(())
    });
    assert!(
        status(&browser).starts_with("Echoing"),
        "{}",
        status(&browser)
    );
    screenshot(&browser, "echo");
}

#[test]
fn the_playback_page_starts_and_stops_the_servers_video() {
    let janus = Janus::start();
    let _feed = RtpFeed::start(janus.rtp_port());
    let server = TestServer::start(Some(demo_dist()));
    let driver = Chromedriver::start();
    let browser = driver.browser_with(&UNTHROTTLED, &[]);
    browser.goto(&format!(
        "{}/?page=playback&janus={}&mountpoint={MOUNTPOINT}",
        server.http_url(),
        janus.ws_url()
    ));
    let enabled = |id: &str| {
        browser.execute(&format!(
            "return !document.getElementById('{id}').disabled;"
        )) == true
    };
    for round in 0..2 {
        wait_for("Start to be enabled", Duration::from_secs(20), || {
            enabled("play-start").then_some(())
        });
        browser.click("#play-start");
        let playing = wait_for_videos(&browser, "the playback page", 1, Duration::from_secs(30));
        assert_eq!(playing[0].width, 320, "the clip is 320x240");
        assert_frames_advance(&browser, "the playback");
        if round == 0 {
            screenshot(&browser, "playback");
        }
        assert!(enabled("play-stop"));
        browser.click("#play-stop");
        wait_for("the playback tile to go", Duration::from_secs(10), || {
            tiles(&browser).is_empty().then_some(())
        });
    }
}

#[test]
fn the_media_pages_say_when_a_service_is_not_running() {
    let server = TestServer::start(Some(demo_dist()));
    let driver = Chromedriver::start();
    let browser = driver.browser_with(&UNTHROTTLED, &[]);
    // Nothing says where Janus is.
    browser.goto(&format!("{}/?page=playback", server.http_url()));
    wait_for(
        "the playback page to say Janus is not running",
        Duration::from_secs(20),
        || status(&browser).contains("not running").then_some(()),
    );
    assert_eq!(
        browser.execute("return document.getElementById('play-start').disabled;"),
        true
    );
    // Janus is said to be somewhere nobody listens.
    let nowhere = format!("ws://127.0.0.1:{}", free_port());
    browser.goto(&format!("{}/?page=echo&janus={nowhere}", server.http_url()));
    wait_for(
        "the echo page to say Janus is not answering",
        Duration::from_secs(30),
        || status(&browser).contains("not answering").then_some(()),
    );
    browser.goto(&format!("{}/?page=relay&role=sender", server.http_url()));
    camera_on(&browser, "the relay page");
    browser.click("#join-button");
    wait_for(
        "the relay page to say the relay is not running",
        Duration::from_secs(20),
        || {
            status(&browser)
                .contains("relay server is not running")
                .then_some(())
        },
    );
}

#[test]
fn the_relay_pages_call_each_other() {
    let relay = ExternalServer::relay();
    let server = TestServer::start(Some(demo_dist()));
    let driver = Chromedriver::start();
    let pages: Vec<Browser> = ["sender", "receiver"]
        .iter()
        .map(|role| {
            let browser = driver.browser_with(&UNTHROTTLED, &[]);
            browser.goto(&format!(
                "{}/?page=relay&role={role}&relay-url={}",
                server.http_url(),
                relay.ws_url()
            ));
            camera_on(&browser, role);
            browser.click("#join-button");
            browser
        })
        .collect();
    for (page, role) in pages.iter().zip(["sender", "receiver"]) {
        wait_for_videos(page, role, 1, Duration::from_secs(60));
        assert_frames_advance(page, role);
        wait_for(
            &format!("the {role}'s status"),
            Duration::from_secs(10),
            || {
                status(page)
                    .contains(&format!("as the {role}"))
                    .then_some(())
            },
        );
    }
}

#[test]
fn the_room_fits_a_phone_screen() {
    let server = TestServer::start(Some(demo_dist()));
    let driver = Chromedriver::start();
    let phone = driver.browser_with(&[], &[]);
    phone.emulate_screen(390, 844);
    let other = driver.browser_with(&UNTHROTTLED, &[]);
    for (browser, name) in [(&phone, "phone"), (&other, "other")] {
        browser.goto(&format!(
            "{}/?room=phone&name={name}&fx=0&autojoin=1",
            server.http_url()
        ));
    }
    wait_for_videos(&phone, "the phone", 1, Duration::from_secs(60));
    let layout = phone.execute(
        "const tiles = [...document.querySelectorAll('#grid figure')].map(f => f.getBoundingClientRect());
         return { width: innerWidth, scroll: document.documentElement.scrollWidth,
                  tiles: tiles.map(r => [Math.round(r.left), Math.round(r.right)]) };",
    );
    let width = layout["width"].as_f64().unwrap_or(0.0);
    assert!(width <= 400.0, "the window is phone-sized: {layout}");
    assert!(
        layout["scroll"].as_f64().unwrap_or(f64::MAX) <= width,
        "nothing scrolls sideways: {layout}"
    );
    let tiles = layout["tiles"].as_array().cloned().unwrap_or_default();
    assert_eq!(tiles.len(), 2, "the local and the remote tile: {layout}");
    for tile in &tiles {
        let (left, right) = (
            tile[0].as_f64().unwrap_or(-1.0),
            tile[1].as_f64().unwrap_or(f64::MAX),
        );
        assert!(left >= 0.0 && right <= width, "a tile sticks out: {layout}");
    }
    screenshot(&phone, "room-on-a-phone");
}

/// Points of the face video (640x480, `astronaut.png` scaled by 1.25
/// from the top-left corner) that are background with a margin, from the
/// image's reference mask (`crates/vision/tests/fixtures`), on a grid of 8.
fn background_points() -> Vec<(u32, u32)> {
    let path = peerlens_e2e::root()
        .join("crates/vision/tests/fixtures/decoded/astronaut.mask_landscape.u8");
    let mask = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(mask.len(), 512 * 512, "the reference mask is 512x512");
    let at = |x: i64, y: i64| -> u8 {
        let (x, y) = (x.clamp(0, 511) as usize, y.clamp(0, 511) as usize);
        mask[y * 512 + x]
    };
    let mut points = Vec::new();
    for y in (8..472).step_by(8) {
        for x in (8..632).step_by(8) {
            // The image pixel under the video pixel, and 16 around it.
            let (ix, iy) = ((f64::from(x) / 1.25) as i64, (f64::from(y) / 1.25) as i64);
            let clear = (-16..=16)
                .step_by(4)
                .all(|dy| (-16..=16).step_by(4).all(|dx| at(ix + dx, iy + dy) < 8));
            if clear {
                points.push((x, y));
            }
        }
    }
    points
}

/// Records, for every frame the viewer's remote video presents, the
/// background's detail: the mean absolute Laplacian of the luma at
/// `points` (the frame scaled to 640x480). `__frames.reset()` starts over.
fn watch_background(viewer: &Browser, points: &[(u32, u32)]) {
    let points = serde_json::to_string(points).expect("points as JSON");
    viewer.execute(&format!(
        "const points = {points};
         const video = document.querySelector('#grid figure[data-peer] video');
         const canvas = document.createElement('canvas');
         canvas.width = 640; canvas.height = 480;
         const ctx = canvas.getContext('2d', {{ willReadFrequently: true }});
         const luma = (d, x, y) => {{
           const i = (y * 640 + x) * 4;
           return 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
         }};
         window.__frames = {{ details: [], presented: 0, start: performance.now(),
           reset() {{ this.details = []; this.presented = 0; this.start = performance.now(); }} }};
         let last = null;
         const onFrame = (now, meta) => {{
           ctx.drawImage(video, 0, 0, 640, 480);
           const d = ctx.getImageData(0, 0, 640, 480).data;
           let sum = 0;
           for (const [x, y] of points)
             sum += Math.abs(4 * luma(d, x, y) - luma(d, x - 1, y) - luma(d, x + 1, y)
                             - luma(d, x, y - 1) - luma(d, x, y + 1));
           window.__frames.details.push(sum / points.length);
           if (last !== null) window.__frames.presented += meta.presentedFrames - last;
           last = meta.presentedFrames;
           video.requestVideoFrameCallback(onFrame);
         }};
         video.requestVideoFrameCallback(onFrame);
         return points.length;"
    ));
}

/// The details recorded since the last reset, the frames presented and
/// the seconds elapsed; resets.
fn take_frames(viewer: &Browser) -> (Vec<f64>, u64, f64) {
    let taken = viewer.execute(
        "const f = window.__frames;
         const out = { details: f.details, presented: f.presented,
                       seconds: (performance.now() - f.start) / 1000 };
         f.reset();
         return out;",
    );
    let details = taken["details"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_f64()).collect())
        .unwrap_or_default();
    (
        details,
        taken["presented"].as_u64().unwrap_or(0),
        taken["seconds"].as_f64().unwrap_or(0.0),
    )
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Blur on, then the sender's page behind another tab for 15 s, with
/// Chromium's background throttling (no anti-throttling flags): every
/// frame the viewer presents has a blurred background, at 15 fps or more.
/// The check is calibrated on the raw camera first, which fails it.
#[test]
fn a_hidden_page_keeps_sending_its_effects_and_never_the_raw_camera() {
    let points = background_points();
    assert!(points.len() > 300, "{} background points", points.len());
    let server = TestServer::start(Some(demo_dist()));
    let driver = Chromedriver::start();
    let face = face_video_flag();
    let sender = driver.browser_with(&[face.as_str()], &[]);
    let viewer = driver.browser_with(&UNTHROTTLED, &[]);
    sender.goto(&format!(
        "{}/?room=hidden&name=s&autojoin=1",
        server.http_url()
    ));
    viewer.goto(&format!(
        "{}/?room=hidden&name=v&fx=0&autojoin=1",
        server.http_url()
    ));
    models_loaded(&sender, "the sender");
    wait_for_videos(&viewer, "the viewer", 1, Duration::from_secs(60));
    watch_background(&viewer, &points);

    // The raw camera, once the bitrate has ramped up: its background's
    // detail sets the bar, and every raw frame is above half of it.
    std::thread::sleep(Duration::from_secs(6));
    take_frames(&viewer);
    std::thread::sleep(Duration::from_secs(3));
    let (raw, _, _) = take_frames(&viewer);
    assert!(raw.len() >= 30, "{} raw frames in 3 s", raw.len());
    let bar = median(&raw) / 2.0;
    let raw_passing = raw.iter().filter(|&&d| d < bar).count();
    assert_eq!(
        raw_passing, 0,
        "the raw camera fails the blur check (bar {bar:.2}): {raw:?}"
    );

    sender.execute(
        "const s = document.getElementById('fx-background');
         s.value = 'blur'; s.dispatchEvent(new Event('change', { bubbles: true }));",
    );
    let mut seen = Vec::new();
    let blurred = (0..60).any(|_| {
        std::thread::sleep(Duration::from_millis(500));
        seen = take_frames(&viewer).0;
        seen.len() >= 5 && seen.iter().all(|&d| d < bar)
    });
    assert!(
        blurred,
        "no blurred background at the viewer within 30 s (bar {bar:.2}, raw median {:.2}); the last half second: {seen:?}",
        bar * 2.0
    );

    sender.execute(
        "window.__visibility = [];
         document.addEventListener('visibilitychange',
           () => window.__visibility.push(document.visibilityState));",
    );
    let room_tab = sender.open_tab_in_front();
    take_frames(&viewer);
    std::thread::sleep(Duration::from_secs(15));
    let (hidden, presented, seconds) = take_frames(&viewer);
    let raw_frames: Vec<f64> = hidden.iter().copied().filter(|&d| d >= bar).collect();
    assert!(
        raw_frames.is_empty(),
        "{} of {} frames while hidden fail the blur check (bar {bar:.2}): {raw_frames:?}",
        raw_frames.len(),
        hidden.len()
    );
    let fps = presented as f64 / seconds;
    assert!(
        fps >= 15.0,
        "{fps:.1} fps at the viewer while the sender is hidden ({presented} frames in {seconds:.1} s)"
    );
    sender.switch_to(&room_tab);
    wait_for(
        "the room's page to have been hidden, then shown again",
        Duration::from_secs(10),
        || {
            (sender.execute("return window.__visibility;")
                == serde_json::json!(["hidden", "visible"]))
            .then_some(())
        },
    );
    assert_frames_advance(&viewer, "the viewer once the sender's page is back");
}
