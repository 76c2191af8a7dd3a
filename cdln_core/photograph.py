"""A real photograph completed by a DLN and a C-DLN: deep matrix completion on an image.

A grayscale photograph is a d×d matrix Φ that is only *approximately* low-rank: its own spectrum
σ_1 ≥ σ_2 ≥ … ≥ σ_d decays but never stops. Observe a fraction p of its pixels (Ω uniform without
replacement, |Ω| = ⌊p·d²⌋) and fit E = W_L ⋯ W_1 to them with the loss of deep matrix completion,
½·mean over Ω of (E − Φ)². The wide DLN learns E's singular values one at a time and can fit
every observed pixel; the C-DLN of width r̂ < d can only fit a rank-r̂ matrix, so at best it reaches
the best rank-r̂ approximation of the image, whose error
√(Σ_{i>r̂} σ_i²) / ‖σ‖ is the *truncation error* (``truncation_error``).

- ``load_image(name, d)``: one of the photographs scikit-learn ships inside its wheel (``IMAGES``),
  read offline with pillow, to grayscale, the central square box-averaged to d×d, scaled so that
  ‖Φ‖_F = 1 (``norm``; only ε relative to σ_1^{1/L} matters once η scales with it, see ``stable_lr``):
  shape (d, d), float64;
- ``image_problem(image, observed=p, seed=s)``: a ``problems.Completion`` with U, σ, V the image's
  SVD (every σ above ``tol``·σ_1) and Ω from the seed's "problem" stream;
- ``complete(problem, model, depth, ...)``: trains the DLN (``model="dln"``) or the C-DLN
  (``"cdln"``, spectral init from P_Ω(Φ)/p, outer step α·η) and returns a ``Completed``: frames of E
  (n_frames, d, d), E's singular values per frame, the wall time, the test error on the unobserved
  pixels and the recovery error ‖E − Φ‖_F/‖Φ‖_F beside the truncation error at r̂.

Experiments layer: imports the core, never the interfaces. Needs scikit-learn (for the image file)
and pillow, imported inside ``load_image``.

Reference: [K] §5 (compressed deep matrix completion); [Y] §3; the incremental learning of the Law of
Parsimony (arXiv 2306.01154).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import seeds
from .checks import check_choice, check_int, check_number
from .compression import spectral_init
from .dln import end_to_end
from .factors import outer_scales
from .networks import Network, make_network
from .problems import make_problem
from .problems.completion import Completion
from .problems.given import numerical_rank
from .training import TrainConfig, Trajectory, train

__all__ = [
    "IMAGES",
    "MODELS",
    "RANK_HAT",
    "Completed",
    "compare",
    "complete",
    "default_lr",
    "image_problem",
    "load_image",
    "network",
    "stable_lr",
    "truncation_error",
    "unobserved_error",
]

IMAGES = ("china", "flower")  # the sample photographs in scikit-learn's wheel (427×640 RGB JPEGs)
MODELS = ("dln", "cdln")
RANK_HAT = 16  # the C-DLN's default width r̂
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of R, G, B


def _image_file(name: str) -> Path:
    """The path of sample image ``name`` inside the installed scikit-learn, found without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the sample photographs come with scikit-learn: pip install scikit-learn")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "images" / f"{name}.jpg"
    if not path.is_file():
        raise FileNotFoundError(f"scikit-learn's sample image {path} is missing; reinstall scikit-learn")
    return path


def load_image(name: str = "china", d: int = 64, *, norm: float = 1.0) -> torch.Tensor:
    """Photograph ``name`` (one of ``IMAGES``) as a d×d grayscale matrix with ‖Φ‖_F = ``norm``: shape (d, d).

    The central square of the photograph (427×427) is box-averaged down to d×d (each output pixel
    the mean of the input pixels it covers), so d must be in [2, 427]. Offline and deterministic."""
    name = check_choice("name (the image)", name, IMAGES)
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("reading the photograph needs pillow: pip install pillow") from None
    with Image.open(_image_file(name)) as img:
        rgb = np.asarray(img.convert("RGB"), dtype=np.float64)  # (H, W, 3)
    side = min(rgb.shape[:2])
    d = check_int("d", d, 2, side)
    top, left = (rgb.shape[0] - side) // 2, (rgb.shape[1] - side) // 2
    gray = rgb[top:top + side, left:left + side] @ np.array(LUMA)  # (side, side), 0…255
    small = np.asarray(Image.fromarray(gray.astype(np.float32), mode="F").resize((d, d), Image.Resampling.BOX),
                       dtype=np.float64)  # (d, d)
    norm = check_number("norm", norm, low=0.0, low_open=True)
    return torch.from_numpy(small * (norm / np.linalg.norm(small)))  # ‖Φ‖_F = norm


def image_problem(image: torch.Tensor, *, observed: float = 0.3, seed: int = 0, tol: float = 1e-12) -> Completion:
    """Completion of ``image`` (d, d) from a fraction ``observed`` = p ∈ (0, 1] of its pixels.

    The target is the image itself, kept exactly (``make_problem("completion", target=image)``), with U (d, r),
    σ (r,), V (d, r) its top singular triplets: every σ_i > tol·σ_1 and above the kit's numerical-rank floor
    σ_1·d·eps (r = d for a photograph). Ω (⌊p·d²⌋ pixels, uniform without replacement) comes from the seed's
    "problem" stream, so the same seed gives the same pixels."""
    if not isinstance(image, torch.Tensor) or image.ndim != 2 or image.shape[0] != image.shape[1]:
        raise TypeError(f"image must be a square (d, d) torch tensor, got {getattr(image, 'shape', type(image))}")
    if image.shape[0] < 2 or not bool(torch.isfinite(image).all()):
        raise ValueError("image must be finite and at least 2×2")
    p = check_number("observed", observed, low=0.0, high=1.0, low_open=True)
    tol = check_number("tol", tol, low=0.0, high=1.0, high_open=True)
    seed = seeds.check_seed(seed)
    d = image.shape[0]
    if math.floor(p * d * d) < 1:
        raise ValueError(f"observed={observed} leaves no observed pixel at d={d}; raise it")
    S = torch.linalg.svdvals(image.to(torch.float64))  # (d,)
    if S[0] <= 0:
        raise ValueError("image must not be all zeros")
    rank = min(int((S > tol * S[0]).sum()), numerical_rank(S, d))
    return make_problem("completion", target=image, rank=rank, observed=p, seed=seed)


def truncation_error(problem: Completion, rank_hat: int) -> float:
    """‖Φ − Φ_r̂‖_F / ‖Φ‖_F for the best rank-r̂ approximation Φ_r̂: √(Σ_{i>r̂} σ_i²) / ‖σ‖ (0 for r̂ ≥ r)."""
    rank_hat = check_int("rank_hat", rank_hat, 1, problem.d)
    s2 = problem.sigma.double() ** 2
    return math.sqrt(float(s2[rank_hat:].sum() / s2.sum()))


def stable_lr(problem: Completion, depth: int, lr_ratio: float = 1.0) -> float:
    """The largest η at which gradient descent is stable along the image's top singular direction.

    Once σ_1 is fitted by balanced factors (each of size σ_1^{1/L}), the loss ½·mean over Ω along that
    direction has curvature σ_1^{2(L−1)/L}·Σ_l s_l / d² in the step-scaled factors (s_l = α on the
    outer two, 1 inside), and gradient descent needs η·curvature < 2:
    η_max = 2·d² / (σ_1^{2(L−1)/L}·Σ_l s_l). The same η is stable for both networks when computed with
    the larger α."""
    depth = check_int("depth", depth, 1)
    lr_ratio = check_number("lr_ratio", lr_ratio, low=0.0)
    scales = sum(outer_scales(depth, lr_ratio))
    if scales == 0:
        raise ValueError("lr_ratio=0 at depth 1 or 2 freezes every factor; give lr_ratio > 0")
    return 2 * problem.d**2 / (float(problem.sigma[0]) ** (2 * (depth - 1) / depth) * scales)


@dataclass(frozen=True)
class Completed:
    """One network's completion of the photograph, one entry per frame (n frames, step 0 and the last
    step among them).

    steps (n,); frames (n, d, d): E at those steps; singular_values (n, d): E's, descending;
    recovery_errors (n,): ‖E − Φ‖_F/‖Φ‖_F; test_errors (n,): the same on the unobserved pixels only,
    ‖P_Ωᶜ(E − Φ)‖_F/‖P_Ωᶜ(Φ)‖_F (NaN when p = 1); wall_time: seconds of optimization (recording
    excluded); truncation_error: the best rank-r̂ error of the whole image (0 for the DLN, r̂ = d);
    lr: the η it ran with; trajectory: the run (its records keep the factors)."""

    model: str
    rank_hat: int
    lr: float
    steps: np.ndarray
    frames: np.ndarray
    singular_values: np.ndarray
    recovery_errors: np.ndarray
    test_errors: np.ndarray
    wall_time: float
    truncation_error: float
    trajectory: Trajectory

    @property
    def records(self) -> list:
        return self.trajectory.records

    @property
    def diverged_step(self) -> int | None:
        return self.trajectory.diverged_step

    @property
    def n_params(self) -> int:
        return self.trajectory.n_params

    @property
    def recovery_error(self) -> float:
        """At the last frame."""
        return float(self.recovery_errors[-1])

    @property
    def test_error(self) -> float:
        """On the unobserved pixels at the last frame."""
        return float(self.test_errors[-1])

    def best(self, metric: str = "test_errors") -> tuple[float, int]:
        """(the lowest value of ``metric`` over the frames, its step)."""
        values = getattr(self, check_choice("metric", metric, ("test_errors", "recovery_errors")))
        i = int(np.nanargmin(values)) if np.isfinite(values).any() else len(values) - 1
        return float(values[i]), int(self.steps[i])

    def steps_to(self, error: float, metric: str = "test_errors") -> int | None:
        """The first recorded step at which ``metric`` ≤ ``error`` (None if never)."""
        values = getattr(self, check_choice("metric", metric, ("test_errors", "recovery_errors")))
        hit = np.flatnonzero(values <= check_number("error", error, low=0.0))
        return int(self.steps[hit[0]]) if hit.size else None


def unobserved_error(problem: Completion, E) -> float:
    """‖P_Ωᶜ(E − Φ)‖_F / ‖P_Ωᶜ(Φ)‖_F: the relative error on the pixels the network never saw (NaN at p = 1)."""
    E = torch.as_tensor(E, dtype=torch.float64)  # (d, d)
    hidden = 1.0 - problem.mask  # (d, d)
    den = torch.sum(hidden * problem.Phi**2)
    return math.nan if den == 0 else math.sqrt(float(torch.sum(hidden * (E - problem.Phi) ** 2) / den))


def default_lr(problem: Completion, depth: int, lr_ratio: float = 1.0) -> float:
    """Half of ``stable_lr``: the η the photograph runs use unless told otherwise."""
    return 0.5 * stable_lr(problem, depth, lr_ratio)


def network(problem: Completion, model: str, depth: int = 3, *, rank_hat: int | None = None,
            lr_ratio: float = 1.0, init_scale: float = 3e-2, seed: int = 0) -> Network:
    """The DLN (L factors d×d at ε·O_l) or the C-DLN (r̂ wide, default min(``RANK_HAT``, d); spectral
    init) for ``problem``, every argument checked."""
    if not isinstance(problem, Completion):
        raise TypeError(f"problem must be a Completion (from image_problem), got {type(problem).__name__}")
    model = check_choice("model", model, MODELS)
    if model == "dln":
        return make_network("dln", problem, depth, init_scale=init_scale, lr_ratio=lr_ratio, seed=seed)
    # make_network("cdln") asks r̂ ≥ r, the rank of an exactly low-rank target; a photograph has r = d and r̂ < d is
    # the point, so the C-DLN is built here: the same spectral init (surrogate P_Ω(Φ)/p, [K] §4), the same scales
    depth = check_int("depth", depth, 2)
    rank_hat = check_int("rank_hat", min(RANK_HAT, problem.d) if rank_hat is None else rank_hat, 1, problem.d)
    init_scale = check_number("init_scale", init_scale, low=0.0, low_open=True)
    lr_ratio = check_number("lr_ratio", lr_ratio, low=0.0)
    Ws = spectral_init(problem.surrogate(), depth, rank_hat, init_scale=init_scale)  # (r̂, d), …, (d, r̂)
    return Network("cdln", Ws, outer_scales(depth, lr_ratio), depth=depth, rank_hat=rank_hat, init_scale=init_scale,
                   lr_ratio=lr_ratio, seed=seeds.check_seed(seed))


def complete(
    problem: Completion,
    model: str,
    depth: int = 3,
    *,
    rank_hat: int | None = None,
    lr_ratio: float = 1.0,
    init_scale: float = 3e-2,
    lr: float | None = None,
    steps: int = 4000,
    frames: int = 40,
    seed: int = 0,
    max_seconds: float | None = None,
    callback=None,
) -> Completed:
    """Fill in ``problem`` (from ``image_problem``) with a DLN (``model="dln"``) or a C-DLN (``"cdln"``).

    depth: L (≥ 1 for the DLN, ≥ 2 for the C-DLN). rank_hat: r̂ of the C-DLN in [1, d] (default
    min(``RANK_HAT``, d); ignored by the DLN). lr_ratio: α, the outer factors' step ratio.
    init_scale: ε. lr: η (default ``default_lr(problem, depth, lr_ratio)``; give both networks the same
    η to compare them, as [K] does). steps: gradient steps (≥ 1). frames: the most frames of E to keep
    (≥ 2; every ⌈steps/(frames − 1)⌉ steps, step 0 and the last step always among them). The run stops
    early if it diverges, if the training loss reaches 1e-14, at ``max_seconds``, or when
    ``callback(record)`` returns True."""
    net = network(problem, model, depth, rank_hat=rank_hat, lr_ratio=lr_ratio, init_scale=init_scale, seed=seed)
    frames = check_int("frames", frames, 2)
    steps = check_int("steps", steps, 1)
    lr = default_lr(problem, net.n_factors, net.lr_ratio) if lr is None else check_number("lr", lr, low=0.0,
                                                                                           low_open=True)
    config = TrainConfig(lr=lr, steps=steps, tol=1e-14, record_every=-(-steps // (frames - 1)),
                         keep_factors=True, max_seconds=max_seconds)
    traj = train(problem, net, config, callback=callback)
    movie = np.stack([end_to_end(r.factors) for r in traj.records])  # (n, d, d)
    return Completed(
        model=model,
        rank_hat=problem.d if model == "dln" else net.rank_hat,
        lr=lr,
        steps=np.array(traj.steps),
        frames=movie,
        singular_values=np.stack([r.e2e_singular_values for r in traj.records]),  # (n, d)
        recovery_errors=np.array(traj.recovery_error, dtype=float),
        test_errors=np.array([unobserved_error(problem, E) for E in movie]),
        wall_time=float(traj.wall_time[-1]),
        truncation_error=truncation_error(problem, problem.d if model == "dln" else net.rank_hat),
        trajectory=traj,
    )


def compare(problem: Completion, depth: int = 3, *, rank_hat: int | None = None, lr_ratio: float = 2.0,
            init_scale: float = 3e-2, lr: float | None = None, steps: int = 4000, frames: int = 40,
            seed: int = 0) -> dict[str, Completed]:
    """The DLN and the C-DLN on the same photograph with the same ε and η ([K]'s comparison): η defaults to
    ``default_lr`` at the C-DLN's α (stable for both). Returns {"DLN": …, "C-DLN": …}."""
    lr_ratio = check_number("lr_ratio", lr_ratio, low=0.0)
    lr = default_lr(problem, depth, max(lr_ratio, 1.0)) if lr is None else lr
    common = dict(init_scale=init_scale, lr=lr, steps=steps, frames=frames, seed=seed)
    return {"DLN": complete(problem, "dln", depth, **common),
            "C-DLN": complete(problem, "cdln", depth, rank_hat=rank_hat, lr_ratio=lr_ratio, **common)}
