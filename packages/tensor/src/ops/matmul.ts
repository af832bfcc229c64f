import { record } from '../autograd.js';
import { broadcastShapes, fmt, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { requireFloat, requireTensor, runKernel } from './kernel.js';
import { sumTo } from './reduce.js';
import { reshape, squeeze, unsqueeze } from './shape.js';

/**
 * Matrix product with NumPy's rules: 1-D operands are promoted to a row (left) or a column
 * (right) and the added dim is removed from the result; dims before the last two are batch dims
 * and broadcast. FLOPs: 2·m·k·n per matrix of the batch.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  requireTensor('matmul', a);
  requireTensor('matmul', b, 'second operand');
  requireFloat('matmul', a, b);
  if (a.rank === 0 || b.rank === 0) throw new Error(`matmul: ${fmt(a.shape)} @ ${fmt(b.shape)}: operands must have at least one dimension`);
  if (a.dtype !== b.dtype) throw new Error(`matmul: ${fmt(a.shape)} ${a.dtype} @ ${fmt(b.shape)} ${b.dtype}: dtypes differ`);
  const a2 = a.rank === 1 ? unsqueeze(a, 0) : a;
  const b2 = b.rank === 1 ? unsqueeze(b, 1) : b;
  const ka = a2.shape[a2.rank - 1]!, kb = b2.shape[b2.rank - 2]!;
  if (ka !== kb) throw new Error(`matmul: ${fmt(a.shape)} @ ${fmt(b.shape)}: inner dimensions ${ka} and ${kb} differ`);
  checkBatch(a2, b2, a, b);
  // [..., m, k] @ [k, n] (a Linear on a batch of sequences): one 2-D product of all the rows,
  // rather than a batch of products that would each repack the shared right operand.
  let out = a2.rank > 2 && b2.rank === 2
    ? reshape(batchedMatmul(reshape(a2, [-1, ka]), b2, false, false), [...a2.shape.slice(0, -1), b2.shape[1]!])
    : batchedMatmul(a2, b2, false, false);
  if (a.rank === 1) out = squeeze(out, -2);
  if (b.rank === 1) out = squeeze(out, -1);
  return out;
}

function checkBatch(a2: Tensor, b2: Tensor, a: Tensor, b: Tensor): void {
  const ba = a2.shape.slice(0, -2), bb = b2.shape.slice(0, -2);
  const rank = Math.max(ba.length, bb.length);
  for (let i = 1; i <= rank; i++) {
    const da = ba[ba.length - i] ?? 1, db = bb[bb.length - i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`matmul: ${fmt(a.shape)} @ ${fmt(b.shape)}: batch dimensions ${fmt(ba)} and ${fmt(bb)} cannot be broadcast`);
    }
  }
}

/**
 * The primitive: a (transposed if transA) times b (transposed if transB), rank ≥ 2.
 * Backward, for C = A·B: dA = dC·Bᵀ and dB = Aᵀ·dC, themselves matmuls with transposed reads,
 * then summed over any batch dims that were broadcast.
 */
function batchedMatmul(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  const [m, k] = transA ? [a.shape[a.rank - 1]!, a.shape[a.rank - 2]!] : [a.shape[a.rank - 2]!, a.shape[a.rank - 1]!];
  const n = transB ? b.shape[b.rank - 2]! : b.shape[b.rank - 1]!;
  const batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const outShape = [...batch, m, n];
  const flops = 2 * sizeOf(batch) * m * k * n;
  const out = runKernel('matmul', 'matmul', { inputs: [a, b], attrs: { transA, transB }, shape: outShape, dtype: a.dtype, flops });
  return record('matmul', out, [a, b], (g) => {
    // Each case is the product rule written for the stored (possibly transposed) operand; an
    // operand that needs no gradient (the input of a first layer, say) costs no product.
    const ga = transA ? () => batchedMatmul(b, g, transB, true) : () => batchedMatmul(g, b, false, !transB);
    const gb = transB ? () => batchedMatmul(g, a, true, transA) : () => batchedMatmul(a, g, !transA, false);
    return [a.requiresGrad ? sumTo(ga(), a.shape) : null, b.requiresGrad ? sumTo(gb(), b.shape) : null];
  });
}

/** Keeps the transposed-read variants reachable for callers that want Aᵀ·B or A·Bᵀ without a copy. */
export function matmulTransposed(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  requireTensor('matmulTransposed', a);
  requireTensor('matmulTransposed', b, 'second operand');
  requireFloat('matmulTransposed', a, b);
  if (a.rank < 2 || b.rank < 2) throw new Error(`matmulTransposed: ${fmt(a.shape)} @ ${fmt(b.shape)}: operands must have at least two dimensions`);
  const ka = transA ? a.shape[a.rank - 2] : a.shape[a.rank - 1];
  const kb = transB ? b.shape[b.rank - 1] : b.shape[b.rank - 2];
  if (ka !== kb) throw new Error(`matmulTransposed: ${fmt(a.shape)}${transA ? 'ᵀ' : ''} @ ${fmt(b.shape)}${transB ? 'ᵀ' : ''}: inner dimensions ${ka} and ${kb} differ`);
  return batchedMatmul(a, b, transA, transB);
}
