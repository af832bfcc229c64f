import { performance } from 'node:perf_hooks';
import {
  add, crossEntropy, getBackend, GPU_MODES, matmul, mul, noGrad, randn, relu, Rng, setBackend, softmax, sub, tensor, tidy,
  type GpuMode, type Tensor,
} from '@switch-ts/tensor';
import { assertClose, type Case, type Suite } from '../harness.js';

/**
 * The gpu.js backend in each mode that runs here beside the CPU backend: matmul 256²/512²/1024²,
 * softmax [1024,1024] and an SGD step of a 784→128→10 MLP (batch 64); webasm also under gpu.js's
 * async contract (`webasm-async`, worker threads). Every call reads its result back with
 * `await x.data()` (a GL kernel is only done once its texture is read). The first call of a case
 * compiles its kernels; it is timed apart and reported on stderr and in the case name, the steady
 * state by tinybench. Set BENCH_GPU_MODES=cpu,webasm,webasm-async to pick (headlessgl needs xvfb-run).
 */
type Impl = 'cpu-backend' | GpuMode | 'webasm-async';

function use(impl: Impl): void {
  if (impl === 'cpu-backend') setBackend('cpu');
  else if (impl === 'webasm-async') setBackend('gpu', { mode: 'webasm', strict: true, async: true });
  else setBackend('gpu', { mode: impl, strict: true });
}

function runnable(mode: GpuMode): boolean {
  try {
    setBackend('gpu', { mode, strict: true });
    return getBackend().mode === mode;
  } catch {
    return false;
  } finally {
    setBackend('cpu');
  }
}

const wanted = process.env.BENCH_GPU_MODES?.split(',') ?? ['headlessgl', 'webasm', 'webasm-async', 'cpu'];
const modes: Impl[] = [...GPU_MODES.filter((m) => wanted.includes(m) && runnable(m)),
  ...(wanted.includes('webasm-async') && runnable('webasm') ? ['webasm-async' as const] : [])];

interface Workload {
  name: string;
  flops?: number;
  /** Builds inputs on the active backend; returns the timed call (its result read back). */
  make(): () => Promise<ArrayLike<number>>;
}

/** The values of `build()`'s tensor, read back asynchronously; every other tensor it makes is freed. */
async function readBack(build: () => Tensor): Promise<ArrayLike<number>> {
  const out = tidy(build);
  try {
    return (await out.data()).slice();
  } finally {
    out.dispose();
  }
}

function matmulWorkload(n: number): Workload {
  return {
    name: `matmul ${n}x${n}`,
    flops: 2 * n ** 3,
    make() {
      const rng = new Rng(1);
      const a = randn([n, n], rng), b = randn([n, n], rng);
      return () => readBack(() => matmul(a, b));
    },
  };
}

const softmaxWorkload: Workload = {
  name: 'softmax [1024,1024] axis -1',
  make() {
    const x = randn([1024, 1024], new Rng(3), { std: 30 });
    return () => readBack(() => softmax(x, -1));
  },
};

const mlpWorkload: Workload = {
  name: 'MLP SGD step 784-128-10, batch 64',
  make() {
    const rng = new Rng(4);
    const x = randn([64, 784], rng);
    const labels = tensor(Int32Array.from({ length: 64 }, (_, i) => i % 10), { dtype: 'int32' });
    const param = (shape: number[], std: number) => {
      const p = randn(shape, rng, { std });
      p.requiresGrad = true;
      return p;
    };
    const params: Tensor[] = [param([784, 128], 0.05), param([128], 0), param([128, 10], 0.1), param([10], 0)];
    const [w1, b1, w2, b2] = params as [Tensor, Tensor, Tensor, Tensor];
    return () => readBack(() => {
      const loss = crossEntropy(add(matmul(relu(add(matmul(x, w1), b1)), w2), b2), labels);
      loss.backward();
      noGrad(() => {
        for (const p of params) {
          p.assign(sub(p, mul(p.grad!, 0.1)));
          p.zeroGrad();
        }
      });
      return loss;
    });
  },
};

async function timeOnce(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

export const gpuSuite: Suite = {
  name: 'gpu',
  description: `the gpu.js backend in modes ${modes.join(', ')} beside the CPU backend; first call (kernel compile) apart from steady state`,
  async setup() {
    const cases: Case[] = [];
    for (const w of [matmulWorkload(256), matmulWorkload(512), matmulWorkload(1024), softmaxWorkload, mlpWorkload]) {
      use('cpu-backend');
      const want = await w.make()();
      for (const impl of ['cpu-backend', ...modes] as Impl[]) {
        use(impl);
        const call = w.make();
        let got: ArrayLike<number> = [];
        const firstMs = await timeOnce(async () => { got = await call(); });
        const secondMs = await timeOnce(call);
        assertClose(`${w.name} on ${impl}`, got, want, 1e-4);
        process.stderr.write(`  ${w.name} [${impl}]: first call ${firstMs.toFixed(1)} ms, second ${secondMs.toFixed(1)} ms (${(firstMs / secondMs).toFixed(1)}x)\n`);
        cases.push({
          name: `${w.name} [${impl === 'cpu-backend' ? 'cpu backend' : `gpu:${impl}`}] first call ${firstMs.toFixed(0)} ms`,
          ...(w.flops ? { flops: w.flops } : {}),
          run: { 'switch-ts': async () => { use(impl); await call(); } },
        });
      }
    }
    setBackend('cpu');
    return cases;
  },
};
