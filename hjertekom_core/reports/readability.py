"""LIX, the Scandinavian readability index, of a rendered HTML page.

LIX = words / sentences + 100 x long words / words, where a long word has more than six letters.
Below 25 is children's books, 25-35 easy (the target for text citizens read, e.g. the citizen
sheet: at most 35), 35-45 ordinary newspapers, above 55 specialist text.

On a page, a sentence ends at ".", "!", "?" or ":" followed by a space or the end, and at the end
of every block a reader sees as a unit: a paragraph, a heading, a list item, a table cell, a chart's
text. A word is a run of letters (with hyphens or apostrophes inside); numbers and units such as
"88,4" or "mmHg" are counted only if they hold letters. Styles and scripts are not text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

#: Elements whose end ends a sentence (a reader sees each as a unit on its own).
BLOCKS = frozenset({"p", "li", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "figcaption", "caption", "div",
                    "section", "header", "footer", "title", "text", "tspan", "dt", "dd", "br", "tr"})
SKIPPED = frozenset({"style", "script", "head"})
#: The running text of a page, without tables and charts: what ``prose`` reads.
PROSE = frozenset({"p", "li", "h1", "h2", "h3", "figcaption"})
_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")
_SENTENCE_END = re.compile(r"[.!?:](?=\s|$)")
LONG_WORD = 6  # letters: a word with more is long


class _Blocks(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, bool, str]] = []  # (innermost block tag, inside a chart, text)
        self._current: list[str] = []
        self._open: list[str] = []
        self._skip = 0
        self._svg = 0

    def _flush(self) -> None:
        text = " ".join("".join(self._current).split())
        if text:
            self.blocks.append((self._open[-1] if self._open else "", self._svg > 0, text))
        self._current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED:
            self._skip += 1
        elif tag == "svg":
            self._flush()
            self._svg += 1
        elif tag in BLOCKS:
            self._flush()
            if tag != "br":
                self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED:
            self._skip = max(0, self._skip - 1)
        elif tag == "svg":
            self._flush()
            self._svg = max(0, self._svg - 1)
        elif tag in BLOCKS:
            self._flush()
            if tag in self._open:  # close it and anything left open inside it
                del self._open[len(self._open) - 1 - self._open[::-1].index(tag):]

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._current.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def text_blocks(page: str, *, only: frozenset[str] | None = None, charts: bool = True) -> list[str]:
    """The page's visible text, one string per block (paragraph, cell, heading, chart label);
    ``only`` keeps the blocks of those elements, ``charts=False`` leaves out the text of the charts."""
    parser = _Blocks()
    parser.feed(page)
    parser.close()
    return [text for tag, in_chart, text in parser.blocks
            if (charts or not in_chart) and (only is None or tag in only)]


@dataclass(frozen=True)
class Lix:
    words: int
    sentences: int
    long_words: int

    @property
    def value(self) -> float:
        if not self.words:
            return 0.0
        return self.words / self.sentences + 100 * self.long_words / self.words

    def longest(self) -> str:  # for a failing test's message
        return f"LIX {self.value:.1f}: {self.words} words, {self.sentences} sentences, {self.long_words} long"


def lix_of_blocks(blocks: list[str]) -> Lix:
    words = sentences = long_words = 0
    for block in blocks:
        for sentence in _SENTENCE_END.split(block):
            found = _WORD.findall(sentence)
            if not found:
                continue
            sentences += 1
            words += len(found)
            long_words += sum(1 for w in found if sum(c.isalpha() for c in w) > LONG_WORD)
    return Lix(words, sentences, long_words)


def lix(page: str) -> Lix:
    """LIX of an HTML page's visible text (or of plain text, which is one block)."""
    return lix_of_blocks(text_blocks(page))


def prose_lix(page: str) -> Lix:
    """LIX of the running text alone (paragraphs, list items, headings; no tables, no charts): the
    table's one-word cells cannot bring an explanation's long sentences under the limit."""
    return lix_of_blocks(text_blocks(page, only=PROSE, charts=False))
