import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Built to dist/, which the sandbox's console server serves (packages/client/src/sandbox/console-server.ts).
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 1024 },
});
