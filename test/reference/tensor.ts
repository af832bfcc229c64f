/**
 * The reference tensor: a shape and a flat row-major (C order) list of float64 values, plus the
 * index bookkeeping every reference op shares. Imports nothing from packages/ on purpose, so a
 * property comparing the library against this file compares two independent derivations.
 */

export interface RefTensor {
  shape: number[];
  data: number[];
}

export type Nested = number | Nested[];

export function size(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** How far apart in `data` two neighbours along each dim are; the last dim is contiguous. */
export function strides(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let step = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = step;
    step *= shape[i]!;
  }
  return s;
}

/** Flat position -> multi-index. */
export function unravel(flat: number, shape: number[]): number[] {
  const index = new Array<number>(shape.length);
  for (let i = shape.length - 1; i >= 0; i--) {
    index[i] = flat % shape[i]!;
    flat = Math.floor(flat / shape[i]!);
  }
  return index;
}

/** Multi-index -> flat position. */
export function ravel(index: number[], shape: number[]): number {
  const s = strides(shape);
  let flat = 0;
  for (let i = 0; i < shape.length; i++) flat += index[i]! * s[i]!;
  return flat;
}

/**
 * Flat position in a tensor of `shape` that the output multi-index `outIndex` reads under NumPy
 * broadcasting: shapes align on the right, and a dim of length 1 is read at 0 whatever the output index.
 */
export function broadcastOffset(outIndex: number[], shape: number[]): number {
  const skip = outIndex.length - shape.length;
  const index = shape.map((d, i) => (d === 1 ? 0 : outIndex[skip + i]!));
  return ravel(index, shape);
}

/** Axis in [-rank, rank) -> [0, rank), the way NumPy and PyTorch accept negative axes. */
export function normalizeAxis(axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) throw new Error(`axis ${axis} out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

/**
 * The flat positions of every 1-D line along `axis`, lines listed in row-major order of the
 * other dims. Two shapes that differ only at `axis` list their lines in the same order, which is
 * what lets an op read line l of its input and write line l of its output.
 */
export function lanes(shape: number[], axis: number): number[][] {
  const n = shape[axis]!;
  const outer = size(shape.slice(0, axis));
  const inner = size(shape.slice(axis + 1));
  const result: number[][] = [];
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const lane: number[] = [];
      for (let j = 0; j < n; j++) lane.push((o * n + j) * inner + i);
      result.push(lane);
    }
  }
  return result;
}

/** Replaces every line of `a` along `axis` by f(line), which must have length `outLen`. */
export function mapLanes(a: RefTensor, axis: number, outLen: number, f: (line: number[]) => number[]): RefTensor {
  const ax = normalizeAxis(axis, a.shape.length);
  const shape = a.shape.map((d, i) => (i === ax ? outLen : d));
  const data = new Array<number>(size(shape)).fill(0);
  const inLanes = lanes(a.shape, ax);
  const outLanes = lanes(shape, ax);
  for (let l = 0; l < inLanes.length; l++) {
    const result = f(inLanes[l]!.map((p) => a.data[p]!));
    if (result.length !== outLen) throw new Error(`mapLanes: expected ${outLen} values, got ${result.length}`);
    outLanes[l]!.forEach((p, j) => (data[p] = result[j]!));
  }
  return { shape, data };
}

/** Drops a dim of length 1 (the keepDims=false form of a one-axis reduction). */
export function squeezeAxis(t: RefTensor, axis: number): RefTensor {
  const ax = normalizeAxis(axis, t.shape.length);
  return { shape: t.shape.filter((_, i) => i !== ax), data: t.data };
}

/** Nested arrays -> tensor; a bare number is a scalar of shape []. Throws on ragged input. */
export function fromNested(nested: Nested): RefTensor {
  const shape: number[] = [];
  let level: Nested = nested;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0] ?? 0;
  }
  const data: number[] = [];
  const walk = (node: Nested, depth: number): void => {
    if (depth === shape.length) {
      if (Array.isArray(node)) throw new Error('fromNested: ragged array');
      data.push(node);
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) throw new Error('fromNested: ragged array');
    for (const child of node) walk(child, depth + 1);
  };
  walk(nested, 0);
  return { shape, data };
}

/** Tensor -> nested arrays; shape [] gives a bare number. */
export function toNested(t: RefTensor): Nested {
  const build = (depth: number, offset: number): Nested => {
    if (depth === t.shape.length) return t.data[offset]!;
    const stride = size(t.shape.slice(depth + 1));
    const out: Nested[] = [];
    for (let i = 0; i < t.shape[depth]!; i++) out.push(build(depth + 1, offset + i * stride));
    return out;
  };
  return build(0, 0);
}
