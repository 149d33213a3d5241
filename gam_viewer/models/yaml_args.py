"""Read the string arguments of model YAML rows with a small whitelist grammar, never ``eval``.

YOLO repos ``eval`` every string in a row's argument list (YOLOv7's ``parse_model`` keeps the
string when ``eval`` fails). gam-viewer accepts only this grammar:

    arg      := number | None | True | False | nc | anchors | list | call | word
    number   := int or float literal, optionally signed
    list     := '[' arg, ... ']'   (or a tuple)
    call     := ['nn.' | 'torch.nn.'] ACTIVATION '(' [number | bool], ... [name=number|bool] ')'
    word     := a bare identifier that is none of the above, kept as the string itself
                (e.g. 'nearest', as YOLO's eval-or-keep does)

``ACTIVATION`` is one of :data:`ALLOWED_CALLS` (argument-light activation modules). Anything
else (attribute access on other names, other calls, operators, subscripts, lambdas, ...) is
refused with a :class:`~gam_viewer.models.errors.ModelLoadError` naming the text.
"""

import ast
from typing import Any, Dict, Optional

from torch import nn

from .errors import ModelLoadError

__all__ = ["parse_arg", "ALLOWED_CALLS"]

#: module names a YAML argument may construct, with the keyword arguments each accepts
ALLOWED_CALLS: Dict[str, tuple] = {
    "LeakyReLU": ("negative_slope", "inplace"),
    "ReLU": ("inplace",),
    "ReLU6": ("inplace",),
    "SiLU": ("inplace",),
    "Hardswish": ("inplace",),
    "Mish": ("inplace",),
    "Sigmoid": (),
    "Tanh": (),
    "GELU": (),
    "Identity": (),
}
_CONSTRUCT = {"LeakyReLU": nn.LeakyReLU, "ReLU": nn.ReLU, "ReLU6": nn.ReLU6, "SiLU": nn.SiLU,
              "Hardswish": nn.Hardswish, "Mish": nn.Mish, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh,
              "GELU": nn.GELU, "Identity": nn.Identity}


class _Refused(Exception):
    pass


def _call_name(func: ast.AST) -> Optional[str]:
    """'LeakyReLU' for ``LeakyReLU``, ``nn.LeakyReLU`` or ``torch.nn.LeakyReLU``; else None."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        base = func.value
        if isinstance(base, ast.Name) and base.id == "nn":
            return func.attr
        if isinstance(base, ast.Attribute) and base.attr == "nn" and isinstance(base.value, ast.Name) \
                and base.value.id == "torch":
            return func.attr
    return None


def _scalar(node: ast.AST):
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (bool, int, float))):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)) \
            and isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, (int, float)) \
            and not isinstance(node.operand.value, bool):
        v = node.operand.value
        return -v if isinstance(node.op, ast.USub) else v
    raise _Refused


def _value(node: ast.AST, nc, anchors, top: bool):
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_value(e, nc, anchors, False) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Name):
        if node.id == "nc":
            return nc
        if node.id == "anchors":
            return anchors
        if node.id in ALLOWED_CALLS or node.id == "nn":
            raise _Refused  # a class without a call, or a namespace: not an argument value
        return node.id  # a bare word: YOLO's eval fails on it and keeps the string
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call):
        name = _call_name(node.func)
        if name not in ALLOWED_CALLS:
            raise _Refused
        allowed = ALLOWED_CALLS[name]
        if len(node.args) > len(allowed):
            raise _Refused
        args = [_scalar(a) for a in node.args]
        kwargs = {}
        for kw in node.keywords:
            if kw.arg is None or kw.arg not in allowed:
                raise _Refused
            kwargs[kw.arg] = _scalar(kw.value)
        try:
            return _CONSTRUCT[name](*args, **kwargs)
        except (TypeError, ValueError):
            raise _Refused from None
    return _scalar(node)


def parse_arg(value: Any, nc: Any = None, anchors: Any = None, where: str = "") -> Any:
    """The value of one YAML argument. Non-strings pass through; strings follow the grammar.

    ``where`` names the row in the error message (e.g. ``"layer 3 (Conv)"``).
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        if text and all(ch.isalnum() or ch in "_-." for ch in text) and "." not in text:
            return value  # e.g. 'nearest-exact'
        tree = None
    try:
        if tree is None:
            raise _Refused
        return _value(tree.body, nc, anchors, True)
    except (_Refused, RecursionError):
        prefix = f"{where}: " if where else ""
        raise ModelLoadError(
            f"{prefix}argument {value!r} is not allowed (YAML arguments may be numbers, None, True/False, "
            f"nc, anchors, lists, plain words or an activation call such as nn.LeakyReLU(0.1); "
            f"allowed calls: {', '.join(ALLOWED_CALLS)})"
        ) from None
