import type { Backend, DataHandle } from '../backend/backend.js';
import { isFloat, type DType } from '../dtype.js';
import { assertFinite, backend as backendOf, recordOp, storageBytes } from '../engine.js';
import { fmt, type Shape } from '../shape.js';
import { Tensor, type TensorLike } from '../tensor.js';
import { full } from './creation.js';

/**
 * The one door from ops to backends: runs a kernel on the active backend, wraps its output in a
 * tensor, tells the profiler and applies the checkFinite switch.
 */
export function runKernel(
  op: string,
  inputs: readonly Tensor[],
  outShape: Shape,
  outDtype: DType,
  flops: number,
  kernel: (b: Backend, handles: DataHandle[]) => DataHandle,
): Tensor {
  const handles = inputs.map((t) => t.handle(op));
  const out = new Tensor(kernel(backendOf(), handles), outShape, outDtype);
  recordOp(op, flops, storageBytes(outShape, outDtype));
  assertFinite(op, inputs, out);
  return out;
}


/** Kernel inputs for tensors whose handles `runKernel` already resolved. */
export function kin(t: Tensor, handle: DataHandle): { handle: DataHandle; shape: Shape; dtype: DType } {
  return { handle, shape: t.shape, dtype: t.dtype };
}

export function requireFloat(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (!isFloat(t.dtype)) throw new Error(`${op}: expected a float tensor, got ${t.dtype} of shape ${fmt(t.shape)}`);
  }
}

export function requireInt(op: string, what: string, t: Tensor): void {
  if (t.dtype !== 'int32') throw new Error(`${op}: ${what} must be int32, got ${t.dtype} of shape ${fmt(t.shape)}`);
}

/** Every op starts here, so a bad or disposed operand is reported under the op the user called. */
export function requireTensor(op: string, x: unknown, what = 'input'): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw new Error(`${op}: ${what} must be a Tensor, got ${x === null ? 'null' : typeof x}`);
  if (x.isDisposed) throw new Error(`${op}: ${what} of shape ${fmt(x.shape)} was disposed`);
}

/** A plain number operand becomes a 0-d tensor of the other operand's dtype (PyTorch's rule for Python scalars). */
export function asTensor(op: string, x: TensorLike, like: Tensor): Tensor {
  if (x instanceof Tensor) return x;
  if (typeof x !== 'number') throw new Error(`${op}: operand must be a Tensor or a number, got ${typeof x}`);
  const dtype = like.dtype === 'int32' && !Number.isInteger(x) ? 'float32' : like.dtype;
  return full([], x, dtype);
}
