// Loads one build of the vision module. Shipped as
// `peerlens_vision_loader.js` in the directory that holds the builds, and
// imported from there by the effects worker and, in main-thread mode, by
// the page. `build` is what the page's probe chose ("relaxed-simd" or
// "simd128").
//
// Returns { vision, build, fallback }: the initialized module, the build
// that runs, and why it is not the one asked for (null when it is).
//
// Both glues are imported statically: they are small, a worker bundled as
// a classic script can hold them, and bundlers see (and emit) both builds.
// Only the build that runs fetches its wasm.
import * as simd128 from "./peerlens_vision.js";
import * as relaxed from "./peerlens_vision_relaxed.js";

const BUILDS = { simd128, "relaxed-simd": relaxed };

async function initBuild(build) {
  const vision = BUILDS[build];
  // wasm-bindgen's init fetches `<stem>_bg.wasm` next to the glue; it
  // returns at once when the module is already initialized.
  await vision.default();
  return vision;
}

export async function loadVision(build) {
  if (!(build in BUILDS)) {
    throw new TypeError(`unknown vision build ${JSON.stringify(build)}`);
  }
  if (build === "relaxed-simd") {
    try {
      return { vision: await initBuild(build), build, fallback: null };
    } catch (error) {
      const reason = String((error && error.message) || error);
      const fallback = `the relaxed-SIMD build did not load (${reason}); running simd128`;
      return { vision: await initBuild("simd128"), build: "simd128", fallback };
    }
  }
  return { vision: await initBuild("simd128"), build: "simd128", fallback: null };
}
