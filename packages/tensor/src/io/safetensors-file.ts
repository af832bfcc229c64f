import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Module } from '../nn/module.js';
import { decode, encode, type SafetensorsOptions } from './safetensors.js';

/**
 * Writes the module's parameters to `path` in safetensors (see `encodeSafetensors` for names,
 * `layout` and `metadata`). The file appears whole or not at all: it is written beside `path` and renamed.
 */
export function saveSafetensors(module: Module, path: string, opts: SafetensorsOptions & { metadata?: Record<string, string> } = {}): void {
  const file = encode('saveSafetensors', module, opts);
  const partial = `${path}.partial-${process.pid}`;
  writeFileSync(partial, file);
  renameSync(partial, path);
}

/**
 * Reads `path` (safetensors) into the module's parameters, in place, and returns the header's
 * `__metadata__`, with every check of `decodeSafetensors` made before any parameter is written:
 * a file that fails a check changes nothing.
 */
export function loadSafetensors(module: Module, path: string, opts: SafetensorsOptions & { strict?: boolean } = {}): Record<string, string> {
  const op = 'loadSafetensors';
  return decode(op, path, module, () => {
    try {
      const buffer = readFileSync(path);
      // A plain Uint8Array view: a Buffer's slice() shares memory, and the tensors need copies.
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    } catch (e) {
      throw new Error(`${op}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }, opts);
}
