import { matmul, matmulTransposed, randn, Rng, tidy, type Tensor } from '@switch-ts/tensor';
import { assertClose, type Case, type Suite } from '../harness.js';
import { peerCall, tf, usePeer } from '../peers/tfjs.js';

/** C = A·B from the stored (possibly transposed) operands, in float64: the oracle for the kernel. */
function naiveMatmul(a: Float32Array, b: Float32Array, m: number, n: number, k: number, transA: boolean, transB: boolean): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[transA ? p * m + i : i * k + p]! * b[transB ? j * k + p : p * n + j]!;
      c[i * n + j] = s;
    }
  }
  return c;
}

/** Sizes that are multiples of neither tile dimension, with every transpose combination backward uses. */
function checkKernelAgainstNaive(rng: Rng): void {
  const [m, k, n] = [37, 53, 29];
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      tidy(() => {
        const a = randn(transA ? [k, m] : [m, k], rng), b = randn(transB ? [n, k] : [k, n], rng);
        const got = matmulTransposed(a, b, transA, transB).dataSync();
        const want = naiveMatmul(a.dataSync() as Float32Array, b.dataSync() as Float32Array, m, n, k, transA, transB);
        assertClose(`matmul ${m}×${k}×${n} transA=${transA} transB=${transB} vs naive`, got, want, 1e-5);
      });
    }
  }
}

/**
 * Median over rounds of peer time / our time, each round timing one call of each back to back.
 * On a shared machine whose speed drifts over seconds, tinybench's tasks (seconds apart) can land
 * in different phases; a pair of calls a few ms apart lands in the same one.
 */
function pairedRatio(ours: () => void, peer: () => void, rounds: number): number {
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    ours();
    const t1 = performance.now();
    peer();
    ratios.push((performance.now() - t1) / (t1 - t0));
  }
  return ratios.sort((x, y) => x - y)[Math.floor(rounds / 2)]!;
}

async function peerOperands(backend: 'cpu' | 'wasm', a: Tensor, b: Tensor, n: number): Promise<[tf.Tensor2D, tf.Tensor2D]> {
  await usePeer(backend);
  return [tf.tensor2d(a.dataSync() as Float32Array, [n, n]), tf.tensor2d(b.dataSync() as Float32Array, [n, n])];
}

export const matmulSuite: Suite = {
  name: 'matmul',
  description: 'float32 square matmul (switch-ts: the wasm SIMD kernel from 16³ up); GFLOP/s = 2n³ / median time',
  async setup() {
    const rng = new Rng(1);
    checkKernelAgainstNaive(rng);
    const cases: Case[] = [];
    for (const n of [64, 128, 256, 512, 1024]) {
      const a = randn([n, n], rng), b = randn([n, n], rng);
      const [ca, cb] = await peerOperands('cpu', a, b, n);
      const [wa, wb] = await peerOperands('wasm', a, b, n);
      const ours = matmul(a, b).dataSync();
      await usePeer('cpu');
      assertClose(`matmul ${n}² vs tfjs-cpu`, ours, tf.matMul(ca, cb).dataSync(), 1e-5);
      await usePeer('wasm');
      assertClose(`matmul ${n}² vs tfjs-wasm`, ours, tf.matMul(wa, wb).dataSync(), 1e-5);
      const run = {
        'switch-ts': () => { matmul(a, b).dispose(); },
        'tfjs-cpu': peerCall(() => tf.matMul(ca, cb)),
        'tfjs-wasm': peerCall(() => tf.matMul(wa, wb)),
      };
      const rounds = Math.min(200, Math.max(11, Math.round(2e9 / n ** 3)));
      process.stderr.write(`  ${n}²: × tfjs-wasm ${pairedRatio(run['switch-ts'], run['tfjs-wasm'], rounds).toFixed(2)} (median of ${rounds} paired calls)\n`);
      cases.push({ name: `${n}×${n}·${n}×${n}`, flops: 2 * n ** 3, run });
    }
    return cases;
  },
};

