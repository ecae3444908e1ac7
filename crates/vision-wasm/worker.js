// The effects worker's bootstrap, shipped as `peerlens_worker.js` in the
// directory that holds the vision module's builds. The page sends the
// build its probe chose; this loads it (or simd128, when the relaxed-SIMD
// build does not compile) and hands over to Rust, which takes the
// messages from there.
import { loadVision } from "./peerlens_vision_loader.js";

self.onmessage = async (event) => {
  self.onmessage = null;
  try {
    const { vision, fallback } = await loadVision(event.data.build);
    vision.__peerlens_effects_worker(fallback);
  } catch (error) {
    const message = String((error && error.message) || error);
    self.postMessage({ m: { type: "bootError", message } });
  }
};
