"""Gradient goldens for SPEC §7 explanations, by autograd with the word embeddings as the leaf.

Each item is explained alone (batch of one, no padding): with padding, a real token's gradient
is the same and padding rows are exactly zero, because masked keys get probability exactly 0.
"""
import torch

from encoders import forward, family_and_head
from inputs import word_text
from jsonio import num, tensor

IG_STEPS = 10
SMOOTH_SAMPLES = 2
SMOOTH_NOISE = 0.01
MAX_ANSWER_LEN = 128


def item_batch(item):
    ids = torch.tensor([item["ids"]])
    return ids, torch.ones_like(ids), torch.tensor([item["token_type_ids"]])


def choose_target(head, outputs, item):
    """The target as a function of the outputs, fixed once from the real input's prediction."""
    if head == "sequence-classification":
        label = int(outputs["logits"][0].argmax())
        return (lambda o: o["logits"][0, label]), {"kind": "label", "label": label}
    if head == "question-answering":
        start, end = outputs["start_logits"][0], outputs["end_logits"][0]
        context = [i for i, s in enumerate(item["sequence_ids"]) if s == 1]
        best = max(((a, b) for a in context for b in context if a <= b < a + MAX_ANSWER_LEN),
                   key=lambda ab: float(start[ab[0]] + end[ab[1]]))
        a, b = best
        return (lambda o: o["start_logits"][0, a] + o["end_logits"][0, b]), {"kind": "span", "start": a, "end": b}
    raise ValueError(f"no explanation target for head {head}")


def gradients_at(w, item, embeds, target):
    ids, mask, types = item_batch(item)
    leaf = embeds.detach().clone().requires_grad_(True)
    run = forward(w, ids, mask, types, inputs_embeds=leaf[None], keep_grads=True)
    value = target(run.outputs)
    value.backward()
    return value.item(), leaf.grad, [p.grad[0] for p in run.attentions], run


def segment_names(head, pair):
    """SQuARE's names (SPEC §7): QA pairs are [question, context]; sequence-classification pairs
    [context, question] (its multiple-choice skills send that order); a single text is context."""
    if not pair:
        return ("context", "context")
    return ("question", "context") if head == "question-answering" else ("context", "question")


def word_scores(item, token_values, head):
    """|v| per token, summed over each word's pieces (specials dropped), divided by the item's total."""
    names = segment_names(head, len(item["texts"]) == 2)
    words = {}
    for t, (s, wid) in enumerate(zip(item["sequence_ids"], item["word_ids"])):
        if s is None:
            continue
        key = (s, wid)
        text = word_text(item["tokens"][t])
        if key in words:
            words[key][1] += text
            words[key][2] += abs(float(token_values[t]))
        else:
            words[key] = [names[s], text, abs(float(token_values[t]))]
    total = sum(v[2] for v in words.values())
    if total == 0:
        return None  # every token value is exactly zero: no scores to normalise (see notes)
    return [[seg, wid, text, num(score / total)] for (s, wid), (seg, text, score) in words.items()]


def explain_item(w, item, seed):
    _, head = family_and_head(w.config)
    table = w("embeddings.word_embeddings.weight")
    embeds = table[torch.tensor(item["ids"])]
    ids, mask, types = item_batch(item)
    target, target_info = choose_target(head, forward(w, ids, mask, types).outputs, item)

    value, grad, attn_grads, run = gradients_at(w, item, embeds, target)
    target_info["value"] = num(value)

    alphas = [k / IG_STEPS for k in range(1, IG_STEPS + 1)]
    ig_mean = sum(gradients_at(w, item, a * embeds, target)[1] for a in alphas) / IG_STEPS

    sigma = SMOOTH_NOISE * float(embeds.max() - embeds.min())
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn((SMOOTH_SAMPLES, *embeds.shape), generator=generator, dtype=torch.float64) * sigma
    smooth_grads = torch.stack([gradients_at(w, item, embeds + n, target)[1] for n in noise])

    last = run.attentions[-1][0].detach()  # [NH, S, S]
    attention = last[:, 0, :].mean(0)
    scaled = attention * attn_grads[-1][:, 0, :].mean(0)
    scaled_all_queries = (last * attn_grads[-1]).sum(1).mean(0)

    token_values = {
        "simple_grads": (grad * embeds).sum(-1),
        "integrated_grads": (ig_mean * embeds).sum(-1),
        "smooth_grads_two_samples": (smooth_grads.mean(0) * embeds).sum(-1),
        "attention": attention,
        "scaled_attention": scaled,
        "scaled_attention_all_queries": scaled_all_queries,
    }
    return {
        "texts": item["texts"],
        "tokens": item["tokens"],
        "input_ids": item["ids"],
        "token_type_ids": item["token_type_ids"],
        "sequence_ids": item["sequence_ids"],
        "word_ids": item["word_ids"],
        "target": target_info,
        "grad_inputs_embeds": tensor(grad),
        "grad_attentions": [tensor(g) for g in attn_grads],
        "integrated_grads": {"steps": IG_STEPS, "alphas": alphas, "mean_gradient": tensor(ig_mean)},
        "smooth_grads": {"sigma": num(sigma), "noise": tensor(noise), "gradients": tensor(smooth_grads)},
        "token_values": {k: tensor(v) for k, v in token_values.items()},
        "word_scores": {k: word_scores(item, v, head) for k, v in token_values.items()},
    }


NOTES = (
    "Autograd in float64 on the fixture's weights (tools/goldens/encoders.py), each item alone (batch of one). "
    "Leaf inputs_embeds = word_embeddings[input_ids] [S, H]; position and token-type embeddings are added after it. "
    "Target: sequence classification: logits[label], label = argmax of the real input's logits; "
    "QA: start_logits[a] + end_logits[b], (a, b) maximising that sum over context tokens (sequence id 1, no specials), "
    "a <= b < a + 128, null answer excluded. The target (label or span) stays fixed for every gradient below. "
    "grad_attentions[l] = d target / d softmax probabilities of layer l, [NH, S, S]. "
    "Token values before word scoring: simple_grads[t] = sum_h grad_inputs_embeds[t,h] * E[t,h]. "
    "integrated_grads: right Riemann sum, points alpha_k = k/steps for k = 1..steps (steps 10) on the straight path "
    "alpha * E from a zero embedding (every token, specials included); mean_gradient = mean_k grad at alpha_k * E; "
    "value[t] = sum_h mean_gradient[t,h] * E[t,h]. "
    "smooth_grads: sigma = 0.01 * (max - min of E over the item); the two stored noise tensors are added to E and "
    "gradients[k] is the gradient at E + noise[k]; smooth_grads_two_samples[t] = sum_h mean_k gradients[k][t,h] * E[t,h] "
    "(dotted with the noise-free embedding, like simple_grads). "
    "attention[t] = mean over heads of the last layer's probabilities from token 0 to t. "
    "scaled_attention[t] = attention[t] * mean over heads of d target / d P_last[head, 0, t] "
    "(mean or sum over heads of the gradient gives the same word scores after normalisation). "
    "For QA this is exactly zero: start/end logits at a, b >= 1 read only last-layer rows a and b, never row 0, so "
    "d target / d P_last[:, 0, :] = 0 and its word scores are null. Not in SPEC, given as one possible "
    "non-degenerate alternative: scaled_attention_all_queries[t] = mean over heads of sum over query rows i of "
    "P_last[head, i, t] * d target / d P_last[head, i, t]. "
    "Word scores: |value| per token, summed over each word's pieces, special tokens dropped, divided by the item's "
    "total; entries [segment, word_id, word, score] in token order; segment names as SQuARE gives them: for QA pairs "
    "'question' (first text) and 'context' (second), for sequence-classification pairs 'context' (first text) and "
    "'question' (second), 'context' for a single text; word_id counted from 0 in each text."
)
