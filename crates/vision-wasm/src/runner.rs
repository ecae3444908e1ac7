//! [`Runner`]: the state where the frames are processed (in the worker,
//! or on the page in main-thread mode): the models once loaded, the
//! current settings, the engine and its frame source. Models and settings
//! may arrive before or after the frame path is set up.

use std::{cell::RefCell, rc::Rc};

use peerlens_vision::EffectsPipeline;
use web_sys::ReadableStream;

use crate::{
    bindings::AnyCanvas,
    engine::Engine,
    load::load_pipeline,
    source::{pump, PumpHandle, Report, Sink},
    EffectSettings, EffectsError, ModelUrls, Progress, Segmenter, SourceKind, Thread,
};

/// What the frame path is set up with.
pub(crate) struct StartSpec {
    pub(crate) canvas: AnyCanvas,
    pub(crate) thread: Thread,
    pub(crate) source: SourceKind,
    pub(crate) fps: f64,
    pub(crate) stats_interval_ms: u32,
    /// The processor's stream, for [`SourceKind::Processor`].
    pub(crate) readable: Option<ReadableStream>,
    /// Where drawn frames go besides `canvas`, and the output path.
    pub(crate) delivery: crate::engine::Delivery,
    pub(crate) output: crate::OutputKind,
}

#[derive(Default)]
pub(crate) struct Runner {
    engine: Option<Rc<RefCell<Engine>>>,
    pump: Option<PumpHandle>,
    /// Loaded before the frame path was set up.
    pipeline: Option<EffectsPipeline>,
    settings: EffectSettings,
    image: Option<wasm_bindgen::JsValue>,
}

impl Runner {
    /// Loads the models into `runner`; returns the milliseconds it took.
    pub(crate) async fn load(
        runner: &Rc<RefCell<Runner>>,
        urls: &ModelUrls,
        segmenter: Segmenter,
        on_progress: &mut dyn FnMut(Progress),
    ) -> Result<f64, EffectsError> {
        let t0 = crate::bindings::now();
        let options = crate::options(&runner.borrow().settings)?;
        let pipeline = load_pipeline(
            urls,
            crate::segmenter_model(segmenter),
            options,
            on_progress,
        )
        .await?;
        runner.borrow_mut().loaded(pipeline);
        Ok(crate::bindings::now() - t0)
    }

    fn loaded(&mut self, pipeline: EffectsPipeline) {
        match (&self.engine, crate::options(&self.settings)) {
            (Some(engine), Ok(options)) => engine.borrow_mut().set_pipeline(pipeline, options),
            _ => self.pipeline = Some(pipeline),
        }
    }

    /// New settings (already checked) and, when given, a new background
    /// image.
    pub(crate) fn set_settings(
        &mut self,
        settings: EffectSettings,
        image: Option<wasm_bindgen::JsValue>,
    ) {
        if let Some(engine) = &self.engine {
            engine
                .borrow_mut()
                .set_settings(settings.clone(), image.clone());
        }
        if image.is_some() {
            self.image = image;
        }
        self.settings = settings;
    }

    /// Sets up (or replaces) the frame path. Returns the engine, for
    /// sources the caller feeds itself.
    pub(crate) fn start(
        &mut self,
        spec: StartSpec,
        sink: Sink,
    ) -> Result<Rc<RefCell<Engine>>, EffectsError> {
        self.stop();
        let mut engine = Engine::new(
            spec.canvas,
            spec.thread,
            spec.source,
            spec.fps,
            spec.stats_interval_ms,
        )?;
        engine.set_settings(self.settings.clone(), self.image.clone());
        engine.deliver_to(spec.delivery, spec.output);
        if let (Some(pipeline), Ok(options)) =
            (self.pipeline.take(), crate::options(&self.settings))
        {
            engine.set_pipeline(pipeline, options);
        }
        let engine = Rc::new(RefCell::new(engine));
        if let Some(readable) = spec.readable {
            self.pump = Some(pump(readable, engine.clone(), sink)?);
        }
        self.engine = Some(engine.clone());
        Ok(engine)
    }

    /// Draws one frame from a source the caller feeds (bitmaps, a video
    /// element), and reports what there is to report.
    pub(crate) fn draw(
        engine: &Rc<RefCell<Engine>>,
        image: &wasm_bindgen::JsValue,
        width: u32,
        height: u32,
        timestamp_us: Option<f64>,
        sink: &Sink,
    ) {
        let result = engine.borrow_mut().draw(image, width, height, timestamp_us);
        let stats = engine.borrow_mut().take_stats();
        if let Err(e) = result {
            sink(Report::Error(e));
        }
        if let Some(stats) = stats {
            sink(Report::Stats(stats));
        }
    }

    /// Ends the frame path; the models stay loaded for the next one.
    pub(crate) fn stop(&mut self) {
        if let Some(pump) = self.pump.take() {
            pump.stop();
        }
        if let Some(engine) = self.engine.take() {
            if let Ok(mut engine) = engine.try_borrow_mut() {
                if let Some(pipeline) = engine.take_pipeline() {
                    self.pipeline = Some(pipeline);
                }
            }
        }
    }
}
