//! A summary of `RTCPeerConnection.getStats()`: the handful of numbers a
//! call UI shows and a test asserts on.

use wasm_bindgen::{JsCast, JsValue};

/// Totals and rates from one `getStats()` call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSummary {
    /// When the report was taken (`DOMHighResTimeStamp` of the report).
    pub timestamp_ms: f64,
    /// Payload bytes sent on all outbound RTP streams.
    pub bytes_sent: f64,
    /// Payload bytes received on all inbound RTP streams.
    pub bytes_received: f64,
    /// Bytes received on inbound audio streams alone.
    pub audio_bytes_received: f64,
    /// Outgoing bitrate since the previous summary, bits per second.
    pub bitrate_out_bps: f64,
    /// Incoming bitrate since the previous summary, bits per second.
    pub bitrate_in_bps: f64,
    /// Round-trip time of the selected candidate pair, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Packets reported lost on inbound streams.
    pub packets_lost: f64,
    /// Packets received on inbound streams.
    pub packets_received: f64,
    /// Lost over lost plus received, from 0 to 1.
    pub loss_ratio: f64,
    /// Decoded frames per second of inbound video (the highest stream).
    pub fps_in: Option<f64>,
    /// Encoded frames per second of outbound video (the highest stream).
    pub fps_out: Option<f64>,
    /// Frames decoded so far, over all inbound video.
    pub frames_decoded: f64,
    /// The latest level of inbound audio, 0 to 1 (the loudest stream).
    pub audio_level: Option<f64>,
    /// The type of the local candidate in use: `host`, `srflx`, `prflx`,
    /// or `relay` when media goes through a TURN server.
    pub local_candidate_type: Option<String>,
}

fn number(entry: &JsValue, key: &str) -> Option<f64> {
    js_sys::Reflect::get(entry, &JsValue::from_str(key))
        .ok()
        .and_then(|v| v.as_f64())
}

fn string(entry: &JsValue, key: &str) -> Option<String> {
    js_sys::Reflect::get(entry, &JsValue::from_str(key))
        .ok()
        .and_then(|v| v.as_string())
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl StatsSummary {
    /// Reads an `RTCStatsReport`. `previous` gives the rates their baseline.
    pub fn from_report(report: &JsValue, previous: Option<&StatsSummary>) -> Self {
        let mut s = Self::default();
        let mut selected_pair: Option<String> = None;
        let mut pairs: Vec<(String, JsValue)> = Vec::new();
        let mut local_candidates: Vec<(String, String)> = Vec::new();
        let entries = js_sys::try_iter(report).ok().flatten();
        for entry in entries.into_iter().flatten().flatten() {
            // A maplike yields [key, value] pairs.
            let Some(value) = entry.dyn_ref::<js_sys::Array>().map(|pair| pair.get(1)) else {
                continue;
            };
            let kind = string(&value, "kind").unwrap_or_default();
            s.timestamp_ms = s
                .timestamp_ms
                .max(number(&value, "timestamp").unwrap_or(0.0));
            match string(&value, "type").as_deref() {
                Some("outbound-rtp") => {
                    s.bytes_sent += number(&value, "bytesSent").unwrap_or(0.0);
                    if kind == "video" {
                        s.fps_out = max_opt(s.fps_out, number(&value, "framesPerSecond"));
                    }
                }
                Some("inbound-rtp") => {
                    let bytes = number(&value, "bytesReceived").unwrap_or(0.0);
                    s.bytes_received += bytes;
                    s.packets_lost += number(&value, "packetsLost").unwrap_or(0.0).max(0.0);
                    s.packets_received += number(&value, "packetsReceived").unwrap_or(0.0);
                    if kind == "video" {
                        s.fps_in = max_opt(s.fps_in, number(&value, "framesPerSecond"));
                        s.frames_decoded += number(&value, "framesDecoded").unwrap_or(0.0);
                    } else if kind == "audio" {
                        s.audio_bytes_received += bytes;
                        s.audio_level = max_opt(s.audio_level, number(&value, "audioLevel"));
                    }
                }
                Some("transport") => {
                    if let Some(id) = string(&value, "selectedCandidatePairId") {
                        selected_pair = Some(id);
                    }
                }
                Some("local-candidate") => {
                    if let (Some(id), Some(kind)) =
                        (string(&value, "id"), string(&value, "candidateType"))
                    {
                        local_candidates.push((id, kind));
                    }
                }
                Some("candidate-pair") => {
                    if let Some(id) = string(&value, "id") {
                        pairs.push((id, value));
                    }
                }
                _ => {}
            }
        }
        // Firefox has no transport stats: fall back to the nominated,
        // succeeded pair.
        let pair = match &selected_pair {
            Some(id) => pairs.iter().find(|(pid, _)| pid == id).map(|(_, v)| v),
            None => pairs.iter().map(|(_, v)| v).find(|v| {
                string(v, "state").as_deref() == Some("succeeded")
                    && js_sys::Reflect::get(v, &JsValue::from_str("nominated"))
                        .ok()
                        .and_then(|n| n.as_bool())
                        .unwrap_or(false)
            }),
        };
        s.local_candidate_type = pair
            .and_then(|p| string(p, "localCandidateId"))
            .and_then(|id| {
                local_candidates
                    .iter()
                    .find(|(cid, _)| *cid == id)
                    .map(|(_, kind)| kind.clone())
            });
        s.rtt_ms = pair
            .and_then(|p| number(p, "currentRoundTripTime"))
            .map(|secs| secs * 1000.0);
        let total = s.packets_lost + s.packets_received;
        s.loss_ratio = if total > 0.0 {
            s.packets_lost / total
        } else {
            0.0
        };
        if let Some(prev) = previous {
            let seconds = (s.timestamp_ms - prev.timestamp_ms) / 1000.0;
            if seconds > 0.0 {
                s.bitrate_out_bps = ((s.bytes_sent - prev.bytes_sent) * 8.0 / seconds).max(0.0);
                s.bitrate_in_bps =
                    ((s.bytes_received - prev.bytes_received) * 8.0 / seconds).max(0.0);
            }
        }
        s
    }
}
