import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { getThreads, setThreads } from '@switch-ts/tensor';
import { measure, type Figure, type SelfTimedSuite, type Suite, type TimingOptions } from './harness.js';
import { peerInfo, tf } from './peers/tfjs.js';
import { elementwiseSuite } from './suites/elementwise.js';
import { gpuSuite } from './suites/gpu.js';
import { matmulSuite } from './suites/matmul.js';
import { mlpSuite } from './suites/mlp.js';
import { parallelSuite } from './suites/parallel.js';
import { softmaxSuite } from './suites/softmax.js';
import { switchSuite } from './suites/switch.js';
import { torchSuite } from './suites/torch.js';

/**
 * pnpm bench [NAME | --suite NAME]... [--json FILE] [--time MS] [--threads N]
 * Runs each suite's cases with switch-ts and its peers side by side (TensorFlow.js on its cpu and
 * wasm backends in this process; PyTorch in a Python child for the `torch` suite, when installed)
 * and prints one table; --json also writes the figures with the machine they came from.
 */
const suites: (Suite | SelfTimedSuite)[] = [matmulSuite, elementwiseSuite, softmaxSuite, mlpSuite, switchSuite, gpuSuite, parallelSuite, torchSuite];

// `pnpm bench -- --suite x` forwards the `--` itself; it separates nothing here.
const args = process.argv.slice(2).filter((a, i) => !(i === 0 && a === '--'));
const { values, positionals } = parseArgs({
  args,
  allowPositionals: true, // `pnpm bench torch` = `pnpm bench --suite torch`
  options: {
    suite: { type: 'string', multiple: true },
    json: { type: 'string' },
    time: { type: 'string', default: '1000' },
    // switch-ts's matmul threads (setThreads); the default is the library's, min(CPUs, 4).
    threads: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(`usage: pnpm bench [[--suite] ${suites.map((s) => s.name).join('|')}]... [--json FILE] [--time MS per task] [--threads N for switch-ts]`);
  process.exit(0);
}
const named = [...(values.suite ?? []), ...positionals];
const selected = named.length > 0 ? named : suites.map((s) => s.name);
const unknown = selected.filter((name) => !suites.some((s) => s.name === name));
if (unknown.length > 0) throw new Error(`unknown suite ${unknown.join(', ')}; known: ${suites.map((s) => s.name).join(', ')}`);

if (values.threads !== undefined) setThreads(Number(values.threads));

// Few but long samples: one 512² matmul on tfjs-cpu takes about half a second.
const timing: TimingOptions = { time: Number(values.time), iterations: 5, warmupTime: 200, warmupIterations: 2 };

function cpuModel(): string {
  const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
  return line?.split(':')[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
}

// Production mode, as an application would run tfjs: no per-op debug checks.
tf.enableProdMode();

const figures: Figure[] = [];
let peerMachine: Record<string, unknown> = {};
const loadBefore = loadavg()[0]!;
for (const suite of suites.filter((s) => selected.includes(s.name))) {
  process.stderr.write(`${suite.name}: ${suite.description}\n`);
  if ('run' in suite) {
    const result = await suite.run(timing);
    figures.push(...result.figures);
    peerMachine = { ...peerMachine, ...result.machine };
  } else {
    figures.push(...(await measure(suite, await suite.setup(), timing)));
  }
}

const machine = {
  cpu: cpuModel(),
  cores: cpus().length,
  switchTsThreads: getThreads(),
  node: process.version,
  date: new Date().toISOString(),
  // 1-minute load averages: above the core count, other processes shared the machine.
  loadavg: { before: loadBefore, after: loadavg()[0]! },
  ...peerInfo(),
  ...peerMachine,
};

const fixed = (x: number | null, digits: number) => (x === null ? '' : x.toFixed(digits));
console.log(`\n${machine.cpu}, ${machine.cores} cores, switch-ts on ${machine.switchTsThreads} thread(s), Node ${machine.node}, tfjs ${machine.tfjs} (wasm: ${machine.wasmThreads} thread, SIMD ${machine.wasmSimd}), ${machine.date}`);
console.table(figures.map((f) => ({
  case: `${f.suite}: ${f.case}`,
  impl: f.impl,
  'median ms': fixed(f.medianMs, 3),
  'mean ms': fixed(f.meanMs, 3),
  '±%': fixed(f.rmePercent, 1),
  'ops/s': fixed(f.opsPerSec, 1),
  'GFLOP/s': fixed(f.gflops, 2),
  '× tfjs-cpu': fixed(f.vsTfjsCpu, 2),
  '× tfjs-wasm': fixed(f.vsTfjsWasm, 2),
  'switch-ts ÷ torch': fixed(f.vsTorch, 2),
})));
console.log('× peer = peer median time / switch-ts median time (above 1: switch-ts is faster).');
console.log('switch-ts ÷ torch = switch-ts median time / PyTorch median time (below 1: switch-ts is faster).');

if (values.json) {
  // pnpm runs the script inside bench/; a relative path means relative to where pnpm was invoked.
  const path = resolve(process.env.INIT_CWD ?? process.cwd(), values.json);
  writeFileSync(path, JSON.stringify({ machine, timing, figures }, null, 2) + '\n');
  console.log(`wrote ${path}`);
}
