import { defineConfig } from 'vite';

/**
 * Builds the dashboard into `dist/dashboard/` (`index.html` and hashed `assets/`), which the manager serves
 * from the package: nothing is fetched from another host at run time. Vite 8 compiles TSX with Oxc (its
 * `esbuild` option is only translated to this one): Preact's automatic JSX runtime, no preset needed.
 * Paths are relative to the working directory, `npm run build:dashboard` runs it from the repo root.
 */
export default defineConfig({
  root: 'src/web',
  base: '/',
  publicDir: false,
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: '../../dist/dashboard',
    emptyOutDir: true,
    assetsDir: 'assets',
    // Small enough to read in a review, and keeps the script a file (the page's CSP allows no inline script).
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});
