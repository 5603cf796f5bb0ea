"""Byte-level BPE (RoBERTa / GPT-2 style) over a fixture's tokenizer.json, for the golden inputs.

Pre-tokenization as the ByteLevel pre-tokenizer does for the golden texts (lowercase letters and
punctuation separated by single spaces, add_prefix_space false): words keep their leading space,
which becomes `Ġ` (the byte-to-unicode image of 0x20). Then the standard BPE loop: merge the
adjacent pair with the lowest merge rank until none applies.
"""
import re

SPACE = "\u0120"  # Ġ


def pre_tokenize(text):
    return [w.replace(" ", SPACE) for w in re.findall(r" ?[a-z]+| ?[^\sa-z]+", text)]


def bpe(word, ranks):
    parts = list(word)
    while len(parts) > 1:
        pairs = [(ranks.get((a, b)), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
        best = min((r for r, _ in pairs if r is not None), default=None)
        if best is None:
            break
        merged, i = [], 0
        while i < len(parts):
            if i + 1 < len(parts) and ranks.get((parts[i], parts[i + 1])) == best:
                merged.append(parts[i] + parts[i + 1])
                i += 2
            else:
                merged.append(parts[i])
                i += 1
        parts = merged
    return parts


def merge_ranks(model):
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return {pair: rank for rank, pair in enumerate(merges)}
