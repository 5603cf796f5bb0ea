/**
 * Model actor factory: one Moleculer service per model and device, named `model.<id>`. It pulls
 * tasks from the model's work queue, runs them (ONNX Runtime in worker threads) and writes
 * results to the task store. Other Moleculer nodes may also call its task actions directly.
 */
import type { ServiceSchema, Context } from "moleculer";
import type { ModelRuntime } from "../lib/model/runtime.ts";
import type { Backends } from "../lib/backends.ts";
import type { Consumer } from "../lib/queue/work-queue.ts";
import { modelServiceName } from "../lib/model/metadata.ts";
import { metaOf } from "../lib/orchestration/model-meta.ts";
import { handleDelivery } from "../lib/orchestration/deliveries.ts";
import { modelStatistics, batchingInfo } from "../lib/model/statistics.ts";
import { validateRequest } from "../lib/validation/validate-request.ts";
import { executeTask } from "../lib/orchestration/execute.ts";
import type { TaskName } from "../lib/request/task-names.ts";
import { parseModelUpdate } from "../lib/config/model-settings.ts";
import type { RequestLimits, UpdateBounds } from "../lib/config/limits.ts";
import { storeCall } from "../lib/store/store-call.ts";

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
  const replicaInfo = async (node: string) => ({ node, device: runtime.deviceLabel, state, batch_size: runtime.settings.batch_size, queue_depth: await storeCall(() => backends.queue.depth(id)), running, completed, batching: batchingInfo(runtime) });

  const taskAction = (task: TaskName) => ({
    async handler(ctx: Context<Record<string, unknown>>) {
      const { plaintext_arrays, ...body } = ctx.params;
      const request = validateRequest(body, task, metaOf(id, runtime), limits);
      const { result, timings } = await executeTask(task, request, runtime, { plaintext: plaintext_arrays !== false });
      return { ...result, timings };
    },
  });

  return {
    name: modelServiceName(id),
    metadata: { squareModel: metaOf(id, runtime) },
    actions: {
      ...Object.fromEntries(metaOf(id, runtime).tasks.map((t) => [t, taskAction(t)])),
      /** For work too large to wait for: queues a task like the REST route does; poll or await `task.finished`. */
      submit: {
        async handler(ctx: Context<Record<string, unknown> & { task: TaskName }>) {
          const { task, ...body } = ctx.params;
          const request = validateRequest(body, task, metaOf(id, runtime), limits);
          return ctx.call("scheduler.submit", { model: id, task, request, maxQueue: runtime.settings.max_queue });
        },
      },
      /** Resolves when explanations can run on this model (builds its gradient graph once); 422 naming the operator when not. */
      explainable: {
        async handler() {
          await runtime.gradientBackend();
          return { explainable: true };
        },
      },
      stats: {
        async handler(this: { broker: { nodeID: string } }) {
          return modelStatistics(runtime, [await replicaInfo(this.broker.nodeID)]);
        },
      },
      /** Applies an `update` on this replica (the scheduler calls every replica). */
      apply: {
        visibility: "public",
        async handler(this: { broker: { nodeID: string } }, ctx: Context<Record<string, unknown>>) {
          await runtime.apply(parseModelUpdate(ctx.params, bounds));
          return modelStatistics(runtime, [await replicaInfo(this.broker.nodeID)]);
        },
      },
    },
    async started(this: { broker: { nodeID: string; broadcast: (e: string, p: unknown) => Promise<void> } }) {
      const broker = this.broker;
      consumer = backends.queue.consume(id, `${broker.nodeID}:${runtime.deviceLabel}`, async (delivery) => {
        running++;
        try {
          const outcome = await handleDelivery(delivery, runtime, backends.store);
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
