/** SPEC §6: a padded batch gives the same numbers as each item alone (to 1e-6). */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { fixturePath } from "../helpers/fixtures.ts";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults } from "../../lib/config/model-settings.ts";

const runtimes: ModelRuntime[] = [];
after(async () => {
  for (const r of runtimes) await r.close();
});

const TEXTS = ["hi", "a somewhat longer sentence with more words in it", "medium length text here", "x"];

for (const name of ["bert-tiny-base", "bert-tiny-sst"]) {
  test(`${name}: batched outputs equal single-item outputs`, async () => {
    const r = await ModelRuntime.load(withModelDefaults({ id: name, path: await fixturePath(name) }), { kind: "cpu", id: 0 });
    runtimes.push(r);
    const seqs = await r.tokenizer.encode(TEXTS, { maxLength: 128, truncation: "longest_first", addSpecialTokens: true, stride: 0, returnOverflowing: false });
    const together = await r.forward(seqs);
    let compared = 0;
    for (let i = 0; i < seqs.length; i++) {
      const alone = await r.forward([seqs[i]]);
      for (const [out, arr] of Object.entries(alone.items[0])) {
        const batched = together.items[i][out];
        assert.deepEqual(batched.shape, arr.shape, `${out} shape of item ${i}`);
        const a = arr.data as Float32Array;
        const b = batched.data as Float32Array;
        for (let k = 0; k < a.length; k++) assert.ok(Math.abs(a[k] - b[k]) <= 1e-6, `${out}[${k}] of item ${i}: ${a[k]} vs ${b[k]}`);
        compared += a.length;
      }
    }
    assert.ok(compared > 0);
  });
}
