/**
 * The BERT case of the float64 reference in encoder-float64.ts, under the names older tests import
 * (test/unit/graph-surgery.test.ts). New code should import encoder-float64.ts directly.
 */
import { encoderTrace, type BertConfig, type EncoderTrace, type Weights } from "./encoder-float64.ts";

export { readWeights, layerNorm, type BertConfig, type Mat, type Weights } from "./encoder-float64.ts";
export type BertTrace = EncoderTrace;

/** Hidden states and attentions of one unpadded BERT sequence. */
export const bertTrace = (w: Weights, cfg: BertConfig, ids: number[], types: number[]): BertTrace => encoderTrace(w, "bert", cfg, ids, types);
