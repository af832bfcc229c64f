import type { ModelCost } from './cost.js';
import type { RouteKnobs, RouteResult } from './route.js';

/**
 * The messages between the page and the worker, which does all of the page's tensor computation
 * (one script, trainer.worker.ts, in two kinds of instance): training, in a fresh instance per run,
 * and the route view's and cost table's numbers, in one instance that lives as long as the page
 * and stays on the cpu backend.
 */

export interface TrainKnobs {
  numExperts: number;
  topK: number;
  capacityFactor: number;
  /** α of the balance loss. */
  balanceCoef: number;
  /** Weight of the router z-loss (ST-MoE eq. 5). */
  zLossCoef: number;
  lr: number;
  seed: number;
}

export const trainDefaults: TrainKnobs = { numExperts: 4, topK: 1, capacityFactor: 1.25, balanceCoef: 0.01, zLossCoef: 0.001, lr: 3e-3, seed: 1 };

/** The backends the page offers: the cpu backend, and the gpu backend in two of gpu.js's modes. */
export const backendChoices = ['cpu', 'webgl2', 'webasm'] as const;
export type BackendChoice = (typeof backendChoices)[number];

export type ModelName = 'switch' | 'dense';

/** What the page asks to be computed: one SwitchLayer forward pass, or the cost table. */
export type ComputeRequest = { kind: 'route'; knobs: RouteKnobs } | { kind: 'cost'; knobs: TrainKnobs };
export interface ComputeResults {
  route: RouteResult;
  cost: Record<ModelName, ModelCost>;
}

export type ToWorker =
  | { type: 'start'; knobs: TrainKnobs; backend: BackendChoice }
  | { type: 'pause' }
  | { type: 'resume' }
  /** Answered with a 'computed' of the same id. */
  | { type: 'compute'; id: number; request: ComputeRequest };

/** One training step of one model. */
export interface StepReport {
  model: ModelName;
  step: number;
  /** Cross-entropy: the loss both models are compared on. */
  loss: number;
  /** Switch only: Σ over switch layers of α·balance + zLossCoef·z, added to the loss it trains on. */
  auxLoss?: number;
  /** Training FLOPs so far (forward, backward, optimizer), counted by the profiler. */
  flops: number;
  /** This step's wall time. Step 1 includes compiling the kernels (on webgl2, its shaders). */
  seconds: number;
  /** Tokens per second from step 2 on (at step 1: step 1's), so the first step's compiling does not swamp it. */
  tokensPerSecond: number;
  /** Switch only: tokens each expert processed, its capacity, the dropped fraction, router entropy. */
  load?: { tokensPerExpert: number[]; capacity: number; droppedFraction: number; routerEntropy: number };
}

/** What a training instance reports of its run. */
export type TrainMessage =
  /** `backend`: what getBackend() says runs, e.g. "gpu (webgl2)". */
  | { type: 'ready'; backend: string; params: Record<ModelName, number>; groupNames: readonly string[] }
  /** [sub-language][expert]: first choices of the switch layers, decayed over steps. */
  | { type: 'steps'; reports: StepReport[]; heat: number[][] }
  | { type: 'error'; message: string };

/** The answer to compute request `id`: its result, or the error it threw (an impossible knob combination, too long a text). */
export type Computed = { type: 'computed'; id: number } & ({ result: ComputeResults[ComputeRequest['kind']] } | { error: string });

export type FromWorker = TrainMessage | Computed;
