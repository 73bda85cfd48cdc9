"""The overlap policy: which object owns a pixel that several objects predicted.

Rules (``rule``):

- ``"keep_earlier"`` (default): a later object only claims pixels that no earlier object has; pixels it
  predicted inside an earlier object stay with the earlier one.
- ``"later_wins"``: the user's explicit choice that a later object takes the overlapping pixels from earlier
  ones; finishing is refused if that would leave an earlier object empty.

Either way every pixel belongs to at most one object. All masks are (H, W) bool.
"""
from typing import List, Sequence, Tuple

import numpy as np

__all__ = ["OVERLAP_RULES", "DEFAULT_RULE", "check_rule", "compose", "visible_current", "check_finish"]

OVERLAP_RULES = ("keep_earlier", "later_wins")
DEFAULT_RULE = "keep_earlier"


def check_rule(rule) -> str:
    """``rule`` if it is one of :data:`OVERLAP_RULES`.

    Raises:
        ValueError: another value (named in the message, with the accepted ones).
    """
    if rule not in OVERLAP_RULES:
        raise ValueError(f"overlap_rule must be one of {', '.join(OVERLAP_RULES)}, got {rule!r}")
    return rule


def compose(raws: Sequence[np.ndarray], rule: str, shape: Tuple[int, int]) -> Tuple[List[np.ndarray], np.ndarray]:
    """Final masks of finished objects from their raw ``prob > threshold`` masks.

    Args:
        raws: (H, W) bool raw masks in object order. rule: one of :data:`OVERLAP_RULES`. shape: (H, W).
    Returns:
        (finals, claimed): the (H, W) bool final masks (pairwise disjoint) in object order, and their union.
    """
    check_rule(rule)
    finals = []
    claimed = np.zeros(shape, bool)
    if rule == "keep_earlier":
        for raw in raws:
            final = raw & ~claimed
            claimed |= final
            finals.append(final)
    else:
        for raw in reversed(raws):
            finals.append(raw & ~claimed)
            claimed |= raw
        finals.reverse()
    return finals, claimed


def visible_current(raw: np.ndarray, claimed: np.ndarray, rule: str) -> np.ndarray:
    """(H, W) bool: the part of the current object's raw mask it would own if finished now."""
    return raw & ~claimed if rule == "keep_earlier" else raw.copy()


def check_finish(raw: np.ndarray, finals: Sequence[np.ndarray], claimed: np.ndarray, rule: str) -> None:
    """Refuse to finish an object that the rule would leave empty or that would empty an earlier one.

    Raises:
        ValueError: keep_earlier: every pixel of ``raw`` is claimed already; later_wins: ``raw`` covers
            some earlier object's final mask completely (their 1-based ids are named).
    """
    if rule == "keep_earlier":
        if not (raw & ~claimed).any():
            raise ValueError("refused: every pixel of this object already belongs to earlier objects "
                             "(overlap rule keep_earlier)")
    else:
        emptied = [i + 1 for i, f in enumerate(finals) if f.any() and not (f & ~raw).any()]
        if emptied:
            raise ValueError(f"refused: this object would cover earlier object(s) {emptied} completely "
                             "(overlap rule later_wins)")
