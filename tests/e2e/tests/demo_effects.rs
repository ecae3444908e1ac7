//! The demo's effect picker: effects switched on one peer show in the
//! other peer's tile, through a track swap with no renegotiation.

use std::time::Duration;

use peerlens_e2e::{
    demo_dist, demo_page::box_pixels, face_video_flag, wait_for, Chromedriver, TestServer,
    UNTHROTTLED,
};

#[test]
fn effects_picked_on_one_peer_show_in_the_other_peers_tile() {
    let server = TestServer::start(Some(demo_dist()));
    let driver = Chromedriver::start();
    let face = face_video_flag();
    // Both windows stay un-throttled (the processed video is a canvas).
    let flags = UNTHROTTLED;
    let with_face: Vec<&str> = flags.iter().copied().chain([face.as_str()]).collect();
    let sender = driver.browser_with(&with_face, &[]);
    let viewer = driver.browser_with(&flags, &[]);
    sender.goto(&format!(
        "{}/?room=fx&name=sender&autojoin=1",
        server.http_url()
    ));
    viewer.goto(&format!(
        "{}/?room=fx&name=viewer&autojoin=1",
        server.http_url()
    ));
    wait_for(
        "the models to load on the sender",
        Duration::from_secs(60),
        || {
            sender
                .execute("return document.getElementById('effects').dataset.loaded || null;")
                .as_str()
                .map(str::to_owned)
        },
    );
    let before = wait_for(
        "the sender's video at the viewer",
        Duration::from_secs(60),
        || {
            let n = box_pixels(&viewer);
            (n >= 0).then_some(n)
        },
    );
    assert!(
        before < 20,
        "no boxes before they are picked ({before} pixels)"
    );

    sender.execute(
        "const box = document.getElementById('fx-boxes');
         box.checked = true;
         box.dispatchEvent(new Event('change', { bubbles: true }));",
    );
    let after = wait_for(
        "boxes in the viewer's tile",
        Duration::from_secs(20),
        || {
            let n = box_pixels(&viewer);
            (n > 400).then_some(n)
        },
    );
    let stats = sender
        .execute("return document.getElementById('fx-stats').dataset.processed || '0';")
        .as_str()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(stats > 0, "the sender's stats count processed frames");

    // A peer who joins now gets the processed video too.
    let late = driver.browser_with(&flags, &[]);
    late.goto(&format!(
        "{}/?room=fx&name=late&autojoin=1&fx=0",
        server.http_url()
    ));
    wait_for(
        "boxes in the late joiner's tile",
        Duration::from_secs(40),
        || {
            let tiles = late
                .execute("return document.querySelectorAll('#grid figure[data-peer]').length;")
                .as_u64()
                .unwrap_or(0);
            (tiles == 2 && box_pixels(&late) > 400).then_some(())
        },
    );
    drop(late);

    sender.execute(
        "const box = document.getElementById('fx-boxes');
         box.checked = false;
         box.dispatchEvent(new Event('change', { bubbles: true }));",
    );
    wait_for("the plain camera again", Duration::from_secs(20), || {
        (box_pixels(&viewer) < 20).then_some(())
    });
    // The controls: muting disables the microphone track; leaving
    // removes the tile at the other end and shows the join form again.
    viewer.execute("document.getElementById('mute-mic').click();");
    let muted = viewer.execute(
        "return [document.getElementById('mute-mic').getAttribute('aria-pressed'),
                 document.getElementById('local').srcObject.getAudioTracks().map(t => t.enabled)];",
    );
    assert_eq!(muted, serde_json::json!(["true", [false]]), "muted");
    sender.execute("document.getElementById('leave').click();");
    wait_for("the sender's tile to go", Duration::from_secs(5), || {
        let tiles = viewer
            .execute("return document.querySelectorAll('#grid figure[data-peer]').length;")
            .as_u64();
        (tiles == Some(0)).then_some(())
    });
    wait_for(
        "the join form after leaving",
        Duration::from_secs(10),
        || {
            sender
                .execute("const f = document.getElementById('join'); return !!f && !f.hidden;")
                .as_bool()
                .filter(|shown| *shown)
        },
    );
    let errors = viewer
        .execute("return [...document.querySelectorAll('#log li')].map(li => li.textContent);");
    assert_eq!(
        errors,
        serde_json::json!([]),
        "viewer errors (boxes seen: {after})"
    );
}
