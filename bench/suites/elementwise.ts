import { add, exp, randn, Rng, type Tensor } from '@switch-ts/tensor';
import { assertClose, type Case, type Suite } from '../harness.js';
import { peerCall, tf, usePeer, type PeerBackend } from '../peers/tfjs.js';

const ROWS = 1024, COLS = 1024;

type Op = { name: string; ours: (x: Tensor, y: Tensor) => Tensor; peer: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor; yShape: number[] };

const ops: Op[] = [
  { name: 'add [1024,1024]+[1024,1024]', ours: add, peer: tf.add, yShape: [ROWS, COLS] },
  // A bias row broadcast down the matrix: the strided path of the binary kernel.
  { name: 'add [1024,1024]+[1024] (broadcast)', ours: add, peer: tf.add, yShape: [COLS] },
  { name: 'exp [1024,1024]', ours: (x) => exp(x), peer: (x) => tf.exp(x), yShape: [COLS] },
];

export const elementwiseSuite: Suite = {
  name: 'elementwise',
  description: 'float32, 1M elements',
  async setup() {
    const rng = new Rng(2);
    const x = randn([ROWS, COLS], rng);
    const cases: Case[] = [];
    for (const op of ops) {
      const y = randn(op.yShape, rng);
      const want = op.ours(x, y).dataSync();
      const peerRun = async (backend: PeerBackend) => {
        await usePeer(backend);
        const px = tf.tensor(x.dataSync() as Float32Array, [ROWS, COLS]), py = tf.tensor(y.dataSync() as Float32Array, op.yShape);
        assertClose(`${op.name} vs tfjs-${backend}`, want, op.peer(px, py).dataSync(), 1e-6);
        return peerCall(() => op.peer(px, py));
      };
      cases.push({
        name: op.name,
        run: {
          'switch-ts': () => { op.ours(x, y).dispose(); },
          'tfjs-cpu': await peerRun('cpu'),
          'tfjs-wasm': await peerRun('wasm'),
        },
      });
    }
    return cases;
  },
};
