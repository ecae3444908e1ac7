// Loads one build of the vision module. Shipped as
// `peerlens_vision_loader.js` in the directory that holds the builds, and
// imported from there by the effects worker and, in main-thread mode, by
// the page. `build` is what the page's probe chose ("relaxed-simd" or
// "simd128").
//
// Returns { vision, build, fallback, module }: the initialized module, the
// build that runs, why it is not the one asked for (null when it is), and
// the compiled `WebAssembly.Module`, which a second worker instantiates
// without fetching or compiling it again. `module`, when given, is that
// compiled module, for `build`.
//
// Both glues are imported statically: they are small, a worker bundled as
// a classic script can hold them, and bundlers see (and emit) both builds.
// Only the build that runs fetches its wasm.
import * as simd128 from "./peerlens_vision.js";
import * as relaxed from "./peerlens_vision_relaxed.js";

const BUILDS = { simd128, "relaxed-simd": relaxed };

// Literal `new URL(..., import.meta.url)`s, so bundlers emit both files.
const WASM = {
  simd128: new URL("./peerlens_vision_bg.wasm", import.meta.url),
  "relaxed-simd": new URL("./peerlens_vision_relaxed_bg.wasm", import.meta.url),
};

// Compiled builds, by name: each is fetched and compiled once.
const compiled = {};

async function compile(build) {
  const response = await fetch(WASM[build]);
  if (!response.ok) {
    throw new Error(`fetching ${WASM[build]}: HTTP ${response.status}`);
  }
  const type = response.headers.get("content-type") || "";
  if (typeof WebAssembly.compileStreaming === "function" && type.startsWith("application/wasm")) {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}

async function initBuild(build, module) {
  const vision = BUILDS[build];
  if (module) {
    compiled[build] = Promise.resolve(module);
  } else if (!compiled[build]) {
    compiled[build] = compile(build);
    compiled[build].catch(() => delete compiled[build]);
  }
  const ready = await compiled[build];
  // Returns at once when the module is already initialized.
  await vision.default({ module_or_path: ready });
  return { vision, module: ready };
}

export async function loadVision(build, module) {
  if (!(build in BUILDS)) {
    throw new TypeError(`unknown vision build ${JSON.stringify(build)}`);
  }
  if (module) {
    return { ...(await initBuild(build, module)), build, fallback: null };
  }
  if (build === "relaxed-simd") {
    try {
      return { ...(await initBuild(build)), build, fallback: null };
    } catch (error) {
      const reason = String((error && error.message) || error);
      const fallback = `the relaxed-SIMD build did not load (${reason}); running simd128`;
      return { ...(await initBuild("simd128")), build: "simd128", fallback };
    }
  }
  return { ...(await initBuild("simd128")), build: "simd128", fallback: null };
}
