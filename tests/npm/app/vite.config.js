// Builds the app against the npm package in pkg/ (made by `cargo xtask
// pack`), the way an app that installed it would import it.
import { fileURLToPath } from "node:url";

const pkg = fileURLToPath(new URL("../../../pkg/peerlens.js", import.meta.url));
const root = fileURLToPath(new URL(".", import.meta.url));

export default {
  root,
  resolve: { alias: { peerlens: pkg } },
  build: {
    target: "es2022",
    emptyOutDir: true,
    rollupOptions: {
      // The effects worker imports the library's glue by its URL and calls
      // its exports by name. Making the glue an entry of its own, with its
      // export names kept, gives the worker a chunk holding just the glue.
      input: { index: `${root}/index.html`, peerlens: pkg },
      preserveEntrySignatures: "strict",
    },
  },
  logLevel: "warn",
};
