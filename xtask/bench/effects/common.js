// Shared by the effects benchmark pages: the camera, an independent count
// of the frames a track delivers, and the hand-over to the driver
// (`cargo xtask bench effects`) through `window.benchResult`.

export const params = new URLSearchParams(location.search);
export const WARMUP_MS = Number(params.get('warmup')) || 4000;
export const MEASURE_MS = Number(params.get('measure')) || 10000;
// The camera's size: the fake camera's file sets it; these ask for it.
export const WIDTH = Number(params.get('width')) || 640;
export const HEIGHT = Number(params.get('height')) || 480;

export const log = (line) => { document.getElementById('log').textContent += '\n' + line; };

export function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

export async function camera() {
  return navigator.mediaDevices.getUserMedia({
    video: { width: WIDTH, height: HEIGHT, frameRate: 30 },
    audio: false,
  });
}

// Counts the frames `track` delivers by reading them with a
// MediaStreamTrackProcessor (closing each at once), so every page is
// measured the same way, whatever it does inside.
export function frameCounter(track) {
  const counter = { frames: 0, stopped: false };
  const reader = new MediaStreamTrackProcessor({ track }).readable.getReader();
  (async () => {
    while (!counter.stopped) {
      const { value, done } = await reader.read();
      if (done) break;
      value.close();
      counter.frames += 1;
    }
  })();
  counter.stop = () => { counter.stopped = true; reader.cancel(); };
  return counter;
}

// Warms up, then counts output frames over the measuring window and
// collects what `sample()` says at the start and the end.
export async function measure(track, sample = () => ({})) {
  const counter = frameCounter(track);
  await sleep(WARMUP_MS);
  const f0 = counter.frames;
  const s0 = sample();
  const t0 = performance.now();
  await sleep(MEASURE_MS);
  const seconds = (performance.now() - t0) / 1000;
  const frames = counter.frames - f0;
  const s1 = sample();
  counter.stop();
  return { fpsOut: frames / seconds, frames, seconds, start: s0, end: s1 };
}

export function finish(result) {
  window.benchResult = { ok: true, userAgent: navigator.userAgent, ...result };
  log(JSON.stringify(window.benchResult, null, 1));
}

export function fail(error) {
  window.benchResult = { ok: false, error: String((error && error.stack) || error) };
  log(window.benchResult.error);
}

// The same background blur recipe for both anchors (MediaPipe's own
// sample does this): the mask, the person cut out of the frame through
// it, then the frame blurred by the canvas filter behind.
export function drawBlurred(ctx, mask, image, radius) {
  ctx.save();
  ctx.clearRect(0, 0, WIDTH, HEIGHT);
  ctx.drawImage(mask, 0, 0, WIDTH, HEIGHT);
  ctx.globalCompositeOperation = 'source-in';
  ctx.drawImage(image, 0, 0, WIDTH, HEIGHT);
  ctx.globalCompositeOperation = 'destination-over';
  ctx.filter = `blur(${radius}px)`;
  ctx.drawImage(image, 0, 0, WIDTH, HEIGHT);
  ctx.restore();
}

// Runs `process(video)` on each new camera frame, never queueing: a frame
// that arrives while one is processed replaces the waiting one. Returns
// the main-thread time per processed frame so far.
export function loopOnFrames(video, process) {
  const state = { busy: false, pending: false, processed: 0, mainMs: 0 };
  const run = async () => {
    state.busy = true;
    do {
      state.pending = false;
      const t0 = performance.now();
      await process(video);
      state.mainMs += performance.now() - t0;
      state.processed += 1;
    } while (state.pending);
    state.busy = false;
  };
  const onFrame = () => {
    if (state.busy) state.pending = true; else run();
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  return state;
}

export async function playing(stream) {
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  document.body.append(video);
  await video.play();
  return video;
}
