"""Disclosure control: primary and complementary (secondary) cell suppression, and its audit.

Every product that shows another unit than the viewer's own municipality (the ``indicators``
command, aggregate extracts, the municipality report) goes through :func:`protect`; a finished
table is checked by :func:`audit`. The rules (docs/disclosure.md):

* **Primary suppression.** A count from 1 to ``threshold - 1`` of another unit shows as ``< 5``.
* **Complementary suppression.** Within one product no hidden count may be recoverable: a parent
  (cluster, region, nation) minus its shown members, a region against an overlapping cluster, a
  year minus its shown quarters or months. A count withheld only to protect another shows as
  ``..`` (Statistics Denmark's mark). With either mark the row's proportion, CI and status go too.
* The viewer's own municipality is exact (``own``), and is a published cell of every equation:
  its exact numbers must not let the viewer recover another unit's small count either.

**The model.** Each count column of each indicator is one additive *block*. A published cell is
the sum of its *atoms* (municipality x finest period); atoms that lie in exactly the same
published cells are indistinguishable to any reader and are merged into one *class*. A reader
knows the shown cells (one linear equation each: cell = sum of its classes), that every class is
a non-negative integer, that ``< 5`` means 1-4 and that ``..`` means 0 or at least 5 (a count is
withheld only when it is not small itself). A suppressed count is *recoverable* when these facts
fix it: by substitution (one unknown left in an equation; a shown 0 makes every class in it 0),
by a linear combination of equations (Gaussian elimination: the cell lies in the row space of
the shown equations, the test of Langsrud's Gauss suppression), or by bounds (the intervals of
the unknowns meet in one value). A class (a group of unpublished cells, such as "the other
municipalities of the region" in an extract) is sensitive too when it is recovered as 1-4.

**Complements.** :func:`protect` suppresses primarily, audits, and for every leak hides one more
shown cell from the equations that gave it away, the smallest count of at least ``threshold``
first (a withheld 0 protects nothing: ``..`` and ``< 5`` then pin each other), lower levels and
finer periods before totals; it repeats until the audit finds nothing. That is the iterative
"singleton" method of tau-Argus and sdcTable, with an exact audit as its stopping rule, so a
table that :func:`protect` returns passes :func:`audit` by construction.

Interval attacks are checked by bounds propagation over the equations; what is not checked is
disclosure across products (two products read together) and proportions shown without counts
(a run chart's national share), which are not linear in the counts.
"""
from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from scipy.linalg import null_space

from hjertekom_core.contract import Text

#: The mark of a count withheld to protect another (complementary suppression).
WITHHELD = ".."
#: The status of a row whose counts are withheld to protect another unit.
STATUS_WITHHELD = "withheld"
#: The status of a row with a small count (primary suppression), as the indicator engine names it.
STATUS_SUPPRESSED = "suppressed"
STATUS_LABELS: dict[str, Text] = {
    STATUS_WITHHELD: Text("skjult for at beskytte andre tal", "withheld to protect other figures"),
}
#: Count columns of an indicator table that are protected, where the table has them.
COUNT_COLUMNS = ("numerator", "denominator", "unknown", "excluded")
#: Columns hidden together with a hidden numerator or denominator (they would give it back).
DERIVED_COLUMNS = ("proportion", "ci_low", "ci_high")
LEVELS = ("municipality", "cluster", "region", "national")
NATIONAL_UNIT = "DK"

SHOWN, PRIMARY, SECONDARY = "shown", "primary", "secondary"
_TOLERANCE = 1e-8
_INF = math.inf


def primary_mark(threshold: int) -> str:
    """The mark of a small count: '< 5'."""
    return f"< {threshold}"


def is_small(value: object, threshold: int) -> bool:
    """A count from 1 to threshold - 1 (the primary rule)."""
    return isinstance(value, (int, np.integer)) and 0 < int(value) < threshold


# --- the generic core: cells over atoms ------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """One published count: the sum of its ``atoms``.

    ``own``: the viewer knows it exactly (the own municipality); it is never suppressed.
    ``rank``: the caller's preference among complements of equal value (lower is hidden first).
    """

    key: Hashable
    atoms: frozenset[Hashable]
    own: bool = False
    rank: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Finding:
    """A hidden count a reader can recover: a suppressed cell (``cell``) or a group of unpublished
    atoms (``atoms``), its ``value``, and how: ``equation`` maps shown cells to their coefficients
    (value = sum of coefficient x shown value); for ``method`` "bounds" it holds the shown cells
    whose equations pin it, each with coefficient 0."""

    cell: int | None
    atoms: frozenset[Hashable]
    value: int
    method: str
    equation: Mapping[int, float]


class Block:
    """One additive table block: its cells, and the classes of atoms they induce."""

    def __init__(self, cells: Sequence[Cell]) -> None:
        self.cells = list(cells)
        signature: dict[Hashable, list[int]] = defaultdict(list)
        for i, c in enumerate(self.cells):
            for atom in c.atoms:
                signature[atom].append(i)
        classes: dict[tuple[int, ...], list[Hashable]] = defaultdict(list)
        for atom, members in signature.items():
            classes[tuple(members)].append(atom)
        own_atoms = frozenset().union(*(c.atoms for c in self.cells if c.own))
        self.class_atoms: list[frozenset[Hashable]] = []
        self.class_cells: list[tuple[int, ...]] = []
        self.cell_classes: list[list[int]] = [[] for _ in self.cells]
        for members, atoms in classes.items():
            k = len(self.class_atoms)
            self.class_atoms.append(frozenset(atoms))
            self.class_cells.append(members)
            for i in members:
                self.cell_classes[i].append(k)
        self.class_own = [atoms <= own_atoms for atoms in self.class_atoms]
        #: class -> the one cell that is exactly that class (its finding is the cell's)
        self.single = {cs[0]: i for i, cs in enumerate(self.cell_classes) if len(cs) == 1}
        self._split: list[tuple[list[int], Block]] | None = None

    def split(self) -> list[tuple[list[int], Block]]:
        """The independent parts as (cell indices, block), built once; [] if there is one part."""
        if self._split is None:
            parts = self.parts()
            self._split = [(part, Block([self.cells[i] for i in part])) for part in parts] if len(parts) > 1 else []
        return self._split

    def parts(self) -> list[list[int]]:
        """The cells in independent parts (no equation joins two parts), e.g. one per period."""
        parent = list(range(len(self.cells)))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for members in self.class_cells:
            root = find(members[0])
            for i in members[1:]:
                parent[find(i)] = root
        groups: dict[int, list[int]] = defaultdict(list)
        for i in range(len(self.cells)):
            groups[find(i)].append(i)
        return list(groups.values())

    def audit(self, values: Sequence[int | None], states: Sequence[str], threshold: int) -> list[Finding]:
        """What a reader recovers from the shown ``values`` (None where hidden) and the marks
        (``states``: shown, primary or secondary): every sensitive hidden count it fixes."""
        split = self.split()
        if not split:
            if all(st == SHOWN for st in states) and len(self.single) == len(self.class_atoms):
                return []  # nothing hidden, and every class is a shown cell: nothing to recover
            solver = _Solver(self, values, states, threshold)
            solver.run()
            return solver.findings()
        out: list[Finding] = []
        for part, sub in split:  # independent parts are audited one by one: small systems
            for f in sub.audit([values[i] for i in part], [states[i] for i in part], threshold):
                out.append(Finding(None if f.cell is None else part[f.cell], f.atoms, f.value, f.method,
                                   {part[c]: coef for c, coef in f.equation.items()}))
        return out


Source = tuple[Any, ...]


class _Solver:
    """The reader's knowledge of one block: the classes it fixes (and from what), then the
    hidden cells that the rest of the equations and the bounds still fix."""

    def __init__(self, block: Block, values: Sequence[int | None], states: Sequence[str], threshold: int) -> None:
        self.b = block
        self.states = states
        self.t = threshold
        n = len(block.class_atoms)
        self.known: list[int | None] = [None] * n
        self.source: list[Source | None] = [None] * n
        self.order: dict[int, int] = {}
        self.lo: list[float] = [0] * n
        self.hi: list[float] = [_INF] * n
        self.shown = [st == SHOWN and v is not None for st, v in zip(states, values, strict=True)]
        self.resid = [int(v) if v is not None and sh else 0 for v, sh in zip(values, self.shown, strict=True)]
        self.unknown = [set(cs) for cs in block.cell_classes]
        self.queue: deque[int] = deque(i for i, sh in enumerate(self.shown) if sh)
        self._null: list[tuple[list[int], list[int], np.ndarray, np.ndarray]] = []
        self.total_bounds: dict[int, tuple[float, float]] = {}  # hidden cell -> bounds of its unknown part
        self._memo: dict[int, tuple[dict[int, float], bool, frozenset[int]]] = {}

    def _settle(self, k: int, value: int, source: Source) -> None:
        self.known[k] = value
        self.source[k] = source
        self.order[k] = len(self.order)
        self.lo[k] = self.hi[k] = value
        for j in self.b.class_cells[k]:
            self.unknown[j].discard(k)
            if self.shown[j]:
                self.resid[j] -= value
                self.queue.append(j)

    # --- what the reader fixes ----------------------------------------------------------------------

    def _propagate(self) -> None:
        """Substitution: an equation with one unknown left gives it; a shown 0 makes every class
        in it 0 (counts are not negative)."""
        while self.queue:
            i = self.queue.popleft()
            rest = self.unknown[i]
            if len(rest) == 1:
                (k,) = rest
                self._settle(k, self.resid[i], ("cell", i))
            elif len(rest) > 1 and self.resid[i] == 0:
                for k in list(rest):
                    self._settle(k, 0, ("zero", i))

    def _components(self) -> list[tuple[list[int], list[int]]]:
        """The shown equations with two or more unknowns, in independent parts: (cells, classes)."""
        rows = [i for i, sh in enumerate(self.shown) if sh and len(self.unknown[i]) >= 2]
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            while parent.setdefault(x, x) != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for i in rows:
            first, *others = self.unknown[i]
            for k in others:
                parent[find(k)] = find(first)
        groups: dict[int, tuple[list[int], set[int]]] = {}
        for i in rows:
            cells, classes = groups.setdefault(find(next(iter(self.unknown[i]))), ([], set()))
            cells.append(i)
            classes.update(self.unknown[i])
        return [(cells, sorted(classes)) for cells, classes in groups.values()]

    def _eliminate(self) -> bool:
        """Gaussian elimination: a class in the row space of the shown equations is fixed."""
        self._null = []
        settled: list[tuple[int, int, Source]] = []
        for cells, classes in self._components():
            col = {k: j for j, k in enumerate(classes)}
            matrix = np.zeros((len(cells), len(classes)))
            for r, i in enumerate(cells):
                for k in self.unknown[i]:
                    matrix[r, col[k]] = 1.0
            basis = null_space(matrix)
            self._null.append((cells, classes, matrix, basis))
            for k in classes:
                if basis.size and np.abs(basis[col[k]]).max() >= _TOLERANCE:
                    continue
                target = np.zeros(len(classes))
                target[col[k]] = 1.0
                settled.append((k, *self._solve(cells, matrix, target)))
        for k, value, source in settled:
            if self.known[k] is None:
                self._settle(k, value, source)
        return bool(settled)

    def _solve(self, cells: list[int], matrix: np.ndarray, target: np.ndarray) -> tuple[int, Source]:
        """``target`` (over a component's classes) as a combination of its shown equations."""
        weights = np.linalg.lstsq(matrix.T, target, rcond=None)[0]
        terms = tuple((i, float(w), frozenset(self.unknown[i])) for w, i in zip(weights, cells, strict=True)
                      if abs(w) >= _TOLERANCE)
        value = sum(w * self.resid[i] for i, w, _ in terms)
        return round(value), ("solve", terms)

    def _domain(self, i: int) -> tuple[float, float]:
        """What the mark of hidden cell i tells: '< 5' is 1-4; '..' tells nothing."""
        return (1, self.t - 1) if self.states[i] == PRIMARY else (0, _INF)

    def _bounds(self) -> bool:
        """Interval propagation: every variable (unknown class, hidden cell's total) gets the
        bounds that every equation allows it, the shown equations and the rows of their reduced
        echelon form (national minus region is the other regions: a derived equation whose bounds
        may pin what no single equation does). A class pinned to one value is fixed."""
        hidden = [i for i, st in enumerate(self.states) if not self.shown[i] and st in (PRIMARY, SECONDARY)
                  and self.unknown[i]]
        shown = [i for i, sh in enumerate(self.shown) if sh and self.unknown[i]]
        classes = sorted(set().union(*(self.unknown[i] for i in shown + hidden))) if shown or hidden else []
        if not classes:
            return False
        col = {k: j for j, k in enumerate(classes)}
        # A hidden cell with one unknown class is that class: its mark bounds the class itself. One
        # with more gets a variable of its own (its total's unknown part) and an equation.
        summed = [i for i in hidden if len(self.unknown[i]) > 1]
        t_col = {i: len(classes) + n for n, i in enumerate(summed)}
        t_col.update({i: col[next(iter(self.unknown[i]))] for i in hidden if len(self.unknown[i]) == 1})
        lo = np.array([self.lo[k] for k in classes] + [0.0] * len(summed), dtype=float)
        hi = np.array([self.hi[k] for k in classes] + [_INF] * len(summed), dtype=float)
        for i in hidden:  # the total's unknown part: the mark's range minus the known classes
            known = sum(self.known[k] or 0 for k in self.b.cell_classes[i])
            d_lo, d_hi = self._domain(i)
            j = t_col[i]
            lo[j], hi[j] = max(lo[j], d_lo - known), min(hi[j], d_hi - known)
        matrix = np.zeros((len(shown) + len(summed), len(lo)))
        rhs = np.zeros(len(shown) + len(summed))
        for r, i in enumerate(shown):
            matrix[r, [col[k] for k in self.unknown[i]]] = 1.0
            rhs[r] = self.resid[i]
        for r, i in enumerate(summed, start=len(shown)):
            matrix[r, [col[k] for k in self.unknown[i]]] = 1.0
            matrix[r, t_col[i]] = -1.0
        reduced = _echelon(matrix, rhs)
        if reduced:
            matrix = np.vstack([matrix, [m for m, _ in reduced]])
            rhs = np.concatenate([rhs, [b for _, b in reduced]])
        _propagate_bounds(matrix, rhs, lo, hi)
        self.total_bounds = {i: (lo[t_col[i]], hi[t_col[i]]) for i in hidden}
        pinned = [(k, lo[col[k]]) for k in classes if lo[col[k]] == hi[col[k]] and self.known[k] is None]
        for k, value in pinned:
            self._settle(k, int(value), ("bounds",))
        return bool(pinned)

    def run(self) -> None:
        while True:
            self._propagate()
            if self._eliminate():
                continue
            if self._bounds():
                continue
            break

    # --- how it was fixed: equations, computed only for what is reported ------------------------------

    def _depends(self, k: int) -> list[int]:
        source = self.source[k] or ()
        cells: list[int] = []
        if source[:1] in (("cell",), ("zero",)):
            cells = [source[1]]
        elif source[:1] == ("solve",):
            cells = [i for i, _, _ in source[1]]
        return [k2 for i in cells for k2 in self.b.cell_classes[i]
                if k2 != k and self.known[k2] is not None and self.order[k2] < self.order[k]]

    def expression(self, k: int) -> tuple[dict[int, float], bool, frozenset[int]]:
        """Class k as shown cells with coefficients, whether that is exact linear algebra (not
        bounds), and every shown cell it rests on."""
        if k in self._memo:
            return self._memo[k]
        needed, stack = set(), [k]
        while stack:
            x = stack.pop()
            if x in needed or x in self._memo:
                continue
            needed.add(x)
            stack.extend(self._depends(x))
        for x in sorted(needed, key=self.order.__getitem__):
            self._memo[x] = self._evaluate(x)
        return self._memo[k]

    def _cell_part(self, i: int, unknown_then: Collection[int]) -> tuple[dict[int, float], bool, set[int]]:
        """Cell i minus its classes that were known (not in ``unknown_then``)."""
        expr: dict[int, float] = {i: 1.0}
        linear, support = True, {i}
        for k2 in self.b.cell_classes[i]:
            if k2 in unknown_then or self.known[k2] is None:
                continue
            e2, l2, s2 = self.expression(k2)
            linear &= l2
            support |= s2
            for c, coef in e2.items():
                expr[c] = expr.get(c, 0.0) - coef
        return expr, linear, support

    def _evaluate(self, k: int) -> tuple[dict[int, float], bool, frozenset[int]]:
        source = self.source[k] or ("bounds",)
        kind = source[0]
        if kind in ("cell", "zero"):
            i = source[1]
            earlier = [k2 for k2 in self.b.cell_classes[i] if k2 == k or self.known[k2] is None
                       or self.order[k2] > self.order[k]]
            expr, linear, support = self._cell_part(i, earlier)
            return _clean(expr), linear and kind == "cell", frozenset(support)
        if kind == "solve":
            expr, linear, support = {}, True, set()
            for i, w, unknown_then in source[1]:
                part, l2, s2 = self._cell_part(i, unknown_then)
                linear &= l2
                support |= s2
                for c, coef in part.items():
                    expr[c] = expr.get(c, 0.0) + w * coef
            return _clean(expr), linear, frozenset(support)
        return {}, False, frozenset(self._witness(k))

    def _witness(self, k: int) -> set[int]:
        """The shown cells a bounds attack on class k rests on: its equations, those of the hidden
        cells beside it, and whatever fixed the known parts of those equations."""
        cells: set[int] = set()
        for i in self.b.class_cells[k]:
            if self.shown[i]:
                cells.add(i)
                continue
            for k2 in self.unknown[i] | {k}:
                cells.update(j for j in self.b.class_cells[k2] if self.shown[j])
        for i in list(cells):
            for k2 in self.b.cell_classes[i]:
                if k2 != k and self.known[k2] is not None and self.source[k2] != ("bounds",):
                    cells |= self.expression(k2)[2]
        return cells

    # --- what is reported ---------------------------------------------------------------------------------

    def _hidden_cell(self, i: int) -> tuple[int, dict[int, float], bool, set[int]] | None:
        """Hidden cell i's value if the reader fixes it: (value, equation, linear, support)."""
        classes = self.b.cell_classes[i]
        value = sum(self.known[k] or 0 for k in classes)
        expr: dict[int, float] = {}
        linear, support = True, set()

        def add(part: Mapping[int, float], part_linear: bool, part_support: Iterable[int], weight: float = 1) -> None:
            nonlocal linear
            linear &= part_linear
            support.update(part_support)
            for c, coef in part.items():
                expr[c] = expr.get(c, 0.0) + weight * coef

        rest = set(self.unknown[i])
        # The unknown rest: a sum in the row space of the shown equations (each part in its own).
        for cells, comp, matrix, basis in self._null:
            part = [k for k in comp if k in rest]
            if not part:
                continue
            target = np.zeros(len(comp))
            for k in part:
                target[comp.index(k)] = 1.0
            if basis.size and np.abs(target @ basis).max() >= _TOLERANCE:
                break
            v, source = self._solve(cells, matrix, target)
            value += v
            for c, w, unknown_then in source[1]:
                add(*self._cell_part(c, unknown_then), weight=w)
            rest -= set(part)
        if not rest:
            for k in classes:
                if self.known[k] is not None:
                    add(*self.expression(k))
            return value, _clean(expr), linear, support
        bounds = self.total_bounds.get(i)
        if bounds is not None and bounds[0] == bounds[1]:
            lo = bounds[0] + sum(self.known[k] or 0 for k in classes)
            witness = set().union(*(self._witness(k) for k in self.unknown[i]))
            for k in classes:
                if self.known[k] is not None:
                    witness |= self.expression(k)[2]
            return int(lo), {}, False, witness
        return None

    def findings(self) -> list[Finding]:
        out: list[Finding] = []
        b = self.b
        for i, state in enumerate(self.states):
            if state == SHOWN:
                continue
            found = self._hidden_cell(i)
            if found is None:
                continue
            value, expr, linear, support = found
            # What it gives away of other units: a small count ('..' may hide one, see _complement);
            # the viewer's own courses in it are no secret to the viewer.
            others = value - sum(self.known[k] or 0 for k in b.cell_classes[i] if b.class_own[k])
            if 0 < others < self.t:
                out.append(_finding(i, b.cells[i].atoms, value, expr, linear, support))
        for k, value in enumerate(self.known):
            if value is None or b.class_own[k] or not 0 < value < self.t or k in b.single:
                continue
            out.append(_finding(None, b.class_atoms[k], value, *self.expression(k)))
        return out


def _echelon(matrix: np.ndarray, rhs: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """The rows of the reduced row echelon form of [matrix | rhs] (Gauss-Jordan, partial pivoting)."""
    a = np.hstack([matrix, rhs[:, None]]).astype(float)
    rank = 0
    for c in range(matrix.shape[1]):
        if rank == a.shape[0]:
            break
        pivot = rank + int(np.argmax(np.abs(a[rank:, c])))
        if abs(a[pivot, c]) < _TOLERANCE:
            continue
        a[[rank, pivot]] = a[[pivot, rank]]
        a[rank] /= a[rank, c]
        others = np.arange(a.shape[0]) != rank
        a[others] -= np.outer(a[others, c], a[rank])
        a[np.abs(a) < _TOLERANCE] = 0.0
        rank += 1
    return [(row[:-1], float(row[-1])) for row in a[:rank]]


def _propagate_bounds(matrix: np.ndarray, rhs: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
    """Tighten integer bounds ``lo``/``hi`` (in place) until every row of ``matrix @ x = rhs``
    allows them: each variable gets the range its row leaves after the other terms' ranges, every
    row at once (Jacobi sweeps over dense arrays: a few hundred cells are a few milliseconds)."""
    a = matrix
    if not a.size:
        return
    pos, neg = a > 0, a < 0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for _ in range(200):
            low = np.where(pos, a * lo, np.where(neg, a * hi, 0.0))     # each term's least value
            high = np.where(pos, a * hi, np.where(neg, a * lo, 0.0))    # and greatest
            low_inf, high_inf = np.isneginf(low), np.isposinf(high)
            low_fin, high_fin = np.where(low_inf, 0.0, low), np.where(high_inf, 0.0, high)
            rest_low = np.where(low_inf.sum(1, keepdims=True) - low_inf > 0, -_INF,
                                low_fin.sum(1, keepdims=True) - low_fin)
            rest_high = np.where(high_inf.sum(1, keepdims=True) - high_inf > 0, _INF,
                                 high_fin.sum(1, keepdims=True) - high_fin)
            first, last = (rhs[:, None] - rest_high) / a, (rhs[:, None] - rest_low) / a
            new_lo = np.where(pos, first, np.where(neg, last, -_INF)).max(axis=0)
            new_hi = np.where(pos, last, np.where(neg, first, _INF)).min(axis=0)
            new_lo = np.maximum(lo, np.ceil(new_lo - 1e-6))
            new_hi = np.minimum(hi, np.floor(new_hi + 1e-6))
            if (new_lo > new_hi).any():
                return  # not consistent (a table that does not add up): nothing more to learn
            if np.array_equal(new_lo, lo) and np.array_equal(new_hi, hi):
                return
            lo[:], hi[:] = new_lo, new_hi


def _clean(expr: Mapping[int, float]) -> dict[int, float]:
    return {c: v for c, v in expr.items() if abs(v) > _TOLERANCE}


def _finding(cell: int | None, atoms: frozenset[Hashable], value: int, expr: Mapping[int, float], linear: bool,
             support: Iterable[int]) -> Finding:
    """A linear finding carries its equation; a bounds one the shown cells it rests on (coefficient 0)."""
    if linear and expr:
        method = "difference" if all(abs(abs(v) - 1) < _TOLERANCE for v in expr.values()) else "combination"
        return Finding(cell, atoms, value, method, dict(expr))
    return Finding(cell, atoms, value, "bounds", dict.fromkeys(sorted(support), 0.0))


def suppress_cells(block: Block, values: Sequence[int], threshold: int, *,
                   states: Sequence[str] | None = None) -> list[str]:
    """Primary, then complementary suppression of one block: the state (shown, primary,
    secondary) of every cell. ``states``: a starting point (cells already hidden, e.g. linked to
    another block's). A leak's value is what the reader recovers from the shown cells, so hidden
    values are never needed to decide."""
    cells = block.cells
    state = list(states) if states is not None else [
        PRIMARY if not c.own and is_small(v, threshold) else SHOWN for c, v in zip(cells, values, strict=True)]
    split = block.split()
    if split:  # independent parts (periods, say) are protected one by one: small audits
        for part, sub in split:
            done = suppress_cells(sub, [values[i] for i in part], threshold, states=[state[i] for i in part])
            for i, st in zip(part, done, strict=True):
                state[i] = st
        return state
    for _ in range(2 * len(cells) + 1):  # each round hides at least one more cell
        shown = [v if st == SHOWN else None for v, st in zip(values, state, strict=True)]
        leaks = block.audit(shown, state, threshold)
        if not leaks:
            break
        changed: set[int] = set()
        for leak in leaks:
            touched = set(leak.equation) | ({leak.cell} if leak.cell is not None else set())
            if changed & touched:
                continue  # this round's complement already broke that attack
            choice = _complement(block, values, state, leak, threshold)
            if choice is None:
                continue
            state[choice] = SECONDARY
            changed |= {choice}
        if not changed:
            break  # nothing left to hide (only the viewer's own cells gave it away)
    return state


def _complement(block: Block, values: Sequence[int], state: Sequence[str], leak: Finding,
                threshold: int) -> int | None:
    """The cell to withhold against ``leak``: the smallest shown count of at least the threshold in
    its equations (a withheld 0 protects little), lower levels and finer periods first. Where only
    '< 5' cells pin each other (four members of a '< 5' region, each at least 1, are all 1), the
    smallest '< 5' cell that holds the recovered one becomes '..' instead: it no longer says 1-4."""
    cells = block.cells
    candidates = [i for i in leak.equation if state[i] == SHOWN and not cells[i].own]
    if candidates:
        return min(candidates, key=lambda i: (0 if values[i] >= threshold else 1, values[i], cells[i].rank, i))
    holders = [i for i, c in enumerate(cells) if state[i] == PRIMARY and leak.atoms <= c.atoms and i != leak.cell]
    if not holders and leak.cell is not None and state[leak.cell] == PRIMARY:
        holders = [leak.cell]
    if not holders:
        return None
    return min(holders, key=lambda i: (len(cells[i].atoms), cells[i].rank, i))


# --- units and periods ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hierarchy:
    """Which municipality belongs to which region and cluster (and all to the nation)."""

    regions: Mapping[int, str]
    clusters: Mapping[int, str] = field(default_factory=dict)

    @classmethod
    def of(cls, regions: Mapping[int, int | str], clusters: Mapping[str, Iterable[int]] | None = None) -> Hierarchy:
        """From {municipality: region code} and the configured {cluster: [municipalities]}."""
        return cls({int(m): str(r) for m, r in regions.items()},
                   {int(m): str(name) for name, codes in (clusters or {}).items() for m in codes})

    @classmethod
    def from_snapshot(cls, con: duckdb.DuckDBPyConnection,
                      clusters: Mapping[str, Iterable[int]] | None = None) -> Hierarchy:
        """The snapshot's municipalities and regions, with the configured clusters."""
        rows = con.execute("SELECT code, region_code FROM municipalities").fetchall()
        return cls.of({int(code): region for code, region in rows}, clusters)

    def unit_of(self, code: int, level: str) -> str | None:
        if level == "municipality":
            return str(code)
        if level == "region":
            return self.regions.get(code)
        if level == "cluster":
            return self.clusters.get(code)
        if level == "national":
            return NATIONAL_UNIT
        raise ValueError(f"unknown level {level!r}")

    def members(self, level: str, unit: str, also: Iterable[int] = ()) -> frozenset[int]:
        """The municipalities of a unit (``also``: municipalities the data holds beyond the list)."""
        if level == "municipality":
            return frozenset([int(unit)])
        everyone = set(self.regions) | set(also)
        if level == "national":
            return frozenset(everyone)
        found = frozenset(m for m in everyone if self.unit_of(m, level) == str(unit))
        if not found:
            raise ValueError(f"{level} {unit!r} is not in the hierarchy: its members are unknown")
        return found


_GRANULARITY = {12: "year", 3: "quarter", 1: "month"}


def period_span(period: str) -> tuple[int, int]:
    """'2025' / '2025-Q2' / '2025-04' -> (first month as year * 12 + month - 1, number of months)."""
    text = str(period)
    year = int(text[:4])
    if len(text) == 4:
        return year * 12, 12
    if text[5] in "Qq":
        return year * 12 + 3 * (int(text[6]) - 1), 3
    return year * 12 + int(text[5:7]) - 1, 1


def granularity(period: str) -> str:
    return _GRANULARITY[period_span(period)[1]]


# --- indicator tables ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Leak:
    """A hidden count of a finished table that a reader recovers."""

    indicator: str
    column: str
    cell: tuple[str, str, str] | None          # (level, unit, period) of a suppressed cell
    group: frozenset[tuple[int, str]]          # the (municipality, period) atoms recovered
    value: int
    method: str                                # difference, combination or bounds
    equation: tuple[tuple[float, tuple[str, str, str]], ...]

    def describe(self) -> str:
        what = (f"{self.cell[0]} {self.cell[1]} {self.cell[2]}" if self.cell else
                "the unpublished group " + ", ".join(f"{m} {p}" for m, p in sorted(self.group)[:6])
                + (" ..." if len(self.group) > 6 else ""))
        terms = " ".join(f"{'+' if c > 0 else '-'} {_coef(c)}{lvl} {unit} {per}"
                         for c, (lvl, unit, per) in self.equation) if self.method != "bounds" else \
            "bounds from " + ", ".join(f"{lvl} {unit} {per}" for _, (lvl, unit, per) in self.equation)
        return f"{self.indicator} {self.column}: {what} = {self.value} ({self.method}: {terms})"


def _coef(c: float) -> str:
    size = abs(c)
    return "" if abs(size - 1) < 1e-6 else f"{size:g} x "


_LEVEL_RANK = {level: i for i, level in enumerate(LEVELS)}


def _complete(complete: Iterable[str | tuple[str, str]]) -> set[tuple[str, str | None]]:
    return {(c, None) if isinstance(c, str) else (c[0], c[1]) for c in complete}


def _is_complete(complete: set[tuple[str, str | None]], level: str, period: str) -> bool:
    return (level, None) in complete or (level, granularity(period)) in complete


class _Layout:
    """The cells of one product: which (level, unit, period) rows it shows, their atoms, and the
    rows a reader knows without seeing them (zeros of listed levels, the viewer's own zeros)."""

    def __init__(self, rows: pd.DataFrame, hierarchy: Hierarchy, own: Collection[int],
                 complete: set[tuple[str, str | None]], finest: int, also: Iterable[int]) -> None:
        self.hierarchy = hierarchy
        self.own = {str(c) for c in own}
        self.finest = finest
        self.also = set(also)
        self._atoms: dict[tuple[str, str, str], frozenset[tuple[int, int]]] = {}
        keys = list(zip(rows["level"].astype(str), rows["unit"].astype(str), rows["period"].astype(str), strict=True))
        self.keys = keys
        present = set(keys)
        periods = sorted({p for _, _, p in keys}, key=period_span)
        extra: list[tuple[str, str, str]] = []
        municipalities = sorted(set(hierarchy.regions) | self.also)
        for level in LEVELS:
            units = {hierarchy.unit_of(m, level) for m in municipalities} - {None}
            for period in periods:
                if _is_complete(complete, level, period):
                    extra += [(level, str(u), period) for u in sorted(units) if (level, str(u), period) not in present]
        own_grains = {granularity(p) for lvl, u, p in keys if lvl == "municipality" and u in self.own}
        for code in sorted(self.own):
            extra += [("municipality", code, p) for p in periods if granularity(p) in own_grains
                      and ("municipality", code, p) not in present and ("municipality", code, p) not in extra]
        self.extra = list(dict.fromkeys(extra))

    def atoms(self, key: tuple[str, str, str]) -> frozenset[tuple[int, int]]:
        if key not in self._atoms:
            level, unit, period = key
            start, months = period_span(period)
            steps = range(start, start + months, self.finest)
            members = self.hierarchy.members(level, unit, self.also)
            self._atoms[key] = frozenset((m, s) for m in members for s in steps)
        return self._atoms[key]

    def cell(self, key: tuple[str, str, str]) -> Cell:
        level, unit, period = key
        own = level == "municipality" and unit in self.own
        return Cell(key, self.atoms(key), own, (_LEVEL_RANK.get(level, 9), period_span(period)[1], unit, period))


def _finest(periods: Iterable[str]) -> int:
    spans = [period_span(p)[1] for p in periods]
    return min(spans) if spans else 12


def _counts(frame: pd.DataFrame) -> list[str]:
    return [c for c in COUNT_COLUMNS if c in frame.columns]


def _municipality_codes(frame: pd.DataFrame) -> set[int]:
    units = frame.loc[frame["level"] == "municipality", "unit"].astype(str)
    return {int(u) for u in units if u.isdigit()}


def protect(result: pd.DataFrame, hierarchy: Hierarchy, *, own: Iterable[int] = (), threshold: int = 5,
            published: pd.Series | pd.DataFrame | None = None,
            complete: Iterable[str | tuple[str, str]] = (), linked: Iterable[str] | pd.Series = ()) -> pd.DataFrame:
    """The published rows of ``result`` as a viewer of ``own`` may see them: primary and
    complementary suppression over every equation of the product.

    ``result``: ``indicators.compute`` output (RESULT_COLUMNS), exact. ``published``: the rows (a
    boolean Series) or cells (a boolean frame over the count columns) the product shows; default
    every row. ``complete``: the levels, or (level, 'year'|'quarter'|'month') pairs, whose every
    unit the product lists, so that a missing row is known to be 0. ``linked``: levels whose
    numerator and denominator are shown only together (a funnel plot's point), or a boolean
    Series of such rows. The own
    municipality is exact. Returns the published rows, counts as int, '< 5', '..' or None (a cell
    not published), with proportion, CI and status hidden where the numerator or denominator is.
    """
    counts = _counts(result)
    if published is None:
        mask = pd.DataFrame(True, index=result.index, columns=counts)
    elif isinstance(published, pd.Series):
        mask = pd.DataFrame({c: published.astype(bool) for c in counts}, index=result.index)
    else:
        mask = published.reindex(columns=counts, fill_value=False).astype(bool)
    shown = result[mask.any(axis=1)].copy()
    mask = mask.loc[shown.index]
    values = pd.DataFrame(index=shown.index, columns=counts, dtype=object)
    if shown.empty:
        return _finish(shown, values, {str(c) for c in own}, threshold)
    layout = _Layout(shown, hierarchy, own, _complete(complete), _finest(shown["period"].astype(str)),
                     _municipality_codes(shown))
    flags = {c: mask[c].to_numpy() for c in counts}
    numbers_of = {c: shown[c].to_numpy() for c in counts}
    if isinstance(linked, pd.Series):
        chosen = linked.reindex(shown.index, fill_value=False).to_numpy(dtype=bool)
        linked_keys = {k for k, on in zip(layout.keys, chosen, strict=True) if on}
    else:
        levels = set(linked)
        linked_keys = {k for k in layout.keys if k[0] in levels}
    link = linked_keys if {"numerator", "denominator"} <= set(counts) else set()
    states = {c: np.full(len(shown), SHOWN, dtype=object) for c in counts}
    built: dict[tuple[tuple[str, str, str], ...], Block] = {}  # indicators and columns often share one layout
    indicators = shown["indicator"].to_numpy()
    for ind in pd.unique(indicators):
        rows_of_ind = np.flatnonzero(indicators == ind)
        blocks: dict[str, _Column] = {}
        for column in counts:
            rows = rows_of_ind[flags[column][rows_of_ind]]
            keys = tuple([layout.keys[r] for r in rows] + layout.extra)
            if keys not in built:
                built[keys] = Block([layout.cell(k) for k in keys])
            numbers = [int(v) for v in numbers_of[column][rows]] + [0] * len(layout.extra)
            blocks[column] = _Column(built[keys], numbers, list(rows))
        dirty = set(counts)  # columns whose states changed since their last audit
        for _ in range(len(rows_of_ind) * len(counts) + 2):  # each round hides at least one more cell
            for column in [c for c in counts if c in dirty]:
                b = blocks[column]
                b.states = suppress_cells(b.block, b.values, threshold, states=b.states)
            dirty = set()
            if link:
                before = {c: list(blocks[c].states or []) for c in ("numerator", "denominator")}
                _link(blocks["numerator"], blocks["denominator"], link)
                dirty = {c for c in before if blocks[c].states != before[c]}
            if not dirty:
                break
        for column in counts:
            b = blocks[column]
            if b.rows:
                states[column][b.rows] = (b.states or [])[:len(b.rows)]
    for column in counts:
        col = numbers_of[column].astype(object)
        col[states[column] == PRIMARY] = primary_mark(threshold)
        col[states[column] == SECONDARY] = WITHHELD
        col[~flags[column]] = None
        values[column] = col
    return _finish(shown, values, {str(c) for c in own}, threshold)


@dataclass
class _Column:
    """One count column of one indicator in ``protect``: its block, values, rows and states."""

    block: Block
    values: list[int]
    rows: list[Any]
    states: list[str] | None = None


def _link(num: _Column, den: _Column, keys: set[tuple[str, str, str]]) -> bool:
    """Numerator and denominator of a linked row are hidden together (changes the states)."""
    if num.states is None or den.states is None:
        return False
    where = {c.key: i for i, c in enumerate(den.block.cells)}
    changed = False
    for i, c in enumerate(num.block.cells):
        j = where.get(c.key)
        if j is None or c.key not in keys or c.own:
            continue
        if num.states[i] != SHOWN and den.states[j] == SHOWN:
            den.states[j] = SECONDARY
            changed = True
        elif den.states[j] != SHOWN and num.states[i] == SHOWN:
            num.states[i] = SECONDARY
            changed = True
    return changed


def _finish(shown: pd.DataFrame, values: pd.DataFrame, own_units: set[str], threshold: int) -> pd.DataFrame:
    """Counts with their marks, and proportion, CI and status hidden where a count is."""
    out = shown.copy()
    for column in values.columns:
        out[column] = values[column]
    own_rows = (out["level"] == "municipality") & out["unit"].astype(str).isin(own_units)
    small = pd.Series(False, index=out.index)
    withheld = pd.Series(False, index=out.index)
    for column in ("numerator", "denominator"):
        if column in values.columns:
            small |= values[column].map(lambda v: isinstance(v, str) and v != WITHHELD)
            withheld |= values[column].map(lambda v: v == WITHHELD)
    if "denominator" in values.columns:  # a proportion of fewer than threshold courses is not shown
        small |= values["denominator"].map(lambda v: isinstance(v, (int, np.integer)) and 0 < v < threshold)
    hide = (small | withheld) & ~own_rows
    for column in DERIVED_COLUMNS:
        if column in out.columns:
            out.loc[hide, column] = np.nan
    if "status" in out.columns:
        status = out["status"].astype(object)
        status[withheld & ~own_rows] = STATUS_WITHHELD
        status[small & ~own_rows] = STATUS_SUPPRESSED
        out["status"] = status
    return out


def audit(table: pd.DataFrame, hierarchy: Hierarchy, *, own: Iterable[int] = (), threshold: int = 5,
          complete: Iterable[str | tuple[str, str]] = ()) -> list[Leak]:
    """Every hidden count of a finished indicator table that a reader recovers.

    ``table`` as published: counts as numbers, '< 5' (``threshold``), '..' or None (not shown).
    ``own``: municipalities the reader knows exactly; ``complete``: levels (or (level,
    granularity) pairs) whose every unit the table lists (a missing row is 0). The equations are
    every parent = sum of members (clusters, regions, the nation, overlapping ones too) and every
    period = sum of its shorter periods, as far as the table shows them.
    """
    counts = _counts(table)
    if table.empty:
        return []
    finest = _finest(table["period"].astype(str))
    layout = _Layout(table, hierarchy, own, _complete(complete), finest, _municipality_codes(table))
    marks = {primary_mark(threshold): PRIMARY, WITHHELD: SECONDARY}
    leaks: list[Leak] = []
    for ind, part in table.groupby("indicator", sort=False):
        for column in counts:
            keys, values, states = [], [], []
            for row, value in zip(part.index, part[column], strict=True):
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    continue
                keys.append(layout.keys[table.index.get_loc(row)])
                if isinstance(value, str):
                    if value not in marks:
                        raise ValueError(f"{column} {value!r}: not a count, {primary_mark(threshold)!r} or "
                                         f"{WITHHELD!r}")
                    values.append(None)
                    states.append(marks[value])
                else:
                    values.append(int(value))
                    states.append(SHOWN)
            keys += layout.extra
            values += [0] * len(layout.extra)
            states += [SHOWN] * len(layout.extra)
            block = Block([layout.cell(k) for k in keys])
            for f in block.audit(values, states, threshold):
                equation = tuple((coef, keys[i]) for i, coef in sorted(f.equation.items()))
                group = frozenset((m, _month_text(s, finest)) for m, s in f.atoms)
                leaks.append(Leak(str(ind), column, keys[f.cell] if f.cell is not None else None, group, f.value,
                                  f.method, equation))
    return leaks


def _month_text(start: int, months: int) -> str:
    year, month = divmod(start, 12)
    if months == 12:
        return str(year)
    if months == 3:
        return f"{year}-Q{month // 3 + 1}"
    return f"{year}-{month + 1:02d}"


# --- simple breakdowns (key figures, reasons) ---------------------------------------------------------------

def protect_breakdown(cells: Sequence[Cell], values: Sequence[int], threshold: int) -> list[object]:
    """One block of counts (e.g. a total and its breakdowns by sex, age band and diagnosis, atoms
    being the courses): each value as shown, an int, '< 5' or '..'."""
    states = suppress_cells(Block(cells), values, threshold)
    marks = {SHOWN: None, PRIMARY: primary_mark(threshold), SECONDARY: WITHHELD}
    return [v if s == SHOWN else marks[s] for v, s in zip(values, states, strict=True)]


def status_label(status: str, lang: str = "da") -> str | None:
    """The label of a status this module sets (withheld), or None for the engine's own."""
    label = STATUS_LABELS.get(status)
    return label.get(lang) if label else None
