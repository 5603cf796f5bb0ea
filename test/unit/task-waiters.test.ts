/** Long-poll waiters on mocked timers: a notification wakes them, and only the timeout otherwise. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { TaskWaiters } from "../../lib/gateway/task-waiters.ts";

const settled = async (p: Promise<unknown>) => {
  let done = false;
  void p.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
};

test("task waiters: notify wakes every waiter of that task at once; other tasks keep waiting", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const waiters = new TaskWaiters();
  const a1 = waiters.wait("a", 60_000);
  const a2 = waiters.wait("a", 60_000);
  const b = waiters.wait("b", 60_000);
  assert.equal(waiters.size, 2);
  waiters.notify("a");
  assert.equal(await settled(a1), true, "woken with no time passing");
  assert.equal(await settled(a2), true);
  assert.equal(await settled(b), false);
  assert.equal(waiters.size, 1);
  t.mock.timers.tick(59_999);
  assert.equal(await settled(b), false, "not before its timeout");
  t.mock.timers.tick(1);
  assert.equal(await settled(b), true, "at its timeout");
  assert.equal(waiters.size, 0);
});

test("task waiters: an aborted waiter resolves alone and leaves the others of its task waiting", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const waiters = new TaskWaiters();
  const mine = new AbortController();
  const a1 = waiters.wait("a", 60_000, mine.signal);
  const a2 = waiters.wait("a", 60_000);
  mine.abort();
  assert.equal(await settled(a1), true, "aborted: resolved at once");
  assert.equal(await settled(a2), false, "the other waiter of the task is not woken");
  assert.equal(waiters.size, 1);
  waiters.notify("a");
  assert.equal(await settled(a2), true);
  assert.equal(waiters.size, 0);
});
