//! The few `RTCPeerConnection` members web-sys does not bind.

use wasm_bindgen::{prelude::*, JsCast};
use web_sys::RtcPeerConnection;

#[wasm_bindgen]
extern "C" {
    /// `RTCPeerConnection`, seen through the members below.
    #[wasm_bindgen(js_name = RTCPeerConnection)]
    type PeerConnectionExt;

    #[wasm_bindgen(method, js_name = setLocalDescription)]
    fn set_local_description(this: &PeerConnectionExt) -> js_sys::Promise;

    #[wasm_bindgen(method, js_name = restartIce)]
    fn restart_ice(this: &PeerConnectionExt);
}

/// `setLocalDescription()` with no argument: the browser creates the offer
/// or answer the signaling state calls for. Perfect negotiation relies on
/// it, since it cannot race with a remote description.
pub fn set_local_description_implicit(pc: &RtcPeerConnection) -> js_sys::Promise {
    pc.unchecked_ref::<PeerConnectionExt>()
        .set_local_description()
}

/// `restartIce()`: the next offer gathers fresh ICE credentials.
pub fn restart_ice(pc: &RtcPeerConnection) {
    pc.unchecked_ref::<PeerConnectionExt>().restart_ice();
}

/// A string member read with `Reflect`, for fields web-sys lacks
/// (`usernameFragment` on candidates).
pub fn get_string(value: &JsValue, key: &str) -> Option<String> {
    js_sys::Reflect::get(value, &JsValue::from_str(key))
        .ok()
        .and_then(|v| v.as_string())
}

/// Sets a string member with `Reflect`.
pub fn set_string(value: &JsValue, key: &str, to: &str) {
    let _ = js_sys::Reflect::set(value, &JsValue::from_str(key), &JsValue::from_str(to));
}
