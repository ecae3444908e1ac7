//! Small helpers on the JS global, shared by the page side and the vision
//! module: they run on the page and in workers alike.

use js_sys::Reflect;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `performance`, on the page or in a worker.
    type Performance;

    #[wasm_bindgen(method)]
    fn now(this: &Performance) -> f64;
}

/// Whether the global scope (page or worker) has `name`.
pub fn global_has(name: &str) -> bool {
    Reflect::get(&js_sys::global(), &name.into()).is_ok_and(|v| !v.is_undefined())
}

/// Milliseconds from `performance.now()`, or `Date.now()` where there is
/// no `performance`.
pub fn now() -> f64 {
    thread_local! {
        static PERFORMANCE: Option<Performance> =
            Reflect::get(&js_sys::global(), &"performance".into())
                .ok()
                .filter(|p| p.is_object())
                .map(JsCast::unchecked_into);
    }
    PERFORMANCE.with(|p| p.as_ref().map_or_else(js_sys::Date::now, |p| p.now()))
}
