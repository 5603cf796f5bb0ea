"""The fixed inputs of the goldens, tokenized here (not by the server's tokenizer) so the golden
files carry exact token ids, masks, type ids and word ids for the Node tests to feed (the Node
tests also check that the server's tokenizer gives the same ids).

WordPiece fixtures (BERT, DistilBERT): lowercase words and punctuation marks are split apart,
each word greedily into its longest vocabulary prefix, then `##` pieces; `[CLS] A [SEP] (B [SEP])`.
Byte-level BPE fixtures (RoBERTa): bpe.py; `<s> A </s> (</s> B </s>)`, type ids all 0.
The texts use only lowercase ASCII letters, spaces and `?`, so no normalizer is needed.
"""
import json
import os
import re

from bpe import SPACE, bpe, merge_ranks, pre_tokenize

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


def load_tokenizer_model(folder):
    with open(os.path.join(folder, "tokenizer.json")) as f:
        return json.load(f)["model"]


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


def encode_wordpiece(texts, vocab):
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


def encode_bpe(texts, model):
    """<s> A </s> (</s> B </s>); word ids count each text's pre-tokenized words from 0."""
    vocab, ranks = model["vocab"], merge_ranks(model)
    tokens, seq_ids, word_ids = ["<s>"], [None], [None]
    for s, text in enumerate(texts):
        if s == 1:
            tokens.append("</s>")
            seq_ids.append(None)
            word_ids.append(None)
        for w, word in enumerate(pre_tokenize(text)):
            for piece in bpe(word, ranks):
                tokens.append(piece)
                seq_ids.append(s)
                word_ids.append(w)
        tokens.append("</s>")
        seq_ids.append(None)
        word_ids.append(None)
    missing = [t for t in tokens if t not in vocab]
    if missing:
        raise ValueError(f"BPE pieces missing from the vocabulary: {missing}")
    return {"texts": texts, "tokens": tokens, "ids": [vocab[t] for t in tokens], "token_type_ids": [0] * len(tokens),
            "sequence_ids": seq_ids, "word_ids": word_ids}


def word_text(token):
    """A piece's contribution to its word's text."""
    return token.removeprefix("##").removeprefix(SPACE)


def encode_item(texts, model):
    return encode_bpe(texts, model) if model["type"] == "BPE" else encode_wordpiece(texts, model["vocab"])


def encode_batch(head, folder, pad_id=0):
    """The head's two items, right-padded to the longest: per-item details and batch tensors."""
    model = load_tokenizer_model(folder)
    items = [encode_item(t, model) for t in TEXTS.get(head, TEXTS["default"])]
    S = max(len(i["ids"]) for i in items)
    pad = lambda row, value: row + [value] * (S - len(row))
    return items, {
        "input_ids": [pad(i["ids"], pad_id) for i in items],
        "attention_mask": [pad([1] * len(i["ids"]), 0) for i in items],
        "token_type_ids": [pad(i["token_type_ids"], 0) for i in items],
    }
