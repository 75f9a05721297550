// Builds the portal page (plain TypeScript, no framework, no CDN) into dist/page,
// which the service serves. `pnpm build` runs it after tsup; the browser test
// builds it into a temporary folder itself.
import { fileURLToPath } from "node:url"
import { defineConfig } from "vite"

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/",
  logLevel: "warn",
  build: {
    outDir: fileURLToPath(new URL("../dist/page", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    modulePreload: { polyfill: false }
  }
})
