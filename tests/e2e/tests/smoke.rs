//! The demo page loads from the reference server, opens the camera, joins a
//! room over the WebSocket, and logs no console errors.

use std::time::Duration;

use peerlens_e2e::{root, wait_for, Chromedriver, TestServer};

fn text_of(browser: &peerlens_e2e::Browser, id: &str) -> String {
    browser
        .execute(&format!(
            "const el = document.getElementById('{id}'); return el ? el.textContent : '';"
        ))
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn demo_page_loads_joins_a_room_and_logs_no_errors() {
    let dist = root().join("www/dist");
    assert!(
        dist.join("index.html").is_file(),
        "www/dist is not built; `cargo xtask test` builds it with trunk first"
    );
    let server = TestServer::start(Some(dist));
    let health = ureq::get(&format!("{}/healthz", server.http_url()))
        .call()
        .expect("GET /healthz")
        .into_string()
        .expect("a body");
    assert_eq!(health, "ok");

    let driver = Chromedriver::start();
    let browser = driver.browser();
    browser.goto(&format!("{}/?from=e2e", server.http_url()));
    wait_for("the camera preview", Duration::from_secs(30), || {
        let status = text_of(&browser, "status");
        assert!(
            !status.contains("unavailable") && !status.contains("unreachable"),
            "status: {status}"
        );
        status.starts_with("Camera on").then_some(())
    });
    wait_for("the local preview to play", Duration::from_secs(10), || {
        let playing = browser.execute(
            "const v = document.getElementById('local'); return v.videoWidth > 0 && !v.paused;",
        );
        (playing.as_bool() == Some(true)).then_some(())
    });

    browser.execute("document.getElementById('name').value = 'e2e'; document.querySelector('#join button').click(); return null;");
    wait_for(
        "the welcome from the server",
        Duration::from_secs(10),
        || {
            text_of(&browser, "status")
                .starts_with("Joined as")
                .then_some(())
        },
    );

    let errors: Vec<_> = browser
        .console()
        .into_iter()
        .filter(|entry| entry.level == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
}
