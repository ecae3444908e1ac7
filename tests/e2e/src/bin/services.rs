//! The media services behind the demo's Echo, Playback and Relay pages,
//! for `cargo xtask demo`: Janus (EchoTest and a Streaming mountpoint),
//! ffmpeg looping the test clip into that mountpoint, and the npm `ws`
//! sender/receiver relay. All of them listen on 127.0.0.1.
//!
//! `services OUT.json` starts them, writes where they listen to OUT.json
//! (the page reads it), and runs until it is killed or its standard input
//! closes. A service that cannot start is left out of the file, with a
//! message saying why: its page then says that it is not running.

use std::{
    io::Read,
    panic::{catch_unwind, AssertUnwindSafe},
};

use peerlens_e2e::{ExternalServer, Janus, RtpFeed, MOUNTPOINT};

fn main() {
    let Some(out) = std::env::args().nth(1) else {
        eprintln!("usage: services OUT.json");
        std::process::exit(2);
    };
    // The harness panics with the reason when a service cannot start;
    // here that reason is a message, and the other services go on.
    std::panic::set_hook(Box::new(|info| {
        let reason = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| {
                info.payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
            })
            .unwrap_or_default();
        eprintln!("services: {reason}");
    }));
    let janus = catch_unwind(Janus::start).ok();
    let feed = janus
        .as_ref()
        .and_then(|janus| catch_unwind(AssertUnwindSafe(|| RtpFeed::start(janus.rtp_port()))).ok());
    let relay = catch_unwind(ExternalServer::relay).ok();
    let mut services = serde_json::Map::new();
    match &janus {
        Some(janus) => {
            println!("services: Janus at {}", janus.ws_url());
            services.insert("janus".into(), janus.ws_url().into());
            if feed.is_some() {
                println!("services: ffmpeg feeds mountpoint {MOUNTPOINT} with tests/fixtures/clip-320x240.webm");
                services.insert("mountpoint".into(), MOUNTPOINT.into());
            }
        }
        None => println!("services: Janus did not start; the Echo and Playback pages will say so"),
    }
    match &relay {
        Some(relay) => {
            println!("services: the sender/receiver relay at {}", relay.ws_url());
            services.insert("relay".into(), relay.ws_url().into());
        }
        None => println!("services: the relay did not start; the Relay pages will say so"),
    }
    let json = serde_json::Value::Object(services).to_string();
    if let Err(e) = std::fs::write(&out, json) {
        eprintln!("services: cannot write {out}: {e}");
        std::process::exit(1);
    }
    // Until the parent goes away (or a signal ends this process group).
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    let _ = std::fs::remove_file(&out);
    drop((feed, janus, relay));
}
