//! The Janus WebSocket API (subprotocol `janus-protocol`): the requests a
//! client sends and a typed reading of everything Janus sends back.
//!
//! Requests carry a `transaction` chosen by the client. Janus answers
//! synchronous requests (`create`, `attach`, plugin requests such as
//! `create` or `list`) with `success` or `error`, and asynchronous ones
//! (most plugin `message`s, `trickle`, `keepalive`) with `ack` first and,
//! for plugin messages, an `event` with the same transaction later.
//! Plugin events without a pending transaction, and `webrtcup`, `media`,
//! `hangup`, `slowlink`, `detached` and `timeout`, are unsolicited.

use serde_json::{json, Map, Value};

use crate::{IceCandidate, SdpKind, SessionDescription};

/// The WebSocket subprotocol Janus requires.
pub const SUBPROTOCOL: &str = "janus-protocol";

/// A request to Janus, before its transaction is set.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Opens a session.
    Create,
    /// Keeps the session alive (Janus drops it after `session_timeout`).
    Keepalive,
    /// Attaches a handle to a plugin, e.g. `janus.plugin.echotest`.
    Attach {
        /// The plugin's package name.
        plugin: String,
    },
    /// A plugin request on a handle, optionally with an offer or answer.
    Message {
        /// The handle.
        handle: u64,
        /// The plugin-specific body.
        body: Value,
        /// An SDP for the plugin's PeerConnection.
        jsep: Option<SessionDescription>,
    },
    /// A trickled candidate, or none to say gathering completed.
    Trickle {
        /// The handle.
        handle: u64,
        /// The candidate; `None` sends `{"completed":true}`.
        candidate: Option<IceCandidate>,
    },
    /// Tears a handle's PeerConnection down, keeping the handle.
    Hangup {
        /// The handle.
        handle: u64,
    },
    /// Detaches a handle.
    Detach {
        /// The handle.
        handle: u64,
    },
    /// Ends the session.
    Destroy,
}

impl Request {
    /// The frame to send: `session` is `None` only for [`Request::Create`].
    pub fn to_frame(
        &self,
        transaction: &str,
        session: Option<u64>,
        auth: &Authentication,
    ) -> String {
        let mut frame = Map::new();
        let kind = match self {
            Self::Create => "create",
            Self::Keepalive => "keepalive",
            Self::Attach { .. } => "attach",
            Self::Message { .. } => "message",
            Self::Trickle { .. } => "trickle",
            Self::Hangup { .. } => "hangup",
            Self::Detach { .. } => "detach",
            Self::Destroy => "destroy",
        };
        frame.insert("janus".into(), kind.into());
        frame.insert("transaction".into(), transaction.into());
        if let Some(session) = session {
            frame.insert("session_id".into(), session.into());
        }
        if let Some(token) = &auth.token {
            frame.insert("token".into(), token.clone().into());
        }
        if let Some(secret) = &auth.api_secret {
            frame.insert("apisecret".into(), secret.clone().into());
        }
        match self {
            Self::Attach { plugin } => {
                frame.insert("plugin".into(), plugin.clone().into());
            }
            Self::Message { handle, body, jsep } => {
                frame.insert("handle_id".into(), (*handle).into());
                frame.insert("body".into(), body.clone());
                if let Some(jsep) = jsep {
                    frame.insert("jsep".into(), jsep_value(jsep));
                }
            }
            Self::Trickle { handle, candidate } => {
                frame.insert("handle_id".into(), (*handle).into());
                match candidate {
                    Some(c) => {
                        let mut value = json!({ "candidate": c.candidate });
                        if let Some(mid) = &c.sdp_mid {
                            value["sdpMid"] = mid.clone().into();
                        }
                        if let Some(index) = c.sdp_m_line_index {
                            value["sdpMLineIndex"] = index.into();
                        }
                        frame.insert("candidate".into(), value);
                    }
                    None => {
                        frame.insert("candidate".into(), json!({ "completed": true }));
                    }
                }
            }
            Self::Hangup { handle } | Self::Detach { handle } => {
                frame.insert("handle_id".into(), (*handle).into());
            }
            Self::Create | Self::Keepalive | Self::Destroy => {}
        }
        Value::Object(frame).to_string()
    }

    /// Whether Janus answers with `ack` and then an `event`, so a reply
    /// waits past the `ack`.
    pub fn waits_past_ack(&self) -> bool {
        matches!(self, Self::Message { .. })
    }
}

/// Credentials Janus may require: a stored token or the shared API secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authentication {
    /// `token`, when Janus has token-based authentication on.
    pub token: Option<String>,
    /// `apisecret`, when Janus has an API secret.
    pub api_secret: Option<String>,
}

fn jsep_value(jsep: &SessionDescription) -> Value {
    let kind = match jsep.kind {
        SdpKind::Offer => "offer",
        SdpKind::Answer => "answer",
        SdpKind::Pranswer => "pranswer",
        SdpKind::Rollback => "rollback",
    };
    json!({ "type": kind, "sdp": jsep.sdp })
}

/// Something Janus sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A request was received; for plugin messages an `event` follows.
    Ack {
        /// The request's transaction.
        transaction: String,
    },
    /// A request succeeded: `data.id` for create and attach, or a plugin's
    /// synchronous answer in `plugin_data`.
    Success {
        /// The request's transaction.
        transaction: String,
        /// `data.id`, the new session or handle id.
        id: Option<u64>,
        /// `plugindata.data`.
        plugin_data: Option<Value>,
    },
    /// A request failed in Janus itself (not in a plugin).
    Error {
        /// The request's transaction, when Janus knew it.
        transaction: Option<String>,
        /// Janus's numeric error code.
        code: i64,
        /// Its reason.
        reason: String,
    },
    /// A plugin event, answering a message or unsolicited.
    Event {
        /// The handle.
        sender: u64,
        /// The message it answers, if any.
        transaction: Option<String>,
        /// `plugindata.data`.
        data: Value,
        /// An offer or answer from the plugin.
        jsep: Option<SessionDescription>,
    },
    /// The handle's PeerConnection is up.
    WebrtcUp {
        /// The handle.
        sender: u64,
    },
    /// Janus started or stopped receiving a kind of media.
    Media {
        /// The handle.
        sender: u64,
        /// `audio` or `video`.
        kind: String,
        /// Receiving or not.
        receiving: bool,
    },
    /// The handle's PeerConnection went down.
    Hangup {
        /// The handle.
        sender: u64,
        /// Why.
        reason: String,
    },
    /// Janus reports losses on the handle's media.
    SlowLink {
        /// The handle.
        sender: u64,
    },
    /// The handle was detached.
    Detached {
        /// The handle.
        sender: u64,
    },
    /// A candidate from Janus.
    Trickle {
        /// The handle.
        sender: u64,
        /// The candidate, or `None` when Janus finished gathering.
        candidate: Option<IceCandidate>,
    },
    /// The session timed out in Janus.
    Timeout,
    /// A well-formed message of a kind this client does not use.
    Other {
        /// Its `janus` field.
        kind: String,
    },
}

/// Why a frame from Janus could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable Janus message: {0}")]
pub struct JanusParseError(pub String);

fn field_u64(value: &Value, key: &str) -> Option<u64> {
    value.get(key).and_then(Value::as_u64)
}

fn string(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn sender(value: &Value) -> Result<u64, JanusParseError> {
    field_u64(value, "sender").ok_or_else(|| JanusParseError("no numeric `sender`".into()))
}

fn parse_jsep(value: &Value) -> Result<Option<SessionDescription>, JanusParseError> {
    let Some(jsep) = value.get("jsep") else {
        return Ok(None);
    };
    let kind = match jsep.get("type").and_then(Value::as_str) {
        Some("offer") => SdpKind::Offer,
        Some("answer") => SdpKind::Answer,
        Some("pranswer") => SdpKind::Pranswer,
        other => return Err(JanusParseError(format!("jsep type {other:?}"))),
    };
    let sdp = string(jsep, "sdp").ok_or_else(|| JanusParseError("jsep without sdp".into()))?;
    Ok(Some(SessionDescription { kind, sdp }))
}

impl Incoming {
    /// Reads one text frame.
    pub fn parse(text: &str) -> Result<Self, JanusParseError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| JanusParseError(format!("not JSON: {e}")))?;
        let kind =
            string(&value, "janus").ok_or_else(|| JanusParseError("no `janus` field".into()))?;
        let transaction = string(&value, "transaction");
        let need_transaction = || {
            transaction
                .clone()
                .ok_or_else(|| JanusParseError(format!("`{kind}` without a transaction")))
        };
        Ok(match kind.as_str() {
            "ack" => Self::Ack {
                transaction: need_transaction()?,
            },
            "success" => Self::Success {
                transaction: need_transaction()?,
                id: value.get("data").and_then(|d| field_u64(d, "id")),
                plugin_data: value.get("plugindata").and_then(|p| p.get("data")).cloned(),
            },
            "error" => {
                let error = value.get("error").cloned().unwrap_or(Value::Null);
                Self::Error {
                    transaction,
                    code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                    reason: string(&error, "reason").unwrap_or_else(|| "unknown error".into()),
                }
            }
            "event" => Self::Event {
                sender: sender(&value)?,
                transaction,
                data: value
                    .get("plugindata")
                    .and_then(|p| p.get("data"))
                    .cloned()
                    .ok_or_else(|| JanusParseError("event without plugindata.data".into()))?,
                jsep: parse_jsep(&value)?,
            },
            "webrtcup" => Self::WebrtcUp {
                sender: sender(&value)?,
            },
            "media" => Self::Media {
                sender: sender(&value)?,
                kind: string(&value, "type").unwrap_or_default(),
                receiving: value
                    .get("receiving")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            },
            "hangup" => Self::Hangup {
                sender: sender(&value)?,
                reason: string(&value, "reason").unwrap_or_default(),
            },
            "slowlink" => Self::SlowLink {
                sender: sender(&value)?,
            },
            "detached" => Self::Detached {
                sender: sender(&value)?,
            },
            "trickle" => {
                let candidate = value.get("candidate").cloned().unwrap_or(Value::Null);
                let completed = candidate
                    .get("completed")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                Self::Trickle {
                    sender: sender(&value)?,
                    candidate: if completed {
                        None
                    } else {
                        Some(IceCandidate {
                            candidate: string(&candidate, "candidate").ok_or_else(|| {
                                JanusParseError("trickle without a candidate".into())
                            })?,
                            sdp_mid: string(&candidate, "sdpMid"),
                            sdp_m_line_index: candidate
                                .get("sdpMLineIndex")
                                .and_then(Value::as_u64)
                                .and_then(|i| u16::try_from(i).ok()),
                            username_fragment: None,
                        })
                    },
                }
            }
            "timeout" => Self::Timeout,
            _ => Self::Other { kind },
        })
    }
}

/// The error a plugin reports inside `plugindata.data`: VideoRoom and
/// Streaming use `error_code` and `error`, EchoTest `error` alone.
pub fn plugin_error(data: &Value) -> Option<(i64, String)> {
    let reason = data.get("error").and_then(Value::as_str)?;
    let code = data.get("error_code").and_then(Value::as_i64).unwrap_or(0);
    Some((code, reason.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: Value) -> Incoming {
        Incoming::parse(&value.to_string()).unwrap()
    }

    #[test]
    fn requests_carry_session_handle_and_credentials() {
        let auth = Authentication {
            token: Some("tok".into()),
            api_secret: None,
        };
        let frame: Value = serde_json::from_str(
            &Request::Message {
                handle: 7,
                body: json!({"request": "watch", "id": 1}),
                jsep: Some(SessionDescription {
                    kind: SdpKind::Answer,
                    sdp: "v=0".into(),
                }),
            }
            .to_frame("t1", Some(42), &auth),
        )
        .unwrap();
        assert_eq!(
            frame,
            json!({"janus": "message", "transaction": "t1", "session_id": 42, "token": "tok",
                   "handle_id": 7, "body": {"request": "watch", "id": 1},
                   "jsep": {"type": "answer", "sdp": "v=0"}})
        );
        let create: Value =
            serde_json::from_str(&Request::Create.to_frame("t0", None, &Authentication::default()))
                .unwrap();
        assert_eq!(create, json!({"janus": "create", "transaction": "t0"}));
        let done: Value = serde_json::from_str(
            &Request::Trickle {
                handle: 3,
                candidate: None,
            }
            .to_frame("t2", Some(1), &Authentication::default()),
        )
        .unwrap();
        assert_eq!(done["candidate"], json!({"completed": true}));
        assert!(Request::Message {
            handle: 1,
            body: Value::Null,
            jsep: None
        }
        .waits_past_ack());
        assert!(!Request::Keepalive.waits_past_ack());
    }

    #[test]
    fn replies_and_events_are_typed() {
        assert_eq!(
            parse(json!({"janus": "success", "transaction": "a", "data": {"id": 99}})),
            Incoming::Success {
                transaction: "a".into(),
                id: Some(99),
                plugin_data: None
            }
        );
        assert_eq!(
            parse(json!({"janus": "error", "transaction": "b",
                         "error": {"code": 458, "reason": "No such session"}})),
            Incoming::Error {
                transaction: Some("b".into()),
                code: 458,
                reason: "No such session".into()
            }
        );
        let event = parse(json!({"janus": "event", "session_id": 1, "sender": 5,
            "transaction": "c",
            "plugindata": {"plugin": "janus.plugin.echotest", "data": {"result": "ok"}},
            "jsep": {"type": "answer", "sdp": "v=0\r\n"}}));
        let Incoming::Event {
            sender,
            transaction,
            data,
            jsep,
        } = event
        else {
            panic!("an event");
        };
        assert_eq!((sender, transaction.as_deref()), (5, Some("c")));
        assert_eq!(data["result"], "ok");
        assert_eq!(jsep.unwrap().kind, SdpKind::Answer);
        assert_eq!(
            parse(json!({"janus": "hangup", "sender": 5, "reason": "DTLS alert"})),
            Incoming::Hangup {
                sender: 5,
                reason: "DTLS alert".into()
            }
        );
        assert_eq!(
            parse(json!({"janus": "trickle", "sender": 5,
                         "candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host",
                                       "sdpMid": "0", "sdpMLineIndex": 0}})),
            Incoming::Trickle {
                sender: 5,
                candidate: Some(IceCandidate {
                    candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(),
                    sdp_mid: Some("0".into()),
                    sdp_m_line_index: Some(0),
                    username_fragment: None
                })
            }
        );
        assert_eq!(
            parse(json!({"janus": "server_info"})),
            Incoming::Other {
                kind: "server_info".into()
            }
        );
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        for bad in [
            "not json",
            "[]",
            r#"{"no":"janus"}"#,
            r#"{"janus":"ack"}"#,
            r#"{"janus":"event","sender":1}"#,
            r#"{"janus":"event","sender":"x","plugindata":{"data":{}}}"#,
            r#"{"janus":"event","sender":1,"plugindata":{"data":{}},"jsep":{"type":"bogus"}}"#,
            r#"{"janus":"trickle","sender":1,"candidate":{}}"#,
        ] {
            assert!(Incoming::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plugin_errors_are_found_in_the_data() {
        assert_eq!(
            plugin_error(
                &json!({"videoroom": "event", "error_code": 426, "error": "No such room"})
            ),
            Some((426, "No such room".into()))
        );
        assert_eq!(
            plugin_error(&json!({"echotest": "event", "result": "ok"})),
            None
        );
    }
}
