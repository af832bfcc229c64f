import type { Backend, DataHandle, KernelInput } from '../backend/backend.js';
import { CpuBackend } from '../backend/cpu/index.js';
import { getKernel, type KernelAttrs, type KernelName, type KernelOutput } from '../backend/registry.js';
import { checkInt32, isFloat, type DType, type TypedArray } from '../dtype.js';
import { assertFinite, backend as activeBackend, checkAllocation, recordOp, storageBytes } from '../engine.js';
import { fmt, type Shape } from '../shape.js';
import { Tensor, type TensorLike } from '../tensor.js';
import { full } from './creation.js';

export interface KernelCall<K extends KernelName> {
  inputs: readonly Tensor[];
  attrs: KernelAttrs[K];
  /** The output's shape and dtype, computed and validated by the op. */
  shape: Shape;
  dtype: DType;
  /** FLOPs of this call, by the op's formula (packages/tensor/README.md, Profiler). */
  flops: number;
}

/**
 * The one door from ops to backends: refuses an output no tensor can hold (see MAX_ELEMENTS)
 * before anything is allocated, moves the inputs to the active backend, runs its kernel (or the
 * CPU kernel, see `onCpu`), wraps the output in a tensor, tells the profiler and applies the
 * checkFinite switch. `op` names the call in the profile and in errors.
 */
export function runKernel<K extends KernelName>(op: string, kernel: K, call: KernelCall<K>): Tensor {
  checkAllocation(op, call.shape, call.dtype);
  const b = activeBackend();
  const inputs = call.inputs.map((t): KernelInput => ({ handle: t.handleOn(b, op), shape: t.shape, dtype: t.dtype }));
  const out: KernelOutput = { shape: call.shape, dtype: call.dtype };
  const own = getKernel(b.name, kernel);
  const ran = own && (own.accepts?.(inputs, call.attrs, out, b) ?? true)
    ? { handle: own.run(inputs, call.attrs, out, b), movedBytes: undefined }
    : onCpu(b, kernel, inputs, call.attrs, out);
  const result = new Tensor(ran.handle, call.shape, call.dtype);
  recordOp(op, call.flops, storageBytes(call.shape, call.dtype), ran.movedBytes);
  assertFinite(op, call.inputs, result);
  return result;
}

const cpu = new CpuBackend();

/**
 * A kernel the active backend does not run: the CPU kernel on its inputs read back, the result
 * uploaded. The bytes moved are counted in the profile (`fallbacks`, `fallbackBytes`).
 */
function onCpu<K extends KernelName>(
  b: Backend, kernel: K, inputs: readonly KernelInput[], attrs: KernelAttrs[K], out: KernelOutput,
): { handle: DataHandle; movedBytes: number } {
  const host = inputs.map((x) => ({ ...x, handle: b.read(x.handle, x.dtype) }));
  const values = getKernel('cpu', kernel)!.run(host, attrs, out, cpu) as TypedArray;
  const movedBytes = inputs.reduce((n, x) => n + storageBytes(x.shape, x.dtype), storageBytes(out.shape, out.dtype));
  return { handle: b.upload(values, out.dtype), movedBytes };
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
  if (dtype === 'int32') checkInt32(op, [x], []);
  return full([], x, dtype);
}
