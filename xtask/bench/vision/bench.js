// Times each vision model in tract (the peerlens wasm) and in
// onnxruntime-web (wasm backend, one thread, SIMD), interleaved in one page
// on the same input. The result lands in `window.benchResult` for the
// driver (`cargo xtask bench vision`) to read.
import init, { RawModel } from './pkg/peerlens.js';
import * as ort from './ort/ort.wasm.min.mjs';

const MODELS = [
  { name: 'face_detection_short_range', label: 'face detection 128x128', input: [1, 128, 128, 3], outputs: [[1, 896, 16], [1, 896, 1]] },
  { name: 'face_landmark', label: 'face landmarks 192x192', input: [1, 192, 192, 3], outputs: [[1, 1, 1, 1404], [1, 1, 1, 1]] },
  { name: 'selfie_segmentation', label: 'selfie segmentation 256x256', input: [1, 256, 256, 3], outputs: [[1, 256, 256, 1]] },
  { name: 'selfie_segmentation_landscape', label: 'selfie segmentation 144x256', input: [1, 144, 256, 3], outputs: [[1, 144, 256, 1]] },
];
const params = new URLSearchParams(location.search);
const RUNS = Number(params.get('runs')) || 60;
const WARMUP = 10;
const log = (line) => { document.getElementById('log').textContent += '\n' + line; };

async function bytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function timed(fn) {
  const start = performance.now();
  const value = await fn();
  return [performance.now() - start, value];
}

async function main() {
  await init();
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = new URL('./ort/', location.href).href;
  const options = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
  const results = [];
  for (const model of MODELS) {
    const input = new Float32Array((await bytes(`./inputs/${model.name}.f32`)).buffer);
    const shipped = await bytes(`./models/${model.name}.onnx`);
    const plain = await bytes(`./models/plain/${model.name}.onnx`);
    const [tractLoad, tract] = await timed(async () => new RawModel(shipped, model.input, model.outputs));
    const [ortPlainLoad, ortPlain] = await timed(() => ort.InferenceSession.create(plain, options));
    const [ortShippedLoad, ortShipped] = await timed(() => ort.InferenceSession.create(shipped, options));
    const feed = (session) => ({ [session.inputNames[0]]: new ort.Tensor('float32', input, model.input) });
    const engines = {
      tract: async () => tract.run(input),
      ort_plain: () => ortPlain.run(feed(ortPlain)),
      ort_shipped: () => ortShipped.run(feed(ortShipped)),
    };
    const names = Object.keys(engines);
    const times = Object.fromEntries(names.map((n) => [n, []]));
    for (let i = 0; i < WARMUP; i++) for (const n of names) await engines[n]();
    for (let i = 0; i < RUNS; i++) {
      // Rotate the order so that no engine always runs first.
      for (let j = 0; j < names.length; j++) {
        const n = names[(i + j) % names.length];
        const [ms] = await timed(engines[n]);
        times[n].push(ms);
      }
    }
    const result = {
      model: model.name,
      label: model.label,
      runs: RUNS,
      tract_ms: median(times.tract),
      ort_plain_ms: median(times.ort_plain),
      ort_shipped_ms: median(times.ort_shipped),
      tract_load_ms: tractLoad,
      ort_plain_load_ms: ortPlainLoad,
      ort_shipped_load_ms: ortShippedLoad,
    };
    log(JSON.stringify(result));
    results.push(result);
    tract.free();
    await ortPlain.release();
    await ortShipped.release();
  }
  window.benchResult = { ok: true, results, userAgent: navigator.userAgent, ort: ort.env.versions };
}

main().catch((e) => {
  window.benchResult = { ok: false, error: String((e && e.stack) || e) };
});
