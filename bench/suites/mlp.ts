import { add, crossEntropy, matmul, mul, noGrad, randn, relu, Rng, sub, tensor, tidy, type Tensor } from '@switch-ts/tensor';
import { assertClose, type Suite } from '../harness.js';
import { tf, usePeer, type PeerBackend } from '../peers/tfjs.js';

/**
 * One SGD training step of a 784→128→10 ReLU MLP on a batch of 64: forward, mean cross-entropy,
 * backward, update. Written with plain ops on both sides (the nn/optim modules were not ready), the
 * peer with tf.variableGrads, the same computation step for step.
 */
const BATCH = 64, IN = 784, HIDDEN = 128, CLASSES = 10, LR = 0.1;

interface Init { x: Float32Array; labels: Int32Array; w1: Float32Array; b1: Float32Array; w2: Float32Array; b2: Float32Array }

function makeInit(): Init {
  const rng = new Rng(4);
  const values = (shape: number[], std: number) => randn(shape, rng, { std }).dataSync() as Float32Array;
  return {
    x: values([BATCH, IN], 1),
    labels: Int32Array.from({ length: BATCH }, () => rng.nextUint32() % CLASSES),
    w1: values([IN, HIDDEN], 0.05), b1: new Float32Array(HIDDEN),
    w2: values([HIDDEN, CLASSES], 0.1), b2: new Float32Array(CLASSES),
  };
}

function oursStep(init: Init): { step: () => number; w1: Tensor } {
  const x = tensor(init.x, { shape: [BATCH, IN] });
  const labels = tensor(init.labels, { dtype: 'int32' });
  const param = (v: Float32Array, shape: number[]) => tensor(v.slice(), { shape, requiresGrad: true });
  const w1 = param(init.w1, [IN, HIDDEN]), b1 = param(init.b1, [HIDDEN]);
  const w2 = param(init.w2, [HIDDEN, CLASSES]), b2 = param(init.b2, [CLASSES]);
  const params = [w1, b1, w2, b2];
  const step = () => tidy(() => {
    const h = relu(add(matmul(x, w1), b1));
    const loss = crossEntropy(add(matmul(h, w2), b2), labels);
    loss.backward();
    noGrad(() => {
      for (const p of params) {
        p.assign(sub(p, mul(p.grad!, LR)));
        p.zeroGrad();
      }
    });
    return loss.item();
  });
  return { step, w1 };
}

async function peerStep(backend: PeerBackend, init: Init): Promise<{ step: () => number; w1: tf.Variable }> {
  await usePeer(backend);
  const x = tf.tensor2d(init.x, [BATCH, IN]);
  const onehot = tf.oneHot(tf.tensor1d(init.labels, 'int32'), CLASSES);
  const param = (v: Float32Array, shape: number[], name: string) => tf.variable(tf.tensor(v, shape), true, `${backend}/${name}`);
  const w1 = param(init.w1, [IN, HIDDEN], 'w1'), b1 = param(init.b1, [HIDDEN], 'b1');
  const w2 = param(init.w2, [HIDDEN, CLASSES], 'w2'), b2 = param(init.b2, [CLASSES], 'b2');
  const params = [w1, b1, w2, b2];
  const loss = () => {
    const h = tf.relu(tf.add(tf.matMul(x, w1), b1));
    // Default reduction SUM_BY_NONZERO_WEIGHTS with no weights: the mean over the batch, as ours.
    return tf.losses.softmaxCrossEntropy(onehot, tf.add(tf.matMul(h, w2), b2)) as tf.Scalar;
  };
  const step = () => tf.tidy(() => {
    const { value, grads } = tf.variableGrads(loss, params);
    for (const p of params) p.assign(tf.sub(p, tf.mul(grads[p.name]!, LR)));
    return value.dataSync()[0]!;
  });
  return { step, w1 };
}

export const mlpSuite: Suite = {
  name: 'mlp',
  description: `SGD step, MLP ${IN}→${HIDDEN}→${CLASSES} ReLU, batch ${BATCH}, cross-entropy`,
  async setup() {
    const init = makeInit();
    const ours = oursStep(init);
    const oursLoss = ours.step();
    const peers = { cpu: await peerStep('cpu', init), wasm: await peerStep('wasm', init) };
    for (const backend of ['cpu', 'wasm'] as const) {
      await usePeer(backend);
      const peer = peers[backend];
      assertClose(`mlp loss vs tfjs-${backend}`, [oursLoss], [peer.step()], 1e-5);
      assertClose(`mlp w1 after one step vs tfjs-${backend}`, ours.w1.dataSync(), peer.w1.dataSync(), 1e-5);
    }
    return [{
      name: `train step ${IN}→${HIDDEN}→${CLASSES}, batch ${BATCH}`,
      run: { 'switch-ts': ours.step, 'tfjs-cpu': peers.cpu.step, 'tfjs-wasm': peers.wasm.step },
    }];
  },
};
