/** SerialRounds (lib/management/serial-rounds.ts): placement and agent rounds never overlap, and no call is lost. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SerialRounds } from "../../lib/management/serial-rounds.ts";

const later = () => new Promise((r) => setImmediate(r));

test("calls during a round make exactly one more round; rounds never overlap", async () => {
  const rounds = new SerialRounds();
  let active = 0;
  let maxActive = 0;
  let count = 0;
  const round = async () => {
    active++;
    maxActive = Math.max(maxActive, active);
    count++;
    await later();
    await later();
    active--;
  };
  const first = rounds.run(round);
  await Promise.all([rounds.run(round), rounds.run(round), rounds.run(round)]); // all during the first round
  await first;
  assert.equal(count, 2, "one round, then one more for the calls that came during it");
  assert.equal(maxActive, 1);
  await rounds.run(round);
  assert.equal(count, 3, "an idle call starts a round at once");
});

test("a round that throws ends the run with its error, and the next call starts afresh", async () => {
  const rounds = new SerialRounds();
  await assert.rejects(rounds.run(async () => { throw new Error("store down"); }), /store down/);
  let ran = false;
  await rounds.run(async () => { ran = true; });
  assert.ok(ran);
});
