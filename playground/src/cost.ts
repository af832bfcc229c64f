/*
 * The cost table's numbers, shared by the page and the worker (compute.ts measures them). No
 * imports: the page's bundle holds no tensor code.
 */

/** What one model costs: parameters stored, parameters one token goes through, forward FLOPs per token. */
export interface ModelCost {
  total: number;
  active: number;
  flopsPerToken: number;
  /** The share of flopsPerToken spent in the FFNs of blocks 1, 3, … (switch layers, or the dense twin's FFNs there). */
  switchFlopsPerToken: number;
}

/** Whole numbers with thousands separators: what the cost table shows and the browser test compares. */
export const count = (v: number): string => Math.round(v).toLocaleString('en');
