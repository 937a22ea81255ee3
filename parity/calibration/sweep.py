"""Sweep many drawn cases and summarise how close the frameworks come to the oracle and to their
tolerances: the evidence behind the tolerance table (``python -m parity sweep``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings

from parity.checks import strategies
from parity.checks.cases import ParityCase, check_case
from parity.core import progress
from parity.core.errors import UnsupportedConfig


def _check_examples(examples: int) -> None:
    if not isinstance(examples, int) or examples < 1:
        raise UnsupportedConfig("examples", examples, "draw at least 1 case (e.g. 300)")


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
    _check_examples(examples)
    summary = SweepSummary()

    @settings(max_examples=examples, deadline=None, database=None, derandomize=seed is None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategies.parity_cases(wide=wide))
    def run(case):
        for direction in directions:
            summary.add(case, direction, check_case(case, direction))
        bar.update()

    if seed is not None:
        from hypothesis import seed as fix_seed
        run = fix_seed(seed)(run)
    with progress.bar(total=examples, desc="sweep", unit="case") as bar:
        run()
    return summary


# (column, spec options, mask patterns, what to check)
_COLUMNS = (
    ("unidirectional", dict(bidirectional=False), ("none",), "forward"),
    ("bidirectional", dict(bidirectional=True), ("none",), "forward"),
    ("masked right-padded", {}, ("right_padded",), "forward"),
    ("masked with gaps", {}, ("gaps", "left_padded", "with_empty_row"), "forward"),
    ("gradients", {}, ("none", "right_padded", "gaps"), "gradients"),
    ("float16", dict(dtypes=("float16",), activations=("tanh",), max_units=8, max_layers=2),
     ("none", "gaps"), "both"),
    ("bfloat16", dict(dtypes=("bfloat16",), activations=("tanh",), max_units=8, max_layers=2),
     ("none", "gaps"), "both"),
)


def _column(kind: str, options: dict, masks, what: str, examples: int) -> dict[str, float]:
    """Largest relative error per framework and largest tolerance share, for one table cell."""
    from parity.checks.cases import check_gradients

    found = {"keras": 0.0, "torch": 0.0, "used": 0.0}
    specs = strategies.recurrent_specs(kinds=(kind,), **options)

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=strategies.parity_cases(specs=specs, masks=masks))
    def run(case):
        reports = []
        if what in ("forward", "both"):
            reports.append(check_case(case))
        if what in ("gradients", "both"):
            reports.append(check_gradients(case))
        for r in reports:
            for fw, e in r.largest_error_against_oracle(relative=True).items():
                found[fw] = max(found[fw], e)
            found["used"] = max(found["used"], *r.tolerance_used().values())

    run()
    return found


def error_table(examples: int = 30) -> list[str]:
    """Markdown: per cell kind and column, the largest error against the float64 oracle of each
    framework (K = Keras, T = torch; relative to the largest magnitude of the tensor) and the
    largest share of the tolerance used, over ``examples`` derandomised cases per cell."""
    from parity.checks.capabilities import unsupported_reason

    _check_examples(examples)
    header = "| cell | " + " | ".join(c[0] for c in _COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(_COLUMNS) + 1)]
    for kind in ("simple_rnn", "lstm", "gru"):
        row = [kind]
        for _name, options, masks, what in _COLUMNS:
            dtype = options.get("dtypes", ("float32",))[0]
            reason = unsupported_reason(dtype, kind) if dtype in ("float16", "bfloat16") else None
            if reason:
                row.append(f"skipped: {reason[:60]}")
                continue
            found = _column(kind, options, masks, what, examples)
            row.append(f"K {found['keras']:.1e} / T {found['torch']:.1e} "
                       f"({100 * found['used']:.0f} %)")
        lines.append("| " + " | ".join(row) + " |")
    return lines
