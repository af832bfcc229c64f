import { barChart } from '../shared/charts.js';
import { escape, pageHead, table } from '../shared/html.js';
import { verdictBlock, verdictStyle, verdictTable, type Verdict } from '../shared/verdicts.js';
import type { Machine } from '../shared/machine.js';
import { BANDWIDTH, type CaseResult, type Settings, model as modelSize } from './cases.js';

type Context = Machine & { settings: Settings; model: typeof modelSize };

const ms = (s: number): string => (s * 1000).toFixed(0);
const mb = (bytes: number): string => (bytes / 1e6).toFixed(1);
const byName = (cases: CaseResult[], name: string): CaseResult => cases.find((c) => c.name === name)!;

/** Each device's busy and idle time in a step: the utilization chart of a case. */
function utilization(c: CaseResult): string {
  return barChart({
    title: `${c.name}: per-device time in a step`, y: [{ name: 'milliseconds' }], categories: c.perDevice.map((_, d) => `device ${d}`),
    bars: [
      { name: 'busy (computing its experts)', values: c.perDevice.map((d) => Number(ms(d.busySeconds))) },
      { name: 'idle (waiting in the exchanges)', values: c.perDevice.map((d) => Number(ms(d.idleSeconds))) },
    ],
  });
}

function stepTimes(title: string, cases: CaseResult[]): string {
  return barChart({
    title, y: [{ name: 'milliseconds per step' }], categories: cases.map((c) => c.name.replace(/^\d devices?, /, '')),
    bars: [
      { name: 'measured on this machine', values: cases.map((c) => Number(ms(c.stepSeconds))) },
      { name: 'modelled: devices concurrent', values: cases.map((c) => Number(ms(c.modelledStepSeconds))) },
    ],
  });
}

function caseTable(cases: CaseResult[]): string {
  return table(['case', 'step ms (measured)', 'step ms (modelled)', 'MB moved', 'tokens per device', 'busy ms per device', 'utilization (busy / exchange)'], cases.map((c) => [
    c.name, ms(c.stepSeconds), ms(c.modelledStepSeconds), mb(c.bytesMoved),
    c.perDevice.map((d) => Math.round(d.tokens)).join(' / '),
    c.perDevice.map((d) => ms(d.busySeconds)).join(' / '),
    c.perDevice.map((d) => `${Math.round((100 * d.busySeconds) / (d.busySeconds + d.idleSeconds))}%`).join(' / '),
  ]));
}

const ratio = (x: number): string => `${x.toFixed(2)}×`;

function named(cases: CaseResult[]): [CaseResult, CaseResult, CaseResult, CaseResult, CaseResult, CaseResult] {
  return [
    '4 devices, Switch top-1', '4 devices, dense MoE top-4', '1 device, Switch top-1', '1 device, dense MoE top-4',
    '4 devices, skewed router (α = 0)', '4 devices, balanced router (α = 0.01)',
  ].map((n) => byName(cases, n)) as [CaseResult, CaseResult, CaseResult, CaseResult, CaseResult, CaseResult];
}

/** Each section's claim, judged from devices.json; a quick run (one step) judges nothing. */
export function verdicts(cases: CaseResult[], quick: boolean): Verdict[] {
  const [s4, d4, s1, d1, skewed, balanced] = named(cases);
  const judged = (holds: boolean): boolean | null => (quick ? null : holds);
  const measured = (a: CaseResult, b: CaseResult): number => a.stepSeconds / b.stepSeconds;
  const modelled = (a: CaseResult, b: CaseResult): number => a.modelledStepSeconds / b.modelledStepSeconds;
  const experts = d1.perDevice[0]!.busySeconds / s1.perDevice[0]!.busySeconds;
  return [
    {
      experiment: 'four-devices', claim: 'On four devices a Switch step (top-1) takes less time than a dense MoE step (top-4).',
      measure: 'step time of the dense MoE ÷ Switch, measured on this machine and modelled with every device on its own core; holds when both exceed 1',
      value: `measured ${ratio(measured(d4, s4))}, modelled ${ratio(modelled(d4, s4))}`, holds: judged(measured(d4, s4) > 1 && modelled(d4, s4) > 1),
    },
    {
      experiment: 'one-device', claim: 'On one device Switch does about a quarter of the dense MoE\'s expert work, and its step is faster.',
      measure: 'expert compute (device busy time) of the dense MoE ÷ Switch, "about four" being 3–5, and the measured step-time ratio, above 1',
      value: `expert compute ${ratio(experts)}, step ${ratio(measured(d1, s1))}`, holds: judged(experts >= 3 && experts <= 5 && measured(d1, s1) > 1),
    },
    {
      experiment: 'imbalance', claim: 'With a skewed router the busiest device sets the step time: a skewed step is slower than a balanced one.',
      measure: 'step time with the skewed router (α = 0) ÷ the balanced one (α = 0.01), measured and modelled; holds when both exceed 1',
      value: `measured ${ratio(measured(skewed, balanced))}, modelled ${ratio(modelled(skewed, balanced))}`,
      holds: judged(measured(skewed, balanced) > 1 && modelled(skewed, balanced) > 1),
    },
  ];
}

/** DIR/devices.html: the three cases, every number from devices.json. */
export function page(cases: CaseResult[], ctx: Context): string {
  const [s4, d4, s1, d1, skewed, balanced] = named(cases);
  const { model: m } = ctx;
  const judged = verdicts(cases, ctx.settings.quick);
  const claims = (id: string): string => judged.filter((v) => v.experiment === id).map(verdictBlock).join('');
  return `${pageHead('switch-ts: experts on devices', `.note { color: #555; font-size: 13px; } .banner { background: #fff4d6; border: 1px solid #e0b84c; padding: .6em 1em; }\n${verdictStyle}`)}
<h1>Experts on devices: the two extremes of expert parallelism</h1>
<p>E = ${m.numExperts} experts of equal size (d<sub>model</sub> ${m.dModel}, d<sub>ff</sub> ${m.dFF}), ${m.groups} groups of ${m.groupSize} tokens, float32, dropless
(capacity = S, so that a device's work is exactly its tokens); each step is forward, backward and Adam, ${ctx.settings.steps} measured steps after one warm-up.
A device is a worker thread holding its experts' weights; tokens reach it by an all-to-all over shared memory.
Machine: ${escape(ctx.cpu)} × ${ctx.cores}, Node ${escape(ctx.node)}.</p>
${ctx.settings.quick ? '<p class="banner"><b>Quick run:</b> one measured step per case. It checks that the cases run (the plumbing), not the claims: the verdicts are not judged. Run <code>pnpm demo:devices</code> without <code>--quick</code> for that.</p>' : ''}
<p><b>Measured</b> is the wall time of a step on this machine, where at most ${ctx.cores} devices compute at once (the others take turns).
<b>Modelled</b> is the same step with every device on its own core: the host's own work (measured), plus, for each exchange, the slowest device's
measured busy time, plus the all-to-all at ${BANDWIDTH / 1e9} GB/s per device. Every number comes from <a href="devices.json">devices.json</a>; how to read it: <a href="../../docs/devices.md">docs/devices.md</a>.</p>
<h2>The claims and their verdicts</h2>
<p>A claim <b>holds</b> when its measure goes the claimed way in this run; otherwise it <b>does not hold at this scale</b> (on this machine: at most ${ctx.cores} devices compute at once).</p>
${verdictTable(judged)}

<section id="four-devices"><h2>1. Four experts on four devices</h2>
${claims('four-devices')}
<p>A dense MoE sends every token to all four experts and keeps every device busy; Switch sends each token to one expert, so each device gets about a quarter of the tokens: one device's work per token instead of four.</p>
<p class="headline">Dense MoE ÷ Switch step time: <b>${(d4.stepSeconds / s4.stepSeconds).toFixed(2)}×</b> measured, <b>${(d4.modelledStepSeconds / s4.modelledStepSeconds).toFixed(2)}×</b> modelled; bytes moved ${mb(d4.bytesMoved)} MB against ${mb(s4.bytesMoved)} MB.</p>
${stepTimes('Step time, 4 experts on 4 devices', [s4, d4])}${utilization(s4)}${utilization(d4)}${caseTable([s4, d4])}
</section>

<section id="one-device"><h2>2. Four experts on one device</h2>
${claims('one-device')}
<p>With every expert on one device nothing runs in parallel, so compute is the whole cost: Switch does a quarter of the dense MoE's expert work, and its step saves that share of the step.</p>
<p class="headline">Measured speed ratio, dense MoE ÷ Switch on one device: <b>${(d1.stepSeconds / s1.stepSeconds).toFixed(2)}×</b> (the expert compute alone: ${(d1.perDevice[0]!.busySeconds / s1.perDevice[0]!.busySeconds).toFixed(2)}×; the rest is routing, dispatch and combine on the host, the same for both).</p>
${stepTimes('Step time, 4 experts on 1 device', [s1, d1])}${caseTable([s1, d1])}
</section>

<section id="imbalance"><h2>3. Load imbalance: the busiest device sets the step time</h2>
${claims('imbalance')}
<p>A device cannot finish before its last token: with a skewed router one device does most of the work while the others wait.</p>
<p>How the skew is made, honestly: not by training. Both layers see the same inputs, which share an offset vector μ. In the skewed layer (α = 0) the router's column for expert 0 is set along μ, so most tokens choose expert 0 —
the collapse a router can drift into without the balancing loss, made by construction so that the figures do not depend on how a short training run happens to go. The balanced layer (α = 0.01) keeps its freshly initialized router, the state the balancing loss (eq. 4) keeps a router near.</p>
<p class="headline">Load imbalance (max / mean tokens per device): skewed <b>${imbalance(skewed).toFixed(2)}</b>, balanced <b>${imbalance(balanced).toFixed(2)}</b>; step time ${ms(skewed.stepSeconds)} ms against ${ms(balanced.stepSeconds)} ms measured, ${ms(skewed.modelledStepSeconds)} against ${ms(balanced.modelledStepSeconds)} ms modelled.</p>
${barChart({ title: 'Tokens per device', y: [{ name: 'tokens' }], categories: skewed.perDevice.map((_, d) => `device ${d}`), bars: [skewed, balanced].map((c) => ({ name: c.name.replace(/^4 devices, /, ''), values: c.perDevice.map((d) => Math.round(d.tokens)) })) })}
${utilization(skewed)}${utilization(balanced)}${caseTable([skewed, balanced])}
</section>
</body></html>
`;
}

function imbalance(c: CaseResult): number {
  const tokens = c.perDevice.map((d) => d.tokens);
  return Math.max(...tokens) / (tokens.reduce((a, b) => a + b, 0) / tokens.length);
}
