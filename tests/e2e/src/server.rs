//! The reference server, run in-process on its own runtime thread.

use std::{net::SocketAddr, path::PathBuf, thread::JoinHandle};

use peerlens_server::{serve, serve_tls, Config};
use tokio::sync::oneshot;

/// A running reference server; dropping it shuts it down.
pub struct TestServer {
    addr: SocketAddr,
    tls: bool,
    stop: Option<oneshot::Sender<()>>,
    kill: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server on a free loopback port, serving `static_dir`.
    pub fn start(static_dir: Option<PathBuf>) -> Self {
        Self::start_on("127.0.0.1:0".parse().expect("an address"), static_dir)
    }

    /// Starts a server on `addr`: a fixed port brings a killed server back
    /// where its clients expect it.
    pub fn start_on(addr: SocketAddr, static_dir: Option<PathBuf>) -> Self {
        Self::start_with(
            addr,
            Config {
                static_dir,
                ..Config::default()
            },
        )
    }

    /// Starts a server with a full configuration on `addr`.
    pub fn start_with(addr: SocketAddr, config: Config) -> Self {
        Self::start_inner(addr, config, None)
    }

    /// Starts a server that serves https and wss with a PEM certificate
    /// and key.
    pub fn start_tls(config: Config, cert: PathBuf, key: PathBuf) -> Self {
        Self::start_inner(
            "127.0.0.1:0".parse().expect("an address"),
            config,
            Some((cert, key)),
        )
    }

    fn start_inner(addr: SocketAddr, config: Config, tls: Option<(PathBuf, PathBuf)>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let listener =
            std::net::TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let addr = listener.local_addr().expect("local address");
        let is_tls = tls.is_some();
        let (stop, stopped) = oneshot::channel::<()>();
        let (kill, killed) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let shutdown = async {
                let _ = stopped.await;
            };
            let result = runtime.block_on(async {
                let server = async {
                    match tls {
                        Some((cert, key)) => serve_tls(listener, config, cert, key, shutdown).await,
                        None => {
                            listener.set_nonblocking(true)?;
                            let listener = tokio::net::TcpListener::from_std(listener)?;
                            serve(listener, config, shutdown).await
                        }
                    }
                };
                tokio::select! {
                    result = server => result,
                    _ = killed => Ok(()),
                }
            });
            if let Err(e) = result {
                eprintln!("test server failed: {e}");
            }
            // Dropping the runtime cancels every connection task: sockets
            // close with no WebSocket close frame, as when a process dies.
            runtime.shutdown_background();
        });
        Self {
            addr,
            tls: is_tls,
            stop: Some(stop),
            kill: Some(kill),
            thread: Some(thread),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server abruptly, like `kill -9`: no close frames, no
    /// goodbyes.
    pub fn kill(mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// `http://127.0.0.1:PORT`, or `https://` for a TLS server.
    pub fn http_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
