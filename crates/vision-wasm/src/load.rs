//! Loading the effects' models: fetched from a base URL the app chooses
//! (so they can be self-hosted), with byte-level progress, and typed errors
//! for a URL that fails and for a model that does not load. Works on the
//! page and in a worker.

use js_sys::{Reflect, Uint8Array};
use peerlens_vision::{EffectModels, EffectOptions, EffectsPipeline, SegmenterModel, VisionError};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStreamDefaultReader, Response};

use crate::{EffectsError, JsErrorInfo, ModelUrls, Progress};

fn fetch_error(url: &str, value: &JsValue) -> EffectsError {
    EffectsError::Fetch {
        url: url.to_owned(),
        info: JsErrorInfo::from_js(value),
    }
}

/// `fetch(url)` on the page or in a worker.
fn global_fetch(url: &str) -> Result<js_sys::Promise, JsValue> {
    let global = js_sys::global();
    let fetch: js_sys::Function = Reflect::get(&global, &"fetch".into())?.dyn_into()?;
    fetch.call1(&global, &url.into())?.dyn_into()
}

/// Fetches `url` to the end, calling `on_chunk(received_so_far,
/// content_length)` after the headers and after every chunk.
pub async fn fetch_bytes(
    url: &str,
    on_chunk: &mut dyn FnMut(u64, Option<u64>),
) -> Result<Vec<u8>, EffectsError> {
    let response: Response = JsFuture::from(global_fetch(url).map_err(|e| fetch_error(url, &e))?)
        .await
        .map_err(|e| fetch_error(url, &e))?
        .dyn_into()
        .map_err(|e| fetch_error(url, &e))?;
    if !response.ok() {
        return Err(EffectsError::Http {
            url: url.to_owned(),
            status: response.status(),
        });
    }
    let total = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<u64>().ok());
    let mut bytes = Vec::with_capacity(total.unwrap_or(0).min(64 << 20) as usize);
    on_chunk(0, total);
    let Some(body) = response.body() else {
        return Ok(bytes);
    };
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|e| fetch_error(url, &e))?;
        let done = Reflect::get(&chunk, &"done".into())
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            break;
        }
        if let Ok(value) = Reflect::get(&chunk, &"value".into()) {
            if let Some(array) = value.dyn_ref::<Uint8Array>() {
                let start = bytes.len();
                bytes.resize(start + array.length() as usize, 0);
                array.copy_to(&mut bytes[start..]);
            }
        }
        on_chunk(bytes.len() as u64, total);
    }
    Ok(bytes)
}

/// Fetches the three models, reporting combined progress, and loads them
/// into an [`EffectsPipeline`].
pub async fn load_pipeline(
    urls: &ModelUrls,
    segmenter_model: SegmenterModel,
    options: EffectOptions,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<EffectsPipeline, EffectsError> {
    let files = [&urls.detector, &urls.mesh, &urls.segmenter];
    let mut loaded = [0u64; 3];
    let mut totals: [Option<u64>; 3] = [None; 3];
    let mut fetched = Vec::with_capacity(3);
    for (i, url) in files.iter().enumerate() {
        let bytes = fetch_bytes(url, &mut |got, total| {
            loaded[i] = got;
            totals[i] = total;
            let all_known = totals.iter().all(Option::is_some);
            on_progress(Progress {
                loaded: loaded.iter().sum(),
                total: all_known.then(|| totals.iter().flatten().sum()),
            });
        })
        .await?;
        fetched.push(bytes);
    }
    let models = EffectModels {
        detector: &fetched[0],
        mesh: &fetched[1],
        segmenter: &fetched[2],
        segmenter_model,
    };
    EffectsPipeline::load(models, options).map_err(|source| {
        // Name the file that failed: load order is detector, mesh,
        // segmenter, and the error says which kind of model it was.
        let url = match &source {
            VisionError::Model { model, .. }
                if model.contains("landmark") || model.contains("mesh") =>
            {
                &urls.mesh
            }
            VisionError::Model { model, .. } if model.contains("segment") => &urls.segmenter,
            _ => &urls.detector,
        };
        let (model, reason) = match source {
            VisionError::Model { model, reason } => (model.to_owned(), reason),
            other => ("unknown".to_owned(), other.to_string()),
        };
        EffectsError::Model {
            url: url.clone(),
            model,
            reason,
        }
    })
}
