//! Finding and loading the vision module: which build this browser can run
//! (probed with `WebAssembly.validate` on two tiny modules, never by
//! downloading the big one), where the files are, the effects worker that
//! runs it, and the module itself on the page for main-thread mode and
//! `RawModel`.

use std::cell::RefCell;

use wasm_bindgen::prelude::*;
use web_sys::Worker;

use super::EffectsError;
pub use peerlens_core::VisionBuild;

#[wasm_bindgen(module = "/src/effects/loader.js")]
extern "C" {
    #[wasm_bindgen(js_name = probeBuild)]
    fn probe_build() -> String;
    #[wasm_bindgen(js_name = startWorker, catch)]
    fn start_worker_js(base: Option<String>) -> Result<Worker, JsValue>;
    #[wasm_bindgen(js_name = loadVision, catch)]
    async fn load_vision_js(build: &str, base: Option<String>) -> Result<JsValue, JsValue>;
}

/// Where the vision module's files are and which build to run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VisionOptions {
    /// The directory URL (absolute or relative to the page) that holds
    /// `peerlens_worker.js`, `peerlens_vision_loader.js` and the builds,
    /// when it is not the one of the main module's glue (a CDN, or a
    /// test server).
    pub base_url: Option<String>,
    /// A build to run instead of the probed one. A relaxed-SIMD build that
    /// does not compile still falls back to simd128.
    pub build: Option<VisionBuild>,
}

thread_local! {
    static OPTIONS: RefCell<VisionOptions> = RefCell::new(VisionOptions::default());
}

/// Sets where the vision module is and which build runs, for the effects
/// and models created from now on.
pub fn configure_vision(options: VisionOptions) {
    OPTIONS.with(|o| *o.borrow_mut() = options);
}

/// The current [`VisionOptions`].
pub fn vision_options() -> VisionOptions {
    OPTIONS.with(|o| o.borrow().clone())
}

/// The best build this browser can run, by probing: `None` without
/// WebAssembly SIMD.
pub fn probed_build() -> Option<VisionBuild> {
    VisionBuild::parse(&probe_build())
}

/// The build to ask for: the configured one, else the probed one; a typed
/// error where the browser has no WebAssembly SIMD at all.
pub fn chosen_build() -> Result<VisionBuild, EffectsError> {
    match vision_options().build.or_else(probed_build) {
        Some(build) => Ok(build),
        None => Err(EffectsError::Unsupported(
            "this browser's WebAssembly has no SIMD (simd128), which the vision module needs; \
             the video passes through unprocessed"
                .into(),
        )),
    }
}

/// The configured base URL, made absolute against the page.
pub(crate) fn base_url() -> Option<String> {
    vision_options().base_url.map(|base| {
        let base = if base.ends_with('/') {
            base
        } else {
            format!("{base}/")
        };
        super::resolve(&base)
    })
}

/// Starts the effects worker (which loads the vision module when told
/// which build).
pub(crate) fn start_worker() -> Result<Worker, JsValue> {
    start_worker_js(base_url())
}

/// The vision module loaded on this page.
#[derive(Debug, Clone)]
pub(crate) struct PageVision {
    /// The module's namespace (its exports).
    pub(crate) module: JsValue,
    /// The build that runs.
    pub(crate) build: VisionBuild,
    /// Why it is not the build asked for, when it is not.
    pub(crate) fallback: Option<String>,
}

/// Loads (once per page; later calls return the same module) the vision
/// module on the page.
pub(crate) async fn load_on_page() -> Result<PageVision, EffectsError> {
    let build = chosen_build()?;
    let loaded = load_vision_js(build.as_str(), base_url())
        .await
        .map_err(|e| {
            EffectsError::Unsupported(format!(
                "the vision module did not load: {}",
                crate::JsErrorInfo::from_js(&e)
            ))
        })?;
    let field = |name: &str| js_sys::Reflect::get(&loaded, &name.into()).unwrap_or(JsValue::NULL);
    Ok(PageVision {
        module: field("vision"),
        build: field("build")
            .as_string()
            .and_then(|b| VisionBuild::parse(&b))
            .unwrap_or(build),
        fallback: field("fallback").as_string(),
    })
}
