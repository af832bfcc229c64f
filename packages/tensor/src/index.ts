import { gpuBackend, type GpuOptions } from './backend/gpu/index.js';
import { registerBackend } from './engine.js';

/**
 * @switch-ts/tensor: N-d tensors with reverse-mode autodiff in pure TypeScript.
 * Ops and their gradients live in ops/; backends and their kernels (registered by name) in backend/.
 */
export { fromArray, Tensor, tensor, type NestedArray, type TensorLike } from './tensor.js';
export type { DType, TypedArray } from './dtype.js';
export * from './ops/index.js';
export { backward, record, type GradNode } from './autograd.js';
export {
  getBackend, isGradEnabled, keep, MAX_ELEMENTS, memory, noGrad, profile, registerBackend, setBackend, setDebug, tidy,
  type OpProfile, type Profile,
} from './engine.js';
export type { Backend, BinaryOp, DataHandle, KernelInput, ReduceOp, UnaryOp } from './backend/backend.js';
export {
  listKernels, registerKernels, type KernelAttrs, type KernelConfig, type KernelListing, type KernelName, type KernelOutput,
  type KernelTable,
} from './backend/registry.js';
export { GPU_MODES, GpuBackend, MAX_DEVICE_LENGTH, type GpuMode, type GpuOptions } from './backend/gpu/index.js';
export { arrayPool, setArrayPoolBytes } from './backend/cpu/pool.js';
export { getThreads, setThreads } from './backend/cpu/wasm/threads.js';
export { Rng } from './random.js';
export * from './nn/index.js';
export * from './optim/index.js';
export { decodeSafetensors, encodeSafetensors, type SafetensorsEntry, type SafetensorsOptions } from './io/safetensors.js';

registerBackend('gpu', (opts) => gpuBackend(opts as GpuOptions));
