// Times each vision model in tract (the peerlens vision module) in both
// builds (simd128 and relaxed SIMD, two instances in this page) with our
// kernels, in simd128 with tract's own kernels, and in onnxruntime-web
// (wasm backend, one thread, SIMD), interleaved in one page on the same
// input; then the GEMM kernels alone on each model's product shapes, and a
// per-op profile. The result lands in `window.benchResult` for the driver
// (`cargo xtask bench vision`) to read.
import * as simd from './pkg/peerlens_vision.js';
import * as relaxed from './pkg/peerlens_vision_relaxed.js';
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
// Milliseconds per GEMM shape and kernel, in two interleaved rounds.
const GEMM_MS = Number(params.get('gemm_ms')) || 120;
const PROFILE_RUNS = 10;
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

const { RawModel, setVisionKernels, benchVisionGemm } = simd;

async function main() {
  await simd.default();
  await relaxed.default();
  const builds = { simd: simd.visionBuild(), relaxed: relaxed.visionBuild() };
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = new URL('./ort/', location.href).href;
  const options = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
  const results = [];
  for (const model of MODELS) {
    const input = new Float32Array((await bytes(`./inputs/${model.name}.f32`)).buffer);
    const shipped = await bytes(`./models/${model.name}.onnx`);
    const plain = await bytes(`./models/plain/${model.name}.onnx`);
    setVisionKernels('peerlens');
    const [tractLoad, tract] = await timed(async () => new RawModel(shipped, model.input, model.outputs));
    // tract's own kernels: its GEMM is picked at load, its depthwise
    // routines on every run, so the set stays chosen while this one runs.
    setVisionKernels('tract');
    const tractOwn = new RawModel(shipped, model.input, model.outputs);
    setVisionKernels('peerlens');
    const [relaxedLoad, tractRelaxed] = await timed(async () => new relaxed.RawModel(shipped, model.input, model.outputs));
    const withTractKernels = (fn) => {
      setVisionKernels('tract');
      try { return fn(); } finally { setVisionKernels('peerlens'); }
    };
    const [ortPlainLoad, ortPlain] = await timed(() => ort.InferenceSession.create(plain, options));
    const [ortShippedLoad, ortShipped] = await timed(() => ort.InferenceSession.create(shipped, options));
    const feed = (session) => ({ [session.inputNames[0]]: new ort.Tensor('float32', input, model.input) });
    const engines = {
      tract: async () => tract.run(input),
      tract_relaxed: async () => tractRelaxed.run(input),
      tract_own: async () => withTractKernels(() => tractOwn.run(input)),
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
    // The GEMM kernels alone, on the model's matrix products (n = 1 is a
    // matrix-vector product, which tract runs with other kernels).
    const products = tract.matmuls();
    const shapes = new Map();
    for (const p of products.filter((p) => p.n > 1)) {
      const key = `${p.m}x${p.k}x${p.n}`;
      const entry = shapes.get(key) || { m: p.m, k: p.k, n: p.n, count: 0, kernel: p.kernel };
      entry.count += 1;
      shapes.set(key, entry);
    }
    const gemm = [];
    for (const shape of shapes.values()) {
      let ours = 0;
      let oursRelaxed = 0;
      let theirs = 0;
      for (let round = 0; round < 2; round++) {
        ours = Math.max(ours, benchVisionGemm('peerlens', shape.m, shape.k, shape.n, GEMM_MS / 2));
        oursRelaxed = Math.max(oursRelaxed, relaxed.benchVisionGemm('peerlens', shape.m, shape.k, shape.n, GEMM_MS / 2));
        theirs = Math.max(theirs, benchVisionGemm('tract', shape.m, shape.k, shape.n, GEMM_MS / 2));
      }
      gemm.push({ ...shape, ours_gflops: ours, ours_relaxed_gflops: oursRelaxed, tract_gflops: theirs });
    }
    const profile = async (m, own) => {
      const sums = new Map();
      for (let i = 0; i < PROFILE_RUNS; i++) {
        const ops = own ? withTractKernels(() => m.profile(input)) : m.profile(input);
        for (const op of ops) {
          const entry = sums.get(op.op) || { op: op.op, nodes: op.nodes, ms: 0 };
          entry.ms += op.ms / PROFILE_RUNS;
          sums.set(op.op, entry);
        }
      }
      return [...sums.values()].sort((a, b) => b.ms - a.ms);
    };
    const result = {
      model: model.name,
      label: model.label,
      runs: RUNS,
      tract_ms: median(times.tract),
      tract_own_ms: median(times.tract_own),
      tract_relaxed_ms: median(times.tract_relaxed),
      tract_relaxed_load_ms: relaxedLoad,
      gemm,
      profile: await profile(tract, false),
      profile_own: await profile(tractOwn, true),
      ort_plain_ms: median(times.ort_plain),
      ort_shipped_ms: median(times.ort_shipped),
      tract_load_ms: tractLoad,
      ort_plain_load_ms: ortPlainLoad,
      ort_shipped_load_ms: ortShippedLoad,
    };
    log(JSON.stringify(result));
    results.push(result);
    tract.free();
    tractOwn.free();
    tractRelaxed.free();
    await ortPlain.release();
    await ortShipped.release();
  }
  window.benchResult = { ok: true, results, builds, userAgent: navigator.userAgent, ort: ort.env.versions };
}

main().catch((e) => {
  window.benchResult = { ok: false, error: String((e && e.stack) || e) };
});
