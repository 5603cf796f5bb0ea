import { test } from "node:test";
import assert from "node:assert/strict";
import { softmax, sigmoid, argmax, softmaxRows } from "../../lib/math/softmax.ts";
import { meanPool, maxPool, clsPool, l2NormalizeLastAxis } from "../../lib/math/pooling.ts";
import { float32, padStack, cropAxes, toNested } from "../../lib/tensor.ts";

const close = (a: number[], b: number[], tol = 1e-6) => {
  assert.equal(a.length, b.length);
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) <= tol, `index ${i}: ${x} vs ${b[i]}`));
};

test("softmax: hand-computed values, and stable for huge logits", () => {
  const e = [Math.exp(1), Math.exp(2), Math.exp(3)];
  const s = e[0] + e[1] + e[2];
  close(softmax([1, 2, 3]), [e[0] / s, e[1] / s, e[2] / s], 1e-12);
  close(softmax([1000, 1001, 1002]), [e[0] / s, e[1] / s, e[2] / s], 1e-12);
  close(softmax([-1000, 0]), [0, 1], 1e-12);
  close(Array.from(softmaxRows([0, 0, 1000, 0], 2)), [0.5, 0.5, 1, 0]);
});

test("sigmoid and argmax", () => {
  close([sigmoid(0), sigmoid(2), sigmoid(-800)], [0.5, 1 / (1 + Math.exp(-2)), 0], 1e-12);
  assert.equal(argmax([0.1, 0.7, 0.2]), 1);
  assert.equal(argmax([3, 3, 1]), 0, "ties go to the first");
});

// hidden [3 tokens, 2 dims]; the last token is padding (mask 0)
const hidden = float32([3, 2], [1, -2, 3, 4, 100, 100]);
const mask = [1, 1, 0];

test("mean pooling weights by the mask", () => {
  close(Array.from(meanPool(hidden, mask).data as Float32Array), [2, 1]);
  close(Array.from(meanPool(hidden, [1, 1, 1]).data as Float32Array), [104 / 3, 102 / 3], 1e-5);
});

test("max pooling ignores padding tokens", () => {
  close(Array.from(maxPool(hidden, mask).data as Float32Array), [3, 4]);
  close(Array.from(maxPool(float32([2, 2], [-5, -1, -3, -7]), [1, 1]).data as Float32Array), [-3, -1]);
});

test("cls pooling takes the first token", () => {
  close(Array.from(clsPool(hidden).data as Float32Array), [1, -2]);
});

test("L2 normalisation runs over the hidden axis of every token", () => {
  const n = l2NormalizeLastAxis(float32([2, 2], [3, 4, 0, 0]));
  close(Array.from(n.data as Float32Array), [0.6, 0.8, 0, 0]);
});

test("padStack zero-pads ragged token axes; cropAxes drops padding", () => {
  const a = float32([1, 2], [1, 2]);
  const b = float32([2, 2], [3, 4, 5, 6]);
  const s = padStack([a, b]);
  assert.deepEqual(s.shape, [2, 2, 2]);
  assert.deepEqual(toNested(s), [[[1, 2], [0, 0]], [[3, 4], [5, 6]]]);
  const att = float32([1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(toNested(cropAxes(att, [1, 2], 2)), [[[1, 2], [4, 5]]]);
});
