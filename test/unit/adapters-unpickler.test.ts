/**
 * The restricted unpickler behind pytorch_adapter.bin (lib/adapters/pickle.ts, torch-bin.ts): it reads only
 * the opcodes and globals a torch.save state dict uses. A pickle that would call os.system, builtins.eval or any
 * other global is refused by name and never executed — proved with a payload that would create a file (and
 * that does create it when Python's own pickle.loads runs it) — as are REDUCE of a non-allowlisted callable,
 * the object-building opcodes and malformed or truncated input.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { unpickle, readTorchBin, loadAdapterFolder, AdapterError, TORCH_PICKLE_GLOBALS, PickleTuple } from "../../lib/adapters/index.ts";
import { encodeStoredZip } from "../../lib/fixtures/adapter-torch-zip.ts";
import { useTempDirs } from "../helpers/temp-dirs.ts";

const tempDir = useTempDirs();
const exists = (p: string) => access(p).then(() => true, () => false);
const hasPython = spawnSync("/usr/bin/python3", ["-c", "pass"], { stdio: "ignore" }).status === 0;

/** Pickle bytes from pieces: numbers are opcodes/bytes, strings are latin1 text. */
const bytes = (...parts: (number | string | Uint8Array)[]): Uint8Array =>
  new Uint8Array(Buffer.concat(parts.map((p) => (typeof p === "number" ? Buffer.from([p]) : typeof p === "string" ? Buffer.from(p, "latin1") : Buffer.from(p)))));
const binunicode = (s: string) => {
  const b = Buffer.from(s, "utf8");
  const len = Buffer.alloc(4);
  len.writeUInt32LE(b.length);
  return bytes(0x58, len, b);
};
const short = (s: string) => bytes(0x8c, Buffer.from(s).length, s);

/** A protocol-2 pickle calling module.name(arg): GLOBAL, the argument, TUPLE1, REDUCE, STOP. */
const callGlobal = (module: string, name: string, arg: string) => bytes(0x80, 2, `c${module}\n${name}\n`, binunicode(arg), 0x85, 0x52, 0x2e);
/** The same with protocol 4's STACK_GLOBAL. */
const callStackGlobal = (module: string, name: string, arg: string) => bytes(0x80, 4, short(module), short(name), 0x93, short(arg), 0x85, 0x52, 0x2e);

const TORCH_OPTIONS = {
  callables: { "collections.OrderedDict": () => new Map() },
  values: ["torch.FloatStorage"],
  file: "t.pkl",
};

function refuses(data: Uint8Array, message: RegExp, key?: string) {
  assert.throws(
    () => unpickle(data, TORCH_OPTIONS),
    (err: Error) => err instanceof AdapterError && message.test(err.message) && (key === undefined || err.key === key),
    `expected ${message}${key ? ` (key ${key})` : ""}`,
  );
}

test("the allowlist is exactly the globals torch.save uses for a state dict of tensors", () => {
  assert.deepEqual([...TORCH_PICKLE_GLOBALS].sort(), [
    "collections.OrderedDict", "torch.BFloat16Storage", "torch.BoolStorage", "torch.ByteStorage", "torch.CharStorage", "torch.DoubleStorage",
    "torch.FloatStorage", "torch.HalfStorage", "torch.IntStorage", "torch.LongStorage", "torch.ShortStorage",
    "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state", "torch._utils._rebuild_tensor_v2",
  ]);
});

test("a pickle naming any non-allowlisted global is refused by name, through GLOBAL and STACK_GLOBAL", () => {
  const globals = [
    ["os", "system"], ["posix", "system"], ["nt", "system"], ["builtins", "eval"], ["builtins", "exec"], ["__builtin__", "eval"],
    ["builtins", "getattr"], ["builtins", "__import__"], ["subprocess", "Popen"], ["subprocess", "check_output"], ["shutil", "rmtree"],
    ["torch", "load"], ["torch.storage", "_load_from_bytes"], ["numpy.core.multiarray", "_reconstruct"], ["collections", "defaultdict"],
    ["torch._utils", "_rebuild_device_tensor_from_numpy"], ["webbrowser", "open"], ["collections", "OrderedDict.__class__"],
  ];
  for (const [module, name] of globals) {
    refuses(callGlobal(module, name, "echo pwned"), new RegExp(`global ${module}\\.${name.replace(/[.]/g, "\\.")} is not allowed.*nothing was executed`), `${module}.${name}`);
    refuses(callStackGlobal(module, name, "echo pwned"), new RegExp(`global ${module}\\.${name.replace(/[.]/g, "\\.")} is not allowed`), `${module}.${name}`);
  }
});

test("REDUCE of anything but an allowlisted callable is refused (a storage class, a string, a dict)", () => {
  refuses(bytes(0x80, 2, "ctorch\nFloatStorage\n", 0x29, 0x52, 0x2e), /REDUCE of global torch\.FloatStorage.*only allowlisted callables/, "torch.FloatStorage");
  refuses(bytes(0x80, 2, binunicode("os.system"), binunicode("ls"), 0x85, 0x52, 0x2e), /REDUCE of string/);
  refuses(bytes(0x80, 2, 0x7d, 0x29, 0x52, 0x2e), /REDUCE of dict/);
  refuses(bytes(0x80, 2, "ccollections\nOrderedDict\n", binunicode("x"), 0x52, 0x2e), /non-tuple arguments/);
});

test("object-building and text-protocol opcodes are refused outright", () => {
  refuses(bytes("(ios\nsystem\n", binunicode("ls"), 0x2e), /opcode 0x69 \(INST\)/); // INST never resolves its global
  refuses(bytes(0x80, 2, 0x28, "ctorch\nFloatStorage\n", 0x6f, 0x2e), /opcode 0x6f \(OBJ\)/);
  refuses(bytes(0x80, 2, "ccollections\nOrderedDict\n", 0x29, 0x81, 0x2e), /opcode 0x81 \(NEWOBJ\)/);
  refuses(bytes(0x80, 2, 0x82, 0x01, 0x2e), /opcode 0x82 \(EXT1\)/);
  refuses(bytes(0x80, 2, "Pstorage\n", 0x2e), /opcode 0x50 \(PERSID\)/);
  refuses(bytes("I1\n."), /opcode 0x49 \(INT\)/);
  refuses(bytes(0x80, 2, 0x4e, 0x7d, 0x62, 0x2e), /BUILD of a None/); // BUILD only sets a dict's attributes
  refuses(bytes(0x80, 2, "ctorch\nFloatStorage\n", 0x7d, 0x62, 0x2e), /BUILD of a global torch\.FloatStorage/);
  refuses(bytes(0x80, 2, 0x29, 0x51, 0x2e), /BINPERSID.*persistent ids are not allowed/);
});

test("malformed and truncated pickles are refused with the offset", () => {
  refuses(bytes(), /no STOP opcode/);
  refuses(bytes(0x80, 2, 0x4e), /no STOP opcode/);
  refuses(bytes(0x80, 2, 0x58, 0xff, 0, 0, 0, "abc"), /truncated pickle: needs 255 more bytes at offset 7/);
  refuses(bytes(0x80, 2, "cos\nsys"), /truncated pickle: unterminated line/);
  refuses(bytes(0x80, 2, 0xff, 0x2e), /opcode 0xff at offset 2 is not allowed/);
  refuses(bytes(0x80, 2, 0x2e), /stack underflow/);
  refuses(bytes(0x80, 2, 0x4e, 0x4e, 0x2e), /STOP at offset 4 with 1 item\(s\) left/);
  refuses(bytes(0x80, 2, 0x68, 7, 0x2e), /memo entry 7 is not defined/);
  refuses(bytes(0x80, 2, 0x74, 0x2e), /no MARK to pop to/);
  refuses(bytes(0x80, 2, 0x4e, 0x4e, 0x73, 0x2e), /stack underflow|SETITEM on a None/);
  refuses(bytes(0x80, 2, 0x58, 2, 0, 0, 0, 0xc3, 0x28, 0x2e), /invalid UTF-8/);
  refuses(bytes(0x80, 9, 0x4e, 0x2e), /unsupported pickle protocol 9/);
  refuses(bytes(0x80, 2, 0x7d, 0x28, 0x4e, 0x75, 0x2e), /SETITEMS with an odd number/);
});

test("the data opcodes a state dict uses are read", () => {
  // {"a": (1, -2, 300, 70000, 2**40, True, None, 1.5, [b"xy"])} with memo put/get
  const data = bytes(
    0x80, 2, 0x7d, 0x71, 0, 0x28, binunicode("a"), 0x28, 0x4b, 1, 0x4a, 0xfe, 0xff, 0xff, 0xff, 0x4d, 0x2c, 0x01, 0x4a, 0x70, 0x11, 0x01, 0x00,
    0x8a, 6, 0, 0, 0, 0, 0, 1, 0x88, 0x4e, 0x47, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0x5d, 0x43, 2, "xy", 0x61, 0x74, 0x75, 0x68, 0, 0x30, 0x2e,
  );
  // The trailing BINGET 0 + POP leaves the dict; STOP returns it.
  const result = unpickle(data, TORCH_OPTIONS) as Map<string, PickleTuple>;
  const items = result.get("a")!.items;
  assert.deepEqual(items.slice(0, 8), [1, -2, 300, 70000, 2 ** 40, true, null, 1.5]);
  assert.deepEqual(items[8], [new Uint8Array([0x78, 0x79])]);
});

/** A pickle that, run by Python's pickle.loads, executes `os.system("touch <target>")`. */
const touching = (target: string) => callGlobal("os", "system", `touch '${target}'`);

test("a payload that would create a file is refused and creates nothing; Python's own pickle would run it", async () => {
  const dir = await tempDir("adapters-evil-");
  const target = join(dir, "pwned");
  const payload = touching(target);
  assert.throws(() => unpickle(payload, TORCH_OPTIONS), /global os\.system is not allowed/);
  // The same bytes as data.pkl of a torch archive, read as an adapter folder.
  const folder = join(dir, "adapter");
  await mkdir(folder);
  await writeFile(join(folder, "adapter_config.json"), JSON.stringify({ name: "x", config: "pfeiffer", version: "adapters.1.1.0" }));
  await writeFile(join(folder, "pytorch_adapter.bin"), encodeStoredZip([{ name: "archive/data.pkl", data: payload }, { name: "archive/version", data: new Uint8Array([0x33, 0x0a]) }]));
  await assert.rejects(loadAdapterFolder(folder), (err: Error) => err instanceof AdapterError && err.key === "os.system" && /pytorch_adapter\.bin \(data\.pkl\): pickle global os\.system is not allowed/.test(err.message));
  assert.throws(() => readTorchBin(encodeStoredZip([{ name: "a/data.pkl", data: payload }])), /os\.system/);
  assert.equal(await exists(target), false, "the payload must not have run");
  if (hasPython) {
    // Proof the payload is live: Python's unrestricted unpickler does create the file.
    const control = join(dir, "control");
    const run = spawnSync("/usr/bin/python3", ["-c", "import pickle,sys; pickle.loads(sys.stdin.buffer.read())"], { input: touching(control) });
    assert.equal(run.status, 0, String(run.stderr));
    assert.equal(await exists(control), true, "python's pickle.loads runs the payload");
    assert.equal(await exists(target), false);
  }
});

test("an eval payload through STACK_GLOBAL inside a state dict is refused before anything is built", async () => {
  const dir = await tempDir("adapters-evil-eval-");
  const target = join(dir, "pwned");
  // OrderedDict() then {"w": builtins.eval("__import__('os').system('touch …')")}
  const payload = bytes(
    0x80, 4, short("collections"), short("OrderedDict"), 0x93, 0x29, 0x52, 0x28, short("w"),
    short("builtins"), short("eval"), 0x93, binunicode(`__import__('os').system("touch '${target}'")`), 0x85, 0x52, 0x75, 0x2e,
  );
  assert.throws(() => readTorchBin(encodeStoredZip([{ name: "archive/data.pkl", data: payload }])), (err: Error) => err instanceof AdapterError && err.key === "builtins.eval");
  assert.equal(await exists(target), false);
  if (hasPython) {
    const run = spawnSync("/usr/bin/python3", ["-c", "import pickle,sys; pickle.loads(sys.stdin.buffer.read())"], { input: payload });
    assert.equal(run.status, 0, String(run.stderr));
    assert.equal(await exists(target), true, "python's pickle.loads runs the payload");
  }
});

/** data.pkl of {"w": _rebuild_tensor_v2(storage('0', numel), 0, size, stride, False, OrderedDict())}. */
function tensorPickle(numel: number, size: [number, number], stride: [number, number]): Uint8Array {
  const int = (n: number) => {
    const b = Buffer.alloc(5);
    b[0] = 0x4a;
    b.writeInt32LE(n, 1);
    return b;
  };
  return bytes(
    0x80, 2, "ccollections\nOrderedDict\n", 0x29, 0x52, 0x28, binunicode("w"), "ctorch._utils\n_rebuild_tensor_v2\n", 0x28,
    0x28, binunicode("storage"), "ctorch\nFloatStorage\n", binunicode("0"), binunicode("cpu"), int(numel), 0x74, 0x51,
    int(0), int(size[0]), int(size[1]), 0x86, int(stride[0]), int(stride[1]), 0x86, 0x89, "ccollections\nOrderedDict\n", 0x29, 0x52, 0x74, 0x52,
    0x75, 0x2e,
  );
}

test("tensor views are bounds-checked against their storage, and zero-stride expansions are bounded", () => {
  const archive = (pkl: Uint8Array, storageBytes: number) => encodeStoredZip([{ name: "a/data.pkl", data: pkl }, { name: "a/data/0", data: new Uint8Array(storageBytes) }]);
  const ok = readTorchBin(archive(tensorPickle(6, [2, 3], [3, 1]), 24));
  assert.deepEqual(ok.get("w")!.shape, [2, 3]);
  assert.deepEqual([...readTorchBin(archive(tensorPickle(1, [2, 2], [0, 0]), 4)).get("w")!.data], [0, 0, 0, 0], "a small expansion is fine");
  assert.throws(() => readTorchBin(archive(tensorPickle(6, [2, 3], [3, 2]), 24)), /reaches element 7 of storage 0 with 6/);
  assert.throws(() => readTorchBin(archive(tensorPickle(1, [32768, 32768], [0, 0]), 4)), /1073741824 elements .* over the 268435456-element limit/);
});

test("deflated zip entries are read too (torch writes stored ones)", { skip: !hasPython && "no /usr/bin/python3" }, async () => {
  const dir = await tempDir("adapters-deflate-");
  const src = join(import.meta.dirname, "../fixtures/adapters/torch-dtypes.bin");
  const out = join(dir, "deflated.bin");
  const script = "import sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nw=zipfile.ZipFile(sys.argv[2],'w',zipfile.ZIP_DEFLATED)\n[w.writestr(n,z.read(n)) for n in z.namelist()]\nw.close()";
  const run = spawnSync("/usr/bin/python3", ["-c", script, src, out], { encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  const deflated = readTorchBin(new Uint8Array(await readFile(out)));
  const stored = readTorchBin(new Uint8Array(await readFile(src)));
  assert.deepEqual(deflated, stored);
});
