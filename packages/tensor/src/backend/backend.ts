import type { DType, TypedArray } from '../dtype.js';
import type { Shape } from '../shape.js';

/**
 * The kernel interface. Ops (shape rules, autodiff) live in `ops/` and know nothing about loops or
 * shaders; a backend only moves data and runs these kernels. Every kernel returns a new handle;
 * inputs are never modified (except `write`). Shapes given to a kernel are already validated.
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

  /** Takes ownership of `values` (the CPU backend keeps the array itself). */
  upload(values: TypedArray, dtype: DType): DataHandle;
  /** The values as a typed array of `dtype`. The caller must not modify the result. */
  read(handle: DataHandle, dtype: DType): TypedArray;
  /** The values, resolved when the device has them (`Tensor.data()`); defaults to `read`. */
  readAsync?(handle: DataHandle, dtype: DType): Promise<TypedArray>;
  /** In-place overwrite, used by `Tensor.assign` and optimizers. */
  write(handle: DataHandle, values: TypedArray): void;
  /** In-place overwrite from another same-shaped handle on this backend, without a readback (optional). */
  assign?(handle: DataHandle, from: KernelInput): void;
  free(handle: DataHandle): void;

  fill(shape: Shape, value: number, dtype: DType): DataHandle;
  cast(x: KernelInput, dtype: DType): DataHandle;
  unary(op: UnaryOp, x: KernelInput): DataHandle;
  /** Elementwise with NumPy broadcasting of `a` and `b` to `outShape`; computes in `outDtype`. */
  binary(op: BinaryOp, a: KernelInput, b: KernelInput, outShape: Shape, outDtype: DType): DataHandle;
  where(cond: KernelInput, a: KernelInput, b: KernelInput, outShape: Shape): DataHandle;
  /** Broadcasts `x` to `outShape` (a copy). */
  expand(x: KernelInput, outShape: Shape): DataHandle;

  /**
   * Batched matrix product of the last two dims, batch dims broadcast to `outShape`.
   * `transA` reads `a` as [..., k, m] (transposed), `transB` reads `b` as [..., n, k].
   */
  matmul(a: KernelInput, b: KernelInput, transA: boolean, transB: boolean, outShape: Shape): DataHandle;

  /** Reduces one axis away (the output shape drops `axis`). */
  reduce(op: ReduceOp, x: KernelInput, axis: number): DataHandle;
  /** Index (int32) of the first maximum (or minimum) along `axis`, which is dropped. */
  argReduce(op: 'argmax' | 'argmin', x: KernelInput, axis: number): DataHandle;
  /** Stable softmax along `axis` (max subtracted first). */
  softmax(x: KernelInput, axis: number): DataHandle;
  /** Stable log Σ exp along `axis` (which is dropped). */
  logsumexp(x: KernelInput, axis: number): DataHandle;
  /** Indices (int32) of the k largest along `axis`, descending, ties to the lower index. */
  topk(x: KernelInput, k: number, axis: number): DataHandle;

  transpose(x: KernelInput, perm: readonly number[]): DataHandle;
  slice(x: KernelInput, begin: readonly number[], size: readonly number[]): DataHandle;
  /** Zeros of `outShape` with `x` placed at `begin` (the adjoint of slice). */
  pad(x: KernelInput, begin: readonly number[], outShape: Shape): DataHandle;
  concat(xs: readonly KernelInput[], axis: number): DataHandle;

  /** index_select: picks whole slices along `axis` by a flat list of int32 indices. */
  gather(x: KernelInput, indices: KernelInput, axis: number): DataHandle;
  /** index_add: out = x; out[.., indices[j], ..] += src[.., j, ..] in order of j. */
  indexAdd(x: KernelInput, indices: KernelInput, src: KernelInput, axis: number): DataHandle;
  /** take_along_axis: out[.., j, ..] = x[.., indices[.., j, ..], ..]; indices has the output's shape. */
  takeAlongAxis(x: KernelInput, indices: KernelInput, axis: number): DataHandle;
  /** scatter_add: out = x; out[.., indices[.., j, ..], ..] += src[.., j, ..] in row-major order of src. */
  scatterAdd(x: KernelInput, indices: KernelInput, src: KernelInput, axis: number): DataHandle;
  oneHot(indices: KernelInput, depth: number, dtype: DType): DataHandle;
}
