//! [`Runner`]: the state where the frames are processed (in the worker,
//! or on the page in main-thread mode): the models once loaded, the
//! current settings, the engine and its frame source. Models and settings
//! may arrive before or after the frame path is set up.

use std::{cell::RefCell, rc::Rc};

use web_sys::ReadableStream;

use crate::{
    bindings::AnyCanvas,
    engine::{Engine, Models},
    faces::FaceLink,
    load::{load_background, load_faces},
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
    models: Models,
    /// The face worker, in two-worker mode.
    link: Option<Rc<FaceLink>>,
    settings: EffectSettings,
    image: Option<wasm_bindgen::JsValue>,
}

impl Runner {
    /// Loads the models into `runner`: the detector and the mesh here or
    /// in the face worker, the segmenter here, at the same time. Returns
    /// the milliseconds it took, or the first error; the models that did
    /// load are used either way, so one effect failing leaves the other
    /// working.
    pub(crate) async fn load(
        runner: &Rc<RefCell<Runner>>,
        urls: &ModelUrls,
        segmenter: Segmenter,
        on_progress: Rc<dyn Fn(Progress)>,
    ) -> Result<f64, EffectsError> {
        let t0 = crate::bindings::now();
        let options = crate::options(&runner.borrow().settings)?;
        let mut link = runner.borrow().link.clone();
        if let Some(face_worker) = &link {
            if face_worker.ready().await.is_err() {
                // A face worker that did not start (a browser that cannot
                // share the compiled module) is not the user's problem:
                // the faces are tracked here, as with one worker.
                runner.borrow_mut().drop_link();
                link = None;
            }
        }
        // Progress of the two halves, reported summed.
        let parts: Rc<RefCell<[Progress; 2]>> = Rc::default();
        let part = |i: usize| -> Rc<dyn Fn(Progress)> {
            let (parts, on_progress) = (parts.clone(), on_progress.clone());
            Rc::new(move |p: Progress| {
                let sum = {
                    let mut parts = parts.borrow_mut();
                    parts[i] = p;
                    Progress {
                        loaded: parts.iter().map(|p| p.loaded).sum(),
                        total: parts[0].total.zip(parts[1].total).map(|(a, b)| a + b),
                    }
                };
                on_progress(sum);
            })
        };
        let (face_progress, background_progress) = (part(0), part(1));
        let mut on_background = move |p| background_progress(p);
        let faces = async {
            match &link {
                Some(link) => link
                    .load(urls, options.detect_every, face_progress)
                    .await
                    .map(|_| None),
                None => load_faces(urls, &options, &mut |p| face_progress(p))
                    .await
                    .map(Some),
            }
        };
        let background = load_background(
            urls,
            crate::segmenter_model(segmenter),
            &options,
            &mut on_background,
        );
        let (faces, background) = futures::future::join(faces, background).await;
        let mut first_error = None;
        let mut models = Models::default();
        match faces {
            Ok(stage) => models.faces = stage,
            Err(e) => first_error = Some(e),
        }
        match background {
            Ok(stage) => models.background = Some(stage),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
        runner.borrow_mut().loaded(models);
        match first_error {
            Some(e) => Err(e),
            None => Ok(crate::bindings::now() - t0),
        }
    }

    fn loaded(&mut self, models: Models) {
        match &self.engine {
            Some(engine) => engine.borrow_mut().set_models(models),
            None => {
                if models.faces.is_some() {
                    self.models.faces = models.faces;
                }
                if models.background.is_some() {
                    self.models.background = models.background;
                }
            }
        }
    }

    /// Tracks faces here again.
    fn drop_link(&mut self) {
        if let Some(engine) = &self.engine {
            engine.borrow_mut().set_link(None);
        }
        self.link = None;
    }

    /// Tracks faces in `link`'s worker from now on (before the models
    /// load).
    pub(crate) fn set_link(&mut self, link: Rc<FaceLink>) {
        if let Some(engine) = &self.engine {
            engine.borrow_mut().set_link(Some(link.clone()));
        }
        self.link = Some(link);
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
        engine.set_link(self.link.clone());
        engine.set_models(std::mem::take(&mut self.models));
        let engine = Rc::new(RefCell::new(engine));
        if let Some(readable) = spec.readable {
            self.pump = Some(pump(readable, engine.clone(), sink)?);
        }
        self.engine = Some(engine.clone());
        Ok(engine)
    }

    /// Draws one frame from a source the caller feeds (bitmaps, a video
    /// element), and reports what there is to report.
    pub(crate) async fn draw(
        engine: &Rc<RefCell<Engine>>,
        image: &wasm_bindgen::JsValue,
        width: u32,
        height: u32,
        timestamp_us: Option<f64>,
        sink: &Sink,
    ) {
        let result = crate::engine::draw(engine, image, width, height, timestamp_us).await;
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
                self.loaded(engine.take_models());
            }
        }
    }
}
