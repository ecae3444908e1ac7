//! The `peerlens-server` command: parses flags and runs [`peerlens_server::serve`].

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::Parser;
use peerlens_protocol::IceServer;
use peerlens_server::{serve, Config};

/// The reference signaling server for peerlens.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on. Loopback by default: exposing the server is a
    /// deliberate choice.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Directory of static files to serve (the built demo).
    #[arg(long, default_value = "www/dist")]
    static_dir: PathBuf,
    /// Largest number of peers in one room.
    #[arg(long, default_value_t = 6)]
    room_cap: usize,
    /// A STUN or TURN URL handed to clients in `welcome` (repeatable).
    #[arg(long = "ice-server")]
    ice_servers: Vec<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "peerlens_server=info".into()),
        )
        .init();
    let args = Args::parse();
    let addr = format!("{}:{}", args.host, args.port);
    let addr: SocketAddr = match tokio::net::lookup_host(&addr).await.map(|mut a| a.next()) {
        Ok(Some(addr)) => addr,
        _ => {
            eprintln!(
                "error: cannot resolve --host {} --port {}",
                args.host, args.port
            );
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !args.static_dir.join("index.html").is_file() {
        tracing::warn!(dir = %args.static_dir.display(), "no index.html: the demo is not built (run `cargo xtask demo`)");
    }
    let config = Config {
        room_cap: args.room_cap,
        ice_servers: args
            .ice_servers
            .into_iter()
            .map(|url| IceServer {
                urls: vec![url],
                username: None,
                credential: None,
            })
            .collect(),
        static_dir: Some(args.static_dir),
    };
    println!("peerlens-server listening on http://{addr}/ (WebSocket at ws://{addr}/ws)");
    let shutdown = async {
        // If the signal handler cannot be installed, run until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        tracing::info!("shutting down");
    };
    match serve(listener, config, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
