// See webkit.html. Every branch records what it found in window.result.
import init, * as pl from './pkg/peerlens.js';

const params = new URLSearchParams(location.search);

// What a dedicated worker of its own has.
function inWorker() {
  const source = `postMessage({
    VideoTrackGenerator: typeof VideoTrackGenerator !== 'undefined',
    MediaStreamTrackProcessor: typeof MediaStreamTrackProcessor !== 'undefined',
    OffscreenCanvas2d: typeof OffscreenCanvas !== 'undefined' && !!new OffscreenCanvas(2, 2).getContext('2d'),
  })`;
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const worker = new Worker(url);
  return new Promise((resolve) => {
    worker.onmessage = (e) => { worker.terminate(); resolve(e.data); };
    worker.onerror = () => resolve(null);
  });
}

async function probe() {
  let trackTransfer = false;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true });
    const track = stream.getVideoTracks()[0];
    const { port1 } = new MessageChannel();
    port1.postMessage(track, [track]);
    trackTransfer = true;
  } catch (e) {
    trackTransfer = `${e.name}: ${e.message}`;
  }
  return {
    page: {
      RTCPeerConnection: typeof RTCPeerConnection !== 'undefined',
      MediaStreamTrackGenerator: typeof MediaStreamTrackGenerator !== 'undefined',
      MediaStreamTrackProcessor: typeof MediaStreamTrackProcessor !== 'undefined',
      VideoFrame: typeof VideoFrame !== 'undefined',
      captureStream: typeof HTMLCanvasElement.prototype.captureStream === 'function',
    },
    worker: await inWorker(),
    trackTransfer,
    visionBuild: pl.probeVisionBuild(),
  };
}

async function camera() {
  const cam = await pl.Camera.open({ width: 640, height: 480 });
  const settings = cam.stream.getVideoTracks()[0].getSettings();
  cam.stop();
  let missing = null;
  try {
    await pl.Camera.open({ deviceId: 'no-such-device' });
  } catch (e) {
    missing = { name: e.name, code: e.code, message: e.message };
  }
  return { width: settings.width, height: settings.height, missing };
}

async function cameraError() {
  try {
    await pl.Camera.open({ width: 640, height: 480 });
    return { opened: true };
  } catch (e) {
    return { opened: false, name: e.name, code: e.code, message: e.message };
  }
}

// The output's current picture: how many pixels are opaque, and the
// spread of its luma (a blank frame has none).
async function picture(stream) {
  const video = document.getElementById('out');
  video.srcObject = stream;
  await video.play().catch(() => {});
  const deadline = performance.now() + 10000;
  while (!video.videoWidth && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => video.requestVideoFrameCallback(r));
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const ctx = canvas.getContext('2d');
  let opaque = 0;
  let data = null;
  for (let i = 0; i < 30 && opaque === 0; i++) {
    ctx.drawImage(video, 0, 0);
    data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    opaque = 0;
    for (let p = 3; p < data.length; p += 4) if (data[p] === 255) opaque++;
    if (opaque === 0) await new Promise((r) => setTimeout(r, 100));
  }
  let sum = 0;
  let sq = 0;
  const n = data.length / 4;
  for (let p = 0; p < data.length; p += 4) {
    const l = 0.299 * data[p] + 0.587 * data[p + 1] + 0.114 * data[p + 2];
    sum += l;
    sq += l * l;
  }
  const mean = sum / n;
  return {
    width: canvas.width, height: canvas.height, opaque, pixels: n,
    lumaStd: Math.sqrt(Math.max(0, sq / n - mean * mean)),
  };
}

async function effects() {
  const cam = await pl.Camera.open({ width: 640, height: 480 });
  let stats = null;
  const errors = [];
  let out;
  let handle;
  try {
    handle = await pl.Effects.load({
      modelBase: './models',
      settings: { faceBoxes: true, blur: true },
      statsIntervalMs: 200,
      onStats: (s) => { stats = s; },
      onError: (e) => errors.push(`${e.name}: ${e.message}`),
    });
  } catch (e) {
    return { loaded: false, name: e.name, message: e.message, picture: await picture(cam.stream) };
  }
  out = await handle.apply(cam.stream);
  const deadline = performance.now() + 30000;
  while (!(stats && stats.processed >= 10) && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    loaded: true,
    path: handle.path,
    thread: handle.thread,
    workers: handle.workers,
    visionBuild: handle.visionBuild,
    stats: stats && { frames: stats.frames, processed: stats.processed, source: stats.source, output: stats.output, build: stats.build },
    errors,
    picture: await picture(out),
  };
}

async function call(signal, room) {
  const cam = await pl.Camera.open({ width: 320, height: 240 });
  return new Promise((resolve) => {
    let joined = false;
    const r = pl.Room.join({
      url: signal,
      room,
      name: 'webkit',
      onJoined: () => { joined = true; },
      onError: (e) => resolve({ joined, name: e.name, code: e.code, peer: e.peer, message: e.message }),
    });
    r.publish(cam.stream);
    setTimeout(() => resolve({ joined, name: null }), 20000);
  });
}

async function main() {
  await init();
  let outcome;
  if (params.has('probe')) outcome = await probe();
  else if (params.has('camera')) outcome = await camera();
  else if (params.has('camera-error')) outcome = await cameraError();
  else if (params.has('effects')) outcome = await effects();
  else outcome = await call(params.get('signal'), params.get('room'));
  window.result = { ok: true, ...outcome };
}

main().catch((error) => {
  window.result = { ok: false, error: `${error && error.name}: ${error && error.message}` };
});
