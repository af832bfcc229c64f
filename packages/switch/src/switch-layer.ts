import { Module, Rng, broadcastTo, sum, type Tensor } from '@switch-ts/tensor';
import { assignCapacity, expertCapacity, routingModes, type Assignment, type RoutingMode } from './capacity.js';
import { fmt, requireFloatDType, requireInteger, requireMask, requireTensor, type FloatDType } from './checks.js';
import { combine } from './combine.js';
import { dispatch } from './dispatch.js';
import { Experts, inThisThread, type ExpertRunner } from './experts.js';
import { activations, type Activation, type FeedForwardOptions } from './feed-forward.js';
import { balanceScopes, loadBalancingLoss, routerZLoss, type BalanceScope } from './losses.js';
import { expertLoad, updatedBias } from './loss-free.js';
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
  /**
   * m, fine-grained expert segmentation (DeepSeekMoE, Dai et al. 2024, §3.1): each of the
   * numExperts experts is split into m experts of dFF / m hidden units and each token is routed to
   * m·topK of them, so the FLOPs per token stay those of the unsplit layer; default 1.
   */
  expertSegments?: number;
  /**
   * K_s, shared-expert isolation (DeepSeekMoE §3.2): K_s of the m·numExperts fine-grained experts
   * process every token outside the routing, and the router picks m·topK − K_s of the other
   * m·numExperts − K_s, so the FLOPs per token stay the same; default 0.
   */
  sharedExperts?: number;
  /**
   * How the load is balanced: 'aux-loss' (Switch eqs. 4–6, weighted by balanceCoef; the default),
   * 'loss-free' (Wang et al. 2024: a per-expert selection bias, moved by `updateBias()` after each
   * optimizer step; no balance term in auxLoss), or 'none' (neither; the stats still report the
   * balance loss).
   */
  balance?: BalanceMode;
  /** γ of the loss-free bias update b_i ← b_i + γ·sign(c̄ − c_i); default 0.001 (DeepSeek-V3). Only with balance: 'loss-free'. */
  biasUpdateRate?: number;
  /** Where the balance loss counts f_i: 'group' (Switch, the default) or 'batch' (Qiu et al. 2025: every group of the call). */
  balanceScope?: BalanceScope;
  /**
   * true (the default): the experts compute E × capacity slots per group, empty ones included
   * (static shapes, as in the Switch paper); false: only the routed tokens' rows (MegaBlocks, Gale
   * et al. 2023), so the FLOPs follow the routed tokens. Same outputs and gradients either way.
   */
  padToCapacity?: boolean;
}

export type BalanceMode = 'aux-loss' | 'loss-free' | 'none';
export const balanceModes: readonly BalanceMode[] = ['aux-loss', 'loss-free', 'none'];

/**
 * The experts the layer actually has once fine-grained segmentation and shared experts are
 * applied (DeepSeekMoE eqs. 9–11): m·N − K_s routed experts of dFF / m hidden units, each token
 * choosing m·k − K_s of them, and K_s shared ones. With m = 1 and K_s = 0 it is Switch's E and k.
 */
export interface ExpertLayout {
  routedExperts: number;
  routedTopK: number;
  sharedExperts: number;
  /** Hidden units of each routed and shared expert: dFF / m. */
  expertDFF: number;
}

export function expertLayout(c: Pick<SwitchLayerConfig, 'numExperts' | 'topK' | 'dFF' | 'expertSegments' | 'sharedExperts'>): ExpertLayout {
  const m = c.expertSegments, shared = c.sharedExperts;
  return { routedExperts: m * c.numExperts - shared, routedTopK: m * c.topK - shared, sharedExperts: shared, expertDFF: c.dFF / m };
}

/** Plain numbers describing one forward pass, for logging. */
export interface SwitchStats {
  /** Slots per expert per group. */
  expertCapacity: number;
  /** Tokens each routed expert processed (after capacity), summed over groups. */
  tokensPerExpert: number[];
  /** Fraction of the unmasked tokens that no routed expert processed (their output is zero, or the shared experts' alone). */
  droppedFraction: number;
  /** Mean over unmasked tokens of the router distribution's entropy −Σ p log p (nats). */
  routerEntropy: number;
  /** Mean over unmasked tokens of the largest router probability. */
  meanTopProb: number;
  /** The balance loss before α (1 = perfectly balanced), in the layer's balanceScope, whatever its balance mode. */
  balanceLoss: number;
  /** The router z-loss before its coefficient. */
  zLoss: number;
}

export interface SwitchOutput {
  /** Same shape as the input; zero rows for padding tokens, and for dropped tokens unless shared experts serve them. */
  output: Tensor;
  /** α·balance + zLossCoef·z (z alone unless balance is 'aux-loss'), to add to the model's loss (one term per switch layer). */
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
  /** W_r [dModel, E]: 'router.weight' (E = the routed experts, `layout.routedExperts`). */
  readonly router: Router;
  /** Stacked expert weights: 'experts.wi' [E, dModel, dFF] and 'experts.wo' [E, dFF, dModel] (dFF = `layout.expertDFF`). */
  readonly experts: Experts;
  /** The K_s shared experts, 'shared.wi' [K_s, dModel, dFF/m] and 'shared.wo'; absent when sharedExperts is 0. */
  readonly shared: Experts | undefined;
  readonly layout: Readonly<ExpertLayout>;
  /** b of loss-free balancing, one per routed expert; zeros unless balance is 'loss-free'. */
  private bias: number[];
  /** c_i since the last `updateBias()`: the router choices of the training forwards. */
  private load: number[];
  /** Owned by the layer, so that a seed fixes the initialization, the jitter and the dropout masks. */
  private readonly rng: Rng;
  private readonly expertRunner: ExpertRunner;

  constructor(opts: SwitchLayerOptions) {
    super();
    this.config = switchLayerConfig(opts);
    const { dModel, initScale, dtype } = this.config;
    this.layout = expertLayout(this.config);
    const { routedExperts, sharedExperts, expertDFF } = this.layout;
    this.rng = new Rng(opts.seed ?? 0);
    this.expertRunner = opts.expertRunner ?? inThisThread;
    this.router = this.module('router', new Router({ dModel, numExperts: routedExperts, initScale, dtype, rng: this.rng }));
    this.experts = this.module('experts', new Experts({
      numExperts: routedExperts, dModel, dFF: expertDFF, initScale, dtype, rng: this.rng,
      place: (weight, name) => this.expertRunner.place?.(weight, name) ?? weight,
    }));
    // Drawn after the routed experts, so that a layer without shared experts initializes as before.
    this.shared = sharedExperts > 0
      ? this.module('shared', new Experts({ numExperts: sharedExperts, dModel, dFF: expertDFF, initScale, dtype, rng: this.rng }))
      : undefined;
    this.bias = new Array<number>(routedExperts).fill(0);
    this.load = new Array<number>(routedExperts).fill(0);
  }

  /** b_i of loss-free balancing (Wang et al. 2024), one per routed expert. */
  get expertBias(): number[] {
    return this.bias.slice();
  }

  /** Restores b (from a checkpoint, say: b is state, not a parameter, so optimizers and safetensors files do not hold it). */
  setExpertBias(bias: readonly number[]): void {
    const E = this.layout.routedExperts;
    if (!Array.isArray(bias) || bias.length !== E || !bias.every(Number.isFinite)) {
      throw new Error(`${this.constructor.name}.setExpertBias: expected ${E} finite numbers (one per routed expert), got ${Array.isArray(bias) ? `[${bias.join(', ')}]` : String(bias)}`);
    }
    this.bias = bias.slice();
  }

  /**
   * Loss-free balancing's update (Wang et al. 2024, Algorithm 1), to call once per training step
   * after the optimizer step: b_i ← b_i + γ·sign(c̄ − c_i), with c_i the router choices of expert i
   * over the training forwards since the last call (every micro-batch of the step); then the count
   * restarts. Not automatic in `forward`, so that a forward stays a function of the parameters and
   * the bias (repeated forwards, finite differences and eval runs change nothing). Returns b.
   */
  updateBias(): number[] {
    const { balance, biasUpdateRate } = this.config;
    if (balance !== 'loss-free') throw new Error(`${this.constructor.name}.updateBias: balance is '${balance}'; only balance: 'loss-free' has a bias to update`);
    this.bias = updatedBias(this.bias, this.load, biasUpdateRate);
    this.load.fill(0);
    return this.expertBias;
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

    const { routedExperts, routedTopK } = this.layout;

    // Eq. 1 over the routed experts (DeepSeekMoE eq. 11); jitter and expert dropout act in training
    // only. Loss-free balancing biases the choice, not the gates (Wang et al. 2024, eq. 3).
    const router = this.router.forward(x, {
      topK: routedTopK, normalizeTopK: c.normalizeTopK, dtype: c.routerDtype,
      jitter: this.training ? c.jitter : 0, rng: this.rng,
      ...(c.balance === 'loss-free' && { selectionBias: this.bias }),
    });
    if (c.balance === 'loss-free' && this.training) {
      expertLoad(router.expertIndex, routedExperts, mask ? { mask } : {}).forEach((n, e) => (this.load[e]! += n));
    }
    // Eq. 3, then the slots: integer bookkeeping, not differentiated (see capacity.ts). Unpadded,
    // the experts compute only the routed rows (MegaBlocks).
    const capacity = expertCapacity({
      groupSize, numExperts: routedExperts, topK: routedTopK, minCapacity: c.minCapacity,
      capacityFactor: this.training ? c.capacityFactor : c.evalCapacityFactor,
    });
    const assignment = assignCapacity({
      probs: router.probs, expertIndex: router.expertIndex, capacity, routing: c.routing, pad: c.padToCapacity, ...(mask && { mask }),
    });
    const buffers = dispatch(x, assignment);
    const ffn = { activation: c.activation, dropout: this.training ? c.expertDropout : 0, rng: this.rng };
    const expertOutputs = this.expertRunner.run(this.experts, buffers, ffn, assignment);
    // Eq. 2; shared experts add outside the routing, ungated (DeepSeekMoE eq. 9).
    const routed = combine(expertOutputs, assignment, router);
    const output = (this.shared ? routed.add(this.sharedOutput(x, mask, ffn)) : routed).reshape(x.shape);

    // Eqs. 4–6 (f_i per group or per batch, Qiu et al. 2025) and ST-MoE eq. 5; the coefficients
    // are applied here, not by the loss functions.
    const lossOpts = mask ? { mask } : {};
    const balanceLoss = loadBalancingLoss(router.probs, router.expertIndex, { ...lossOpts, scope: c.balanceScope });
    const zLoss = routerZLoss(router.logits, lossOpts);
    const auxLoss = (c.balance === 'aux-loss' ? balanceLoss.mul(c.balanceCoef).add(zLoss.mul(c.zLossCoef)) : zLoss.mul(c.zLossCoef)).cast(c.dtype);
    const routing = { probs: router.probs, expertIndex: router.expertIndex, assignment };
    return { output, auxLoss, routing, stats: statsOf(router, assignment, balanceLoss, zLoss, mask) };
  }

  /** Σ_{i ≤ K_s} FFN_i(x) for every token (DeepSeekMoE eq. 9's first sum), zero for padding: [T, dModel]. */
  private sharedOutput(x: Tensor, mask: Tensor | undefined, ffn: FeedForwardOptions): Tensor {
    const shared = this.shared!;
    const tokens = x.reshape([-1, this.config.dModel]);
    const perExpert = shared.forward(broadcastTo(tokens, [this.layout.sharedExperts, ...tokens.shape]), ffn);
    const output = sum(perExpert, 0);
    return mask === undefined ? output : output.mul(mask.ne(0).cast(output.dtype).reshape([-1, 1]));
  }
}

/**
 * The stats, but that the router distribution's two (entropy and top probability) are computed
 * from a copy of p when first read: they take a log per probability, which at E = 64 cost as much
 * as a tenth of the layer's forward, and a training step that does not log them should not pay it.
 * They are own enumerable getters, so a spread or JSON of the stats still shows them.
 */
function statsOf(router: RouterOutput, a: Assignment, balanceLoss: Tensor, zLoss: Tensor, mask: Tensor | undefined): SwitchStats {
  const p = router.probs.dataSync(), m = mask?.dataSync();
  const tokens = Math.max(a.tokens, 1);
  let distribution: { entropy: number; topProb: number } | undefined;
  const measured = () => (distribution ??= routerDistribution(p, m, a.numGroups * a.groupSize, a.numExperts));
  const stats = {
    expertCapacity: a.capacity,
    tokensPerExpert: a.tokensPerExpert,
    droppedFraction: a.droppedTokens / tokens,
    balanceLoss: balanceLoss.item(),
    zLoss: zLoss.item(),
  };
  return Object.defineProperties(stats as typeof stats & Pick<SwitchStats, 'routerEntropy' | 'meanTopProb'>, {
    routerEntropy: { get: () => measured().entropy / tokens, enumerable: true },
    meanTopProb: { get: () => measured().topProb / tokens, enumerable: true },
  });
}

/** Σ over unmasked tokens of the router distribution's entropy −Σ p log p, and of its largest probability. */
function routerDistribution(p: ArrayLike<number>, m: ArrayLike<number> | undefined, T: number, E: number): { entropy: number; topProb: number } {
  let entropy = 0, topProb = 0;
  for (let t = 0; t < T; t++) {
    if (m !== undefined && m[t] === 0) continue;
    let top = 0;
    for (let e = 0; e < E; e++) {
      const pe = p[t * E + e]!;
      if (pe > 0) entropy -= pe * Math.log(pe);
      top = Math.max(top, pe);
    }
    topProb += top;
  }
  return { entropy, topProb };
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
    expertSegments: opts.expertSegments ?? 1,
    sharedExperts: opts.sharedExperts ?? 0,
    balance: opts.balance ?? 'aux-loss',
    biasUpdateRate: opts.biasUpdateRate ?? 0.001,
    balanceScope: opts.balanceScope ?? 'group',
    padToCapacity: opts.padToCapacity ?? true,
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
  requireRoutingSinceSwitch(op, c, opts);
  return c;
}

/** The options of the methods after Switch: fine-grained and shared experts, balance, scope, padding. */
function requireRoutingSinceSwitch(op: string, c: SwitchLayerConfig, opts: SwitchLayerOptions): void {
  const m = c.expertSegments;
  requireInteger(op, 'expertSegments', m, 1);
  if (c.dFF % m !== 0) throw new Error(`${op}: dFF = ${c.dFF} is not divisible by expertSegments = ${m}: each fine-grained expert has dFF / m hidden units`);
  if (!Number.isInteger(c.sharedExperts) || c.sharedExperts < 0 || c.sharedExperts > m * c.topK - 1) {
    throw new Error(`${op}: sharedExperts must be an integer in [0, ${m * c.topK - 1}] (expertSegments · topK − 1, leaving each token at least one routed expert), got ${c.sharedExperts}`);
  }
  if (!balanceModes.includes(c.balance)) throw new Error(`${op}: balance must be one of ${balanceModes.join(', ')}, got '${c.balance}'`);
  if (!balanceScopes.includes(c.balanceScope)) throw new Error(`${op}: balanceScope must be one of ${balanceScopes.join(', ')}, got '${c.balanceScope}'`);
  if (!(c.biasUpdateRate >= 0 && Number.isFinite(c.biasUpdateRate))) throw new Error(`${op}: biasUpdateRate must be a finite number ≥ 0, got ${c.biasUpdateRate}`);
  if (opts.biasUpdateRate !== undefined && c.balance !== 'loss-free') {
    throw new Error(`${op}: biasUpdateRate = ${opts.biasUpdateRate} applies only to balance: 'loss-free', got balance: '${c.balance}'`);
  }
  if (c.balance === 'loss-free' && c.routing === 'experts-choose') {
    throw new Error(`${op}: balance: 'loss-free' biases the tokens' choice of experts, but routing: 'experts-choose' lets the experts choose (balanced by construction); use balance: 'none'`);
  }
  if (typeof c.padToCapacity !== 'boolean') throw new Error(`${op}: padToCapacity must be true or false, got ${String(c.padToCapacity)}`);
}
