import { keep, noGrad, tidy } from '../engine.js';
import { zerosLike } from '../ops/creation.js';
import { fmt } from '../shape.js';
import { Tensor } from '../tensor.js';

/** A parameter's optimizer state, as torch keeps it: its own step count and its buffers. */
export interface ParamState {
  /** Updates applied to this parameter, this one included (a parameter without a grad is skipped). */
  step: number;
  /** The optimizer's running buffers (momentum, moments), zeros of the parameter's shape at first. */
  readonly buffers: readonly Tensor[];
}

const rules = {
  positive: [(v: number) => v > 0 && Number.isFinite(v), 'a finite number > 0'],
  nonNegative: [(v: number) => v >= 0 && Number.isFinite(v), 'a finite number ≥ 0'],
  fraction: [(v: number) => v >= 0 && v < 1, 'in [0, 1)'],
} as const;

/** Throws "<Optimizer>: <option> must be <rule>, got <value>" for an invalid hyperparameter. */
export function checkOption(optimizer: string, option: string, value: number, rule: keyof typeof rules): void {
  const [valid, description] = rules[rule];
  if (typeof value !== 'number' || !valid(value)) throw new Error(`${optimizer}: ${option} must be ${description}, got ${value}`);
}

/**
 * What every optimizer shares: the parameter list, per-parameter state made on first use, and
 * one `step` that updates each parameter that has a gradient, in place and unrecorded, disposing
 * its temporaries. A subclass writes only `update`, the rule for one parameter.
 */
export abstract class Optimizer {
  readonly params: readonly Tensor[];
  /** The learning rate; assign to it between steps for a schedule. */
  lr: number;
  /** How many buffers `update` needs per parameter. */
  protected abstract readonly bufferCount: number;
  private readonly state = new Map<Tensor, ParamState>();

  constructor(params: readonly Tensor[], lr: number) {
    const name = new.target.name;
    if (!Array.isArray(params) || params.length === 0) throw new Error(`${name}: needs a non-empty array of parameters, e.g. model.parameters()`);
    params.forEach((p, i) => {
      if (!(p instanceof Tensor)) throw new Error(`${name}: parameter ${i} is not a Tensor`);
      if (!p.requiresGrad || p.gradNode) {
        throw new Error(`${name}: parameter ${i} (shape ${fmt(p.shape)}) must be a leaf tensor that requires grad`);
      }
      if (params.indexOf(p) !== i) throw new Error(`${name}: parameter ${i} (shape ${fmt(p.shape)}) repeats parameter ${params.indexOf(p)}`);
    });
    checkOption(name, 'lr', lr, 'positive');
    this.params = params.slice();
    this.lr = lr;
  }

  step(): void {
    noGrad(() => tidy(() => {
      for (const p of this.params) {
        if (!p.grad) continue;
        const state = this.stateOf(p);
        state.step++;
        this.update(p, p.grad, state);
      }
    }));
  }

  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  /** Updates `param` (and its state buffers) in place with `assign`; runs under noGrad and tidy. */
  protected abstract update(param: Tensor, grad: Tensor, state: ParamState): void;

  private stateOf(p: Tensor): ParamState {
    let state = this.state.get(p);
    if (!state) {
      // keep: the buffers outlive the tidy scope of the step that creates them.
      state = { step: 0, buffers: Array.from({ length: this.bufferCount }, () => keep(zerosLike(p))) };
      this.state.set(p, state);
    }
    return state;
  }
}
