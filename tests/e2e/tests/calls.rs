//! Calls and rooms in real headless Chromium, one browser per peer, against
//! real servers on 127.0.0.1: the reference server, the npm `ws` relay with
//! a plain-JS peer on the far side, a python-socketio server, and a server
//! that sends garbage.

use std::time::{Duration, Instant};

use peerlens_e2e::{
    demo_dist,
    demo_page::{assert_frames_advance, logged_errors, text, tiles, wait_for_videos},
    wait_for, Browser, ChaosServer, Chromedriver, ExternalServer, TestServer, MALFORMED,
};
use serde_json::Value;

#[test]
fn a_room_of_three_on_the_reference_server_sees_and_hears_everyone_and_cleans_up() {
    let server = TestServer::start(Some(demo_dist()));
    let driver = Chromedriver::start();
    let mut browsers: Vec<Browser> = (0..3).map(|_| driver.browser()).collect();
    for (i, browser) in browsers.iter().enumerate() {
        browser.goto(&format!(
            "{}/?room=three&name=p{i}&peer=peer{i}&autojoin=1",
            server.http_url()
        ));
    }
    for (i, browser) in browsers.iter().enumerate() {
        let seen = wait_for_videos(browser, &format!("peer{i}"), 2, Duration::from_secs(60));
        let mut peers: Vec<String> = seen.into_iter().map(|t| t.peer).collect();
        peers.sort();
        let expected: Vec<String> = (0..3)
            .filter(|j| *j != i)
            .map(|j| format!("peer{j}"))
            .collect();
        assert_eq!(peers, expected, "peer{i} sees the other two");
    }
    for (i, browser) in browsers.iter().enumerate() {
        assert_frames_advance(browser, &format!("peer{i}"));
        // The fake microphone's audio reaches each peer: inbound audio
        // bytes in getStats, shown on each tile.
        wait_for(
            &format!("audio at peer{i}"),
            Duration::from_secs(15),
            || {
                let tiles = tiles(browser);
                tiles.iter().all(|t| t.audio_bytes > 1000.0).then_some(())
            },
        );
        assert_eq!(logged_errors(browser), Vec::<String>::new(), "peer{i}");
    }

    // peer2 closes its browser: the others drop its tile within 5 s.
    let gone = browsers.pop().expect("three browsers");
    let closed_at = Instant::now();
    drop(gone);
    for (i, browser) in browsers.iter().enumerate() {
        wait_for(
            &format!("peer{i} to remove peer2"),
            Duration::from_secs(5),
            || {
                tiles(browser)
                    .iter()
                    .all(|t| t.peer != "peer2")
                    .then_some(())
            },
        );
    }
    assert!(closed_at.elapsed() < Duration::from_secs(6));
    assert_frames_advance(&browsers[0], "peer0");
}

#[test]
fn a_killed_and_restarted_server_does_not_cut_the_call() {
    let server = TestServer::start(Some(demo_dist()));
    let addr = server.addr();
    let url = server.http_url();
    let driver = Chromedriver::start();
    let browsers: Vec<Browser> = (0..2).map(|_| driver.browser()).collect();
    for (i, browser) in browsers.iter().enumerate() {
        browser.goto(&format!(
            "{url}/?room=restart&name=r{i}&peer=r{i}&autojoin=1"
        ));
    }
    for (i, browser) in browsers.iter().enumerate() {
        wait_for_videos(browser, &format!("r{i}"), 1, Duration::from_secs(60));
        // The demo's effects fetch the vision module and the models from
        // this server: the kill is for the call, not for a download.
        wait_for(
            &format!("r{i}'s effects to load"),
            Duration::from_secs(60),
            || {
                let loaded = browser
                    .execute("return document.getElementById('effects').dataset.loaded || null;");
                (!loaded.is_null()).then_some(())
            },
        );
    }

    server.kill();
    for (i, browser) in browsers.iter().enumerate() {
        wait_for(&format!("r{i} to notice"), Duration::from_secs(10), || {
            let state =
                browser.execute("return document.getElementById('signaling').dataset.state;");
            matches!(state.as_str(), Some("reconnecting" | "connecting")).then_some(())
        });
        // Peer-to-peer media does not pass through the server.
        assert_frames_advance(browser, &format!("r{i} while the server is down"));
    }

    let _server = TestServer::start_on(addr, Some(demo_dist()));
    for (i, browser) in browsers.iter().enumerate() {
        wait_for(&format!("r{i} to rejoin"), Duration::from_secs(30), || {
            text(browser, "#status")
                .starts_with("Rejoined as")
                .then_some(())
        });
        let tiles = tiles(browser);
        assert_eq!(tiles.len(), 1, "r{i} kept exactly its one peer: {tiles:?}");
        assert_frames_advance(browser, &format!("r{i} after the restart"));
        let errors: Vec<String> = logged_errors(browser)
            .into_iter()
            .filter(|e| !e.starts_with("ConnectionError"))
            .collect();
        assert_eq!(errors, Vec::<String>::new(), "r{i}");
    }
}

#[test]
fn malformed_server_frames_are_typed_errors_and_the_socket_stays_up() {
    let server = TestServer::start(Some(demo_dist()));
    let chaos = ChaosServer::start();
    let driver = Chromedriver::start();
    let browser = driver.browser();
    browser.goto(&format!(
        "{}/?room=chaos&autojoin=1&signal={}",
        server.http_url(),
        chaos.ws_url()
    ));
    // The valid welcome and peer-joined after the garbage still work.
    wait_for(
        "the welcome after the garbage",
        Duration::from_secs(30),
        || {
            text(&browser, "#status")
                .starts_with("Joined as me")
                .then_some(())
        },
    );
    wait_for("the ghost's tile", Duration::from_secs(10), || {
        tiles(&browser)
            .iter()
            .any(|t| t.peer == "ghost")
            .then_some(())
    });
    let errors = logged_errors(&browser);
    let malformed: Vec<&String> = errors
        .iter()
        .filter(|e| e.starts_with("MalformedMessage"))
        .collect();
    assert_eq!(
        malformed.len(),
        MALFORMED.len(),
        "one error per bad frame: {errors:#?}"
    );
    for (expected, (what, _)) in [
        "not valid JSON",
        "unknown message type \"teleport\"",
        "invalid \"welcome\" message",
        "exceeds the",
        "binary frame",
    ]
    .iter()
    .zip(MALFORMED)
    {
        assert!(
            malformed.iter().any(|e| e.contains(expected)),
            "no error for the {what}: {errors:#?}"
        );
    }
    assert_eq!(chaos.connections(), 1, "the client never reconnected");
    assert_eq!(
        browser.execute("return document.getElementById('signaling').dataset.state;"),
        Value::from("open")
    );
}

fn plain_peer(browser: &Browser, field: &str) -> Value {
    browser.execute(&format!("return window.peer ? window.peer.{field} : null;"))
}

/// peerlens in `role` against the plain-JS page in the other role, through
/// the npm `ws` relay.
fn relay_call(peerlens_role: &str) {
    let server = TestServer::start(Some(demo_dist()));
    let relay = ExternalServer::relay();
    let driver = Chromedriver::start();
    let plain = driver.browser();
    let ours = driver.browser();
    let plain_role = if peerlens_role == "sender" {
        "receiver"
    } else {
        "sender"
    };
    let ours_url = format!(
        "{}/?codec=relay&role={peerlens_role}&autojoin=1&signal={}/",
        server.http_url(),
        relay.ws_url()
    );
    let plain_url = format!("{}/relay-peer.html?role={plain_role}", relay.http_url());
    // The relay drops offers while no receiver is registered; the receiver
    // comes first, as users of that server do it.
    if peerlens_role == "receiver" {
        ours.goto(&ours_url);
        wait_for("peerlens to register", Duration::from_secs(30), || {
            text(&ours, "#status")
                .starts_with("Calling as the receiver")
                .then_some(())
        });
        std::thread::sleep(Duration::from_millis(500));
        plain.goto(&plain_url);
    } else {
        plain.goto(&plain_url);
        wait_for(
            "the plain peer to register",
            Duration::from_secs(30),
            || (plain_peer(&plain, "wsOpen") == Value::Bool(true)).then_some(()),
        );
        ours.goto(&ours_url);
    }
    wait_for(
        "frames at the plain-JS peer",
        Duration::from_secs(60),
        || (plain_peer(&plain, "framesReceived").as_u64().unwrap_or(0) > 30).then_some(()),
    );
    // Two-way: the receiver adds its tracks before answering.
    wait_for_videos(&ours, "peerlens", 1, Duration::from_secs(30));
    assert_frames_advance(&ours, "peerlens");
    assert_eq!(logged_errors(&ours), Vec::<String>::new());
    assert_eq!(plain_peer(&plain, "errors"), Value::Array(vec![]));
}

#[test]
fn relay_call_with_peerlens_as_sender_and_a_plain_js_receiver() {
    relay_call("sender");
}

#[test]
fn relay_call_with_peerlens_as_receiver_and_a_plain_js_sender() {
    relay_call("receiver");
}

/// The event and field names of the python-socketio test server.
const SOCKETIO_CONFIG: &str = r#"{"joinEvent":"join_room","leaveEvent":"leave_room","welcomeEvent":"room_users","peerJoinedEvent":"user_joined","peerLeftEvent":"user_left","candidateEvent":"ice_candidate","errorEvents":{"room_full":"room-full"},"fields":{"name":"username","joinPeerId":"client_id","selfId":"you","peers":"users","peerId":"uid","to":"target","from":"sender"}}"#;

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn a_room_of_three_over_a_python_socketio_server() {
    let server = TestServer::start(Some(demo_dist()));
    let socketio = ExternalServer::socketio();
    let driver = Chromedriver::start();
    let browsers: Vec<Browser> = (0..3).map(|_| driver.browser()).collect();
    let signal = format!("{}/socket.io/?EIO=4&transport=websocket", socketio.ws_url());
    for (i, browser) in browsers.iter().enumerate() {
        browser.goto(&format!(
            "{}/?codec=socketio&room=sio&name=s{i}&peer=s{i}&autojoin=1&signal={}&socketio={}",
            server.http_url(),
            url_encode(&signal),
            url_encode(SOCKETIO_CONFIG),
        ));
    }
    for (i, browser) in browsers.iter().enumerate() {
        let seen = wait_for_videos(browser, &format!("s{i}"), 2, Duration::from_secs(60));
        let mut peers: Vec<String> = seen.into_iter().map(|t| t.peer).collect();
        peers.sort();
        let expected: Vec<String> = (0..3)
            .filter(|j| *j != i)
            .map(|j| format!("s{j}"))
            .collect();
        assert_eq!(peers, expected);
    }
    for (i, browser) in browsers.iter().enumerate() {
        assert_frames_advance(browser, &format!("s{i}"));
        assert_eq!(logged_errors(browser), Vec::<String>::new(), "s{i}");
    }
}

#[test]
fn camera_errors_are_typed() {
    let server = TestServer::start(Some(demo_dist()));
    let driver = Chromedriver::start();
    // Each error, the words the page shows for it, the Chromium flags to
    // add and to remove, and the page's URL.
    type Case<'a> = (&'a str, &'a str, &'a [&'a str], &'a [&'a str], String);
    let cases: [Case; 3] = [
        (
            "PermissionDenied",
            "Camera access was denied.",
            &["--deny-permission-prompts"],
            &["--use-fake-ui-for-media-stream"],
            server.http_url(),
        ),
        (
            "NotFound",
            "No camera was found.",
            &[],
            &["--use-fake-device-for-media-stream"],
            server.http_url(),
        ),
        (
            "InsecureContext",
            "The camera needs a secure page",
            // A host name other than localhost makes plain http insecure.
            &["--host-resolver-rules=MAP insecure.test 127.0.0.1"],
            &[],
            server.http_url().replace("127.0.0.1", "insecure.test"),
        ),
    ];
    for (name, words, add, remove, url) in cases {
        let browser = driver.browser_with(add, remove);
        browser.goto(&format!("{url}/"));
        let errors = wait_for(
            &format!("the {name} error"),
            Duration::from_secs(30),
            || {
                let errors = logged_errors(&browser);
                (!errors.is_empty()).then_some(errors)
            },
        );
        assert!(
            errors[0].starts_with(&format!("{name} |")),
            "expected {name}, got {errors:?}"
        );
        let status = text(&browser, "#status");
        assert!(
            status.starts_with(words),
            "{name}: the page says {status:?}"
        );
    }
}

#[test]
fn a_peer_whose_connection_fails_is_removed_within_five_seconds() {
    let server = TestServer::start(Some(demo_dist()));
    let driver = Chromedriver::start();
    let stays = driver.browser();
    let vanishes = driver.browser();
    for (name, browser) in [("stays", &stays), ("vanishes", &vanishes)] {
        browser.goto(&format!(
            "{}/?room=fail&name={name}&peer={name}&autojoin=1",
            server.http_url()
        ));
    }
    wait_for_videos(&stays, "stays", 1, Duration::from_secs(60));
    // Without the server nobody can say that the peer left: only the
    // connection failing can trigger the cleanup.
    server.kill();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(tiles(&stays).len(), 1, "a dropped socket removes no one");
    drop(vanishes);
    let failed_at = wait_for("the connection to fail", Duration::from_secs(90), || {
        let state = stays.execute(
            "const f = document.querySelector('#grid figure[data-peer=\"vanishes\"]'); return f ? f.dataset.state : 'gone';",
        );
        matches!(state.as_str(), Some("failed" | "gone")).then(Instant::now)
    });
    wait_for(
        "the failed peer's tile to go",
        Duration::from_secs(5),
        || tiles(&stays).is_empty().then_some(()),
    );
    assert!(failed_at.elapsed() <= Duration::from_secs(5));
}
