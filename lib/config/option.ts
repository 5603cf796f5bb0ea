/** One command-line flag of `square-inference serve`, the environment variable it also reads, and its parser. */
export interface Option<K extends string = string> {
  /** Undefined for a setting read only from the environment (secrets that must not show in `ps`). */
  flag?: string;
  env: string;
  key: K;
  help: string;
  parse?: (s: string) => unknown;
}

export function positiveNumber(text: string, name: string): number {
  const n = Number(text);
  if (!(n > 0)) throw new Error(`${name} must be a positive number, got "${text}"`);
  return n;
}

export function positiveInteger(text: string, name: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${text}"`);
  return n;
}

/** A comma list; empty entries dropped. */
export const commaList = (text: string): string[] => text.split(",").map((s) => s.trim()).filter(Boolean);
