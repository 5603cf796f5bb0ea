/**
 * The T5- and BART-shaped encoder-decoder fixtures the generation tests and goldens use, written
 * to `.cache/seq2seq/{t5-tiny,bart-tiny}` (or $SQUARE_SEQ2SEQ_DIR) with every decoder file
 * (layout "all": decoder_model_merged.onnx next to decoder_model.onnx and
 * decoder_with_past_model.onnx, as Optimum leaves them). Rewritten once per process: cheap and
 * deterministic, so a stale copy can never hide a change. tools/goldens/generation_seq2seq.py
 * reads the same folders.
 */
import { resolve, join } from "node:path";
import { pathToFileURL } from "node:url";
import { writeBartFixture, writeT5Fixture } from "../../lib/fixtures/seq2seq-fixture.ts";

export const SEQ2SEQ_DIR = resolve(process.env.SQUARE_SEQ2SEQ_DIR ?? ".cache/seq2seq");
export const SEQ2SEQ_FIXTURES = Object.freeze(["t5-tiny", "bart-tiny"] as const);
export type Seq2SeqFixture = (typeof SEQ2SEQ_FIXTURES)[number];

let writing: Promise<string> | undefined;

export function seq2seqFixtureDir(): Promise<string> {
  writing ??= (async () => {
    await writeT5Fixture(join(SEQ2SEQ_DIR, "t5-tiny"), { layout: "all" });
    await writeBartFixture(join(SEQ2SEQ_DIR, "bart-tiny"), { layout: "all" });
    return SEQ2SEQ_DIR;
  })();
  return writing;
}

export const seq2seqFixture = async (name: Seq2SeqFixture): Promise<string> => join(await seq2seqFixtureDir(), name);

// `node --import tsx test/helpers/seq2seq-fixtures.ts` writes the folders (for the golden script).
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) console.log(await seq2seqFixtureDir());
