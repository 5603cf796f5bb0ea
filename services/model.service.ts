/**
 * Model actor factory: one Moleculer service per model and device, named `model.<id>`. It pulls
 * tasks from the model's work queue, runs them (ONNX Runtime in worker threads) and writes
 * results to the task store. Other Moleculer nodes may also call its task actions directly.
 */
import type { ServiceSchema, Context } from "moleculer";
import type { ModelRuntime } from "../lib/model/runtime.ts";
import type { Backends } from "../lib/backends.ts";
import type { Consumer, Delivery } from "../lib/queue/work-queue.ts";
import type { TaskRequest } from "../lib/request/request.ts";
import { modelServiceName } from "../lib/model/metadata.ts";
import { metaOf } from "../lib/orchestration/model-meta.ts";
import { handleDelivery, DEFAULT_MAX_ATTEMPTS } from "../lib/orchestration/deliveries.ts";
import { modelStatistics, batchingInfo } from "../lib/model/statistics.ts";
import { validateRequest, parseRequest } from "../lib/validation/validate-request.ts";
import { executeTask } from "../lib/orchestration/execute.ts";
import { taskEventStream, type TaskEventStream } from "../lib/orchestration/event-stream.ts";
import { TASK_NAMES, type TaskName } from "../lib/request/task-names.ts";
import { parseModelUpdate } from "../lib/config/model-settings.ts";
import type { RequestLimits, UpdateBounds } from "../lib/config/limits.ts";
import { storeCall } from "../lib/store/store-call.ts";
import { ADD_ONS, addOnNamed } from "../lib/addons/registry.ts";
import type { AddOnReadiness } from "../lib/inference/facts.ts";
import { httpStatusOf, invalid } from "../lib/errors.ts";
import { ReplicaMetrics } from "../lib/metrics/replica-metrics.ts";

export interface ModelServiceOptions {
  runtime: ModelRuntime;
  backends: Backends;
  /** The node's request limits and update bounds (SPEC §12), the same the gateway enforces. */
  limits: RequestLimits;
  bounds: UpdateBounds;
  /**
   * Tasks this replica takes from the queue at once. Default: two batches' worth, so the
   * batcher can fill the next batch while one runs.
   */
  concurrency?: number;
}

export function modelService({ runtime, backends, limits, bounds, concurrency = 2 * runtime.settings.batch_size }: ModelServiceOptions): ServiceSchema {
  const id = runtime.settings.id;
  let consumer: Consumer | undefined;
  let state: "ready" | "draining" = "ready";
  let running = 0;
  let completed = 0;
  // What this replica has learned about its add-ons, announced in its service metadata (one object, updated in place).
  const addOns: Record<string, AddOnReadiness> = {};
  const metadata = { squareModel: metaOf(id, runtime, addOns) };
  // Created in `started` (it is labelled with the node id); read by the gateway's /metrics through the `metrics` action.
  let metrics: ReplicaMetrics | undefined;
  const observed = async <T extends { timings: object }>(request: TaskRequest, run: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      const done = await run();
      metrics?.observeTask("direct", { ...(done.timings as Record<string, unknown>), total_ms: performance.now() - t0 }, request);
      return done;
    } catch (err) {
      const e = err as { type?: string; name?: string };
      metrics?.noteFailure("direct", httpStatusOf(err as Error) < 500 ? String(e.type ?? "invalid_request") : String(e.type ?? e.name ?? "internal"));
      throw err;
    }
  };
  const replicaInfo = async (node: string) => ({ node, device: runtime.deviceLabel, state, batch_size: runtime.settings.batch_size, queue_depth: await storeCall(() => backends.queue.depth(id)), running, completed, batching: batchingInfo(runtime) });

  const announce = (broker: unknown, name: string, readiness: AddOnReadiness) => {
    addOns[name] = readiness;
    metadata.squareModel.addOns = { ...addOns };
    republishMetadata(broker);
  };

  const taskAction = (task: TaskName) => ({
    // The envelope only; the body's detailed checks (SPEC §3 problems naming fields) are validateRequest's.
    params: { input: "any" },
    async handler(ctx: Context<Record<string, unknown>>) {
      const { plaintext_arrays, ...body } = ctx.params;
      // Parsed once, against this replica's own metadata: the task runs with these options.
      const parsed = parseRequest(body, task, metaOf(id, runtime), limits);
      const { result, timings } = await observed(parsed.request, () => executeTask(task, parsed.request, runtime, { plaintext: plaintext_arrays !== false }, parsed));
      return { ...result, timings };
    },
  });

  /** Streams in flight on this replica by the id their caller gave, so a `generation.cancel` event can end one. */
  const streams = new Map<string, TaskEventStream>();
  const streamAction = (task: TaskName) => ({
    params: { input: "any", stream_id: { type: "string", optional: true, max: 200 } },
    handler(ctx: Context<Record<string, unknown>>) {
      const { plaintext_arrays, stream_id, ...body } = ctx.params;
      const parsed = parseRequest(body, task, metaOf(id, runtime), limits);
      const running = taskEventStream(async (hooks) => {
        // Arrays as the model is set to return them in task_result, unless the caller says.
        const plaintext = plaintext_arrays === undefined ? runtime.settings.return_plaintext_arrays : plaintext_arrays !== false;
        const { result, timings } = await observed(parsed.request, () => executeTask(task, parsed.request, runtime, { plaintext }, parsed, hooks));
        return { ...result, timings };
      });
      if (typeof stream_id === "string") {
        streams.set(stream_id, running);
        running.stream.on("close", () => streams.delete(stream_id));
      }
      return running.stream;
    },
  });
  const tasks = metaOf(id, runtime).tasks;

  return {
    name: modelServiceName(id),
    metadata,
    events: {
      /** A streaming client went away (the gateway says so): the run stops between steps. */
      "generation.cancel"(ctx: Context<{ stream_id?: string }>) {
        const id = ctx.params.stream_id;
        if (typeof id === "string") streams.get(id)?.abort();
      },
    },
    actions: {
      ...Object.fromEntries(tasks.map((t) => [t, taskAction(t)])),
      /** Generation as a stream of JSON lines (token events, then the result); see lib/orchestration/event-stream.ts. */
      ...(tasks.includes("generation") ? { generation_stream: streamAction("generation") } : {}),
      /** For work too large to wait for: queues a task like the REST route does; poll or await `task.finished`. */
      submit: {
        params: { task: { type: "enum", values: [...TASK_NAMES] }, input: "any" },
        async handler(ctx: Context<Record<string, unknown> & { task: TaskName }>) {
          const { task, ...body } = ctx.params;
          const request = validateRequest(body, task, metaOf(id, runtime), limits);
          return ctx.call("scheduler.submit", { model: id, task, request, maxQueue: runtime.settings.max_queue });
        },
      },
      /**
       * Makes this model ready for a request add-on (explanations: builds its gradient graph
       * once), or a 422 saying why it cannot (the operator without a gradient rule). Either way
       * the answer is announced in the service metadata, where the scheduler looks first.
       */
      prepareAddOn: {
        params: { addOn: { type: "enum", values: ADD_ONS.map((a) => a.name) } },
        async handler(this: { broker: unknown; logger: { info(m: string): void } }, ctx: Context<{ addOn: string }>) {
          const addOn = addOnNamed(ctx.params.addOn);
          if (!addOn) throw invalid(`unknown add-on ${ctx.params.addOn}`, "addOn");
          const started = performance.now();
          this.logger.info(`${id}: preparing ${addOn.name} (first request asking for it; a gradient graph is built once per model file and cached on disk)`);
          try {
            await addOn.prepare(runtime);
            this.logger.info(`${id}: ${addOn.name} ready in ${(performance.now() - started).toFixed(0)} ms`);
            announce(this.broker, addOn.name, { state: "ready" });
            return { ready: true };
          } catch (err) {
            // A client error is the model's answer; anything else (a crashed build) may succeed next time.
            if (httpStatusOf(err as Error) < 500) announce(this.broker, addOn.name, { state: "unavailable", reason: (err as Error).message });
            throw err;
          }
        },
      },
      /** This replica's metrics (prom-client JSON) for the gateway's /metrics. */
      metrics: {
        visibility: "public",
        handler: () => metrics?.snapshot() ?? [],
      },
      stats: {
        async handler(this: { broker: { nodeID: string } }) {
          return modelStatistics(runtime, [await replicaInfo(this.broker.nodeID)]);
        },
      },
      /** Applies an `update` on this replica (the scheduler calls every replica). */
      apply: {
        visibility: "public",
        // The update body itself; parseModelUpdate checks names, types and bounds.
        params: { $$root: true, type: "object" },
        async handler(this: { broker: { nodeID: string } }, ctx: Context<Record<string, unknown>>) {
          const update = parseModelUpdate(ctx.params, bounds);
          await runtime.apply(update);
          // A new adapter set (issue #16) changes what the model serves: the gateways validate against the new list.
          if (update.adapters) {
            Object.assign(metadata.squareModel, metaOf(id, runtime, addOns));
            republishMetadata(this.broker);
          }
          return modelStatistics(runtime, [await replicaInfo(this.broker.nodeID)]);
        },
      },
    },
    async started(this: { broker: { nodeID: string; broadcast: (e: string, p: unknown) => Promise<void> } }) {
      const broker = this.broker;
      const replica = new ReplicaMetrics({ model: id, node: broker.nodeID, device: runtime.deviceLabel }, { batcher: runtime.batcher, running: () => running });
      metrics = replica;
      const observer = {
        succeeded: (entry: Delivery["entry"], timings: Record<string, number>) => replica.observeTask("queued", timings, entry.request),
        failed: (_entry: unknown, type: string) => replica.noteFailure("queued", type),
        retrying: () => replica.noteRetry(),
      };
      consumer = backends.queue.consume(id, `${broker.nodeID}:${runtime.deviceLabel}`, async (delivery) => {
        running++;
        try {
          const outcome = await handleDelivery(delivery, runtime, backends.store, DEFAULT_MAX_ATTEMPTS, observer);
          completed++;
          void broker.broadcast("task.finished", { task_id: outcome.taskId, model: id, state: outcome.state });
        } finally {
          running--;
        }
      }, { concurrency });
      void broker.broadcast("model.replica.ready", { model: id, node: broker.nodeID, device: runtime.deviceLabel });
    },
    async stopped(this: { broker: { nodeID: string; broadcast: (e: string, p: unknown) => Promise<void> } }) {
      state = "draining";
      await this.broker.broadcast("model.replica.leaving", { model: id, node: this.broker.nodeID, device: runtime.deviceLabel }).catch(() => undefined);
      await consumer?.stop();
      await runtime.close();
    },
  };
}

/**
 * Sends this node's service list again so other nodes see changed metadata. Moleculer 0.14 has
 * no public call for it: the local registry entry shares our metadata object, and marking the
 * node info stale makes the next INFO packet carry the change.
 */
function republishMetadata(broker: unknown): void {
  const b = broker as { registry?: { localNodeInfoInvalidated?: unknown; discoverer?: { sendLocalNodeInfo(): Promise<unknown> | undefined } } };
  if (!b.registry) return;
  b.registry.localNodeInfoInvalidated = "seq";
  void Promise.resolve(b.registry.discoverer?.sendLocalNodeInfo()).catch(() => undefined);
}
