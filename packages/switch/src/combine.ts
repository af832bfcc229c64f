import { gather, indexAdd, zeros, type Tensor } from '@switch-ts/tensor';
import type { Assignment } from './capacity.js';
import { fmt, requireTensor } from './checks.js';
import { indexTensor } from './dispatch.js';
import type { RouterOutput } from './router.js';

/**
 * Combine, eq. 2: y(x) = Σ_{i∈T} g_i(x)·E_i(x) over the experts that kept the token — one term
 * for Switch, g = p_i(x). Each kept route's expert output is gathered from its slot, scaled by its
 * gate and index-added into its token's row. A dropped token has no term: its output is exactly
 * zero (the residual outside the layer carries it) and sends no gradient to any expert.
 * Returns [G·S, dModel].
 */
export function combine(expertOutputs: Tensor, assignment: Assignment, router: Pick<RouterOutput, 'gates' | 'probs'>): Tensor {
  requireTensor('combine', 'expertOutputs', expertOutputs);
  const { numGroups, groupSize, numExperts, capacity, rows: bufferRows } = assignment;
  const dModel = expertOutputs.shape[expertOutputs.rank - 1]!;
  if (assignment.padded && (expertOutputs.rank !== 3 || expertOutputs.shape[0] !== numExperts || expertOutputs.shape[1] !== numGroups * capacity)) {
    throw new Error(`combine: expert outputs ${fmt(expertOutputs.shape)} must be [E, G·C, dModel] = [${numExperts}, ${numGroups * capacity}, dModel]`);
  }
  if (!assignment.padded && (expertOutputs.rank !== 2 || expertOutputs.shape[0] !== bufferRows)) {
    throw new Error(`combine: expert outputs ${fmt(expertOutputs.shape)} must be the packed rows [${bufferRows}, dModel]`);
  }
  const source = router[assignment.gateSource];
  const gates = gather(source.reshape([source.size]), indexTensor(assignment.gate)).cast(expertOutputs.dtype);
  const rows = gather(expertOutputs.reshape([bufferRows, dModel]), indexTensor(assignment.slot));
  const weighted = rows.mul(gates.reshape([assignment.gate.length, 1]));
  return indexAdd(zeros([numGroups * groupSize, dModel], expertOutputs.dtype), indexTensor(assignment.token), weighted);
}
