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
