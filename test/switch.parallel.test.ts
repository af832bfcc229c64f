import { execFile } from 'node:child_process';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Adam, Rng, noGrad, randn, setBackend, tensor, zeros, type Tensor } from '@switch-ts/tensor';
import { SwitchLayer, routingModes, type SwitchLayerOptions } from '@switch-ts/switch';
import { ExpertParallelLayer, type ExpertParallelOptions } from '@switch-ts/switch/parallel';
import { normwiseL2Error } from './tolerance.js';

/** Every layer a test starts, closed at the end even when an assertion failed half-way. */
const open: ExpertParallelLayer[] = [];
afterAll(async () => {
  await Promise.all(open.map((l) => l.close()));
});

async function started(opts: ExpertParallelOptions): Promise<ExpertParallelLayer> {
  const layer = new ExpertParallelLayer(opts);
  open.push(layer);
  return layer.ready();
}

interface Run {
  output: Float64Array | Float32Array;
  auxLoss: number;
  grads: Map<string, Float64Array | Float32Array>;
  dx: Float64Array | Float32Array;
}

/** Forward, a loss that weights every output element differently, backward: everything a test compares. */
function runStep(layer: SwitchLayer, x: Tensor, mask: Tensor | undefined, seed: number): Run {
  const xg = x.detach();
  xg.requiresGrad = true;
  const { output, auxLoss } = layer.forward(xg, mask ? { mask } : {});
  const weights = randn(output.shape, new Rng(seed), { dtype: output.dtype });
  output.mul(weights).sum().add(auxLoss).backward();
  const grads = new Map([...layer.namedParameters()].map(([name, p]) => [name, p.grad!.dataSync() as Float64Array]));
  layer.zeroGrad();
  return { output: output.dataSync() as Float64Array, auxLoss: auxLoss.item(), grads, dx: xg.grad!.dataSync() as Float64Array };
}

const parallelCase = fc
  .record({
    groups: fc.integer({ min: 1, max: 3 }),
    S: fc.integer({ min: 1, max: 12 }),
    dModel: fc.integer({ min: 1, max: 6 }),
    dFF: fc.integer({ min: 1, max: 8 }),
    devices: fc.integer({ min: 1, max: 4 }),
    expertsPerDevice: fc.integer({ min: 1, max: 3 }),
    kPick: fc.nat(),
    routing: fc.constantFrom(...routingModes),
    capacityFactor: fc.constantFrom(0.5, 1, 1.25, 2, Infinity),
    minCapacity: fc.integer({ min: 0, max: 2 }),
    activation: fc.constantFrom('relu' as const, 'gelu' as const),
    jitter: fc.constantFrom(0, 0.1),
    padding: fc.constantFrom(0, 0.3),
    seed: fc.nat({ max: 1000 }),
  })
  .map(({ kPick, expertsPerDevice, ...c }) => {
    const numExperts = c.devices * expertsPerDevice;
    return { ...c, numExperts, topK: 1 + (kPick % numExperts) };
  });

type Case = typeof parallelCase extends fc.Arbitrary<infer T> ? T : never;

async function compare(c: Case, dtype: 'float32' | 'float64', extra: Partial<SwitchLayerOptions> = {}): Promise<{ single: Run; parallel: Run }> {
  const opts: SwitchLayerOptions = {
    dModel: c.dModel, dFF: c.dFF, numExperts: c.numExperts, topK: c.topK, routing: c.routing,
    capacityFactor: c.capacityFactor, minCapacity: c.minCapacity, activation: c.activation, jitter: c.jitter,
    initScale: 2, dtype, seed: c.seed, ...extra,
  };
  const rng = new Rng(c.seed + 1);
  const x = randn([c.groups, c.S, c.dModel], rng, { dtype });
  const mask = c.padding > 0 ? tensor(Array.from({ length: c.groups * c.S }, () => (rng.next() < c.padding ? 0 : 1)), { shape: [c.groups, c.S], dtype: 'int32' }) : undefined;
  const parallel = await started({ ...opts, devices: c.devices, concurrency: 2 });
  const single = new SwitchLayer(opts);
  try {
    if (opts.balance === 'loss-free') {
      // A step that moves the loss-free bias first, so that the compared step routes with b ≠ 0.
      for (const layer of [single, parallel]) {
        runStep(layer, x, mask, c.seed + 3);
        layer.updateBias();
      }
    }
    return { single: runStep(single, x, mask, c.seed + 2), parallel: runStep(parallel, x, mask, c.seed + 2) };
  } finally {
    await parallel.close();
  }
}

describe('ExpertParallelLayer: the same layer as SwitchLayer, its experts on worker threads', () => {
  it('equals SwitchLayer exactly in float64 (output, aux loss, every gradient) for any sizes, top-k, routing and capacity', async () => {
    await fc.assert(fc.asyncProperty(parallelCase, async (c) => {
      const { single, parallel } = await compare(c, 'float64');
      expect(parallel.output).toEqual(single.output);
      expect(parallel.auxLoss).toBe(single.auxLoss);
      expect(parallel.dx).toEqual(single.dx);
      expect([...parallel.grads.keys()]).toEqual([...single.grads.keys()]);
      for (const [name, g] of single.grads) expect(parallel.grads.get(name), name).toEqual(g);
    }), { numRuns: 12 });
  });

  it('equals SwitchLayer exactly in float64 with the routing options after Switch: fine-grained and shared experts, loss-free bias, batch-scope balance', async () => {
    const after = parallelCase.map((c) => ({ ...c, dFF: 2 * c.dFF, routing: c.routing === 'experts-choose' ? 'tokens-choose' as const : c.routing }));
    await fc.assert(fc.asyncProperty(after, fc.boolean(), fc.constantFrom('loss-free' as const, 'aux-loss' as const), async (c, share, balance) => {
      // m = 2 segments keep 2E routed experts, a multiple of D; K_s = D shared experts keep it one when 2k − 1 ≥ D.
      const sharedExperts = share && 2 * c.topK - 1 >= c.devices ? c.devices : 0;
      const { single, parallel } = await compare(c, 'float64', { expertSegments: 2, sharedExperts, balance, balanceScope: 'batch' });
      expect(parallel.output).toEqual(single.output);
      expect(parallel.auxLoss).toBe(single.auxLoss);
      expect(parallel.dx).toEqual(single.dx);
      for (const [name, g] of single.grads) expect(parallel.grads.get(name), name).toEqual(g);
    }), { numRuns: 6 });
  });

  it('equals SwitchLayer within 1e-6 normwise in float32', async () => {
    await fc.assert(fc.asyncProperty(parallelCase, async (c) => {
      const { single, parallel } = await compare(c, 'float32');
      expect(normwiseL2Error(parallel.output, single.output)).toBeLessThanOrEqual(1e-6);
      expect(normwiseL2Error(parallel.dx, single.dx)).toBeLessThanOrEqual(1e-6);
      for (const [name, g] of single.grads) expect(normwiseL2Error(parallel.grads.get(name)!, g), name).toBeLessThanOrEqual(1e-6);
    }), { numRuns: 4 });
  });

  it('trains like SwitchLayer: an optimizer\'s in-place updates on the host are what the devices compute with next', async () => {
    const opts: SwitchLayerOptions = { dModel: 6, dFF: 10, numExperts: 4, dtype: 'float64', seed: 5 };
    const single = new SwitchLayer(opts);
    const parallel = await started({ ...opts, devices: 2 });
    const x = randn([2, 16, 6], new Rng(6), { dtype: 'float64' });
    const losses = [single, parallel].map((layer) => {
      const optimizer = new Adam(layer.parameters(), { lr: 0.05 });
      return Array.from({ length: 4 }, () => {
        const { output, auxLoss } = layer.forward(x);
        const loss = output.sub(x).square().mean().add(auxLoss);
        loss.backward();
        optimizer.step();
        optimizer.zeroGrad();
        return loss.item();
      });
    });
    expect(losses[1]).toEqual(losses[0]);
    for (const [name, p] of single.namedParameters()) expect(parallel.namedParameters().get(name)!.dataSync(), name).toEqual(p.dataSync());
  });

  it('runs without recording under noGrad and in eval mode', async () => {
    const opts: SwitchLayerOptions = { dModel: 4, dFF: 8, numExperts: 2, dtype: 'float64', seed: 8 };
    const parallel = (await started({ ...opts, devices: 2 })).eval();
    const single = new SwitchLayer(opts).eval();
    const x = randn([3, 5, 4], new Rng(9), { dtype: 'float64' });
    const out = noGrad(() => parallel.forward(x).output);
    expect(out.requiresGrad).toBe(false);
    expect(out.dataSync()).toEqual(single.forward(x).output.dataSync());
  });

  it('refuses to differentiate a forward whose activations a later forward replaced on the devices', async () => {
    const layer = await started({ dModel: 4, dFF: 8, numExperts: 2, dtype: 'float64', seed: 10, devices: 2 });
    const x = randn([2, 6, 4], new Rng(13), { dtype: 'float64' });
    x.requiresGrad = true;
    const first = layer.forward(x).output;
    const second = layer.forward(x).output;
    expect(() => first.sum().backward()).toThrow(/ExpertParallelLayer\.backward: this output comes from forward 1, but the devices hold the activations of forward 2/);
    second.sum().backward();
    expect(x.grad).not.toBeNull();
  });
});

describe('ExpertParallelLayer: per-device report', () => {
  it('counts each kept route once on its expert\'s device, and its bytes both ways in forward and backward', async () => {
    const opts = { dModel: 8, dFF: 16, numExperts: 6, topK: 2, capacityFactor: 1, dtype: 'float32' as const, seed: 11 };
    const layer = await started({ ...opts, devices: 3 });
    const x = randn([2, 20, 8], new Rng(12));
    const { output, auxLoss, stats } = layer.forward(x);
    const forwardOnly = layer.deviceStats();
    output.sum().add(auxLoss).backward();
    const report = layer.deviceStats();

    const perDevice = [0, 1, 2].map((d) => layer.expertsOf(d).reduce((s, e) => s + stats.tokensPerExpert[e]!, 0));
    expect(layer.expertsOf(1)).toEqual([2, 3]);
    expect(report.devices.map((d) => d.tokens)).toEqual(perDevice);
    const rowBytes = 8 * 4;
    report.devices.forEach((d, i) => {
      expect(forwardOnly.devices[i]!.bytesReceived).toBe(d.tokens * rowBytes);
      expect(d.bytesReceived).toBe(2 * d.tokens * rowBytes);
      expect(d.bytesSent).toBe(2 * d.tokens * rowBytes);
      expect(d.busySeconds).toBeGreaterThan(0);
      expect(d.idleSeconds).toBeGreaterThanOrEqual(0);
    });
    expect(report.bytesMoved).toBe(4 * perDevice.reduce((a, b) => a + b, 0) * rowBytes);
    expect(report.loadImbalance).toBeCloseTo(Math.max(...perDevice) / (perDevice.reduce((a, b) => a + b, 0) / 3), 12);
    expect(report.droppedTokens).toBe(Math.round(stats.droppedFraction * 40));
    expect(report.criticalPathSeconds).toBeGreaterThan(forwardOnly.criticalPathSeconds);
  });
});

describe('ExpertParallelLayer: bad input', () => {
  it('rejects an input whose dtype is not the layer\'s, naming the layer and both dtypes, rather than returning the layer\'s dtype', async () => {
    const layer = await started({ dModel: 4, dFF: 8, numExperts: 2, devices: 2 });
    for (const dtype of ['float64', 'int32'] as const) {
      expect(() => layer.forward(zeros([2, 3, 4], dtype))).toThrow(`ExpertParallelLayer.forward: input dtype ${dtype} does not match the layer's dtype float32; cast the input with x.cast('float32')`);
    }
  });
});

describe('ExpertParallelLayer: backends', () => {
  it('with the gpu backend active refuses forward and backward, saying it needs the cpu backend, changes nothing, and works again after setBackend(\'cpu\')', async () => {
    const opts = { dModel: 4, dFF: 8, numExperts: 4, jitter: 0.1, dtype: 'float64' as const, seed: 5 };
    const layer = await started({ ...opts, devices: 2 });
    const twin = new SwitchLayer(opts);
    const x = randn([2, 6, 4], new Rng(6), { dtype: 'float64' });
    expect(runStep(layer, x, undefined, 7)).toEqual(runStep(twin, x, undefined, 7));
    const { output } = layer.forward(x);
    twin.forward(x);
    const stats = layer.deviceStats();
    setBackend('gpu', { mode: 'cpu' });
    try {
      expect(() => layer.forward(x)).toThrow("ExpertParallelLayer.forward: needs the cpu backend (its experts live in memory shared with the device threads), the active backend is 'gpu'; call setBackend('cpu') first");
      expect(() => output.sum().backward()).toThrow("ExpertParallelLayer.backward: needs the cpu backend");
      // Reading the weights reads them where they are; it does not move them off the shared memory.
      expect(layer.experts.wi.toArray()).toEqual(twin.experts.wi.toArray());
      expect(layer.experts.wo.dataSync()).toEqual(twin.experts.wo.dataSync());
      expect(layer.deviceStats()).toEqual(stats);
    } finally {
      setBackend('cpu');
    }
    layer.zeroGrad();
    twin.zeroGrad();
    // Bit-identical to the twin afterwards, jitter included: the refused calls drew no random numbers and ran no step.
    expect(runStep(layer, x, undefined, 8)).toEqual(runStep(twin, x, undefined, 8));
  });
});

/** Runs a scenario of test/fixtures/parallel-liveness.ts in its own process: what it printed, or why it did not finish in time. */
function liveness(scenario: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', '--conditions=development', 'test/fixtures/parallel-liveness.ts', scenario], { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${scenario}: ${error.killed ? 'still running after 60 s (a wait without a bound, or the process kept alive)' : error.message} ${stderr}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>);
    });
  });
}

describe('ExpertParallelLayer: every wait ends', () => {
  it('terminateDevice racing close() settles in either order, and the process exits', async () => {
    const [first, second] = await Promise.all([liveness('terminate, then close'), liveness('close, then terminate')]);
    expect(first).toEqual({ terminate: 'resolved', close: 'resolved' });
    expect(second).toEqual({ terminate: 'resolved', close: 'resolved' });
  }, 90_000);

  it('ready() after close() rejects', async () => {
    expect(await liveness('ready after close')).toEqual({ ready: 'rejected: ExpertParallelLayer.ready: the layer was closed' });
  }, 90_000);

  it('a supervisor thread that dies, between steps or during one, fails the next step instead of blocking it forever', async () => {
    const message = /^ExpertParallelLayer\.forward: the supervisor thread died \(.*\); its devices ended with it$/;
    const [between, during] = await Promise.all([liveness('supervisor dies between steps'), liveness('supervisor dies during a step')]);
    for (const r of [between, during]) {
      expect(r.error).toMatch(message);
      expect(r.close).toBe('resolved');
    }
  }, 90_000);
});

describe('ExpertParallelLayer: threads', () => {
  const opts = { dModel: 8, dFF: 32, numExperts: 4, seed: 1 };

  it('rejects bad configurations, naming the op and the values', () => {
    expect(() => new ExpertParallelLayer({ ...opts, devices: 3 })).toThrow('ExpertParallelLayer: numExperts = 4 is not divisible by devices = 3');
    expect(() => new ExpertParallelLayer({ ...opts, devices: 0 })).toThrow('ExpertParallelLayer: devices must be an integer ≥ 1, got 0');
    expect(() => new ExpertParallelLayer({ ...opts, devices: 1.5 })).toThrow('ExpertParallelLayer: devices must be an integer ≥ 1, got 1.5');
    expect(() => new ExpertParallelLayer({ ...opts, devices: 2, concurrency: 0 })).toThrow('ExpertParallelLayer: concurrency must be an integer ≥ 1, got 0');
    expect(() => new ExpertParallelLayer({ ...opts, numExperts: 2.5, devices: 1 })).toThrow('ExpertParallelLayer: numExperts must be an integer ≥ 1, got 2.5');
    expect(() => new ExpertParallelLayer({ ...opts, devices: 2, topK: 2, sharedExperts: 1 }))
      .toThrow('ExpertParallelLayer: the 3 routed experts (expertSegments · numExperts − sharedExperts = 1 · 4 − 1) are not divisible by devices = 2: each device holds an equal share');
  });

  it('refuses a step before its devices have started, rather than blocking on them', async () => {
    const layer = new ExpertParallelLayer({ ...opts, devices: 2 });
    open.push(layer);
    expect(() => layer.forward(randn([4, 8], new Rng(0)))).toThrow('ExpertParallelLayer.forward: the devices are still starting; await layer.ready() before the first step');
    await layer.ready();
    expect(layer.forward(randn([4, 8], new Rng(0))).output.shape).toEqual([4, 8]);
  });

  it('reuses its workers across steps, and a terminated worker fails the next step that needs it', async () => {
    const layer = await started({ ...opts, devices: 2 });
    const x = randn([2, 16, 8], new Rng(2));
    for (let i = 0; i < 3; i++) layer.forward(x);
    const { output } = layer.forward(x);
    await layer.terminateDevice(1);
    expect(() => output.sum().backward()).toThrow(/^ExpertParallelLayer\.backward: device 1 of 2 \(experts 2–3\) failed: /);
    expect(() => layer.forward(x)).toThrow(/^ExpertParallelLayer\.forward: device 1 of 2 \(experts 2–3\) failed: /);
  });

  it('a worker that dies while the host waits on it fails that step instead of hanging', async () => {
    const layer = await started({ dModel: 64, dFF: 256, numExperts: 2, devices: 2, seed: 3 });
    const x = randn([8, 128, 64], new Rng(4));
    // The kill lands while a step is blocked on the devices; the host wakes and throws.
    const killed = layer.terminateDevice(0);
    let error: unknown = null;
    for (let i = 0; i < 100 && error === null; i++) {
      try {
        layer.forward(x);
      } catch (e) {
        error = e;
      }
    }
    await killed;
    expect(String(error)).toMatch(/ExpertParallelLayer\.forward: device 0 of 2 \(expert 0\) failed: /);
  });

  it('close() ends every thread; later steps throw', async () => {
    const layer = await started({ ...opts, devices: 4 });
    await layer.close();
    await layer.close();
    expect(() => layer.forward(randn([4, 8], new Rng(0)))).toThrow('ExpertParallelLayer.forward: the layer was closed');
  });
});
