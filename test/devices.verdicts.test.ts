import { describe, expect, it } from 'vitest';
import type { CaseResult } from '../examples/devices/cases.js';
import { verdicts } from '../examples/devices/report.js';

/** A case with `tokens` per device, `busy` seconds of expert work each, and its step times. */
function one(name: string, step: number, modelled: number, tokens: number[], busy: number[]): CaseResult {
  return {
    name, devices: tokens.length, numExperts: 4, topK: 1, balanceCoef: 0.01, stepSeconds: step, modelledStepSeconds: modelled, bytesMoved: 0,
    perDevice: tokens.map((t, d) => ({ tokens: t, busySeconds: busy[d]!, idleSeconds: 0, bytesSent: 0, bytesReceived: 0 })),
  };
}

const cases = (skewedStep: number): CaseResult[] => [
  one('4 devices, Switch top-1', 0.4, 0.2, [512, 512, 512, 512], [0.05, 0.05, 0.05, 0.05]),
  one('4 devices, dense MoE top-4', 1.0, 0.5, [2048, 2048, 2048, 2048], [0.2, 0.2, 0.2, 0.2]),
  one('1 device, Switch top-1', 0.5, 0.5, [2048], [0.2]),
  one('1 device, dense MoE top-4', 1.2, 1.2, [8192], [0.8]),
  one('4 devices, skewed router (α = 0)', skewedStep, 0.6, [1700, 200, 100, 48], [0.3, 0.04, 0.02, 0.01]),
  one('4 devices, balanced router (α = 0.01)', 1.567, 0.3, [512, 512, 512, 512], [0.08, 0.08, 0.08, 0.08]),
];

describe('pnpm demo:devices verdicts follow devices.json', () => {
  it('hold when every ratio goes the claimed way', () => {
    expect(verdicts(cases(2.0), false).map((v) => v.holds)).toEqual([true, true, true]);
  });

  it("the imbalance claim does not hold when the skewed step was measured faster (the first report's 1,378 vs 1,567 ms)", () => {
    const [, , imbalance] = verdicts(cases(1.378), false);
    expect(imbalance!.holds).toBe(false);
    expect(imbalance!.value).toBe('measured 0.88×, modelled 2.00×');
  });

  it('a quick run judges nothing', () => {
    expect(verdicts(cases(2.0), true).map((v) => v.holds)).toEqual([null, null, null]);
  });
});
