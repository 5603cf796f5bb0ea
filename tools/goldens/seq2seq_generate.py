"""Greedy decoding and beam search for an encoder-decoder with Hugging Face `generate` semantics
(transformers' `_sample` without sampling, and the vectorized `_beam_search` of v4.50+), written
from their documented behaviour, in float64, recomputing the decoder prefix every step.

Logits processors: ForcedBOS (at cur_len 1 every score but forced_bos_token_id becomes -inf, it 0)
and ForcedEOS (at cur_len max_length - 1 the same for eos). Greedy applies them to the logits,
beam search to the log-softmax. Stopping: a row ends at eos or at max_length
(= 1 + max_new_tokens for an encoder-decoder: the decoder prompt is the start token).
"""
import torch

NEG = -1.0e9


class Options:
    def __init__(self, max_new_tokens, eos, pad, start, forced_bos=None, forced_eos=None, num_beams=1,
                 length_penalty=1.0, early_stopping=False, num_return_sequences=1):
        self.max_length = 1 + max_new_tokens
        self.eos, self.pad, self.start = eos, pad, start
        self.forced_bos, self.forced_eos = forced_bos, forced_eos
        self.num_beams, self.length_penalty = num_beams, length_penalty
        self.early_stopping, self.num_return_sequences = early_stopping, num_return_sequences


def process(scores, cur_len, o):
    scores = scores.clone()
    if o.forced_bos is not None and cur_len == 1:
        scores[:] = -float("inf")
        scores[:, o.forced_bos] = 0.0
    if o.forced_eos is not None and cur_len == o.max_length - 1:
        scores[:] = -float("inf")
        scores[:, o.forced_eos] = 0.0
    return scores


def greedy(model, enc, enc_mask, o):
    """Returns sequences [B, L] (start token first, pad after eos), per-row summed log-probs of the
    chosen tokens under the processed scores, and the smallest top-1/top-2 logit gap of a free choice."""
    b = enc.shape[0]
    ids = torch.full((b, 1), o.start, dtype=torch.long)
    unfinished = torch.ones(b, dtype=torch.bool)
    sums = torch.zeros(b, dtype=torch.float64)
    margin = float("inf")
    while True:
        cur_len = ids.shape[1]
        scores = process(model.decode(ids, enc, enc_mask)[:, -1, :], cur_len, o)
        top2 = torch.topk(scores, 2).values
        free = unfinished & torch.isfinite(top2[:, 1])
        if free.any():
            margin = min(margin, float((top2[free, 0] - top2[free, 1]).min()))
        nxt = scores.argmax(-1)
        logp = torch.log_softmax(scores, -1).gather(1, nxt[:, None])[:, 0]
        sums += torch.where(unfinished, logp, torch.zeros_like(logp))
        nxt = torch.where(unfinished, nxt, torch.full_like(nxt, o.pad))
        ids = torch.cat([ids, nxt[:, None]], 1)
        unfinished &= ~((nxt == o.eos) | (ids.shape[1] >= o.max_length))
        if not unfinished.any():
            return ids, sums, margin


def gather(t, idx):
    """t [B, K, ...] gathered along dim 1 with idx [B, N]."""
    return t[torch.arange(t.shape[0])[:, None], idx]


def beam_search(model, enc, enc_mask, o):
    """Returns sequences [B*num_return_sequences, L] (best first per input, padded with pad),
    their length-penalised scores, and the smallest gap between adjacent ranked candidates
    (how far float32 rounding stays from reordering them)."""
    b, nb, lp, prompt_len = enc.shape[0], o.num_beams, o.length_penalty, 1
    enc, enc_mask = enc.repeat_interleave(nb, 0), enc_mask.repeat_interleave(nb, 0)
    keep = max(2, 1 + 1) * nb  # one eos id
    running = torch.full((b, nb, o.max_length), o.pad, dtype=torch.long)
    running[:, :, 0] = o.start
    running_scores = torch.zeros(b, nb, dtype=torch.float64)
    running_scores[:, 1:] = NEG
    done_seqs = torch.full((b, nb, o.max_length), o.pad, dtype=torch.long)
    done_scores = torch.full((b, nb), NEG, dtype=torch.float64)
    done_lens = torch.zeros(b, nb, dtype=torch.long)
    finished = torch.zeros(b, nb, dtype=torch.bool)
    unsatisfied = torch.ones(b, 1, dtype=torch.bool)
    top_mask = torch.cat([torch.ones(nb, dtype=torch.bool), torch.zeros(keep - nb, dtype=torch.bool)])
    cur_len, gap = 1, float("inf")
    while True:
        flat = running[:, :, :cur_len].reshape(b * nb, cur_len)
        logits = model.decode(flat, enc, enc_mask)[:, -1, :]
        v = logits.shape[-1]
        log_probs = process(torch.log_softmax(logits, -1), cur_len, o)
        log_probs = (log_probs + running_scores.reshape(b * nb, 1)).reshape(b, nb * v)
        top, idx = torch.topk(log_probs, keep)
        real = top > NEG / 2  # finite candidates from live beams
        both = real[:, :-1] & real[:, 1:]
        if both.any():
            gap = min(gap, float((top[:, :-1] - top[:, 1:])[both].min()))
        cand = gather(running, idx // v)
        cand[:, :, cur_len] = idx % v
        hits = (cand[:, :, cur_len] == o.eos) | (cur_len + 1 >= o.max_length)
        # Finished hypotheses: only the top num_beams candidates may finish.
        just = hits & top_mask[None]
        fin_scores = top / float(cur_len + 1 - prompt_len) ** lp
        full = finished.all(-1, keepdim=True) & (o.early_stopping is True)
        fin_scores = fin_scores + full.double() * NEG + (~unsatisfied).double() * NEG + (~just).double() * NEG
        m_scores = torch.cat([done_scores, fin_scores], 1)
        pick = torch.topk(m_scores, nb).indices
        done_seqs = gather(torch.cat([done_seqs, cand], 1), pick)
        done_scores = gather(m_scores, pick)
        done_lens = gather(torch.cat([done_lens, torch.full_like(idx, cur_len + 1 - prompt_len)], 1), pick)
        finished = gather(torch.cat([finished, just], 1), pick)
        # Running beams: the best num_beams candidates that did not stop.
        r_scores = top + hits.double() * NEG
        pick = torch.topk(r_scores, nb).indices
        running, running_scores = gather(cand, pick), gather(r_scores, pick)
        cur_len += 1
        best_len = (o.max_length if (o.early_stopping == "never" and lp > 0) else cur_len) - prompt_len
        best_running = running_scores[:, :1] / float(best_len) ** lp
        worst = torch.where(finished, done_scores.min(1, keepdim=True).values, torch.full_like(done_scores, NEG))
        unsatisfied = unsatisfied & (best_running > worst).any(-1, keepdim=True)
        open_beam = not (bool(finished.all()) and o.early_stopping is True)
        if not (bool(unsatisfied.any()) and open_beam and not bool(hits.all())):
            break
    n = o.num_return_sequences
    seqs = done_seqs[:, :n].reshape(b * n, o.max_length)
    lens = done_lens[:, :n].reshape(b * n)
    return seqs[:, : prompt_len + int(lens.max())], done_scores[:, :n].reshape(b * n), gap
