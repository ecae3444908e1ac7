// See when-hidden.html.
import init, * as pl from './pkg/peerlens.js';

const params = new URLSearchParams(location.search);

// A camera track has a device; a captured canvas's has none.
const kindOf = (track) => (track.getSettings().deviceId ? 'camera' : 'canvas');

window.swaps = [];

async function main() {
  await init();
  const camera = await pl.Camera.open({ width: 320, height: 240 });
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
