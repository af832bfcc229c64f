import { Adam, Rng, randn, tidy, type Tensor } from '@switch-ts/tensor';
import { ExpertParallelLayer, type ExpertParallelOptions } from '@switch-ts/switch/parallel';

/** One entry of devices.json's `cases`, the fields docs/devices.md explains. */
export interface CaseResult {
  name: string;
  devices: number;
  numExperts: number;
  topK: number;
  balanceCoef: number;
  /** Measured: median wall time of a training step (forward, backward, Adam) on this machine. */
  stepSeconds: number;
  /** Modelled: the host's own work + each exchange's slowest device + the transfers at BANDWIDTH. */
  modelledStepSeconds: number;
  bytesMoved: number;
  perDevice: { tokens: number; busySeconds: number; idleSeconds: number; bytesSent: number; bytesReceived: number }[];
}

/** The modelled link: bytes per second into and out of each device, devices in parallel (about a PCIe 3.0 ×16 link). */
export const BANDWIDTH = 10e9;

export const model = { dModel: 128, dFF: 512, numExperts: 4, groups: 4, groupSize: 512 };

export interface Settings {
  steps: number;
  /** A smoke run: it checks the plumbing and judges no claim. */
  quick: boolean;
}

const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

export interface CaseSpec {
  name: string;
  devices: number;
  topK: number;
  balanceCoef: number;
  /**
   * Case 3's inputs (sharing an offset μ); 'skewed' also points the router's expert-0 column along
   * μ, 'initial' keeps the freshly initialized router.
   */
  offsetInputs?: 'skewed' | 'initial';
}

function layerOf({ devices, topK, balanceCoef }: CaseSpec): ExpertParallelOptions {
  // Dropless (capacity = S): every routed token is computed, so a device's work is its tokens.
  return { dModel: model.dModel, dFF: model.dFF, numExperts: model.numExperts, topK, balanceCoef, capacityFactor: Infinity, devices, seed: 1 };
}

/** A regression step on `x`: forward, backward and Adam, timed on the host, with the devices' report. */
function trainStep(layer: ExpertParallelLayer, optimizer: Adam, x: Tensor) {
  const started = performance.now();
  tidy(() => {
    const { output, auxLoss } = layer.forward(x);
    output.sub(x).square().mean().add(auxLoss).backward();
    optimizer.step();
    optimizer.zeroGrad();
  });
  return { seconds: (performance.now() - started) / 1000, report: layer.deviceStats() };
}

/**
 * Inputs that share an offset μ. A skewed router has its expert-0 column along μ, so most tokens
 * choose expert 0: the collapse a router can drift into without the balancing loss, made here by
 * construction so that the figures do not depend on how a short training run happens to go.
 */
function offsetInputs(layer: ExpertParallelLayer, router: 'skewed' | 'initial', rng: Rng): Tensor {
  const mu = randn([model.dModel], rng).mul(0.5);
  if (router === 'skewed') {
    const w = layer.router.weight;
    const values = Float32Array.from(w.dataSync());
    mu.div(mu.square().sum().sqrt()).mul(2).dataSync().forEach((v, i) => { values[i * model.numExperts] = v; });
    w.assign(values);
  }
  return randn([model.groups, model.groupSize, model.dModel], rng).add(mu);
}

export async function runCase(spec: CaseSpec, settings: Settings, progress: (line: string) => void): Promise<CaseResult> {
  const layer = await new ExpertParallelLayer(layerOf(spec)).ready();
  try {
    const rng = new Rng(7);
    const x = spec.offsetInputs ? offsetInputs(layer, spec.offsetInputs, rng) : randn([model.groups, model.groupSize, model.dModel], rng);
    const optimizer = new Adam(layer.parameters(), { lr: 1e-3 });
    trainStep(layer, optimizer, x); // warm-up: JIT, row buffers
    const steps = Array.from({ length: settings.steps }, (_, s) => {
      progress(`${spec.name}: measured step ${s + 1}/${settings.steps}`);
      return trainStep(layer, optimizer, x);
    });
    return summarize(spec, steps);
  } finally {
    await layer.close();
  }
}

function summarize({ name, devices, topK, balanceCoef }: CaseSpec, steps: ReturnType<typeof trainStep>[]): CaseResult {
  const perDevice = steps[0]!.report.devices.map((_, d) => {
    const of = (f: (s: (typeof steps)[number]['report']['devices'][number]) => number) => mean(steps.map((s) => f(s.report.devices[d]!)));
    return { tokens: of((r) => r.tokens), busySeconds: of((r) => r.busySeconds), idleSeconds: of((r) => r.idleSeconds), bytesSent: of((r) => r.bytesSent), bytesReceived: of((r) => r.bytesReceived) };
  });
  const modelled = steps.map(({ seconds, report }) => {
    const transfer = Math.max(...report.devices.map((d) => d.bytesSent + d.bytesReceived)) / BANDWIDTH;
    return seconds - report.exchangeSeconds + report.criticalPathSeconds + transfer;
  });
  return {
    name, devices, numExperts: model.numExperts, topK, balanceCoef,
    stepSeconds: median(steps.map((s) => s.seconds)),
    modelledStepSeconds: median(modelled),
    bytesMoved: mean(steps.map((s) => s.report.bytesMoved)),
    perDevice,
  };
}
