//! A [`Codec`] written in JavaScript: two callbacks that translate between
//! the reference protocol's message objects and any server's frames.
//!
//! `encode(message)` receives a client message as a plain object
//! (`{type: "join", room, name, peerId}`, `{type: "signal", to, data}`,
//! `{type: "leave"}`, `{type: "ping"}`) and returns a frame string, an array
//! of frames, or `null` for nothing. `decode(frame)` receives a text frame
//! and returns a server message object (`{type: "welcome", id, peers}`,
//! `{type: "peer-joined", peer}`, `{type: "peer-left", id}`,
//! `{type: "signal", from, data}`, `{type: "error", code, message}`), an
//! array of them, or `null` for nothing. What the callbacks return is
//! checked as strictly as frames from the reference server, and a callback
//! that throws becomes a typed error, never a panic.

use js_sys::{Array, Function, JsString, JSON};
use peerlens_protocol::{ClientMessage, Codec, CodecError, Decoded, Heartbeat, ServerMessage};
use wasm_bindgen::{JsCast, JsValue};

use crate::JsErrorInfo;

/// A codec whose translation is done by JavaScript callbacks.
pub struct JsCodec {
    encode: Function,
    decode: Function,
    rooms: bool,
    heartbeat: Heartbeat,
    ping: Option<Function>,
}

impl JsCodec {
    /// A codec from `encode` and `decode` callbacks, for a server with
    /// rooms.
    pub fn new(encode: Function, decode: Function) -> Self {
        Self {
            encode,
            decode,
            rooms: true,
            heartbeat: Heartbeat::default(),
            ping: None,
        }
    }

    /// Declares whether the server has rooms (true by default).
    pub fn with_rooms(mut self, rooms: bool) -> Self {
        self.rooms = rooms;
        self
    }

    /// A client-side keep-alive: `ping()` returns the frame to send every
    /// `every_ms`, and silence for `dead_after_ms` means reconnect.
    pub fn with_ping(mut self, ping: Function, every_ms: u32, dead_after_ms: u32) -> Self {
        self.ping = Some(ping);
        self.heartbeat = Heartbeat {
            ping_every_ms: Some(every_ms),
            dead_after_ms: Some(dead_after_ms),
        };
        self
    }
}

fn callback_error(what: &str, thrown: &JsValue) -> CodecError {
    CodecError::Callback(format!("{what} threw: {}", JsErrorInfo::from_js(thrown)))
}

/// Reads what `encode` returned: a string, an array of strings, or nothing.
fn frames_of(value: JsValue) -> Result<Vec<String>, CodecError> {
    if value.is_null() || value.is_undefined() {
        return Ok(Vec::new());
    }
    if let Some(frame) = value.as_string() {
        return Ok(vec![frame]);
    }
    if let Some(array) = value.dyn_ref::<Array>() {
        return array
            .iter()
            .map(|v| {
                v.as_string().ok_or_else(|| {
                    CodecError::Callback("encode returned an array holding a non-string".into())
                })
            })
            .collect();
    }
    Err(CodecError::Callback(
        "encode must return a string, an array of strings, or null".into(),
    ))
}

impl Codec for JsCodec {
    fn name(&self) -> &'static str {
        "js"
    }

    fn has_rooms(&self) -> bool {
        self.rooms
    }

    fn encode(&mut self, message: &ClientMessage) -> Result<Vec<String>, CodecError> {
        let object = JSON::parse(&message.to_json())
            .map_err(|e| CodecError::Callback(JsErrorInfo::from_js(&e).to_string()))?;
        let result = self
            .encode
            .call1(&JsValue::NULL, &object)
            .map_err(|e| callback_error("encode", &e))?;
        frames_of(result)
    }

    fn decode(&mut self, frame: &str) -> Result<Decoded, CodecError> {
        let result = self
            .decode
            .call1(&JsValue::NULL, &JsValue::from_str(frame))
            .map_err(|e| callback_error("decode", &e))?;
        if result.is_null() || result.is_undefined() {
            return Ok(Decoded::nothing());
        }
        let items: Vec<JsValue> = match result.dyn_ref::<Array>() {
            Some(array) => array.iter().collect(),
            None => vec![result],
        };
        let mut decoded = Decoded::nothing();
        for item in items {
            let text: String = JSON::stringify(&item)
                .map(|s: JsString| s.into())
                .map_err(|e| callback_error("JSON.stringify of decode's result", &e))?;
            decoded.messages.push(ServerMessage::from_json(&text)?);
        }
        Ok(decoded)
    }

    fn heartbeat(&self) -> Heartbeat {
        self.heartbeat
    }

    fn ping(&mut self) -> Option<String> {
        self.ping
            .as_ref()
            .and_then(|f| f.call0(&JsValue::NULL).ok())
            .and_then(|v| v.as_string())
    }
}
