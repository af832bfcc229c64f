import fc from 'fast-check';

/**
 * fast-check arbitraries for the op tests: shapes, broadcast-compatible shape pairs, axes,
 * permutations and float64 data, including data kept away from the kinks of abs, relu, max and
 * maximum so that finite differences see a smooth function.
 */

export type Shape = number[];

export interface Data {
  shape: Shape;
  data: number[];
}

export const sizeOf = (shape: readonly number[]): number => shape.reduce((n, d) => n * d, 1);

export function shape(opts: { minRank?: number; maxRank?: number; minDim?: number; maxDim?: number } = {}): fc.Arbitrary<Shape> {
  const { minRank = 0, maxRank = 3, minDim = 1, maxDim = 4 } = opts;
  return fc.array(fc.integer({ min: minDim, max: maxDim }), { minLength: minRank, maxLength: maxRank });
}

/**
 * Two shapes that broadcast together under NumPy rules: both are suffixes of one output shape,
 * and each of their dims is either the output's or 1.
 */
export function broadcastPair(opts: { maxRank?: number; maxDim?: number } = {}): fc.Arbitrary<[Shape, Shape]> {
  const { maxRank = 3, maxDim = 4 } = opts;
  const operandOf = (out: Shape) =>
    fc.record({
      rank: fc.integer({ min: 0, max: out.length }),
      ones: fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }),
    }).map(({ rank, ones }) => out.slice(out.length - rank).map((d, i) => (ones[out.length - rank + i] ? 1 : d)));
  return shape({ maxRank, maxDim }).chain((out) => fc.tuple(operandOf(out), operandOf(out)));
}

/** Three mutually broadcast-compatible shapes (for `where`). */
export function broadcastTriple(opts: { maxRank?: number; maxDim?: number } = {}): fc.Arbitrary<[Shape, Shape, Shape]> {
  return broadcastPair(opts).chain(([a, b]) =>
    broadcastPair(opts).map(([c]) => {
      // c is drawn independently; fit it to a and b by replacing clashing dims with 1.
      const out = broadcastOf(a, b);
      const cut = c.slice(Math.max(0, c.length - out.length));
      return [a, b, cut.map((d, i) => (d === out[out.length - cut.length + i] ? d : 1))];
    }));
}

export function broadcastOf(a: readonly number[], b: readonly number[]): Shape {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const da = a[a.length - rank + i] ?? 1, db = b[b.length - rank + i] ?? 1;
    return da === 1 ? db : da;
  });
}

export function values(n: number, opts: { min?: number; max?: number } = {}): fc.Arbitrary<number[]> {
  const { min = -3, max = 3 } = opts;
  return fc.array(fc.double({ min, max, noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n });
}

/** Values with |x| in [min, max] and a random sign: away from the kink of abs and relu at 0. */
export function awayFromZero(n: number, opts: { min?: number; max?: number } = {}): fc.Arbitrary<number[]> {
  const { min = 0.1, max = 3 } = opts;
  return fc.array(fc.tuple(fc.double({ min, max, noNaN: true }), fc.boolean()).map(([m, neg]) => (neg ? -m : m)), { minLength: n, maxLength: n });
}

/**
 * n values that are pairwise at least `gap` apart (a shuffled grid plus jitter smaller than the
 * gap): no ties anywhere, so max, min and topk have a unique winner on every line.
 */
export function distinct(n: number, gap = 0.05): fc.Arbitrary<number[]> {
  return fc.tuple(
    fc.shuffledSubarray(Array.from({ length: n }, (_, i) => i), { minLength: n, maxLength: n }),
    fc.array(fc.double({ min: 0, max: gap, noNaN: true, maxExcluded: true }), { minLength: n, maxLength: n }),
  ).map(([perm, jitter]) => perm.map((p, i) => (p - n / 2) * 2 * gap + jitter[i]!));
}

/**
 * Values on the even (`parity` 0) or odd (1) slots of a grid of spacing `gap`, with jitter below
 * gap/2: any value of parity 0 and any of parity 1 differ by more than gap/2, so maximum and
 * minimum of two such operands never tie, whatever broadcasting pairs up.
 */
export function gridValues(n: number, parity: 0 | 1, gap = 0.1): fc.Arbitrary<number[]> {
  return fc.array(
    fc.tuple(fc.integer({ min: -15, max: 15 }), fc.double({ min: 0, max: gap / 2, noNaN: true, maxExcluded: true }))
      .map(([k, j]) => (2 * k + parity) * gap + j),
    { minLength: n, maxLength: n });
}

export function data(s: fc.Arbitrary<Shape>, of: (n: number) => fc.Arbitrary<number[]> = (n) => values(n)): fc.Arbitrary<Data> {
  return s.chain((sh) => of(sizeOf(sh)).map((d) => ({ shape: sh, data: d })));
}

export function dataOf(sh: Shape, of: (n: number) => fc.Arbitrary<number[]> = (n) => values(n)): fc.Arbitrary<Data> {
  return of(sizeOf(sh)).map((d) => ({ shape: sh, data: d }));
}

export function permutation(n: number): fc.Arbitrary<number[]> {
  return fc.shuffledSubarray(Array.from({ length: n }, (_, i) => i), { minLength: n, maxLength: n });
}

/** The inverse permutation: inverse[p[i]] = i. */
export function inverse(p: readonly number[]): number[] {
  const inv = new Array<number>(p.length);
  p.forEach((d, i) => (inv[d] = i));
  return inv;
}

/** A random set of distinct axes of a rank-r tensor, each written either as i or as i − r. */
export function axes(rank: number, opts: { minLength?: number } = {}): fc.Arbitrary<number[]> {
  const { minLength = 0 } = opts;
  return fc.tuple(
    fc.subarray(Array.from({ length: rank }, (_, i) => i), { minLength: Math.min(minLength, rank) }),
    fc.array(fc.boolean(), { minLength: rank, maxLength: rank }),
  ).map(([picked, negative]) => picked.map((a) => (negative[a] ? a - rank : a)));
}

/** One axis of a rank-r tensor (r ≥ 1), as i or i − r. */
export function axis(rank: number): fc.Arbitrary<number> {
  return fc.tuple(fc.integer({ min: 0, max: rank - 1 }), fc.boolean()).map(([a, negative]) => (negative ? a - rank : a));
}

export function indices(n: number, bound: number): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 0, max: bound - 1 }), { minLength: n, maxLength: n });
}

/**
 * Shapes for matmul under NumPy semantics: each operand 1-D, 2-D or batched, with batch dims that
 * broadcast against each other.
 */
export interface MatmulShapes {
  a: Shape;
  b: Shape;
}
export function matmulShapes(opts: { maxDim?: number; maxBatchRank?: number } = {}): fc.Arbitrary<MatmulShapes> {
  const { maxDim = 5, maxBatchRank = 2 } = opts;
  const dim = fc.integer({ min: 1, max: maxDim });
  return fc.record({
    m: dim, k: dim, n: dim,
    aVector: fc.boolean(), bVector: fc.boolean(),
    batch: broadcastPair({ maxRank: maxBatchRank, maxDim: 3 }),
  }).map(({ m, k, n, aVector, bVector, batch: [ba, bb] }) => ({
    a: aVector ? [k] : [...ba, m, k],
    b: bVector ? [k] : [...bb, k, n],
  }));
}
