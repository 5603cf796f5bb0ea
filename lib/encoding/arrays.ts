/** Renders named model outputs for a result (SPEC §5): plain nested lists, or base64 `.npy`. */
import { NdArray, toNested } from "../tensor.ts";
import { encodeNpyBase64 } from "./npy.ts";

export type OutputValue = NdArray | NdArray[] | number;

export const isNdArray = (v: unknown): v is NdArray =>
  typeof v === "object" && v !== null && "dtype" in v && "shape" in v && "data" in v;

export function renderArray(value: OutputValue, plaintext: boolean): unknown {
  if (typeof value === "number") return value; // scalars stay plain numbers
  if (Array.isArray(value)) return value.map((v) => renderArray(v, plaintext));
  return plaintext ? toNested(value) : encodeNpyBase64(value);
}

export function renderOutputs(outputs: Record<string, OutputValue>, plaintext: boolean): Record<string, unknown> {
  return Object.fromEntries(Object.entries(outputs).map(([name, v]) => [name, renderArray(v, plaintext)]));
}
