import type { FloatDType } from '../dtype.js';
import { filled, sampled } from '../ops/creation.js';
import type { Rng } from '../random.js';
import { fmt, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';

/**
 * Parameter initializers, like torch.nn.init. Weights are stored [in, out] (see Linear), so the
 * last two dims of a shape are [fanIn, fanOut]; leading dims index independent matrices (one per
 * expert, say) and count towards neither.
 */

export interface InitOptions {
  dtype?: FloatDType;
}

export interface RandomInitOptions extends InitOptions {
  rng: Rng;
}

export function fans(shape: Shape): { fanIn: number; fanOut: number } {
  if (shape.length === 0) return { fanIn: 1, fanOut: 1 };
  if (shape.length === 1) return { fanIn: shape[0]!, fanOut: shape[0]! };
  return { fanIn: shape[shape.length - 2]!, fanOut: shape[shape.length - 1]! };
}

function checkPositive(op: string, what: string, value: number, shape: Shape): void {
  if (!(value > 0 && Number.isFinite(value))) throw new Error(`${op}: ${what} must be a finite number > 0, got ${value} (shape ${fmt(shape)})`);
}

/**
 * The Switch Transformer's initializer (Fedus et al. 2021, §2.4): a normal with mean 0 and
 * σ = sqrt(scale / fanIn), values beyond 2σ redrawn. As in Mesh TensorFlow, where the paper's
 * models were trained (tf.truncated_normal_initializer), σ is the std before truncation: the
 * values' own std is about 0.88σ. The paper's default scale is 1; it recommends 0.1 for stability.
 */
export function truncatedNormal(shape: Shape, opts: RandomInitOptions & { scale?: number; fanIn?: number }): Tensor {
  const { rng, scale = 1, fanIn = fans(shape).fanIn, dtype } = opts;
  checkPositive('truncatedNormal', 'scale', scale, shape);
  checkPositive('truncatedNormal', 'fanIn', fanIn, shape);
  const std = Math.sqrt(scale / fanIn);
  return sampled('truncatedNormal', shape, dtype ?? 'float32', () => std * rng.truncatedNormal());
}

/** Glorot & Bengio (2010): uniform in ±gain·sqrt(6 / (fanIn + fanOut)), as torch's xavier_uniform_. */
export function xavierUniform(shape: Shape, opts: RandomInitOptions & { gain?: number }): Tensor {
  const { rng, gain = 1, dtype } = opts;
  const { fanIn, fanOut } = fans(shape);
  checkPositive('xavierUniform', 'fanIn + fanOut', fanIn + fanOut, shape);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return sampled('xavierUniform', shape, dtype ?? 'float32', () => rng.uniform(-bound, bound));
}

/**
 * He et al. (2015): uniform in ±gain·sqrt(3 / fanIn), which gives std gain/sqrt(fanIn). The
 * default gain √2 suits ReLU, as torch's kaiming_uniform_(nonlinearity='relu').
 */
export function kaimingUniform(shape: Shape, opts: RandomInitOptions & { gain?: number; fanIn?: number }): Tensor {
  const { rng, gain = Math.SQRT2, fanIn = fans(shape).fanIn, dtype } = opts;
  checkPositive('kaimingUniform', 'fanIn', fanIn, shape);
  const bound = gain * Math.sqrt(3 / fanIn);
  return sampled('kaimingUniform', shape, dtype ?? 'float32', () => rng.uniform(-bound, bound));
}

export function zeros(shape: Shape, opts: InitOptions = {}): Tensor {
  return filled('zeros', shape, 0, opts.dtype ?? 'float32');
}

export function ones(shape: Shape, opts: InitOptions = {}): Tensor {
  return filled('ones', shape, 1, opts.dtype ?? 'float32');
}
