import { isGradEnabled, keep, noGrad } from './engine.js';
import { fmt, sameShape } from './shape.js';
import type { Tensor } from './tensor.js';
import { onesLike } from './ops/creation.js';
import { requireTensor } from './ops/kernel.js';

/**
 * Define-by-run reverse mode. Every differentiable op, right after computing its output, calls
 * `record` with its inputs and a closure that maps dL/d(output) to dL/d(each input). `backward`
 * visits the recorded graph once in reverse topological order (micrograd's scheme).
 */
export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** dL/d(output) → dL/d(input) per input (null where an input needs none). */
  readonly backward: (grad: Tensor) => readonly (Tensor | null)[];
  /** Every tensor `backward` may read, with its storage's version when the op ran. */
  readonly saved: readonly SavedTensor[];
}

export interface SavedTensor {
  readonly tensor: Tensor;
  /** How an error names it: 'input 1', 'output', 'indices'. */
  readonly role: string;
  readonly version: number;
}

/**
 * Attaches a backward rule to `out` if recording is on and some input needs a gradient. The rule
 * may read the inputs, the output and the tensors in `saved` (index tensors, conditions): their
 * versions are recorded here, and `backward` refuses to run the rule if an in-place write
 * (`assign`) has changed any of them since, as PyTorch's version counter does.
 */
export function record(
  op: string, out: Tensor, inputs: readonly Tensor[], backward: GradNode['backward'], saved: Readonly<Record<string, Tensor>> = {},
): Tensor {
  if (isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    const roles: [string, Tensor][] = [...inputs.map((t, i): [string, Tensor] => [`input ${i}`, t]), ['output', out], ...Object.entries(saved)];
    out.requiresGrad = true;
    out.gradNode = { op, inputs, backward, saved: roles.map(([role, tensor]) => ({ tensor, role, version: tensor.version })) };
  }
  return out;
}

const freedGraph = "backward: the graph's intermediate tensors were disposed (by the tidy that built it?) — run backward inside the same tidy";

/** Throws, naming the op, if a tensor its backward rule reads was disposed or written in place. */
function checkSaved(node: GradNode): void {
  for (const { tensor, role, version } of node.saved) {
    const what = `${role} of ${node.op} (shape ${fmt(tensor.shape)})`;
    if (tensor.isDisposed) throw new Error(`${freedGraph}: ${what} is disposed`);
    if (tensor.version !== version) {
      throw new Error(
        'backward: one of the variables needed for gradient computation has been modified by an inplace operation: ' +
        `${what} is at version ${tensor.version}; expected version ${version} (an assign() or optimizer step after the forward pass)`,
      );
    }
  }
}

function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>([root]);
  // Iterative DFS: deep graphs (long training unrolls) would overflow a recursive one.
  const stack: [Tensor, number][] = [[root, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [t, next] = top;
    const inputs = t.gradNode?.inputs ?? [];
    if (next < inputs.length) {
      top[1]++;
      const child = inputs[next]!;
      if (child.requiresGrad && !seen.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
  return order.reverse();
}

export function backward(root: Tensor, seed?: Tensor): void {
  if (root.isDisposed) throw new Error(`${freedGraph}: the tensor of shape ${fmt(root.shape)} is disposed`);
  if (seed !== undefined) requireTensor('backward', seed, 'seed');
  if (!root.requiresGrad) {
    throw new Error(`backward: tensor of shape ${fmt(root.shape)} does not require grad (no input had requiresGrad, or it was made under noGrad)`);
  }
  if (seed === undefined && root.size !== 1) {
    throw new Error(`backward: tensor of shape ${fmt(root.shape)} is not a scalar; pass a seed gradient of the same shape`);
  }
  if (seed !== undefined && !sameShape(seed.shape, root.shape)) {
    throw new Error(`backward: seed of shape ${fmt(seed.shape)} does not match tensor of shape ${fmt(root.shape)}`);
  }
  noGrad(() => {
    const grads = new Map<Tensor, Tensor>();
    grads.set(root, seed ? seed.cast(root.dtype) : onesLike(root));
    for (const t of topologicalOrder(root)) {
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      if (!t.gradNode) {
        accumulateLeaf(t, g);
        continue;
      }
      checkSaved(t.gradNode);
      const inputGrads = t.gradNode.backward(g);
      t.gradNode.inputs.forEach((input, i) => {
        const gi = inputGrads[i];
        if (!gi || !input.requiresGrad) return;
        const prev = grads.get(input);
        grads.set(input, prev ? prev.add(gi) : gi);
      });
    }
  });
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  const grad = g.dtype === leaf.dtype ? g : g.cast(leaf.dtype);
  if (leaf.grad) {
    const sum = leaf.grad.add(grad);
    leaf.grad.dispose();
    leaf.grad = keep(sum);
  } else {
    // A copy, so that later in-place updates of .grad can never alias a tensor of the graph.
    leaf.grad = keep(grad === g ? grad.copy() : grad);
  }
}
