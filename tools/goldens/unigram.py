"""SentencePiece-Unigram tokenization (T5 style) over a fixture's tokenizer.json, for the golden inputs.

Written from the format's definition, not from the `tokenizers` code: the Replace normalizer
(runs of spaces -> one space), the Metaspace pre-tokenizer (spaces become U+2581, one is prepended
unless the text starts with it, and the text is split before each U+2581), then per word the
Viterbi segmentation that maximises the sum of piece scores (a character no piece covers is
<unk> with score min_score - 10, adjacent unknowns fused), and the template `$A </s>`.
"""
import json
import re

SPACE = "\u2581"


class Unigram:
    def __init__(self, tokenizer_json_path):
        with open(tokenizer_json_path) as f:
            spec = json.load(f)
        model = spec["model"]
        assert model["type"] == "Unigram"
        self.pieces = [p for p, _ in model["vocab"]]
        self.scores = [s for _, s in model["vocab"]]
        self.ids = {p: i for i, p in enumerate(self.pieces)}
        self.unk_id = model["unk_id"]
        self.unk_score = min(self.scores) - 10.0
        self.max_len = max(len(p) for p in self.pieces)
        self.eos_id = self.ids["</s>"]
        norm = spec.get("normalizer")
        self.collapse_spaces = bool(norm) and norm["type"] == "Replace"

    def words(self, text):
        if self.collapse_spaces:
            text = re.sub(" {2,}", " ", text)
        text = text.replace(" ", SPACE)
        if not text.startswith(SPACE):
            text = SPACE + text
        return [SPACE + w for w in text.split(SPACE)[1:]] if text else []

    def segment(self, word):
        n = len(word)
        best = [(-float("inf"), None, None)] * (n + 1)  # (score, start, id)
        best[0] = (0.0, None, None)
        for end in range(1, n + 1):
            for start in range(max(0, end - self.max_len), end):
                if best[start][0] == -float("inf"):
                    continue
                piece = word[start:end]
                if piece in self.ids:
                    cand = best[start][0] + self.scores[self.ids[piece]]
                elif end - start == 1:
                    cand = best[start][0] + self.unk_score
                else:
                    continue
                if cand > best[end][0]:
                    best[end] = (cand, start, self.ids.get(piece, self.unk_id))
        out, end = [], n
        while end > 0:
            _, start, tid = best[end]
            out.append(tid)
            end = start
        out.reverse()
        fused = []
        for tid in out:
            if not (tid == self.unk_id and fused and fused[-1] == self.unk_id):
                fused.append(tid)
        return fused

    def encode(self, text):
        ids = [tid for w in self.words(text) for tid in self.segment(w)]
        return ids + [self.eos_id]

    def tokens(self, ids):
        return [self.pieces[i] for i in ids]
