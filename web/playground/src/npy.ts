/**
 * NumPy `.npy` v1/v2 in base64, as the server sends arrays when `return_plaintext_arrays` is off
 * (`model_output_is_encoded: true`): decoded here to nested lists, so the page and its raw JSON
 * view show numbers.
 */
export type Nested = number | boolean | Nested[];

const MAGIC_B64 = "k05VTVBZ"; // base64 of "\x93NUMPY"

export const isEncodedArray = (v: unknown): v is string => typeof v === "string" && v.startsWith(MAGIC_B64);

export function decodeNpy(b64: string): Nested {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const view = new DataView(bytes.buffer);
  const major = bytes[6];
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 + headerLen : 12 + headerLen;
  const header = new TextDecoder("latin1").decode(bytes.subarray(major === 1 ? 10 : 12, start));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1] ?? "";
  const fortran = /'fortran_order':\s*True/.test(header);
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? "").split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  if (descr.startsWith(">")) throw new Error(`big-endian arrays are not supported (${descr})`);
  const read = reader(view, start, descr.replace(/^[<|=]/, ""));
  const count = shape.reduce((a, b) => a * b, 1);
  const flat: (number | boolean)[] = new Array(count);
  for (let i = 0; i < count; i++) flat[i] = read(i);
  return nest(fortran ? transposeFortran(flat, shape) : flat, shape);
}

function reader(view: DataView, start: number, type: string): (i: number) => number | boolean {
  switch (type) {
    case "f4": return (i) => view.getFloat32(start + 4 * i, true);
    case "f8": return (i) => view.getFloat64(start + 8 * i, true);
    case "i8": return (i) => Number(view.getBigInt64(start + 8 * i, true));
    case "u8": return (i) => Number(view.getBigUint64(start + 8 * i, true));
    case "i4": return (i) => view.getInt32(start + 4 * i, true);
    case "u4": return (i) => view.getUint32(start + 4 * i, true);
    case "i2": return (i) => view.getInt16(start + 2 * i, true);
    case "u2": return (i) => view.getUint16(start + 2 * i, true);
    case "i1": return (i) => view.getInt8(start + i);
    case "u1": return (i) => view.getUint8(start + i);
    case "b1": return (i) => view.getUint8(start + i) !== 0;
    default: throw new Error(`unsupported .npy dtype ${type}`);
  }
}

function nest(flat: (number | boolean)[], shape: number[]): Nested {
  if (shape.length === 0) return flat[0];
  const build = (offset: number, dim: number): Nested[] => {
    const size = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
    return Array.from({ length: shape[dim] }, (_, i) => (dim === shape.length - 1 ? flat[offset + i] : build(offset + i * size, dim + 1)));
  };
  return build(0, 0);
}

function transposeFortran(flat: (number | boolean)[], shape: number[]): (number | boolean)[] {
  const out = new Array(flat.length);
  const idx = new Array(shape.length).fill(0);
  for (let c = 0; c < flat.length; c++) {
    let f = 0;
    let stride = 1;
    for (let d = 0; d < shape.length; d++) {
      f += idx[d] * stride;
      stride *= shape[d];
    }
    out[c] = flat[f];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** A result with every encoded array under `model_outputs` decoded (the rest is untouched). */
export function decodeResult<T>(result: T): T {
  if (!result || typeof result !== "object") return result;
  const r = result as Record<string, unknown>;
  if (!r.model_outputs) return result;
  return { ...r, model_outputs: decodeDeep(r.model_outputs) } as T;
}

function decodeDeep(v: unknown): unknown {
  if (isEncodedArray(v)) return decodeNpy(v);
  if (Array.isArray(v)) return v.map(decodeDeep);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decodeDeep(x)]));
  return v;
}
