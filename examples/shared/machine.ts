import { arch, cpus, platform } from 'node:os';
import { getBackend } from '@switch-ts/tensor';

/** Where a report's numbers were measured. */
export interface Machine {
  platform: string;
  arch: string;
  cpu: string;
  cores: number;
  node: string;
  backend: string;
}

export function machine(): Machine {
  return { platform: platform(), arch: arch(), cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, backend: getBackend().name };
}
