//! Turning the untyped values browsers throw into data Rust can match on.
//!
//! Browser APIs reject promises with `DOMException`s, `TypeError`s, or
//! occasionally plain values. Library errors keep the `name` and `message`
//! of what was thrown, never the raw `JsValue`.

use std::fmt;

use wasm_bindgen::{JsCast, JsValue};

/// The `name` and `message` of a value thrown by a browser API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JsErrorInfo {
    /// The error's `name`, such as `NotAllowedError`; empty when the thrown
    /// value had none.
    pub name: String,
    /// The error's `message`, or the thrown value as a string.
    pub message: String,
}

impl JsErrorInfo {
    /// Reads `name` and `message` from whatever was thrown.
    pub fn from_js(value: &JsValue) -> Self {
        let field = |key: &str| {
            if value.is_object() {
                js_sys::Reflect::get(value, &JsValue::from_str(key))
                    .ok()
                    .and_then(|v| v.as_string())
            } else {
                None
            }
        };
        let message = field("message")
            .or_else(|| value.as_string())
            .or_else(|| {
                value
                    .dyn_ref::<js_sys::Object>()
                    .map(|o| String::from(o.to_string()))
            })
            .unwrap_or_else(|| format!("{value:?}"));
        Self {
            name: field("name").unwrap_or_default(),
            message,
        }
    }

    /// Reads a string property other than `name` and `message`, such as the
    /// `constraint` of an `OverconstrainedError`.
    pub fn property(value: &JsValue, key: &str) -> Option<String> {
        js_sys::Reflect::get(value, &JsValue::from_str(key))
            .ok()
            .and_then(|v| v.as_string())
    }
}

impl fmt::Display for JsErrorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.name, self.message)
        }
    }
}
