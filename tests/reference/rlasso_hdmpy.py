"""Reference numbers for tests/test_lasso_plugin.py: hdm's plug-in lasso and double selection, from hdmpy.

hdmpy (PyPI ``hdmpy``, a Python port of R's hdm by M. Huppertz) is used here only: CI does not need it. Its
``rlasso`` follows hdm 0.3's ``rlasso.default`` with the defaults (heteroskedastic, X-independent lambda,
post = TRUE, c = 1.1, gamma = 0.1 / log n, 15 iterations, tolerance 1e-5; starting residuals from the OLS on the
5 covariates most correlated with y, the first lasso at half the penalty), but computes in float32: agreement to
about 1e-5 relative is what to expect. hdm's ``iter`` counts one more than the lassos fitted (its counter is
incremented before the stopping test), and its ``loadings`` are those computed after the last lasso; run with
``numIter`` one less than the lassos fitted, it returns the loadings that the last lasso used.

Run:  python tests/reference/rlasso_hdmpy.py   (with hdmpy installed)
"""

import sys
from pathlib import Path

import numpy as np
from hdmpy import rlasso, rlassoEffect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_lasso_plugin import plugin_data as data  # noqa: E402  (the test's data: one definition)

np.set_printoptions(precision=10, linewidth=150)
for n, p in ((80, 20), (40, 60)):
    x, d, y = data(n, p)
    print(f"== n = {n}, p = {p}")
    for name, target in (("y", y), ("d", d)):
        fit = rlasso(x, target).est
        fits = int(fit["iter"]) - 1
        kept = np.flatnonzero(np.asarray(fit["index"]).ravel())
        print(f"{name}: lambda0 {float(np.ravel(fit['lambda0'])[0]):.10f} lassos {fits} selected {kept.tolist()}")
        print(f"{name}: post-lasso coefficients {np.asarray(fit['beta']).ravel()[kept]}")
        if fits > 1:
            used = rlasso(x, target, numIter=fits - 1).est["loadings"]
            print(f"{name}: loadings of the last lasso {np.asarray(used).ravel()}")
    effect = rlassoEffect(x, y, d, method="double selection")
    union = np.flatnonzero(np.asarray(effect["selection_index"]).ravel())
    print(f"double selection: estimate {float(effect['alpha']):.10f} se {float(np.ravel(effect['se'])[0]):.10f} "
          f"union {union.tolist()}")
