"""Generation goldens for the GPT-2 fixture (issue #13): test/goldens/generation/gpt2-tiny.json.

An independent reference: GPT-2's forward pass written here in plain PyTorch float64 from the
transformers GPT2LMHeadModel definition, reading the fixture's weights by name from the
model.onnx initializers (never running the ONNX graph), its own byte-level BPE tokenization of
the prompts (the tokenizer.json vocabulary and merges, GPT-2's pre-tokenizer regex for ASCII
text), and Hugging Face `generate` semantics for decoder-only models:
  - left padding with pad = eos = <|endoftext|>, attention_mask 0 on pads, position_ids
    cumsum(mask) - 1 with pads set to 1; max_length = padded prompt length + max_new_tokens;
  - greedy (`_sample` without sampling): argmax (first index on ties) of the last position's
    logits after the logits processors; rows that finished get pad_token_id; stops when every
    row hit eos or max_length;
  - beam search (`_beam_search`, the vectorized version of transformers >= 4.50): log_softmax,
    processors, running scores added, top max(2, 1 + n_eos) * num_beams candidates over
    num_beams * vocab; candidates that end in eos (or reach max_length) and rank within the
    first num_beams become finished hypotheses scored sum_logprobs / generated_len **
    length_penalty (generated_len counts the eos, not the prompt); early_stopping True / False /
    "never" as `_check_early_stop_heuristic` and `_beam_search_has_unfinished_sequences`; the
    output is the best num_return_sequences hypotheses per prompt, cropped to the longest one
    and padded with pad_token_id, with their scores (`sequences_scores`);
  - logits processors, in HF's order: repetition_penalty, no_repeat_ngram_size, min_new_tokens.
Every step runs the full sequence again (no KV cache), so the cache of the ONNX graphs is checked
against a computation that has none.

Needs Debian's python3-torch and python3-onnx; run with the system interpreter from the
repository root. It first (re)writes the fixture folder with the current generator (node + tsx;
--no-build reads the folder as it is):
    /usr/bin/python3 tools/goldens/generation_decoder.py [--fixture .cache/fixtures/gpt2-tiny] \
        [--out test/goldens/generation/gpt2-tiny.json]
CI does not install torch: the TypeScript tests compare against the committed file.
"""
import argparse
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ next to the sources

import torch  # noqa: E402

from bpe import bpe, merge_ranks  # noqa: E402
from jsonio import num, tensor, write  # noqa: E402
from seq2seq_generate import SampleSpec, sampling_case  # noqa: E402
from weights import Weights  # noqa: E402

NEG = -1.0e9  # the "impossible" score HF's beam search adds

NOTES = (
    "Float64 PyTorch GPT-2 (tools/goldens/generation_decoder.py) on the float32 weights of the gpt2-tiny fixture's "
    "model.onnx, full re-run every step (no KV cache). Per case: prompts (text), prompt_ids (unpadded, no bos added), "
    "input_ids / attention_mask (left padded with pad_token_id = eos_token_id, mask 0 on pads; position_ids are "
    "cumsum(mask) - 1 with pads set to 1), options (HF generate kwargs; do_sample is always false), sequences (what HF "
    "generate returns: the padded prompt, then the generated ids, rows padded with pad_token_id; beam search returns "
    "num_return_sequences rows per prompt, adjacent, best first, cropped to the longest), generated_ids (per row: the "
    "ids after the prompt up to and including the first eos; for beams exactly the hypothesis), finished_by_eos, "
    "generated_texts (generated_ids decoded, eos skipped), sequences_scores (beam search: sum of log-probs / "
    "generated_len ** length_penalty, float64), prefill_last_logits ([B, V] logits of the last prompt position), "
    "min_decision_margin (smallest gap between the scores a decision compared: top-1 vs top-2 for greedy, adjacent "
    "candidates and finished hypotheses for beams; float32 ONNX Runtime must stay well inside it). Beam cases also "
    "have legacy_scorer_agrees: whether a second, loop-based implementation after the legacy BeamSearchScorer "
    "(transformers < 4.50) returns the same hypotheses and scores. The two differ only in the early-stop heuristic "
    "(early_stopping False / 'never'): the legacy scorer compares the worst finished score with the best candidate of "
    "the step (eos candidates included), the vectorized one (>= 4.50, what this golden follows) with the best running "
    "beam, so the vectorized search may stop a prompt sooner (beam3-lp2, first prompt). The fixture's <|endoftext|> "
    "embedding row (also its tied lm_head row) is 4x the others (EOS_ROW_SCALE in lib/fixtures/gpt2-fixture.ts), so "
    "some rows and beams end by eos. alone_generated_ids: the same case with every prompt run alone (no padding); "
    "alone_sequences_scores likewise. It differs from generated_ids only where the repetition penalty or n-gram ban reads the left padding's pad "
    "tokens (pad == eos here), which a server decoding each prompt on its own never shows them."
)

BATCH = ["John lives in Paris with", "the dog"]
BATCH3 = ["John lives in Paris with", "the dog", "Anna and Peter went to Berlin today"]
CASES = [
    {"name": "greedy-single", "prompts": ["Who went to Paris?"], "options": {"max_new_tokens": 16}},
    {"name": "greedy-batch", "prompts": BATCH, "options": {"max_new_tokens": 16}},
    {"name": "beam4-batch", "prompts": BATCH, "options": {"max_new_tokens": 12, "num_beams": 4, "num_return_sequences": 2}},
    {"name": "beam4-early-true", "prompts": BATCH, "options": {"max_new_tokens": 12, "num_beams": 4, "early_stopping": True, "num_return_sequences": 4}},
    {"name": "beam3-lp2", "prompts": BATCH, "options": {"max_new_tokens": 10, "num_beams": 3, "length_penalty": 2.0, "num_return_sequences": 3}},
    {"name": "beam3-lp0-never", "prompts": BATCH, "options": {"max_new_tokens": 10, "num_beams": 3, "length_penalty": 0.0, "early_stopping": "never"}},
    {"name": "greedy-processors", "prompts": BATCH3, "options": {"max_new_tokens": 12, "repetition_penalty": 1.5, "no_repeat_ngram_size": 2, "min_new_tokens": 5}},
    {"name": "beam2-processors", "prompts": BATCH3, "options": {"max_new_tokens": 10, "num_beams": 2, "repetition_penalty": 1.2, "no_repeat_ngram_size": 3, "num_return_sequences": 2}},
]
# Sampling with fixed noise (seq2seq_generate.py `sampling_case`): each prompt decoded alone, the
# draws from random.Random(seed), redrawn within DRAW_DELTA of a cumulative boundary; a seed whose
# top-k / top-p cuts or beam rankings come closer than CUT_MARGIN to flipping is skipped.
DRAW_DELTA = 2e-3
CUT_MARGIN = 1e-4
SAMPLING_CASES = [
    {"name": "sample-t0.7-k20-p0.9", "prompts": BATCH3, "seed": 1000,
     "options": {"do_sample": True, "temperature": 0.7, "top_k": 20, "top_p": 0.9, "num_return_sequences": 2, "max_new_tokens": 12}},
    {"name": "sample-processors", "prompts": BATCH, "seed": 2000,
     "options": {"do_sample": True, "top_k": 30, "top_p": 0.85, "repetition_penalty": 1.3, "no_repeat_ngram_size": 2, "min_new_tokens": 4, "num_return_sequences": 2, "max_new_tokens": 10}},
    {"name": "sample-default-top-k", "prompts": ["Who went to Paris?"], "seed": 3000,
     "options": {"do_sample": True, "max_new_tokens": 12}},
    {"name": "sample-full-vocab", "prompts": BATCH, "seed": 4000,
     "options": {"do_sample": True, "top_k": 0, "temperature": 1.3, "max_new_tokens": 10}},
    {"name": "beam-sample", "prompts": BATCH, "seed": 5000,
     "options": {"do_sample": True, "num_beams": 3, "temperature": 0.8, "top_k": 10, "num_return_sequences": 2, "max_new_tokens": 8}},
]
SAMPLING_NOTES = (
    "sampling_cases: do_sample with fixed noise. Torch's multinomial draws from its global RNG, so instead the uniforms "
    "are fixed and stored: draws[prompt][sequence] is the list of uniforms that sequence consumes (lib/generation/random.ts "
    "fixedNoise), one per generated token for sampling; for beam sampling draws[prompt][0] holds K = 2 * num_beams per "
    "step (candidates drawn without replacement, each over the weights not drawn yet, kept in draw order as HF's "
    "_get_top_k_continuations keeps multinomial's order). A token is the first index whose running float64 sum of HF's "
    "sampling probabilities (softmax of the processed and warped scores) exceeds u * total. Every prompt is decoded "
    "alone (batch of one, no padding), each of its num_return_sequences sequences with its own stream. Processors in "
    "HF's order: repetition_penalty, no_repeat_ngram_size, min_new_tokens, then temperature, top_k (default 50), top_p "
    "(min_tokens_to_keep 1, or 2 in beam sampling). generated_ids[prompt][sequence]: new tokens up to and including eos. "
    "sequences_scores (beam sampling): length-penalised sums of log-probs, best first. Draws come from Python's "
    "random.Random(seed); a draw within draw_delta of an interior cumulative boundary is skipped (rejected_draws counts "
    "them), so margins.sample >= draw_delta: float32 logits cannot flip a choice. margins also reports the smallest "
    "top_k_gap (k-th minus (k+1)-th warped score), top_p_cum (|cumulative probability - (1 - top_p)| at the cut), "
    "top_p_gap (scores either side of the top-p cut) and, for beam sampling, rank (gaps between ranked candidates, "
    "hypotheses, and the early-stop comparison); seeds are advanced until all are at least cut_margin."
)
# GPT-2's pre-tokenizer pattern, restricted to ASCII (\p{L} -> letters, \p{N} -> digits): exact for ASCII text.
GPT2_SPLIT = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+")


def bytes_to_unicode():
    printable = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


class Tokenizer:
    """Byte-level BPE over the fixture's tokenizer.json (encode ASCII prompts, decode any ids)."""

    def __init__(self, folder):
        import json
        with open(os.path.join(folder, "tokenizer.json")) as f:
            model = json.load(f)["model"]
        self.vocab = model["vocab"]
        self.tokens = {i: t for t, i in self.vocab.items()}
        self.ranks = merge_ranks(model)
        self.byte_char = bytes_to_unicode()
        self.char_byte = {c: b for b, c in self.byte_char.items()}

    def encode(self, text):
        if not text.isascii():
            raise ValueError("the reference pre-tokenizer handles ASCII prompts only")
        ids = []
        for piece in GPT2_SPLIT.findall(text):
            word = "".join(self.byte_char[b] for b in piece.encode("utf-8"))
            ids.extend(self.vocab[p] for p in bpe(word, self.ranks))
        return ids

    def decode(self, ids, skip=()):
        chars = "".join(self.tokens[i] for i in ids if i not in skip)
        return bytes(self.char_byte[c] for c in chars).decode("utf-8", errors="replace")


class Gpt2:
    """GPT2LMHeadModel in float64: pre-LN blocks, learned positions, causal + padding mask, gelu_new, tied lm_head."""

    def __init__(self, w):
        c = w.config
        self.w = w
        self.layers, self.heads, self.width = c["n_layer"], c["n_head"], c["n_embd"]
        self.eps = c["layer_norm_epsilon"]
        self.wte = w("transformer.wte.weight")
        self.wpe = w("transformer.wpe.weight")

    def ln(self, name, x):
        return torch.nn.functional.layer_norm(x, x.shape[-1:], self.w(f"{name}.weight"), self.w(f"{name}.bias"), self.eps)

    def conv1d(self, name, x):  # transformers' Conv1D: x @ weight[in, out] + bias
        return x @ self.w(f"{name}.weight") + self.w(f"{name}.bias")

    @staticmethod
    def gelu_new(x):
        return 0.5 * x * (1.0 + torch.tanh(((2.0 / torch.pi) ** 0.5) * (x + 0.044715 * torch.pow(x, 3.0))))

    def __call__(self, input_ids, attention_mask):
        """Logits [B, S, V] of a whole (left-padded) batch, position_ids from the mask as HF's generate makes them."""
        B, S = input_ids.shape
        position_ids = attention_mask.long().cumsum(-1) - 1
        position_ids = position_ids.masked_fill(attention_mask == 0, 1)
        h = self.wte[input_ids] + self.wpe[position_ids]
        causal = torch.tril(torch.ones(S, S, dtype=torch.bool))
        allowed = causal[None, None] & attention_mask.bool()[:, None, None, :]
        D = self.width // self.heads
        split = lambda t: t.view(B, S, self.heads, D).transpose(1, 2)
        for l in range(self.layers):
            p = f"transformer.h.{l}"
            q, k, v = self.conv1d(f"{p}.attn.c_attn", self.ln(f"{p}.ln_1", h)).split(self.width, dim=-1)
            q, k, v = split(q), split(k), split(v)
            scores = (q @ k.transpose(-1, -2)) / (D ** 0.5)
            scores = torch.where(allowed, scores, torch.tensor(torch.finfo(scores.dtype).min, dtype=scores.dtype))
            context = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, S, self.width)
            h = h + self.conv1d(f"{p}.attn.c_proj", context)
            h = h + self.conv1d(f"{p}.mlp.c_proj", self.gelu_new(self.conv1d(f"{p}.mlp.c_fc", self.ln(f"{p}.ln_2", h))))
        return self.ln("transformer.ln_f", h) @ self.wte.T


def left_pad(rows, pad):
    width = max(len(r) for r in rows)
    ids = [[pad] * (width - len(r)) + r for r in rows]
    mask = [[0] * (width - len(r)) + [1] * len(r) for r in rows]
    return torch.tensor(ids), torch.tensor(mask)


def process(scores, input_ids, prompt_len, opts, eos):
    """HF's logits processors that these goldens use, in HF's order, on [N, V] scores."""
    scores = scores.clone()
    penalty = opts.get("repetition_penalty", 1.0)
    if penalty != 1.0:
        picked = torch.gather(scores, 1, input_ids)
        picked = torch.where(picked < 0, picked * penalty, picked / penalty)
        scores.scatter_(1, input_ids, picked)
    n = opts.get("no_repeat_ngram_size", 0)
    if n and input_ids.shape[1] + 1 >= n:
        for row, ids in enumerate(input_ids.tolist()):
            prefix = tuple(ids[len(ids) - n + 1:])  # the last n - 1 tokens (none when n is 1)
            for i in range(len(ids) - n + 1):
                if tuple(ids[i:i + n - 1]) == prefix:
                    scores[row, ids[i + n - 1]] = -float("inf")
    if input_ids.shape[1] - prompt_len < opts.get("min_new_tokens", 0):
        scores[:, eos] = -float("inf")
    return scores


def greedy(model, ids, mask, opts, eos, pad):
    """HF `_sample` with do_sample False. Returns sequences [B, L] and the smallest top-1/top-2 logit gap it decided on."""
    prompt_len = ids.shape[1]
    max_length = prompt_len + opts["max_new_tokens"]
    unfinished = torch.ones(ids.shape[0], dtype=torch.bool)
    margin = float("inf")
    while True:
        logits = model(ids, mask)[:, -1, :]
        scores = process(logits, ids, prompt_len, opts, eos)
        top2 = torch.topk(scores, 2, dim=-1).values
        for r in range(ids.shape[0]):
            if unfinished[r]:
                margin = min(margin, float(top2[r, 0] - top2[r, 1]))
        nxt = torch.argmax(scores, dim=-1)
        nxt = torch.where(unfinished, nxt, torch.tensor(pad))
        ids = torch.cat([ids, nxt[:, None]], dim=1)
        mask = torch.cat([mask, torch.ones(mask.shape[0], 1, dtype=mask.dtype)], dim=1)
        unfinished &= ~((nxt == eos) | (ids.shape[1] >= max_length))
        if not unfinished.any():
            return ids, margin


def beam_search(model, ids, mask, opts, eos, pad):
    """HF's vectorized `_beam_search`. Returns sequences [B * nrs, L], their scores, and the smallest decision gap."""
    nb = opts["num_beams"]
    lp = opts.get("length_penalty", 1.0)
    early = opts.get("early_stopping", False)
    nrs = opts.get("num_return_sequences", 1)
    B, prompt_len = ids.shape
    max_length = prompt_len + opts["max_new_tokens"]
    keep = max(2, 1 + 1) * nb  # one eos id
    top_mask = torch.tensor([True] * nb + [False] * (keep - nb))
    running = torch.full((B, nb, max_length), pad, dtype=torch.long)
    running[:, :, :prompt_len] = ids[:, None, :]
    sequences = running.clone()
    running_scores = torch.zeros(B, nb, dtype=torch.float64)
    running_scores[:, 1:] = NEG
    scores_fin = torch.full((B, nb), NEG, dtype=torch.float64)
    finished = torch.zeros(B, nb, dtype=torch.bool)
    gen_len = torch.zeros(B, nb, dtype=torch.long)  # generated tokens of each finished hypothesis
    heuristic_open = torch.ones(B, 1, dtype=torch.bool)
    mask = mask.repeat_interleave(nb, dim=0)
    cur = prompt_len
    margin = float("inf")
    while True:
        flat = running[:, :, :cur].reshape(B * nb, cur)
        step_mask = torch.cat([mask, torch.ones(B * nb, cur - prompt_len, dtype=mask.dtype)], dim=1)
        logits = model(flat, step_mask)[:, -1, :]
        V = logits.shape[-1]
        logp = process(torch.log_softmax(logits, dim=-1), flat, prompt_len, opts, eos)
        logp = (logp + running_scores.view(B * nb, 1)).view(B, nb * V)
        ranked = torch.topk(logp, keep + 1, dim=-1).values
        for b in range(B):
            if not heuristic_open[b, 0]:
                continue  # a prompt whose beams are settled: its candidates no longer matter
            live = [x for x in ranked[b].tolist() if x > NEG / 2]
            margin = min([margin] + [live[i] - live[i + 1] for i in range(len(live) - 1)])
        top_logp, top_idx = torch.topk(logp, keep, dim=-1)
        beam = top_idx // V
        token = top_idx % V
        cand = torch.gather(running, 1, beam[:, :, None].expand(B, keep, max_length)).clone()
        cand[:, :, cur] = token
        stops = (token == eos) | (cur + 1 >= max_length)
        # next running beams: the best num_beams candidates that did not stop
        run_logp = top_logp + stops.double() * NEG
        nxt = torch.topk(run_logp, nb, dim=-1).indices
        running = torch.gather(cand, 1, nxt[:, :, None].expand(B, nb, max_length))
        running_scores = torch.gather(run_logp, 1, nxt)
        # finished hypotheses
        just = stops & top_mask[None, :]
        fin_logp = top_logp / ((cur + 1 - prompt_len) ** lp)
        full = finished.all(dim=-1, keepdim=True) & (early is True)
        fin_logp = fin_logp + full.double() * NEG + (~heuristic_open).double() * NEG + (~just).double() * NEG
        merged_seq = torch.cat([sequences, cand], dim=1)
        merged_scores = torch.cat([scores_fin, fin_logp], dim=1)
        merged_fin = torch.cat([finished, just], dim=1)
        merged_len = torch.cat([gen_len, torch.full((B, keep), cur + 1 - prompt_len, dtype=torch.long)], dim=1)
        pick = torch.topk(merged_scores, nb, dim=-1).indices
        sequences = torch.gather(merged_seq, 1, pick[:, :, None].expand(B, nb, max_length))
        scores_fin = torch.gather(merged_scores, 1, pick)
        finished = torch.gather(merged_fin, 1, pick)
        gen_len = torch.gather(merged_len, 1, pick)
        cur += 1
        # _check_early_stop_heuristic
        hyp_len = (max_length - prompt_len) if (early == "never" and lp > 0) else (cur - prompt_len)
        best_running = running_scores[:, :1] / (hyp_len ** lp)
        worst_fin = torch.where(finished, scores_fin.min(dim=1, keepdim=True).values, torch.tensor(NEG, dtype=torch.float64))
        heuristic_open = heuristic_open & (best_running > worst_fin).any(dim=-1, keepdim=True)
        # _beam_search_has_unfinished_sequences
        open_beam = not (bool(finished.all()) and early is True)
        if not (bool(heuristic_open.any()) and open_beam and not bool(stops.all())):
            break
    for b in range(B):
        final = scores_fin[b].tolist()
        margin = min([margin] + [final[i] - final[i + 1] for i in range(nb - 1)])
    out_len = prompt_len + int(gen_len[:, :nrs].max())
    return sequences[:, :nrs, :out_len].reshape(B * nrs, out_len), scores_fin[:, :nrs].reshape(-1), gen_len[:, :nrs].reshape(-1), margin


def beam_search_legacy(model, ids, mask, opts, eos, pad):
    """A second, loop-based implementation after the legacy BeamSearchScorer / BeamHypotheses
    (transformers beam_search.py), used only to cross-check `beam_search` on every case.
    Returns (generated ids per returned hypothesis, scores)."""
    nb = opts["num_beams"]
    lp = opts.get("length_penalty", 1.0)
    early = opts.get("early_stopping", False)
    nrs = opts.get("num_return_sequences", 1)
    B, prompt_len = ids.shape
    max_length = prompt_len + opts["max_new_tokens"]
    hyps = [[] for _ in range(B)]  # (score, generated ids incl. eos)
    done = [False] * B
    beams = [[(0.0 if k == 0 else NEG, []) for k in range(nb)] for _ in range(B)]
    cur = prompt_len

    def worst(b):
        return min(h[0] for h in hyps[b]) if len(hyps[b]) >= nb else None

    def add(b, score, gen):
        if len(hyps[b]) < nb or score > worst(b):
            hyps[b].append((score, gen))
            hyps[b].sort(key=lambda h: -h[0])
            del hyps[b][nb:]

    def is_done(b, best_sum, length):
        if len(hyps[b]) < nb:
            return False
        if early is True:
            return True
        denom = (max_length - prompt_len) if (early == "never" and lp > 0) else (length - prompt_len)
        return worst(b) >= best_sum / denom ** lp

    while cur < max_length:
        rows = [ids[b].tolist() + gen for b in range(B) for _, gen in beams[b]]
        row_mask = torch.cat([mask.repeat_interleave(nb, dim=0), torch.ones(B * nb, cur - prompt_len, dtype=mask.dtype)], dim=1)
        flat = torch.tensor(rows)
        logp = process(torch.log_softmax(model(flat, row_mask)[:, -1, :], dim=-1), flat, prompt_len, opts, eos)
        V = logp.shape[-1]
        for b in range(B):
            if done[b]:
                beams[b] = [(score, gen + [pad]) for score, gen in beams[b]]  # as the scorer pads a finished prompt
                continue
            totals = torch.cat([logp[b * nb + k] + beams[b][k][0] for k in range(nb)])
            top = torch.topk(totals, 2 * nb)
            nxt = []
            for rank, (score, index) in enumerate(zip(top.values.tolist(), top.indices.tolist())):
                k, token = divmod(index, V)
                gen = beams[b][k][1] + [token]
                if token == eos:
                    if rank < nb:
                        add(b, score / (cur + 1 - prompt_len) ** lp, gen)
                else:
                    nxt.append((score, gen))
                if len(nxt) == nb:
                    break
            beams[b] = nxt
            done[b] = is_done(b, float(top.values.max()), cur + 1)
        cur += 1
        if all(done):
            break
    for b in range(B):
        if not done[b]:
            for score, gen in beams[b]:
                add(b, score / (len(gen)) ** lp, gen)
    return [h[1] for b in range(B) for h in hyps[b][:nrs]], [h[0] for b in range(B) for h in hyps[b][:nrs]]


def run_case(model, tok, case, eos, pad):
    prompts = case["prompts"]
    prompt_ids = [tok.encode(p) for p in prompts]
    ids, mask = left_pad(prompt_ids, pad)
    opts = case["options"]
    with torch.no_grad():
        prefill = model(ids, mask)[:, -1, :]
        if opts.get("num_beams", 1) > 1:
            seqs, scores, lengths, margin = beam_search(model, ids, mask, opts, eos, pad)
            legacy_ids, legacy_scores = beam_search_legacy(model, ids, mask, opts, eos, pad)
        else:
            seqs, margin = greedy(model, ids, mask, opts, eos, pad)
            scores, lengths = None, None
    prompt_len = ids.shape[1]
    generated = []
    for r, row in enumerate(seqs.tolist()):
        new = row[prompt_len:]
        if lengths is not None:
            new = new[: int(lengths[r])]
        elif eos in new:
            new = new[: new.index(eos) + 1]
        generated.append(new)
    out = {
        "name": case["name"],
        "prompts": prompts,
        "options": opts,
        "prompt_ids": prompt_ids,
        "input_ids": ids.tolist(),
        "attention_mask": mask.tolist(),
        "sequences": seqs.tolist(),
        "generated_ids": generated,
        "finished_by_eos": [bool(g) and g[-1] == eos for g in generated],
        "generated_texts": [tok.decode(g, skip={eos}) for g in generated],
        "min_decision_margin": num(margin, 4),
        "prefill_last_logits": tensor(prefill),
    }
    # Each prompt alone (batch of one, no padding): what a server that decodes every prompt on its
    # own must return. It differs from the batch only where a processor reads the pad tokens HF's
    # left padding puts in a row (the repetition penalty sees pad == eos; pitfall 8 of generation.md).
    if len(prompts) > 1:
        alone = [run_case(model, tok, {**case, "prompts": [p]}, eos, pad) for p in prompts]
        out["alone_generated_ids"] = [g for a in alone for g in a["generated_ids"]]
        if scores is not None:
            out["alone_sequences_scores"] = [x for a in alone for x in a["sequences_scores"]]
    if scores is not None:
        out["sequences_scores"] = [num(s, 9) for s in scores.tolist()]
        same = legacy_ids == generated and all(abs(a - b) < 1e-9 for a, b in zip(legacy_scores, scores.tolist()))
        if not same:
            print(f"{case['name']}: the legacy scorer disagrees: {legacy_ids} {legacy_scores}", file=sys.stderr)
        out["legacy_scorer_agrees"] = same
    return out


def run_sampling_case(model, tok, case, eos):
    """A sampling golden: every prompt alone (no padding, position ids 0..n-1), fixed draws."""
    prompt_ids = [tok.encode(p) for p in case["prompts"]]

    def next_logits(_prompt):
        def step(rows):
            ids = torch.tensor(rows)
            return model(ids, torch.ones_like(ids))[:, -1, :]
        return step

    spec_for = lambda prompt, kwargs: SampleSpec(kwargs, eos, prompt)
    with torch.no_grad():
        result = sampling_case(next_logits, prompt_ids, spec_for, case["options"], case["seed"], DRAW_DELTA, CUT_MARGIN)
    texts = [[tok.decode(g, skip={eos}) for g in per] for per in result["generated_ids"]]
    return {"name": case["name"], "prompts": case["prompts"], "options": case["options"], "prompt_ids": prompt_ids,
            **result, "finished_by_eos": [[bool(g) and g[-1] == eos for g in per] for per in result["generated_ids"]],
            "generated_texts": texts}


def build_fixture(folder):
    """(Re)writes the single-layout fixture with the current generator (deterministic, about a second)."""
    script = "import { writeGpt2Fixture } from './lib/fixtures/gpt2-fixture.ts'; await writeGpt2Fixture(process.argv[1], { layout: 'single' });"
    subprocess.run(["node_modules/.bin/node", "--import", "tsx", "--input-type=module", "-e", script, folder], check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixture", default=".cache/fixtures/gpt2-tiny")
    parser.add_argument("--out", default="test/goldens/generation/gpt2-tiny.json")
    parser.add_argument("--no-build", action="store_true", help="read --fixture as it is instead of rewriting it first")
    args = parser.parse_args()
    if not args.no_build:
        build_fixture(args.fixture)
    w = Weights(args.fixture)
    tok = Tokenizer(args.fixture)
    eos = w.config["eos_token_id"]
    pad = eos
    model = Gpt2(w)
    cases = [run_case(model, tok, c, eos, pad) for c in CASES]
    golden = {
        "fixture": "gpt2-tiny",
        "model_sha256": w.sha256,
        "generator": "tools/goldens/generation_decoder.py",
        "torch_version": torch.__version__,
        "eos_token_id": eos,
        "pad_token_id": pad,
        "notes": NOTES,
        "cases": cases,
    }
    golden["sampling_notes"] = SAMPLING_NOTES
    golden["sampling_draw_delta"] = DRAW_DELTA
    golden["sampling_cut_margin"] = CUT_MARGIN
    golden["sampling_cases"] = [run_sampling_case(model, tok, c, eos) for c in SAMPLING_CASES]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    write(args.out, golden)
    for c in cases:
        print(f"{c['name']}: margin {c['min_decision_margin']} eos {c['finished_by_eos']} {c['generated_ids']}", file=sys.stderr)
    for c in golden["sampling_cases"]:
        print(f"{c['name']}: seed {c['seed']} margins {c['margins']} rejected {c['rejected_draws']} {c['generated_ids']}", file=sys.stderr)


if __name__ == "__main__":
    main()
