// The effects worker's bootstrap. The page sends the URL of its peerlens
// module and the WebAssembly.Module it already compiled; this imports the
// one, instantiates the other (no second download or compile) and hands
// over to Rust, which takes the message port from there.
self.onmessage = async (event) => {
  self.onmessage = null;
  const { glue, module } = event.data;
  try {
    const peerlens = await import(glue);
    await peerlens.default({ module_or_path: module });
    peerlens.__peerlens_effects_worker();
  } catch (error) {
    const message = String((error && error.message) || error);
    self.postMessage({ m: { type: "bootError", message } });
  }
};
