//! Loading the effects' models: fetched from a base URL the app chooses
//! (so they can be self-hosted), with byte-level progress, and typed errors
//! for a URL that fails and for a model that does not load. Works on the
//! page and in a worker.

use js_sys::{Reflect, Uint8Array};
use peerlens_vision::{BackgroundStage, EffectOptions, FaceStage, SegmenterModel, VisionError};
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

/// Fetches `urls` one after the other, calling `on_progress` with the
/// bytes fetched of all of them (and their total once every size is
/// known).
async fn fetch_all(
    urls: &[&str],
    on_progress: &mut dyn FnMut(Progress),
) -> Result<Vec<Vec<u8>>, EffectsError> {
    let mut loaded = vec![0u64; urls.len()];
    let mut totals: Vec<Option<u64>> = vec![None; urls.len()];
    let mut fetched = Vec::with_capacity(urls.len());
    for (i, url) in urls.iter().enumerate() {
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
    Ok(fetched)
}

/// A model that did not load, named by the URL it came from.
fn model_error(url: &str, source: VisionError) -> EffectsError {
    let (model, reason) = match source {
        VisionError::Model { model, reason } => (model.to_owned(), reason),
        other => ("unknown".to_owned(), other.to_string()),
    };
    EffectsError::Model {
        url: url.to_owned(),
        model,
        reason,
    }
}

/// Fetches the detector and the mesh and loads them into a [`FaceStage`].
pub async fn load_faces(
    urls: &ModelUrls,
    options: &EffectOptions,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<FaceStage, EffectsError> {
    let fetched = fetch_all(&[&urls.detector, &urls.mesh], on_progress).await?;
    FaceStage::load(&fetched[0], &fetched[1], options).map_err(|source| {
        // The detector loads first; the error names its kind of model.
        let url = match &source {
            VisionError::Model { model, .. }
                if model.contains("landmark") || model.contains("mesh") =>
            {
                &urls.mesh
            }
            _ => &urls.detector,
        };
        model_error(url, source)
    })
}

/// Fetches the segmenter and loads it into a [`BackgroundStage`].
pub async fn load_background(
    urls: &ModelUrls,
    model: SegmenterModel,
    options: &EffectOptions,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<BackgroundStage, EffectsError> {
    let fetched = fetch_all(&[&urls.segmenter], on_progress).await?;
    BackgroundStage::load(&fetched[0], model, options)
        .map_err(|source| model_error(&urls.segmenter, source))
}
