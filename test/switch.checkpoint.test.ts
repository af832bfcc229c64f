import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng, randn } from '@switch-ts/tensor';
import { loadSafetensors, saveSafetensors } from '@switch-ts/tensor/node';
import { SwitchLayer, switchTransformersLayout } from '@switch-ts/switch';
import { ExpertParallelLayer } from '@switch-ts/switch/parallel';
import { refRead, refWrite } from './reference/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'switch-checkpoint-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const transposed = (m: number[][]): number[] => m[0]!.flatMap((_, j) => m.map((row) => row[j]!));
const opts = { dModel: 3, dFF: 5, numExperts: 4, dtype: 'float64' as const };

describe('switchTransformersLayout: a switch layer under Hugging Face SwitchTransformersSparseMLP names', () => {
  it('names router.classifier.weight and experts.expert_{i}.wi/wo.weight, each the [out, in] transpose of ours', () => {
    const layer = new SwitchLayer({ ...opts, seed: 1 });
    const path = join(dir, 'hf.safetensors');
    const prefix = 'encoder.block.1.layer.1.mlp.';
    saveSafetensors(layer, path, { layout: switchTransformersLayout(layer, prefix), metadata: { format: 'pt' } });
    const { tensors, metadata } = refRead(readFileSync(path));
    expect(metadata).toEqual({ format: 'pt' });
    expect(Object.keys(tensors).sort()).toEqual([
      'router.classifier.weight',
      ...[0, 1, 2, 3].flatMap((i) => [`experts.expert_${i}.wi.weight`, `experts.expert_${i}.wo.weight`]),
    ].map((n) => prefix + n).sort());
    expect(tensors[`${prefix}router.classifier.weight`]).toEqual({ dtype: 'F64', shape: [4, 3], values: transposed(layer.router.weight.toArray() as number[][]) });
    const wi = layer.experts.wi.toArray() as number[][][], wo = layer.experts.wo.toArray() as number[][][];
    for (let i = 0; i < 4; i++) {
      expect(tensors[`${prefix}experts.expert_${i}.wi.weight`]).toEqual({ dtype: 'F64', shape: [5, 3], values: transposed(wi[i]!) });
      expect(tensors[`${prefix}experts.expert_${i}.wo.weight`]).toEqual({ dtype: 'F64', shape: [3, 5], values: transposed(wo[i]!) });
    }
  });

  it('loads back into a layer, and into an ExpertParallelLayer\'s shared memory, which then computes the same outputs', async () => {
    const source = new SwitchLayer({ ...opts, seed: 2 });
    const path = join(dir, 'roundtrip.safetensors');
    saveSafetensors(source, path, { layout: switchTransformersLayout(source) });
    const copy = new SwitchLayer({ ...opts, seed: 3 });
    const parallel = await new ExpertParallelLayer({ ...opts, seed: 4, devices: 2 }).ready();
    try {
      for (const target of [copy, parallel]) loadSafetensors(target, path, { layout: switchTransformersLayout(target) });
      const x = randn([2, 6, 3], new Rng(5), { dtype: 'float64' });
      const want = source.forward(x).output.dataSync();
      expect(copy.forward(x).output.dataSync()).toEqual(want);
      expect(parallel.forward(x).output.dataSync()).toEqual(want);
    } finally {
      await parallel.close();
    }
  });

  it('refuses a file that misses an expert, naming it, and leaves the layer as it was', () => {
    const layer = new SwitchLayer({ ...opts, seed: 6 });
    const path = join(dir, 'partial.safetensors');
    const prefix = 'encoder.block.1.layer.1.mlp.';
    saveSafetensors(new SwitchLayer({ ...opts, seed: 7 }), path, { layout: switchTransformersLayout(layer, prefix) });
    const { tensors } = refRead(readFileSync(path));
    const { [`${prefix}experts.expert_3.wo.weight`]: _, ...rest } = tensors;
    writeFileSync(path, refWrite(rest));
    const before = layer.parameters().map((p) => Array.from(p.dataSync()));
    expect(() => loadSafetensors(layer, path, { layout: switchTransformersLayout(layer, prefix) }))
      .toThrow(`has no tensor '${prefix}experts.expert_3.wo.weight' for parameter 'experts.wo' (F64 [3,5])`);
    expect(layer.parameters().map((p) => Array.from(p.dataSync()))).toEqual(before);
  });
});

describe('fine-grained and shared experts in checkpoints', () => {
  it('save and load under the layer\'s own names, and have no SwitchTransformersSparseMLP layout', () => {
    const fine = { dModel: 3, dFF: 6, numExperts: 2, topK: 2, expertSegments: 2, sharedExperts: 1, dtype: 'float64' as const };
    const path = join(dir, 'fine.safetensors');
    const saved = new SwitchLayer({ ...fine, seed: 1 });
    saveSafetensors(saved, path);
    const loaded = new SwitchLayer({ ...fine, seed: 2 });
    loadSafetensors(loaded, path);
    expect([...loaded.namedParameters()].map(([n, p]) => [n, Array.from(p.dataSync())])).toEqual([...saved.namedParameters()].map(([n, p]) => [n, Array.from(p.dataSync())]));
    expect(() => switchTransformersLayout(saved)).toThrow('switchTransformersLayout: a layer with expertSegments = 2 and sharedExperts = 1 has no SwitchTransformersSparseMLP layout');
  });
});
