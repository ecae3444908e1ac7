//! Camera and microphone capture: `getUserMedia` and `enumerateDevices`
//! with typed errors, and a [`Camera`] that releases the device when
//! dropped.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{MediaDeviceInfo, MediaDeviceKind, MediaDevices, MediaStream, MediaStreamTrack};

use crate::JsErrorInfo;

/// Why the camera or microphone could not be opened.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MediaError {
    /// The user or the browser refused access (`NotAllowedError`).
    #[error("permission to use the camera or microphone was denied ({0})")]
    PermissionDenied(JsErrorInfo),
    /// No device matches the request (`NotFoundError`).
    #[error("no camera or microphone was found ({0})")]
    NotFound(JsErrorInfo),
    /// A device exists but cannot satisfy a required constraint.
    #[error("no device can satisfy the {constraint:?} constraint ({info})")]
    Overconstrained {
        /// The constraint the browser named.
        constraint: String,
        /// What the browser threw.
        info: JsErrorInfo,
    },
    /// The page is not a secure context (https or localhost), so the browser
    /// hides `navigator.mediaDevices`.
    #[error("camera access needs a secure context: serve the page over https or from localhost")]
    InsecureContext,
    /// The device exists but could not be started, often because another
    /// program holds it (`NotReadableError`).
    #[error("the device could not be started ({0})")]
    NotReadable(JsErrorInfo),
    /// This environment has no media devices API at all (a worker, or a
    /// non-browser host).
    #[error("media capture is not available here: {0}")]
    Unsupported(&'static str),
    /// Anything else the browser threw.
    #[error("media capture failed ({0})")]
    Other(JsErrorInfo),
}

impl MediaError {
    /// A stable name for the error kind, used as the JS `Error.name`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::PermissionDenied(_) => "PermissionDenied",
            Self::NotFound(_) => "NotFound",
            Self::Overconstrained { .. } => "Overconstrained",
            Self::InsecureContext => "InsecureContext",
            Self::NotReadable(_) => "NotReadable",
            Self::Unsupported(_) => "Unsupported",
            Self::Other(_) => "MediaError",
        }
    }

    fn from_js(value: &JsValue) -> Self {
        let info = JsErrorInfo::from_js(value);
        match info.name.as_str() {
            "NotAllowedError" | "PermissionDeniedError" => Self::PermissionDenied(info),
            // Browsers report a refused insecure request as a SecurityError.
            "SecurityError" => Self::PermissionDenied(info),
            "NotFoundError" | "DevicesNotFoundError" => Self::NotFound(info),
            "OverconstrainedError" | "ConstraintNotSatisfiedError" => Self::Overconstrained {
                constraint: JsErrorInfo::property(value, "constraint").unwrap_or_default(),
                info,
            },
            "NotReadableError" | "TrackStartError" | "AbortError" => Self::NotReadable(info),
            _ => Self::Other(info),
        }
    }
}

/// What to ask the camera (and optionally the microphone) for.
///
/// Sizes and frame rate are `ideal` values: the browser picks the closest
/// mode. A device id is `exact`: a missing device is an error rather than a
/// silent switch to another camera.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CameraConstraints {
    /// Ideal width in pixels.
    pub width: Option<u32>,
    /// Ideal height in pixels.
    pub height: Option<u32>,
    /// Ideal frames per second.
    pub frame_rate: Option<f64>,
    /// A `deviceId` from [`devices`].
    pub device_id: Option<String>,
    /// Whether to open the default microphone too.
    pub audio: bool,
}

impl CameraConstraints {
    /// Asks for an ideal size.
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.width = Some(width);
        self.height = Some(height);
        self
    }

    /// Asks for an ideal frame rate.
    pub fn frame_rate(mut self, fps: f64) -> Self {
        self.frame_rate = Some(fps);
        self
    }

    /// Requires a specific camera.
    pub fn device(mut self, device_id: impl Into<String>) -> Self {
        self.device_id = Some(device_id.into());
        self
    }

    /// Opens the microphone as well.
    pub fn audio(mut self, audio: bool) -> Self {
        self.audio = audio;
        self
    }

    /// The `MediaStreamConstraints` dictionary.
    fn to_js(&self) -> Object {
        let video = Object::new();
        let constrain = |key: &str, kind: &str, value: JsValue| {
            let inner = Object::new();
            set(&inner, kind, &value);
            set(&video, key, &inner);
        };
        if let Some(w) = self.width {
            constrain("width", "ideal", w.into());
        }
        if let Some(h) = self.height {
            constrain("height", "ideal", h.into());
        }
        if let Some(fps) = self.frame_rate {
            constrain("frameRate", "ideal", fps.into());
        }
        if let Some(id) = &self.device_id {
            constrain("deviceId", "exact", id.into());
        }
        let constraints = Object::new();
        set(&constraints, "video", &video);
        set(&constraints, "audio", &self.audio.into());
        constraints
    }
}

fn set(target: &Object, key: &str, value: &JsValue) {
    // Setting a property on a fresh plain object cannot throw.
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

fn media_devices() -> Result<MediaDevices, MediaError> {
    let window = web_sys::window().ok_or(MediaError::Unsupported("no window object"))?;
    if !window.is_secure_context() {
        return Err(MediaError::InsecureContext);
    }
    window
        .navigator()
        .media_devices()
        .map_err(|_| MediaError::Unsupported("navigator.mediaDevices is missing"))
}

/// Asks the user for a screen, window or tab to share (`getDisplayMedia`),
/// with its audio if `audio` is set and the browser offers it.
///
/// The result is a [`Camera`] too: dropping it ends the share. Send its
/// video track with `replace_track` to switch a call to screen sharing
/// without renegotiating. Browsers only allow this from a user gesture.
pub async fn display_media(audio: bool) -> Result<Camera, MediaError> {
    let devices = media_devices()?;
    let request = web_sys::DisplayMediaStreamConstraints::new();
    request.set_video(&JsValue::TRUE);
    request.set_audio(&JsValue::from_bool(audio));
    let promise = devices.get_display_media_with_constraints(&request);
    Ok(Camera {
        stream: captured(promise, "getDisplayMedia").await?,
        stop_on_drop: true,
    })
}

/// Awaits a capture promise (`api` names it in errors) and checks that it
/// gave a stream.
async fn captured(
    promise: Result<js_sys::Promise, JsValue>,
    api: &str,
) -> Result<MediaStream, MediaError> {
    let promise = promise.map_err(|e| MediaError::from_js(&e))?;
    let stream = JsFuture::from(promise)
        .await
        .map_err(|e| MediaError::from_js(&e))?;
    stream.dyn_into::<MediaStream>().map_err(|other| {
        MediaError::Other(JsErrorInfo {
            name: "TypeError".into(),
            message: format!("{api} resolved to {other:?}, not a MediaStream"),
        })
    })
}

/// An open camera stream, with the microphone if it was asked for.
///
/// Dropping a `Camera` stops its tracks, which turns the camera light off.
/// Call [`Camera::into_stream`] to keep the tracks running past the
/// `Camera`'s lifetime.
#[derive(Debug)]
pub struct Camera {
    stream: MediaStream,
    stop_on_drop: bool,
}

impl Camera {
    /// Opens the camera with `getUserMedia`.
    pub async fn open(constraints: &CameraConstraints) -> Result<Self, MediaError> {
        let devices = media_devices()?;
        let request = constraints.to_js();
        let promise = devices.get_user_media_with_constraints(request.unchecked_ref());
        Ok(Self {
            stream: captured(promise, "getUserMedia").await?,
            stop_on_drop: true,
        })
    }

    /// The captured stream.
    pub fn stream(&self) -> &MediaStream {
        &self.stream
    }

    /// The video track, if the stream still has one.
    pub fn video_track(&self) -> Option<MediaStreamTrack> {
        first_track(&self.stream.get_video_tracks())
    }

    /// The audio track, if audio was asked for and granted.
    pub fn audio_track(&self) -> Option<MediaStreamTrack> {
        first_track(&self.stream.get_audio_tracks())
    }

    /// The size the camera actually delivers, from the track's settings.
    pub fn video_size(&self) -> Option<(u32, u32)> {
        let settings: JsValue = self.video_track()?.get_settings().into();
        let read = |key: &str| {
            Reflect::get(&settings, &JsValue::from_str(key))
                .ok()
                .and_then(|v| v.as_f64())
                .map(|v| v as u32)
        };
        Some((read("width")?, read("height")?))
    }

    /// Stops every track. The camera and microphone are released.
    pub fn stop(&self) {
        for track in self.stream.get_tracks().iter() {
            if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
                track.stop();
            }
        }
    }

    /// Gives up ownership: the tracks keep running, and stopping them is now
    /// the caller's job.
    pub fn into_stream(mut self) -> MediaStream {
        self.stop_on_drop = false;
        // `Clone::clone`: web-sys's `MediaStream::clone` is the JS method,
        // which would copy every track.
        Clone::clone(&self.stream)
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        if self.stop_on_drop {
            self.stop();
        }
    }
}

fn first_track(tracks: &Array) -> Option<MediaStreamTrack> {
    tracks.get(0).dyn_into::<MediaStreamTrack>().ok()
}

/// The kind of a capture device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// A camera.
    VideoInput,
    /// A microphone.
    AudioInput,
    /// A speaker or headset.
    AudioOutput,
}

/// A capture device, as `enumerateDevices` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The id to pass to [`CameraConstraints::device`].
    pub device_id: String,
    /// Camera, microphone or speaker.
    pub kind: DeviceKind,
    /// A human-readable label. Browsers leave it empty until the page has
    /// been granted access to a device once.
    pub label: String,
    /// Devices sharing a group id belong to one physical device.
    pub group_id: String,
}

/// Lists the cameras, microphones and speakers.
pub async fn devices() -> Result<Vec<DeviceInfo>, MediaError> {
    let promise = media_devices()?
        .enumerate_devices()
        .map_err(|e| MediaError::from_js(&e))?;
    let list = JsFuture::from(promise)
        .await
        .map_err(|e| MediaError::from_js(&e))?;
    let list: Array = list.dyn_into().unwrap_or_default();
    Ok(list
        .iter()
        .filter_map(|d| d.dyn_into::<MediaDeviceInfo>().ok())
        .filter_map(|d| {
            let kind = match d.kind() {
                MediaDeviceKind::Videoinput => DeviceKind::VideoInput,
                MediaDeviceKind::Audioinput => DeviceKind::AudioInput,
                MediaDeviceKind::Audiooutput => DeviceKind::AudioOutput,
                _ => return None,
            };
            Some(DeviceInfo {
                device_id: d.device_id(),
                kind,
                label: d.label(),
                group_id: d.group_id(),
            })
        })
        .collect())
}
