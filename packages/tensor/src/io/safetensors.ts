import type { DType, TypedArray } from '../dtype.js';
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor.js';

/**
 * Checkpoints in safetensors, the format PyTorch, JAX and Hugging Face read
 * (https://github.com/huggingface/safetensors, "Format"): an 8-byte little-endian header length N,
 * N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}}
 * padded with spaces to a multiple of 8, then the tensors' raw little-endian bytes, with offsets
 * relative to the start of the data and the data covered without holes or overlaps.
 *
 * This file works on bytes, so that browsers can use it; `saveSafetensors` / `loadSafetensors`
 * (`@switch-ts/tensor/node`, safetensors-file.ts) add the file system.
 */

/** Where one tensor of the file lives in a module. */
export interface SafetensorsEntry {
  /** The tensor's name in the file. */
  name: string;
  /** The parameter's name in `module.namedParameters()`. */
  parameter: string;
  /** The file holds slice `index` of the parameter's first axis (one of E stacked experts, say), not all of it. */
  index?: number;
  /** The file holds the transpose of the (2-D) parameter or slice: PyTorch's Linear stores its weight [out, in]. */
  transpose?: boolean;
}

export interface SafetensorsOptions {
  /** The file's tensors and where each lives in the module; default: every parameter under its own name, as it is stored. */
  layout?: readonly SafetensorsEntry[];
}

const fileDTypes = { F32: 'float32', F64: 'float64', I32: 'int32' } as const satisfies Record<string, DType>;
type FileDType = keyof typeof fileDTypes;
const fileDTypeOf = (dtype: DType): FileDType => (Object.keys(fileDTypes) as FileDType[]).find((k) => fileDTypes[k] === dtype)!;
const arrays = { float32: Float32Array, float64: Float64Array, int32: Int32Array } as const;

/** The format is little-endian and tensors are copied as their typed arrays' bytes. */
function requireLittleEndian(op: string): void {
  if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1) throw new Error(`${op}: this platform is big-endian; safetensors files are little-endian`);
}

/** An entry checked against the module: the parameter, and the shape of the slice the file holds. */
interface Placed extends SafetensorsEntry {
  tensor: Tensor;
  shape: number[];
}

/** Checks a layout against the module: known parameters, slices in range, every element of every parameter from exactly one entry. */
function place(op: string, module: Module, layout: readonly SafetensorsEntry[] | undefined): Placed[] {
  const params = module.namedParameters();
  const entries: readonly SafetensorsEntry[] = layout ?? [...params.keys()].map((name) => ({ name, parameter: name }));
  const covered = new Map<string, Set<number | undefined>>();
  const names = new Set<string>();
  const placed = entries.map((e): Placed => {
    const tensor = params.get(e.parameter);
    if (!tensor) throw new Error(`${op}: layout entry '${e.name}' names parameter '${e.parameter}', which the module does not have (it has ${[...params.keys()].join(', ')})`);
    if (names.has(e.name) || e.name === '__metadata__') throw new Error(`${op}: layout names the file tensor '${e.name}' twice, or uses the reserved name`);
    names.add(e.name);
    let shape = tensor.shape.slice();
    if (e.index !== undefined) {
      if (!Number.isInteger(e.index) || e.index < 0 || e.index >= (shape[0] ?? 0)) {
        throw new Error(`${op}: layout entry '${e.name}': index ${e.index} is outside [0, ${shape[0] ?? 0}) of parameter '${e.parameter}' [${tensor.shape.join(',')}]`);
      }
      shape = shape.slice(1);
    }
    if (e.transpose) {
      if (shape.length !== 2) throw new Error(`${op}: layout entry '${e.name}': only a 2-D tensor can be transposed, '${e.parameter}' gives [${shape.join(',')}]`);
      shape = [shape[1]!, shape[0]!];
    }
    const slices = covered.get(e.parameter) ?? new Set();
    if (slices.has(e.index) || (e.index === undefined ? slices.size > 0 : slices.has(undefined))) {
      throw new Error(`${op}: layout covers parameter '${e.parameter}'${e.index === undefined ? '' : ` slice ${e.index}`} twice`);
    }
    covered.set(e.parameter, slices.add(e.index));
    return { ...e, tensor, shape };
  });
  for (const [name, tensor] of params) {
    const slices = covered.get(name);
    const whole = slices !== undefined && (slices.has(undefined) || slices.size === tensor.shape[0]);
    if (!whole) throw new Error(`${op}: layout leaves parameter '${name}' [${tensor.shape.join(',')}] ${slices ? 'partly ' : ''}uncovered`);
  }
  return placed;
}

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Copies a [rows, cols] matrix into `to` as its [cols, rows] transpose. */
function transposeInto(from: TypedArray, rows: number, cols: number, to: TypedArray): void {
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) to[j * rows + i] = from[i * cols + j]!;
}

/** The values the file holds for an entry, read from the parameter where it lives (reads never move it). */
function valuesOf(e: Placed): TypedArray {
  const size = sizeOf(e.shape);
  const all = e.tensor.dataSync();
  const slice = e.index === undefined ? all : all.subarray(e.index * size, (e.index + 1) * size);
  if (!e.transpose) return slice;
  const out = new arrays[e.tensor.dtype](size);
  transposeInto(slice, e.shape[1]!, e.shape[0]!, out);
  return out;
}

/**
 * The module's parameters as a safetensors file's bytes, under their `namedParameters()` names
 * or as `layout` says, with `metadata` as the header's `__metadata__` (Hugging Face expects
 * `{ format: 'pt' }`).
 */
export function encodeSafetensors(module: Module, opts: SafetensorsOptions & { metadata?: Record<string, string> } = {}): Uint8Array {
  return encode('encodeSafetensors', module, opts);
}

/** `encodeSafetensors`, with `op` naming the caller in errors. */
export function encode(op: string, module: Module, opts: SafetensorsOptions & { metadata?: Record<string, string> }): Uint8Array {
  requireLittleEndian(op);
  const placed = place(op, module, opts.layout);
  const { metadata } = opts;
  if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null || Object.values(metadata).some((v) => typeof v !== 'string'))) {
    throw new Error(`${op}: metadata must map strings to strings, got ${JSON.stringify(metadata)}`);
  }
  // The widest dtypes first, so that every tensor starts at a multiple of its element size.
  const ordered = placed.slice().sort((a, b) => arrays[b.tensor.dtype].BYTES_PER_ELEMENT - arrays[a.tensor.dtype].BYTES_PER_ELEMENT);
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const e of ordered) {
    const bytes = sizeOf(e.shape) * arrays[e.tensor.dtype].BYTES_PER_ELEMENT;
    header[e.name] = { dtype: fileDTypeOf(e.tensor.dtype), shape: e.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const file = new Uint8Array(8 + headerLength + offset);
  new DataView(file.buffer).setBigUint64(0, BigInt(headerLength), true);
  file.set(json, 8);
  file.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const e of ordered) {
    const values = valuesOf(e);
    file.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), at);
    at += values.byteLength;
  }
  return file;
}

interface FileTensor {
  dtype: FileDType;
  shape: number[];
  begin: number;
  end: number;
}

/** Parses and checks a whole safetensors file; throws, naming `source` and the problem, on anything the format does not allow. */
function parse(op: string, source: string, file: Uint8Array): { tensors: Map<string, FileTensor>; dataStart: number; metadata: Record<string, string> } {
  const bad = (why: string): Error => new Error(`${op}: ${source} is not a valid safetensors file: ${why}`);
  if (file.length < 8) throw bad(`it has ${file.length} bytes, fewer than the 8 of the header length`);
  const headerLength = new DataView(file.buffer, file.byteOffset, file.byteLength).getBigUint64(0, true);
  if (headerLength > BigInt(file.length - 8)) throw bad(`the header length ${headerLength} runs past the end of the file (${file.length} bytes)`);
  const dataStart = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(file.subarray(8, dataStart)));
  } catch (e) {
    throw bad(`its header is not UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad('its header is not a JSON object');
  const dataLength = file.length - dataStart;
  const tensors = new Map<string, FileTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Object.values(value).some((v) => typeof v !== 'string')) throw bad('__metadata__ must map strings to strings');
      metadata = value as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = (value ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !(dtype in fileDTypes)) throw bad(`tensor '${name}' has dtype ${JSON.stringify(dtype)}; this reader knows ${Object.keys(fileDTypes).join(', ')}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(`tensor '${name}' has shape ${JSON.stringify(shape)}, not a list of integers ≥ 0`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1] || offsets[1] > dataLength) {
      throw bad(`tensor '${name}' has data_offsets ${JSON.stringify(offsets)}, not [begin, end] with 0 ≤ begin ≤ end ≤ ${dataLength} (the data's length)`);
    }
    const [begin, end] = offsets as [number, number];
    const bytes = sizeOf(shape) * arrays[fileDTypes[dtype as FileDType]].BYTES_PER_ELEMENT;
    if (end - begin !== bytes) throw bad(`tensor '${name}' (${dtype} [${shape.join(',')}]) needs ${bytes} bytes, its data_offsets give ${end - begin}`);
    tensors.set(name, { dtype: dtype as FileDType, shape, begin, end });
  }
  let next = 0;
  for (const [name, t] of [...tensors].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end)) {
    if (t.begin !== next) throw bad(`tensor '${name}' starts at byte ${t.begin} of the data, where ${t.begin < next ? 'another tensor still runs' : `a hole starts at ${next}`}`);
    next = t.end;
  }
  if (next !== dataLength) throw bad(`the tensors cover ${next} bytes of data, the file holds ${dataLength}`);
  return { tensors, dataStart, metadata };
}

/**
 * Reads safetensors `bytes` into the module's parameters, in place, and returns the header's
 * `__metadata__`. Everything is checked before any parameter is written: the file's structure, and
 * that it holds exactly the layout's tensors (extra tensors are an error unless `strict` is false),
 * each with the parameter's dtype and the layout's shape. Bytes that fail a check change nothing.
 */
export function decodeSafetensors(module: Module, bytes: Uint8Array, opts: SafetensorsOptions & { strict?: boolean } = {}): Record<string, string> {
  return decode('decodeSafetensors', 'the input', module, () => bytes, opts);
}

/**
 * `decodeSafetensors`, with `op` naming the caller and `source` the file in errors. `read` runs
 * after the layout is checked, so that a bad layout is reported before a missing file.
 */
export function decode(op: string, source: string, module: Module, read: () => Uint8Array, opts: SafetensorsOptions & { strict?: boolean }): Record<string, string> {
  requireLittleEndian(op);
  const placed = place(op, module, opts.layout);
  const file = read();
  const { tensors, dataStart, metadata } = parse(op, source, file);
  const wanted = new Set(placed.map((e) => e.name));
  const extra = [...tensors.keys()].filter((name) => !wanted.has(name));
  if (extra.length > 0 && opts.strict !== false) throw new Error(`${op}: ${source} holds tensors the module does not have: ${extra.join(', ')} (pass strict: false to ignore them)`);
  for (const e of placed) {
    const t = tensors.get(e.name);
    const want = `${fileDTypeOf(e.tensor.dtype)} [${e.shape.join(',')}]`;
    if (!t) throw new Error(`${op}: ${source} has no tensor '${e.name}' for parameter '${e.parameter}' (${want})`);
    if (`${t.dtype} [${t.shape.join(',')}]` !== want) throw new Error(`${op}: ${source}: tensor '${e.name}' is ${t.dtype} [${t.shape.join(',')}], parameter '${e.parameter}' needs ${want}`);
  }
  // Every check passed: assemble each parameter whole, then write them.
  const values = new Map<Tensor, TypedArray>();
  for (const e of placed) {
    const t = tensors.get(e.name)!;
    const Values = arrays[e.tensor.dtype];
    // A copy, so that the values are aligned whatever the tensor's offset in the file.
    const from = new Values(file.slice(dataStart + t.begin, dataStart + t.end).buffer);
    const whole = values.get(e.tensor) ?? values.set(e.tensor, new Values(e.tensor.size)).get(e.tensor)!;
    const size = sizeOf(e.shape);
    const to = e.index === undefined ? whole : whole.subarray(e.index * size, (e.index + 1) * size);
    if (e.transpose) transposeInto(from, e.shape[0]!, e.shape[1]!, to);
    else to.set(from);
  }
  for (const [tensor, v] of values) tensor.assign(v);
  return metadata;
}
