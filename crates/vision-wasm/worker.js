// The effects worker's bootstrap, shipped as `peerlens_worker.js` in the
// directory that holds the vision module's builds. The page's first
// message says which build to load:
// - `{ build }`: the effects worker. This loads the build (or simd128,
//   when the relaxed-SIMD build does not compile) and hands over to Rust,
//   with the compiled module for a face worker.
// - `{ build, port }`: a face worker (two-worker mode). The effects
//   worker posts its compiled module on `port`; this instantiates it,
//   fetching and compiling nothing, and hands the port to Rust. Where a
//   compiled module cannot cross a MessagePort (Firefox delivers a
//   `messageerror` instead), this fetches and compiles `build` itself.
import { loadVision } from "./peerlens_vision_loader.js";

function reason(error) {
  return String((error && error.message) || error);
}

self.onmessage = async (event) => {
  self.onmessage = null;
  const { build, port } = event.data;
  if (port) {
    const boot = async (build, module) => {
      port.onmessage = null;
      port.onmessageerror = null;
      try {
        const { vision } = await loadVision(build, module);
        vision.__peerlens_face_worker(port);
      } catch (error) {
        port.postMessage({ m: { type: "bootError", message: reason(error) } });
      }
    };
    port.onmessage = (message) => boot(message.data.build, message.data.module);
    port.onmessageerror = () => boot(build);
    return;
  }
  try {
    const { vision, fallback, module } = await loadVision(build);
    vision.__peerlens_effects_worker(fallback, module);
  } catch (error) {
    self.postMessage({ m: { type: "bootError", message: reason(error) } });
  }
};
