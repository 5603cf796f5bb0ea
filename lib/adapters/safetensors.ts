/**
 * Reader of the safetensors format (huggingface/safetensors): 8 bytes little-endian u64 header length N,
 * N bytes of UTF-8 JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {str: str}},
 * then the raw row-major little-endian bytes; offsets are relative to the end of the header. Checked as the
 * Rust reader checks: header ≤ 100 MB, offsets in bounds, no overlaps or gaps, every byte covered.
 */
import { AdapterError } from "./errors.ts";
import { decodeContiguous, DTYPE_BYTES, elementCount } from "./tensor.ts";
import type { StoredDtype, WeightTensor } from "./tensor.ts";

export const MAX_HEADER_BYTES = 100_000_000;

const DTYPES: Record<string, StoredDtype> = { F32: "float32", F16: "float16", BF16: "bfloat16", F64: "float64" };

export interface Safetensors {
  readonly tensors: Map<string, WeightTensor>;
  readonly metadata: Record<string, string>;
}

export function readSafetensors(bytes: Uint8Array, file = "safetensors file"): Safetensors {
  if (bytes.byteLength < 8) throw new AdapterError(`${file}: ${bytes.byteLength} bytes, too short for a safetensors header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) throw new AdapterError(`${file}: header of ${headerLength} bytes is over the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(headerLength);
  if (8 + n > bytes.byteLength) throw new AdapterError(`${file}: header of ${n} bytes runs past the end of the file (${bytes.byteLength} bytes)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (err) {
    throw new AdapterError(`${file}: header is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw new AdapterError(`${file}: header is not a JSON object`);
  const data = bytes.subarray(8 + n);
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: StoredDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof info !== "object" || info === null || Array.isArray(info)) throw new AdapterError(`${file}: __metadata__ is not an object`, name);
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== "string") throw new AdapterError(`${file}: __metadata__.${k} is not a string`, k);
        metadata[k] = v;
      }
      continue;
    }
    const entry = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof entry !== "object" || entry === null) throw new AdapterError(`${file}: tensor ${name} has no description`, name);
    const dtype = typeof entry.dtype === "string" ? DTYPES[entry.dtype] : undefined;
    if (!dtype) throw new AdapterError(`${file}: tensor ${name} has dtype ${JSON.stringify(entry.dtype)}; supported: ${Object.keys(DTYPES).join(", ")}`, name);
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new AdapterError(`${file}: tensor ${name} has shape ${JSON.stringify(shape)}`, name);
    const offsets = entry.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      throw new AdapterError(`${file}: tensor ${name} has data_offsets ${JSON.stringify(offsets)}`, name);
    }
    const [begin, end] = offsets as [number, number];
    if (end > data.byteLength) throw new AdapterError(`${file}: tensor ${name} ends at ${end}, past the ${data.byteLength} data bytes`, name);
    if (end - begin !== elementCount(shape) * DTYPE_BYTES[dtype]) {
      throw new AdapterError(`${file}: tensor ${name} has ${end - begin} bytes for ${entry.dtype} [${shape.join(", ")}]`, name);
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  // Offsets must tile the data area exactly: sorted by begin, each starting where the previous ended.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of sorted) {
    if (e.begin !== at) throw new AdapterError(`${file}: tensor ${e.name} starts at ${e.begin}, expected ${at} (${e.begin < at ? "overlap" : "gap"})`, e.name);
    at = e.end;
  }
  if (at !== data.byteLength) throw new AdapterError(`${file}: tensors cover ${at} of ${data.byteLength} data bytes`);
  const tensors = new Map<string, WeightTensor>();
  for (const e of entries) tensors.set(e.name, decodeContiguous(e.name, data.subarray(e.begin, e.end), e.dtype, e.shape));
  return { tensors, metadata };
}
