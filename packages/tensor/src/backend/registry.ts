import type { DType } from '../dtype.js';
import type { Shape } from '../shape.js';
import type { Backend, BinaryOp, DataHandle, KernelInput, ReduceOp, UnaryOp } from './backend.js';

/**
 * The kernel registry (TensorFlow.js's design, kept small). A kernel is a named computation over
 * input handles; each backend registers the kernels it implements, and `runKernel` (engine.ts)
 * runs the active backend's kernel or, where it has none or declines the inputs, the CPU
 * backend's on read-back inputs, counted in the profile. The CPU backend implements every kernel.
 *
 * Every kernel gets its inputs, its attributes (below, by kernel name) and the output's shape and
 * dtype, which the op has already computed and validated; it returns a new handle and never
 * modifies its inputs.
 */
export interface KernelAttrs {
  /** Every element = value. */
  fill: { value: number };
  /** Float → int32 truncates toward zero, like PyTorch's .to(torch.int32). */
  cast: Record<string, never>;
  unary: { op: UnaryOp };
  /** NumPy broadcasting of both inputs to the output shape, computed in the output dtype. */
  binary: { op: BinaryOp };
  /** inputs [cond, a, b], broadcast together: a where cond ≠ 0, else b. */
  where: Record<string, never>;
  /** Broadcasts the input to the output shape (a copy). */
  expand: Record<string, never>;
  /**
   * Batched product of the last two dims, batch dims broadcast to the output's. `transA` reads
   * a as [..., k, m], `transB` reads b as [..., n, k].
   */
  matmul: { transA: boolean; transB: boolean };
  /** Reduces `axis` away. */
  reduce: { op: ReduceOp; axis: number };
  /** Index (int32) of the first maximum (or minimum) along `axis`, which is dropped; NaN wins. */
  argReduce: { op: 'argmax' | 'argmin'; axis: number };
  /** Stable softmax along `axis` (max subtracted first). */
  softmax: { axis: number };
  /** Stable log Σ exp along `axis` (which is dropped). */
  logsumexp: { axis: number };
  /** Indices (int32) of the k largest along `axis`, descending, ties to the lower index. */
  topk: { k: number; axis: number };
  transpose: { perm: readonly number[] };
  /** The block of the output's shape starting at `begin`. */
  slice: { begin: readonly number[] };
  /** Zeros of the output's shape with the input placed at `begin` (the adjoint of slice). */
  pad: { begin: readonly number[] };
  concat: { axis: number };
  /** index_select: inputs [x, indices]; whole slices along `axis` by a flat list of int32 indices. */
  gather: { axis: number };
  /** index_add: inputs [x, indices, src]; out = x; out[.., indices[j], ..] += src[.., j, ..] in order of j. */
  indexAdd: { axis: number };
  /** take_along_axis: inputs [x, indices]; out[.., j, ..] = x[.., indices[.., j, ..], ..]. */
  takeAlongAxis: { axis: number };
  /** scatter_add: inputs [x, indices, src]; out = x; out[.., indices[.., j, ..], ..] += src[.., j, ..] in row-major order. */
  scatterAdd: { axis: number };
  /** inputs [indices]; 1 at each index along a new last dim of size `depth`. */
  oneHot: { depth: number };
}

export type KernelName = keyof KernelAttrs;

/** The output a kernel must produce. */
export interface KernelOutput {
  readonly shape: Shape;
  readonly dtype: DType;
}

export interface KernelConfig<K extends KernelName = KernelName, B extends Backend = Backend> {
  run(inputs: readonly KernelInput[], attrs: KernelAttrs[K], out: KernelOutput, backend: B): DataHandle;
  /**
   * Whether this backend runs these inputs; when it returns false the CPU kernel runs instead (the
   * gpu backend declines float64 and tensors its kernels cannot index). Absent: always.
   */
  accepts?(inputs: readonly KernelInput[], attrs: KernelAttrs[K], out: KernelOutput, backend: B): boolean;
  /** When `accepts` may decline, and any other fact a reader of the kernel table needs. */
  note?: string;
}

export type KernelTable<B extends Backend = Backend> = { [K in KernelName]?: KernelConfig<K, B> };

const kernelNames: readonly KernelName[] = [
  'fill', 'cast', 'unary', 'binary', 'where', 'expand', 'matmul', 'reduce', 'argReduce', 'softmax', 'logsumexp',
  'topk', 'transpose', 'slice', 'pad', 'concat', 'gather', 'indexAdd', 'takeAlongAxis', 'scatterAdd', 'oneHot',
] satisfies readonly KernelName[];

const registry = new Map<string, KernelTable>();

/** Registers `kernels` for the backend called `backend`, replacing earlier registrations of the same names. */
export function registerKernels<B extends Backend>(backend: string, kernels: KernelTable<B>): void {
  registry.set(backend, { ...registry.get(backend), ...(kernels as KernelTable) });
}

/** The kernel `name` as registered for `backend`, if it is. */
export function getKernel<K extends KernelName>(backend: string, name: K): KernelConfig<K> | undefined {
  return registry.get(backend)?.[name] as KernelConfig<K> | undefined;
}

export interface KernelListing {
  kernel: KernelName;
  /** 'backend': the backend's own kernel (see `note` for inputs it declines); 'cpu fallback': the CPU kernel always. */
  runs: 'backend' | 'cpu fallback';
  note?: string;
}

/** Which kernels run where: one row per kernel, for `backend` ('cpu', 'gpu', or a registered one). */
export function listKernels(backend: string): KernelListing[] {
  const table = registry.get(backend);
  if (!table) throw new Error(`listKernels: no kernels registered for backend '${backend}'; registered: ${[...registry.keys()].join(', ')}`);
  return kernelNames.map((kernel) => {
    const k = table[kernel];
    const listing: KernelListing = { kernel, runs: k ? 'backend' : 'cpu fallback' };
    if (k?.note) listing.note = k.note;
    return listing;
  });
}
