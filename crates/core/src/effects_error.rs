//! [`EffectsError`]: everything that can go wrong loading or running the
//! effects. It is plain data, so a worker can send it to the page.

use serde::{Deserialize, Serialize};

use crate::JsErrorInfo;

/// Why the effects could not load, or why a frame went through
/// unprocessed.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
pub enum EffectsError {
    /// The request itself failed (network, CORS, a malformed URL).
    #[error("could not fetch {url}: {info}")]
    Fetch {
        /// The model URL.
        url: String,
        /// What the browser threw.
        info: JsErrorInfo,
    },
    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}")]
    Http {
        /// The model URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The bytes arrived but are not a usable model.
    #[error("the {model} model at {url} does not load: {reason}")]
    Model {
        /// The model URL.
        url: String,
        /// Which model (detector, landmarks, segmenter).
        model: String,
        /// What the vision layer reported.
        reason: String,
    },
    /// Options that make no sense, such as a negative blur radius.
    #[error("invalid effect options: {0}")]
    Options(String),
    /// The stream given to `apply` has no video track.
    #[error("the stream has no video track")]
    NoVideoTrack,
    /// A browser feature the effects need is missing.
    #[error("not supported by this browser: {0}")]
    Unsupported(String),
    /// The worker could not start or stopped answering; the effects moved
    /// to the main thread.
    #[error("the effects worker failed: {0}")]
    Worker(String),
    /// One frame could not be processed and went through unprocessed.
    #[error("a frame went through unprocessed: {0}")]
    Frame(String),
    /// A browser call failed while setting up the frame path.
    #[error("{what} failed: {info}")]
    Browser {
        /// What was being done.
        what: String,
        /// What the browser threw.
        info: JsErrorInfo,
    },
    /// The effects were stopped.
    #[error("the effects were stopped")]
    Stopped,
}

impl EffectsError {
    /// A stable name for the kind, used as the JS `Error.name`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Fetch { .. } => "FetchError",
            Self::Http { .. } => "HttpError",
            Self::Model { .. } => "ModelError",
            Self::Options(_) => "OptionsError",
            Self::NoVideoTrack => "NoVideoTrack",
            Self::Unsupported(_) => "Unsupported",
            Self::Worker(_) => "WorkerError",
            Self::Frame(_) => "FrameError",
            Self::Browser { .. } => "BrowserError",
            Self::Stopped => "Stopped",
        }
    }

    /// A stable kebab-case code, the JS `Error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Fetch { .. } => "fetch-failed",
            Self::Http { .. } => "http-error",
            Self::Model { .. } => "bad-model",
            Self::Options(_) => "bad-options",
            Self::NoVideoTrack => "no-video-track",
            Self::Unsupported(_) => "unsupported",
            Self::Worker(_) => "worker-failed",
            Self::Frame(_) => "frame-failed",
            Self::Browser { .. } => "browser-error",
            Self::Stopped => "stopped",
        }
    }

    /// A [`Self::Browser`] error from what a browser call threw.
    pub fn browser(what: &str, value: &wasm_bindgen::JsValue) -> Self {
        Self::Browser {
            what: what.to_owned(),
            info: JsErrorInfo::from_js(value),
        }
    }
}

/// The JS `Error` of an [`EffectsError`]: `name`, `code`, and the `url`
/// (and `status`) of a failed download.
impl From<EffectsError> for wasm_bindgen::JsValue {
    fn from(e: EffectsError) -> Self {
        let error = crate::js_error(e.name(), e.code(), &e.to_string());
        match &e {
            EffectsError::Http { url, status } => {
                let _ = js_sys::Reflect::set(&error, &"url".into(), &url.into());
                let _ = js_sys::Reflect::set(&error, &"status".into(), &(*status).into());
            }
            EffectsError::Fetch { url, .. } | EffectsError::Model { url, .. } => {
                let _ = js_sys::Reflect::set(&error, &"url".into(), &url.into());
            }
            _ => {}
        }
        error
    }
}
