import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { addGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Add_grad.js';
import { batchMatMulGradConfig } from '@tensorflow/tfjs-core/dist/gradients/BatchMatMul_grad.js';
import { multiplyGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Multiply_grad.js';
import { divGradConfig } from '@tensorflow/tfjs-core/dist/gradients/RealDiv_grad.js';
import { reluGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Relu_grad.js';
import { reshapeGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Reshape_grad.js';
import { subGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Sub_grad.js';
import { sumGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Sum_grad.js';
import { castGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Cast_grad.js';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

/**
 * The peer: TensorFlow.js 4.22 in the same process, on two backends. 'cpu' is plain JS loops
 * (tfjs-backend-cpu), the like-for-like comparison; 'wasm' is XNNPACK compiled to WebAssembly
 * with SIMD, the reference for what vectorized code reaches in this runtime.
 */
export type PeerBackend = 'cpu' | 'wasm';

// tfjs-core's node bundle ships without gradients (the umbrella @tensorflow/tfjs package registers
// them all). Its ESM build has them, one file each, and registers into the same global registry;
// register_all_gradients itself cannot be loaded here (it imports a directory), so these are the
// ones the MLP step needs (softmaxCrossEntropy brings its own custom gradient).
for (const config of [addGradConfig, batchMatMulGradConfig, castGradConfig, divGradConfig, multiplyGradConfig, reluGradConfig, reshapeGradConfig, subGradConfig, sumGradConfig]) {
  tf.registerGradient(config);
}

let wasmReady: Promise<void> | null = null;

/** Loads the wasm binaries from disk (node_modules), single-threaded. */
function initWasm(): Promise<void> {
  wasmReady ??= (async () => {
    const entry = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
    // The .wasm files sit next to the package's node entry point in dist/; the trailing slash makes it a prefix.
    setWasmPaths(join(dirname(entry), '/'));
    // Node never gets the threaded binary (tfjs disables WASM_HAS_MULTITHREAD_SUPPORT under IS_NODE);
    // asking for one thread also keeps XNNPACK from creating a thread pool.
    setThreadsCount(1);
    const current = tf.getBackend();
    if (!(await tf.setBackend('wasm'))) throw new Error('tfjs: the wasm backend failed to initialize');
    if (current) await tf.setBackend(current);
  })();
  return wasmReady;
}

export async function usePeer(backend: PeerBackend): Promise<typeof tf> {
  if (backend === 'wasm') await initWasm();
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs: backend '${backend}' failed to initialize`);
  await tf.ready();
  return tf;
}

/** What the wasm peer really ran with, for the report. */
export function peerInfo(): { tfjs: string; wasmThreads: number | null; wasmSimd: boolean | null } {
  const wasmLoaded = wasmReady !== null;
  return {
    tfjs: tf.version_core,
    wasmThreads: wasmLoaded ? getThreadsCount() : null,
    wasmSimd: wasmLoaded ? Boolean(tf.env().getBool('WASM_HAS_SIMD_SUPPORT')) : null,
  };
}

export { tf };

/**
 * A timed peer call: run `op`, read the result back (as ours is read on the CPU), free it.
 * The readback must not be tidy's return value: tidy walks a returned container element by
 * element looking for tensors, which on a 1M-element Float32Array costs more than the op.
 */
export function peerCall(op: () => tf.Tensor): () => void {
  return () => { tf.tidy(() => { op().dataSync(); }); };
}
