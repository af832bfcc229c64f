import { Module, concat, init, slice, type Rng, type Tensor } from '@switch-ts/tensor';
import type { Assignment } from './capacity.js';
import { fmt, requireTensor, type FloatDType } from './checks.js';
import { feedForward, type FeedForwardOptions } from './feed-forward.js';

/**
 * The experts E_i (eq. 2's E_i(x)): E independent FFNs applied to their own buffers at once.
 * buffers [E, n, dModel], wi [E, dModel, dFF], wo [E, dFF, dModel] → [E, n, dModel]. The compute
 * is E·n = E·G·C slots, about capacityFactor·k tokens' worth per token whatever E is.
 */
export function experts(buffers: Tensor, wi: Tensor, wo: Tensor, opts: FeedForwardOptions = {}): Tensor {
  requireTensor('experts', 'buffers', buffers);
  requireTensor('experts', 'wi', wi);
  requireTensor('experts', 'wo', wo);
  const [e, , dModel] = buffers.shape;
  const fits = buffers.rank === 3 && wi.rank === 3 && wo.rank === 3 && wi.shape[0] === e && wo.shape[0] === e &&
    wi.shape[1] === dModel && wo.shape[1] === wi.shape[2] && wo.shape[2] === dModel;
  if (!fits) {
    throw new Error(`experts: buffers ${fmt(buffers.shape)}, wi ${fmt(wi.shape)}, wo ${fmt(wo.shape)}: expected [E, n, dModel], [E, dModel, dFF], [E, dFF, dModel]`);
  }
  return feedForward(buffers, wi, wo, opts);
}

/**
 * The experts on a packed buffer (MegaBlocks, Gale et al. 2023, §5.1: a block-sparse product
 * whose blocks are each expert's own tokens): rows [n, dModel] hold expert 0's rowsPerExpert[0]
 * tokens, then expert 1's, and so on; each expert's FFN runs on its rows alone, so the work is the
 * n routed tokens, not E·C slots. Returns [n, dModel].
 */
export function packedExperts(rows: Tensor, wi: Tensor, wo: Tensor, rowsPerExpert: readonly number[], opts: FeedForwardOptions = {}): Tensor {
  requireTensor('packedExperts', 'rows', rows);
  const [numExperts, dModel, dFF] = wi.shape as [number, number, number];
  const n = rowsPerExpert.reduce((a, b) => a + b, 0);
  if (rows.rank !== 2 || rows.shape[0] !== n || rows.shape[1] !== dModel || rowsPerExpert.length !== numExperts) {
    throw new Error(`packedExperts: rows ${fmt(rows.shape)} must be [${n}, ${dModel}] for ${rowsPerExpert.length} experts' rows [${rowsPerExpert.join(', ')}] and wi ${fmt(wi.shape)}`);
  }
  if (n === 0) return rows;
  let start = 0;
  const outputs: Tensor[] = [];
  rowsPerExpert.forEach((count, e) => {
    if (count > 0) {
      const expertWi = slice(wi, [e, 0, 0], [1, dModel, dFF]).reshape([dModel, dFF]);
      const expertWo = slice(wo, [e, 0, 0], [1, dFF, dModel]).reshape([dFF, dModel]);
      outputs.push(feedForward(slice(rows, [start, 0], [count, dModel]), expertWi, expertWo, opts));
    }
    start += count;
  });
  return concat(outputs, 0);
}

export interface ExpertsOptions {
  numExperts: number; dModel: number; dFF: number; initScale: number; dtype: FloatDType; rng: Rng;
  /** Where the initialized weights live: where the backend made them by default (see `ExpertRunner.place`). */
  place?: (weight: Tensor, name: 'wi' | 'wo') => Tensor;
}

/**
 * The experts as a module: W_i [E, dModel, dFF] and W_o [E, dFF, dModel], registered as `wi` and
 * `wo` ('experts.wi', 'experts.wo' in a layer). Each expert's fan-in is its own dModel or dFF.
 */
export class Experts extends Module {
  readonly wi: Tensor;
  readonly wo: Tensor;

  constructor(opts: ExpertsOptions) {
    super();
    const { numExperts, dModel, dFF, rng, initScale: scale, dtype, place = (w) => w } = opts;
    this.wi = this.param('wi', place(init.truncatedNormal([numExperts, dModel, dFF], { rng, scale, dtype }), 'wi'));
    this.wo = this.param('wo', place(init.truncatedNormal([numExperts, dFF, dModel], { rng, scale, dtype }), 'wo'));
  }

  forward(buffers: Tensor, opts: FeedForwardOptions = {}): Tensor {
    return experts(buffers, this.wi, this.wo, opts);
  }

  /** The experts on a packed buffer (see `packedExperts`). */
  forwardPacked(rows: Tensor, rowsPerExpert: readonly number[], opts: FeedForwardOptions = {}): Tensor {
    return packedExperts(rows, this.wi, this.wo, rowsPerExpert, opts);
  }
}

/**
 * How a layer's experts run on the dispatched buffers: given to `SwitchLayer` as
 * `expertRunner`, so that the same layer can run its experts in this thread (the default) or
 * elsewhere, such as the worker-thread devices of `ExpertParallelLayer`.
 */
export interface ExpertRunner {
  /**
   * Keeps a freshly initialized expert weight ('wi' or 'wo') where `run` can reach it, and returns
   * the tensor the layer registers as that parameter; without it the weight stays where the backend made it.
   */
  place?(weight: Tensor, name: 'wi' | 'wo'): Tensor;
  /**
   * E_i on each expert's buffer: buffers [E, G·C, dModel] → outputs of the same shape, differentiable
   * in the buffers and in `experts.wi`, `experts.wo`. `assignment` says which slots are filled; when
   * it is packed (`assignment.padded` false) the buffers are its rows [rows, dModel], expert by expert.
   */
  run(experts: Experts, buffers: Tensor, opts: FeedForwardOptions, assignment: Assignment): Tensor;
}

/** The default runner, in this thread: every expert at once as one batched FFN, or expert by expert on packed rows. */
export const inThisThread: ExpertRunner = {
  run: (experts, buffers, opts, assignment) => (assignment.padded
    ? experts.forward(buffers, opts)
    : experts.forwardPacked(buffers, assignment.tokensPerExpert, opts)),
};
