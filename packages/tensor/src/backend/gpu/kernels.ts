import { sizeOf, type Shape } from '../../shape.js';
import type { KernelInput } from '../backend.js';
import type { KernelAttrs, KernelConfig, KernelName, KernelOutput, KernelTable } from '../registry.js';
import type { GpuBackend } from './index.js';
import { isPending, type Device, type DeviceArray } from './kernel-cache.js';
import { MAX_THREAD_LOOP, onDevice } from './residency.js';
import * as src from './sources.js';

/**
 * The gpu backend's kernels: each compiles (once per shape, see KernelCache) the gpu.js source
 * of the same name in sources.ts. A kernel runs when its operands and output live on the device;
 * otherwise the registry runs the CPU kernel. argReduce and topk are not here, so they always
 * take the CPU kernel (the package README's kernel table says why).
 */

/** `f` applied to a device array, now or, for a pending one, once it is there. */
const mapDevice = <T>(d: Device, f: (d: DeviceArray) => T): T | Promise<T> => (isPending(d) ? d.then(f) : f(d));

/**
 * The flat Float32Array behind an Array(n)-returning webasm kernel's result. gpu.js copies the
 * output region into one fresh Float32Array and hands back nested rows of `subarray` views of it
 * (web-assembly/kernel.js `_shapeOutput`), so the first view's buffer is the whole result.
 */
function packedOf(out: DeviceArray, length: number): Float32Array {
  let first: unknown = out;
  while (!(first instanceof Float32Array)) first = (first as ArrayLike<unknown>)[0];
  if (first.byteOffset !== 0 || first.buffer.byteLength !== length * 4) {
    throw new Error('gpu backend: unexpected layout of a webasm Array(4) kernel result');
  }
  return new Float32Array(first.buffer);
}

const onDeviceAll = (inputs: readonly KernelInput[], out: KernelOutput): boolean =>
  onDevice(out.dtype, sizeOf(out.shape)) && inputs.every((x) => onDevice(x.dtype, sizeOf(x.shape)));

/**
 * A kernel that runs whenever its data is on the device (and `alsoNeeds`, when given): float64,
 * empty tensors and tensors over MAX_DEVICE_LENGTH take the CPU kernel.
 */
function onDeviceKernel<K extends KernelName>(
  run: KernelConfig<K, GpuBackend>['run'],
  extra: { alsoNeeds?: (inputs: readonly KernelInput[], attrs: KernelAttrs[K], out: KernelOutput, b: GpuBackend) => boolean; note?: string } = {},
): KernelConfig<K, GpuBackend> {
  const { alsoNeeds, note } = extra;
  return {
    run,
    accepts: (inputs, attrs, out, b) => onDeviceAll(inputs, out) && (alsoNeeds?.(inputs, attrs, out, b) ?? true),
    ...(note ? { note } : {}),
  };
}

/** webasm's matmul: the 4×4 register-tile kernel, then its packed output unpacked to row-major. */
function matmulTiled(b: GpuBackend, a: KernelInput, bIn: KernelInput, transA: boolean, transB: boolean, out: KernelOutput) {
  const outShape = out.shape;
  const m = outShape[outShape.length - 2]!, n = outShape[outShape.length - 1]!;
  const batch = sizeOf(outShape.slice(0, -2));
  const groups = Math.ceil(m / src.TILE_ROWS);
  const tiled = b.cache.get(`matmulTiled:${a.shape}:${bIn.shape}:${transA}:${transB}`,
    () => src.matmulTiled(a.shape, bIn.shape, transA, transB, outShape), [n, groups, batch]);
  const result = b.call(tiled, [b.device(a), b.device(bIn)]);
  // The packed array is a plain host array on webasm, not a tracked device array.
  const packed = mapDevice(result, (d) => packedOf(d, n * groups * batch * src.TILE_ROWS));
  const unpack = b.cache.get(`unpackRows:${batch}:${m}:${n}`, () => src.unpackRows(batch, m, n), batch * m * n);
  return b.wrap(out.dtype, batch * m * n, b.call(unpack, [packed]));
}

/** webasm's tiled matmul writes rows in groups of TILE_ROWS: its output is m rounded up. */
function matmulWritten(outShape: Shape, mode: string): Shape {
  if (mode !== 'webasm') return outShape;
  const m = outShape[outShape.length - 2]!;
  return [...outShape.slice(0, -2), Math.ceil(m / src.TILE_ROWS) * src.TILE_ROWS, outShape[outShape.length - 1]!];
}

const dropAxis = (shape: Shape, axis: number): Shape => shape.filter((_, d) => d !== axis);

export const gpuKernels: KernelTable<GpuBackend> = {
  fill: onDeviceKernel((_, { value }, out, b) => {
    const n = sizeOf(out.shape);
    return b.wrap(out.dtype, n, b.call(b.cache.get('fill', src.fill, n, { value: 'Float' }), [], [value]));
  }),

  cast: onDeviceKernel(([x], _, out, b) => {
    const truncate = out.dtype === 'int32' && x!.dtype !== 'int32';
    return b.run(truncate ? 'trunc' : 'copy', truncate ? src.trunc : src.copy, x!.shape, [x!], [], out.dtype);
  }),

  unary: onDeviceKernel(([x], { op }, _, b) => b.run(`unary:${op}`, () => src.unary(op), x!.shape, [x!])),

  binary: onDeviceKernel(
    ([x, y], { op }, out, b) =>
      b.run(`binary:${op}:${x!.shape}:${y!.shape}`, () => src.binary(op, x!.shape, y!.shape, out.shape), out.shape, [x!, y!], [], out.dtype),
    {
      // The CPU kernel truncates an exact quotient (an Int32Array store); a float quotient on the
      // GPU can land a rounding below the integer and truncate one too low.
      alsoNeeds: (_, { op }, out) => !(out.dtype === 'int32' && (op === 'div' || op === 'pow')),
      note: 'int32 div and pow on the CPU',
    },
  ),

  where: onDeviceKernel(([c, x, y], _, out, b) =>
    b.run(`where:${c!.shape}:${x!.shape}:${y!.shape}`, () => src.where(c!.shape, x!.shape, y!.shape, out.shape), out.shape, [c!, x!, y!], [], out.dtype)),

  expand: onDeviceKernel(([x], _, out, b) => b.run(`expand:${x!.shape}`, () => src.expand(x!.shape, out.shape), out.shape, [x!])),

  matmul: onDeviceKernel(
    ([x, y], { transA, transB }, out, b) => {
      if (b.mode === 'webasm') return matmulTiled(b, x!, y!, transA, transB, out);
      return b.run(`matmul:${x!.shape}:${y!.shape}:${transA}:${transB}`, () => src.matmul(x!.shape, y!.shape, transA, transB, out.shape), out.shape, [x!, y!]);
    },
    {
      alsoNeeds: ([x], { transA }, out, b) =>
        onDevice(out.dtype, sizeOf(matmulWritten(out.shape, b.mode))) && x!.shape[x!.shape.length - (transA ? 2 : 1)]! <= MAX_THREAD_LOOP,
      note: 'webasm: 4×4 register tiles; k over 65,535 on the CPU',
    },
  ),

  reduce: onDeviceKernel(([x], { op, axis }, _, b) => b.reduceTree(op, x!, axis)),

  softmax: onDeviceKernel(([x], { axis }, _, b) =>
    b.withLineStats(x!, axis, (_max, exps, sum) => b.run(`softmax:${x!.shape}:${axis}`, () => src.softmax(x!.shape, axis), x!.shape, [exps, sum]))),

  logsumexp: onDeviceKernel(([x], { axis }, _, b) =>
    b.withLineStats(x!, axis, (max, _exps, sum) => b.run('logsumexp', src.logsumexp, dropAxis(x!.shape, axis), [max, sum]))),

  transpose: onDeviceKernel(([x], { perm }, out, b) =>
    b.run(`transpose:${x!.shape}:${perm}`, () => src.transpose(x!.shape, perm), out.shape, [x!])),

  slice: onDeviceKernel(([x], { begin }, out, b) =>
    b.run(`slice:${x!.shape}:${begin}:${out.shape}`, () => src.slice(x!.shape, begin, out.shape), out.shape, [x!])),

  pad: onDeviceKernel(([x], { begin }, out, b) =>
    b.run(`pad:${x!.shape}:${begin}:${out.shape}`, () => src.pad(x!.shape, begin, out.shape), out.shape, [x!])),

  // Empty parts add nothing and have no device array: the kernel reads the others only.
  concat: {
    run: (xs, { axis }, out, b) => {
      const parts = xs.filter((x) => sizeOf(x.shape) > 0);
      const shapes = parts.map((x) => x.shape);
      return b.run(`concat:${shapes.join(';')}:${axis}`, () => src.concat(shapes, axis), out.shape, parts);
    },
    accepts: (xs, _, out) => onDeviceAll(xs.filter((x) => sizeOf(x.shape) > 0), out),
  },

  gather: onDeviceKernel(([x, idx], { axis }, out, b) => {
    const count = sizeOf(idx!.shape);
    return b.run(`gather:${x!.shape}:${count}:${axis}`, () => src.gather(x!.shape, count, axis), out.shape, [x!, idx!]);
  }),

  indexAdd: onDeviceKernel(
    ([x, idx, from], { axis }, _, b) => {
      const count = sizeOf(idx!.shape);
      return b.run(`indexAdd:${x!.shape}:${count}:${axis}`, () => src.indexAdd(x!.shape, count, axis), x!.shape, [x!, idx!, from!]);
    },
    { alsoNeeds: ([, idx]) => sizeOf(idx!.shape) <= MAX_THREAD_LOOP, note: 'over 65,535 indices on the CPU' },
  ),

  takeAlongAxis: onDeviceKernel(([x, idx], { axis }, _, b) =>
    b.run(`takeAlongAxis:${x!.shape}:${idx!.shape}:${axis}`, () => src.takeAlongAxis(x!.shape, idx!.shape, axis), idx!.shape, [x!, idx!])),

  scatterAdd: onDeviceKernel(
    ([x, idx, from], { axis }, _, b) =>
      b.run(`scatterAdd:${x!.shape}:${idx!.shape}:${axis}`, () => src.scatterAdd(x!.shape, idx!.shape, axis), x!.shape, [x!, idx!, from!]),
    { alsoNeeds: ([, idx], { axis }) => idx!.shape[axis]! <= MAX_THREAD_LOOP, note: 'over 65,535 indices per line on the CPU' },
  ),

  oneHot: onDeviceKernel(([idx], { depth }, out, b) => b.run(`oneHot:${depth}`, () => src.oneHot(depth), out.shape, [idx!], [], out.dtype)),
};
