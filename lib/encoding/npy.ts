/**
 * NumPy `.npy` format version 1.0 (SPEC §5): magic, version, header length, an ASCII dict
 * padded with spaces and a newline so the data starts at a multiple of 64, then C-order
 * little-endian data. Encoded arrays travel as standard base64.
 */
import { NdArray, DType } from "../tensor.ts";

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const DESCR: Record<DType, string> = { float32: "<f4", float64: "<f8", int32: "<i4", int64: "<i8" };
const ALIGN = 64;

export function npyHeader(dtype: DType, shape: readonly number[]): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  const dict = `{'descr': '${DESCR[dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const prefix = MAGIC.length + 2 + 2; // magic, version, uint16 header length
  const unpadded = prefix + dict.length + 1; // + newline
  const total = Math.ceil(unpadded / ALIGN) * ALIGN;
  const headerText = dict + " ".repeat(total - unpadded) + "\n";
  if (headerText.length > 0xffff) throw new Error("npy header too long for format 1.0");
  const head = Buffer.alloc(prefix);
  MAGIC.copy(head, 0);
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(headerText.length, 8);
  return Buffer.concat([head, Buffer.from(headerText, "latin1")]);
}

export function encodeNpy(a: NdArray): Buffer {
  // Typed arrays are little-endian on every platform Node supports in production (x64, arm64).
  const data = Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  return Buffer.concat([npyHeader(a.dtype, a.shape), data]);
}

export const encodeNpyBase64 = (a: NdArray): string => encodeNpy(a).toString("base64");
