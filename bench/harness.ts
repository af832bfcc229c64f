import { Bench } from 'tinybench';
import { usePeer, type PeerBackend } from './peers/tfjs.js';
import { maxNorm, normwiseError } from '../test/tolerance.js';

/**
 * What a suite hands the runner: cases, each one workload run by us and by the peers side by side
 * in one tinybench instance, so that machine noise hits every implementation of a case alike.
 */
export type Impl = 'switch-ts' | `tfjs-${PeerBackend}` | 'torch';

export interface Case {
  name: string;
  /** FLOPs of one call, for GFLOP/s; omitted where the count means little (elementwise, softmax). */
  flops?: number;
  run: Partial<Record<Impl, () => void>> & { 'switch-ts': () => void };
}

export interface Suite {
  name: string;
  description: string;
  /** Builds inputs and checks that ours and the peers agree before anything is timed; throws if not. */
  setup(): Promise<Case[]>;
}

/**
 * A suite whose peer lives outside this process (PyTorch in a Python child): tinybench cannot
 * hold its tasks, so the suite alternates the calls itself and returns the figures, with what
 * it learnt about the peer for the JSON's machine record.
 */
export interface SelfTimedSuite {
  name: string;
  description: string;
  run(opts: TimingOptions): Promise<{ figures: Figure[]; machine?: Record<string, unknown> }>;
}

export interface Figure {
  suite: string;
  case: string;
  impl: Impl;
  samples: number;
  meanMs: number;
  medianMs: number;
  minMs: number;
  rmePercent: number;
  opsPerSec: number;
  gflops: number | null;
  /** Peer median time / our median time: above 1 means switch-ts is faster. Ours only. */
  vsTfjsCpu: number | null;
  vsTfjsWasm: number | null;
  /** Our median time / PyTorch's: the other way round, as the targets are stated (≤ 2: at most twice PyTorch's time). Ours only. */
  vsTorch: number | null;
}

export interface TimingOptions {
  /** Time budget per task (ms) and the minimum number of timed calls; tinybench runs until both are met. */
  time: number;
  iterations: number;
  warmupTime: number;
  warmupIterations: number;
}

const peerOf = (impl: Impl): PeerBackend | null => (impl.startsWith('tfjs-') ? (impl.slice('tfjs-'.length) as PeerBackend) : null);

export async function measure(suite: Suite, cases: Case[], opts: TimingOptions): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const c of cases) {
    const bench = new Bench({ name: `${suite.name}/${c.name}`, throws: true, ...opts });
    for (const [impl, fn] of Object.entries(c.run) as [Impl, () => void][]) {
      const peer = peerOf(impl);
      // The tfjs backend is global state: switch it before each task's warmup and timed phases.
      bench.add(impl, fn, peer ? { beforeAll: async () => { await usePeer(peer); } } : {});
    }
    await bench.run();
    const rows = bench.tasks.map((task): Figure => {
      const r = task.result;
      if (r.state !== 'completed') throw new Error(`${suite.name}/${c.name}/${task.name}: ${r.state}`);
      return {
        suite: suite.name, case: c.name, impl: task.name as Impl,
        samples: r.latency.samplesCount,
        meanMs: r.latency.mean, medianMs: r.latency.p50, minMs: r.latency.min, rmePercent: r.latency.rme,
        opsPerSec: 1000 / r.latency.mean,
        gflops: c.flops === undefined ? null : c.flops / (r.latency.p50 * 1e6),
        vsTfjsCpu: null, vsTfjsWasm: null, vsTorch: null,
      };
    });
    const ours = rows.find((f) => f.impl === 'switch-ts')!;
    const ratio = (impl: Impl) => {
      const peer = rows.find((f) => f.impl === impl);
      return peer ? peer.medianMs / ours.medianMs : null;
    };
    ours.vsTfjsCpu = ratio('tfjs-cpu');
    ours.vsTfjsWasm = ratio('tfjs-wasm');
    figures.push(...rows);
  }
  return figures;
}

/** Throws unless max|x − y| ≤ tol·max(1, max|y|): normwise, and absolute for results below 1. */
export function assertClose(what: string, x: ArrayLike<number>, y: ArrayLike<number>, tol: number): void {
  if (x.length !== y.length) throw new Error(`${what}: lengths ${x.length} and ${y.length} differ`);
  const scale = Math.max(1, maxNorm(y));
  const err = normwiseError(x, y, scale);
  if (!(err <= tol)) throw new Error(`${what}: max abs difference ${err * scale} exceeds ${tol} × ${scale}`);
}
