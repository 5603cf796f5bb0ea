/**
 * Model folders are named relative to the models root (`--models-root`). A name that is
 * absolute, climbs with `..`, or resolves (through symlinks) outside the root is refused before
 * anything is read; a folder that is not a servable model is refused naming every missing file.
 */
import { realpath, stat, readdir } from "node:fs/promises";
import { isAbsolute, join, relative, sep } from "node:path";
import { invalid } from "../errors.ts";

export interface ModelFolderInfo {
  /** Absolute real path of the folder. */
  path: string;
  /** Bytes of the files in it (and in onnx/). */
  bytes: number;
}

/** Lexical checks, before touching the file system. */
export function checkFolderName(name: string, field = "model_path"): void {
  if (name === "" || name.includes("\0")) throw invalid(`${field} must name a folder under the models root`, field);
  if (isAbsolute(name) || /^[A-Za-z]:|^[\\/]/.test(name)) throw invalid(`${field} "${name}" is absolute; give a folder relative to the models root`, field);
  if (name.split(/[\\/]/).includes("..")) throw invalid(`${field} "${name}" contains "..": folders outside the models root are refused`, field);
}

/** The real path of `name` under `root`, refusing anything that leaves it (symlinks included). */
export async function resolveUnderRoot(root: string, name: string, field = "model_path"): Promise<string> {
  checkFolderName(name, field);
  const realRoot = await realpath(root).catch(() => {
    throw invalid(`the models root ${root} is not readable on this node`, field);
  });
  const target = await realpath(join(realRoot, name)).catch(() => {
    throw invalid(`${field} "${name}": no such folder under the models root`, field);
  });
  const rel = relative(realRoot, target);
  if (rel === "" || rel.startsWith(`..${sep}`) || rel === ".." || isAbsolute(rel)) throw invalid(`${field} "${name}" resolves outside the models root (a symlink leaving it); refused`, field);
  return target;
}

const exists = (p: string) => stat(p).then((s) => s.isFile(), () => false);

/** Checks the folder holds what a model needs; a 422 naming every missing piece otherwise. */
export async function inspectModelFolder(root: string, name: string, field = "model_path"): Promise<ModelFolderInfo> {
  const path = await resolveUnderRoot(root, name, field);
  if (!(await stat(path)).isDirectory()) throw invalid(`${field} "${name}" is a file, not a model folder`, field);
  const missing: string[] = [];
  if (!(await exists(join(path, "config.json")))) missing.push("config.json");
  if (!(await exists(join(path, "tokenizer.json")))) missing.push("tokenizer.json");
  const onnx = [...(await onnxFiles(path)), ...(await onnxFiles(join(path, "onnx")))];
  if (onnx.length === 0) missing.push("an ONNX model (model.onnx, or Optimum's decoder/encoder files, at the folder's top or under onnx/)");
  if (missing.length) throw invalid(`${field} "${name}" is not a servable model folder: missing ${missing.join(", ")}`, field);
  return { path, bytes: await folderBytes(path) };
}

async function onnxFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith(".onnx"));
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const sub of [dir, join(dir, "onnx")]) {
    for (const name of await readdir(sub).catch(() => [] as string[])) {
      const s = await stat(join(sub, name)).catch(() => undefined);
      if (s?.isFile()) total += s.size;
    }
  }
  return total;
}
