/**
 * Starting one model actor on a running broker: load the model, warm it up, create its
 * `model.<id>` service and wait until that service has started (its queue consumer runs). Used
 * for models a node is configured with (lib/node.ts) and for models placed at run time
 * (agent.service.ts).
 */
import type Moleculer from "moleculer";
import type { Backends } from "../lib/backends.ts";
import { storedModelUpdate, type ModelSettings } from "../lib/config/model-settings.ts";
import type { RequestLimits, UpdateBounds } from "../lib/config/limits.ts";
import { ModelRuntime } from "../lib/model/runtime.ts";
import { warmUp } from "../lib/orchestration/warm-up.ts";

/** A device as ModelRuntime takes it (lib/onnx/device.ts, which services do not import). */
export type Device = Parameters<typeof ModelRuntime.load>[1];
import { modelService } from "./model.service.ts";

export interface ActorContext {
  backends: Backends;
  cacheDir: string;
  bounds: UpdateBounds;
  limits: RequestLimits;
}

export async function startModelActor(broker: Moleculer.ServiceBroker, model: ModelSettings, device: Device, { backends, cacheDir, bounds, limits }: ActorContext): Promise<Moleculer.Service> {
  const log = broker.getLogger("model");
  const t0 = performance.now();
  // A stored update outside this node's bounds (e.g. batch_size 1e308 from an unbounded version) is logged and not applied.
  const update = storedModelUpdate(await backends.store.getModelUpdate(model.id), bounds, (m) => log.warn(m), model.id);
  const runtime = await ModelRuntime.load({ ...model, ...update }, device, { cacheDir });
  const t1 = performance.now();
  try {
    await warmUp(runtime);
  } catch (err) {
    await runtime.close();
    throw err;
  }
  const t2 = performance.now();
  if (runtime.providerWarning) log.warn(`${model.id} on ${runtime.deviceLabel}: ${runtime.providerWarning}`);
  const schema = modelService({ runtime, backends, limits, bounds });
  // Resolves once this service's own `started` ran: another node's replica of the same model must not count.
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const ownStarted = schema.started as (this: unknown) => Promise<void>;
  schema.started = async function (this: unknown) {
    await ownStarted.call(this);
    markStarted();
  };
  const service = broker.createService(schema);
  await started;
  log.info(`ready: ${model.id} on ${runtime.deviceLabel} (tasks ${runtime.capabilities.tasks.join(", ") || "none yet"}; load ${(t1 - t0).toFixed(0)} ms, warm-up ${(t2 - t1).toFixed(0)} ms)`);
  return service;
}
