/**
 * What the numbers were measured on: CPU, memory, versions, the commit, and how busy the machine
 * was with other people's work while each point ran (other processes share these cores).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import { resolve } from "node:path";

export interface MachineInfo {
  cpus: number;
  cpu_model: string;
  /** /proc/cpuinfo's "cpu family" (26 = AMD Zen 5), the SIMD level ONNX Runtime can use, and
   * whether the kernel runs under a hypervisor (then "cores" are vCPUs). */
  cpu_family: string;
  simd: string;
  virtualized: boolean;
  memory_gib: number;
  os: string;
  node: string;
  onnxruntime_node: string;
  transformers_js: string;
  commit: string;
  /** Tracked files changed in the working tree when the run started (others' work in progress
   * is part of what was measured). */
  uncommitted_files: string[];
  loadavg_at_start: number[];
}

/** The installed version (read from node_modules: some packages do not export package.json). */
const packageVersion = (name: string): string => {
  try {
    return (JSON.parse(readFileSync(resolve("node_modules", name, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
};

const git = (...args: string[]): string => {
  try {
    return execFileSync("git", args, { encoding: "utf8" });
  } catch {
    return "";
  }
};

export function describeMachine(): MachineInfo {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  return {
    cpus: os.availableParallelism(),
    cpu_model: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? "unknown",
    cpu_family: /^cpu family\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown",
    simd: ["avx512f", "avx2", "avx", "sse4_2"].find((f) => new RegExp(`\\b${f}\\b`).test(cpuinfo)) ?? "none",
    virtualized: /\bhypervisor\b/.test(cpuinfo),
    memory_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    onnxruntime_node: packageVersion("onnxruntime-node"),
    transformers_js: packageVersion("@huggingface/transformers"),
    commit: git("rev-parse", "--short", "HEAD").trim() || "unknown",
    uncommitted_files: git("status", "--porcelain", "--untracked-files=no").split("\n").filter(Boolean).map((l) => l.slice(3)),
    loadavg_at_start: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** CPU time counters: the whole machine (from /proc/stat) and the given processes. */
export interface CpuSnapshot {
  totalTicks: number;
  busyTicks: number;
  ownTicks: number;
  /** Ticks of each given process, in the order given. */
  perProcess: number[];
}

function processTicks(pid: number): number {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are 14th and 15th.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return 0;
  }
}

export function cpuSnapshot(pids: readonly number[]): CpuSnapshot {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0];
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  const perProcess = pids.map(processTicks);
  return { totalTicks: busy + idle + iowait, busyTicks: busy, ownTicks: perProcess.reduce((a, b) => a + b, 0), perProcess };
}

/** Cores each given process kept busy between two snapshots. */
export function processCores(a: CpuSnapshot, b: CpuSnapshot, cpus: number): number[] {
  const total = b.totalTicks - a.totalTicks;
  return b.perProcess.map((t, i) => (total > 0 ? Math.round(((t - a.perProcess[i]) / total) * cpus * 100) / 100 : 0));
}

/** Cores kept busy between two snapshots by processes other than ours (benchmark and children). */
export function otherLoadCores(a: CpuSnapshot, b: CpuSnapshot, cpus: number): number {
  const total = b.totalTicks - a.totalTicks;
  if (total <= 0) return 0;
  const others = b.busyTicks - a.busyTicks - (b.ownTicks - a.ownTicks);
  return Math.max(0, Math.round(((others / total) * cpus) * 100) / 100);
}
