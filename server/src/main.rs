//! The `peerlens-server` command: parses flags and runs [`peerlens_server::serve`].

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use peerlens_protocol::IceServer;
use peerlens_server::{serve, serve_tls, Config, Limits, OriginPolicy, TurnConfig};

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
    /// Largest accepted message, in bytes.
    #[arg(long, default_value_t = Limits::default().max_message_bytes)]
    max_message_bytes: usize,
    /// Sustained messages per second per connection.
    #[arg(long, default_value_t = Limits::default().messages_per_second)]
    rate: u32,
    /// Burst of messages per connection.
    #[arg(long, default_value_t = Limits::default().burst)]
    burst: u32,
    /// Most open WebSocket connections.
    #[arg(long, default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// Close a connection silent for this many seconds (it is pinged
    /// every third of that).
    #[arg(long, default_value_t = Limits::default().idle_timeout.as_secs())]
    idle_timeout_secs: u64,
    /// A page origin allowed to connect, such as https://call.example.org
    /// (repeatable; `*` allows any). The server's own origin is always
    /// allowed.
    #[arg(long = "allow-origin")]
    allow_origins: Vec<String>,
    /// Refuse pages on localhost and 127.0.0.1 unless listed.
    #[arg(long)]
    no_local_origins: bool,
    /// The secret shared with coturn (`static-auth-secret`): hands out
    /// time-limited TURN credentials in `welcome`.
    #[arg(long, requires = "turn_urls")]
    turn_secret: Option<String>,
    /// A TURN URL for those credentials (repeatable).
    #[arg(long = "turn-url")]
    turn_urls: Vec<String>,
    /// How long TURN credentials stay valid, in seconds.
    #[arg(long, default_value_t = 86_400)]
    turn_ttl_secs: u64,
    /// PEM certificate chain: serve https and wss.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A Redis URL (redis://host:port): share rooms with the other server
    /// processes using the same Redis.
    #[arg(long)]
    redis: Option<String>,
    /// Log format.
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    log_format: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "peerlens_server=info".into());
    if args.log_format == "json" {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
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
    let listener = match std::net::TcpListener::bind(addr) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !args.static_dir.join("index.html").is_file() {
        tracing::warn!(dir = %args.static_dir.display(), "no index.html: the demo is not built (run `cargo xtask demo`)");
    }
    let idle = Duration::from_secs(args.idle_timeout_secs.max(3));
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
        limits: Limits {
            max_message_bytes: args.max_message_bytes,
            messages_per_second: args.rate,
            burst: args.burst,
            max_connections: args.max_connections,
            idle_timeout: idle,
            ping_interval: idle / 3,
            ..Limits::default()
        },
        origins: OriginPolicy {
            allow_local: !args.no_local_origins,
            allowed: args.allow_origins,
        },
        turn: args.turn_secret.map(|secret| TurnConfig {
            secret,
            urls: args.turn_urls,
            ttl: Duration::from_secs(args.turn_ttl_secs),
        }),
        redis: args.redis,
    };
    let shutdown = async {
        // SIGINT (Ctrl-C) and SIGTERM (systemd, docker) both stop the
        // server gracefully. A handler that cannot be installed never fires.
        let interrupt = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = interrupt => {}
            () = terminate => {}
        }
        tracing::info!("shutting down");
    };
    let result = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => {
            println!("peerlens-server listening on https://{addr}/ (WebSocket at wss://{addr}/ws)");
            serve_tls(listener, config, cert, key, shutdown).await
        }
        _ => {
            println!("peerlens-server listening on http://{addr}/ (WebSocket at ws://{addr}/ws)");
            let listener = listener
                .set_nonblocking(true)
                .and_then(|()| tokio::net::TcpListener::from_std(listener));
            match listener {
                Ok(listener) => serve(listener, config, shutdown).await,
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
