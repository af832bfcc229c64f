import type { DType, TypedArray } from '../dtype.js';
import type { Shape } from '../shape.js';

/**
 * A backend holds tensor data and runs kernels on it. This interface is the data half: moving
 * values in and out. The compute half is the kernel registry (registry.ts): each backend registers
 * the kernels it implements by name, and the engine runs the CPU kernel for the rest.
 */
export type DataHandle = unknown;

/** What a kernel needs to know about an input. */
export interface KernelInput {
  readonly handle: DataHandle;
  readonly shape: Shape;
  readonly dtype: DType;
}

export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'abs' | 'sign' | 'tanh' | 'sigmoid' | 'relu' | 'gelu' | 'geluGrad';
export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum'
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
export type ReduceOp = 'sum' | 'max' | 'min';

export interface Backend {
  readonly name: string;
  /** The mode that really runs (gpu.js's mode for the gpu backend); undefined for the CPU. */
  readonly mode?: string;

  /**
   * Takes ownership of `values`. With `share` (fromArray) the CPU backend keeps the array itself,
   * so that the caller's writes show in the tensor; without, it may keep a copy where its kernels
   * want storage (the wasm heap).
   */
  upload(values: TypedArray, dtype: DType, share?: boolean): DataHandle;
  /** The values as a typed array of `dtype`. The caller must not modify the result. */
  read(handle: DataHandle, dtype: DType): TypedArray;
  /** The values, resolved when the device has them (`Tensor.data()`); defaults to `read`. */
  readAsync?(handle: DataHandle, dtype: DType): Promise<TypedArray>;
  /** In-place overwrite, used by `Tensor.assign` and optimizers. */
  write(handle: DataHandle, values: TypedArray): void;
  /** In-place overwrite from another same-shaped handle on this backend, without a readback (optional). */
  assign?(handle: DataHandle, from: KernelInput): void;
  free(handle: DataHandle): void;
  /** A new handle holding a copy of `handle`'s values (optional: without it, a copy is an op). */
  copy?(handle: DataHandle, dtype: DType): DataHandle;
}
