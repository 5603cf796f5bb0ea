/** Device strings (`cpu`, `cuda:0`, ...) and the ONNX Runtime execution providers they mean. */

export interface Device {
  kind: "cpu" | "cuda";
  id: number;
}

export function parseDevice(text: string): Device {
  const t = text.trim().toLowerCase();
  if (t === "cpu") return { kind: "cpu", id: 0 };
  const m = /^cuda(?::(\d+))?$/.exec(t);
  if (m) return { kind: "cuda", id: m[1] === undefined ? 0 : Number(m[1]) };
  throw new Error(`unknown device "${text}": use cpu or cuda:N`);
}

export function parseDeviceList(text: string): Device[] {
  const devices = text.split(",").filter((s) => s.trim() !== "").map(parseDevice);
  if (devices.length === 0) throw new Error("no device given");
  return devices;
}

export const deviceName = (d: Device): string => (d.kind === "cpu" ? "cpu" : `cuda:${d.id}`);

export type ProviderConfig = "cpu" | { name: "cuda"; deviceId: number };

/** CUDA first with CPU as ONNX Runtime's fallback for operators CUDA lacks. */
export function executionProviders(d: Device, disableGpu: boolean): ProviderConfig[] {
  if (d.kind === "cpu" || disableGpu) return ["cpu"];
  return [{ name: "cuda", deviceId: d.id }, "cpu"];
}
