import { afterEach, describe, expect, it } from 'vitest';
import * as T from '@switch-ts/tensor';
import { Rng, setDebug, tensor, type DType, type Tensor } from '@switch-ts/tensor';

/**
 * Bad input fails loudly and helpfully: every op throws an Error whose message names the op the
 * caller used and the shapes involved (written as [2,3]), so that a user can find the faulty call
 * from the message alone.
 */

/** Asserts that `fn` throws an Error whose message contains every one of `parts`. */
function expectError(fn: () => unknown, ...parts: string[]): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error, `expected a throw naming ${parts.join(', ')}`).toBeInstanceOf(Error);
  const message = (error as Error).message;
  for (const part of parts) expect(message, `message ${JSON.stringify(message)} should contain ${JSON.stringify(part)}`).toContain(part);
}

const f32 = (shape: number[]): Tensor => T.ones(shape);
const f64 = (shape: number[]): Tensor => T.ones(shape, 'float64');
const i32 = (values: number[], shape = [values.length]): Tensor => tensor(values, { shape, dtype: 'int32' });

describe('shape mismatches name the op and both shapes', () => {
  it('matmul with inner dimensions that differ', () => {
    expectError(() => T.matmul(f32([2, 3]), f32([4, 5])), 'matmul', '[2,3]', '[4,5]');
    expectError(() => T.matmul(f32([3]), f32([4])), 'matmul', '[3]', '[4]');
    expectError(() => T.matmul(f32([2, 2, 3]), f32([5])), 'matmul', '[2,2,3]', '[5]');
  });

  it('matmul with batch dims that do not broadcast', () => {
    expectError(() => T.matmul(f32([2, 2, 3]), f32([3, 3, 4])), 'matmul', '[2,2,3]', '[3,3,4]');
  });

  it('matmul of 0-d operands or of different dtypes', () => {
    expectError(() => T.matmul(f32([]), f32([2])), 'matmul', '[]', '[2]');
    expectError(() => T.matmul(f32([2, 3]), f64([3, 2])), 'matmul', '[2,3]', '[3,2]', 'float32', 'float64');
  });

  it('elementwise ops whose shapes do not broadcast', () => {
    const ops: [string, (a: Tensor, b: Tensor) => Tensor][] = [
      ['add', T.add], ['sub', T.sub], ['mul', T.mul], ['div', T.div], ['pow', T.pow],
      ['maximum', T.maximum], ['minimum', T.minimum], ['eq', T.eq], ['lt', T.lt], ['ge', T.ge],
    ];
    for (const [name, op] of ops) expectError(() => op(f32([2, 3]), f32([4, 3])), name, '[2,3]', '[4,3]');
  });

  it('where with a condition that does not broadcast', () => {
    expectError(() => T.where(i32([1, 0, 1]), f32([2, 2]), f32([2, 2])), 'where', '[3]', '[2,2]');
  });

  it('broadcastTo a shape that does not contain the input\'s', () => {
    expectError(() => T.broadcastTo(f32([2, 3]), [3, 3]), 'broadcastTo', '[2,3]', '[3,3]');
    expectError(() => T.broadcastTo(f32([2, 3]), [3]), 'broadcastTo', '[2,3]', '[3]');
  });

  it('reshape to a different number of elements', () => {
    expectError(() => T.reshape(f32([2, 3]), [4, 2]), 'reshape', '[2,3]', '[4,2]');
    expectError(() => T.reshape(f32([2, 3]), [4, -1]), 'reshape', '[2,3]', '[4,-1]');
    expectError(() => T.reshape(f32([2, 3]), [-1, -1]), 'reshape', '[2,3]', '[-1,-1]');
  });

  it('concat and stack of mismatched shapes or dtypes', () => {
    expectError(() => T.concat([f32([2, 3]), f32([2, 4])], 0), 'concat', '[2,3]', '[2,4]');
    expectError(() => T.concat([f32([2, 3]), f64([2, 3])], 0), 'concat', '[2,3]', 'float32', 'float64');
    expectError(() => T.stack([f32([2, 3]), f32([3, 2])]), 'stack', '[2,3]', '[3,2]');
  });

  it('slice boxes that leave the tensor', () => {
    expectError(() => T.slice(f32([2, 3]), [1, 1], [2, 1]), 'slice', '[2,3]');
    expectError(() => T.slice(f32([2, 3]), [0, 0, 0]), 'slice', '[2,3]');
  });

  it('indexAdd, takeAlongAxis and scatterAdd with operands of the wrong shape', () => {
    expectError(() => T.indexAdd(f32([3, 2]), i32([0, 1]), f32([3, 2]), 0), 'indexAdd', '[3,2]', '[2,2]');
    expectError(() => T.takeAlongAxis(f32([3, 2]), i32([0, 1]), 0), 'takeAlongAxis', '[3,2]', '[2]');
    expectError(() => T.scatterAdd(f32([3, 2]), i32([0, 1, 0, 1], [2, 2]), f32([2, 1]), 0), 'scatterAdd', '[2,1]', '[2,2]');
  });

  it('crossEntropy with logits and targets that do not pair up', () => {
    expectError(() => T.crossEntropy(f32([3, 4]), i32([0, 1])), 'crossEntropy', '[3,4]', '[2]');
    expectError(() => T.crossEntropy(f32([3, 4]), i32([0, 1, 2]), { mask: i32([1, 1]) }), 'crossEntropy', '[2]', '[3]');
  });

  it('backward with a seed of the wrong shape, or without one on a non-scalar', () => {
    const x = tensor([[1, 2]], { requiresGrad: true });
    expectError(() => x.mul(2).backward(), 'backward', '[1,2]');
    expectError(() => x.mul(2).backward(f32([2])), 'backward', '[2]', '[1,2]');
  });
});

describe('bad axes name the op, the axis and the shape', () => {
  const x = f32([2, 3]);
  it('reductions', () => {
    expectError(() => T.sum(x, 2), 'sum', '2', '[2,3]');
    expectError(() => T.sum(x, -3), 'sum', '-3', '[2,3]');
    expectError(() => T.sum(x, [0, -2]), 'sum', '[2,3]');
    expectError(() => T.mean(x, 1.5), 'mean', '1.5', '[2,3]');
    expectError(() => T.max(x, 5), 'max', '5', '[2,3]');
    expectError(() => T.min(x, [0, 7]), 'min', '7', '[2,3]');
    expectError(() => T.argmax(x, 2), 'argmax', '2', '[2,3]');
  });

  it('softmax and logsumexp', () => {
    expectError(() => T.softmax(x, 2), 'softmax', '2', '[2,3]');
    expectError(() => T.logsumexp(x, -3), 'logsumexp', '-3', '[2,3]');
  });

  it('logSoftmax names itself, not the logsumexp it is built from', () => {
    expectError(() => T.logSoftmax(x, 2), 'logSoftmax', '2', '[2,3]');
  });

  it('shape and indexing ops', () => {
    expectError(() => T.transpose(x, [0, 0]), 'transpose', '[2,3]');
    expectError(() => T.transpose(x, [1, 0, 2]), 'transpose', '[2,3]');
    expectError(() => T.squeeze(x, 0), 'squeeze', '[2,3]');
    expectError(() => T.squeeze(x, 4), 'squeeze', '4', '[2,3]');
    expectError(() => T.unsqueeze(x, 3), 'unsqueeze', '3', '[2,3]');
    expectError(() => T.concat([x, x], 2), 'concat', '[2,3]');
    expectError(() => T.stack([x, x], 3), 'stack', '3', '[2,3]');
    expectError(() => T.gather(x, i32([0]), 2), 'gather', '2', '[2,3]');
    expectError(() => T.takeAlongAxis(x, i32([0, 0], [1, 2]), 2), 'takeAlongAxis', '2', '[2,3]');
    expectError(() => T.topk(x, 1, 2), 'topk', '2', '[2,3]');
    expectError(() => T.topk(x, 4, 1), 'topk', '4', '[2,3]');
    expectError(() => T.topk(x, 0), 'topk', '0', '[2,3]');
  });
});

describe('int tensors where floats are required name the op and the dtype', () => {
  const n = i32([1, 2, 3, 4, 5, 6], [2, 3]);
  const floatOnly: [string, (t: Tensor) => unknown][] = [
    ['exp', T.exp], ['log', T.log], ['sqrt', T.sqrt], ['tanh', T.tanh], ['sigmoid', T.sigmoid], ['gelu', T.gelu],
    ['softmax', (t) => T.softmax(t)], ['logSoftmax', (t) => T.logSoftmax(t)], ['logsumexp', (t) => T.logsumexp(t)],
    ['mean', (t) => T.mean(t)], ['matmul', (t) => T.matmul(t, T.transpose(t))], ['dropout', (t) => T.dropout(t, 0.5, new Rng(0))],
    ['crossEntropy', (t) => T.crossEntropy(t, i32([0, 1]))],
  ];
  for (const [name, op] of floatOnly) {
    it(`${name} of an int32 tensor`, () => expectError(() => op(n), name, 'int32', '[2,3]'));
  }

  it('requiresGrad on an int32 tensor', () => {
    expectError(() => tensor([1, 2], { dtype: 'int32', requiresGrad: true }), 'tensor', 'int32', '[2]');
  });
});

describe('indices must be int32 and in range', () => {
  const x = f32([3, 2]);
  it('gather', () => {
    expectError(() => T.gather(x, i32([0, 3])), 'gather', '3', '[3,2]');
    expectError(() => T.gather(x, i32([-1])), 'gather', '-1', '[3,2]');
    expectError(() => T.gather(x, f32([0])), 'gather', 'int32', 'float32');
  });

  it('indexAdd, takeAlongAxis and scatterAdd', () => {
    expectError(() => T.indexAdd(x, i32([3]), f32([1, 2])), 'indexAdd', '3', '[3,2]');
    expectError(() => T.takeAlongAxis(x, i32([0, 2], [1, 2]), 1), 'takeAlongAxis', '2', '[3,2]');
    expectError(() => T.scatterAdd(x, i32([5, 0], [1, 2]), f32([1, 2]), 0), 'scatterAdd', '5', '[3,2]');
  });

  it('oneHot', () => {
    expectError(() => T.oneHot(i32([0, 4]), 4), 'oneHot', '4', '[2]');
    expectError(() => T.oneHot(i32([-1]), 4), 'oneHot', '-1', '[1]');
    expectError(() => T.oneHot(i32([0]), 0), 'oneHot', '0');
    expectError(() => T.oneHot(f32([0]), 2), 'oneHot', 'int32', 'float32');
  });

  it('crossEntropy targets', () => {
    expectError(() => T.crossEntropy(f32([2, 3]), i32([0, 3])), 'crossEntropy', '3', '[2,3]');
    expectError(() => T.crossEntropy(f32([2, 3]), i32([-1, 0])), 'crossEntropy', '-1', '[2,3]');
    // An ignoreIndex exempts only itself.
    expectError(() => T.crossEntropy(f32([2, 3]), i32([-100, 7]), { ignoreIndex: -100 }), 'crossEntropy', '7', '[2,3]');
    expectError(() => T.crossEntropy(f32([2, 3]), f32([0, 1])), 'crossEntropy', 'int32', 'float32');
  });
});

describe('other bad arguments', () => {
  it('cast to an unknown dtype', () => {
    expectError(() => T.cast(f32([2]), 'float16' as DType), 'cast', 'float16', '[2]');
  });

  it('constructors reject unknown dtypes', () => {
    expectError(() => T.zeros([2], 'bool' as DType), 'zeros', 'bool');
    expectError(() => tensor([1], { dtype: 'int8' as DType }), 'tensor', 'int8');
  });

  it('constructors reject negative or fractional dims', () => {
    expectError(() => T.zeros([2, -1]), 'zeros', '[2,-1]');
    expectError(() => T.reshape(f32([2]), [0.5, 4]), 'reshape', '[0.5,4]');
  });

  it('dropout needs p in [0, 1) and an Rng', () => {
    expectError(() => T.dropout(f32([2]), 1, new Rng(0)), 'dropout', '1');
    expectError(() => T.dropout(f32([2]), -0.1, new Rng(0)), 'dropout', '-0.1');
  });

  it('a ragged nested array passed to tensor() names the path that is ragged', () => {
    expectError(() => tensor([[1, 2], [3]]), 'tensor', 'ragged', 'values[1]');
    expectError(() => tensor([[1, 2], 3] as T.NestedArray), 'tensor', 'ragged', 'values[1]');
    expectError(() => tensor([1, [2, 3]] as T.NestedArray), 'tensor', 'ragged', 'values[1]');
    expectError(() => tensor([[[1], [2]], [[3], [4, 5]]]), 'tensor', 'ragged', 'values[1][1]');
  });

  it('flat values that do not fill the given shape', () => {
    expectError(() => tensor([1, 2, 3], { shape: [2, 2] }), 'tensor', '[2,2]');
  });

  it('backward on a tensor that does not require grad', () => {
    expectError(() => f32([]).backward(), 'backward', '[]', 'does not require grad');
  });
});

describe('disposed tensors', () => {
  const uses: [string, (t: Tensor) => unknown][] = [
    ['exp', T.exp], ['add', (t) => T.add(t, 1)], ['sum', (t) => T.sum(t)], ['mean', (t) => T.mean(t)],
    ['softmax', (t) => T.softmax(t)], ['logSoftmax', (t) => T.logSoftmax(t)], ['matmul', (t) => T.matmul(t, t)],
    ['reshape', (t) => T.reshape(t, [-1])], ['transpose', (t) => T.transpose(t)], ['gather', (t) => T.gather(t, i32([0]))],
    ['dataSync', (t) => t.dataSync()],
  ];
  for (const [name, use] of uses) {
    it(`${name} of a disposed tensor throws, naming ${name} and the shape`, () => {
      const t = f32([3]);
      t.dispose();
      expect(t.isDisposed).toBe(true);
      expectError(() => use(t), name, '[3]', 'disposed');
    });
  }
});

describe('setDebug({ checkFinite: true })', () => {
  afterEach(() => setDebug({ checkFinite: false }));

  it('makes log of a negative number throw, naming log and the shape', () => {
    setDebug({ checkFinite: true });
    expectError(() => T.log(tensor([1, -1], { dtype: 'float64' })), 'log', 'NaN', '[2]');
  });

  it('catches overflow and division by zero at the op that produced them', () => {
    setDebug({ checkFinite: true });
    expectError(() => T.exp(tensor([1000])), 'exp', 'Infinity', '[1]');
    expectError(() => T.div(tensor([1, 2]), tensor([1, 0])), 'div', 'Infinity', '[2]');
  });

  it('is off by default and after being turned off: non-finite values pass through', () => {
    expect(Number.isNaN(T.log(tensor([-1])).item())).toBe(true);
    setDebug({ checkFinite: true });
    setDebug({ checkFinite: false });
    expect(T.exp(tensor([1000])).item()).toBe(Infinity);
  });
});
