/**
 * A weight tensor as the adapter readers return it: row-major (C order) float32 values, its shape, and
 * the dtype it was stored in (float16 / bfloat16 / float64 are widened or narrowed to float32 on reading).
 */
import { AdapterError } from "./errors.ts";

export type StoredDtype = "float32" | "float16" | "bfloat16" | "float64";

export interface WeightTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
  readonly dtype: StoredDtype;
}

/** Bytes per element of each stored dtype. */
export const DTYPE_BYTES: Readonly<Record<StoredDtype, number>> = Object.freeze({ float32: 4, float16: 2, bfloat16: 2, float64: 8 });

export const elementCount = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** IEEE half (binary16) bits → number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** bfloat16 bits → number (the upper half of a float32). */
export function bfloat16ToFloat(b: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, (b & 0xffff) << 16);
  return view.getFloat32(0);
}

/** Reads element `index` (in elements, not bytes) of little-endian `dtype` data starting at `bytes[0]`. */
export function elementReader(bytes: Uint8Array, dtype: StoredDtype): (index: number) => number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case "float32":
      return (i) => view.getFloat32(i * 4, true);
    case "float64":
      return (i) => view.getFloat64(i * 8, true);
    case "float16":
      return (i) => halfToFloat(view.getUint16(i * 2, true));
    case "bfloat16":
      return (i) => bfloat16ToFloat(view.getUint16(i * 2, true));
  }
}

/** Decodes contiguous little-endian `dtype` bytes of `shape` into a tensor. */
export function decodeContiguous(name: string, bytes: Uint8Array, dtype: StoredDtype, shape: readonly number[]): WeightTensor {
  const count = elementCount(shape);
  if (bytes.byteLength !== count * DTYPE_BYTES[dtype]) {
    throw new AdapterError(`tensor ${name}: ${bytes.byteLength} bytes for ${dtype} shape [${shape.join(", ")}] (expected ${count * DTYPE_BYTES[dtype]})`, name);
  }
  const read = elementReader(bytes, dtype);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = read(i);
  return { shape: [...shape], data, dtype };
}
