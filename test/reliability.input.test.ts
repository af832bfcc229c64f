import { afterEach, describe, expect, it } from 'vitest';
import * as T from '@switch-ts/tensor';
import { fromArray, Linear, MAX_ELEMENTS, Rng, setBackend, tensor, type Tensor } from '@switch-ts/tensor';
import { runnableModes } from './gpu.modes.js';

/**
 * Bad arguments that used to build a broken tensor, return 0, allocate gigabytes or fail inside
 * the library now throw an Error naming the op the caller used and what was wrong with the argument.
 */

const int32 = (values: number[]): Tensor => tensor(values, { dtype: 'int32' });
const rng = new Rng(0);

describe('tensor() refuses arrays with holes, naming the position', () => {
  it('a hole at the top level or nested', () => {
    expect(() => tensor([1, , 3] as number[])).toThrow('tensor: values[1] is a hole (a sparse array); every element must be given');
    expect(() => tensor([, 1] as number[])).toThrow('tensor: values[0] is a hole');
    expect(() => tensor([[1, 2], [3, ,]] as number[][])).toThrow('tensor: values[1][1] is a hole');
    expect(() => tensor(new Array<number>(2))).toThrow('tensor: values[0] is a hole');
  });

  it('assign() from a sparse array names assign', () => {
    expect(() => T.zeros([3]).assign([1, , 3] as number[])).toThrow('assign: values[1] is a hole');
  });
});

describe('every shape argument must hold non-negative integers (reshape: and at most one -1)', () => {
  const x = T.ones([6]);

  it('reshape with -1 checks the other dims', () => {
    expect(() => x.reshape([-2, -1])).toThrow('reshape: invalid shape [-2,-1]: dimensions must be non-negative integers, one of them may be -1');
    expect(() => x.reshape([1.5, -1])).toThrow('reshape: invalid shape [1.5,-1]');
    expect(() => x.reshape([NaN, -1])).toThrow('reshape: invalid shape [NaN,-1]');
    expect(() => x.reshape([-1, -1])).toThrow('reshape: [6] to [-1,-1]: only one dimension can be -1');
    expect(() => x.reshape([-2, -3])).toThrow('reshape: invalid shape [-2,-3]');
    expect(x.reshape([3, -1]).shape).toEqual([3, 2]);
  });

  it('constructors and broadcastTo name themselves', () => {
    const takers: [string, (shape: number[]) => unknown][] = [
      ['zeros', (s) => T.zeros(s)], ['ones', (s) => T.ones(s)], ['full', (s) => T.full(s, 2)],
      ['rand', (s) => T.rand(s, rng)], ['randn', (s) => T.randn(s, rng)], ['broadcastTo', (s) => T.broadcastTo(T.ones([1]), s)],
      ['tensor', (s) => tensor([1, 2], { shape: s })], ['fromArray', (s) => fromArray(new Float32Array(2), s)],
    ];
    for (const [op, take] of takers) {
      for (const bad of [[2, -1], [1.5], [NaN, 2]]) expect(() => take(bad), `${op} ${bad}`).toThrow(`${op}: invalid shape [${bad.join(',')}]`);
      expect(() => take(3 as unknown as number[]), op).toThrow(`${op}: shape must be an array of non-negative integers, got number 3`);
    }
  });
});

describe.each([['cpu', () => setBackend('cpu')], ...runnableModes.map((m): [string, () => void] => [`gpu (${m})`, () => setBackend('gpu', { mode: m, strict: true })])])(
  'int32 edge cases throw instead of returning 0, on %s', (_name, use) => {
    afterEach(() => setBackend('cpu'));

    it('int32 division by zero (a float division by zero is still ±Infinity)', () => {
      use();
      expect(() => int32([4, 6]).div(int32([2, 0]))).toThrow('div: integer division by zero: the divisor of shape [2] is 0 at flat index 1');
      expect(() => int32([4, 6]).div(0)).toThrow('div: integer division by zero');
      expect(Array.from(int32([7, -7]).div(int32([2, 2])).dataSync())).toEqual([3, -3]);
      expect(Array.from(tensor([1, -1]).div(0).dataSync())).toEqual([Infinity, -Infinity]);
    });

    it('int32 pow with a negative exponent (PyTorch: integers to negative integer powers are not allowed)', () => {
      use();
      expect(() => int32([2, 3]).pow(int32([2, -1]))).toThrow('pow: integers to negative integer powers are not allowed: the exponent of shape [2] is -1 at flat index 1');
      expect(() => int32([2]).pow(-2)).toThrow('pow: integers to negative integer powers are not allowed');
      expect(Array.from(int32([2, 3]).pow(int32([3, 0])).dataSync())).toEqual([8, 1]);
      expect(Array.from(tensor([2]).pow(-1).dataSync())).toEqual([0.5]);
    });

    it('a cast (or any conversion) of NaN, ±Infinity or a value out of int32\'s range to int32', () => {
      use();
      expect(() => tensor([1, NaN]).cast('int32')).toThrow('cast: NaN at flat index 1 of [2] float32 cannot be converted to int32');
      expect(() => tensor([Infinity]).cast('int32')).toThrow('cast: Infinity at flat index 0');
      expect(() => tensor([-Infinity], { dtype: 'float64' }).cast('int32')).toThrow('cast: -Infinity at flat index 0');
      expect(() => tensor([3e9], { dtype: 'float64' }).cast('int32')).toThrow('cast: 3000000000 at flat index 0');
      expect(() => tensor([0, NaN], { dtype: 'int32' })).toThrow('tensor: NaN at flat index 1 of [2]');
      expect(() => T.full([2], Infinity, 'int32')).toThrow('full: Infinity');
      expect(() => int32([1, 2]).assign(tensor([NaN, 1]))).toThrow('assign: NaN at flat index 0');
      expect(() => int32([1]).add(3e9)).toThrow('add: 3000000000 cannot be converted to int32');
      expect(Array.from(tensor([-1.5, 2.5, 2 ** 31 - 1], { dtype: 'float64' }).cast('int32').dataSync())).toEqual([-1, 2, 2 ** 31 - 1]);
    });
  },
);

describe('sizes past what one tensor can hold fail at once, naming the op, the shape and the bytes', () => {
  it('the limit is 2^31 − 1 elements (the kernels address elements with int32 offsets)', () => {
    expect(MAX_ELEMENTS).toBe(2 ** 31 - 1);
  });

  it('constructors', () => {
    expect(() => T.zeros([1e6, 1e6])).toThrow('zeros: shape [1000000,1000000] has 1000000000000 elements (4000000000000 bytes as float32), more than the 2147483647 one tensor can hold');
    expect(() => T.ones([2 ** 31], 'float64')).toThrow('ones: shape [2147483648] has 2147483648 elements (17179869184 bytes as float64)');
    expect(() => T.full([2 ** 16, 2 ** 16], 1)).toThrow('full: shape [65536,65536] has 4294967296 elements');
    expect(() => T.rand([2 ** 31], rng)).toThrow('rand: shape [2147483648]');
    expect(() => T.randn([2 ** 32], rng)).toThrow('randn: shape [4294967296]');
    expect(() => new Linear(2 ** 16, 2 ** 16, { rng })).toThrow('truncatedNormal: shape [65536,65536] has 4294967296 elements');
  });

  it('op outputs, however small the inputs', () => {
    expect(() => T.matmul(T.ones([2 ** 16, 1]), T.ones([1, 2 ** 16]))).toThrow('matmul: shape [65536,65536] has 4294967296 elements (17179869184 bytes as float32)');
    expect(() => T.broadcastTo(T.ones([1]), [2 ** 31])).toThrow('broadcastTo: shape [2147483648] has 2147483648 elements');
    expect(() => T.ones([2 ** 16, 1]).add(T.ones([2 ** 16]))).toThrow('add: shape [65536,65536]');
  });
});

describe('errors name the op the caller used and the real problem', () => {
  it('an unknown dtype, wherever a dtype is taken', () => {
    const bool = 'bool' as T.DType;
    const takers: [string, () => unknown][] = [
      ['oneHot', () => T.oneHot(int32([0, 1]), 2, bool)], ['zeros', () => T.zeros([2], bool)], ['ones', () => T.ones([2], bool)],
      ['full', () => T.full([2], 1, bool)], ['arange', () => T.arange(0, 3, 1, bool)], ['rand', () => T.rand([2], rng, { dtype: bool })],
      ['randn', () => T.randn([2], rng, { dtype: bool })], ['cast', () => T.ones([2]).cast(bool)], ['tensor', () => tensor([1], { dtype: bool })],
      ['truncatedNormal', () => new Linear(2, 2, { rng, dtype: bool as 'float32' })],
    ];
    for (const [op, take] of takers) expect(take, op).toThrow(`${op}: unknown dtype 'bool'`);
  });

  it('an axis that is not an integer, for every op that takes one', () => {
    const x = T.ones([2, 3]);
    const bad = '0' as unknown as number;
    const takers: [string, () => unknown][] = [
      ['sum', () => x.sum(bad)], ['mean', () => x.mean(bad)], ['max', () => x.max(bad)], ['min', () => x.min(bad)],
      ['argmax', () => x.argmax(bad)], ['argmin', () => x.argmin(bad)], ['softmax', () => x.softmax(bad)],
      ['logSoftmax', () => x.logSoftmax(bad)], ['logsumexp', () => x.logsumexp(bad)], ['squeeze', () => x.squeeze(bad)],
      ['unsqueeze', () => x.unsqueeze(bad)], ['concat', () => T.concat([x, x], bad)], ['stack', () => T.stack([x, x], bad)],
      ['gather', () => x.gather(int32([0]), bad)], ['takeAlongAxis', () => x.takeAlongAxis(T.zeros([2, 1], 'int32'), bad)],
      ['topk', () => x.topk(1, bad)],
    ];
    for (const [op, take] of takers) expect(take, op).toThrow(new RegExp(`^${op}: axis must be an integer( or an array of integers)?, got string '0'`));
    expect(() => x.sum(['0'] as unknown as number[])).toThrow(`sum: axis must be an integer or an array of integers, got array ["0"] (tensor of shape [2,3])`);
    expect(() => x.sum(1.5)).toThrow('sum: axis must be an integer or an array of integers, got number 1.5 (tensor of shape [2,3])');
    expect(() => x.sum(2)).toThrow('sum: axis 2 is out of range for tensor of shape [2,3]');
    expect(() => x.transpose('10' as unknown as number[])).toThrow(`transpose: perm must be an array of integers, got string '10'`);
  });
});
