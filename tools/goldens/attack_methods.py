"""The four attacks of docs/attacks.md on one item, over attack_model.Fixture.

Each returns the golden's `expected` object; `decision_margins` lists every discrete choice made
(saliency ranks, vocabulary argmax, window choice, each variant's prediction) with the gap between
the chosen option and the next best, absolute and relative to the larger of the two scores.
"""
import re

import torch

from attack_model import QA, relative
from jsonio import num

MAX_REFUSED = 20


class Margins(list):
    def add(self, decision, kind, chosen, runner_up):
        gap = float(chosen) - float(runner_up)
        self.add_gap(decision, kind, gap, relative(gap, chosen, runner_up))

    def add_gap(self, decision, kind, gap, rel):
        """A gap of None: the choice had a single option (no runner-up)."""
        if gap is None:
            self.append({"decision": decision, "kind": kind, "gap": None, "relative": None})
        else:
            self.append({"decision": decision, "kind": kind, "gap": num(gap, 4), "relative": num(rel, 4)})


def remove_span(text, start, end):
    left, right = text[:start], text[end:]
    if (left == "" or left[-1].isspace()) and (right == "" or right[0].isspace()):
        left = left.rstrip()
        if left == "":
            right = right.lstrip()
    return left + right


def with_segment(texts, segment, text):
    out = list(texts)
    out[segment] = text
    return out


def ranked(words, scores, segment):
    """Words by saliency, descending, ties to the lower index."""
    return sorted(words, key=lambda w: (-scores[(segment, w["index"])], w["index"]))


def rank_margins(margins, order, scores, segment, count, label):
    """Gaps between consecutive ranks 1..count (and count vs count + 1 when there is one)."""
    for i in range(min(count, len(order) - 1)):
        a, b = (scores[(segment, order[j]["index"])] for j in (i, i + 1))
        margins.add(f"{label}: rank {i + 1} vs {i + 2}", "saliency", a, b)


class Run:
    """Shared bookkeeping: variants, their predictions, margins."""

    def __init__(self, fx, texts, saliency_method):
        self.fx, self.texts, self.method = fx, list(texts), saliency_method
        self.ctx, self.q = fx.segments(texts)
        self.margins = Margins()
        self.variants, self.predictions = [], []
        self.original = self.add_variant(self.texts)

    def add_variant(self, texts):
        enc = self.fx.encode(texts)
        pred = self.fx.predict(enc)
        n = len(self.variants)
        self.margins.add_gap(f"variant {n} prediction", "prediction", *pred["margin"])
        self.variants.append({"question": None if self.q is None else texts[self.q], "context": texts[self.ctx]})
        self.predictions.append(pred["value"])
        return {"texts": list(texts), "enc": enc, "pred": pred}

    def expected(self, indices, **extra):
        return {"variants": self.variants, "indices": indices, "predictions": self.predictions, **extra,
                "decision_margins": self.margins}


def hotflip(fx, texts, max_flips, include_answer=False, saliency_method="simple_grads"):
    run = Run(fx, texts, saliency_method)
    orig = run.original
    scores = fx.saliency(orig["enc"], orig["pred"], saliency_method)
    words = fx.words(orig["enc"], run.ctx)
    answer = orig["pred"]["value"] if fx.head == QA and not include_answer else None
    eligible = [w for w in words if len(w["tokens"]) == 1 and re.search(r"[A-Za-z]", w["text"])
                and not (answer and w["start"] < answer[1] and w["end"] > answer[0])]
    order = ranked(eligible, scores, run.ctx)
    rank_margins(run.margins, order, scores, run.ctx, max_flips, "flip positions")
    current, used, flips, indices = orig, set(), [], []
    for position in order[:max_flips]:
        enc = current["enc"]
        now = fx.words(enc, run.ctx)[position["index"]]  # earlier flips may have moved its characters
        if now["text"] != position["text"]:
            raise AssertionError(f"word {position['index']} is {now['text']!r}, was {position['text']!r}")
        t = now["tokens"][0]
        loss, grad = fx.loss_and_grad(enc, orig["pred"])
        cur_id = enc["ids"][t]
        g = grad[t]
        estimates = fx.table @ g - fx.table[cur_id] @ g
        mask = fx.candidate_mask(fx.id_to_token[cur_id].startswith("\u0120"))
        mask[cur_id] = False
        for u in used:
            mask[u] = False
        ids = [i for i in torch.nonzero(mask).flatten().tolist()]
        ids.sort(key=lambda i: (-float(estimates[i]), i))
        refused = 0
        for rank, k in enumerate(ids):
            word = fx.surface(fx.id_to_token[k])
            context = current["texts"][run.ctx]
            new_texts = with_segment(current["texts"], run.ctx, context[:now["start"]] + word + context[now["end"]:])
            new_enc = fx.encode(new_texts)
            if new_enc["ids"] == enc["ids"][:t] + [k] + enc["ids"][t + 1:]:
                label = f"flip of word {position['index']}: vocabulary argmax"
                if rank + 1 < len(ids):
                    following = float(estimates[ids[rank + 1]])
                    run.margins.add(label, "vocabulary", estimates[k], following)
                else:
                    following = None
                    run.margins.add_gap(label, "vocabulary", None, None)
                current = run.add_variant(new_texts)
                new_loss, _ = fx.loss_and_grad(current["enc"], orig["pred"])
                used.add(k)
                indices.append(position["index"])
                flips.append({"index": position["index"], "from_id": cur_id, "to_id": k, "from": position["text"], "to": word,
                              "estimated_loss_change": num(estimates[k]), "loss_change": num(new_loss - loss),
                              "runner_up_margin": None if following is None else num(float(estimates[k]) - following, 4),
                              "refused": refused})
                break
            refused += 1
            if refused == MAX_REFUSED:
                if rank + 1 < len(ids):
                    run.margins.add(f"word {position['index']} skipped: 20th vs 21st candidate", "vocabulary",
                                    estimates[k], estimates[ids[rank + 1]])
                break
    return run.expected(indices, flips=flips)


def input_reduction(fx, texts, max_reductions, saliency_method="simple_grads"):
    run = Run(fx, texts, saliency_method)
    segment = run.q if run.q is not None else run.ctx
    current, original_index, removed = run.original, None, []
    changed = False
    while True:
        words = fx.words(current["enc"], segment)
        if original_index is None:
            original_index = [w["index"] for w in words]
        if len(words) <= 1 or len(removed) == max_reductions:
            break
        scores = fx.saliency(current["enc"], current["pred"], saliency_method)
        order = sorted(words, key=lambda w: (scores[(segment, w["index"])], w["index"]))
        least = order[0]
        run.margins.add(f"reduction {len(removed) + 1}: least salient word", "saliency",
                        scores[(segment, order[1]["index"])], scores[(segment, least["index"])])
        text = remove_span(current["texts"][segment], least["start"], least["end"])
        removed.append(original_index.pop(least["index"]))
        current = run.add_variant(with_segment(current["texts"], segment, text))
        left = [w["text"] for w in fx.words(current["enc"], segment)]
        if left != [w["text"] for w in words if w is not least]:
            raise AssertionError(f"removing {least['text']!r} changed the other words: {left}")
        if current["pred"]["value"] != run.original["pred"]["value"]:
            changed = True
            break
    return run.expected(removed, prediction_changed=changed)


def sub_span(fx, texts, max_tokens, saliency_method="simple_grads"):
    run = Run(fx, texts, saliency_method)
    orig = run.original
    scores = fx.saliency(orig["enc"], orig["pred"], saliency_method)
    words = fx.words(orig["enc"], run.ctx)
    w = min(max_tokens, len(words))
    sums = [sum(scores[(run.ctx, words[i + j]["index"])] for j in range(w)) for i in range(len(words) - w + 1)]
    order = sorted(range(len(sums)), key=lambda i: (-sums[i], i))
    first = order[0]
    if len(order) > 1:
        run.margins.add("window choice", "window", sums[first], sums[order[1]])
    context = orig["texts"][run.ctx]
    window = context[words[first]["start"]:words[first + w - 1]["end"]]
    run.add_variant(with_segment(orig["texts"], run.ctx, window))
    return run.expected([words[first + j]["index"] for j in range(w)])


def topk_tokens(fx, texts, max_tokens, saliency_method="simple_grads"):
    run = Run(fx, texts, saliency_method)
    orig = run.original
    scores = fx.saliency(orig["enc"], orig["pred"], saliency_method)
    words = fx.words(orig["enc"], run.ctx)
    k = min(max_tokens, len(words))
    order = ranked(words, scores, run.ctx)
    rank_margins(run.margins, order, scores, run.ctx, k, "top words")
    for j in range(1, k + 1):
        chosen = sorted(order[:j], key=lambda w: w["index"])
        run.add_variant(with_segment(orig["texts"], run.ctx, " ".join(w["text"] for w in chosen)))
    return run.expected([w["index"] for w in order[:k]])


METHODS = {"hotflip": hotflip, "input_reduction": input_reduction, "sub_span": sub_span, "topk_tokens": topk_tokens}
