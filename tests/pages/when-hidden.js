// See when-hidden.html.
import init, * as pl from './pkg/peerlens.js';

const params = new URLSearchParams(location.search);

// A track of the camera's device, or another (the captured canvas).
let cameraDevice = null;
const kindOf = (track) => (track.getSettings().deviceId === cameraDevice ? 'camera' : 'canvas');

window.swaps = [];

async function main() {
  await init();
  const camera = await pl.Camera.open({ width: 320, height: 240 });
  cameraDevice = camera.stream.getVideoTracks()[0].getSettings().deviceId;
  if (!cameraDevice) throw new Error('the camera track names no device');
  let out = null;
  const fx = await pl.Effects.load({
    modelBase: './models',
    workerOutput: 'transferred',
    whenHidden: params.get('whenHidden') || undefined,
    settings: { background: { kind: 'blur', radius: 8 } },
    onOutputTrack: (track) => window.swaps.push({
      visibility: document.visibilityState,
      track: kindOf(track),
      inStream: !!out && out.getVideoTracks().length === 1 && out.getVideoTracks()[0] === track,
    }),
  });
  out = await fx.apply(camera.stream);
  document.getElementById('out').srcObject = out;
  const first = out.getVideoTracks()[0].id;
  window.current = () => {
    const tracks = out.getVideoTracks();
    return { tracks: tracks.length, track: kindOf(tracks[0]), first: tracks[0].id === first };
  };
  // What the output carries after each visibility change (the library's
  // listener, added by apply, runs first) and a second later.
  window.seen = [];
  const look = () => window.seen.push({ visibility: document.visibilityState, ...window.current() });
  document.addEventListener('visibilitychange', () => {
    look();
    setTimeout(look, 1000);
  });
  return { output: fx.path && fx.path.output, track: kindOf(out.getVideoTracks()[0]) };
}

main().then(
  (result) => { window.result = { ok: true, ...result }; },
  (error) => { window.result = { ok: false, error: String((error && error.stack) || error) }; },
);
