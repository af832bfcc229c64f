import { broadcastStrides, splitAtAxis, stridesOf, type Shape } from '../../shape.js';
import type { BinaryOp, ReduceOp, UnaryOp } from '../backend.js';
import { formulaName } from '../formulas.js';

/**
 * JavaScript sources of the gpu.js kernels, one generator per kernel name (the names of cpu/).
 * Every tensor is a flat 1-D texture and every kernel has output [size]: `this.thread.x` is the
 * flat output index. A kernel is compiled per shape, so shapes and strides are written into the
 * source as literals: loops get constant bounds (gpu.js caps runtime-bounded loops at
 * loopMaxIterations and silently cuts them short) and index arithmetic folds into constants.
 * Elementwise kernels call the shared formulas (../formulas.ts) that the gpu.js instance holds
 * as functions `op_<name>`.
 */

/**
 * Lines declaring `c0..c{r-1}`, the coordinates of flat index `i` in `shape`. Index math runs in
 * float on GL: `floor((i + 0.5) / s)` is exact while i + 0.5 is representable in float32
 * (i < 2^23, MAX_DEVICE_LENGTH in index.ts), where a bare `floor(i / s)` can land on 2.9999
 * and floor to 2.
 */
function coords(shape: Shape, i = 'i'): string {
  const strides = stridesOf(shape);
  return shape.map((d, k) => {
    const q = `Math.floor((${i} + 0.5) / ${strides[k]})`;
    return k === 0 ? `const c0 = ${q};` : `const c${k} = ${q} - ${d} * Math.floor((${i} + 0.5) / ${strides[k]! * d});`;
  }).join('\n');
}

/** Σ c_k · strides[k] over the coordinates from `coords`, skipping zero strides. */
function offset(strides: readonly number[], base = 0): string {
  const terms = strides.flatMap((s, k) => (s === 0 ? [] : [`c${k} * ${s}`]));
  if (base !== 0) terms.unshift(String(base));
  return terms.length === 0 ? '0' : terms.join(' + ');
}

const kernel = (params: string[], body: string): string => `function (${params.join(', ')}) {\nconst i = this.thread.x;\n${body}\n}`;

export function copy(): string {
  return kernel(['a'], 'return a[i];');
}

export function fill(): string {
  return kernel(['value'], 'return value;');
}

export function unary(op: UnaryOp): string {
  return kernel(['a'], `return ${formulaName(op)}(a[i]);`);
}

export function binary(op: BinaryOp, aShape: Shape, bShape: Shape, outShape: Shape): string {
  return kernel(['a', 'b'], `${coords(outShape)}
const x = a[${offset(broadcastStrides(aShape, outShape))}];
const y = b[${offset(broadcastStrides(bShape, outShape))}];
return ${formulaName(op)}(x, y);`);
}

export function where(condShape: Shape, aShape: Shape, bShape: Shape, outShape: Shape): string {
  return kernel(['cond', 'a', 'b'], `${coords(outShape)}
if (cond[${offset(broadcastStrides(condShape, outShape))}] != 0) { return a[${offset(broadcastStrides(aShape, outShape))}]; }
return b[${offset(broadcastStrides(bShape, outShape))}];`);
}

export function expand(xShape: Shape, outShape: Shape): string {
  return kernel(['a'], `${coords(outShape)}\nreturn a[${offset(broadcastStrides(xShape, outShape))}];`);
}

/** Where matmul's operands live: sizes, per-batch-dim strides, and the strides of a row, a column and a step of k. */
function matmulLayout(aShape: Shape, bShape: Shape, transA: boolean, transB: boolean, outShape: Shape) {
  const ro = outShape.length;
  const m = outShape[ro - 2]!, n = outShape[ro - 1]!;
  const k = transA ? aShape[aShape.length - 2]! : aShape[aShape.length - 1]!;
  const batchShape = outShape.slice(0, -2);
  const aBatch = broadcastStrides(aShape.slice(0, -2), batchShape).map((s) => s * m * k);
  const bBatch = broadcastStrides(bShape.slice(0, -2), batchShape).map((s) => s * k * n);
  const [aRow, aK] = transA ? [1, m] : [k, 1];
  const [bK, bCol] = transB ? [1, k] : [n, 1];
  return { m, n, k, batchShape, aBatch, bBatch, aRow, aK, bK, bCol };
}

/**
 * The k loop unrolled by 4 (fewer loop tests, independent multiply-adds for the webasm and GL
 * compilers) and its remainder: `step(j, id)` gives the statements for k index `j`; `id` is unique
 * among the steps, for naming their locals (gpu.js kernels have one flat scope).
 */
function kLoop(k: number, step: (j: string, id: number) => string): string {
  const k4 = k - (k % 4);
  const unrolled = [0, 1, 2, 3].map((u) => step(u === 0 ? 'j' : `j + ${u}`, u)).join('\n');
  const tail = Array.from({ length: k - k4 }, (_, t) => step(String(k4 + t), 4 + t)).join('\n');
  return `for (let j = 0; j < ${k4}; j += 4) {\n${unrolled}\n}\n${tail}`;
}

/** Batched matmul, one output element per thread (GL and cpu modes). Transposition only changes strides. */
export function matmul(aShape: Shape, bShape: Shape, transA: boolean, transB: boolean, outShape: Shape): string {
  const L = matmulLayout(aShape, bShape, transA, transB, outShape);
  return kernel(['a', 'b'], `${coords([...L.batchShape, L.m, L.n])}
const ia = ${offset([...L.aBatch, L.aRow, 0])};
const ib = ${offset([...L.bBatch, 0, L.bCol])};
let acc = 0;
${kLoop(L.k, (j) => `acc += a[ia + (${j}) * ${L.aK}] * b[ib + (${j}) * ${L.bK}];`)}
return acc;`);
}

/** Rows per thread of `matmulTiled`: the four components of its Array(4) result. */
export const TILE_ROWS = 4;

/**
 * Batched matmul for webasm, a 4×4 register tile per SIMD quad. gpu.js's webasm backend runs four
 * neighbouring thread.x as the lanes of one f32x4: a load whose index depends on thread.x is a
 * gather (four scalar loads), any other load is one scalar load and a splat. So thread.x is the
 * output column (B is the one gathered operand), thread.y a group of four rows whose A loads are
 * uniform, and each thread returns its four rows' sums as Array(4); thread.z is the flat batch
 * index. Output [n, ⌈m/4⌉, batch] holds C in that packed order; `unpackRows` restores row-major.
 * The last group's rows past m repeat row m-1 (computed, never unpacked), so no load leaves A.
 */
export function matmulTiled(aShape: Shape, bShape: Shape, transA: boolean, transB: boolean, outShape: Shape): string {
  const L = matmulLayout(aShape, bShape, transA, transB, outShape);
  const rows = Array.from({ length: TILE_ROWS }, (_, r) => r);
  // Integer locals: the row clamp is an if rather than Math.min, whose float result would make
  // every A index in the loop a float to convert.
  const rowOf = (r: number) => L.m % TILE_ROWS === 0 ? '' : `if (r${r} > ${L.m - 1}) { r${r} = ${L.m - 1}; }`;
  return `function (a, b) {
const i = this.thread.z;
${coords(L.batchShape)}
${rows.map((r) => `let r${r} = this.thread.y * ${TILE_ROWS} + ${r};
${rowOf(r)}
const ia${r} = ${offset(L.aBatch)} + r${r} * ${L.aRow};`).join('\n')}
const ib = ${offset(L.bBatch)} + this.thread.x * ${L.bCol};
${rows.map((r) => `let s${r} = 0;`).join('\n')}
${kLoop(L.k, (j, id) => `const b${id} = b[ib + (${j}) * ${L.bK}];
${rows.map((r) => `s${r} += a[ia${r} + (${j}) * ${L.aK}] * b${id};`).join('\n')}`)}
return [${rows.map((r) => `s${r}`).join(', ')}];
}`;
}

/** `matmulTiled`'s packed output [batch, ⌈m/4⌉, n, 4] back to row-major [batch, m, n]. */
export function unpackRows(batch: number, m: number, n: number): string {
  const groups = Math.ceil(m / TILE_ROWS);
  return kernel(['p'], `${coords([batch, m, n])}
const g = Math.floor((c1 + 0.5) / ${TILE_ROWS});
return p[((c0 * ${groups} + g) * ${n} + c2) * ${TILE_ROWS} + c1 - g * ${TILE_ROWS}];`);
}

/**
 * Elements one thread reduces. A reduction of a longer line runs in passes (GpuBackend.reduceTree),
 * each thread reducing a block of this many: llvmpipe, the headlessgl rasterizer, stops any shader
 * loop after 65,535 iterations without an error, and a blocked sum is also far more accurate in
 * float32 than one long running sum (1e6 × 0.1 was 1% off in one pass).
 */
export const REDUCE_BLOCK = 64;

/**
 * The partial reductions of `shape` along `axis` by blocks of REDUCE_BLOCK: output
 * [outer, ⌈len / REDUCE_BLOCK⌉, inner], thread (o, b, i) combining elements b·B … b·B + B − 1 of
 * line (o, i). max and min combine with the maximum/minimum formulas, so NaN propagates.
 */
export function reduce(op: ReduceOp, shape: Shape, axis: number): string {
  const [outer, len, inner] = splitAtAxis(shape, axis);
  const blocks = Math.ceil(len / REDUCE_BLOCK);
  const combine = op === 'sum' ? 'acc += v;' : `acc = ${formulaName(op === 'max' ? 'maximum' : 'minimum')}(acc, v);`;
  const partial = len % REDUCE_BLOCK !== 0 && blocks > 1;
  return kernel(['a'], `${coords([outer, blocks, inner])}
const first = c1 * ${REDUCE_BLOCK};
const line = c0 * ${len * inner} + c2;
let acc = a[line + first * ${inner}];
for (let j = 1; j < ${Math.min(len, REDUCE_BLOCK)}; j++) {
  ${partial ? `if (first + j < ${len}) {` : '{'}
    const v = a[line + (first + j) * ${inner}];
    ${combine}
  }
}
return acc;`);
}

/** The flat index of element i's line in the [outer, inner] array of line statistics. */
function lineOf(shape: Shape, axis: number): string {
  const [, len, inner] = splitAtAxis(shape, axis);
  return `Math.floor((i + 0.5) / ${len * inner}) * ${inner} + i - Math.floor((i + 0.5) / ${inner}) * ${inner}`;
}

/**
 * exp(x − max) per element, given the line maxima; 0 on a line of −Infinity, the only value
 * below float32's lowest finite (a line of that lowest value, a common mask, is uniform).
 */
export function expShifted(shape: Shape, axis: number): string {
  return kernel(['a', 'mx'], `const m = mx[${lineOf(shape, axis)}];
if (m < -3.4028234663852886e38) { return 0; }
return Math.exp(a[i] - m);`);
}

/** softmax = exp(x − max) / Σ exp(x − max), from the kernels above and the line sums. */
export function softmax(shape: Shape, axis: number): string {
  return kernel(['e', 's'], `return e[i] / s[${lineOf(shape, axis)}];`);
}

/** log Σ exp = max + log(sum), or the max itself where it is infinite (as the CPU kernel). */
export function logsumexp(): string {
  return kernel(['mx', 's'], `const m = mx[i];
if (m < -3.4028234663852886e38 || m > 3.4028234663852886e38) { return m; }
return m + Math.log(s[i]);`);
}

export function transpose(xShape: Shape, perm: readonly number[]): string {
  const inStrides = stridesOf(xShape);
  return kernel(['a'], `${coords(perm.map((p) => xShape[p]!))}\nreturn a[${offset(perm.map((p) => inStrides[p]!))}];`);
}

export function slice(xShape: Shape, begin: readonly number[], size: readonly number[]): string {
  const strides = stridesOf(xShape);
  const start = begin.reduce((s, b, d) => s + b * strides[d]!, 0);
  return kernel(['a'], `${coords(size)}\nreturn a[${offset(strides, start)}];`);
}

export function pad(xShape: Shape, begin: readonly number[], outShape: Shape): string {
  const inside = xShape.map((d, k) => `c${k} >= ${begin[k]} && c${k} < ${begin[k]! + d}`);
  const strides = stridesOf(xShape);
  const start = -begin.reduce((s, b, d) => s + b * strides[d]!, 0);
  return kernel(['a'], `${coords(outShape)}
if (${inside.length > 0 ? inside.join(' && ') : 'true'}) { return a[${offset(strides, start)}]; }
return 0;`);
}

/** One kernel for all parts: the coordinate along `axis` picks the part. */
export function concat(shapes: readonly Shape[], axis: number): string {
  const outShape = shapes[0]!.slice();
  outShape[axis] = shapes.reduce((n, s) => n + s[axis]!, 0);
  let at = 0;
  const branches = shapes.map((s, p) => {
    const strides = stridesOf(s);
    const base = -at * strides[axis]!;
    return `if (c${axis} < ${(at += s[axis]!)}) { return x${p}[${offset(strides, base)}]; }`;
  });
  return kernel(shapes.map((_, p) => `x${p}`), `${coords(outShape)}\n${branches.join('\n')}\nreturn 0;`);
}

/** index_select: out[o, j, r] = x[o, idx[j], r]. */
export function gather(xShape: Shape, count: number, axis: number): string {
  const [outer, len, inner] = splitAtAxis(xShape, axis);
  return kernel(['a', 'idx'], `${coords([outer, count, inner])}\nreturn a[(c0 * ${len} + idx[c1]) * ${inner} + c2];`);
}

/** index_add, gather-style: each output element sums the src slices whose index names its row, in order of j. */
export function indexAdd(xShape: Shape, count: number, axis: number): string {
  const [outer, len, inner] = splitAtAxis(xShape, axis);
  return kernel(['a', 'idx', 'src'], `${coords([outer, len, inner])}
let acc = a[i];
for (let j = 0; j < ${count}; j++) {
  if (idx[j] == c1) { acc += src[(c0 * ${count} + j) * ${inner} + c2]; }
}
return acc;`);
}

/** take_along_axis: out[p] = x[p with coordinate `axis` replaced by idx[p]]. */
export function takeAlongAxis(xShape: Shape, indexShape: Shape, axis: number): string {
  const xStrides = stridesOf(xShape);
  return kernel(['a', 'idx'], `${coords(indexShape)}\nreturn a[${offset(xStrides.map((s, d) => (d === axis ? 0 : s)))} + idx[i] * ${xStrides[axis]}];`);
}

/**
 * scatter_add, gather-style: output q sums src[p] over the positions p along `axis` whose other
 * coordinates are q's and whose index is q's coordinate, in row-major order of p.
 */
export function scatterAdd(xShape: Shape, indexShape: Shape, axis: number): string {
  const iStrides = stridesOf(indexShape);
  const inRange = indexShape.flatMap((d, k) => (k === axis || d === xShape[k] ? [] : [`c${k} < ${d}`]));
  return kernel(['a', 'idx', 'src'], `${coords(xShape)}
let acc = a[i];
if (${inRange.length > 0 ? inRange.join(' && ') : 'true'}) {
  const p0 = ${offset(iStrides.map((s, d) => (d === axis ? 0 : s)))};
  for (let j = 0; j < ${indexShape[axis]}; j++) {
    if (idx[p0 + j * ${iStrides[axis]}] == c${axis}) { acc += src[p0 + j * ${iStrides[axis]}]; }
  }
}
return acc;`);
}

export function oneHot(depth: number): string {
  return kernel(['idx'], `const row = Math.floor((i + 0.5) / ${depth});
if (idx[row] == i - row * ${depth}) { return 1; }
return 0;`);
}


/** float → int32 truncates toward zero, like the CPU cast (and PyTorch's .to(torch.int32)). */
export function trunc(): string {
  return kernel(['a'], 'const v = a[i];\nif (v < 0) { return -Math.floor(-v); }\nreturn Math.floor(v);');
}
