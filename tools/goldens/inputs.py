"""The fixed inputs of the goldens, tokenized here (not by the server's tokenizer) so the golden
files carry exact token ids, masks, type ids and word ids for the Node tests to feed.

BERT-style WordPiece over the fixture's own vocabulary: lowercase words and punctuation marks
are split apart, each word greedily into its longest vocabulary prefix, then `##` pieces. The
texts use only lowercase ASCII letters and `?`, so no normalizer is needed.
"""
import json
import os
import re

# Per head: a padded batch of two items of different lengths (item 0 the longer one).
TEXTS = {
    "question-answering": [
        ["where did they play?", "the children played in the garden"],
        ["who sings?", "the girl sings slowly"],
    ],
    "default": [
        ["is it good?", "the children played in the garden"],
        ["a great movie"],
    ],
}


def load_vocab(folder):
    with open(os.path.join(folder, "tokenizer.json")) as f:
        return json.load(f)["model"]["vocab"]


def wordpiece(word, vocab):
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:
            return ["[UNK]"]
        pieces.append(piece)
        start = end
    return pieces


def encode_item(texts, vocab):
    """[CLS] A [SEP] (B [SEP]): ids, type ids, sequence ids (None for specials) and word ids
    (restarting at 0 in each sequence, as the tokenizers library numbers them)."""
    tokens, types, seq_ids, word_ids = ["[CLS]"], [0], [None], [None]
    for s, text in enumerate(texts):
        for w, word in enumerate(re.findall(r"[a-z]+|[^a-z\s]", text)):
            for piece in wordpiece(word, vocab):
                tokens.append(piece)
                types.append(s)
                seq_ids.append(s)
                word_ids.append(w)
        tokens.append("[SEP]")
        types.append(s)
        seq_ids.append(None)
        word_ids.append(None)
    return {"texts": texts, "tokens": tokens, "ids": [vocab[t] for t in tokens], "token_type_ids": types,
            "sequence_ids": seq_ids, "word_ids": word_ids}


def encode_batch(head, folder, pad_id=0):
    """The head's two items, right-padded to the longest: per-item details and batch tensors."""
    vocab = load_vocab(folder)
    items = [encode_item(t, vocab) for t in TEXTS.get(head, TEXTS["default"])]
    S = max(len(i["ids"]) for i in items)
    pad = lambda row, value: row + [value] * (S - len(row))
    return items, {
        "input_ids": [pad(i["ids"], pad_id) for i in items],
        "attention_mask": [pad([1] * len(i["ids"]), 0) for i in items],
        "token_type_ids": [pad(i["token_type_ids"], 0) for i in items],
    }
