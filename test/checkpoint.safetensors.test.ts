import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Embedding, LayerNorm, Linear, Module, Rng, decodeSafetensors, encodeSafetensors, type SafetensorsEntry } from '@switch-ts/tensor';
import { loadSafetensors, saveSafetensors } from '@switch-ts/tensor/node';
import { refRead, refWrite, type RefTensor } from './reference/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'switch-safetensors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Parameters of every kind a model has: float32 and float64, 1-D and 2-D, several modules deep. */
class Net extends Module {
  readonly embed: Embedding;
  readonly norm: LayerNorm;
  readonly head: Linear;
  readonly wide: Linear;
  constructor(seed: number) {
    super();
    const rng = new Rng(seed);
    this.embed = this.module('embed', new Embedding(5, 3, { rng }));
    this.norm = this.module('norm', new LayerNorm(3));
    this.head = this.module('head', new Linear(3, 4, { rng }));
    this.wide = this.module('wide', new Linear(4, 2, { rng, dtype: 'float64' }));
  }
}

const valuesOf = (m: Module): Record<string, number[]> =>
  Object.fromEntries([...m.namedParameters()].map(([name, p]) => [name, Array.from(p.dataSync())]));

/** A module's parameters as the reference writes them, under their own names. */
function refTensorsOf(m: Module): Record<string, RefTensor> {
  return Object.fromEntries([...m.namedParameters()].map(([name, p]) => [name, {
    dtype: p.dtype === 'float64' ? 'F64' : 'F32', shape: [...p.shape], values: Array.from(p.dataSync()),
  } satisfies RefTensor]));
}

let files = 0;
function fileOf(bytes: Uint8Array): string {
  const path = join(dir, `file${files++}.safetensors`);
  writeFileSync(path, bytes);
  return path;
}

describe('saveSafetensors / loadSafetensors', () => {
  it('round-trips every parameter bit for bit, under its namedParameters() name, with the metadata', () => {
    const saved = new Net(1), loaded = new Net(2);
    const path = join(dir, 'net.safetensors');
    saveSafetensors(saved, path, { metadata: { format: 'pt', note: 'ünïcode' } });
    expect(valuesOf(loaded)).not.toEqual(valuesOf(saved));
    expect(loadSafetensors(loaded, path)).toEqual({ format: 'pt', note: 'ünïcode' });
    expect(valuesOf(loaded)).toEqual(valuesOf(saved));
    expect(readdirSync(dir).filter((f) => f.includes('.partial'))).toEqual([]);
  });

  it('the byte-level pair of the main entry (for browsers) writes the same bytes as the file and reads them back', () => {
    const saved = new Net(1), loaded = new Net(2);
    const path = join(dir, 'bytes.safetensors');
    saveSafetensors(saved, path, { metadata: { format: 'pt' } });
    const bytes = encodeSafetensors(saved, { metadata: { format: 'pt' } });
    expect(bytes).toEqual(new Uint8Array(readFileSync(path)));
    expect(decodeSafetensors(loaded, bytes)).toEqual({ format: 'pt' });
    expect(valuesOf(loaded)).toEqual(valuesOf(saved));
    expect(() => decodeSafetensors(loaded, bytes.subarray(0, 4))).toThrow('decodeSafetensors: the input is not a valid safetensors file: it has 4 bytes');
  });

  it('writes what the specification says: header length, JSON padded with spaces to 8 bytes, little-endian data', () => {
    const net = new Net(3);
    const path = join(dir, 'spec.safetensors');
    saveSafetensors(net, path);
    const file = readFileSync(path);
    const { headerLength, headerText, tensors } = refRead(file);
    expect(headerLength % 8).toBe(0);
    expect(headerText).toMatch(/^\{.*\} *$/);
    const expected = refTensorsOf(net);
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, t] of Object.entries(expected)) expect(tensors[name], name).toEqual(t);
  });

  it('reads a file the reference wrote, in any tensor order', () => {
    fc.assert(fc.property(fc.nat(), fc.integer({ min: 0, max: 1000 }), (shuffleSeed, netSeed) => {
      const source = new Net(netSeed), target = new Net(netSeed + 1);
      const rng = new Rng(shuffleSeed);
      const entries = Object.entries(refTensorsOf(source)).sort(() => rng.next() - 0.5);
      loadSafetensors(target, fileOf(refWrite(Object.fromEntries(entries))));
      expect(valuesOf(target)).toEqual(valuesOf(source));
    }), { numRuns: 20 });
  });

  it('maps names, slices and transposes by a layout, both ways', () => {
    const net = new Net(4), back = new Net(5);
    const layout: SafetensorsEntry[] = [
      { name: 'embedding', parameter: 'embed.weight' },
      { name: 'norm.gamma', parameter: 'norm.weight' }, { name: 'norm.beta', parameter: 'norm.bias' },
      { name: 'head.weight', parameter: 'head.weight', transpose: true }, { name: 'head.bias', parameter: 'head.bias' },
      ...[0, 1, 2, 3].map((i) => ({ name: `wide.row${i}`, parameter: 'wide.weight', index: i })),
      { name: 'wide.bias', parameter: 'wide.bias' },
    ];
    const path = join(dir, 'layout.safetensors');
    saveSafetensors(net, path, { layout });
    const { tensors } = refRead(readFileSync(path));
    const head = net.head.weight.toArray() as number[][];
    expect(tensors['head.weight']).toEqual({ dtype: 'F32', shape: [4, 3], values: head[0]!.flatMap((_, j) => head.map((row) => row[j]!)) });
    expect(tensors['wide.row2']).toEqual({ dtype: 'F64', shape: [2], values: (net.wide.weight.toArray() as number[][])[2] });
    loadSafetensors(back, path, { layout });
    expect(valuesOf(back)).toEqual(valuesOf(net));
  });

  it('rejects a layout that misses, repeats or invents a parameter, or slices out of range', () => {
    const net = new Net(6);
    const path = join(dir, 'never.safetensors');
    const all = [...net.namedParameters().keys()].map((name) => ({ name, parameter: name }));
    expect(() => saveSafetensors(net, path, { layout: all.slice(1) })).toThrow("saveSafetensors: layout leaves parameter 'embed.weight' [5,3] uncovered");
    expect(() => saveSafetensors(net, path, { layout: [...all, { name: 'x', parameter: 'head.bias' }] })).toThrow("saveSafetensors: layout covers parameter 'head.bias' twice");
    expect(() => saveSafetensors(net, path, { layout: [...all, { name: 'x', parameter: 'nope' }] })).toThrow("saveSafetensors: layout entry 'x' names parameter 'nope', which the module does not have");
    expect(() => loadSafetensors(net, path, { layout: [...all, { name: 'x', parameter: 'wide.weight', index: 4 }] })).toThrow("loadSafetensors: layout entry 'x': index 4 is outside [0, 4) of parameter 'wide.weight' [4,2]");
    expect(() => saveSafetensors(net, path, { layout: all.map((e) => ({ ...e, transpose: true })) })).toThrow("saveSafetensors: layout entry 'norm.weight': only a 2-D tensor can be transposed");
    expect(existsSync(path)).toBe(false);
  });
});

describe('loadSafetensors: a bad file changes no parameter', () => {
  const good = (): Uint8Array => refWrite(refTensorsOf(new Net(7)));

  /** Loads `bytes` into a fresh Net, expecting `message`, and checks that no parameter changed. */
  function refused(bytes: Uint8Array, message: string | RegExp, opts: { strict?: boolean } = {}): void {
    const net = new Net(8);
    const before = valuesOf(net);
    expect(() => loadSafetensors(net, fileOf(bytes), opts)).toThrow(message);
    expect(valuesOf(net)).toEqual(before);
  }

  /** The good file with its header rewritten by `edit` (and the data kept). */
  function withHeader(edit: (header: Record<string, Record<string, unknown>>) => void): Uint8Array {
    const file = good();
    const { headerLength } = refRead(file);
    const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + headerLength)));
    edit(header);
    const json = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + json.length + file.length - 8 - headerLength);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    out.set(file.subarray(8 + headerLength), 8 + json.length);
    return out;
  }

  it('refuses any truncation of a good file', () => {
    const file = good();
    fc.assert(fc.property(fc.integer({ min: 0, max: file.length - 1 }), (length) => {
      refused(file.subarray(0, length), /^loadSafetensors: .* is not a valid safetensors file: /);
    }), { numRuns: 60 });
  });

  it('refuses a header length past the end, a header that is not UTF-8 JSON, or not an object', () => {
    const file = good();
    const huge = file.slice();
    new DataView(huge.buffer).setBigUint64(0, 2n ** 63n, true);
    refused(huge, 'the header length 9223372036854775808 runs past the end of the file');
    const notJson = file.slice();
    notJson[8] = 0x5b; // '[' where '{' was
    refused(notJson, /its header is not UTF-8 JSON/);
    const notUtf8 = file.slice();
    notUtf8[9] = 0xff;
    refused(notUtf8, /its header is not UTF-8 JSON/);
    refused(refWriteRaw('[1, 2]'), 'its header is not a JSON object');
  });

  it('refuses unknown dtypes, bad shapes, offsets out of range, overlapping or leaving holes', () => {
    refused(withHeader((h) => { h['head.bias']!.dtype = 'BF16'; }), `tensor 'head.bias' has dtype "BF16"; this reader knows F32, F64, I32`);
    refused(withHeader((h) => { h['head.bias']!.shape = [-4]; }), `tensor 'head.bias' has shape [-4], not a list of integers ≥ 0`);
    refused(withHeader((h) => { h['head.bias']!.shape = [5]; }), `tensor 'head.bias' (F32 [5]) needs 20 bytes, its data_offsets give 16`);
    refused(withHeader((h) => { h['wide.bias']!.data_offsets = [0, 10 ** 9]; }), /tensor 'wide.bias' has data_offsets \[0,1000000000\], not \[begin, end\] with 0 ≤ begin ≤ end ≤ \d+/);
    refused(withHeader((h) => { h['norm.bias']!.data_offsets = h['norm.weight']!.data_offsets; }), /tensor '.*' starts at byte \d+ of the data, where another tensor still runs/);
    refused(withHeader((h) => { delete h['embed.weight']; }), /tensor '.*' starts at byte 60 of the data, where a hole starts at 0/);
    refused(withHeader((h) => { h.__metadata__ = { n: 1 } as never; }), '__metadata__ must map strings to strings');
  });

  it('refuses missing, extra and mismatched tensors, naming them; ignores extra ones when strict is false', () => {
    const tensors = refTensorsOf(new Net(9));
    const { ['head.bias']: _, ...missing } = tensors;
    refused(refWrite(missing), "has no tensor 'head.bias' for parameter 'head.bias' (F32 [4])");
    refused(refWrite({ ...tensors, extra: { dtype: 'I32', shape: [1], values: [7] } }), 'holds tensors the module does not have: extra (pass strict: false to ignore them)');
    refused(refWrite({ ...tensors, 'head.bias': { ...tensors['head.bias']!, dtype: 'F64' } }), "tensor 'head.bias' is F64 [4], parameter 'head.bias' needs F32 [4]");
    refused(refWrite({ ...tensors, 'head.weight': { ...tensors['head.weight']!, shape: [4, 3] } }), "tensor 'head.weight' is F32 [4,3], parameter 'head.weight' needs F32 [3,4]");
    const net = new Net(10);
    loadSafetensors(net, fileOf(refWrite({ ...tensors, extra: { dtype: 'I32', shape: [1], values: [7] } })), { strict: false });
    expect(valuesOf(net)).toEqual(Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, t.values])));
  });

  it('names the file it cannot read', () => {
    expect(() => loadSafetensors(new Net(0), join(dir, 'missing.safetensors'))).toThrow(/^loadSafetensors: cannot read .*missing\.safetensors: ENOENT/);
  });
});

/** A file whose header is `text` verbatim and which has no data. */
function refWriteRaw(text: string): Uint8Array {
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}
