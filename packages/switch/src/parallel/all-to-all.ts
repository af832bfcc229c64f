import type { Assignment } from '../capacity.js';

/**
 * The all-to-all of expert parallelism (Switch §5 and Figure 9, Mesh TensorFlow's all-to-all):
 * each kept route's row travels to the device that holds its expert, and its result travels back.
 * Only filled slots travel: an empty slot's output is zero and it sends no gradient, so skipping
 * it changes no result (its zero row adds exact zeros to dW), and a device's work is its tokens.
 */
export interface DeviceRoutes {
  /** The filled slots of this device's experts, ascending: the expert buffers' own row order. */
  slots: Int32Array;
  /** Rows for each of its experts, in the order they sit in `slots`. */
  rowsPerExpert: number[];
}

/** Splits an assignment's filled slots by device: device d holds experts [d·E/D, (d+1)·E/D). */
export function routesByDevice(assignment: Assignment, devices: number): DeviceRoutes[] {
  const perDevice = assignment.numExperts / devices;
  // A slot's flat index starts with its expert, so sorted slots are grouped by expert, then by device.
  const sorted = Int32Array.from(assignment.slot).sort();
  let start = 0;
  return Array.from({ length: devices }, (_, d) => {
    const rowsPerExpert = assignment.tokensPerExpert.slice(d * perDevice, (d + 1) * perDevice);
    const count = rowsPerExpert.reduce((a, b) => a + b, 0);
    const slots = sorted.subarray(start, start + count);
    start += count;
    return { slots, rowsPerExpert };
  });
}

/** The sending half: the rows of `from` at `slots` (rows of `width` values), packed into `to`. */
export function gatherRows(from: Float32Array | Float64Array, slots: Int32Array, width: number, to: Float32Array | Float64Array): void {
  slots.forEach((slot, i) => to.set(from.subarray(slot * width, (slot + 1) * width), i * width));
}

/** The receiving half: packed rows of `from` back to their `slots` of `to`. */
export function scatterRows(from: Float32Array | Float64Array, slots: Int32Array, width: number, to: Float32Array | Float64Array): void {
  slots.forEach((slot, i) => to.set(from.subarray(i * width, (i + 1) * width), slot * width));
}
