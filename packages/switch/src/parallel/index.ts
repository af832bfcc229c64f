/**
 * @switch-ts/switch/parallel: `ExpertParallelLayer`, the Switch layer with its experts on worker
 * threads. Node only (worker_threads, shared memory), so it lives apart from the main entry, which
 * bundles for browsers.
 */
export { ExpertParallelLayer, type ExpertParallelOptions } from './expert-parallel-layer.js';
export type { DeviceStats, ParallelStats } from './device-runner.js';
