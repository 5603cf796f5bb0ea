/**
 * Request add-ons' readiness as the model's replicas announce it in their service metadata
 * (lib/inference/facts.ts AddOnReadiness). The scheduler reads it at submit time instead of
 * asking a replica; only while no replica knows yet does it ask one to find out (once per model:
 * the answer is then announced).
 */
import type { AddOnReadiness } from "../inference/facts.ts";
import type { ModelMeta } from "../model/metadata.ts";

export interface ServiceRegistry {
  getServiceList(opts: { onlyAvailable?: boolean; skipInternal?: boolean; withActions?: boolean }): { metadata?: { squareModel?: ModelMeta } }[];
}

/** `unavailable` if any replica found the add-on unavailable (it depends on the model file only), else `ready` if any is, else `unknown`. */
export function announcedReadiness(registry: ServiceRegistry, model: string, addOn: string): AddOnReadiness {
  const states = registry
    .getServiceList({ onlyAvailable: true, skipInternal: true, withActions: false })
    .flatMap((svc) => {
      const meta = svc.metadata?.squareModel;
      const readiness = meta?.id === model && meta.addOns && Object.hasOwn(meta.addOns, addOn) ? meta.addOns[addOn] : undefined;
      return readiness ? [readiness] : [];
    });
  return states.find((s) => s.state === "unavailable") ?? states.find((s) => s.state === "ready") ?? { state: "unknown" };
}
