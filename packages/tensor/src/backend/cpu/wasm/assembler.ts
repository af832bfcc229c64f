/**
 * A small WebAssembly assembler: enough of the binary format (spec §5, "Binary Format") to write
 * the CPU backend's kernels (matmul, elementwise loops, the optimizers' steps) at run time, with
 * no toolchain and no prebuilt .wasm.
 *
 * A module is a header followed by sections, each an id byte, its size and its content. We write
 * five: types (function signatures), imports (one memory, owned and grown by JavaScript, shared
 * between threads or not),
 * functions (which signature each function has), exports (names for JavaScript) and code (the
 * bodies). Integers are LEB128: 7 bits a byte, low bits first, the high bit set on every byte
 * but the last. Instructions are named as in the text format (`i32.add`, `f32x4.mul`), so a body
 * reads like a .wat file with the stack made explicit.
 */

export type ValType = 'i32' | 'f32' | 'f64' | 'v128';
const VALTYPE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** Unsigned LEB128. */
function uleb(value: number): number[] {
  const bytes: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0);
  return bytes;
}

/** Signed LEB128 (i32.const immediates): stop once the remaining bits are all copies of the sign bit. */
function sleb(value: number): number[] {
  const bytes: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    const done = (value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0);
    bytes.push(done ? byte : byte | 0x80);
    if (done) return bytes;
  }
}

/** A vector: its length, then its items. */
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => vec([...new TextEncoder().encode(s)].map((b) => [b]));

/** Instructions without immediates. SIMD ones carry the 0xFD prefix and a LEB128 sub-opcode. */
const SIMD = (op: number): number[] => [0xfd, ...uleb(op)];
const PLAIN = {
  'i32.eqz': [0x45], 'i32.eq': [0x46], 'i32.ne': [0x47], 'i32.lt_u': [0x49], 'i32.gt_u': [0x4b], 'i32.le_u': [0x4d], 'i32.add': [0x6a], 'i32.sub': [0x6b], 'i32.mul': [0x6c],
  'i32.div_u': [0x6e], 'i32.and': [0x71], 'i32.or': [0x72], 'i32.shr_u': [0x76], select: [0x1b],
  'f32.eq': [0x5b], 'f32.ne': [0x5c], 'f32.lt': [0x5d], 'f32.gt': [0x5e], 'f32.le': [0x5f], 'f32.ge': [0x60],
  'f32.abs': [0x8b], 'f32.neg': [0x8c], 'f32.sqrt': [0x91],
  'f32.add': [0x92], 'f32.sub': [0x93], 'f32.mul': [0x94], 'f32.div': [0x95], 'f32.min': [0x96], 'f32.max': [0x97],
  'f32x4.splat': SIMD(0x13), 'i32x4.neg': SIMD(0xa1),
  'f32.convert_i32_s': [0xb2], 'f32x4.convert_i32x4_s': SIMD(0xfa),
  'f32x4.eq': SIMD(0x41), 'f32x4.ne': SIMD(0x42), 'f32x4.lt': SIMD(0x43), 'f32x4.gt': SIMD(0x44), 'f32x4.le': SIMD(0x45), 'f32x4.ge': SIMD(0x46),
  'f32x4.abs': SIMD(0xe0), 'f32x4.neg': SIMD(0xe1), 'f32x4.sqrt': SIMD(0xe3),
  'f32x4.add': SIMD(0xe4), 'f32x4.sub': SIMD(0xe5), 'f32x4.mul': SIMD(0xe6), 'f32x4.div': SIMD(0xe7),
  'f32x4.min': SIMD(0xe8), 'f32x4.max': SIMD(0xe9),
  'f64.promote_f32': [0xbb], 'f32.demote_f64': [0xb6],
  'f64.sqrt': [0x9f], 'f64.add': [0xa0], 'f64.sub': [0xa1], 'f64.mul': [0xa2], 'f64.div': [0xa3],
  'f64x2.splat': SIMD(0x14), 'f64x2.promote_low_f32x4': SIMD(0x5f), 'f32x4.demote_f64x2_zero': SIMD(0x5e),
  'f64x2.sqrt': SIMD(0xef), 'f64x2.add': SIMD(0xf0), 'f64x2.sub': SIMD(0xf1), 'f64x2.mul': SIMD(0xf2), 'f64x2.div': SIMD(0xf3),
  'f64x2.eq': SIMD(0x47), 'f64x2.ne': SIMD(0x48), 'f64x2.lt': SIMD(0x49), 'f64x2.gt': SIMD(0x4a), 'f64x2.trunc': SIMD(0x7a),
  'f32x4.pmin': SIMD(0xea), 'f32x4.pmax': SIMD(0xeb),
  'v128.and': SIMD(0x4e), 'v128.andnot': SIMD(0x4f), 'v128.or': SIMD(0x50), 'v128.bitselect': SIMD(0x52), 'v128.any_true': SIMD(0x53),
  'i64x2.shl': SIMD(0xcb), 'i64x2.shr_u': SIMD(0xcd), 'i64x2.add': SIMD(0xce), 'i64x2.sub': SIMD(0xd1),
  'i64x2.eq': SIMD(0xd6), 'i64x2.lt_s': SIMD(0xd8), 'i64x2.gt_s': SIMD(0xd9),
} satisfies Record<string, number[]>;

/** Memory instructions: opcode and natural alignment (log2 of the bytes accessed). */
const MEMORY = {
  'f32.load': { op: [0x2a], align: 2 },
  'f32.store': { op: [0x38], align: 2 },
  'i32.load': { op: [0x28], align: 2 },
  'f64.load': { op: [0x2b], align: 3 },
  'f64.store': { op: [0x39], align: 3 },
  'i32.store': { op: [0x36], align: 2 },
  'v128.load': { op: SIMD(0x00), align: 4 },
  'v128.load32_splat': { op: SIMD(0x09), align: 2 },
  /** Two floats into the low half, zeros above. */
  'v128.load64_zero': { op: SIMD(0x5d), align: 3 },
  /** One float into lane 0, zeros above. */
  'v128.load32_zero': { op: SIMD(0x5c), align: 2 },
  'v128.store': { op: SIMD(0x0b), align: 4 },
} satisfies Record<string, { op: number[]; align: number }>;

export type PlainOp = keyof typeof PLAIN;
export type MemoryOp = keyof typeof MEMORY;

const BLOCK_EMPTY = 0x40;
const END = 0x0b;

/**
 * One function body under construction. Locals are numbered after the parameters. The two
 * control structures, `ifElse` and `doWhile`, take their bodies as callbacks, so nesting in the
 * TypeScript is nesting in the wasm and no `end` is forgotten.
 */
export class FunctionBody {
  private readonly code: number[] = [];
  private readonly localTypes: ValType[] = [];

  constructor(readonly params: readonly ValType[], readonly results: readonly ValType[] = []) {}

  /** Declares a local and returns its index. */
  local(type: ValType): number {
    this.localTypes.push(type);
    return this.params.length + this.localTypes.length - 1;
  }

  /** Declares `count` locals of one type. */
  locals(type: ValType, count: number): number[] {
    return Array.from({ length: count }, () => this.local(type));
  }

  op(name: PlainOp): this {
    this.code.push(...PLAIN[name]);
    return this;
  }

  /** A load or store at address (on the stack) + `offset` bytes. */
  mem(name: MemoryOp, offset = 0): this {
    const { op, align } = MEMORY[name];
    this.code.push(...op, ...uleb(align), ...uleb(offset));
    return this;
  }

  /** v128.load32_lane: the vector (on the stack, above the address) with its 32-bit lane `lane` loaded from address + `offset`. */
  load32Lane(lane: number, offset = 0): this {
    return this.bytes(...SIMD(0x56), ...uleb(2), ...uleb(offset), lane);
  }

  /** v128.store64_lane: stores the 64-bit lane `lane` of the vector at address + `offset` (both on the stack). */
  store64Lane(lane: number, offset = 0): this {
    return this.bytes(...SIMD(0x5b), ...uleb(3), ...uleb(offset), lane);
  }

  get(local: number): this { return this.bytes(0x20, ...uleb(local)); }
  set(local: number): this { return this.bytes(0x21, ...uleb(local)); }
  tee(local: number): this { return this.bytes(0x22, ...uleb(local)); }
  i32(value: number): this { return this.bytes(0x41, ...sleb(value | 0)); }
  /** Calls the module's function number `index` (its arguments on the stack). */
  call(index: number): this { return this.bytes(0x10, ...uleb(index)); }

  f32(value: number): this {
    const bytes = new Uint8Array(new Float32Array([value]).buffer);
    return this.bytes(0x43, ...bytes);
  }

  f64(value: number): this {
    const bytes = new Uint8Array(new Float64Array([value]).buffer);
    return this.bytes(0x44, ...bytes);
  }

  /** v128.const with all 16 bytes zero: four +0.0f lanes. */
  v128Zero(): this { return this.v128(new Uint8Array(16)); }

  /** v128.const of two float64 lanes, both `value`. */
  f64x2(value: number): this { return this.v128(new Uint8Array(new Float64Array([value, value]).buffer)); }

  /** v128.const of two int64 lanes, both `value`. */
  i64x2(value: bigint): this { return this.v128(new Uint8Array(new BigInt64Array([value, value]).buffer)); }

  /**
   * i8x16.shuffle of two vectors on the stack by 32-bit lanes: lane i of the result is lane
   * lanes[i] of the pair (0–3 the first vector's, 4–7 the second's).
   */
  shuffle32(lanes: readonly [number, number, number, number]): this {
    return this.bytes(...SIMD(0x0d), ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]));
  }

  /** f32x4.extract_lane: lane `lane` of the vector on the stack, as an f32. */
  f32x4Lane(lane: number): this { return this.bytes(...SIMD(0x1f), lane); }

  /** f64x2.extract_lane: lane `lane` of the vector on the stack, as an f64. */
  f64x2Lane(lane: number): this { return this.bytes(...SIMD(0x21), lane); }

  private v128(bytes: Uint8Array): this { return this.bytes(...SIMD(0x0c), ...bytes); }

  /** local += value, for an i32 local. */
  addTo(local: number, value: number): this {
    return this.get(local).i32(value).op('i32.add').set(local);
  }

  /** if (the i32 on the stack is non-zero) then … else …. */
  ifElse(then: () => void, otherwise?: () => void): this {
    const IF = 0x04, ELSE = 0x05;
    this.code.push(IF, BLOCK_EMPTY);
    then();
    if (otherwise) {
      this.code.push(ELSE);
      otherwise();
    }
    this.code.push(END);
    return this;
  }

  /**
   * do { body } while (condition): `body` runs once, then again while `condition` leaves a
   * non-zero i32. A wasm `loop` label is its start, so br_if 0 at its end jumps back.
   */
  doWhile(body: () => void, condition: () => void): this {
    const LOOP = 0x03, BR_IF = 0x0d;
    this.code.push(LOOP, BLOCK_EMPTY);
    body();
    condition();
    this.code.push(BR_IF, 0, END);
    return this;
  }

  /** while (condition) { body }: a doWhile behind an if, so that a false condition runs nothing. */
  whileLoop(condition: () => void, body: () => void): this {
    condition();
    return this.ifElse(() => this.doWhile(body, condition));
  }

  /** Runs `body` as many times as the i32 local `count` says, counting it down to 0; not at all if it is 0. */
  repeat(count: number, body: () => void): this {
    this.get(count);
    return this.ifElse(() => this.doWhile(body, this.countDown(count)));
  }

  /** A doWhile condition: local −= 1, leaving the new value (non-zero: again). */
  countDown(local: number): () => void {
    return () => this.get(local).i32(1).op('i32.sub').tee(local);
  }

  /** local < limit, unsigned, on the stack. */
  below(local: number, limit: number): this {
    return this.get(local).get(limit).op('i32.lt_u');
  }

  /** The encoded body for the code section: locals (run-length by type), instructions, end. */
  encode(): number[] {
    const runs: number[][] = [];
    for (let i = 0; i < this.localTypes.length;) {
      let j = i;
      while (j < this.localTypes.length && this.localTypes[j] === this.localTypes[i]) j++;
      runs.push([...uleb(j - i), VALTYPE[this.localTypes[i]!]]);
      i = j;
    }
    const body = [...vec(runs), ...this.code, END];
    return [...uleb(body.length), ...body];
  }

  private bytes(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }
}

export interface ModuleSpec {
  /**
   * The one imported memory, `import(module, field)`, of at least `minPages` 64 KiB pages. A
   * shared memory (threads: a SharedArrayBuffer that workers run the same module on) must
   * declare its most pages.
   */
  memory: { module: string; field: string; minPages: number; shared?: { maxPages: number } };
  /** Exported functions, in order: the n-th has function index n (no other functions are imported). */
  functions: Record<string, FunctionBody>;
}

const section = (id: number, content: number[]): number[] => [id, ...uleb(content.length), ...content];

export function assemble({ memory, functions }: ModuleSpec): Uint8Array {
  const bodies = Object.values(functions);
  const signature = (f: FunctionBody): number[] =>
    [0x60, ...vec(f.params.map((t) => [VALTYPE[t]])), ...vec(f.results.map((t) => [VALTYPE[t]]))];
  // One type entry per distinct signature, as a toolchain would write it.
  const types: string[] = [...new Set(bodies.map((f) => signature(f).join(',')))];
  const typeOf = (f: FunctionBody): number => types.indexOf(signature(f).join(','));
  const MEMORY_IMPORT = 0x02, FUNC_EXPORT = 0x00, LIMITS_MIN_ONLY = 0x00, LIMITS_SHARED = 0x03;
  const limits = memory.shared
    ? [LIMITS_SHARED, ...uleb(memory.minPages), ...uleb(memory.shared.maxPages)]
    : [LIMITS_MIN_ONLY, ...uleb(memory.minPages)];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, // "\0asm"
    0x01, 0x00, 0x00, 0x00, // version 1
    ...section(1, vec(types.map((t) => t.split(',').map(Number)))),
    ...section(2, vec([[...name(memory.module), ...name(memory.field), MEMORY_IMPORT, ...limits]])),
    ...section(3, vec(bodies.map((f) => uleb(typeOf(f))))),
    ...section(7, vec(Object.keys(functions).map((fn, i) => [...name(fn), FUNC_EXPORT, ...uleb(i)]))),
    ...section(10, vec(bodies.map((f) => f.encode()))),
  ]);
}
