//! The local preview's effects: a picker (boxes, mesh, blur, replace,
//! remove) that switches them live, a progress bar while the models load,
//! and live stats (fps and a sparkline of inference ms).
//!
//! The processed stream is what the room publishes; until the models load
//! (or if they fail) it carries the camera unprocessed.

use std::{cell::RefCell, rc::Rc};

use futures::StreamExt;
use peerlens::effects::{
    BackgroundSetting, EffectSettings, Effects, EffectsConfig, EffectsEvent, EffectsStats,
};
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use web_sys::{HtmlInputElement, HtmlSelectElement, MediaStream};

use crate::Page;

/// How many inference samples the sparkline shows.
const SPARK_POINTS: usize = 40;

/// Called with whether any effect is on, each time the picker changes.
pub type Switch = Rc<RefCell<Option<Box<dyn Fn(bool)>>>>;

/// The running effects and the picker's listener.
pub struct EffectsPanel {
    effects: Rc<Effects>,
    switch: Switch,
    _on_change: Closure<dyn FnMut(web_sys::Event)>,
}

impl EffectsPanel {
    /// Starts the effects on `camera` and returns the panel with the
    /// processed stream, or `None` (with the reason shown) if they cannot
    /// start, in which case the camera is published as it is.
    pub async fn start(page: &Page, camera: &MediaStream) -> Option<(Self, MediaStream)> {
        let config = EffectsConfig {
            model_base: "models".into(),
            settings: settings_from(page),
            stats_interval_ms: 500,
            ..EffectsConfig::default()
        };
        let (effects, events) = match Effects::new(config) {
            Ok(started) => started,
            Err(e) => {
                page.log_error(e.name(), &e.to_string());
                return None;
            }
        };
        let processed = match effects.apply(camera).await {
            Ok(stream) => stream,
            Err(e) => {
                page.log_error(e.name(), &e.to_string());
                return None;
            }
        };
        let effects = Rc::new(effects);
        wasm_bindgen_futures::spawn_local(show_events(page.clone(), events));
        let switch: Switch = Rc::default();
        let on_change = Closure::<dyn FnMut(web_sys::Event)>::new({
            let page = page.clone();
            let effects = Rc::downgrade(&effects);
            let switch = Rc::clone(&switch);
            move |_| {
                if let Some(effects) = effects.upgrade() {
                    let on = apply_picker(&page, &effects);
                    if let Some(switch) = switch.borrow().as_ref() {
                        switch(on);
                    }
                }
            }
        });
        if let Some(picker) = page.document.get_element_by_id("effects") {
            let _ = picker
                .add_event_listener_with_callback("change", on_change.as_ref().unchecked_ref());
        }
        Some((
            Self {
                effects,
                switch,
                _on_change: on_change,
            },
            processed,
        ))
    }

    /// Whether the picker has any effect on.
    pub fn any_on(page: &Page) -> bool {
        settings_from(page) != EffectSettings::default()
    }

    /// Runs the effects on `camera` instead (another camera was picked);
    /// the previous processed stream ends.
    pub async fn reapply(&self, page: &Page, camera: &MediaStream) -> Option<MediaStream> {
        match self.effects.apply(camera).await {
            Ok(stream) => Some(stream),
            Err(e) => {
                page.log_error(e.name(), &e.to_string());
                None
            }
        }
    }

    /// Sets what happens when effects go on or off: the room swaps the
    /// track it sends, so a call without effects never goes through a
    /// canvas.
    pub fn on_switch(&self, switch: impl Fn(bool) + 'static) {
        *self.switch.borrow_mut() = Some(Box::new(switch));
    }
}

impl Drop for EffectsPanel {
    fn drop(&mut self) {
        self.effects.stop();
    }
}

fn checked(page: &Page, id: &str) -> bool {
    page.element::<HtmlInputElement>(id)
        .is_some_and(|input| input.checked())
}

/// The settings the picker shows.
fn settings_from(page: &Page) -> EffectSettings {
    let background = page
        .element::<HtmlSelectElement>("fx-background")
        .map(|s| s.value())
        .unwrap_or_default();
    EffectSettings {
        face_boxes: checked(page, "fx-boxes"),
        face_mesh: checked(page, "fx-mesh"),
        background: match background.as_str() {
            "blur" => BackgroundSetting::Blur { radius: 10 },
            "replace" => BackgroundSetting::Replace,
            "remove" => BackgroundSetting::Remove {
                color: [0, 0, 0, 0],
            },
            _ => BackgroundSetting::None,
        },
        ..EffectSettings::default()
    }
}

/// Applies the picker's settings; returns whether any effect is on.
fn apply_picker(page: &Page, effects: &Rc<Effects>) -> bool {
    let settings = settings_from(page);
    let on = settings != EffectSettings::default();
    let replace = matches!(settings.background, BackgroundSetting::Replace);
    if let Err(e) = effects.set_settings(settings) {
        page.log_error(e.name(), &e.to_string());
        return on;
    }
    if replace {
        // A soft gradient stands in for a photo: the demo ships no images.
        let page = page.clone();
        let effects = Rc::clone(effects);
        wasm_bindgen_futures::spawn_local(async move {
            if let Some(image) = gradient(&page) {
                if let Err(e) = effects.set_background_image(&image).await {
                    page.log_error(e.name(), &e.to_string());
                }
            }
        });
    }
    on
}

/// A 320x240 canvas with a blue-to-orange gradient.
fn gradient(page: &Page) -> Option<JsValue> {
    let canvas: web_sys::HtmlCanvasElement = page
        .document
        .create_element("canvas")
        .ok()?
        .dyn_into()
        .ok()?;
    canvas.set_width(320);
    canvas.set_height(240);
    let ctx: web_sys::CanvasRenderingContext2d = canvas.get_context("2d").ok()??.dyn_into().ok()?;
    let fill = ctx.create_linear_gradient(0.0, 0.0, 320.0, 240.0);
    let _ = fill.add_color_stop(0.0, "#1e3a8a");
    let _ = fill.add_color_stop(1.0, "#f97316");
    ctx.set_fill_style_canvas_gradient(&fill);
    ctx.fill_rect(0.0, 0.0, 320.0, 240.0);
    Some(canvas.into())
}

async fn show_events(
    page: Page,
    mut events: futures::channel::mpsc::UnboundedReceiver<EffectsEvent>,
) {
    let samples = Rc::new(RefCell::new(Vec::<f64>::new()));
    while let Some(event) = events.next().await {
        match event {
            EffectsEvent::Progress(progress) => {
                if let Some(bar) = page.element::<web_sys::HtmlProgressElement>("fx-progress") {
                    if let Some(total) = progress.total.filter(|t| *t > 0) {
                        bar.set_value(progress.loaded as f64 / total as f64);
                    }
                }
            }
            EffectsEvent::Loaded { ms } => {
                if let Some(bar) = page.element::<web_sys::HtmlElement>("fx-loading") {
                    let _ = bar.set_attribute("hidden", "");
                }
                if let Some(el) = page.document.get_element_by_id("effects") {
                    let _ = el.set_attribute("data-loaded", &format!("{ms:.0}"));
                }
            }
            EffectsEvent::Stats(stats) => show_stats(&page, &stats, &samples),
            EffectsEvent::Error(e) => {
                if let Some(bar) = page.element::<web_sys::HtmlElement>("fx-loading") {
                    let _ = bar.set_attribute("hidden", "");
                }
                page.log_error(e.name(), &format!("Effects: {e}"));
            }
            // `OutputTrack` comes only with `WhenHidden::Camera`; the demo
            // keeps the default.
            _ => {}
        }
    }
}

fn show_stats(page: &Page, stats: &EffectsStats, samples: &Rc<RefCell<Vec<f64>>>) {
    let Some(el) = page.document.get_element_by_id("fx-stats") else {
        return;
    };
    el.set_text_content(Some(&format!(
        "{:.0} fps · {:.1} ms per frame · {} dropped",
        stats.fps_out, stats.ms.total, stats.dropped
    )));
    let _ = el.set_attribute("data-processed", &stats.processed.to_string());
    let mut samples = samples.borrow_mut();
    samples.push(stats.ms.total);
    if samples.len() > SPARK_POINTS {
        samples.remove(0);
    }
    if let Some(line) = page.document.get_element_by_id("fx-spark") {
        let max = samples.iter().copied().fold(1.0, f64::max);
        let points: Vec<String> = samples
            .iter()
            .enumerate()
            .map(|(i, ms)| format!("{},{:.1}", i * 3, 20.0 - 20.0 * ms / max))
            .collect();
        let _ = line.set_attribute("points", &points.join(" "));
    }
}
