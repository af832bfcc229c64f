import { wasmApi } from './api.js';
import { kernelHeap, type WasmHeap } from './heap.js';
import { ADAM_COEFFICIENTS, optimizerModule, type AdamCoefficients } from './optimizer-module.js';

type Adam = (theta: number, grad: number, m: number, v: number, n: number, ...coefficients: number[]) => void;

/**
 * The optimizers' one-pass steps of ./optimizer-module.ts, on float32 parameters where they live
 * in the tensor heap (./heap.ts), copied in and out where they do not.
 */
class WasmOptimizer {
  private readonly adamStep: Adam;

  constructor(private readonly heap: WasmHeap) {
    this.adamStep = heap.instantiate<{ adam: Adam }>(optimizerModule).exports.adam;
  }

  /** Adam's step (optim/adam.ts) in place on θ, m and v; false, having done nothing, unless all four are float32 and the heap has room. */
  adam(theta: Float32Array | Float64Array, grad: Float32Array | Float64Array, m: Float32Array | Float64Array, v: Float32Array | Float64Array, c: AdamCoefficients): boolean {
    if (![theta, grad, m, v].every((a) => a instanceof Float32Array)) return false;
    return this.heap.withAddresses([theta, grad, m, v], [theta, m, v], ([t, g, mAt, vAt]) => {
      this.adamStep(t!, g!, mAt!, vAt!, theta.length, ...ADAM_COEFFICIENTS.map((name) => c[name]));
    });
  }
}

let instance: WasmOptimizer | null | undefined;
let enabled = true;

/** The wasm optimizer steps, or null where wasm SIMD is missing (or tests turned them off). */
export function wasmOptimizer(): WasmOptimizer | null {
  if (!enabled) return null;
  instance ??= wasmApi()?.validate(optimizerModule()) ? new WasmOptimizer(kernelHeap()) : null;
  return instance;
}

/** For tests (through @switch-ts/tensor/testing): false makes the optimizers take their JS loops. Returns the previous setting. */
export function useWasmOptimizer(on: boolean): boolean {
  const previous = enabled;
  enabled = on;
  return previous;
}
