/**
 * Which model actors a models node runs (SPEC §1): one per model, device and replica. A node
 * hosts them in one process when there is a single device and one replica of each model;
 * otherwise each (device, replica slot) gets a child process of its own (its own ONNX Runtime,
 * its own CUDA context, its own Moleculer node), all joined through the transporter.
 */
import type { ModelSettings } from "../config/model-settings.ts";
import { Device, deviceName } from "../onnx/device.ts";

export interface ActorGroup {
  device: Device;
  /** Replica slot on that device: 0, 1, ... */
  slot: number;
  models: ModelSettings[];
}

export function planActorGroups(models: readonly ModelSettings[], devices: readonly Device[]): ActorGroup[] {
  const slots = Math.max(1, ...models.map((m) => m.replicas_per_device));
  const groups: ActorGroup[] = [];
  for (const device of devices) {
    for (let slot = 0; slot < slots; slot++) {
      const hosted = models.filter((m) => m.replicas_per_device > slot);
      if (hosted.length) groups.push({ device, slot, models: hosted });
    }
  }
  return groups;
}

/** The node id of a child process hosting one group. */
export const groupNodeId = (parent: string, g: ActorGroup): string => `${parent}-${deviceName(g.device).replace(":", "")}-${g.slot}`;
