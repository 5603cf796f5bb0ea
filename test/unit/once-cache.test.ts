/** OnceCache: one load per key shared by concurrent callers; a failed load is forgotten and tried again. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { OnceCache } from "../../lib/base/once-cache.ts";

test("concurrent callers of a key share one load; other keys load their own", async () => {
  const cache = new OnceCache<string, string>();
  const loads: string[] = [];
  const load = (key: string) => () => (loads.push(key), new Promise<string>((r) => setTimeout(() => r(`value of ${key}`), 5)));
  const [a1, a2, b] = await Promise.all([cache.get("a", load("a")), cache.get("a", load("a")), cache.get("b", load("b"))]);
  assert.deepEqual([a1, a2, b], ["value of a", "value of a", "value of b"]);
  assert.equal(await cache.get("a", load("a")), "value of a", "later callers get the stored value");
  assert.deepEqual(loads, ["a", "b"]);
});

test("a failed load is forgotten: the next call loads again", async () => {
  const cache = new OnceCache<string, number>();
  let calls = 0;
  const flaky = () => (++calls === 1 ? Promise.reject(new Error("first load fails")) : Promise.resolve(42));
  await assert.rejects(cache.get("k", flaky), /first load fails/);
  assert.equal(await cache.get("k", flaky), 42);
  assert.equal(await cache.get("k", flaky), 42);
  assert.equal(calls, 2);
});
