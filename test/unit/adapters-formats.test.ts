/**
 * The adapter weight readers (lib/adapters): safetensors and torch.save zip archives read back exactly the
 * values written — by our fixture writer (lib/fixtures/adapters-fixture.ts), checked against torch itself as an
 * independent reader when /usr/bin/python3 has torch, and files written by torch.save (committed under
 * test/fixtures/adapters/: float16, bfloat16, float64, strided views, shared storages, protocol 4).
 * Malformed files are refused with clear errors.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";
import { readSafetensors, readTorchBin, readWeightFile, AdapterError } from "../../lib/adapters/index.ts";
import type { WeightTensor } from "../../lib/adapters/index.ts";
import { DEMO_FIXTURES } from "../../lib/fixtures/index.ts";
import { ADAPTER_BASES, ADAPTER_FIXTURES, adapterTensors, headTensors, writeAdapterFixtures } from "../../lib/fixtures/adapters-fixture.ts";
import { encodeSafetensors } from "../../lib/fixtures/adapter-safetensors.ts";
import { encodeStoredZip, encodeTorchStateDict } from "../../lib/fixtures/adapter-torch-zip.ts";
import { useTempDirs } from "../helpers/temp-dirs.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const TORCH_FILES = join(ROOT, "test/fixtures/adapters");
const PYTHON = "/usr/bin/python3";
const hasTorch = spawnSync(PYTHON, ["-c", "import torch"], { stdio: "ignore" }).status === 0;

const tempDir = useTempDirs();
let outDir: string;
const bases = ADAPTER_BASES.map((name) => DEMO_FIXTURES.find((s) => s.name === name)!);

before(async () => {
  outDir = await tempDir("adapters-formats-");
  for (const base of bases) await writeAdapterFixtures(outDir, base);
});

const weightFiles = async (): Promise<string[]> => {
  const files: string[] = [];
  for (const base of bases) {
    for (const spec of ADAPTER_FIXTURES) {
      const dir = join(outDir, `${base.name}-adapters`, spec.folder);
      for (const f of (await readdir(dir)).sort()) if (/\.(bin|safetensors)$/.test(f)) files.push(join(dir, f));
    }
  }
  return files;
};

function assertSameTensor(name: string, got: WeightTensor | undefined, want: { shape: readonly number[]; data: ArrayLike<number>; dtype?: string }) {
  assert.ok(got, `${name} missing`);
  assert.deepEqual([...got.shape], [...want.shape], `${name} shape`);
  if (want.dtype) assert.equal(got.dtype, want.dtype, `${name} dtype`);
  assert.equal(got.data.length, want.data.length, `${name} size`);
  for (let i = 0; i < want.data.length; i++) {
    if (!Object.is(got.data[i], Math.fround(want.data[i]))) assert.fail(`${name}[${i}]: ${got.data[i]} != ${want.data[i]}`);
  }
}

test("every fixture weight file reads back exactly the tensors written, in both formats", async () => {
  const formats = new Set<string>();
  for (const base of bases) {
    for (const spec of ADAPTER_FIXTURES) {
      const dir = join(outDir, `${base.name}-adapters`, spec.folder);
      const torch = spec.format === "torch";
      formats.add(spec.format);
      for (const [file, want] of [
        [torch ? "pytorch_adapter.bin" : "adapter.safetensors", adapterTensors(spec, base)],
        [torch ? "pytorch_model_head.bin" : "model_head.safetensors", headTensors(spec, base)],
      ] as const) {
        const got = await readWeightFile(join(dir, file));
        assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `${dir}/${file} keys`);
        for (const [k, t] of want) assertSameTensor(`${file}:${k}`, got.get(k), { ...t, dtype: "float32" });
      }
    }
  }
  assert.deepEqual([...formats].sort(), ["safetensors", "torch"]);
});

test("torch (an independent reader) reads the same values from every fixture weight file", { skip: !hasTorch && "no torch at /usr/bin/python3" }, async () => {
  const files = await weightFiles();
  const run = spawnSync(PYTHON, [join(ROOT, "tools/goldens/adapters_dump.py"), ...files], { encoding: "utf8", maxBuffer: 64 << 20 });
  assert.equal(run.status, 0, run.stderr);
  const dumped = JSON.parse(run.stdout) as Record<string, Record<string, { dtype: string; shape: number[]; data: number[] }>>;
  for (const file of files) {
    const ours = await readWeightFile(file);
    const theirs = dumped[file];
    assert.deepEqual([...ours.keys()].sort(), Object.keys(theirs).sort(), file);
    for (const [k, t] of Object.entries(theirs)) assertSameTensor(`${file}:${k}`, ours.get(k), t);
  }
});

test("torch.save's own files: float16, bfloat16, float64, strided and offset views, Parameter, 0-d, protocols 2 and 4", async () => {
  const expected = JSON.parse(await readFile(join(TORCH_FILES, "torch-dtypes.json"), "utf8")) as {
    tensors: Record<string, { dtype: string; shape: number[]; data: number[] }>;
  };
  assert.deepEqual(new Set(Object.values(expected.tensors).map((t) => t.dtype)), new Set(["float32", "float16", "bfloat16", "float64"]));
  for (const file of ["torch-dtypes.bin", "torch-dtypes-p4.bin"]) {
    const got = readTorchBin(new Uint8Array(await readFile(join(TORCH_FILES, file))), file);
    assert.deepEqual([...got.keys()], Object.keys(expected.tensors), `${file}: keys in order`);
    for (const [k, t] of Object.entries(expected.tensors)) assertSameTensor(`${file}:${k}`, got.get(k), t);
  }
});

test("the committed torch.save files are still what tools/goldens/adapters_torch_files.py writes", { skip: !hasTorch && "no torch at /usr/bin/python3" }, async () => {
  const dir = await tempDir("adapters-torch-files-");
  const run = spawnSync(PYTHON, [join(ROOT, "tools/goldens/adapters_torch_files.py"), "--out", dir], { encoding: "utf8", cwd: join(ROOT, "tools/goldens") });
  assert.equal(run.status, 0, run.stderr);
  for (const f of ["torch-dtypes.bin", "torch-dtypes-p4.bin", "torch-dtypes.json"]) {
    assert.deepEqual(await readFile(join(dir, f)), await readFile(join(TORCH_FILES, f)), f);
  }
});

test("the fixture's torch writer produces files torch.load(weights_only=True) accepts", { skip: !hasTorch && "no torch at /usr/bin/python3" }, async () => {
  const file = join(await tempDir("adapters-torch-write-"), "w.bin");
  await writeFile(file, encodeTorchStateDict(new Map([["a.b", { shape: [2, 3], data: new Float32Array([1, -2, 3.5, 0, 1e-30, -0]) }], ["s", { shape: [], data: new Float32Array([7]) }]])));
  const run = spawnSync(PYTHON, ["-c", "import sys,torch; d=torch.load(sys.argv[1], weights_only=True); print(list(d), d['a.b'].tolist(), d['s'].item())", file], { encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.trim(), "['a.b', 's'] [[1.0, -2.0, 3.5], [0.0, 1.0000000031710769e-30, -0.0]] 7.0");
});

// ---- safetensors ----

function rawSafetensors(header: Record<string, unknown>, data: Uint8Array, declaredLength?: bigint): Uint8Array {
  const json = Buffer.from(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

test("safetensors: float16 and bfloat16 are decoded; metadata kept", () => {
  // f16: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff, smallest subnormal 0x0001; bf16: 1.0 = 0x3f80, -0.5 = 0xbf00
  const data = new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00, 0x80, 0x3f, 0x00, 0xbf]);
  const file = rawSafetensors({ __metadata__: { format: "pt" }, h: { dtype: "F16", shape: [2, 2], data_offsets: [0, 8] }, b: { dtype: "BF16", shape: [2], data_offsets: [8, 12] } }, data);
  const read = readSafetensors(file);
  assert.deepEqual(read.metadata, { format: "pt" });
  assert.deepEqual([...read.tensors.get("h")!.data], [1, -2, 65504, 2 ** -24]);
  assert.equal(read.tensors.get("h")!.dtype, "float16");
  assert.deepEqual([...read.tensors.get("b")!.data], [1, -0.5]);
});

test("safetensors: the fixture writer's bytes are what the reader expects (header padded to 8)", () => {
  const bytes = encodeSafetensors(new Map([["x", { shape: [3], data: new Float32Array([1, 2, 3]) }]]));
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  assert.deepEqual([...readSafetensors(bytes).tensors.get("x")!.data], [1, 2, 3]);
});

test("safetensors: malformed files are refused with the reason", () => {
  const four = new Uint8Array(16);
  const cases: [string, Uint8Array, RegExp][] = [
    ["too short", new Uint8Array(4), /too short/],
    ["header over 100 MB", rawSafetensors({}, new Uint8Array(0), 100_000_001n), /over the 100000000-byte limit/],
    ["header past the end", rawSafetensors({}, new Uint8Array(0), 1000n), /runs past the end/],
    ["not JSON", (() => { const b = rawSafetensors({ a: 1 }, four); b[8] = 0x7b + 1; return b; })(), /not valid UTF-8 JSON/],
    ["unknown dtype", rawSafetensors({ t: { dtype: "I64", shape: [2], data_offsets: [0, 16] } }, four), /tensor t has dtype "I64"/],
    ["size mismatch", rawSafetensors({ t: { dtype: "F32", shape: [3], data_offsets: [0, 16] } }, four), /tensor t has 16 bytes for F32 \[3\]/],
    ["gap", rawSafetensors({ t: { dtype: "F32", shape: [2], data_offsets: [8, 16] } }, four), /tensor t starts at 8, expected 0 \(gap\)/],
    ["overlap", rawSafetensors({ t: { dtype: "F32", shape: [4], data_offsets: [0, 16] }, u: { dtype: "F32", shape: [1], data_offsets: [12, 16] } }, four), /overlap/],
    ["uncovered bytes", rawSafetensors({ t: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, four), /cover 8 of 16 data bytes/],
    ["out of bounds", rawSafetensors({ t: { dtype: "F32", shape: [8], data_offsets: [0, 32] } }, four), /past the 16 data bytes/],
  ];
  for (const [what, bytes, message] of cases) {
    assert.throws(() => readSafetensors(bytes), (err: Error) => err instanceof AdapterError && message.test(err.message), what);
  }
});

// ---- torch zip ----

test("torch zip: truncated, non-zip, legacy and incomplete archives are refused clearly", async () => {
  const good = encodeTorchStateDict(new Map([["w", { shape: [2], data: new Float32Array([1, 2]) }]]));
  const refuses = (bytes: Uint8Array, message: RegExp, what: string) =>
    assert.throws(() => readTorchBin(bytes, "x.bin"), (err: Error) => err instanceof AdapterError && message.test(err.message), what);
  refuses(good.subarray(0, good.length - 30), /end-of-central-directory|truncated/, "truncated archive");
  refuses(good.subarray(0, 100), /end-of-central-directory|truncated/, "cut short");
  refuses(new Uint8Array([1, 2, 3, 4, 5]), /not a torch zip archive/, "not a zip");
  refuses(new Uint8Array([0x80, 0x02, 0x8a, 0x0a]), /legacy pre-1\.6/, "legacy format");
  refuses(encodeStoredZip([{ name: "archive/version", data: new Uint8Array([0x33]) }]), /one <root>\/data\.pkl entry, found 0/, "no data.pkl");
  // data.pkl whose storage entry is missing
  const entries = [{ name: "archive/data.pkl", data: unzipEntry(good, "archive/data.pkl") }];
  refuses(encodeStoredZip(entries), /storage 0 has no archive\/data\/0 entry/, "missing storage");
  // a storage too small for the view
  refuses(encodeStoredZip([...entries, { name: "archive/data/0", data: new Uint8Array(4) }]), /storage 0 has 4 bytes for 2 float32 elements/, "short storage");
  // a corrupted pickle inside a valid zip
  const pkl = unzipEntry(good, "archive/data.pkl");
  refuses(encodeStoredZip([{ name: "archive/data.pkl", data: pkl.subarray(0, pkl.length - 5) }, { name: "archive/data/0", data: new Uint8Array(8) }]), /truncated pickle|no STOP/, "truncated pickle");
});

/** The bytes of a stored entry of a zip written by encodeStoredZip (via the reader under test's zip layer). */
function unzipEntry(zip: Uint8Array, name: string): Uint8Array {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  for (let p = 0; p + 30 <= zip.length; ) {
    if (view.getUint32(p, true) !== 0x04034b50) break;
    const size = view.getUint32(p + 18, true);
    const nameLength = view.getUint16(p + 26, true);
    const extra = view.getUint16(p + 28, true);
    const entryName = Buffer.from(zip.subarray(p + 30, p + 30 + nameLength)).toString();
    const start = p + 30 + nameLength + extra;
    if (entryName === name) return zip.slice(start, start + size);
    p = start + size;
  }
  throw new Error(`no ${name}`);
}
