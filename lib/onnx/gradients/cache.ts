/**
 * Builds each model's gradient model once: in memory per process, and on disk (when a cache
 * directory is given) keyed by the sha256 of the model file, so restarts and other replicas on
 * the same host skip the build. The embedding table is stored beside it, so a disk hit never
 * decodes the original model.
 */
import { createHash } from "node:crypto";
import { access, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buildGradientModel, type EmbeddingTable, type GradientModel, type GradientModelOptions } from "./gradient-model.ts";
import { OnceCache } from "../../base/once-cache.ts";

/** Bump when the builder's output changes, so stale disk entries are rebuilt. */
const FORMAT = "v1";

export type Metadata = Omit<GradientModel, "bytes" | "embeddingTable"> & { table: { name: string; rows: number; hidden: number; double: boolean } };

export class GradientModelCache {
  private readonly memory = new OnceCache<string, GradientModel>();

  constructor(private readonly dir?: string) {}

  /** The gradient model of the model file at `path`. */
  async forFile(path: string, options: GradientModelOptions = {}): Promise<GradientModel> {
    return this.forBytes(await readFile(path), options);
  }

  async forBytes(modelBytes: Uint8Array, options: GradientModelOptions = {}): Promise<GradientModel> {
    const key = cacheKey(modelBytes, options);
    return this.memory.get(key, () => this.loadOrBuild(key, modelBytes, options)); // a failed build is retried next time
  }

  /**
   * Makes sure the disk entry exists and returns its key, without loading an existing entry
   * (for a builder whose caller reads the files itself).
   */
  async ensureOnDisk(modelBytes: Uint8Array, options: GradientModelOptions = {}): Promise<string> {
    if (!this.dir) throw new Error("ensureOnDisk needs a cache directory");
    const key = cacheKey(modelBytes, options);
    const present = await access(entryFiles(this.dir, key).meta).then(() => true, () => false);
    if (!present) await writeEntry(this.dir, key, await buildGradientModel(modelBytes, options));
    return key;
  }

  private async loadOrBuild(key: string, modelBytes: Uint8Array, options: GradientModelOptions): Promise<GradientModel> {
    if (this.dir) {
      const cached = await readEntry(this.dir, key).catch(() => undefined);
      if (cached) return cached;
    }
    const built = await buildGradientModel(modelBytes, options);
    if (this.dir) await writeEntry(this.dir, key, built);
    return built;
  }
}

export function cacheKey(modelBytes: Uint8Array, options: GradientModelOptions): string {
  const model = createHash("sha256").update(modelBytes).digest("hex");
  const chosen = JSON.stringify({ targets: options.targets ?? null, attentions: options.attentions ?? "all" });
  return `${model}.${createHash("sha256").update(chosen).digest("hex").slice(0, 12)}.${FORMAT}`;
}

/** The files of a disk entry: the gradient model, its embedding table and its metadata. */
export const entryFiles = (dir: string, key: string) => ({ model: join(dir, `${key}.onnx`), table: join(dir, `${key}.embeddings.bin`), meta: join(dir, `${key}.json`) });

async function readEntry(dir: string, key: string): Promise<GradientModel> {
  const f = entryFiles(dir, key);
  const meta = JSON.parse(await readFile(f.meta, "utf8")) as Metadata;
  const [bytes, embeddingTable] = await Promise.all([readFile(f.model), readEntryTable(f.table, meta)]);
  const { table: _table, ...rest } = meta;
  return { ...rest, bytes: new Uint8Array(bytes), embeddingTable };
}

/** The embedding table stored beside an entry, checked against its metadata. */
export async function readEntryTable(path: string, meta: Metadata): Promise<EmbeddingTable> {
  const raw = await readFile(path);
  const buffer = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
  const data = meta.table.double ? new Float64Array(buffer) : new Float32Array(buffer);
  if (data.length !== meta.table.rows * meta.table.hidden) throw new Error(`gradient cache ${path}: embedding table has the wrong size`);
  return { name: meta.table.name, rows: meta.table.rows, hidden: meta.table.hidden, data };
}

/** Writes the entry's files under temporary names and renames them, metadata last: a reader sees all or nothing. */
async function writeEntry(dir: string, key: string, model: GradientModel): Promise<void> {
  await mkdir(dir, { recursive: true });
  const f = entryFiles(dir, key);
  const { bytes, embeddingTable: t, ...rest } = model;
  const meta: Metadata = { ...rest, table: { name: t.name, rows: t.rows, hidden: t.hidden, double: t.data instanceof Float64Array } };
  const temp = `.${process.pid}.${Date.now()}.tmp`;
  await writeFile(f.model + temp, bytes);
  await writeFile(f.table + temp, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  await rename(f.model + temp, f.model);
  await rename(f.table + temp, f.table);
  await writeFile(f.meta + temp, JSON.stringify(meta));
  await rename(f.meta + temp, f.meta);
}
