import { concatGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Concat_grad.js';
import { expGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Exp_grad.js';
import { expandDimsGradConfig } from '@tensorflow/tfjs-core/dist/gradients/ExpandDims_grad.js';
import { gatherGradConfig } from '@tensorflow/tfjs-core/dist/gradients/GatherV2_grad.js';
import { logGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Log_grad.js';
import { maxGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Max_grad.js';
import { meanGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Mean_grad.js';
import { softmaxGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Softmax_grad.js';
import { squareGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Square_grad.js';
import { expertCapacity } from '@switch-ts/switch';
import { tf } from './tfjs.js';

// The gradients this layer needs beyond those peers/tfjs.ts registers (logSumExp is composed of
// max, sub, exp, sum, log and add).
for (const config of [concatGradConfig, expGradConfig, expandDimsGradConfig, gatherGradConfig, logGradConfig, maxGradConfig, meanGradConfig, softmaxGradConfig, squareGradConfig]) {
  tf.registerGradient(config);
}

/**
 * The peer for the switch suite: a top-1 Switch layer (tokens-choose, ReLU experts without biases,
 * α·balance + z-loss) written with tfjs-core ops, trained with tf.train.adam. The same math as
 * @switch-ts/switch, written independently: routing by argMax, capacity bookkeeping on the CPU,
 * dispatch and combine as gathers from zero-padded tables (tf.gather has a gradient; scatterND
 * has none), experts as batched matMul over [E, G·C, dModel] buffers.
 */
export interface SwitchPeerConfig {
  groups: number;
  groupSize: number;
  dModel: number;
  dFF: number;
  numExperts: number;
  capacityFactor: number;
  balanceCoef: number;
  zLossCoef: number;
}

export interface SwitchPeerWeights {
  router: Float32Array; // [dModel, E]
  wi: Float32Array; // [E, dModel, dFF]
  wo: Float32Array; // [E, dFF, dModel]
}

export interface SwitchPeer {
  vars: { router: tf.Variable; wi: tf.Variable; wo: tf.Variable };
  /** Mean squared error to `target` plus the aux loss, recorded for tf.variableGrads. */
  loss: () => tf.Scalar;
  /** One Adam step (forward, backward, update); returns the loss before the update. */
  step: () => number;
}

export function switchPeer(cfg: SwitchPeerConfig, w: SwitchPeerWeights, x: Float32Array, target: Float32Array, lr: number, name: string): SwitchPeer {
  const { groups: G, groupSize: S, dModel: d, dFF: f, numExperts: E } = cfg;
  const T = G * S;
  // Eq. 3 as the layer computes it (exact for the decimal written), so that both drop the same tokens.
  const C = expertCapacity({ groupSize: S, numExperts: E, capacityFactor: cfg.capacityFactor });
  const vars = {
    router: tf.variable(tf.tensor2d(w.router, [d, E]), true, `${name}/router`),
    wi: tf.variable(tf.tensor3d(w.wi, [E, d, f]), true, `${name}/wi`),
    wo: tf.variable(tf.tensor3d(w.wo, [E, f, d]), true, `${name}/wo`),
  };
  const xs = tf.tensor2d(x, [T, d]);
  const ys = tf.tensor2d(target, [T, d]);
  const zeroRow = tf.zeros([1, d]);

  const loss = (): tf.Scalar => {
    const logits = tf.matMul(xs, vars.router);
    const probs = tf.softmax(logits);
    const expert = tf.argMax(probs, 1).dataSync();
    // Slot bookkeeping: in sequence order, each group's tokens take their expert's next free slot.
    // Index T (a zero row) fills empty slots; index E·G·C (a zero row) is a dropped token's output.
    const slotToken = new Int32Array(E * G * C).fill(T);
    const tokenSlot = new Int32Array(T).fill(E * G * C);
    const load = new Int32Array(E * G);
    const counts = new Float32Array(G * E);
    for (let t = 0; t < T; t++) {
      const g = Math.floor(t / S), e = expert[t]!;
      counts[g * E + e]! += 1;
      const c = load[e * G + g]!++;
      if (c < C) {
        const slot = (e * G + g) * C + c;
        slotToken[slot] = t;
        tokenSlot[t] = slot;
      }
    }
    const buffers = tf.reshape(tf.gather(tf.concat([xs, zeroRow]), tf.tensor1d(slotToken, 'int32')), [E, G * C, d]);
    const expertOut = tf.reshape(tf.matMul(tf.relu(tf.matMul(buffers, vars.wi)), vars.wo), [E * G * C, d]);
    const gate = tf.expandDims(tf.max(probs, 1), 1);
    const y = tf.mul(tf.gather(tf.concat([expertOut, zeroRow]), tf.tensor1d(tokenSlot, 'int32')), gate);

    const fraction = tf.div(tf.tensor2d(counts, [G, E]), S);
    const meanProb = tf.mean(tf.reshape(probs, [G, S, E]), 1);
    const balance = tf.mul(tf.mean(tf.sum(tf.mul(fraction, meanProb), 1)), E);
    const z = tf.mean(tf.square(tf.logSumExp(logits, 1)));
    const aux = tf.add(tf.mul(balance, cfg.balanceCoef), tf.mul(z, cfg.zLossCoef));
    return tf.add(tf.mean(tf.square(tf.sub(y, ys))), aux) as tf.Scalar;
  };

  const optimizer = tf.train.adam(lr, 0.9, 0.999, 1e-8);
  const varList = [vars.router, vars.wi, vars.wo];
  const step = (): number => tf.tidy(() => optimizer.minimize(loss, true, varList)!.dataSync()[0]!);
  return { vars, loss, step };
}
