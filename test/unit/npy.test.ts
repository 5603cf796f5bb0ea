import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { encodeNpy, encodeNpyBase64 } from "../../lib/encoding/npy.ts";
import { renderOutputs } from "../../lib/encoding/arrays.ts";
import { ndarray, float32 } from "../../lib/tensor.ts";

/** An independent reader written from the format description, not from the encoder. */
function readNpy(buf: Buffer): { descr: string; shape: number[]; fortran: boolean; dataOffset: number; values: number[] } {
  assert.deepEqual([...buf.subarray(0, 6)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);
  assert.equal(buf[6], 1);
  assert.equal(buf[7], 0);
  const headerLen = buf.readUInt16LE(8);
  const header = buf.subarray(10, 10 + headerLen).toString("latin1");
  assert.ok(header.endsWith("\n"), "header ends with a newline");
  const descr = /'descr': '([^']+)'/.exec(header)![1];
  const fortran = /'fortran_order': (True|False)/.exec(header)![1] === "True";
  const shapeText = /'shape': \(([^)]*)\)/.exec(header)![1];
  const shape = shapeText.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  const dataOffset = 10 + headerLen;
  const n = shape.reduce((a, b) => a * b, 1);
  const values: number[] = [];
  for (let i = 0; i < n; i++) {
    if (descr === "<f4") values.push(buf.readFloatLE(dataOffset + 4 * i));
    else if (descr === "<i8") values.push(Number(buf.readBigInt64LE(dataOffset + 8 * i)));
    else if (descr === "<i4") values.push(buf.readInt32LE(dataOffset + 4 * i));
    else if (descr === "<f8") values.push(buf.readDoubleLE(dataOffset + 8 * i));
  }
  return { descr, shape, fortran, dataOffset, values };
}

test("npy v1.0: header fields, 64-byte data alignment and little-endian data", () => {
  const a = float32([2, 3], [1.5, -2, 3.25, 0, 1e-8, 7]);
  const r = readNpy(encodeNpy(a));
  assert.equal(r.descr, "<f4");
  assert.deepEqual(r.shape, [2, 3]);
  assert.equal(r.fortran, false);
  assert.equal(r.dataOffset % 64, 0);
  assert.deepEqual(r.values, [1.5, -2, 3.25, 0, Math.fround(1e-8), 7]);
});

test("npy: one-dimensional shapes get the trailing comma, int64 data round-trips", () => {
  const buf = encodeNpy(ndarray("int64", [3], BigInt64Array.from([1n, -2n, 30522n])));
  assert.match(buf.toString("latin1", 10, 10 + buf.readUInt16LE(8)), /'shape': \(3,\), /);
  assert.deepEqual(readNpy(buf).values, [1, -2, 30522]);
});

test("npy: scalars stay plain numbers, lists of arrays become lists of encodings", () => {
  const out = renderOutputs({ n: 3, layers: [float32([1], [1]), float32([1], [2])], x: float32([2], [4, 5]) }, false);
  assert.equal(out.n, 3);
  assert.equal((out.layers as string[]).length, 2);
  assert.deepEqual(readNpy(Buffer.from(out.x as string, "base64")).values, [4, 5]);
  assert.deepEqual(renderOutputs({ x: float32([1, 2], [4, 5]) }, true).x, [[4, 5]]);
});

// Debian's interpreter first (.ci/run installs python3-numpy), then whatever python3 is on PATH.
// numpy is the reference reader: without it this test fails, it never skips.
const PYTHON = ["/usr/bin/python3", "python3"].find((py) => (py.startsWith("/") ? existsSync(py) : true) && spawnSync(py, ["-c", "import numpy"]).status === 0);

test("npy: numpy.load reads the base64 encoding back exactly", () => {
  assert.ok(PYTHON, "no python3 with numpy on this machine: run tools/ensure-services.sh (installs Debian's python3-numpy)");
  const cases = [
    float32([2, 2, 3], Array.from({ length: 12 }, (_, i) => i / 7 - 0.5)),
    ndarray("int64", [2, 3], BigInt64Array.from([0n, 101n, 2n, -5n, 9007199254740991n, 7n])),
    float32([0, 4]),
  ];
  const script = `import sys, io, base64, json, numpy as np
for line in sys.stdin:
    a = np.load(io.BytesIO(base64.b64decode(line.strip())))
    print(json.dumps({"dtype": str(a.dtype), "shape": list(a.shape), "values": [repr(v) for v in a.ravel().tolist()]}))`;
  const input = cases.map(encodeNpyBase64).join("\n") + "\n";
  const res = spawnSync(PYTHON as string, ["-c", script], { input, encoding: "utf8" });
  assert.equal(res.status, 0, res.stderr);
  const decoded = res.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(decoded.map((d) => d.dtype), ["float32", "int64", "float32"]);
  assert.deepEqual(decoded.map((d) => d.shape), [[2, 2, 3], [2, 3], [0, 4]]);
  assert.deepEqual(decoded[0].values.map(Number), Array.from(cases[0].data as Float32Array));
  assert.deepEqual(decoded[1].values, ["0", "101", "2", "-5", "9007199254740991", "7"]);
});
