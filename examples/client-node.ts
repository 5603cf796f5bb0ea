/**
 * A Moleculer node that uses square-inference models as services, without HTTP (SPEC §15).
 * It joins the same transporter and namespace, finds the models in the registry, calls one
 * directly and queues another task with `submit`, waiting for the `task.finished` event.
 *
 *   TRANSPORTER=nats://127.0.0.1:4222 node --import tsx examples/client-node.ts [model id] [text...]
 */
import Moleculer from "moleculer";

interface ModelMeta {
  id: string;
  tasks: string[];
  maxInput: number;
  device: string;
}

const [modelId = "bert-tiny-sst", ...texts] = process.argv.slice(2);
const finished = new Map<string, (state: string) => void>();
const seen = new Map<string, string>(); // events that came before we knew their task id

const broker = new Moleculer.ServiceBroker({
  namespace: process.env.MOLECULER_NAMESPACE ?? "square",
  nodeID: `example-client-${process.pid}`,
  // A connection string: resolved by Moleculer at run time, though 0.15's types list only names and objects.
  transporter: (process.env.TRANSPORTER ?? "nats://127.0.0.1:4222") as Moleculer.BrokerOptions["transporter"],
  logger: false,
});

broker.createService({
  name: "example-client",
  events: {
    "task.finished"(ctx: Moleculer.Context<{ task_id: string; state: string }>) {
      seen.set(ctx.params.task_id, ctx.params.state);
      finished.get(ctx.params.task_id)?.(ctx.params.state);
    },
  },
});

await broker.start();
const service = `model.${modelId}`;
await broker.waitForServices(service, 30_000, 100);

// Discovery: every model service announces its metadata.
const services = broker.registry.getServiceList({ onlyAvailable: true, withActions: false }) as { name: string; metadata?: { squareModel?: ModelMeta } }[];
const models = services.flatMap((s) => (s.metadata?.squareModel ? [s.metadata.squareModel] : []));
const meta = models.find((m) => m.id === modelId);
if (!meta) throw new Error(`no model ${modelId}`);

// A direct call: the SPEC §3 body in, the SPEC §6 output (plain arrays) out.
const input = texts.length ? texts : ["a great movie"];
const direct = await broker.call(`${service}.${meta.tasks[0]}`, { input });

// A queued call: returns at once with a task id; the result is in the task store.
const { task_id } = await broker.call<{ task_id: string }, object>(`${service}.submit`, { task: meta.tasks[0], input });
// Events are notifications: a node that has just joined may not be known to the model's node yet,
// so the event is raced against polling the task's record.
const poll = async (): Promise<string> => {
  for (;;) {
    const r = await broker.call<{ state: string } | null, object>("scheduler.result", { task_id });
    if (r && (r.state === "succeeded" || r.state === "failed")) return r.state;
    await new Promise((res) => setTimeout(res, 200));
  }
};
const state = seen.get(task_id) ?? (await Promise.race([new Promise<string>((resolve) => finished.set(task_id, resolve)), poll()]));
const record = await broker.call<{ result: unknown }, object>("scheduler.result", { task_id });

process.stdout.write(JSON.stringify({ models: [...new Set(models.map((m) => m.id))].sort(), tasks: meta.tasks, direct, queued: { task_id, state, result: record.result } }) + "\n");
await broker.stop();
