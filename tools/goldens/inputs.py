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


# --- Character offsets per token (for the attack goldens' word spans; additive, the goldens above
# do not use it). Same tokenization as encode_item, over any ASCII text without tabs or newlines:
# WordPiece splits lowercase letter runs and single other characters (BertPreTokenizer on
# lowercase text); byte-level BPE uses GPT-2's split pattern restricted to ASCII, and offsets are
# trimmed of the pieces' leading and trailing spaces as the ByteLevel post-processor's
# trim_offsets does. Offsets are [start, end) into the token's own text; None for special tokens.

BPE_SPLIT = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+")


def _wordpiece_words(text):
    if not re.fullmatch(r"[ -~]*", text) or text != text.lower():
        raise ValueError(f"WordPiece golden texts are lowercase printable ASCII: {text!r}")
    return [(m.start(), m.group()) for m in re.finditer(r"[a-z0-9]+|[^a-z0-9\s]", text)]


def _bpe_words(text):
    if not re.fullmatch(r"[ -~]*", text):
        raise ValueError(f"BPE golden texts are printable ASCII: {text!r}")
    return [(m.start(), m.group()) for m in BPE_SPLIT.finditer(text)]


def _trimmed(piece, start):
    """ByteLevel trim_offsets: drop leading and trailing spaces (Ġ) from a piece's span."""
    end = start + len(piece)
    lead = len(piece) - len(piece.lstrip(SPACE))
    trail = len(piece) - len(piece.rstrip(SPACE))
    s = min(start + lead, end) if lead else start
    e = max(end - trail, s) if trail else end
    return [s, e]


def encode_with_offsets(texts, model):
    """encode_item's fields plus `offsets` (per token, [start, end) in its text, None for specials)."""
    bpe_model = model["type"] == "BPE"
    vocab = model["vocab"]
    ranks = merge_ranks(model) if bpe_model else None
    cls, sep = ("<s>", "</s>") if bpe_model else ("[CLS]", "[SEP]")
    tokens, types, seq_ids, word_ids, offsets = [cls], [0], [None], [None], [None]

    def special(token, s):
        tokens.append(token)
        types.append(0 if bpe_model else s)
        seq_ids.append(None)
        word_ids.append(None)
        offsets.append(None)

    for s, text in enumerate(texts):
        if s == 1 and bpe_model:
            special(sep, s)
        for w, (start, word) in enumerate(_bpe_words(text) if bpe_model else _wordpiece_words(text)):
            if bpe_model:
                pieces, spans, at = [], [], start
                for piece in bpe(word.replace(" ", SPACE), ranks):
                    pieces.append(piece)
                    spans.append(_trimmed(piece, at))
                    at += len(piece)
            else:
                pieces = wordpiece(word, vocab)
                spans, at = [], start
                for piece in pieces:
                    n = len(word) if piece == "[UNK]" else len(piece.removeprefix("##"))
                    spans.append([at, at + n])
                    at += n
            for piece, span in zip(pieces, spans):
                tokens.append(piece)
                types.append(0 if bpe_model else s)
                seq_ids.append(s)
                word_ids.append(w)
                offsets.append(span)
        special(sep, s)
    missing = [t for t in tokens if t not in vocab]
    if missing:
        raise ValueError(f"pieces missing from the vocabulary: {missing}")
    return {"texts": list(texts), "tokens": tokens, "ids": [vocab[t] for t in tokens], "token_type_ids": types,
            "sequence_ids": seq_ids, "word_ids": word_ids, "offsets": offsets}
