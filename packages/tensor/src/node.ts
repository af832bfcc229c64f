/**
 * @switch-ts/tensor/node: what needs Node's file system, kept out of the main entry so that the
 * main entry bundles for browsers. The byte-level `encodeSafetensors` / `decodeSafetensors` are
 * in the main entry.
 */
export { loadSafetensors, saveSafetensors } from './io/safetensors-file.js';
