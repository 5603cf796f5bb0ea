/**
 * A minimal zip reader for torch.save's archives: the central directory (zip64 included), entries stored
 * (method 0, what torch writes) or deflated (method 8). Entry data is found through each local header, whose
 * extra field torch uses to pad data to 64-byte alignment. No encryption, no multi-disk archives.
 */
import { inflateRawSync } from "node:zlib";
import { AdapterError } from "./errors.ts";

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export const isZip = (bytes: Uint8Array): boolean =>
  bytes.byteLength >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;

/** Entry name → its uncompressed bytes (read lazily). */
export function readZip(bytes: Uint8Array, file = "zip file"): Map<string, () => Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (what: string): never => {
    throw new AdapterError(`${file}: ${what}`);
  };
  const need = (offset: number, length: number, what: string) => {
    if (offset < 0 || offset + length > bytes.byteLength) fail(`truncated or malformed zip (${what} at ${offset} runs past the end)`);
  };
  let eocd = -1;
  for (let i = bytes.byteLength - 22; i >= Math.max(0, bytes.byteLength - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail("no end-of-central-directory record (not a zip, or truncated)");
  let count = view.getUint16(eocd + 10, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    need(loc, 20, "zip64 locator");
    if (view.getUint32(loc, true) !== EOCD64_LOCATOR) fail("zip64 fields without a zip64 locator");
    const at = Number(view.getBigUint64(loc + 8, true));
    need(at, 56, "zip64 end record");
    if (view.getUint32(at, true) !== EOCD64) fail("bad zip64 end record signature");
    count = Number(view.getBigUint64(at + 32, true));
    cdSize = Number(view.getBigUint64(at + 40, true));
    cdOffset = Number(view.getBigUint64(at + 48, true));
  }
  need(cdOffset, cdSize, "central directory");
  const entries = new Map<string, () => Uint8Array>();
  let p = cdOffset;
  for (let n = 0; n < count; n++) {
    need(p, 46, "central directory entry");
    if (view.getUint32(p, true) !== CENTRAL) fail(`bad central directory signature at ${p}`);
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    let compressed = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    let local = view.getUint32(p + 42, true);
    need(p + 46, nameLength + extraLength, "entry name");
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLength));
    // zip64 extra field (id 1): the 64-bit values replace, in order, the fields that are 0xffffffff.
    for (let e = p + 46 + nameLength; e + 4 <= p + 46 + nameLength + extraLength; ) {
      const id = view.getUint16(e, true);
      const len = view.getUint16(e + 2, true);
      if (id === 1) {
        let q = e + 4;
        const next = () => {
          const v = Number(view.getBigUint64(q, true));
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (compressed === 0xffffffff) compressed = next();
        if (local === 0xffffffff) local = next();
      }
      e += 4 + len;
    }
    if (flags & 1) fail(`entry ${name} is encrypted`);
    if (method !== 0 && method !== 8) fail(`entry ${name} uses compression method ${method} (only stored and deflate are read)`);
    if (entries.has(name)) fail(`entry ${name} appears twice`);
    const headerAt = local;
    entries.set(name, () => {
      need(headerAt, 30, `local header of ${name}`);
      if (view.getUint32(headerAt, true) !== LOCAL) fail(`bad local header signature for ${name}`);
      const start = headerAt + 30 + view.getUint16(headerAt + 26, true) + view.getUint16(headerAt + 28, true);
      need(start, compressed, `data of ${name}`);
      const raw = bytes.subarray(start, start + compressed);
      let out = raw;
      if (method === 8) {
        try {
          out = new Uint8Array(inflateRawSync(raw, { maxOutputLength: Math.max(1, size) })); // bounded: no inflation bombs
        } catch (err) {
          fail(`entry ${name} does not inflate to its ${size} bytes (${(err as Error).message})`);
        }
      }
      if (out.byteLength !== size) fail(`entry ${name} has ${out.byteLength} bytes, its directory says ${size}`);
      return out;
    });
    p += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}
