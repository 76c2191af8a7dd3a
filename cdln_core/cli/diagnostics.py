"""What a finished run did not do: the ``warnings`` of the ``cdln.run/1`` JSON and the summary.

A run can end "finished" and still teach nothing: too little data to identify Φ (a rank-r d×d
matrix has r(2d − r) degrees of freedom, so completion needs |Ω| ≥ r(2d − r) observed entries and
sensing m ≥ r(2d − r) measurements), or a model that never left its first plateau (E's largest
singular value still below a tenth of σ₁), or ended no closer to Φ than 0 is (recovery error ≥ 1).
Each becomes a sentence in ``warnings``.

Reference: [K] §5 and [Y] §3 (the problems); the Law of Parsimony (the plateaus of incremental learning).
"""

from __future__ import annotations

import math

import torch

from .common import FlagError, format_bytes

__all__ = ["NUMERIC_ERRORS", "degrees_of_freedom", "data_warnings", "learning_warnings", "finish",
           "diverged_at_init", "out_of_memory"]

NUMERIC_ERRORS = (FloatingPointError, OverflowError, torch.linalg.LinAlgError)


def degrees_of_freedom(d: int, rank: int) -> int:
    """r(2d − r): the dimension of the d×d matrices of rank r."""
    return rank * (2 * d - rank)


def data_warnings(problem) -> list[str]:
    """Too little data to identify Φ (completion and sensing). For a target you gave (``--target``), the
    problem's own warning: the rank-k part its data can identify (see ``sensing.identifiability``)."""
    if getattr(problem, "target", None) is not None and problem.kind in ("completion", "sensing", "rank_one"):
        return list(problem.warnings)
    d, r = problem.d, problem.rank
    dof = degrees_of_freedom(d, r)
    if problem.kind == "completion":
        n = int(problem.index.numel())
        if n < dof:
            return [f"only |Ω| = {n} observed entries, fewer than the r(2d − r) = {dof} degrees of freedom of a "
                    f"rank-{r} {d}×{d} target: Φ cannot be identified (raise --observed)"]
    if problem.kind == "sensing":
        m = int(problem.measurements)
        if m < dof:
            return [f"only m = {m} measurements, fewer than the r(2d − r) = {dof} degrees of freedom of a "
                    f"rank-{r} {d}×{d} target: Φ cannot be identified (raise --measurements)"]
    return []


def learning_warnings(result: dict, sigma: list[float]) -> list[str]:
    """A run that ended (not diverged, not converged) without learning Φ: still on its first plateau
    (E's largest singular value below a tenth of σ₁), or no closer to Φ than 0 is (recovery ≥ 1)."""
    if result.get("diverged_step") is not None or result.get("converged_step") is not None:
        return []
    if not result.get("recovery_error") or not sigma:
        return []
    rec, step = result["recovery_error"][-1], result["steps"][-1]
    svs = (result.get("e2e_singular_values") or [[]])[-1]
    top = svs[0] if len(svs) and svs[0] is not None else math.nan
    if math.isfinite(top) and top < 0.1 * sigma[0]:
        return [f"still on the first plateau at step {step}: E's largest singular value is {top:.2g} against "
                f"σ₁ = {sigma[0]:.3g}, recovery error {rec:.3g} (more --steps, a larger --lr or --init-scale, or a "
                "smaller --depth)"]
    if rec is not None and math.isfinite(rec) and rec >= 1:
        return [f"the run ended at step {step} with recovery error {rec:.3g} ≥ 1: E is no closer to Φ than 0 is"]
    return []


def finish(result: dict, sigma: list[float], problem) -> dict:
    """Add ``target_singular_values`` and ``warnings`` (kept from the core, if it gave any)."""
    result["target_singular_values"] = sigma
    found = list(result.get("warnings") or []) + data_warnings(problem) + learning_warnings(result, sigma)
    result["warnings"] = list(dict.fromkeys(found))
    return result


def diverged_at_init(head: dict, err: Exception) -> dict:
    """The JSON of a run whose initialization already left float64's range (no step was taken)."""
    note = f"the initialization left the finite range ({' '.join(str(err).split())[:200]})"
    empty = {k: [] for k in ("steps", "train_loss", "recovery_error", "test_loss", "wall_time",
                             "e2e_singular_values", "factor_singular_values")}
    return {**head, "model": head["config"]["model"], "n_params": None, **empty, "converged_step": None,
            "diverged_step": 0, "stop_reason": "diverged", "stopped_step": None, "interrupted_step": None,
            "divergence_note": note, "target_singular_values": [], "warnings": [note]}


def out_of_memory(config: dict, err: Exception) -> Exception:
    """A FlagError naming the sizes when ``err`` is an allocation failure; ``err`` itself otherwise."""
    text = str(err)
    if isinstance(err, MemoryError) or "allocate" in text or "out of memory" in text.lower():
        from .common import available_bytes

        have = available_bytes()
        more = "" if have is None else f" (this machine has {format_bytes(have)} available)"
        return FlagError(f"--d {config['d']} --depth {config['depth']} --model {config['model']} needs more memory "
                         f"than this machine could give{more}: use a smaller --d or --depth")
    return err
