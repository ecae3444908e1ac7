//! The reference signaling server for peerlens.
//!
//! It relays the `peerlens` protocol (see `peerlens-protocol`) between the
//! members of a room, and serves the built demo and `/healthz` over HTTP.
//! The server only relays: media flows peer to peer and never touches it.
//!
//! [`serve`] runs the whole server on a listener the caller bound, so tests
//! and the command line share one code path.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod cluster;
mod hub;
mod limits;
mod origin;
mod rooms;
mod session;
mod turn;

use std::{
    future::Future,
    path::PathBuf,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use axum::{
    extract::{State, WebSocketUpgrade},
    http::{header, HeaderMap},
    response::IntoResponse,
    routing::get,
    Router,
};
use peerlens_protocol::{ErrorCode, IceServer};
use tokio::{net::TcpListener, sync::watch};
use tower_http::services::{ServeDir, ServeFile};

pub use cluster::RedisHub;
pub use hub::{Hub, Outbox, Refusal};
pub use limits::{Limits, RateLimiter};
pub use origin::OriginPolicy;
pub use rooms::Rooms;
pub use turn::TurnConfig;

/// What the server needs to know to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest number of peers in one room.
    pub room_cap: usize,
    /// ICE servers handed to every client in `welcome`.
    pub ice_servers: Vec<IceServer>,
    /// Directory served at `/`, with `index.html` as the fallback page.
    pub static_dir: Option<PathBuf>,
    /// Size, rate, connection and idle limits.
    pub limits: Limits,
    /// Which pages may connect.
    pub origins: OriginPolicy,
    /// TURN credentials handed out in `welcome`.
    pub turn: Option<TurnConfig>,
    /// A Redis URL: share rooms with every other server process using it.
    pub redis: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            room_cap: 6,
            ice_servers: Vec::new(),
            static_dir: None,
            limits: Limits::default(),
            origins: OriginPolicy::default(),
            turn: None,
            redis: None,
        }
    }
}

#[derive(Clone)]
struct AppState {
    hub: Arc<Rooms>,
    limits: Limits,
    origins: OriginPolicy,
    connections: Arc<AtomicUsize>,
    shutdown: watch::Receiver<bool>,
}

/// Counts a connection for as long as it lives.
struct ConnectionSlot(Arc<AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs the server on `listener` until `shutdown` completes, then closes
/// every WebSocket and waits for the connections to finish.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (app, stop_tx, live) = app(&config).await?;
    // Signaling frames are small and latency-bound: never let Nagle's
    // algorithm hold one back waiting for an ACK.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Upgraded WebSockets outlive the HTTP graceful shutdown; tell
            // each session to close itself.
            let _ = stop_tx.send(true);
        })
        .await;
    drain(&live).await;
    result
}

/// Waits, up to 5 s, for every WebSocket session to send its close frame
/// and end, so a shutdown does not cut them off mid-goodbye.
async fn drain(live: &AtomicUsize) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while live.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Like [`serve`], over TLS (rustls) with a PEM certificate chain and key.
pub async fn serve_tls(
    listener: std::net::TcpListener,
    config: Config,
    cert: PathBuf,
    key: PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Several crates may link rustls; pick its provider explicitly. An
    // error means one is installed already, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
        .await
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "cannot load the TLS certificate {} and key {}: {e}",
                    cert.display(),
                    key.display()
                ),
            )
        })?;
    let (app, stop_tx, live) = app(&config).await?;
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
        stopper.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    listener.set_nonblocking(true)?;
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls)
        .acceptor(axum_server::accept::NoDelayAcceptor::new());
    let result = axum_server::from_tcp(listener)
        .acceptor(acceptor)
        .handle(handle)
        .serve(app.into_make_service())
        .await;
    drain(&live).await;
    result
}

/// The router, the switch that tells live sessions to close, and the count
/// of live sessions. Fails when the Redis server of `config.redis` cannot
/// be reached.
pub async fn app(
    config: &Config,
) -> std::io::Result<(Router, watch::Sender<bool>, Arc<AtomicUsize>)> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let rooms = match &config.redis {
        Some(url) => Rooms::Redis(
            RedisHub::connect(
                url,
                config.room_cap,
                config.ice_servers.clone(),
                config.turn.clone(),
            )
            .await
            .map_err(|e| std::io::Error::other(format!("cannot use Redis at {url}: {e}")))?,
        ),
        None => Rooms::Local(
            Hub::new(config.room_cap, config.ice_servers.clone()).with_turn(config.turn.clone()),
        ),
    };
    let connections = Arc::new(AtomicUsize::new(0));
    let state = AppState {
        hub: Arc::new(rooms),
        limits: config.limits.clone(),
        origins: config.origins.clone(),
        connections: Arc::clone(&connections),
        shutdown: stop_rx,
    };
    let mut app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/ws", get(ws_upgrade))
        .with_state(state);
    if let Some(dir) = &config.static_dir {
        let index = ServeFile::new(dir.join("index.html"));
        app = app.fallback_service(ServeDir::new(dir).fallback(index));
    }
    Ok((app, stop_tx, connections))
}

async fn ws_upgrade(
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    State(state): State<AppState>,
) -> impl IntoResponse {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let origin_ok = state
        .origins
        .allows(header(header::ORIGIN), header(header::HOST));
    let origin = header(header::ORIGIN).unwrap_or_default().to_owned();
    // Frames a little over the limit still arrive whole, so they can be
    // answered with `too-large`; far bigger ones close the connection.
    let hard_cap = state
        .limits
        .max_message_bytes
        .saturating_mul(4)
        .max(64 * 1024);
    let count = state.connections.fetch_add(1, Ordering::SeqCst) + 1;
    let slot = ConnectionSlot(Arc::clone(&state.connections));
    // tungstenite's default buffers are 128 KiB each way per connection;
    // signaling frames are a few KiB, and a server holding thousands of
    // idle connections should not pay for buffers they never fill.
    ws.max_message_size(hard_cap)
        .max_frame_size(hard_cap)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            if !origin_ok {
                tracing::warn!(%origin, "refused a connection from a page not on the allow-list");
                return session::refuse(
                    socket,
                    ErrorCode::ForbiddenOrigin,
                    "this page's origin may not connect; see --allow-origin",
                )
                .await;
            }
            if count > state.limits.max_connections {
                tracing::warn!(count, "refused a connection: too many connections");
                return session::refuse(
                    socket,
                    ErrorCode::ServerFull,
                    "the server is full; try again later",
                )
                .await;
            }
            session::run(socket, state.hub, state.limits, state.shutdown).await
        })
}
