import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Module } from '@switch-ts/tensor';
import { loadSafetensors, saveSafetensors } from '@switch-ts/tensor/node';
import type { DataSpec } from './cli.js';
import { runId, type RunSpec, type TrainSettings, type TrainedRun } from './train.js';

/**
 * Finished runs on disk, so that a kill at any moment loses only the runs in flight: OUT/runs/NAME-sSEED/
 * holds model.safetensors (the trained weights) and run.json (the results and the hash of the
 * run's full configuration), and run.json is written last, so a run is finished once it exists.
 */

/** Bump when a change to the training code makes earlier runs no longer comparable. */
const RUN_FORMAT = 3;

export interface RunFolder {
  dir: string;
  /** sha256 of everything that determines the run's results: spec, settings, data. */
  hash: string;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** JSON with every object's keys sorted, so that equal configurations hash equally. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

/** Where a run of `spec` with `seed` lives under `out`, and the hash of its configuration (a text by its content, not its file name). */
export function runFolder(out: string, spec: RunSpec, seed: number, settings: TrainSettings, data: DataSpec, description: string): RunFolder {
  const source = data.kind === 'text' ? { text: sha256(data.text) } : { synthetic: description };
  return {
    dir: join(out, 'runs', runId(spec.name, seed)),
    hash: sha256(canonical({ format: RUN_FORMAT, spec, settings: { ...settings, seed }, data: source })),
  };
}

/** Writes beside `path`, then renames: a file is whole or absent, whenever the process dies. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const partial = `${path}.partial-${process.pid}`;
  writeFileSync(partial, data);
  renameSync(partial, path);
}

/** Keeps a finished run: its model, then run.json (the mark of a finished run). */
export function saveRun(folder: RunFolder, run: TrainedRun, model: Module): void {
  const marker = join(folder.dir, 'run.json');
  rmSync(marker, { force: true });
  mkdirSync(folder.dir, { recursive: true });
  saveSafetensors(model, join(folder.dir, 'model.safetensors'), { metadata: { run: runId(run.spec.name, run.seed), config: folder.hash } });
  writeFileAtomic(marker, JSON.stringify({ format: RUN_FORMAT, config: folder.hash, run }) + '\n');
}

/**
 * The finished run in `folder` if it was trained with this configuration and its checkpoint loads
 * into `model` (the run's freshly built model: names, shapes and dtypes must match); otherwise why
 * it cannot be reused, or null if the folder holds no finished run.
 */
export function loadRun(folder: RunFolder, model: Module): { run: TrainedRun } | { reason: string | null } {
  const marker = join(folder.dir, 'run.json');
  if (!existsSync(marker)) return { reason: null };
  let saved: { config?: unknown; run?: TrainedRun };
  try {
    saved = JSON.parse(readFileSync(marker, 'utf8'));
  } catch (e) {
    return { reason: `its run.json is unreadable (${(e as Error).message})` };
  }
  if (saved.config !== folder.hash || !saved.run) return { reason: 'it was trained with other settings' };
  try {
    loadSafetensors(model, join(folder.dir, 'model.safetensors'));
  } catch (e) {
    return { reason: (e as Error).message };
  }
  return { run: saved.run };
}
