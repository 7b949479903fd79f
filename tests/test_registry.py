"""The registry of named classes, through the one the designs use (`causalattn.designs.DESIGNS`)."""

import numpy as np
import pytest

import causalattn as ca
from causalattn.experiments import designs


def test_designs_register_themselves_and_are_looked_up_by_name():
    registry = designs.DESIGNS
    assert set(registry.names()) == {"cre", "bre", "sre", "mpe", "rem", "cluster"} == set(registry)
    assert registry.lookup("sre") is designs.SRE and registry["mpe"] is designs.MPE and "crd" not in registry
    assert all(registry[name].shorthand == name for name in registry)
    assert repr(registry).startswith("Registry('design': ['cre', ")


def test_lookup_errors_name_the_argument_and_list_the_known_names():
    registry = designs.DESIGNS
    with pytest.raises(ValueError, match=r"^`design` must be one of \['cre', .*'cluster'\], got 'crd'$"):
        registry.lookup("crd")
    with pytest.raises(ValueError, match=r"^`kind` must be one of \[.*\], got 'crd'; or a value$"):
        registry.lookup("crd", argument="kind", hint="or a value")
    with pytest.raises(TypeError, match=r"^`design` must be a string, one of \['cre', .*\], got int$"):
        registry.lookup(3)
    with pytest.raises(TypeError):
        registry["x"] = designs.CRE  # read-only


def test_a_taken_name_is_refused_and_a_new_design_registers_by_its_class_statement():
    with pytest.raises(ValueError, match="the design name 'cre' is taken by CRE"):
        class Another(designs.CRE, shorthand="cre"):
            pass
    with pytest.raises(TypeError, match="a design name must be a non-empty string"):
        class Empty(designs.CRE, shorthand=""):
            pass

    class Alternating(designs.CRE, shorthand="test-alternating"):
        """A CRE under another name: registered without editing frt or the registry."""

    try:
        assert designs.DESIGNS["test-alternating"] is Alternating
        y, z = np.array([3.0, 4.0, 1.0, 2.0]), np.array([1, 1, 0, 0])
        assert ca.frt(y, z, design="test-alternating").pvalue == ca.frt(y, z).pvalue  # takes no arguments
    finally:
        assert designs.DESIGNS.remove("test-alternating") is Alternating  # the registry as the library defines it
    assert "test-alternating" not in designs.DESIGNS
