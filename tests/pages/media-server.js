// Drives the library's media-server clients for the end-to-end tests.
// Every result is recorded in `t.log` (events) and `t.videos` (video
// elements by name), which the Rust tests read through WebDriver.
import init, * as pl from './pkg/peerlens.js';

const t = {
  ready: false,
  log: [],
  errors: [],
  videos: {},
  sessions: {},
  pl,
};
window.t = t;

function record(kind, detail) {
  t.log.push({ kind, detail, at: performance.now() });
}

function onError(where) {
  return (error) => {
    t.errors.push({ where, name: error.name, code: error.code, message: error.message });
    record('error', where + ': ' + error.name);
  };
}

/** A playing, muted <video> named `name` showing `stream`. */
function show(name, stream) {
  let video = t.videos[name];
  if (!video) {
    video = document.createElement('video');
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    video.dataset.name = name;
    document.getElementById('videos').appendChild(video);
    t.videos[name] = video;
  }
  video.srcObject = stream;
  video.play().catch(() => {});
  return video;
}

function trackCallbacks(prefix) {
  return {
    onTrack: (track, streams, feed) => {
      record('track', { prefix, kind: track.kind, feed });
      if (track.kind === 'video') {
        const name = feed === undefined ? prefix : prefix + ':' + feed;
        show(name, streams[0] || new MediaStream([track]));
      }
    },
    onState: (state, feed) => record('state', { prefix, state, feed }),
    onError: onError(prefix),
  };
}

t.camera = async function () {
  if (!t.cameraStream) {
    const camera = await pl.Camera.open({ width: 640, height: 480, audio: true });
    t.cameraStream = camera.stream;
    t.sessions.camera = camera;
    show('camera', camera.stream);
  }
  return t.cameraStream;
};

/** Face boxes on the camera, in a worker: the stream peers would get. */
t.effects = async function () {
  const stream = await t.camera();
  if (!t.effectsStream) {
    const effects = await pl.Effects.load({
      modelBase: 'models',
      settings: { faceBoxes: true },
      onError: onError('effects'),
    });
    t.sessions.effects = effects;
    t.effectsStream = await effects.apply(stream);
    show('processed', t.effectsStream);
  }
  return t.effectsStream;
};

t.janus = async function (url, options) {
  const janus = await pl.Janus.connect(url, { ...options, onError: onError('janus') });
  t.sessions.janus = janus;
  return janus;
};

t.echo = async function (url, withEffects) {
  const janus = await t.janus(url);
  const stream = withEffects ? await t.effects() : await t.camera();
  t.publishedAt = performance.now();
  t.sessions.echo = await pl.JanusEchoTest.start(janus, stream, trackCallbacks('echo'));
};

t.room = async function (url, room, display) {
  const janus = await t.janus(url);
  const stream = await t.camera();
  const callbacks = trackCallbacks('feed');
  t.sessions.room = await pl.JanusVideoRoom.join(janus, stream, {
    room, display, ...callbacks,
    onFeedJoined: (feed, name) => record('feed-joined', { feed, name }),
    onFeedLeft: (feed) => {
      record('feed-left', { feed });
      const video = t.videos['feed:' + feed];
      if (video) { video.remove(); delete t.videos['feed:' + feed]; }
    },
  });
  return t.sessions.room.id;
};

t.watch = async function (url, id) {
  const janus = await t.janus(url);
  t.sessions.streaming = await pl.JanusStreaming.watch(janus, id, {
    ...trackCallbacks('stream'),
    onStatus: (status) => record('status', status),
  });
};

t.whip = async function (url, options) {
  const stream = await t.camera();
  t.sessions.whip = await pl.Whip.publish(url, stream, {
    ...options, ...trackCallbacks('whip'),
    onIceRestarted: () => record('ice-restarted', null),
  });
  return {
    resourceUrl: t.sessions.whip.resourceUrl,
    linkIceServers: t.sessions.whip.linkIceServers,
  };
};

t.whep = async function (url, options) {
  t.sessions.whep = await pl.Whep.play(url, { ...options, ...trackCallbacks('whep') });
  return t.sessions.whep.resourceUrl;
};

/** The benchmark's measurement: from connecting to Janus to the first
 * echoed frame shown, publishing the processed stream (effects already
 * running) or the camera. Cleans up after itself; returns milliseconds. */
t.echoTimed = async function (url, withEffects, runName) {
  const stream = withEffects ? await t.effects() : await t.camera();
  const start = performance.now();
  const janus = await pl.Janus.connect(url);
  let shown;
  const firstFrame = new Promise((resolve) => { shown = resolve; });
  const echo = await pl.JanusEchoTest.start(janus, stream, {
    onTrack: (track, streams) => {
      if (track.kind !== 'video') return;
      const video = show(runName, streams[0] || new MediaStream([track]));
      video.requestVideoFrameCallback(() => shown(performance.now()));
    },
    onError: onError('echo'),
  });
  const ms = (await firstFrame) - start;
  echo.stop();
  echo.free();
  janus.close();
  janus.free();
  t.videos[runName].remove();
  delete t.videos[runName];
  return ms;
};

/** Runs `fn` and returns {ok, value} or {error: {name, code, status, message}}. */
t.run = async function (fn) {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    return { ok: false, error: { name: e.name, code: e.code, status: e.status, message: String(e.message) } };
  }
};

/** What a video shows: size, frames decoded, and the RGBA pixels of the
 * current frame, sampled every `step` pixels, as an array. */
t.frame = function (name, step) {
  const video = t.videos[name];
  if (!video || !video.videoWidth) return null;
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(video, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const pixels = [];
  for (let y = 0; y < canvas.height; y += step) {
    for (let x = 0; x < canvas.width; x += step) {
      const i = (y * canvas.width + x) * 4;
      pixels.push(data[i], data[i + 1], data[i + 2]);
    }
  }
  return {
    width: canvas.width,
    height: canvas.height,
    frames: video.getVideoPlaybackQuality().totalVideoFrames,
    pixels,
  };
};

/** Counts the pixels of a video's frame within `tolerance` of `rgb`. */
t.countColour = function (name, rgb, tolerance) {
  const frame = t.frame(name, 1);
  if (!frame) return -1;
  let n = 0;
  for (let i = 0; i < frame.pixels.length; i += 3) {
    if (Math.abs(frame.pixels[i] - rgb[0]) <= tolerance
      && Math.abs(frame.pixels[i + 1] - rgb[1]) <= tolerance
      && Math.abs(frame.pixels[i + 2] - rgb[2]) <= tolerance) n++;
  }
  return n;
};

/** Resolves with the time of the first frame `name` shows. */
t.firstFrame = function (name) {
  return new Promise((resolve) => {
    const poll = () => {
      const video = t.videos[name];
      if (video && video.requestVideoFrameCallback) {
        if (video.videoWidth > 0 && video.getVideoPlaybackQuality().totalVideoFrames > 0) {
          resolve(performance.now());
        } else {
          video.requestVideoFrameCallback(() => resolve(performance.now()));
        }
      } else {
        setTimeout(poll, 5);
      }
    };
    poll();
  });
};

init().then(() => { t.ready = true; }, (e) => { t.initError = String(e); });
