/**
 * Admitting a task (the scheduler's submit): the model must not be being removed (it drains what
 * it accepted and takes nothing new) nor removed (a task for a model nobody serves would wait for
 * ever), its queue must have room (`maxQueue`); then the task's record is created and its entry
 * enqueued. A store that shares its backend with the queue does all of it in one atomic step
 * (TaskStore.admit; Redis: one Lua script, one round trip: a removal cannot slip between the
 * check and the enqueue, and a record never exists without its queue entry). Otherwise (memory)
 * the same steps run one after the other.
 */
import type { TaskRecord, TaskStore, Admission, Refusal } from "../store/task-store.ts";
import type { DeploymentStore } from "../store/deployment-store.ts";
import type { QueueEntry, WorkQueue } from "../queue/work-queue.ts";

export type { Admission, Refusal };

export interface IntakeBackends {
  store: TaskStore;
  queue: WorkQueue;
  deployments: DeploymentStore;
}

/** Undefined when the task was created and enqueued; otherwise why not (and nothing was written). */
export async function admitTask(backends: IntakeBackends, record: TaskRecord, entry: QueueEntry, admission: Admission = {}): Promise<Refusal | undefined> {
  if (backends.store.admit) return backends.store.admit(record, JSON.stringify(entry), admission);
  const refusal = await deploymentRefusal(backends.deployments, entry.model);
  if (refusal) return refusal;
  if (admission.maxQueue !== undefined) {
    const depth = await backends.queue.depth(entry.model);
    if (depth >= admission.maxQueue) return { reason: "full", depth };
  }
  await backends.store.create(record);
  await backends.queue.enqueue(entry);
  return undefined;
}

/** The deployment rules alone (reads, not atomic): for checks that must come before other work. */
export async function deploymentRefusal(deployments: DeploymentStore, model: string): Promise<Refusal | undefined> {
  const deployment = await deployments.get(model);
  if (deployment?.state === "removing") return { reason: "removing" };
  if (!deployment && (await deployments.wasRemoved(model))) return { reason: "removed" };
  return undefined;
}
