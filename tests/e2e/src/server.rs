//! The reference server, run in-process on its own runtime thread.

use std::{net::SocketAddr, path::PathBuf, thread::JoinHandle};

use peerlens_server::{serve, Config};
use tokio::sync::oneshot;

/// A running reference server; dropping it shuts it down.
pub struct TestServer {
    addr: SocketAddr,
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
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let (kill, killed) = oneshot::channel::<()>();
        let config = Config {
            static_dir,
            ..Config::default()
        };
        let thread = std::thread::spawn(move || {
            let shutdown = async {
                let _ = stopped.await;
            };
            let result = runtime.block_on(async {
                tokio::select! {
                    result = serve(listener, config, shutdown) => result,
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

    /// `http://127.0.0.1:PORT`
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
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
