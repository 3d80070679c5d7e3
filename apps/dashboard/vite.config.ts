import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The backend serves dist/ at /ui (same origin as the API, no extra server). `pnpm hot` runs Vite's
// dev server with hot reload against a backend on :8000 for working on the pages.
export default defineConfig({
  // Relative asset URLs: index.html is always served at /ui/ (hash routes), also behind a proxy prefix.
  base: './',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 800,
  },
  optimizeDeps: { include: ['@ktrdr/contracts/constants'] },
  server: {
    proxy: { '/api': 'http://127.0.0.1:8000' },
  },
});
