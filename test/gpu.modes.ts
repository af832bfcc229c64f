import { GPU_MODES, type GpuMode } from '@switch-ts/tensor';
import { modeProblem } from '@switch-ts/tensor/testing';

/**
 * The gpu.js modes the gpu test suites run in: every mode that runs here. headlessgl needs the
 * native `gl` package and an X display (xvfb-run); without them its suites are skipped with the
 * reason, unless REQUIRE_HEADLESSGL=1 (CI), which makes the missing mode a failure.
 */
export const requireHeadlessGl = process.env.REQUIRE_HEADLESSGL === '1';
export const headlessGlProblem = modeProblem('headlessgl');
export const runnableModes: GpuMode[] = GPU_MODES.filter((m) => modeProblem(m) === null);

/** Normwise relative difference max|got − want| / max|want| (0 when both are all zeros). */
export function normwise(want: ArrayLike<number>, got: ArrayLike<number>): number {
  if (want.length !== got.length) return Infinity;
  let diff = 0, scale = 0;
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!, g = got[i]!;
    if (Number.isNaN(w) !== Number.isNaN(g)) return Infinity;
    if (w === g) { scale = Math.max(scale, Math.abs(w)); continue; }
    diff = Math.max(diff, Math.abs(w - g));
    scale = Math.max(scale, Math.abs(w));
  }
  return scale === 0 ? diff : diff / scale;
}

/** The float32 tolerance of the gpu backend against the CPU backend (see packages/tensor/README.md). */
export const TOLERANCE = 1e-4;
