// See vision-loading.html. Records what the page did in `window.result`,
// for the test to compare with the requests the server saw.
import init, * as pl from './pkg/peerlens.js';

const params = new URLSearchParams(location.search);

async function callsOnly(signal) {
  const camera = await pl.Camera.open({ width: 320, height: 240 });
  await new Promise((resolve, reject) => {
    const room = pl.Room.join({
      url: signal,
      room: 'vision-loading',
      name: 'calls-only',
      onJoined: () => resolve(room),
      onError: (error) => reject(error),
    });
    room.publish(camera.stream);
  });
  return { joined: true };
}

async function effects() {
  if (params.get('build')) pl.configureVision({ build: params.get('build') });
  const camera = await pl.Camera.open({ width: 320, height: 240 });
  let stats = null;
  const fx = await pl.Effects.load({
    modelBase: './models',
    mode: params.get('mode') || 'worker',
    settings: { faceBoxes: true },
    statsIntervalMs: 200,
    onStats: (s) => { stats = s; },
  });
  const out = await fx.apply(camera.stream);
  document.getElementById('out').srcObject = out;
  const deadline = performance.now() + 20000;
  while (!(stats && stats.frames > 0) && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    thread: fx.thread,
    visionBuild: fx.visionBuild,
    visionFallback: fx.visionFallback,
    statsBuild: stats && stats.build,
    statsThread: stats && stats.thread,
    frames: stats ? stats.frames : 0,
  };
}

async function main() {
  await init();
  const probe = pl.probeVisionBuild();
  const signal = params.get('signal');
  const outcome = signal ? await callsOnly(signal) : await effects();
  window.result = { ok: true, probe, ...outcome };
}

main().catch((error) => {
  window.result = { ok: false, error: `${error && error.name}: ${error && error.message}` };
});
