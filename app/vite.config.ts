import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [react()],
  // web3.js and Anchor expect Node's `global`
  define: { global: "globalThis" },
  server: { host: "127.0.0.1", port: 5173, fs: { allow: [".."] } },
  preview: { host: "127.0.0.1", port: 4173 },
  build: { chunkSizeWarningLimit: 2000, sourcemap: true },
  test: { include: ["test/**/*.test.ts"] },
});
