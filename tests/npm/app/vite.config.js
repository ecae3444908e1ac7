// Builds the app against the npm package in pkg/ (made by `cargo xtask
// pack`), the way an app that installed it would import it. The effects
// worker and the vision module's builds are found by Vite from the
// package's `new Worker(new URL(...))` and `import(...)`.
import { fileURLToPath } from "node:url";

const pkg = fileURLToPath(new URL("../../../pkg/peerlens.js", import.meta.url));
const root = fileURLToPath(new URL(".", import.meta.url));

export default {
  root,
  resolve: { alias: { peerlens: pkg } },
  build: {
    target: "es2022",
    emptyOutDir: true,
  },
  logLevel: "warn",
};
