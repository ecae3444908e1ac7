//! `bench server`: a load generator for signaling servers.
//!
//! It runs N WebSocket clients in rooms of 6 against a server pinned to one
//! core (`taskset -c 0`; the generator runs on the other), first the
//! peerlens server with its default limits, then the Node `ws` relay with
//! the same room semantics as the anchor. For each it prints connections
//! held, relayed messages per second, relay latency p50/p99 (sender
//! timestamp to receiver), and resident memory per idle connection.

use std::{
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::{connect_async, tungstenite::Message};

const CLIENTS: usize = 2_000;
const ROOM_SIZE: usize = 6;
/// The latency phase: messages per second per client.
const LIGHT_RATE: f64 = 1.0;
/// The throughput phase: just under the server's default limit of 50/s.
const HEAVY_RATE: f64 = 40.0;
const PHASE: Duration = Duration::from_secs(10);

struct Target {
    name: &'static str,
    child: Child,
    port: u16,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    peerlens_e2e::free_port()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0)
}

/// User plus system CPU time of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let ticks_per_second = 100.0; // USER_HZ on Linux
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // Fields after the parenthesized command name; utime and stime
            // are the 14th and 15th fields of the whole line.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / ticks_per_second)
        })
        .unwrap_or(0.0)
}

fn wait_listening(port: u16) {
    peerlens_e2e::wait_for("the server to listen", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(drop)
    });
}

fn start_peerlens(bin: &str) -> Target {
    let port = free_port();
    let child = Command::new("taskset")
        .args([
            "-c",
            "0",
            bin,
            "--port",
            &port.to_string(),
            "--static-dir",
            "/nonexistent",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("taskset and the release peerlens-server");
    wait_listening(port);
    Target {
        name: "peerlens-server",
        child,
        port,
    }
}

fn start_node(script: &str, node_modules: &str) -> Target {
    let port = free_port();
    let child = Command::new("taskset")
        .args(["-c", "0", "node", script, "--port", &port.to_string()])
        .env("NODE_PATH", node_modules)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("taskset and node");
    wait_listening(port);
    Target {
        name: "Node ws relay",
        child,
        port,
    }
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    sent: AtomicU64,
    errors: AtomicU64,
}

struct Results {
    held: usize,
    idle_kib_per_conn: f64,
    /// Per phase: offered msg/s, relayed msg/s, p50 ms, p99 ms, server
    /// CPU share (1.0 = one core busy).
    phases: Vec<(f64, f64, f64, f64, f64)>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn load(target: &Target) -> Results {
    let url = format!("ws://127.0.0.1:{}/ws", target.port);
    let base_rss = rss_kib(target.child.id());
    let epoch = Instant::now();
    let counters = Arc::new(Counters::default());
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let recording = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rate_millis = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    // Connect and join in batches, so the accept queue never overflows.
    for batch in (0..CLIENTS).collect::<Vec<_>>().chunks(100) {
        let mut joins = Vec::new();
        for &i in batch {
            let url = url.clone();
            joins.push(tokio::spawn(async move {
                let (mut ws, _) = connect_async(&url).await.ok()?;
                let join = format!(
                    r#"{{"type":"join","room":"bench-{}","name":"c","peerId":"c{i}"}}"#,
                    i / ROOM_SIZE
                );
                ws.send(Message::text(join)).await.ok()?;
                // Wait for our welcome.
                while let Some(Ok(frame)) = ws.next().await {
                    if let Message::Text(text) = frame {
                        if text.contains(r#""type":"welcome""#) {
                            return Some((i, ws));
                        }
                    }
                }
                None
            }));
        }
        for join in joins {
            if let Ok(Some((i, ws))) = join.await {
                writers.push((i, ws));
            }
        }
    }
    let held = writers.len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss = rss_kib(target.child.id());
    let idle_kib_per_conn = (idle_rss.saturating_sub(base_rss)) as f64 / held.max(1) as f64;

    let mut tasks = Vec::new();
    for (i, ws) in writers {
        let (mut sink, mut stream) = ws.split();
        let counters_r = Arc::clone(&counters);
        let latencies_r = Arc::clone(&latencies);
        let recording_r = Arc::clone(&recording);
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                let Message::Text(text) = frame else { continue };
                if let Some(start) = text.find(r#""t":"#) {
                    let digits: String = text[start + 4..]
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    if let Ok(sent_ns) = digits.parse::<u64>() {
                        let now_ns = epoch.elapsed().as_nanos() as u64;
                        counters_r.received.fetch_add(1, Ordering::Relaxed);
                        if recording_r.load(Ordering::Relaxed) {
                            let ms = now_ns.saturating_sub(sent_ns) as f64 / 1e6;
                            latencies_r.lock().unwrap().push(ms);
                        }
                    }
                } else if text.contains(r#""type":"error""#) {
                    counters_r.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
        let counters_w = Arc::clone(&counters);
        let rate = Arc::clone(&rate_millis);
        tasks.push(tokio::spawn(async move {
            let room = i / ROOM_SIZE;
            let members: Vec<usize> = (room * ROOM_SIZE..((room + 1) * ROOM_SIZE).min(CLIENTS))
                .filter(|&j| j != i)
                .collect();
            let mut next = 0usize;
            loop {
                let per_sec = rate.load(Ordering::Relaxed) as f64 / 1000.0;
                if per_sec <= 0.0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                if members.is_empty() {
                    break;
                }
                // A steady period, with each client at its own offset within
                // it, so sends are spread out and never exceed the rate.
                let period = Duration::from_secs_f64(1.0 / per_sec);
                let now = epoch.elapsed();
                let offset = period.mul_f64((i % 97) as f64 / 97.0);
                let since = (now.saturating_sub(offset)).as_nanos() % period.as_nanos().max(1);
                let wait = period - Duration::from_nanos(since as u64);
                tokio::time::sleep(wait.max(Duration::from_micros(100))).await;
                let to = members[next % members.len()];
                next += 1;
                let t = epoch.elapsed().as_nanos() as u64;
                let frame = format!(
                    r#"{{"type":"signal","to":"c{to}","data":{{"candidate":{{"candidate":"bench"}},"t":{t}}}}}"#
                );
                if sink.send(Message::text(frame)).await.is_err() {
                    break;
                }
                counters_w.sent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let mut phases = Vec::new();
    for per_client in [LIGHT_RATE, HEAVY_RATE] {
        rate_millis.store((per_client * 1000.0) as u64, Ordering::Relaxed);
        // Settle into the rate before measuring.
        tokio::time::sleep(Duration::from_secs(2)).await;
        latencies.lock().unwrap().clear();
        let received_before = counters.received.load(Ordering::Relaxed);
        let sent_before = counters.sent.load(Ordering::Relaxed);
        recording.store(true, Ordering::Relaxed);
        let cpu_before = cpu_seconds(target.child.id());
        let start = Instant::now();
        tokio::time::sleep(PHASE).await;
        recording.store(false, Ordering::Relaxed);
        let seconds = start.elapsed().as_secs_f64();
        let cpu = (cpu_seconds(target.child.id()) - cpu_before) / seconds;
        let received = counters.received.load(Ordering::Relaxed) - received_before;
        let sent = counters.sent.load(Ordering::Relaxed) - sent_before;
        rate_millis.store(0, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut sorted = std::mem::take(&mut *latencies.lock().unwrap());
        sorted.sort_by(f64::total_cmp);
        phases.push((
            sent as f64 / seconds,
            received as f64 / seconds,
            percentile(&sorted, 0.50),
            percentile(&sorted, 0.99),
            cpu,
        ));
    }
    for task in tasks {
        task.abort();
    }
    if counters.errors.load(Ordering::Relaxed) > 0 {
        println!(
            "{}: {} error replies during the run",
            target.name,
            counters.errors.load(Ordering::Relaxed)
        );
    }
    Results {
        held,
        idle_kib_per_conn,
        phases,
    }
}

/// Runs the load against both servers and prints the table.
pub fn run(server_bin: &str, rooms_cjs: &str, node_modules: &str) {
    // The generator stays off the server's core.
    let _ = Command::new("taskset")
        .args(["-cp", "1", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut rows = Vec::new();
    for start in [
        &(|| start_peerlens(server_bin)) as &dyn Fn() -> Target,
        &|| start_node(rooms_cjs, node_modules),
    ] {
        let target = start();
        let results = runtime.block_on(load(&target));
        rows.push((target.name, results));
        drop(target);
    }
    println!();
    println!(
        "server benchmark: {CLIENTS} clients in rooms of {ROOM_SIZE}, server on 1 core (taskset), generator on the other, {}s phases",
        PHASE.as_secs()
    );
    println!();
    println!("| server | connections held | idle RSS per connection | phase | offered msg/s | relayed msg/s | p50 ms | p99 ms | server CPU | msg/s per core |");
    println!("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|");
    for (name, r) in &rows {
        for (phase, (offered, relayed, p50, p99, cpu)) in
            ["1 msg/s each", "40 msg/s each"].iter().zip(&r.phases)
        {
            println!(
                "| {name} | {} | {:.1} KiB | {phase} | {offered:.0} | {relayed:.0} | {p50:.2} | {p99:.2} | {:.0}% | {:.0} |",
                r.held,
                r.idle_kib_per_conn,
                cpu * 100.0,
                relayed / cpu.max(1e-9)
            );
        }
    }
    if let [(_, ours), (_, node)] = &rows[..] {
        let ratio = ours.phases[1].1 / node.phases[1].1;
        let per_core = (ours.phases[1].1 / ours.phases[1].4.max(1e-9))
            / (node.phases[1].1 / node.phases[1].4.max(1e-9));
        println!();
        println!("relayed msg/s at 40 msg/s each, peerlens / Node: {ratio:.2}x; per core of server CPU: {per_core:.2}x (target ≥ 3x)");
        println!(
            "targets: {CLIENTS} clients held ({}), p99 ≤ 5 ms at 1 msg/s each ({:.2} ms), ≤ 20 KiB per idle connection ({:.1} KiB)",
            ours.held, ours.phases[0].3, ours.idle_kib_per_conn
        );
    }
}
