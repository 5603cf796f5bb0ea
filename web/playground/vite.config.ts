// The playground's build (npm run build): web/playground → dist/web/playground/, one script and
// one style sheet with fixed names (lib/gateway/playground.ts serves exactly these), addressed
// relatively (the gateway rewrites them under its prefix). Nothing inline: the page's CSP allows
// only its own files.
import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here("."),
  base: "./",
  logLevel: "warn",
  publicDir: false,
  build: {
    outDir: here("../../dist/web/playground"),
    emptyOutDir: true,
    target: "es2022",
    modulePreload: false,
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    sourcemap: false,
    rollupOptions: {
      output: {
        entryFileNames: "playground.js",
        chunkFileNames: "playground-[name].js",
        assetFileNames: "playground[extname]",
      },
    },
  },
});
