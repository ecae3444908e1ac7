// Where the page finds the vision module and the effects worker. They are
// files of the npm package next to the main module's glue; this file is
// copied by wasm-bindgen to `snippets/peerlens-<hash>/src/effects/`, four
// levels below them. The literal `new URL(...)` and `import(...)` paths
// let bundlers see the worker and the loader; an app that serves the
// files from elsewhere passes `base`, a directory URL.

// `(func (result v128) v128.const 0 ...)`: one simd128 instruction.
const SIMD128 = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0,
  10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
]);

// The same function returning `f32x4.relaxed_madd` of three constants.
const RELAXED = (() => {
  const constant = [253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  const body = [0, ...constant, ...constant, ...constant, 253, 133, 2, 11];
  return new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0,
    10, body.length + 2, 1, body.length, ...body,
  ]);
})();

// The best build this browser can compile: "relaxed-simd", "simd128", or
// "none". Validates two tiny modules; downloads nothing.
export function probeBuild() {
  if (typeof WebAssembly !== "object" || typeof WebAssembly.validate !== "function") {
    return "none";
  }
  if (!WebAssembly.validate(SIMD128)) {
    return "none";
  }
  return WebAssembly.validate(RELAXED) ? "relaxed-simd" : "simd128";
}

export function startWorker(base) {
  if (base) {
    return new Worker(new URL("peerlens_worker.js", base), { type: "module", name: "peerlens-effects" });
  }
  return new Worker(new URL("../../../../peerlens_worker.js", import.meta.url), { type: "module", name: "peerlens-effects" });
}

// Loads `build` on the page: { vision, build, fallback } (see
// peerlens_vision_loader.js).
export async function loadVision(build, base) {
  const loader = base
    ? await import(/* @vite-ignore */ /* webpackIgnore: true */ new URL("peerlens_vision_loader.js", base).href)
    : await import("../../../../peerlens_vision_loader.js");
  return loader.loadVision(build);
}
