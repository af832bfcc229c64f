import { describeValue } from './describe.js';

/** Shape arithmetic shared by the ops and the backends. Row-major (C order) everywhere. */
export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

export function fmt(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Throws, naming the op, unless every dim is a non-negative integer (or, where `inferable`, -1). */
export function checkShape(op: string, shape: Shape, inferable = false): void {
  if (!Array.isArray(shape)) throw new Error(`${op}: shape must be an array of non-negative integers, got ${describeValue(shape)}`);
  if (shape.some((d) => !(Number.isInteger(d) && d >= 0) && !(inferable && d === -1))) {
    throw new Error(`${op}: invalid shape ${fmt(shape)}: dimensions must be non-negative integers${inferable ? ', one of them may be -1' : ''}`);
  }
}

/** NumPy broadcasting: align from the right; each pair of dims must match or one must be 1. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${fmt(a)} and ${fmt(b)} cannot be broadcast: dimension ${i} is ${da} vs ${db}`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Strides for reading a tensor of shape `inShape` as if it had the broadcast shape `outShape`:
 * broadcast dims get stride 0, so one index walk serves every operand.
 */
export function broadcastStrides(inShape: Shape, outShape: Shape): number[] {
  const strides = stridesOf(inShape);
  const offset = outShape.length - inShape.length;
  return outShape.map((_, i) => (i < offset || inShape[i - offset] === 1 ? 0 : strides[i - offset]!));
}

/** Resolves a possibly negative axis against a rank, or throws naming the op. */
export function normalizeAxis(op: string, axis: number, rank: number, shape?: Shape): number {
  const where = shape ? `tensor of shape ${fmt(shape)}` : `rank ${rank}`;
  if (!Number.isInteger(axis)) throw new Error(`${op}: axis must be an integer, got ${describeValue(axis)} (${where})`);
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`${op}: axis ${axis} is out of range for ${where}`);
  return a;
}

/** Resolves an axis or a list of distinct axes (reductions, squeeze), or throws naming the op. */
export function normalizeAxes(op: string, axis: number | readonly number[], shape: Shape): number[] {
  const list = typeof axis === 'number' ? [axis] : axis;
  if (!Array.isArray(list) || !list.every((a) => Number.isInteger(a))) {
    throw new Error(`${op}: axis must be an integer or an array of integers, got ${describeValue(axis)} (tensor of shape ${fmt(shape)})`);
  }
  const axes = list.map((a) => normalizeAxis(op, a, shape.length, shape));
  if (new Set(axes).size !== axes.length) throw new Error(`${op}: axis ${JSON.stringify(list)} repeats a dimension of ${fmt(shape)}`);
  return axes;
}

/** Splits a shape around `axis` into [outer, length, inner] so kernels can loop over one axis. */
export function splitAtAxis(shape: Shape, axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis]!, sizeOf(shape.slice(axis + 1))];
}
