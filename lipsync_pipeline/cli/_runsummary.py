"""What a run came to, summed up once for every report that shows it (the text
table's foot, the Markdown summary): counts by outcome, API requests, why it stopped,
and its credits."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from lipsync_pipeline.run import Outcome, RunReport

__all__ = ["RunSummary"]


@dataclass(frozen=True, slots=True)
class RunSummary:
    counts: Counter[str]  # outcome -> how many jobs came to it
    requests: int  # API requests, all kinds
    # (why, what) for each reason the run stopped short, in this order: all are shown,
    # as a disk that filled up and a Ctrl-C after it are both worth knowing.
    stops: tuple[tuple[str, str], ...]
    rendered: int  # renders this run completed whose bill was measured
    credits: bool  # whether there is anything to say about credits
    over_budget: int  # jobs not submitted: over the spend cap

    @classmethod
    def of(cls, report: RunReport) -> RunSummary:
        rendered = sum(r.billed_credits is not None for r in report.results)
        reasons = (
            ("interrupted", "run again to resume" if report.interrupted else ""),
            ("stopped", report.storage_error or report.store_error),
            ("no job got through to the API", report.api_error),
        )
        return cls(
            counts=Counter(str(r.outcome) for r in report.results),
            requests=sum(report.requests.values()),
            stops=tuple((why, what) for why, what in reasons if what),
            rendered=rendered,
            credits=bool(rendered) or any(r.estimated_credits is not None for r in report.results),
            over_budget=sum(r.outcome is Outcome.OVER_BUDGET for r in report.results),
        )
