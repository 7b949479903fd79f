"""Build ``ioi_prompts.csv``: indirect-object-identification prompts with a counterfactual for each.

The example prompt file of ``causalattn heads --prompts`` and ``causalattn ablate --prompts``
(issue 20). Each prompt is a sentence in the style of the IOI task of Wang et al.
(2022): two people are introduced, one of them (the subject, S) is named again
and gives something to ... the other one, the indirect object (IO), which is
the answer. The subject's name is the distractor, so ``logit_diff`` is the
logit difference of Wang et al. (IO minus S). The counterfactual is their "ABC"
corruption: the same sentence with three distinct other names in the three
name slots, so that nothing in it points to the answer.

The templates were written for this file after the templates listed by Wang et
al. (2022, appendix); the names are common English first names, each a single
token with a leading space for the SmolLM2 and GPT-2 tokenizers, so that a
counterfactual has as many tokens as its prompt. Half the prompts name the
indirect object first (ABBA order), half the subject first (BABA).

Columns: ``prompt``, ``answer`` (`` IO``), ``distractor`` (`` S``),
``counterfactual``, ``template`` (0-based index into :data:`TEMPLATES`),
``order`` (``ABBA`` or ``BABA``).

Usage (from the repository root)::

    python datasets/build_ioi.py [--out datasets]

References
----------
Wang, K., Variengien, A., Conmy, A., Shlegeris, B. and Steinhardt, J. (2022). Interpretability in the Wild:
a Circuit for Indirect Object Identification in GPT-2 small. arXiv:2211.00593.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

N_PROMPTS = 200
SEED = 0

# {A} and {B} are introduced (in the prompt's order), {S} is named again; the answer follows the last word.
TEMPLATES = (
    "Then, {A} and {B} went to the {place}. {S} gave a {thing} to",
    "Then, {A} and {B} had a lot of fun at the {place}. {S} gave a {thing} to",
    "Then, {A} and {B} were working at the {place}. {S} decided to give a {thing} to",
    "Then, {A} and {B} were thinking about going to the {place}. {S} wanted to give a {thing} to",
    "After {A} and {B} went to the {place}, {S} gave a {thing} to",
    "When {A} and {B} got a {thing} at the {place}, {S} decided to give it to",
    "While {A} and {B} were working at the {place}, {S} gave a {thing} to",
    "While {A} and {B} were commuting to the {place}, {S} gave a {thing} to",
    "After lunch, {A} and {B} went to the {place}. {S} handed a {thing} to",
    "Afterwards, {A} and {B} went to the {place}. {S} passed a {thing} to",
    "Friends {A} and {B} found a {thing} at the {place}. {S} gave it to",
    "Yesterday {A} and {B} met at the {place}, and {S} brought a {thing} to",
)
PLACES = ("store", "garden", "restaurant", "school", "hospital", "office", "station", "park", "library", "market")
THINGS = ("drink", "book", "ring", "snack", "letter", "key", "bag", "gift", "cake", "ticket")
NAMES = ("Mary", "John", "Tom", "James", "Anna", "Paul", "Sarah", "David", "Emma", "Michael", "Laura", "Peter",
         "Kate", "Mark", "Alice", "Robert", "Lisa", "Daniel", "Rachel", "George", "Jessica", "Steven", "Amy",
         "Brian", "Helen", "Kevin", "Susan", "Jack", "Linda", "Eric", "Karen", "Adam", "Nancy", "Frank", "Julia",
         "Henry", "Grace", "Sam", "Lucy", "Ben", "Rose", "Tim", "Anne", "Joe", "Jane", "Dan", "Sophie", "Chris")


def build(out_dir: Path) -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    rows = []
    for i in range(N_PROMPTS):
        k = int(rng.integers(len(TEMPLATES)))
        template, place, thing = TEMPLATES[k], PLACES[rng.integers(len(PLACES))], THINGS[rng.integers(len(THINGS))]
        io, s, c1, c2, c3 = (NAMES[j] for j in rng.choice(len(NAMES), size=5, replace=False))
        order = "ABBA" if i % 2 == 0 else "BABA"
        first, second = (io, s) if order == "ABBA" else (s, io)
        prompt = template.format(A=first, B=second, S=s, place=place, thing=thing)
        counterfactual = template.format(A=c1, B=c2, S=c3, place=place, thing=thing)
        rows.append((prompt, f" {io}", f" {s}", counterfactual, k, order))
    frame = pd.DataFrame(rows, columns=["prompt", "answer", "distractor", "counterfactual", "template", "order"])
    frame.to_csv(out_dir / "ioi_prompts.csv", index=False)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder")
    frame = build(parser.parse_args().out)
    print(f"{len(frame)} prompts from {frame['template'].nunique()} templates")


if __name__ == "__main__":
    main()
