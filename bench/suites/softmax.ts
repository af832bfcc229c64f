import { randn, Rng, softmax } from '@switch-ts/tensor';
import { assertClose, type Suite } from '../harness.js';
import { peerCall, tf, usePeer, type PeerBackend } from '../peers/tfjs.js';

const SHAPE = [1024, 1024];

export const softmaxSuite: Suite = {
  name: 'softmax',
  description: 'float32 softmax along the last axis',
  async setup() {
    // Scaled logits, so that a missing max-subtraction would show up as inf/NaN in the check.
    const x = randn(SHAPE, new Rng(3), { std: 30 });
    const want = softmax(x, -1).dataSync();
    const peerRun = async (backend: PeerBackend) => {
      await usePeer(backend);
      const px = tf.tensor2d(x.dataSync() as Float32Array, SHAPE as [number, number]);
      assertClose(`softmax vs tfjs-${backend}`, want, tf.softmax(px, -1).dataSync(), 1e-5);
      return peerCall(() => tf.softmax(px, -1));
    };
    return [{
      name: 'softmax [1024,1024] axis -1',
      run: {
        'switch-ts': () => { softmax(x, -1).dispose(); },
        'tfjs-cpu': await peerRun('cpu'),
        'tfjs-wasm': await peerRun('wasm'),
      },
    }];
  },
};
