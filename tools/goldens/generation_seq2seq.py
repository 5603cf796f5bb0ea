"""PyTorch goldens for the T5- and BART-shaped encoder-decoder fixtures (issue #13).

Re-implements both forwards in float64 (seq2seq_models.py, weights read by name from the .onnx
initializers, no graph is run), tokenizes independently (unigram.py: Viterbi over the T5
tokenizer.json; bpe.py / inputs.py: byte-level BPE for BART), and decodes with Hugging Face
`generate` semantics (seq2seq_generate.py: greedy, and beam search with num_beams, length_penalty,
early_stopping, num_return_sequences; BART's forced_bos_token_id / forced_eos_token_id from its
generation_config.json). Writes test/goldens/generation/t5-tiny.json and bart-tiny.json:
  inputs         texts, input_ids and attention_mask per case (right-padded batches)
  cases          options, expected sequences (decoder start first, pad after eos, as HF returns
                 them), scores (beam: sequences_scores; greedy: summed log-softmax of the chosen
                 tokens), and the decision margins (how far float32 rounding is from flipping a choice)
  forward        one teacher-forced check: encoder last_hidden_state and decoder logits [B, T, V]
  forward_long   40 encoder and 30 decoder tokens (T5's logarithmic position buckets): encoder
                 states and the last position's logits

The fixture folders must exist (written by the Node tests, or by
`node --import tsx tools/goldens/write-seq2seq-fixtures.ts DIR`). Run with Debian's torch:
    /usr/bin/python3 tools/goldens/generation_seq2seq.py [--fixtures .cache/seq2seq] [--out test/goldens/generation]
"""
import argparse
import json
import os
import sys

sys.dont_write_bytecode = True

import torch  # noqa: E402

from inputs import encode_bpe  # noqa: E402
from jsonio import tensor, write  # noqa: E402
from seq2seq_generate import Options, SampleSpec, beam_search, greedy, sampling_case  # noqa: E402
from seq2seq_models import load_model  # noqa: E402
from unigram import Unigram  # noqa: E402

TEXTS = {
    "single": ["the quick brown fox jumps over the lazy dog"],
    "pair": ["john lives in paris with mary .", "hello world"],
    "trio": ["what is the weather like today ?", "a great movie", "the children played near the river and sang"],
}

# (case name, input set, options).
CASES = [
    ("greedy-single", "single", {"max_new_tokens": 12}),
    ("greedy-batch", "pair", {"max_new_tokens": 12}),
    ("greedy-batch3", "trio", {"max_new_tokens": 10}),
    ("beam4-lp1-batch", "pair", {"max_new_tokens": 10, "num_beams": 4, "length_penalty": 1.0, "early_stopping": False, "num_return_sequences": 2}),
    ("beam3-lp2-early", "trio", {"max_new_tokens": 10, "num_beams": 3, "length_penalty": 2.0, "early_stopping": True, "num_return_sequences": 1}),
    ("beam4-lp0.5-never", "pair", {"max_new_tokens": 8, "num_beams": 4, "length_penalty": 0.5, "early_stopping": "never", "num_return_sequences": 4}),
    ("beam2-lp-1-single", "single", {"max_new_tokens": 12, "num_beams": 2, "length_penalty": -1.0, "early_stopping": False, "num_return_sequences": 2}),
]

# Sampling with fixed noise (seq2seq_generate.py `sampling_case`), every input encoded and decoded
# alone: (name, input set, first seed, options, families). Draws within DRAW_DELTA of a cumulative
# boundary are redrawn; seeds whose top-k / top-p cuts or beam rankings come closer than CUT_MARGIN
# to flipping are skipped. No beam sampling for BART: its generation_config forces bos on the first
# step and eos on the last, so fewer than K = 2 * num_beams candidates have mass there and
# torch.multinomial (replacement=False) raises in HF (our server fills with the best remaining).
DRAW_DELTA = 2e-3
CUT_MARGIN = 1e-4
SAMPLING_CASES = [
    ("sample-t0.7-k20-p0.9", "trio", 1000, {"do_sample": True, "temperature": 0.7, "top_k": 20, "top_p": 0.9, "num_return_sequences": 2, "max_new_tokens": 10}, ("t5", "bart")),
    ("sample-processors", "pair", 2000, {"do_sample": True, "top_k": 30, "top_p": 0.85, "repetition_penalty": 1.3, "no_repeat_ngram_size": 2, "min_new_tokens": 3, "num_return_sequences": 2, "max_new_tokens": 8}, ("t5", "bart")),
    ("sample-full-vocab", "pair", 3000, {"do_sample": True, "top_k": 0, "temperature": 0.6, "max_new_tokens": 8}, ("t5", "bart")),
    ("beam-sample", "pair", 4000, {"do_sample": True, "num_beams": 3, "temperature": 0.8, "top_k": 10, "num_return_sequences": 2, "max_new_tokens": 8}, ("t5",)),
]

SAMPLING_NOTES = (
    "sampling_cases: do_sample with fixed noise, every input encoded and decoded alone (no padding). Torch's "
    "multinomial draws from its global RNG, so the uniforms are fixed and stored instead: draws[prompt][sequence] is "
    "the list of uniforms that sequence consumes (lib/generation/random.ts fixedNoise), one per generated token; beam "
    "sampling (draws[prompt][0]) takes K = 2 * num_beams per step, drawn without replacement, each over the weights "
    "not drawn yet, kept in draw order (HF's _get_top_k_continuations does not sort multinomial's output). A token is "
    "the first index whose running float64 sum of HF's sampling probabilities (softmax of the processed and warped "
    "scores) exceeds u * total. Processors in HF's order on the decoder ids (start token included): "
    "repetition_penalty, no_repeat_ngram_size, min_new_tokens, forced_bos / forced_eos (BART's generation_config), "
    "then temperature, top_k (default 50), top_p (min_tokens_to_keep 1, or 2 in beam sampling). prompt_ids: the "
    "unpadded encoder input ids; generated_ids[prompt][sequence]: new tokens after the decoder start token, up to and "
    "including eos; sequences_scores (beam sampling): length-penalised sums of log-probs, best first. Draws come from "
    "Python's random.Random(seed); a draw within draw_delta of an interior cumulative boundary is skipped "
    "(rejected_draws counts them), so margins.sample >= draw_delta and float32 logits cannot flip a choice; margins "
    "also has the smallest top_k_gap, top_p_cum (|cumulative probability - (1 - top_p)| at the cut), top_p_gap and, "
    "for beam sampling, rank; seeds are advanced until those are at least cut_margin. BART has no beam-sampling case: "
    "its forced bos (first step) and forced eos (last step) leave fewer than K candidates with mass, where "
    "torch.multinomial without replacement raises."
)

NOTES = (
    "Float64 PyTorch reference (tools/goldens/generation_seq2seq.py) on the fixture's float32 weights, decoding "
    "with Hugging Face generate semantics without a cache. sequences start with decoder_start_token_id and are "
    "padded with pad_token_id after eos (HF's output). Greedy: scores[i] = sum of log_softmax of the processed "
    "logits at the chosen tokens up to eos; beam: scores[i] = sequences_scores (sum of log-probs / generated "
    "length incl. eos ** length_penalty), best first, num_return_sequences rows per input. margin: smallest "
    "top-1/top-2 logit gap of a free greedy choice, or smallest gap between adjacent ranked beam candidates. "
    "max_length = 1 + max_new_tokens. eos is reachable by the fixtures' weights: T5's eos embedding row (tied "
    "with the output) is drawn 3x wider than the others; BART's final_logits_bias has +10 on eos. forward: teacher-forced logits of the pair input with decoder_input_ids; "
    "forward_long: an unpadded 40-token input, 30 decoder tokens, the last position's logits."
)


def tokenize(folder, kind, texts):
    if kind == "t5":
        tok = Unigram(os.path.join(folder, "tokenizer.json"))
        ids = [tok.encode(t) for t in texts]
    else:
        with open(os.path.join(folder, "tokenizer.json")) as f:
            model = json.load(f)["model"]
        ids = [encode_bpe([t], model)["ids"] for t in texts]
    return ids


def pad_batch(ids, pad):
    width = max(len(x) for x in ids)
    return [x + [pad] * (width - len(x)) for x in ids], [[1] * len(x) + [0] * (width - len(x)) for x in ids]


def options(cfg, gen, spec):
    return Options(
        max_new_tokens=spec["max_new_tokens"], eos=gen["eos_token_id"], pad=gen["pad_token_id"],
        start=gen["decoder_start_token_id"], forced_bos=gen.get("forced_bos_token_id"),
        forced_eos=gen.get("forced_eos_token_id"), num_beams=spec.get("num_beams", 1),
        length_penalty=spec.get("length_penalty", 1.0), early_stopping=spec.get("early_stopping", False),
        num_return_sequences=spec.get("num_return_sequences", 1),
    )


def golden(name, folder):
    model = load_model(folder)
    cfg = model.w.config
    with open(os.path.join(folder, "generation_config.json")) as f:
        gen = json.load(f)
    kind = cfg["model_type"]
    inputs = {}
    for key, texts in TEXTS.items():
        ids, mask = pad_batch(tokenize(folder, kind, texts), gen["pad_token_id"])
        inputs[key] = {"texts": texts, "input_ids": ids, "attention_mask": mask}
    cases = []
    with torch.no_grad():
        for case, key, spec in CASES:
            ids, mask = torch.tensor(inputs[key]["input_ids"]), torch.tensor(inputs[key]["attention_mask"])
            enc = model.encode(ids, mask)
            o = options(cfg, gen, spec)
            run = greedy if o.num_beams == 1 else beam_search
            seqs, scores, margin = run(model, enc, mask, o)
            cases.append({"name": case, "input": key, "options": spec, "sequences": seqs.tolist(),
                          "scores": [float(f"{s:.9g}") for s in scores.tolist()], "margin": float(f"{margin:.4g}")})
            print(f"{name} {case}: margin {margin:.3g}", file=sys.stderr)
            for row in seqs.tolist():
                print("   ", row, file=sys.stderr)
        pair = inputs["pair"]
        ids, mask = torch.tensor(pair["input_ids"]), torch.tensor(pair["attention_mask"])
        enc = model.encode(ids, mask)
        dec = torch.tensor([row[:6] for row in cases[1]["sequences"]])
        logits = model.decode(dec, enc, mask)
        # Long sequences: T5 distances past max_exact (8 bidirectional, 16 causal) take the log branch of the buckets.
        long_ids = torch.tensor([[(7 * i) % 500 + 4 for i in range(40)]])
        long_dec = torch.tensor([[gen["decoder_start_token_id"]] + [(11 * i) % 500 + 4 for i in range(29)]])
        long_enc = model.encode(long_ids, torch.ones_like(long_ids))
        long_logits = model.decode(long_dec, long_enc, torch.ones_like(long_ids))[:, -1, :]
    family = "t5" if kind == "t5" else "bart"
    sampling = []
    with torch.no_grad():
        for case, key, seed, spec, families in SAMPLING_CASES:
            if family not in families:
                continue
            prompts = [row[: sum(m)] for row, m in zip(inputs[key]["input_ids"], inputs[key]["attention_mask"])]

            def next_logits(prompt):
                ids = torch.tensor([prompt])
                enc, enc_mask = model.encode(ids, torch.ones_like(ids)), torch.ones_like(ids)

                def step(rows):
                    n = len(rows)
                    return model.decode(torch.tensor(rows), enc.expand(n, -1, -1), enc_mask.expand(n, -1))[:, -1, :]
                return step

            spec_for = lambda prompt, kwargs: SampleSpec(kwargs, gen["eos_token_id"], [gen["decoder_start_token_id"]],
                                                         gen.get("forced_bos_token_id"), gen.get("forced_eos_token_id"))
            result = sampling_case(next_logits, prompts, spec_for, spec, seed, DRAW_DELTA, CUT_MARGIN)
            eos = gen["eos_token_id"]
            sampling.append({"name": case, "input": key, "options": spec, "prompt_ids": prompts, **result,
                             "finished_by_eos": [[bool(g) and g[-1] == eos for g in per] for per in result["generated_ids"]]})
            print(f"{name} {case}: seed {result['seed']} margins {result['margins']} rejected {result['rejected_draws']}", file=sys.stderr)
            for per in result["generated_ids"]:
                print("   ", per, file=sys.stderr)
    return {
        "fixture": name,
        "model_type": kind,
        "model_sha256": model.w.sha256,
        "generator": "tools/goldens/generation_seq2seq.py",
        "torch_version": torch.__version__,
        "notes": NOTES,
        "generation_config": gen,
        "inputs": inputs,
        "cases": cases,
        "forward": {"input": "pair", "decoder_input_ids": dec.tolist(), "last_hidden_state": tensor(enc), "logits": tensor(logits)},
        "forward_long": {"input_ids": long_ids.tolist(), "decoder_input_ids": long_dec.tolist(),
                         "last_hidden_state": tensor(long_enc), "last_logits": tensor(long_logits)},
        "sampling_notes": SAMPLING_NOTES,
        "sampling_draw_delta": DRAW_DELTA,
        "sampling_cut_margin": CUT_MARGIN,
        "sampling_cases": sampling,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures", default=".cache/seq2seq")
    parser.add_argument("--out", default="test/goldens/generation")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in ("t5-tiny", "bart-tiny"):
        write(os.path.join(args.out, f"{name}.json"), golden(name, os.path.join(args.fixtures, name)))
        print(f"{name}.json", file=sys.stderr)


if __name__ == "__main__":
    main()
