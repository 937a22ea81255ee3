"""Sweep many drawn cases and summarise how close the frameworks come to the oracle and to their
tolerances: the evidence behind the tolerance table (``python -m parity sweep``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings

from parity import strategies
from parity.cases import ParityCase, check_case


@dataclass
class SweepSummary:
    cases: int = 0
    largest_error: dict[str, float] = field(default_factory=lambda: {"keras": 0.0, "torch": 0.0})
    largest_relative: dict[str, float] = field(default_factory=lambda: {"keras": 0.0, "torch": 0.0})
    tolerance_used: dict[str, float] = field(default_factory=lambda: {"cross": 0.0, "oracle": 0.0})
    worst_case: dict[str, str] = field(default_factory=dict)

    def add(self, case: ParityCase, direction: str, report) -> None:
        self.cases += 1
        for fw, err in report.largest_error_against_oracle().items():
            self.largest_error[fw] = max(self.largest_error[fw], err)
        for fw, err in report.largest_error_against_oracle(relative=True).items():
            self.largest_relative[fw] = max(self.largest_relative[fw], err)
        for kind, used in report.tolerance_used().items():
            if used >= self.tolerance_used[kind]:
                self.tolerance_used[kind] = used
                self.worst_case[kind] = f"check_case({case!r}, {direction!r})"

    def lines(self) -> list[str]:
        return [f"comparisons: {self.cases}",
                *(f"largest |{fw} - oracle|: {e:.3g} (relative to the tensor's largest |value|: "
                  f"{self.largest_relative[fw]:.3g})" for fw, e in self.largest_error.items()),
                *(f"largest share of tolerance used ({k}): {100 * u:.2f} %  <- {self.worst_case[k]}"
                  for k, u in self.tolerance_used.items() if k in self.worst_case)]


def sweep(examples: int, *, wide: bool = False, seed: int | None = 0,
          directions=("keras_to_torch", "torch_to_keras")) -> SweepSummary:
    summary = SweepSummary()

    @settings(max_examples=examples, deadline=None, database=None, derandomize=seed is None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategies.parity_cases(wide=wide))
    def run(case):
        for direction in directions:
            summary.add(case, direction, check_case(case, direction))

    if seed is not None:
        from hypothesis import seed as fix_seed
        run = fix_seed(seed)(run)
    run()
    return summary
