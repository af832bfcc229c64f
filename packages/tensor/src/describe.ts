/** How an error message shows a bad argument: its type and value, e.g. "string '0'", "number 1.5". */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'string') return `string '${v}'`;
  if (Array.isArray(v)) return `array ${JSON.stringify(v)}`;
  if (typeof v === 'object' || typeof v === 'function') return typeof v;
  return `${typeof v} ${String(v)}`;
}
