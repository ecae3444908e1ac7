// The effects worker's bootstrap, shipped as `peerlens_worker.js` in the
// directory that holds the vision module's builds. The page's first
// message says which build to load:
// - `{ build }`: the effects worker. This loads the build (or simd128,
//   when the relaxed-SIMD build does not compile) and hands over to Rust,
//   with the compiled module for a face worker.
// - `{ build, port }`: a face worker (two-worker mode). The effects
//   worker posts its compiled module on `port`; this instantiates it,
//   fetching and compiling nothing, and hands the port to Rust.
import { loadVision } from "./peerlens_vision_loader.js";

function reason(error) {
  return String((error && error.message) || error);
}

self.onmessage = async (event) => {
  self.onmessage = null;
  const { build, port } = event.data;
  if (port) {
    port.onmessage = async (message) => {
      port.onmessage = null;
      try {
        const { vision } = await loadVision(message.data.build, message.data.module);
        vision.__peerlens_face_worker(port);
      } catch (error) {
        port.postMessage({ m: { type: "bootError", message: reason(error) } });
      }
    };
    return;
  }
  try {
    const { vision, fallback, module } = await loadVision(build);
    vision.__peerlens_effects_worker(fallback, module);
  } catch (error) {
    self.postMessage({ m: { type: "bootError", message: reason(error) } });
  }
};
