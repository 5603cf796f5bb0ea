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
from seq2seq_generate import Options, beam_search, greedy  # noqa: E402
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
