"""The generic registry of named classes, and the designs registered in it."""

import pytest

from causalattn._registry import Registry
from causalattn.experiments import designs


def test_register_lookup_and_list_names():
    shapes = Registry("shape", argument="shape")

    @shapes.register("square")
    class Square:
        pass

    shapes.add("circle", dict)
    assert shapes.lookup("square") is Square and shapes["circle"] is dict
    assert shapes.names() == ("square", "circle") and list(shapes) == ["square", "circle"] and len(shapes) == 2
    assert "square" in shapes and "triangle" not in shapes
    assert repr(shapes) == "Registry('shape': ['square', 'circle'])"


def test_errors_name_the_argument_and_list_the_known_names():
    shapes = Registry("shape", argument="shape")
    shapes.add("square", object)
    with pytest.raises(ValueError, match=r"^`shape` must be one of \['square'\], got 'circle'$"):
        shapes.lookup("circle")
    with pytest.raises(ValueError, match=r"^`kind` must be one of \['square'\], got 'circle'; or a class$"):
        shapes.lookup("circle", argument="kind", hint="or a class")
    with pytest.raises(TypeError, match=r"^`shape` must be a string, one of \['square'\], got int$"):
        shapes.lookup(3)
    with pytest.raises(ValueError, match="the shape name 'square' is taken by object"):
        shapes.add("square", dict)
    with pytest.raises(TypeError, match="a shape name must be a non-empty string"):
        shapes.add("", dict)
    with pytest.raises(TypeError):
        shapes["x"] = dict  # read-only


def test_designs_register_themselves_by_shorthand():
    assert set(designs.DESIGNS.names()) == {"cre", "bre", "sre", "mpe", "rem", "cluster"}
    assert all(designs.DESIGNS[name].shorthand == name for name in designs.DESIGNS)
    with pytest.raises(ValueError, match="the design name 'cre' is taken by CRE"):
        class Another(designs.CRE, shorthand="cre"):
            pass
