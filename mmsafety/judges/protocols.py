"""Each benchmark's judging protocol, in one table: its scoring policy, its offline
judge, and the rubrics its LLM judge uses.

A benchmark not in the table (a custom set built in the shared schema, named by repo
id) gets :data:`DEFAULT_PROTOCOL`: policy ``default``, the rule judge, generic rubrics.

>>> protocol_for("mmsafeaware").policy, protocol_for("mmsafeaware").offline_judge
('mmsafeaware', 'yesno')
>>> protocol_for("someone/custom-set").policy
'default'
"""

from __future__ import annotations

from dataclasses import dataclass

from mmsafety.judges.rubric import RubricSet


@dataclass(frozen=True)
class Protocol:
    """How a benchmark is judged and scored."""

    policy: str
    """The scoring policy (``mmsafety.scoring.score(policy=...)``)."""
    offline_judge: str
    """The judge used when no endpoint is given: ``yesno`` or ``rules``."""
    rubrics: tuple[str, ...]
    """Packaged rubric files of the LLM judge, tried in order by sample label."""


PROTOCOLS: dict[str, Protocol] = {
    "mmsafeaware": Protocol("mmsafeaware", "yesno", ("generic_unsafe.txt", "generic_benign.txt")),
    "salad": Protocol("salad", "rules", ("salad_unsafe.txt", "salad_benign.txt")),
    "vlsbench": Protocol("vlsbench", "rules", ("vlsbench.txt",)),
}
DEFAULT_PROTOCOL = Protocol("default", "rules", ("generic_unsafe.txt", "generic_benign.txt"))


def protocol_for(benchmark: str) -> Protocol:
    """The protocol of a built-in benchmark (or ``mmsafety/<name>``), else the default."""
    name = benchmark.removeprefix("mmsafety/")
    return PROTOCOLS.get(name, DEFAULT_PROTOCOL)


def policy_for(benchmark: str) -> str:
    """The scoring policy a benchmark is scored with by default.

    >>> policy_for("vlsbench"), policy_for("salad"), policy_for("org/mine")
    ('vlsbench', 'salad', 'default')
    """
    return protocol_for(benchmark).policy


def rubrics_for(benchmark: str) -> RubricSet:
    """The built-in rubrics of a benchmark's LLM judge."""
    return RubricSet.builtin(protocol_for(benchmark).rubrics)
