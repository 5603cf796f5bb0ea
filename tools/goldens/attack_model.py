"""What the attack goldens need from a fixture: tokenization with word spans, predictions, SPEC §7
saliency and the hotflip loss gradient, all in float64 on the fixture's weights (encoders.py).

Independent of the server: tokenization is inputs.py's own (WordPiece / byte-level BPE with
character offsets), the forward pass encoders.py's, gradients by autograd.
"""
import os
import re

import torch

from encoders import forward, family_and_head
from inputs import encode_with_offsets, load_tokenizer_model
from weights import Weights

QA = "question-answering"
STOPWORDS_FILE = os.path.join(os.path.dirname(__file__), "..", "..", "lib", "attacks", "english-stopwords.txt")


def relative(gap, a, b):
    """A gap relative to the larger magnitude of the two scores compared."""
    scale = max(abs(float(a)), abs(float(b)))
    return float(gap) / scale if scale > 0 else float("inf")


class Fixture:
    def __init__(self, folder, max_answer_len=128):
        self.w = Weights(folder)
        self.family, self.head = family_and_head(self.w.config)
        self.tokenizer = load_tokenizer_model(folder)
        self.bpe = self.tokenizer["type"] == "BPE"
        self.id_to_token = {i: t for t, i in self.tokenizer["vocab"].items()}
        self.table = self.w("embeddings.word_embeddings.weight")
        self.max_len = self.w.config["max_position_embeddings"] - (2 if self.family == "roberta" else 0)
        self.max_answer_len = max_answer_len

    # --- items and words -------------------------------------------------------------------------
    def segments(self, texts):
        """(context segment, question segment or None): QA [question, context]; classification
        pairs [context, question]; a single classification text is all context."""
        if self.head == QA:
            return 1, 0
        return (0, 1) if len(texts) == 2 else (0, None)

    def encode(self, texts):
        enc = encode_with_offsets(list(texts), self.tokenizer)
        if len(enc["ids"]) > self.max_len:
            raise ValueError(f"{texts!r}: {len(enc['ids'])} tokens, more than one window")
        return enc

    @staticmethod
    def words(enc, segment):
        """The segment's words: tokens grouped by word id, text = the slice their pieces cover."""
        groups = {}
        for t, (s, wid) in enumerate(zip(enc["sequence_ids"], enc["word_ids"])):
            if s == segment:
                groups.setdefault(wid, []).append(t)
        text = enc["texts"][segment]
        out = []
        for wid, tokens in groups.items():
            start, end = enc["offsets"][tokens[0]][0], enc["offsets"][tokens[-1]][1]
            if text[start:end].strip() == "":
                continue
            out.append({"index": len(out), "start": start, "end": end, "text": text[start:end], "tokens": tokens})
        return out

    # --- model runs ------------------------------------------------------------------------------
    def run(self, enc, embeds=None, keep_grads=False):
        ids = torch.tensor([enc["ids"]])
        return forward(self.w, ids, torch.ones_like(ids), torch.tensor([enc["token_type_ids"]]),
                       inputs_embeds=None if embeds is None else embeds[None], keep_grads=keep_grads)

    def predict(self, enc, outputs=None):
        """The prediction: classification the argmax label; QA the best non-null span as token
        indices (a, b) and character offsets in the context. With the runner-up gap."""
        outputs = outputs if outputs is not None else self.run(enc).outputs
        if self.head != QA:
            logits = outputs["logits"][0].detach()
            order = sorted(range(len(logits)), key=lambda i: (-float(logits[i]), i))
            top, second = float(logits[order[0]]), float(logits[order[1]])
            return {"label": order[0], "value": order[0], "margin": (top - second, relative(top - second, top, second))}
        start, end = outputs["start_logits"][0].detach(), outputs["end_logits"][0].detach()
        context = [t for t, s in enumerate(enc["sequence_ids"]) if s == 1]
        spans = sorted(((float(start[a] + end[b]), a, b) for a in context for b in context
                        if a <= b < a + self.max_answer_len), key=lambda x: (-x[0], x[1], x[2]))
        (best, a, b) = spans[0]
        null = float(start[0] + end[0])
        chars = [enc["offsets"][a][0], enc["offsets"][b][1]]
        margin = (best - spans[1][0], relative(best - spans[1][0], best, spans[1][0])) if len(spans) > 1 else (None, None)
        return {"span": (a, b), "value": chars, "score": best, "margin": margin,
                "null_gap": (best - null, relative(best - null, best, null))}

    def target(self, prediction):
        """SPEC §7 target of a prediction, as a function of the outputs."""
        if self.head != QA:
            label = prediction["label"]
            return lambda o: o["logits"][0, label]
        a, b = prediction["span"]
        return lambda o: o["start_logits"][0, a] + o["end_logits"][0, b]

    def embeds(self, enc):
        return self.table[torch.tensor(enc["ids"])]

    def saliency(self, enc, prediction, method):
        """Word scores of the whole item {(segment, word index): score}, SPEC §7: |token value|
        summed over each word's pieces, divided by the item's total (special tokens dropped)."""
        embeds = self.embeds(enc)
        if method == "simple_grads":
            leaf = embeds.clone().requires_grad_(True)
            self.target(prediction)(self.run(enc, leaf).outputs).backward()
            values = (leaf.grad * embeds).sum(-1)
        elif method == "attention":
            with torch.no_grad():
                values = self.run(enc).attentions[-1][0, :, 0, :].mean(0)
        else:
            raise ValueError(f"saliency method {method} is not in the attack goldens")
        scores = {}
        for segment in sorted({s for s in enc["sequence_ids"] if s is not None}):
            for word in self.words(enc, segment):
                scores[(segment, word["index"])] = sum(abs(float(values[t])) for t in word["tokens"])
        total = sum(scores.values())
        return {k: v / total for k, v in scores.items()}

    def loss_and_grad(self, enc, original):
        """hotflip's loss of the original prediction and its gradient w.r.t. the word embeddings."""
        leaf = self.embeds(enc).clone().requires_grad_(True)
        out = self.run(enc, leaf).outputs
        if self.head != QA:
            loss = -torch.log_softmax(out["logits"][0], -1)[original["label"]]
        else:
            a, b = original["span"]
            loss = -torch.log_softmax(out["start_logits"][0], -1)[a] - torch.log_softmax(out["end_logits"][0], -1)[b]
        loss.backward()
        return float(loss), leaf.grad.detach()

    # --- hotflip vocabulary ----------------------------------------------------------------------
    def surface(self, token):
        return token.removeprefix("\u0120") if self.bpe else token

    def candidate_mask(self, prefixed):
        """docs/attacks.md hotflip step 3, for replacing a token with (prefixed) or without a Ġ."""
        stop = {l.strip().lower() for l in open(STOPWORDS_FILE) if l.strip() and not l.startswith("#")}
        specials = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<s>", "<pad>", "</s>", "<unk>", "<mask>"}
        mask = torch.zeros(len(self.table), dtype=torch.bool)
        for i, token in self.id_to_token.items():
            word = self.surface(token)
            ok = token not in specials and re.fullmatch(r"[A-Za-z]{2,}", word) and word.lower() not in stop
            ok = ok and (token.startswith("\u0120") == prefixed if self.bpe else not token.startswith("##"))
            mask[i] = bool(ok)
        return mask
