"""LIX of rendered pages: the index as defined, and which text of a page it reads."""
from __future__ import annotations

import pytest

from hjertekom_core.reports.readability import lix, prose_lix, text_blocks


def test_lix_is_words_per_sentence_plus_the_share_of_long_words() -> None:
    score = lix("Han går. Hun løber hurtigt.")  # 5 words, 2 sentences, 1 long word (hurtigt)
    assert (score.words, score.sentences, score.long_words) == (5, 2, 1)
    assert score.value == pytest.approx(5 / 2 + 100 / 5)
    # six letters is not long; numbers and decimal commas are no words and end no sentence
    assert lix("Vægten faldt 3,4 kg til 85,0 kg.").long_words == 0
    assert lix("Hjerterehabiliteringen").value == pytest.approx(1 + 100)


def test_blocks_end_sentences_and_styles_are_not_text() -> None:
    page = ("<html><head><style>p{color:red}</style></head><body><h1>Dine resultater</h1>"
            "<table><tr><th>Vægt</th><td>88,4 kg</td></tr></table><p>Tal med os. Vi hjælper</p>"
            '<svg><text>Start</text><text>Slut</text></svg></body></html>')
    assert text_blocks(page) == ["Dine resultater", "Vægt", "88,4 kg", "Tal med os. Vi hjælper", "Start", "Slut"]
    assert lix(page).sentences == 7  # kg is a word: the cell with 88,4 kg is a sentence of one
    running = prose_lix(page)  # headings and paragraphs only: no table cells, no chart labels
    assert (running.words, running.sentences) == (7, 3)
