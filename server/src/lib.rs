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

mod hub;
mod session;

use std::{future::Future, path::PathBuf, sync::Arc};

use axum::{
    extract::{State, WebSocketUpgrade},
    response::IntoResponse,
    routing::get,
    Router,
};
use peerlens_protocol::IceServer;
use tokio::{net::TcpListener, sync::watch};
use tower_http::services::{ServeDir, ServeFile};

pub use hub::Hub;

/// What the server needs to know to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest number of peers in one room.
    pub room_cap: usize,
    /// ICE servers handed to every client in `welcome`.
    pub ice_servers: Vec<IceServer>,
    /// Directory served at `/`, with `index.html` as the fallback page.
    pub static_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            room_cap: 6,
            ice_servers: Vec::new(),
            static_dir: None,
        }
    }
}

#[derive(Clone)]
struct AppState {
    hub: Arc<Hub>,
    shutdown: watch::Receiver<bool>,
}

/// Runs the server on `listener` until `shutdown` completes, then closes
/// every WebSocket and waits for the connections to finish.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let state = AppState {
        hub: Arc::new(Hub::new(config.room_cap, config.ice_servers.clone())),
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
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Upgraded WebSockets outlive the HTTP graceful shutdown; tell
            // each session to close itself.
            let _ = stop_tx.send(true);
        })
        .await
}

async fn ws_upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> impl IntoResponse {
    ws.on_upgrade(move |socket| session::run(socket, state.hub, state.shutdown))
}
