//! The reference server deployed as users deploy it: behind coturn for
//! relay-only media, over its own TLS, and behind nginx with
//! docs/deploy/nginx.conf.

use std::time::Duration;

use peerlens_e2e::{
    demo_dist, root, self_signed_cert, wait_for, Browser, Chromedriver, ExternalServer, TestServer,
};
use peerlens_server::{Config, TurnConfig};
use serde_json::Value;

/// Remote tiles as (peer, playing frames, route) triples.
fn tiles(browser: &Browser) -> Vec<(String, u64, String)> {
    browser
        .execute(
            "return [...document.querySelectorAll('#grid figure[data-peer]')].map(f => [
                f.dataset.peer,
                f.querySelector('video').getVideoPlaybackQuality().totalVideoFrames,
                f.dataset.route || '']);",
        )
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|t| {
                    (
                        t[0].as_str().unwrap_or_default().to_owned(),
                        t[1].as_u64().unwrap_or(0),
                        t[2].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn errors(browser: &Browser) -> Vec<String> {
    browser
        .execute("return [...document.querySelectorAll('#log li')].map(li => li.textContent);")
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Two browsers join `room` at `base`; each must receive video from the
/// other, and, when `route` is set, over that kind of candidate.
fn two_peers_connect(driver: &Chromedriver, base: &str, query: &str, route: Option<&str>) {
    check_two_peers(driver, base, query, route, &[]);
}

/// [`two_peers_connect`] with extra browser flags.
fn two_peers_connect_with(driver: &Chromedriver, base: &str, query: &str, flags: &[&str]) {
    check_two_peers(driver, base, query, None, flags);
}

fn check_two_peers(
    driver: &Chromedriver,
    base: &str,
    query: &str,
    route: Option<&str>,
    flags: &[&str],
) {
    let browsers: Vec<Browser> = (0..2).map(|_| driver.browser_with(flags, &[])).collect();
    for (i, browser) in browsers.iter().enumerate() {
        browser.goto(&format!("{base}/?name=p{i}&peer=p{i}&autojoin=1&{query}"));
    }
    for (i, browser) in browsers.iter().enumerate() {
        wait_for(
            &format!("p{i} to receive video"),
            Duration::from_secs(60),
            || {
                let tiles = tiles(browser);
                (tiles.len() == 1 && tiles[0].1 > 10).then_some(())
            },
        );
        if let Some(route) = route {
            wait_for(&format!("p{i}'s route"), Duration::from_secs(10), || {
                let tiles = tiles(browser);
                (!tiles[0].2.is_empty()).then(|| tiles[0].2.clone())
            });
            assert_eq!(tiles(browser)[0].2, route, "p{i}'s media route");
        }
        assert_eq!(errors(browser), Vec::<String>::new(), "p{i}");
    }
}

#[test]
fn relay_only_peers_exchange_media_through_coturn_with_server_credentials() {
    let secret = "e2e-shared-secret";
    let coturn = ExternalServer::coturn(secret);
    let server = TestServer::start_with(
        "127.0.0.1:0".parse().unwrap(),
        Config {
            static_dir: Some(demo_dist()),
            turn: Some(TurnConfig {
                secret: secret.into(),
                urls: vec![format!("turn:127.0.0.1:{}?transport=udp", coturn.port())],
                ttl: Duration::from_secs(600),
            }),
            ..Config::default()
        },
    );
    let driver = Chromedriver::start();
    two_peers_connect(
        &driver,
        &server.http_url(),
        "room=turn&relay=1",
        Some("relay"),
    );
}

#[test]
fn the_server_serves_https_and_wss_itself() {
    let (cert, key) = self_signed_cert();
    let server = TestServer::start_tls(
        Config {
            static_dir: Some(demo_dist()),
            ..Config::default()
        },
        cert,
        key,
    );
    assert!(server.http_url().starts_with("https://"));
    let driver = Chromedriver::start();
    // The demo derives wss:// from the https:// page.
    two_peers_connect_with(
        &driver,
        &server.http_url(),
        "room=tls",
        &["--ignore-certificate-errors"],
    );
}

#[test]
fn browsers_on_two_server_processes_sharing_redis_connect() {
    let redis = ExternalServer::redis();
    let config = || Config {
        static_dir: Some(demo_dist()),
        redis: Some(format!("redis://127.0.0.1:{}", redis.port())),
        ..Config::default()
    };
    let any = "127.0.0.1:0".parse().unwrap();
    let (first, second) = (
        TestServer::start_with(any, config()),
        TestServer::start_with(any, config()),
    );
    let driver = Chromedriver::start();
    let browsers = [driver.browser(), driver.browser()];
    browsers[0].goto(&format!(
        "{}/?room=split&name=a&peer=a&autojoin=1",
        first.http_url()
    ));
    browsers[1].goto(&format!(
        "{}/?room=split&name=b&peer=b&autojoin=1",
        second.http_url()
    ));
    for (i, browser) in browsers.iter().enumerate() {
        wait_for(
            &format!("browser {i} to receive video"),
            Duration::from_secs(60),
            || {
                let tiles = tiles(browser);
                (tiles.len() == 1 && tiles[0].1 > 10).then_some(())
            },
        );
        assert_eq!(errors(browser), Vec::<String>::new());
    }
}

/// nginx running `site` (a `server {}` block) in the foreground, with all
/// its files in a temporary prefix.
struct Nginx {
    child: std::process::Child,
    prefix: std::path::PathBuf,
}

impl Nginx {
    fn start(site: &str, port: u16) -> Self {
        let prefix = std::env::temp_dir().join(format!("peerlens-nginx-{port}"));
        std::fs::create_dir_all(prefix.join("logs")).unwrap();
        std::fs::write(prefix.join("site.conf"), site).unwrap();
        let p = prefix.display();
        let main = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n\
             fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n\
             include {p}/site.conf;\n}}\n"
        );
        std::fs::write(prefix.join("nginx.conf"), main).unwrap();
        let child = std::process::Command::new("nginx")
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(prefix.join("nginx.conf"))
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("nginx (cargo xtask setup installs it)");
        wait_for("nginx to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(drop)
        });
        Self { child, prefix }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.prefix);
    }
}

#[test]
fn the_documented_nginx_config_proxies_the_demo_and_the_websocket() {
    let server = TestServer::start(Some(demo_dist()));
    let (cert, key) = self_signed_cert();
    let port = peerlens_e2e::free_port();
    let documented = std::fs::read_to_string(root().join("docs/deploy/nginx.conf"))
        .expect("docs/deploy/nginx.conf");
    let mut site = documented.clone();
    for (from, to) in [
        (
            "listen 443 ssl;".to_string(),
            format!("listen 127.0.0.1:{port} ssl;"),
        ),
        (
            "ssl_certificate /etc/letsencrypt/live/call.example.org/fullchain.pem;".into(),
            format!("ssl_certificate {};", cert.display()),
        ),
        (
            "ssl_certificate_key /etc/letsencrypt/live/call.example.org/privkey.pem;".into(),
            format!("ssl_certificate_key {};", key.display()),
        ),
        ("127.0.0.1:8080".into(), server.addr().to_string()),
    ] {
        assert_eq!(
            documented.matches(from.as_str()).count(),
            1,
            "{from:?} appears once"
        );
        site = site.replace(&from, &to);
    }
    let _nginx = Nginx::start(&site, port);
    let driver = Chromedriver::start();
    two_peers_connect_with(
        &driver,
        &format!("https://127.0.0.1:{port}"),
        "room=nginx",
        &["--ignore-certificate-errors"],
    );
}
