import { Module, Rng, Tensor, argmax, init, matmul, rand, softmax, sum, takeAlongAxis, tensor, topk } from '@switch-ts/tensor';
import { fmt, type FloatDType } from './checks.js';

/** What the router decides for every token of every group. */
export interface RouterOutput {
  /** h(x) = x·W_r, [...groups, S, E], in the router dtype. */
  logits: Tensor;
  /** p_i(x) = e^{h_i(x)} / Σ_j e^{h_j(x)} (eq. 1), [...groups, S, E]. */
  probs: Tensor;
  /** The k experts each token chooses, highest probability first (ties to the lower index); int32 [...groups, S, k]. */
  expertIndex: Tensor;
  /**
   * The gate of each choice, [...groups, S, k]: the raw p_i(x) for Switch (k = 1, eq. 2), so that
   * the router's gradient flows through it; for k > 1 the k probabilities renormalized to sum to 1
   * when `normalizeTopK` is on (the classic top-k MoE, Shazeer et al. 2017).
   */
  gates: Tensor;
}

export interface RouteOptions {
  /** Experts per token; 1 = Switch. */
  topK?: number;
  /** Renormalize the k gates to sum to 1 (ignored for k = 1); default true. */
  normalizeTopK?: boolean;
  /** ε of the multiplicative jitter U(1−ε, 1+ε) on the router input; 0 = off (pass 0 in eval). */
  jitter?: number;
  /** Draws the jitter; required when jitter > 0. */
  rng?: Rng;
  /** Selective precision (Switch §2.4): the router computes in this dtype whatever the layer's. */
  dtype?: FloatDType;
  /**
   * Auxiliary-loss-free balancing (Wang et al. 2024, eq. 3): a per-expert bias b [E] added to the
   * probabilities for the top-k *selection* only; the gates stay the unbiased p_i(x), and no
   * gradient reaches b (selection is piecewise constant, and b is not a parameter).
   */
  selectionBias?: readonly number[];
}

/**
 * The router: logits h(x) = x·W_r, probabilities by softmax (eq. 1), each token's top-k experts
 * and their gates. `x` is [...groups, S, dModel], `weight` is W_r [dModel, E].
 *
 * Jitter multiplies only the router's copy of x by U(1−ε, 1+ε) noise (the Switch paper's input
 * jitter, Mesh TensorFlow's multiplicative_jitter): the experts still see the clean x.
 */
export function route(x: Tensor, weight: Tensor, opts: RouteOptions = {}): RouterOutput {
  const { topK = 1, normalizeTopK = true, jitter = 0, rng, dtype = weight.dtype as FloatDType, selectionBias } = opts;
  if (!(x instanceof Tensor) || !(weight instanceof Tensor)) throw new Error('route: x and weight must be Tensors');
  if (weight.rank !== 2 || x.rank < 1 || x.shape[x.rank - 1] !== weight.shape[0]) {
    throw new Error(`route: x ${fmt(x.shape)} and router weight ${fmt(weight.shape)} do not fit: expected [..., dModel] and [dModel, E]`);
  }
  const numExperts = weight.shape[1]!;
  if (!Number.isInteger(topK) || topK < 1 || topK > numExperts) {
    throw new Error(`route: topK = ${topK} must be an integer in [1, ${numExperts}] (numExperts)`);
  }
  if (!(jitter >= 0 && jitter < 1)) throw new Error(`route: jitter must be in [0, 1), got ${jitter}`);
  if (jitter > 0 && !(rng instanceof Rng)) throw new Error('route: jitter > 0 needs an Rng (opts.rng)');
  if (selectionBias !== undefined && (selectionBias.length !== numExperts || !selectionBias.every(Number.isFinite))) {
    throw new Error(`route: selectionBias must hold ${numExperts} finite numbers (one per expert), got [${Array.from(selectionBias).join(', ')}]`);
  }

  let input = x.cast(dtype);
  if (jitter > 0) input = input.mul(rand(x.shape, rng!, { low: 1 - jitter, high: 1 + jitter, dtype }));
  const logits = matmul(input, weight.cast(dtype));
  requireFiniteLogits(logits);
  const probs = softmax(logits, -1);
  // Wang et al. 2024 eq. 3: choose by p_i(x) + b_i, gate by p_i(x). Without a bias the scores are
  // the probabilities themselves, so that a layer without one routes exactly as before.
  const scores = selectionBias === undefined ? probs : probs.add(tensor(selectionBias, { dtype }));
  // Switch's choice is the argmax, a single pass; top-k sorts. Both break ties to the lower index.
  const expertIndex = topK === 1 ? argmax(scores, -1).unsqueeze(-1) : topk(scores, topK, -1).indices;
  const values = takeAlongAxis(probs, expertIndex, -1);
  const gates = topK > 1 && normalizeTopK ? values.div(sum(values, -1, true)) : values;
  return { logits, probs, expertIndex, gates };
}

/** Non-finite logits would make every routing decision meaningless, so they stop the layer here. */
function requireFiniteLogits(logits: Tensor): void {
  const h = logits.dataSync();
  // A plain loop: findIndex with a callback cost 0.7 ms a forward at E = 64 (131 k logits).
  let bad = -1;
  for (let i = 0; i < h.length; i++) {
    if (!Number.isFinite(h[i]!)) {
      bad = i;
      break;
    }
  }
  if (bad >= 0) {
    const E = logits.shape[logits.rank - 1]!;
    throw new Error(`route: router logit is ${h[bad]} for token ${Math.floor(bad / E)}, expert ${bad % E}: the router input or weight is not finite`);
  }
}

/** The router as a module: its one parameter is W_r, registered as `weight` ('router.weight' in a layer). */
export class Router extends Module {
  readonly weight: Tensor;

  constructor(opts: { dModel: number; numExperts: number; initScale: number; dtype: FloatDType; rng: Rng }) {
    super();
    this.weight = this.param('weight', init.truncatedNormal([opts.dModel, opts.numExperts], { rng: opts.rng, scale: opts.initScale, dtype: opts.dtype }));
  }

  forward(x: Tensor, opts: RouteOptions = {}): RouterOutput {
    return route(x, this.weight, opts);
  }
}
