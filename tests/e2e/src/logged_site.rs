//! A static file server on 127.0.0.1 that records the path of every
//! request it answers: the network log of the tests that check what a
//! page downloads. Plain HTTP/1.1, one thread per connection, files only.

use std::{
    io::{BufRead, BufReader, Write},
    net::{TcpListener, TcpStream},
    path::{Component, Path, PathBuf},
    sync::{Arc, Mutex},
    thread,
};

/// A running server; it stops with the test process.
pub struct LoggedSite {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl LoggedSite {
    /// Serves `dir` on a free loopback port.
    pub fn start(dir: PathBuf) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let dir = dir.clone();
                let log = Arc::clone(&log);
                thread::spawn(move || serve(stream, &dir, &log));
            }
        });
        Self { url, requests }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The paths requested so far, in order, without their query.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn serve(stream: TcpStream, dir: &Path, log: &Mutex<Vec<String>>) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut stream = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        // The headers: nothing in them matters here.
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        let target = request_line.split_whitespace().nth(1).unwrap_or("/");
        let path = target.split(['?', '#']).next().unwrap_or("/").to_owned();
        if let Ok(mut log) = log.lock() {
            log.push(path.clone());
        }
        let relative = path.trim_start_matches('/');
        let relative = if relative.is_empty() {
            "index.html"
        } else {
            relative
        };
        let safe = Path::new(relative)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        let file = dir.join(relative);
        let (status, body, kind) = match std::fs::read(&file) {
            Ok(body) if safe => ("200 OK", body, content_type(&file)),
            _ => ("404 Not Found", b"not found".to_vec(), "text/plain"),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\r\n",
            body.len()
        );
        if stream.write_all(head.as_bytes()).is_err() || stream.write_all(&body).is_err() {
            return;
        }
    }
}
