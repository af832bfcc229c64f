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

export function checkShape(op: string, shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${op}: invalid shape ${fmt(shape)}: dimensions must be non-negative integers`);
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
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(axis) || a < 0 || a >= rank) {
    const where = shape ? `tensor of shape ${fmt(shape)}` : `rank ${rank}`;
    throw new Error(`${op}: axis ${axis} is out of range for ${where}`);
  }
  return a;
}

/** Splits a shape around `axis` into [outer, length, inner] so kernels can loop over one axis. */
export function splitAtAxis(shape: Shape, axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis]!, sizeOf(shape.slice(axis + 1))];
}
