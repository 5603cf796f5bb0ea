"""The attack golden cases: per head, the request (task_kwargs, attack_kwargs), a fixed list of
candidate items (the first that qualifies is used, see attacks.py) and what qualifies.

Texts use words of lib/fixtures/vocab.ts WORDS, lowercase, letters, single spaces and a final `?`
in questions only. Classification pairs are [context, question]; QA items [question, context].
"""
from attack_methods import hotflip
from attack_model import Fixture

SST_PAIRS = [
    ["the man went out to see the actor", "is it fun?"],
    ["the film had a boring plot and bad actors", "was it good?"],
    ["the children played a happy song in the garden", "did they like it?"],
    ["a slow and boring movie with a terrible plot", "is the movie good?"],
    ["the actor was amazing and the music was wonderful", "did you love the film?"],
    ["the coffee was cold and the food was bad", "is the cafe good?"],
    ["john and mary love the quick brown fox", "is it funny?"],
    ["the model can learn the language with a machine", "is it good?"],
    ["the girl sat on the mat with her dog", "is she happy?"],
    ["we went to paris to see the river", "was it fun?"],
]
SST_SINGLES = [
    "the movie was great fun",
    "a slow and boring film with bad actors",
    "the children love this wonderful song",
    "the man went out to see the quick fox",
    "an amazing plot with excellent actors",
    "the worst coffee in the city",
    "a terrible and sad story about a lazy dog",
    "the weather was cold and the food was poor",
    "the actor can learn the language today",
]
QA_ITEMS = [
    ["who went out with the model?", "the man went out with the model to learn the language today"],
    ["where did the children play?", "the children played in the garden with the dog"],
    ["who sings slowly?", "the young girl sings a song slowly"],
    ["where does john live?", "john and mary live in paris near the river"],
    ["what did the man see?", "the man saw a quick brown fox in the garden"],
    ["who went to london?", "peter and anna went to london with the actor today"],
    ["what is the idea?", "the idea is to learn the language with a machine"],
    ["when did they go?", "they went to berlin today and came back"],
    ["what did the girl drink?", "the girl had coffee and milk in the cafe"],
    ["who is the actor?", "the actor is a thin man with a slow voice"],
]


MIN_RELATIVE = 1e-3  # preferred margin; a case falls back to HARD_MIN_RELATIVE only if no candidate reaches it
HARD_MIN_RELATIVE = 1e-4


def min_relative(expected):
    values = [m["relative"] for m in expected["decision_margins"] if m["relative"] is not None]
    return min(values, default=float("inf"))


def any_item(fx, expected, item):
    return True, ""


def all_flipped(fx, expected, item):
    n = len(expected["flips"])
    return n == 3, f"{n} of 3 positions flipped"


def qa_hotflip_pair(fx, expected, item):
    """Both QA hotflip cases use one item: all three positions flip with and without
    include_answer, and the flipped words differ (an answer word is among them when included)."""
    ok, why = all_flipped(fx, expected, item)
    if not ok:
        return ok, why
    runs = [hotflip(fx, list(item), 3, include_answer=flag) for flag in (False, True)]
    if not all(len(r["flips"]) == 3 and min_relative(r) >= HARD_MIN_RELATIVE for r in runs):
        return False, "the other include_answer case does not flip 3 words with clear margins"
    if runs[0]["indices"] == runs[1]["indices"]:
        return False, "include_answer does not change the flipped words"
    return True, ""


def more_context_words(fx: Fixture, expected, item):
    texts = [item] if isinstance(item, str) else item
    enc = fx.encode(texts)
    n = len(fx.words(enc, fx.segments(texts)[0]))
    return n > 3, f"{n} context words"


def case(name, method, param, value, pool, requirement=any_item, saliency="simple_grads", task_kwargs=None, start=0, **extra):
    """A case whose candidates are the pool from `start` on, wrapping around (so that the cases of
    one fixture tend to use different items)."""
    return {"name": name, "attack_kwargs": {"method": method, "saliency_method": saliency, param: value, **extra},
            "task_kwargs": task_kwargs or {}, "candidates": pool[start:] + pool[:start], "requirement": requirement}


QA_TASK = {"show_null_answers": False}
CASES = {
    "sequence-classification": [
        case("hotflip_pair", "hotflip", "max_flips", 3, SST_PAIRS, all_flipped),
        case("hotflip_single", "hotflip", "max_flips", 3, SST_SINGLES, all_flipped),
        case("input_reduction_pair", "input_reduction", "max_reductions", 4, SST_PAIRS, start=1),
        case("input_reduction_single_attention", "input_reduction", "max_reductions", 4, SST_SINGLES, saliency="attention", start=1),
        case("sub_span_pair", "sub_span", "max_tokens", 3, SST_PAIRS, more_context_words, start=2),
        case("topk_tokens_single", "topk_tokens", "max_tokens", 3, SST_SINGLES, more_context_words, start=2),
    ],
    "question-answering": [
        case("hotflip_answer_protected", "hotflip", "max_flips", 3, QA_ITEMS, qa_hotflip_pair, task_kwargs=QA_TASK, include_answer=False),
        case("hotflip_include_answer", "hotflip", "max_flips", 3, QA_ITEMS, qa_hotflip_pair, task_kwargs=QA_TASK, include_answer=True),
        case("input_reduction", "input_reduction", "max_reductions", 4, QA_ITEMS, task_kwargs=QA_TASK, start=1),
        case("sub_span", "sub_span", "max_tokens", 3, QA_ITEMS, more_context_words, task_kwargs=QA_TASK, start=2),
        case("topk_tokens", "topk_tokens", "max_tokens", 3, QA_ITEMS, more_context_words, task_kwargs=QA_TASK, start=3),
    ],
}

COMMON = (
    "Float64 PyTorch reference of docs/attacks.md (tools/goldens/attacks.py with attack_model.py, attack_methods.py, "
    "attack_candidates.py) on the fixture's float32 weights, independent of the server: own WordPiece / byte-level BPE "
    "tokenization with character offsets (inputs.encode_with_offsets), forward pass encoders.py, gradients by autograd, "
    "every variant run alone (batch of one). Words: tokens grouped by (segment, word id), specials dropped; a word's text "
    "is the slice of its segment its pieces cover (BPE offsets trimmed of the leading space); index = position in its "
    "segment's word list. Saliency: SPEC 7 word scores against the current prediction, simple_grads = sum_h dT/de[t,h] * "
    "E[id_t,h], attention = last layer's attention probabilities from token 0 averaged over heads; |value| summed over a "
    "word's pieces and divided by the total over all words of the item (both segments). "
    "hotflip: positions = context words of one token containing a letter{answer_rule}, ordered by saliency of the "
    "original input (descending, ties to the lower index), the first max_flips; for each in turn, at the current input "
    "(earlier flips applied), g = dL/de at the word's token, estimate(k) = (E[k] - E[current]) . g for every vocabulary "
    "id; candidates: not special, surface word (token without a leading U+0120 byte-level space mark) of ASCII letters only, length >= 2, not "
    "in lib/attacks/english-stopwords.txt (lowercased), WordPiece not ##, BPE with the U+0120 prefix exactly when the "
    "replaced token has it; tried by estimate descending (ties to the lower id), skipping the current id and the to_ids "
    "of earlier flips; accepted when the text with the word's span replaced by the surface word tokenizes to the "
    "current ids with that one id replaced (no candidate was refused in these cases: every surface word of these "
    "vocabularies re-tokenizes to its own single token). flips[]: index, from_id/to_id (vocabulary ids), from (the "
    "word's text) / to (the surface word), estimated_loss_change = estimate(to_id), loss_change = L after the flip "
    "minus L before it (both at the original prediction), runner_up_margin = estimate(to_id) minus the estimate of the "
    "next candidate in order, refused = candidates refused before it. "
    "input_reduction: reduced segment {reduced}; repeat: stop if it has one word left or max_reductions were removed; "
    "remove its least salient word (ascending score, ties to the lower index; saliency recomputed on the current text "
    "against its prediction) by removeSpan, re-predict, record the variant, stop if the prediction differs from the "
    "original; indices = removed words' indices in the original word list. sub_span: the w = min(max_tokens, context "
    "words) consecutive context words with the highest summed saliency (ties to the earliest); variant 1's context = "
    "the original text from the window's first word start to its last word end. topk_tokens: k = min(max_tokens, "
    "context words); indices = the k most salient context words, most salient first; variant j's context = the j most "
    "salient words in original order joined by single spaces. variants[0] is the original item; question is null for "
    "a single text. "
    "decision_margins: every discrete decision, gap = chosen minus next best (prediction: {prediction_gap}; saliency: "
    "between consecutive ranks that matter, including the last one used vs the first one not used; vocabulary: "
    "estimate of the accepted candidate minus the next candidate; window: best minus second-best window sum), "
    "relative = gap / the larger magnitude of the two scores, gap null when there was a single option. Each case's "
    "item is the first of its candidate list (attack_candidates.py) that exercises the attack (hotflip: all 3 "
    "positions flipped, and for QA with and without include_answer on the same item, the flipped words differing; "
    "sub_span and topk_tokens: more than 3 context words) with every relative margin >= 1e-3; candidate_index is its "
    "position there, min_relative_margin the smallest relative margin. Floats at 7 significant digits, margins at 4."
)
NOTES = {
    "sequence-classification": "Sequence classification: items are [context, question] pairs or a single text (all "
    "context); task_kwargs {}; prediction = argmax label, predictions[j] = variant j's label index; hotflip loss "
    "L = -log softmax(logits)[y], y the original label. " + COMMON.format(
        answer_rule="", reduced="= the question (second text) of a pair, the text itself for a single text",
        prediction_gap="top logit minus the second"),
    "question-answering": "Question answering: items are [question, context]; task_kwargs {show_null_answers: false} "
    "so that each variant's first answer is the prediction compared here (the attack's prediction never includes the "
    "null answer); max_answer_len is the server's default 128 (lib/tasks/question-answering.ts, SPEC 6.4) and never "
    "binds, every item being far below 128 tokens. Prediction = the non-null span (a, b) of context tokens, "
    "a <= b < a + 128, maximising start_logits[a] + end_logits[b] (the same order as the softmax product); "
    "predictions[j] = its [start, end) character offsets in variant j's context; saliency target start_logits[a] + "
    "end_logits[b] of the current prediction; hotflip loss L = -log softmax(start_logits)[a] - log "
    "softmax(end_logits)[b] over all tokens, (a, b) the original prediction (flips keep every token position). " +
    COMMON.format(answer_rule=" and, unless include_answer, not overlapping the original answer's characters",
                  reduced="= the question", prediction_gap="best span score minus the second-best span's"),
}
