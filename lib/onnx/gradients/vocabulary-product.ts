/**
 * The product of a model's word-embedding table with gradient vectors, `E · g` for every
 * vocabulary entry (HotFlip's first-order estimate, SPEC §8), as one ONNX MatMul run by its own
 * ONNX Runtime worker, never a loop on the main thread. The table lives in shared memory, so each
 * run hands the worker a view of it instead of copying it (about 94 MB for a BERT-base table).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DataType, encodeModel, makeNode, valueInfo, type ModelProto } from "../graph-io.ts";
import { OnnxRunner, type RunnerOptions } from "../runner.ts";
import { ndarray } from "../../tensor.ts";
import type { EmbeddingTable } from "./embeds-surgery.ts";

const NAMES = Object.freeze({ table: "table", gradients: "gradients", scores: "scores" });

/** The same table with its values in a SharedArrayBuffer (a copy, made once). */
export function sharedTable(table: EmbeddingTable): EmbeddingTable {
  if (table.data.buffer instanceof SharedArrayBuffer) return table;
  const Kind = table.data instanceof Float64Array ? Float64Array : Float32Array;
  // The lib typings of this TypeScript target take ArrayBuffer only; a typed array over shared memory is the same at run time.
  const data = new Kind(new SharedArrayBuffer(table.data.byteLength) as unknown as ArrayBuffer);
  data.set(table.data);
  return { ...table, data };
}

/** `scores[V, P] = table[V, H] · gradients[H, P]`, in the table's element type. */
function productModel(double: boolean): ModelProto {
  const type = double ? DataType.DOUBLE : DataType.FLOAT;
  return {
    irVersion: 8,
    opsetImport: [{ domain: "", version: 13 }],
    producerName: "square-inference",
    graph: {
      name: "vocabulary_product",
      node: [makeNode("MatMul", [NAMES.table, NAMES.gradients], [NAMES.scores], [], "vocabulary_product")],
      initializer: [],
      input: [valueInfo(NAMES.table, type, ["vocabulary", "hidden"]), valueInfo(NAMES.gradients, type, ["hidden", "vectors"])],
      output: [valueInfo(NAMES.scores, type, ["vocabulary", "vectors"])],
    },
  };
}

export class VocabularyProduct {
  private constructor(
    private readonly runner: OnnxRunner,
    private readonly table: EmbeddingTable,
  ) {}

  /** Writes the (tiny, table-free) graph into `cacheDir` and starts its worker. */
  static async open(table: EmbeddingTable, cacheDir: string, runner: Omit<RunnerOptions, "modelPath" | "workers">): Promise<VocabularyProduct> {
    const double = table.data instanceof Float64Array;
    const modelPath = join(cacheDir, `vocabulary-product-${double ? "f64" : "f32"}.onnx`);
    await mkdir(cacheDir, { recursive: true });
    await writeFile(modelPath, encodeModel(productModel(double)));
    return new VocabularyProduct(await OnnxRunner.open({ ...runner, modelPath, workers: 1, extraOutputs: false }), sharedTable(table));
  }

  /** For each gradient vector (length hidden), the vector of `E[k] · g` over the vocabulary. */
  async scores(gradients: readonly Float32Array[]): Promise<Float64Array[]> {
    const { rows, hidden } = this.table;
    const P = gradients.length;
    if (P === 0) return [];
    const double = this.table.data instanceof Float64Array;
    const g = double ? new Float64Array(hidden * P) : new Float32Array(hidden * P);
    gradients.forEach((vector, p) => {
      if (vector.length !== hidden) throw new RangeError(`a gradient vector has ${vector.length} values; the table is ${hidden} wide`);
      for (let h = 0; h < hidden; h++) g[h * P + p] = vector[h];
    });
    const dtype = double ? "float64" : "float32";
    const { outputs } = await this.runner.run({ [NAMES.table]: ndarray(dtype, [rows, hidden], this.table.data), [NAMES.gradients]: ndarray(dtype, [hidden, P], g) }, [NAMES.scores]);
    const scores = outputs[NAMES.scores].data as Float32Array | Float64Array;
    return gradients.map((_, p) => {
      const column = new Float64Array(rows);
      for (let k = 0; k < rows; k++) column[k] = scores[k * P + p];
      return column;
    });
  }

  close(): Promise<void> {
    return this.runner.close();
  }
}
