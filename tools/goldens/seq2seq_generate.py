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


# ---------------------------------------------------------------------------------------------
# Sampling with fixed noise (multinomial sampling and beam sampling), shared by the decoder-only
# and the encoder-decoder goldens. Model-agnostic: `next_logits(rows)` takes equally long token
# lists (one prompt's sequences, decoded alone, no padding) and returns their last position's
# logits [N, V] in float64.
#
# The processors follow Hugging Face's definitions (transformers' logits_process.py, the order of
# `GenerationMixin._get_logits_processor`): RepetitionPenalty → NoRepeatNGram → MinLength →
# MinNewTokensLength → ForcedBOS → ForcedEOS, then only when sampling Temperature → TopK → TopP.
#
# Torch's `multinomial` draws from torch's global RNG, so its tokens cannot be replayed elsewhere;
# the goldens instead fix the uniforms and apply one inverse-CDF rule to HF's sampling
# distribution: the token is the first index (index order) whose running float64 sum of the
# softmax probabilities exceeds u × their total. Beam sampling draws its K = max(2, 1 + n_eos) ×
# num_beams candidates without replacement (the distribution of torch.multinomial with
# replacement=False): one uniform per candidate, each drawn with the same rule over the weights
# not drawn yet, kept in draw order (HF's `_get_top_k_continuations` does not sort them).
# ---------------------------------------------------------------------------------------------
import math  # noqa: E402
import random  # noqa: E402

INF = float("inf")


class SampleSpec:
    """HF generate kwargs of a sampling case plus the model's special tokens. `start_tokens` are
    what decoding starts from (the prompt ids, or [decoder_start_token_id]); their count is what
    MinNewTokens skips; max_length = that count + max_new_tokens (ForcedEOS fires at max_length - 1)."""

    def __init__(self, kwargs, eos, start_tokens, forced_bos=None, forced_eos=None):
        self.kwargs = kwargs
        self.eos = eos
        self.start_tokens = list(start_tokens)
        prompt_len = self.prompt_len = len(start_tokens)
        self.max_new = kwargs["max_new_tokens"]
        self.max_length = prompt_len + self.max_new
        self.forced_bos, self.forced_eos = forced_bos, forced_eos
        self.penalty = kwargs.get("repetition_penalty", 1.0)
        self.ngram = kwargs.get("no_repeat_ngram_size", 0)
        self.min_length = kwargs.get("min_length", 0)
        self.min_new = kwargs.get("min_new_tokens", 0)
        self.temperature = kwargs.get("temperature", 1.0)
        self.top_k = kwargs.get("top_k", 50)  # GenerationConfig's default
        self.top_p = kwargs.get("top_p", 1.0)
        self.num_beams = kwargs.get("num_beams", 1)
        # HF: beam methods keep at least one non-eos token (n_eos + 1, at least 2); plain sampling 1.
        self.min_keep = max(2, 1 + 1) if self.num_beams > 1 else 1


class Margins:
    """The smallest distances from a decision boundary seen over a case."""

    def __init__(self):
        self.sample = INF      # |u - nearest interior cumulative boundary| (probability units)
        self.top_k_gap = INF   # k-th largest minus (k+1)-th largest warped score at the top-k cut
        self.top_p_cum = INF   # |cumulative probability - (1 - top_p)| of the two tokens at the top-p cut
        self.top_p_gap = INF   # score gap between the last removed and the first kept token at the top-p cut
        self.rank = INF        # beam sampling: gaps between ranked candidate / hypothesis scores
        self.rejected = 0      # draws skipped because they fell within delta of a boundary

    def as_dict(self):
        r = lambda x: None if x == INF else float(f"{x:.4g}")
        out = {"sample": r(self.sample), "top_k_gap": r(self.top_k_gap), "top_p_cum": r(self.top_p_cum), "top_p_gap": r(self.top_p_gap)}
        if self.rank != INF:
            out["rank"] = r(self.rank)
        return out


def process_sampling(scores, tokens, spec, m):
    """One row [V] (float64) through HF's processors and warpers for `tokens` (the row's history)."""
    s = scores.clone()
    cur_len = len(tokens)
    eos = spec.eos
    if spec.penalty != 1.0:  # RepetitionPenaltyLogitsProcessor (gather, then scatter: once per distinct id)
        ids = torch.tensor(tokens)
        picked = torch.gather(s, 0, ids)
        picked = torch.where(picked < 0, picked * spec.penalty, picked / spec.penalty)
        s.scatter_(0, ids, picked)
    n = spec.ngram
    if n > 0 and cur_len + 1 >= n:  # NoRepeatNGramLogitsProcessor
        prefix = tuple(tokens[cur_len - n + 1:])
        for i in range(cur_len - n + 1):
            if tuple(tokens[i:i + n - 1]) == prefix:
                s[tokens[i + n - 1]] = -INF
    if spec.min_length > 0 and cur_len < spec.min_length:  # MinLengthLogitsProcessor
        s[eos] = -INF
    if spec.min_new > 0 and cur_len - spec.prompt_len < spec.min_new:  # MinNewTokensLengthLogitsProcessor
        s[eos] = -INF
    if spec.forced_bos is not None and cur_len == 1:  # ForcedBOSTokenLogitsProcessor
        s[:] = -INF
        s[spec.forced_bos] = 0.0
    if spec.forced_eos is not None and cur_len == spec.max_length - 1:  # ForcedEOSTokenLogitsProcessor
        s[:] = -INF
        s[spec.forced_eos] = 0.0
    if spec.temperature != 1.0:  # TemperatureLogitsWarper
        s = s / spec.temperature
    if spec.top_k != 0:  # TopKLogitsWarper: remove what is below the k-th largest (ties with it stay)
        k = min(max(spec.top_k, spec.min_keep), s.shape[-1])
        ranked = torch.sort(s, descending=True).values
        kth = ranked[k - 1]
        if k < s.shape[-1] and bool(torch.isfinite(ranked[k])):
            m.top_k_gap = min(m.top_k_gap, float(kth - ranked[k]))
        s = s.masked_fill(s < kth, -INF)
    if spec.top_p < 1.0:  # TopPLogitsWarper: ascending sort, remove cumulative prob <= 1 - top_p, keep min_keep
        sorted_s, order = torch.sort(s, descending=False, stable=True)
        cum = torch.softmax(sorted_s, dim=-1).cumsum(dim=-1)
        threshold = 1 - spec.top_p
        remove = cum <= threshold
        remove[-spec.min_keep:] = False
        r = int(remove.sum())
        assert bool(remove[:r].all()), "cumulative sums only grow"
        first_finite = int((~torch.isfinite(sorted_s)).sum())
        if r > first_finite:  # a finite token was removed: its cumulative sum was at most the threshold
            m.top_p_cum = min(m.top_p_cum, threshold - float(cum[r - 1]))
        if r < s.shape[-1] - spec.min_keep:  # the first kept token (not kept by min_keep alone)
            m.top_p_cum = min(m.top_p_cum, float(cum[r]) - threshold)
        if first_finite < r < s.shape[-1]:
            m.top_p_gap = min(m.top_p_gap, float(sorted_s[r] - sorted_s[r - 1]))
        s = s.masked_fill(remove.scatter(0, order, remove), -INF)
    return s


def sample_index(weights, u):
    """The documented rule (lib/generation/random.ts sampleIndex): the first index whose running sum
    (index order, float64) exceeds u × total; zero weights are never picked."""
    w = weights.tolist()
    total = 0.0
    for x in w:
        total += x
    target = u * total
    cum, last = 0.0, -1
    for i, x in enumerate(w):
        if x <= 0:
            continue
        cum += x
        last = i
        if cum > target:
            return i
    return last


def interior_boundaries(weights):
    """The cumulative boundaries (normalised) between consecutive tokens with mass: where a draw
    could flip from one token to the next. None when a single token holds all the mass."""
    w = weights.tolist()
    total = sum(w)
    cum, out = 0.0, []
    for x in w:
        if x > 0:
            cum += x
            out.append(cum / total)
    return out[:-1]


def draw(weights, rng, delta, m):
    """Next uniform from the seeded generator, skipping any within `delta` of an interior boundary."""
    bounds = interior_boundaries(weights)
    for _ in range(100_000):
        u = rng.random()
        gap = min((abs(u - b) for b in bounds), default=INF)
        if gap >= delta:
            m.sample = min(m.sample, gap)
            return u
        m.rejected += 1
    raise RuntimeError(f"no draw {delta} away from every boundary: no token holds {2 * delta} of the mass (sharpen the case)")


def probabilities(scores):
    """softmax in float64, zeros where the score is -inf."""
    return torch.softmax(scores, dim=-1)


def sample_sequence(next_logits, prompt, spec, rng, delta, m):
    """HF `_sample` with do_sample for one sequence of one prompt. Returns (new tokens incl. eos, draws)."""
    tokens, draws = list(prompt), []
    while True:
        scores = process_sampling(next_logits([tokens])[0], tokens, spec, m)
        weights = probabilities(scores)
        u = draw(weights, rng, delta, m)
        token = sample_index(weights, u)
        draws.append(u)
        tokens.append(token)
        if token == spec.eos or len(tokens) - len(prompt) >= spec.max_new:
            return tokens[len(prompt):], draws


def beam_sample(next_logits, prompt, spec, rng, delta, m):
    """HF's vectorized `_beam_search` with do_sample (transformers >= 4.50) for one prompt:
    log_softmax → processors and warpers (min_tokens_to_keep 2) → + running score; K candidates
    drawn without replacement from the softmax over all num_beams × V accumulated scores, in draw
    order; the rest as in deterministic beam search (only the first num_beams candidates may
    finish; the next running beams are the num_beams best non-finished ones; length-penalised
    finished pool; `_check_early_stop_heuristic`). Returns (hypotheses [(new tokens, score)] best
    first, num_return_sequences of them, and the draws)."""
    nb, lp = spec.num_beams, spec.kwargs.get("length_penalty", 1.0)
    early = spec.kwargs.get("early_stopping", False)
    nrs = spec.kwargs.get("num_return_sequences", 1)
    keep = max(2, 1 + 1) * nb  # one eos id
    plen = len(prompt)
    running = [(list(prompt), 0.0 if b == 0 else NEG) for b in range(nb)]
    pool = [(NEG, False, None)] * nb  # (score, finished, tokens)
    improvable, draws, generated = True, [], 0
    while True:
        logits = next_logits([t for t, _ in running])
        V = logits.shape[-1]
        acc = []
        for b, (tokens, score) in enumerate(running):
            row = process_sampling(torch.log_softmax(logits[b], dim=-1), tokens, spec, m)
            acc.append(row + score)
        acc = torch.cat(acc)
        weights = torch.exp(acc - acc.max())
        assert int((weights > 0).sum()) >= keep, "torch.multinomial would fail: fewer candidates with mass than K"
        picked = []
        for _ in range(keep):
            u = draw(weights, rng, delta, m)
            draws.append(u)
            i = sample_index(weights, u)
            picked.append(i)
            weights = weights.clone()
            weights[i] = 0.0
        last = generated + 1 >= spec.max_new
        cands = []
        for i in picked:
            b, v = divmod(i, V)
            cands.append({"tokens": running[b][0] + [v], "value": float(acc[i]), "hit": v == spec.eos or last})
        # next running beams: the nb best after pushing the hitting candidates down by 1e9
        run_scores = [c["value"] + (NEG if c["hit"] else 0.0) for c in cands]
        order = sorted(range(keep), key=lambda k: (-run_scores[k], k))
        ranked = [run_scores[k] for k in order if run_scores[k] > NEG / 2]
        m.rank = min([m.rank] + [ranked[i] - ranked[i + 1] for i in range(min(nb, len(ranked) - 1))])
        next_running = [(cands[k]["tokens"], run_scores[k]) for k in order[:nb]]
        # finished pool
        full = all(f for _, f, _ in pool)
        blocked = (NEG if (early is True and full) else 0.0) + (0.0 if improvable else NEG)
        penalty = (generated + 1) ** lp
        merged = list(pool) + [
            (c["value"] / penalty + blocked + (0.0 if (k < nb and c["hit"]) else NEG), k < nb and c["hit"], c["tokens"])
            for k, c in enumerate(cands)
        ]
        idx = sorted(range(len(merged)), key=lambda j: (-merged[j][0], j))
        live = [merged[j][0] for j in idx if merged[j][0] > NEG / 2]
        m.rank = min([m.rank] + [live[i] - live[i + 1] for i in range(min(nb, len(live) - 1))])
        pool = [merged[j] for j in idx[:nb]]
        running = next_running
        generated += 1
        hyp_len = spec.max_new if (early == "never" and lp > 0) else generated
        best_possible = running[0][1] / hyp_len ** lp
        worst = min(s for s, _, _ in pool)
        if improvable and any(f for _, f, _ in pool):
            m.rank = min(m.rank, abs(best_possible - worst))
        improvable = improvable and any(best_possible > (worst if f else NEG) for _, f, _ in pool)
        done = (not improvable) or (early is True and all(f for _, f, _ in pool)) or all(c["hit"] for c in cands)
        if done:
            hyps = [(t[plen:], s) for s, f, t in pool if f][:nrs]
            return hyps, draws


def sampling_case(next_logits, prompts, spec_for, kwargs, seed, delta, min_margin):
    """Runs one sampling case over `prompts` (each alone). Draws come from random.Random(seed);
    when a warper cut lands closer than `min_margin` to its boundary, the next seed is tried (the
    cut depends on the history the draws made). Returns the case's fields."""
    for attempt in range(200):
        rng = random.Random(seed + attempt)
        m = Margins()
        draws, generated, scores = [], [], []
        for prompt in prompts:
            spec = spec_for(prompt, kwargs)
            if kwargs.get("num_beams", 1) > 1:
                hyps, d = beam_sample(next_logits(prompt), spec.start_tokens, spec, rng, delta, m)
                draws.append([d])
                generated.append([h[0] for h in hyps])
                scores.append([float(f"{h[1]:.9g}") for h in hyps])
            else:
                per_prompt, per_draws = [], []
                for _ in range(kwargs.get("num_return_sequences", 1)):
                    g, d = sample_sequence(next_logits(prompt), spec.start_tokens, spec, rng, delta, m)
                    per_prompt.append(g)
                    per_draws.append(d)
                generated.append(per_prompt)
                draws.append(per_draws)
        cuts = [m.top_k_gap, m.top_p_cum, m.top_p_gap, m.rank]
        if min(cuts) >= min_margin:
            out = {"seed": seed + attempt, "draws": draws, "generated_ids": generated}
            if scores:
                out["sequences_scores"] = scores
            out["margins"] = m.as_dict()
            out["rejected_draws"] = m.rejected
            return out
    raise RuntimeError("no seed gave comfortable warper margins")
