import { defaultClientConditions, defineConfig } from 'vite';

// `development` resolves the workspace packages to their TypeScript sources (as vitest and tsx
// do), so the page builds without `pnpm build` first; the `browser` condition picks gpu.js's
// browser build and the tensor package's browser `#gpujs`. `base: './'` lets dist/ open from any
// static host, at any path.
export default defineConfig({
  root: import.meta.dirname,
  base: './',
  resolve: { conditions: ['development', ...defaultClientConditions] },
  worker: { format: 'es' },
  build: {
    outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 2000,
    // ECharts (and zrender, its renderer, and tslib, its helpers) in a chunk of its own, echarts-*.js,
    // so that the build shows the page's own size apart from the charting library's (#17).
    rolldownOptions: { output: { codeSplitting: { groups: [{ name: 'echarts', test: /[\\/]node_modules[\\/](echarts|zrender|tslib)[\\/]/ }] } } },
  },
});
