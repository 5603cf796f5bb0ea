"""PyTorch reference goldens for SPEC §8 attacks, as docs/attacks.md specifies them.

For each -sst and -qa fixture of the three families, writes test/goldens/attacks/<fixture>.json:
hotflip, input_reduction, sub_span and topk_tokens cases with their variants, indices, per-variant
predictions and the margin of every discrete decision (attack_methods.py; model, tokenization and
saliency in attack_model.py, all float64 on the fixture's weights, independent of the server).

The server runs in float32, so each case's item is the first of a fixed list of candidates whose
decisions all have a relative margin of at least MIN_RELATIVE (and that exercise the attack: every
hotflip position flipped, a real sub-window, ...); attack_candidates.py lists them.

Needs Debian's python3-torch and python3-onnx; run with the system interpreter, after the
fixtures exist (as for torch_reference.py):
    /usr/bin/python3 tools/goldens/attacks.py [--fixtures .cache/fixtures] [--out test/goldens]
"""
import argparse
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ next to the sources

import torch  # noqa: E402

from attack_candidates import CASES, HARD_MIN_RELATIVE, MIN_RELATIVE, NOTES, min_relative  # noqa: E402
from attack_methods import METHODS  # noqa: E402
from attack_model import Fixture  # noqa: E402
from jsonio import dumps  # noqa: E402

FIXTURES = [f"{family}-tiny-{head}" for family in ("bert", "roberta", "distilbert") for head in ("sst", "qa")]
def run_case(fx, spec, item):
    texts = [item] if isinstance(item, str) else list(item)
    kwargs = {k: v for k, v in spec["attack_kwargs"].items() if k != "method"}
    return METHODS[spec["attack_kwargs"]["method"]](fx, texts, **kwargs)


def choose(fx, spec):
    """The first candidate meeting the case's own requirement with all margins >= MIN_RELATIVE,
    else the first with all margins >= HARD_MIN_RELATIVE."""
    fallback = None
    tried = []
    for i, item in enumerate(spec["candidates"]):
        expected = run_case(fx, spec, item)
        ok, why = spec["requirement"](fx, expected, item)
        margin = min_relative(expected)
        tried.append(f"{i}: {why if not ok else f'min relative margin {margin:.3g}'}")
        if not ok or margin < HARD_MIN_RELATIVE:
            continue
        if margin >= MIN_RELATIVE:
            return i, item, expected, tried
        fallback = fallback or (i, item, expected, tried[:])
    if fallback:
        return fallback
    raise RuntimeError(f"{spec['name']}: no candidate qualifies:\n  " + "\n  ".join(tried))


def selection_note(cases, log):
    moved = [line.strip() for case, line in zip(cases, log) if case["candidate_index"]]
    if not moved:
        return "Every case here uses its first candidate."
    return "Cases that needed a later candidate: " + "; ".join(moved) + "."


def golden(name, folder):
    fx = Fixture(folder)
    cases, log = [], []
    for spec in CASES[fx.head]:
        if fx.family == "roberta" and "roberta_candidates" in spec:
            spec = {**spec, "candidates": spec["roberta_candidates"]}
        index, item, expected, tried = choose(fx, spec)
        cases.append({
            "name": spec["name"],
            "input": item,
            "task_kwargs": spec["task_kwargs"],
            "attack_kwargs": spec["attack_kwargs"],
            "candidate_index": index,
            "min_relative_margin": float(f"{min_relative(expected):.4g}"),
            "expected": expected,
        })
        log.append(f"  {spec['name']}: candidate {index}" + (f" (rejected {'; '.join(tried[:-1])})" if index else ""))
    header = {
        "fixture": name,
        "family": fx.family,
        "head": fx.head,
        "model_sha256": fx.w.sha256,
        "generator": "tools/goldens/attacks.py",
        "torch_version": torch.__version__,
        "notes": NOTES[fx.head] + " " + selection_note(cases, log),
    }
    return {**header, "cases": cases}, log


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures", default=".cache/fixtures")
    parser.add_argument("--out", default="test/goldens")
    parser.add_argument("--only", nargs="*", help="fixture names to (re)write; default all")
    args = parser.parse_args()
    os.makedirs(os.path.join(args.out, "attacks"), exist_ok=True)
    for name in FIXTURES:
        if args.only and name not in args.only:
            continue
        value, log = golden(name, os.path.join(args.fixtures, name))
        with open(os.path.join(args.out, "attacks", f"{name}.json"), "w") as f:
            # spread down to one decision margin / flip / variant a line; jsonio spreads {} over two lines
            f.write(dumps(value, -2).replace("{\n\n}", "{}"))
            f.write("\n")
        print(f"attacks/{name}.json", *log, sep="\n", file=sys.stderr)


if __name__ == "__main__":
    torch.set_grad_enabled(True)
    main()
