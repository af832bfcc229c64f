import { escape } from './html.js';

/**
 * A claim and what the numbers say of it: both reports (`pnpm demo`, `pnpm demo:devices`) state
 * no claim without its verdict beside it.
 */
export interface Verdict {
  /** The id of the report section the claim belongs to. */
  experiment: string;
  claim: string;
  /** What was measured, in words. */
  measure: string;
  /** The numbers, as mean (min–max over seeds) where there are several seeds. */
  value: string;
  /** true: the measure goes the claimed way (in every seed); null: not judged (a quick run). */
  holds: boolean | null;
}

export const verdictText = (v: Verdict): string => (v.holds === null ? 'not judged (quick run)' : v.holds ? 'holds' : 'does not hold at this scale');

const verdictClass = (v: Verdict): string => (v.holds === null ? 'unjudged' : v.holds ? 'holds' : 'fails');

/** The claim with its verdict, then the measure and the numbers: the top of a report section. */
export function verdictBlock(v: Verdict): string {
  return `<div class="verdict ${verdictClass(v)}"><p><b>Claim:</b> ${escape(v.claim)} <span class="badge">${verdictText(v)}</span></p>` +
    `<p class="measure">Measure: ${escape(v.measure)}.<br>Numbers: ${escape(v.value)}.</p></div>`;
}

/** One row per claim, linked to its section. */
export function verdictTable(verdicts: Verdict[], numbers = 'numbers'): string {
  const rows = verdicts.map((v) => `<tr><td><a href="#${v.experiment}">${escape(v.claim)}</a></td><td class="text">${escape(v.measure)}</td><td class="text">${escape(v.value)}</td><td class="${verdictClass(v)}">${verdictText(v)}</td></tr>`);
  return `<table class="summary"><thead><tr><th>claim</th><th>measure</th><th>${escape(numbers)}</th><th>verdict</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

export const verdictStyle = `.verdict { border-left: 4px solid #999; padding: .2em .8em; margin: 1em 0; background: #f8f8f8; } .verdict p { margin: .3em 0; }
.verdict.holds { border-color: #2e7d32; } .verdict.fails { border-color: #c62828; } .measure { font-size: 13px; color: #444; }
.badge { font-weight: bold; white-space: nowrap; } .holds .badge, td.holds { color: #2e7d32; } .fails .badge, td.fails { color: #c62828; }
table.summary td { vertical-align: top; } table.summary th { text-align: left; } table.summary td.text { text-align: left; font-size: 12px; }
td.holds, td.fails, td.unjudged { font-weight: bold; white-space: nowrap; }`;
