import { Module, Rng, type Tensor } from '@switch-ts/tensor';
import { assignCapacity, expertCapacity, routingModes, type Assignment, type RoutingMode } from './capacity.js';
import { fmt, requireFloatDType, requireInteger, requireMask, requireTensor, type FloatDType } from './checks.js';
import { combine } from './combine.js';
import { dispatch } from './dispatch.js';
import { Experts, inThisThread, type ExpertRunner } from './experts.js';
import { activations, type Activation } from './feed-forward.js';
import { loadBalancingLoss, routerZLoss } from './losses.js';
import { Router, type RouterOutput } from './router.js';

export interface SwitchLayerOptions {
  dModel: number;
  dFF: number;
  numExperts: number;
  /** Experts per token: 1 = Switch (default); numExperts = the dense MoE ensemble. */
  topK?: number;
  /** Capacity factor in training (eq. 3), default 1.25; Infinity = dropless. */
  capacityFactor?: number;
  /** Capacity factor in eval, default 2.0. */
  evalCapacityFactor?: number;
  minCapacity?: number;
  routing?: RoutingMode;
  /** Renormalize the k gates to sum to 1 (ignored for k = 1); default true. */
  normalizeTopK?: boolean;
  /** ε of the multiplicative router-input noise U(1±ε), training only; default 0. */
  jitter?: number;
  /** Dropout rate inside the experts (Switch §2.4's expert dropout), training only; default 0. */
  expertDropout?: number;
  activation?: Activation;
  /** α of the balance loss (eq. 4), default 0.01. */
  balanceCoef?: number;
  /** Weight of the router z-loss (ST-MoE eq. 5), default 0.001. */
  zLossCoef?: number;
  /** Selective precision: the router's dtype whatever the layer's (Switch §2.4). */
  routerDtype?: FloatDType;
  /** Initialization scale s: weights ~ truncated normal with σ = √(s / fanIn) before truncation at 2σ; default 0.1 (§2.4). */
  initScale?: number;
  dtype?: FloatDType;
  seed?: number;
  /** How the experts run on the dispatched buffers; default: all at once, in this thread. */
  expertRunner?: ExpertRunner;
}

/** Plain numbers describing one forward pass, for logging. */
export interface SwitchStats {
  /** Slots per expert per group. */
  expertCapacity: number;
  /** Tokens each expert processed (after capacity), summed over groups. */
  tokensPerExpert: number[];
  /** Fraction of the unmasked tokens that no expert processed (their output is zero). */
  droppedFraction: number;
  /** Mean over unmasked tokens of the router distribution's entropy −Σ p log p (nats). */
  routerEntropy: number;
  /** Mean over unmasked tokens of the largest router probability. */
  meanTopProb: number;
  /** The balance loss before α (1 = perfectly balanced). */
  balanceLoss: number;
  /** The router z-loss before its coefficient. */
  zLoss: number;
}

export interface SwitchOutput {
  /** Same shape as the input; zero rows for dropped and padding tokens. */
  output: Tensor;
  /** α·balance + zLossCoef·z, to add to the model's loss (one term per switch layer). */
  auxLoss: Tensor;
  /**
   * What the router decided: p(x) [...groups, S, E] and each token's k choices before capacity,
   * int32 [...groups, S, k] (both as `route` returns them), and which routes capacity kept.
   */
  routing: Pick<RouterOutput, 'probs' | 'expertIndex'> & { assignment: Assignment };
  stats: SwitchStats;
}

/** The options with their defaults filled in, checked. */
export type SwitchLayerConfig = Required<Omit<SwitchLayerOptions, 'seed' | 'routerDtype' | 'expertRunner'>> & { routerDtype: FloatDType };

/**
 * A Switch Transformer layer (Fedus, Zoph & Shazeer 2021), replacing a Transformer's FFN. It reads
 * as the paper: route → assignCapacity → dispatch → experts → combine → losses.
 * Input [G, S, dModel] (G groups of S tokens; more leading dims are more groups) or [S, dModel].
 */
export class SwitchLayer extends Module {
  readonly config: Readonly<SwitchLayerConfig>;
  /** W_r [dModel, E]: 'router.weight'. */
  readonly router: Router;
  /** Stacked expert weights: 'experts.wi' [E, dModel, dFF] and 'experts.wo' [E, dFF, dModel]. */
  readonly experts: Experts;
  /** Owned by the layer, so that a seed fixes the initialization, the jitter and the dropout masks. */
  private readonly rng: Rng;
  private readonly expertRunner: ExpertRunner;

  constructor(opts: SwitchLayerOptions) {
    super();
    this.config = switchLayerConfig(opts);
    const { dModel, dFF, numExperts, initScale, dtype } = this.config;
    this.rng = new Rng(opts.seed ?? 0);
    this.expertRunner = opts.expertRunner ?? inThisThread;
    this.router = this.module('router', new Router({ dModel, numExperts, initScale, dtype, rng: this.rng }));
    this.experts = this.module('experts', new Experts({
      numExperts, dModel, dFF, initScale, dtype, rng: this.rng,
      place: (weight, name) => this.expertRunner.place?.(weight, name) ?? weight,
    }));
  }

  forward(x: Tensor, opts: { mask?: Tensor } = {}): SwitchOutput {
    const c = this.config;
    const { mask } = opts;
    const op = `${this.constructor.name}.forward`;
    requireTensor(op, 'x', x);
    if (x.rank < 2 || x.shape[x.rank - 1] !== c.dModel) {
      throw new Error(`${op}: input ${fmt(x.shape)} must be [..., S, dModel] with dModel = ${c.dModel}; its last dimension is ${x.shape[x.rank - 1]}`);
    }
    if (x.dtype !== c.dtype) {
      throw new Error(`${op}: input dtype ${x.dtype} does not match the layer's dtype ${c.dtype}; cast the input with x.cast('${c.dtype}')`);
    }
    if (mask !== undefined) requireMask(op, mask, x.shape.slice(0, -1));
    const groupSize = x.shape[x.rank - 2]!;

    // Eq. 1; jitter and expert dropout act in training only.
    const router = this.router.forward(x, {
      topK: c.topK, normalizeTopK: c.normalizeTopK, dtype: c.routerDtype,
      jitter: this.training ? c.jitter : 0, rng: this.rng,
    });
    // Eq. 3, then the slots: integer bookkeeping, not differentiated (see capacity.ts).
    const capacity = expertCapacity({
      groupSize, numExperts: c.numExperts, topK: c.topK, minCapacity: c.minCapacity,
      capacityFactor: this.training ? c.capacityFactor : c.evalCapacityFactor,
    });
    const assignment = assignCapacity({ probs: router.probs, expertIndex: router.expertIndex, capacity, routing: c.routing, ...(mask && { mask }) });
    const buffers = dispatch(x, assignment);
    const expertOutputs = this.expertRunner.run(this.experts, buffers, {
      activation: c.activation, dropout: this.training ? c.expertDropout : 0, rng: this.rng,
    }, assignment);
    // Eq. 2.
    const output = combine(expertOutputs, assignment, router).reshape(x.shape);

    // Eqs. 4–6 and ST-MoE eq. 5; the coefficients are applied here, not by the loss functions.
    const lossOpts = mask ? { mask } : {};
    const balanceLoss = loadBalancingLoss(router.probs, router.expertIndex, lossOpts);
    const zLoss = routerZLoss(router.logits, lossOpts);
    const auxLoss = balanceLoss.mul(c.balanceCoef).add(zLoss.mul(c.zLossCoef)).cast(c.dtype);
    const routing = { probs: router.probs, expertIndex: router.expertIndex, assignment };
    return { output, auxLoss, routing, stats: statsOf(router, assignment, balanceLoss, zLoss, mask) };
  }
}

function statsOf(router: RouterOutput, a: Assignment, balanceLoss: Tensor, zLoss: Tensor, mask: Tensor | undefined): SwitchStats {
  const p = router.probs.dataSync(), m = mask?.dataSync();
  const E = a.numExperts;
  let entropy = 0, topProb = 0;
  for (let t = 0; t < a.numGroups * a.groupSize; t++) {
    if (m !== undefined && m[t] === 0) continue;
    let top = 0;
    for (let e = 0; e < E; e++) {
      const pe = p[t * E + e]!;
      if (pe > 0) entropy -= pe * Math.log(pe);
      top = Math.max(top, pe);
    }
    topProb += top;
  }
  const tokens = Math.max(a.tokens, 1);
  return {
    expertCapacity: a.capacity,
    tokensPerExpert: a.tokensPerExpert,
    droppedFraction: a.droppedTokens / tokens,
    routerEntropy: entropy / tokens,
    meanTopProb: topProb / tokens,
    balanceLoss: balanceLoss.item(),
    zLoss: zLoss.item(),
  };
}

/** Fills in the defaults and checks every option, naming it and its value. */
export function switchLayerConfig(opts: SwitchLayerOptions): SwitchLayerConfig {
  const op = 'SwitchLayer';
  if (typeof opts !== 'object' || opts === null) throw new Error(`${op}: options must be an object`);
  const dtype = opts.dtype ?? 'float32';
  const c: SwitchLayerConfig = {
    dModel: opts.dModel, dFF: opts.dFF, numExperts: opts.numExperts,
    topK: opts.topK ?? 1,
    capacityFactor: opts.capacityFactor ?? 1.25,
    evalCapacityFactor: opts.evalCapacityFactor ?? 2.0,
    minCapacity: opts.minCapacity ?? 1,
    routing: opts.routing ?? 'tokens-choose',
    normalizeTopK: opts.normalizeTopK ?? true,
    jitter: opts.jitter ?? 0,
    expertDropout: opts.expertDropout ?? 0,
    activation: opts.activation ?? 'relu',
    balanceCoef: opts.balanceCoef ?? 0.01,
    zLossCoef: opts.zLossCoef ?? 0.001,
    initScale: opts.initScale ?? 0.1,
    dtype,
    routerDtype: opts.routerDtype ?? dtype,
  };
  requireInteger(op, 'dModel', c.dModel, 1);
  requireInteger(op, 'dFF', c.dFF, 1);
  requireInteger(op, 'numExperts', c.numExperts, 1);
  requireInteger(op, 'topK', c.topK, 1, c.numExperts);
  requireInteger(op, 'minCapacity', c.minCapacity, 0);
  const positive = { capacityFactor: c.capacityFactor, evalCapacityFactor: c.evalCapacityFactor, initScale: c.initScale };
  for (const [name, v] of Object.entries(positive)) {
    if (!(v > 0)) throw new Error(`${op}: ${name} must be > 0${name.includes('apacity') ? ' (Infinity = dropless)' : ''}, got ${v}`);
  }
  for (const [name, v] of Object.entries({ jitter: c.jitter, expertDropout: c.expertDropout })) {
    if (!(v >= 0 && v < 1)) throw new Error(`${op}: ${name} must be in [0, 1), got ${v}`);
  }
  for (const [name, v] of Object.entries({ balanceCoef: c.balanceCoef, zLossCoef: c.zLossCoef })) {
    if (!(v >= 0 && Number.isFinite(v))) throw new Error(`${op}: ${name} must be a finite number ≥ 0, got ${v}`);
  }
  if (!routingModes.includes(c.routing)) throw new Error(`${op}: routing must be one of ${routingModes.join(', ')}, got '${c.routing}'`);
  if (!activations.includes(c.activation)) throw new Error(`${op}: activation must be one of ${activations.join(', ')}, got '${c.activation}'`);
  if (opts.expertRunner !== undefined && typeof opts.expertRunner?.run !== 'function') {
    throw new Error(`${op}: expertRunner must have a run(experts, buffers, opts, assignment) method`);
  }
  requireFloatDType(op, 'dtype', c.dtype);
  requireFloatDType(op, 'routerDtype', c.routerDtype);
  return c;
}
