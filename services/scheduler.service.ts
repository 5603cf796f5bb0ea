/**
 * Scheduler: turns validated requests into tasks (a record in the task store plus an entry in
 * the model's durable work queue) and spreads `update`s to every replica of a model.
 */
import type { ServiceSchema, Context } from "moleculer";
import { randomUUID } from "node:crypto";
import type { Backends } from "../lib/backends.ts";
import type { TaskRequest } from "../lib/request/request.ts";
import { TASK_NAMES, type TaskName } from "../lib/request/task-names.ts";
import { parseModelUpdate } from "../lib/config/model-settings.ts";
import { DEFAULT_UPDATE_BOUNDS, UpdateBounds } from "../lib/config/limits.ts";
import { modelServiceName } from "../lib/model/metadata.ts";
import { unavailable, overloaded, invalid, notFound } from "../lib/errors.ts";
import { ADD_ONS } from "../lib/addons/registry.ts";
import { announcedReadiness, ServiceRegistry } from "../lib/orchestration/addon-readiness.ts";
import { storeCall } from "../lib/store/store-call.ts";
import { admitTask, deploymentRefusal, Refusal } from "../lib/orchestration/intake.ts";
import { callEachReplica, replicaNodes } from "../lib/gateway/replicas.ts";

export interface SubmitParams {
  model: string;
  task: TaskName;
  request: TaskRequest;
  /** Refuse (429) when this many tasks of the model are already waiting or running. */
  maxQueue?: number;
  /** The identity the task belongs to (the gateway sets it when auth is on); only it can read the task. */
  owner?: string;
}

interface BrokerLike {
  registry: Parameters<typeof replicaNodes>[0] & ServiceRegistry;
  broadcast(event: string, payload: unknown): Promise<void>;
}

/** `bounds`: the largest values an update may store (a stored value reaches every replica started later). */
export function schedulerService(backends: Backends, bounds: UpdateBounds = DEFAULT_UPDATE_BOUNDS): ServiceSchema {
  return {
    name: "scheduler",
    actions: {
      submit: {
        // Requests arrive validated (validateRequest at the gateway or the model actor); this checks the envelope.
        params: {
          model: "string",
          task: { type: "enum", values: [...TASK_NAMES] },
          request: { type: "object" },
          maxQueue: { type: "number", optional: true },
          owner: { type: "string", optional: true, min: 1, max: 1024 },
        },
        async handler(this: { broker: BrokerLike }, ctx: Context<SubmitParams>) {
          const { model, task, request, maxQueue, owner } = ctx.params;
          // A model being removed drains what it accepted and takes nothing new (issue #15).
          // A removed one is unknown: a task for a model nobody serves would wait for ever.
          // admitTask checks both, with the queue's room, as it writes (one round trip on Redis);
          // a request with add-ons is checked once before too, so a removed model is a 404 before
          // any replica is asked to prepare for it.
          if (ADD_ONS.some((a) => a.wanted(request))) throwRefusal(model, maxQueue, await storeCall(() => deploymentRefusal(backends.deployments, model)));
          await checkAddOnReadiness(ctx, this.broker.registry, model, request);
          const now = Date.now();
          const id = randomUUID();
          const record = { id, model, task, state: "queued" as const, created_at: now, updated_at: now, attempts: 0, ...(owner !== undefined ? { owner } : {}) };
          throwRefusal(model, maxQueue, await storeCall(() => admitTask(backends, record, { taskId: id, model, task, request, enqueuedAt: now }, { maxQueue })));
          return { task_id: id };
        },
      },
      /**
       * A task's record, for Moleculer clients (large results are better read from the store directly).
       * Called with `identity`, it answers only that identity's tasks (null for others, as for unknown ids).
       */
      result: {
        params: { task_id: "string", identity: { type: "string", optional: true } },
        async handler(ctx: Context<{ task_id: string; identity?: string }>) {
          const { task_id, identity } = ctx.params;
          const record = await storeCall(() => backends.store.get(task_id));
          if (!record || (identity !== undefined && record.owner !== identity)) return null;
          return record;
        },
      },
      /** Persists the change, applies it on every replica, returns their statistics. */
      updateModel: {
        params: { model: "string", update: "any" },
        async handler(this: { broker: BrokerLike }, ctx: Context<{ model: string; update: unknown }>) {
          const { model } = ctx.params;
          // Checked again here: Moleculer clients call this action without the gateway.
          const update = parseModelUpdate(ctx.params.update, bounds);
          // Settings are checked in full above and stored first, so a replica starting meanwhile gets them.
          // An adapter set is only known to be loadable once the replicas have read its folders: it is
          // stored after they accepted it, so a set they refused never reaches a model's next start.
          const checkedByReplicas = Object.hasOwn(update, "adapters");
          if (!checkedByReplicas) await storeCall(() => backends.store.saveModelUpdate(model, update));
          const action = `${modelServiceName(model)}.apply`;
          if (replicaNodes(this.broker.registry, action).length === 0) throw unavailable(`model ${model} has no running replica`);
          const replies = await callEachReplica<Record<string, unknown>>(ctx, this.broker.registry, action, update);
          if (checkedByReplicas) await storeCall(() => backends.store.saveModelUpdate(model, update));
          await this.broker.broadcast("model.updated", { model, update });
          return replies;
        },
      },
    },
  };
}

function throwRefusal(model: string, maxQueue: number | undefined, refusal: Refusal | undefined): void {
  if (!refusal) return;
  if (refusal.reason === "removing") throw notFound(`model ${model} is being removed`);
  if (refusal.reason === "removed") throw notFound(`model ${model} is not deployed`);
  throw overloaded(`model ${model} has ${refusal.depth} tasks queued (limit ${maxQueue}); retry later`);
}

/**
 * A request's add-ons must be servable by the model: known from the replicas' metadata (a model
 * without gradient rules is a 422 naming the operator), or, while no replica has found out yet,
 * learned by asking one (explanations build the gradient graph once, about a second; the replica
 * then announces the answer, so later submits need no call).
 */
async function checkAddOnReadiness(ctx: Context, registry: ServiceRegistry, model: string, request: TaskRequest): Promise<void> {
  for (const addOn of ADD_ONS) {
    if (!addOn.wanted(request)) continue;
    const readiness = announcedReadiness(registry, model, addOn.name);
    if (readiness.state === "unavailable") throw invalid(readiness.reason, addOn.field);
    if (readiness.state === "unknown") await ctx.call(`${modelServiceName(model)}.prepareAddOn`, { addOn: addOn.name });
  }
}
