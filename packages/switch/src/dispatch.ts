import { gather, indexAdd, tensor, zeros, type Tensor } from '@switch-ts/tensor';
import type { Assignment } from './capacity.js';
import { fmt, requireTensor } from './checks.js';

/**
 * Dispatch: copies each kept token's activation into its expert's slot, by index (a gather of
 * the kept rows, then an index-add into the buffers). Returns the expert buffers
 * [E, G·C, dModel]; empty slots hold zeros, which the bias-free experts map to zeros. A packed
 * assignment (`padded: false`) has no empty slots: the buffers are its rows, [rows, dModel].
 * The gradient flows back to x through the same indices; a dropped token receives none.
 */
export function dispatch(x: Tensor, assignment: Assignment): Tensor {
  requireTensor('dispatch', 'x', x);
  const { numGroups, groupSize, numExperts, capacity, rows: bufferRows } = assignment;
  const dModel = x.shape[x.rank - 1]!;
  if (x.rank < 2 || x.size !== numGroups * groupSize * dModel) {
    throw new Error(`dispatch: x ${fmt(x.shape)} must be [...groups, S, dModel] with ${numGroups}·${groupSize} tokens (the assignment's)`);
  }
  const rows = gather(x.reshape([numGroups * groupSize, dModel]), indexTensor(assignment.token));
  const buffers = indexAdd(zeros([bufferRows, dModel], x.dtype), indexTensor(assignment.slot), rows);
  return assignment.padded ? buffers.reshape([numExperts, numGroups * capacity, dModel]) : buffers;
}

export function indexTensor(indices: Int32Array): Tensor {
  return tensor(indices, { dtype: 'int32' });
}
