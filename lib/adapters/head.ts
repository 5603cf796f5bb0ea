/**
 * Prediction heads: head_config.json plus the head weights (keys `heads.{name}.{index}.weight|bias`).
 * The Linear layers are taken in the numeric order of their indices, not at fixed positions, because
 * Dropout and activation slots shift them (adapter-transformers 3.1.0 adds Dropout only when
 * dropout_prob > 0). Supported: classification (CLS or pooler → layers−1 × [Linear(H,H), act] → Linear(H,n)),
 * tagging (per token) and question_answering (per token, 2 outputs: start, end). Others are refused.
 */
import { AdapterError } from "./errors.ts";
import type { WeightTensor } from "./tensor.ts";
import type { LinearWeights } from "./weights.ts";

export type HeadType = "classification" | "tagging" | "question_answering";
export type HeadActivation = "tanh" | "relu" | "gelu" | "gelu_new" | "silu" | "sigmoid" | "linear";

export interface PredictionHead {
  readonly name: string;
  readonly type: HeadType;
  readonly numLabels: number;
  /** Activation between the Linear layers (unused with one layer). */
  readonly activation: HeadActivation;
  /** classification only: the pooler output instead of the first token's hidden state. */
  readonly usePooler: boolean;
  /** In order: [H, H] …, then [numLabels, H]. */
  readonly layers: readonly LinearWeights[];
  /** Class names by id (classification, tagging), from label2id; LABEL_i where none is given. */
  readonly id2label: readonly string[] | undefined;
  readonly label2id: Readonly<Record<string, number>> | undefined;
}

const HEAD_TYPES: readonly string[] = ["classification", "tagging", "question_answering"];
const ACTIVATIONS: Record<string, HeadActivation> = { tanh: "tanh", relu: "relu", gelu: "gelu", gelu_new: "gelu_new", swish: "silu", silu: "silu", sigmoid: "sigmoid", linear: "linear" };

function refuse(key: string, value: unknown, why: string): never {
  throw new AdapterError(`head config: ${key}=${JSON.stringify(value)} is not supported (${why})`, key);
}

/** Parses head_config.json and matches the head weights to it. */
export function parseHead(json: unknown, tensors: ReadonlyMap<string, WeightTensor>, hiddenSize?: number): PredictionHead {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new AdapterError("head_config.json is not a JSON object");
  const j = json as Record<string, unknown>;
  const name = j.name;
  if (typeof name !== "string" || !name) refuse("name", name, "head_config.json needs the head's name (its weight keys carry it)");
  const c = j.config as Record<string, unknown>;
  if (typeof c !== "object" || c === null) refuse("config", c, "head_config.json has no config object");
  const type = c.head_type;
  if (typeof type !== "string" || !HEAD_TYPES.includes(type)) refuse("head_type", type, `supported: ${HEAD_TYPES.join(", ")}`);
  const numLayers = c.layers ?? 1;
  if (!Number.isSafeInteger(numLayers) || (numLayers as number) < 1) refuse("layers", numLayers, "expected a positive integer");
  const numLabels = c.num_labels ?? (type === "question_answering" ? 2 : undefined);
  if (!Number.isSafeInteger(numLabels) || (numLabels as number) < 1) refuse("num_labels", numLabels, "expected a positive integer");
  if (type === "question_answering" && numLabels !== 2) refuse("num_labels", numLabels, "a question_answering head has 2 outputs (start, end)");
  const act = c.activation_function ?? "tanh";
  const activation = typeof act === "string" ? ACTIVATIONS[act.toLowerCase()] : undefined;
  if (!activation) refuse("activation_function", act, `supported: ${Object.keys(ACTIVATIONS).join(", ")}`);
  const usePooler = c.use_pooler ?? false;
  if (typeof usePooler !== "boolean") refuse("use_pooler", usePooler, "expected true or false");
  if (usePooler && type !== "classification") refuse("use_pooler", usePooler, "only classification heads read the pooler");
  const bias = c.bias ?? true;
  if (typeof bias !== "boolean") refuse("bias", bias, "expected true or false");

  // Group the weights by their module index.
  const byIndex = new Map<number, { weight?: WeightTensor; bias?: WeightTensor }>();
  const prefix = `heads.${name}.`;
  for (const [key, t] of tensors) {
    const m = /^heads\.([^.]+)\.(\d+)\.(weight|bias)$/.exec(key);
    if (!m) throw new AdapterError(`head weight ${key} is not heads.<name>.<index>.weight|bias`, key);
    if (!key.startsWith(prefix)) throw new AdapterError(`head weight ${key} belongs to head ${m[1]}, not ${name}`, key);
    const slot = byIndex.get(Number(m[2])) ?? {};
    byIndex.set(Number(m[2]), slot);
    slot[m[3] as "weight" | "bias"] = t;
  }
  const indices = [...byIndex.keys()].sort((a, b) => a - b);
  if (indices.length !== numLayers) throw new AdapterError(`head ${name}: ${indices.length} Linear layer(s) in the weights (indices ${indices.join(", ")}), the config says layers=${numLayers}`, "layers");
  const H = hiddenSize ?? byIndex.get(indices[0])!.weight?.shape[1];
  const layers = indices.map((index, i): LinearWeights => {
    const slot = byIndex.get(index)!;
    const key = `heads.${name}.${index}`;
    if (!slot.weight) throw new AdapterError(`head weight ${key}.weight is missing`, `${key}.weight`);
    if (bias && !slot.bias) throw new AdapterError(`head weight ${key}.bias is missing (config bias=true)`, `${key}.bias`);
    if (!bias && slot.bias) throw new AdapterError(`head weight ${key}.bias is present but the config says bias=false`, `${key}.bias`);
    const out = i === indices.length - 1 ? (numLabels as number) : H!;
    const shape = slot.weight.shape;
    if (shape.length !== 2 || shape[0] !== out || shape[1] !== H) throw new AdapterError(`head weight ${key}.weight has shape [${shape.join(", ")}], expected [${out}, ${H}]`, `${key}.weight`);
    if (slot.bias && (slot.bias.shape.length !== 1 || slot.bias.shape[0] !== out)) throw new AdapterError(`head weight ${key}.bias has shape [${slot.bias.shape.join(", ")}], expected [${out}]`, `${key}.bias`);
    return slot.bias ? { weight: slot.weight, bias: slot.bias } : { weight: slot.weight };
  });

  let id2label: string[] | undefined;
  let label2id: Record<string, number> | undefined;
  if (type !== "question_answering") {
    const given = c.label2id ?? j.label2id;
    if (given !== undefined && given !== null) {
      if (typeof given !== "object" || Array.isArray(given)) refuse("label2id", given, "expected an object of label → id");
      label2id = { ...(given as Record<string, number>) };
      id2label = new Array<string>(numLabels as number);
      for (const [label, id] of Object.entries(label2id)) {
        if (!Number.isSafeInteger(id) || id < 0 || id >= (numLabels as number)) refuse(`label2id.${label}`, id, `expected an id in 0..${(numLabels as number) - 1}`);
        if (id2label[id] !== undefined) refuse(`label2id.${label}`, id, `id ${id} already names ${id2label[id]}`);
        id2label[id] = label;
      }
      for (let i = 0; i < id2label.length; i++) if (id2label[i] === undefined) refuse("label2id", given, `no label for id ${i}`);
    } else {
      id2label = Array.from({ length: numLabels as number }, (_, i) => `LABEL_${i}`);
      label2id = Object.fromEntries(id2label.map((l, i) => [l, i]));
    }
  }
  return { name: name as string, type: type as HeadType, numLabels: numLabels as number, activation: activation!, usePooler, layers, id2label, label2id };
}
