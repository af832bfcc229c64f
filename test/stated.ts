// The check behind the docs' `// → value` comments (test/docs.examples.test.ts).

/** A number matches its stated value to float32 precision; everything else matches exactly. */
function matches(actual: unknown, want: unknown): boolean {
  if (typeof want === 'number' && typeof actual === 'number') {
    return actual === want || Math.abs(actual - want) <= 1e-6 * Math.max(1, Math.abs(want));
  }
  if (Array.isArray(want)) {
    return Array.isArray(actual) && actual.length === want.length && want.every((w, i) => matches(actual[i], w));
  }
  if (want !== null && typeof want === 'object') {
    if (actual === null || typeof actual !== 'object') return false;
    const keys = Object.keys(want);
    return keys.length === Object.keys(actual).length &&
      keys.every((k) => matches((actual as Record<string, unknown>)[k], (want as Record<string, unknown>)[k]));
  }
  return Object.is(actual, want);
}

export function checkStated(actual: unknown, want: unknown, where: string): void {
  if (!matches(actual, want)) {
    throw new Error(`${where}: the doc states ${JSON.stringify(want)}, the code gives ${JSON.stringify(actual)}`);
  }
}
