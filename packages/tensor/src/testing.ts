/**
 * @switch-ts/tensor/testing: what tests and benchmarks need to see inside the package (the live
 * backend object with its counters, why a gpu.js mode cannot run here), kept apart from the main
 * entry so that user code does not come to depend on it. Not covered by semver.
 */
export { backend as activeBackend } from './engine.js';
export { modeProblem } from './backend/gpu/modes.js';
export { setMatmulPath, wasmSimd } from './backend/cpu/matmul.js';
export { matmulThreads } from './backend/cpu/index.js';
export { poisonArrayPool } from './backend/cpu/pool.js';
export { setElementwisePath } from './backend/cpu/wasm/elementwise.js';
export { tensorHeap } from './backend/cpu/wasm/heap.js';
export { useWasmOptimizer } from './backend/cpu/wasm/optimizer.js';
export { THREAD_MIN_WORK } from './backend/cpu/wasm/matmul.js';
