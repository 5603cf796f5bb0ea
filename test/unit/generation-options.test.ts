/**
 * Generation option parsing (lib/generation/options.ts, model-defaults.ts): defaults and their
 * precedence, and the 422 problems, one per broken rule, each naming its field.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseGenerationOptions, lengthProblems, maxNewTokensFor, GENERATION_OPTION_NAMES, type GenerationContext } from "../../lib/generation/options.ts";
import { modelDefaultsProblems, readModelDefaults } from "../../lib/generation/model-defaults.ts";

const parse = (task_kwargs: Record<string, unknown>, model_kwargs: Record<string, unknown> = {}, ctx: GenerationContext = {}) => parseGenerationOptions({ task_kwargs, model_kwargs }, ctx);
const problemsOf = (task_kwargs: Record<string, unknown>, model_kwargs: Record<string, unknown> = {}, ctx: GenerationContext = {}) => parse(task_kwargs, model_kwargs, ctx).problems;
const fields = (task_kwargs: Record<string, unknown>, model_kwargs: Record<string, unknown> = {}, ctx: GenerationContext = {}) => problemsOf(task_kwargs, model_kwargs, ctx).map((p) => p.field);

test("defaults: HF's, with SPEC's max_new_tokens 20", () => {
  const { options, problems } = parse({});
  assert.deepEqual(problems, []);
  assert.deepEqual(options, {
    maxNewTokens: 20,
    maxLength: undefined,
    maxLengthField: undefined,
    minNewTokens: 0,
    minLength: 0,
    doSample: false,
    temperature: 1,
    topK: 50,
    topP: 1,
    numBeams: 1,
    lengthPenalty: 1,
    earlyStopping: false,
    numReturnSequences: 1,
    repetitionPenalty: 1,
    noRepeatNgramSize: 0,
    eosTokenIds: [],
    padTokenId: undefined,
    bosTokenId: undefined,
    forcedBosTokenId: undefined,
    forcedEosTokenIds: undefined,
    decoderStartTokenId: undefined,
    outputScores: false,
    seed: undefined,
    returnFullText: true,
    cleanUpTokenizationSpaces: false,
  });
});

const bartCnn = {
  bos_token_id: 0,
  eos_token_id: 2,
  pad_token_id: 1,
  decoder_start_token_id: 2,
  forced_bos_token_id: 0,
  forced_eos_token_id: 2,
  num_beams: 4,
  length_penalty: 2.0,
  no_repeat_ngram_size: 3,
  min_length: 56,
  max_length: 142,
  early_stopping: true,
  transformers_version: "4.27.0",
  _from_model_config: true,
};

test("model defaults from generation_config.json; the request wins; task_kwargs win over model_kwargs", () => {
  const o = parse({}, {}, { modelDefaults: bartCnn }).options!;
  assert.equal(o.numBeams, 4);
  assert.equal(o.lengthPenalty, 2);
  assert.equal(o.earlyStopping, true);
  assert.equal(o.noRepeatNgramSize, 3);
  assert.equal(o.minLength, 56);
  assert.deepEqual([o.maxNewTokens, o.maxLength, o.maxLengthField], [undefined, 142, "generation_config.max_length"]);
  assert.deepEqual(o.eosTokenIds, [2]);
  assert.deepEqual([o.forcedBosTokenId, o.forcedEosTokenIds, o.decoderStartTokenId, o.padTokenId], [0, [2], 2, 1]);
  const r = parse({ num_beams: 2, max_new_tokens: 10 }, { num_beams: 3, length_penalty: 0.5 }, { modelDefaults: bartCnn }).options!;
  assert.deepEqual([r.numBeams, r.lengthPenalty, r.maxNewTokens, r.maxLength], [2, 0.5, 10, undefined]);
  // the request's max_length beats the model's max_new_tokens; max_new_tokens beats max_length within the request
  assert.deepEqual(
    [parse({ max_length: 30 }, {}, { modelDefaults: { max_new_tokens: 5 } }).options!.maxLength, parse({ max_length: 30, max_new_tokens: 7 }).options!.maxNewTokens],
    [30, 7],
  );
  // eos given as a list, duplicates dropped
  assert.deepEqual(parse({ eos_token_id: [3, 4, 3] }).options!.eosTokenIds, [3, 4]);
  assert.deepEqual(parse({ eos_token_id: [] }, {}, { modelDefaults: bartCnn }).options!.eosTokenIds, []);
});

test("unknown options are refused, naming each key and its section; keys owned elsewhere pass", () => {
  const problems = problemsOf({ num_beam: 2, top_k: 5 }, { max_tokens: 3, output_attentions: true });
  assert.deepEqual(
    problems.map((p) => p.field),
    ["model_kwargs.max_tokens", "model_kwargs.output_attentions", "task_kwargs.num_beam"],
  );
  assert.match(problems[0].message, /unknown generation option; known: max_new_tokens, max_length/);
  assert.deepEqual(fields({}, { output_attentions: true }, { otherKeys: { model_kwargs: ["output_attentions"] } }), []);
  assert.deepEqual(fields({ constructor: 1, __proto__: 2 }), ["task_kwargs.constructor"]); // JSON-parsed __proto__ would be an own key; object-literal one is not
  assert.equal(GENERATION_OPTION_NAMES.length, 21);
});

test("types: one problem per field", () => {
  const p = problemsOf({ max_new_tokens: 2.5, do_sample: "yes", temperature: "hot", early_stopping: "always", eos_token_id: [1, "2"], seed: 1e300, top_p: null });
  assert.deepEqual(
    p.map((x) => [x.field, x.message]),
    [
      ["task_kwargs.max_new_tokens", "must be an integer"],
      ["task_kwargs.do_sample", "must be a boolean"],
      ["task_kwargs.temperature", "must be a finite number"],
      ["task_kwargs.early_stopping", 'must be true, false or "never"'],
      ["task_kwargs.eos_token_id", "must be a token id or a list of token ids"],
      ["task_kwargs.seed", "must be an integer (a safe integer, |seed| < 2^53)"],
      ["task_kwargs.top_p", "must be a finite number"],
    ],
  );
});

test("ranges are bounded so no request asks for unbounded work", () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ max_new_tokens: 0 }, "max_new_tokens", /between 1 and 1024/],
    [{ max_new_tokens: 1025 }, "max_new_tokens", /between 1 and 1024/],
    [{ max_length: 100_000 }, "max_length", /between 1 and 8192/],
    [{ min_new_tokens: -1 }, "min_new_tokens", /between 0/],
    [{ num_beams: 17 }, "num_beams", /between 1 and 16/],
    [{ num_beams: 0 }, "num_beams", /between 1 and 16/],
    [{ num_return_sequences: 0 }, "num_return_sequences", /between 1 and 16/],
    [{ do_sample: true, num_return_sequences: 17 }, "num_return_sequences", /between 1 and 16/],
    [{ top_p: 1.5 }, "top_p", /between 0 and 1/],
    [{ top_k: -1 }, "top_k", /at least 0/],
    [{ repetition_penalty: 0 }, "repetition_penalty", /greater than 0/],
    [{ no_repeat_ngram_size: -2 }, "no_repeat_ngram_size", /between 0/],
    [{ temperature: -1 }, "temperature", /at least 0/],
    [{ eos_token_id: Array.from({ length: 17 }, (_, i) => i) }, "eos_token_id", /at most 16/],
  ];
  for (const [kw, key, message] of cases) {
    const p = problemsOf(kw);
    assert.equal(p.length, 1, `${JSON.stringify(kw)} → ${JSON.stringify(p)}`);
    assert.equal(p[0].field, `task_kwargs.${key}`);
    assert.match(p[0].message, message);
  }
  // limits are configurable
  assert.deepEqual(fields({ max_new_tokens: 600 }, {}, { limits: { maxNewTokens: 512 } }), ["task_kwargs.max_new_tokens"]);
  // token ids against the vocabulary when known
  const vocab = problemsOf({ eos_token_id: [3, 50257], pad_token_id: -1, bos_token_id: 50256 }, {}, { vocabSize: 50257 });
  assert.deepEqual(
    vocab.map((p) => p.field),
    ["task_kwargs.pad_token_id", "task_kwargs.eos_token_id"],
  );
  assert.match(vocab[1].message, /every id must be between 0 and 50256/);
});

test("cross-field rules: greedy returns one sequence; beams return at most num_beams; sampling needs temperature > 0", () => {
  const greedy = problemsOf({ num_return_sequences: 3 });
  assert.equal(greedy.length, 1);
  assert.equal(greedy[0].field, "task_kwargs.num_return_sequences");
  assert.match(greedy[0].message, /greedy decoding .* returns one sequence/);
  assert.deepEqual(problemsOf({ num_return_sequences: 3, do_sample: true }), []);
  assert.deepEqual(problemsOf({ num_return_sequences: 3, num_beams: 3 }), []);
  const beams = problemsOf({ num_return_sequences: 4, num_beams: 3 });
  assert.equal(beams.length, 1);
  assert.match(beams[0].message, /more than num_beams 3/);
  // with the model's num_beams 4 the request's num_return_sequences 5 is the one to blame
  assert.deepEqual(fields({ num_return_sequences: 5 }, {}, { modelDefaults: bartCnn }), ["task_kwargs.num_return_sequences"]);
  // the request lowers num_beams below the model's num_return_sequences: blame num_beams
  assert.deepEqual(fields({ num_beams: 2 }, {}, { modelDefaults: { num_return_sequences: 3, num_beams: 4 } }), ["task_kwargs.num_beams"]);
  // temperature 0: fine for greedy (ignored, as HF ignores it), refused when sampling
  assert.deepEqual(problemsOf({ temperature: 0 }), []);
  const t0 = problemsOf({ temperature: 0, do_sample: true });
  assert.deepEqual(
    t0.map((p) => p.field),
    ["task_kwargs.temperature"],
  );
  assert.match(t0[0].message, /greater than 0 .* do_sample false/);
  // a field that failed its own check does not also fail a cross rule
  assert.deepEqual(fields({ num_beams: 40, num_return_sequences: 3 }), ["task_kwargs.num_beams"]);
});

test("max_length counts the prompt: resolved per prompt, with problems when it leaves no room or too much", () => {
  assert.equal(maxNewTokensFor({ maxNewTokens: 5 }, 100), 5);
  assert.equal(maxNewTokensFor({ maxLength: 30 }, 12), 18);
  assert.equal(maxNewTokensFor({ maxLength: 30 }, 1), 29); // encoder-decoder: the decoder start token
  const o = parse({ max_length: 10 }).options!;
  assert.deepEqual(lengthProblems(o, [3, 9]), []);
  const p = lengthProblems(o, [3, 10, 12]);
  assert.deepEqual(
    p.map((x) => x.field),
    ["task_kwargs.max_length", "task_kwargs.max_length"],
  );
  assert.match(p[0].message, /prompt 1 already has 10 tokens/);
  assert.deepEqual(lengthProblems(parse({ max_length: 2000 }, {}).options!, [1], { maxNewTokens: 1024 })[0].field, "task_kwargs.max_length");
  assert.deepEqual(lengthProblems(parse({}, { max_length: 10 }).options!, [11])[0].field, "model_kwargs.max_length");
  assert.deepEqual(lengthProblems(parse({ max_new_tokens: 3 }).options!, [5000]), []);
});

test("generation_config.json: valid keys read, invalid ones skipped and reported for the loader", () => {
  const raw = { num_beams: 0, temperature: 0.7, eos_token_id: [1, 99], top_k: null, forced_eos_token_id: 2, early_stopping: "sometimes" };
  assert.deepEqual(readModelDefaults(raw, 50), { temperature: 0.7, forced_eos_token_id: [2] });
  assert.deepEqual(
    modelDefaultsProblems(raw, 50).map((p) => p.field),
    ["generation_config.json.num_beams", "generation_config.json.early_stopping", "generation_config.json.eos_token_id"],
  );
  // an invalid model default falls back to HF's default instead of failing requests
  assert.equal(parse({}, {}, { modelDefaults: raw, vocabSize: 50 }).options!.numBeams, 1);
});
