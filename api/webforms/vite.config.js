// Builds ODK Web Forms (npm @getodk/web-forms) and our small entry into dist/, which the
// server serves under /webforms/ (api/pages/webforms.py). No CDN: everything is in dist/.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/webforms/',
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    manifest: true,
    // Web Forms is a large library (about 4 MB before gzip); say so once, not as a warning.
    chunkSizeWarningLimit: 6000,
    rollupOptions: { input: 'src/main.js' },
  },
});
