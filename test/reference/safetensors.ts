/**
 * The safetensors format from its specification (https://github.com/huggingface/safetensors,
 * "Format"), written independently of the library: an 8-byte little-endian unsigned header length
 * N, N bytes of UTF-8 JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?},
 * then the data, little-endian, offsets relative to its start. Values go through DataView one
 * element at a time, so byte order is explicit rather than the platform's.
 */

export type RefDType = 'F32' | 'F64' | 'I32';

export interface RefTensor {
  dtype: RefDType;
  shape: number[];
  values: number[];
}

const width: Record<RefDType, number> = { F32: 4, F64: 8, I32: 4 };

function put(view: DataView, at: number, dtype: RefDType, v: number): void {
  if (dtype === 'F32') view.setFloat32(at, v, true);
  else if (dtype === 'F64') view.setFloat64(at, v, true);
  else view.setInt32(at, v, true);
}

function get(view: DataView, at: number, dtype: RefDType): number {
  return dtype === 'F32' ? view.getFloat32(at, true) : dtype === 'F64' ? view.getFloat64(at, true) : view.getInt32(at, true);
}

/** A file holding `tensors` in the given order, its header padded with spaces to a multiple of 8. */
export function refWrite(tensors: Record<string, RefTensor>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = t.values.length * width[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  while (new TextEncoder().encode(json).length % 8 !== 0) json += ' ';
  const headerBytes = new TextEncoder().encode(json);
  const file = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(file.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  file.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of Object.values(tensors)) {
    for (const v of t.values) {
      put(view, at, t.dtype, v);
      at += width[t.dtype];
    }
  }
  return file;
}

/** The header length, the raw header text and every tensor of a well-formed file. */
export function refRead(file: Uint8Array): { headerLength: number; headerText: string; metadata?: Record<string, string>; tensors: Record<string, RefTensor> } {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const headerText = new TextDecoder().decode(file.subarray(8, 8 + headerLength));
  const { __metadata__: metadata, ...entries } = JSON.parse(headerText) as Record<string, { dtype: RefDType; shape: number[]; data_offsets: [number, number] }> & { __metadata__?: Record<string, string> };
  const tensors: Record<string, RefTensor> = {};
  for (const [name, { dtype, shape, data_offsets: [begin, end] }] of Object.entries(entries)) {
    const values: number[] = [];
    for (let at = 8 + headerLength + begin; at < 8 + headerLength + end; at += width[dtype]) values.push(get(view, at, dtype));
    tensors[name] = { dtype, shape, values };
  }
  return { headerLength, headerText, ...(metadata && { metadata }), tensors };
}
