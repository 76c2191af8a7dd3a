"""Spectra and subspaces on constructed cases with known answers."""

import math

import numpy as np
import pytest
import torch

from cdln_core import spectra


def test_principal_angles_known_cases():
    e = torch.eye(4, dtype=torch.float64)
    assert spectra.principal_angles(e[:, :2], e[:, :2]).abs().max() < 1e-7  # same space
    torch.testing.assert_close(spectra.principal_angles(e[:, :2], e[:, 2:]), torch.full((2,), math.pi / 2,
                                                                                         dtype=torch.float64))
    theta = 0.3
    tilted = torch.stack([torch.tensor([math.cos(theta), 0, math.sin(theta), 0.0], dtype=torch.float64), e[:, 1]], 1)
    torch.testing.assert_close(spectra.principal_angles(e[:, :2], 5 * tilted),  # scale does not matter
                               torch.tensor([0.0, theta], dtype=torch.float64), atol=1e-7, rtol=0)


def test_effective_rank():
    g = torch.Generator().manual_seed(0)
    U, _ = torch.linalg.qr(torch.randn(20, 20, generator=g, dtype=torch.float64))
    for k in (1, 3, 7):
        M = U[:, :k] @ torch.randn(k, 15, generator=g, dtype=torch.float64)
        equal = U[:, :k] @ U[:, :k].T  # k equal singular values: effective rank exactly k
        assert spectra.effective_rank(equal) == pytest.approx(k, rel=1e-10)
        assert 1.0 <= spectra.effective_rank(M) <= k + 1e-9
    assert spectra.effective_rank(torch.zeros(5, 5)) == 0.0


def test_middle_spread_and_rho_prediction():
    rho, spread = spectra.middle_spread([5.0, 4.0, 0.9, 0.4, 0.1, 0.01], 2)  # middle: s[2:4]
    assert rho == pytest.approx(0.65) and spread == pytest.approx(0.5)
    with pytest.raises(ValueError, match="rank"):
        spectra.middle_spread([1.0, 0.5], 1)
    pred = spectra.rho_prediction(0.5, 0.1, 2, [0, 1, 3])
    r1 = 0.5 - 0.1 * 0.5**3
    r2 = r1 - 0.1 * r1**3
    assert pred.tolist() == pytest.approx([0.5, r1, r2 - 0.1 * r2**3])


def test_fit_steps_and_alignment():
    steps = [0, 10, 20, 30]
    svs = np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 0.4], [3.0, 2.0]])
    assert spectra.fit_steps(steps, svs, [4.0, 2.0]) == [10, 30]
    assert spectra.fit_steps(steps, svs, [10.0, 2.0]) == [None, 30]
    g = torch.Generator().manual_seed(1)
    U, _ = torch.linalg.qr(torch.randn(6, 2, generator=g, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(6, 2, generator=g, dtype=torch.float64))
    E = U @ torch.diag(torch.tensor([3.0, 1.0], dtype=torch.float64)) @ V.T
    np.testing.assert_allclose(spectra.singular_vector_alignment(E, U, V), [1.0, 1.0], atol=1e-12)
    swapped = U @ torch.diag(torch.tensor([1.0, 3.0], dtype=torch.float64)) @ V.T  # order flipped
    assert np.all(spectra.singular_vector_alignment(swapped, U, V) < 1e-10)
