"""Public model code, run here as it is (docs/conventions.md, "Your own model, unchanged").

Model files copied from public repositories were written for a GPU and for older torch. While
xncost runs such code (a `session`), it accommodates, and notes what it did:

- CUDA: `.cuda()`, `.to('cuda')`, `device='cuda'`, `torch.cuda.set_device` and
  `torch.cuda.synchronize` run on the CPU (counts do not depend on the device). Tensors'
  CUDA requests are caught by a torch function mode (`on_the_cpu`) while the model is loaded
  and built; the forward pass runs under it only when the model asked for CUDA while it was
  built, or when the forward pass failed for want of CUDA without it (then it runs again):
  while such a mode is active torch takes no fast path that refuses overridden tensors
  (`nn.MultiheadAttention`'s and `nn.TransformerEncoderLayer`'s fused kernels), so a model
  that never asks for CUDA runs exactly as it would here without xncost;
- legacy autograd Functions (`BinActive()(x)`, a `forward` that is not a staticmethod), which
  this torch refuses, run their `forward` as a plain call: the summary's forward pass needs
  no gradient;
- modules the model file imports but this environment lacks (torchvision, a training-only
  dependency) are stood in for while it loads (`StandIn`): fine when the model never uses
  them; when it does, the error names the missing module and what used it;
- command-line options its code parses when imported (`args = parser.parse_args()` in a
  training script's options module) are parsed with no arguments (`sys.argv` is `[FILE]`,
  `xncost.profile.imports`), so each holds its default; options that need an argument, and
  an option the model reads but its parser does not define, are one error line saying so
  and what to do (`options_hint`).

The loader (`xncost.profile.loader`) opens the outermost session around loading and
counting, and loads and builds the model `on_the_cpu`; `summary` opens one around building
and counting (nested sessions are the outermost one).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

CUDA_CALLS = ("set_device", "synchronize")  # torch.cuda functions run as no-ops


@dataclass
class Accommodations:
    """What one session accommodated: CUDA requests (what -> times), legacy Functions run
    as plain calls, stand-ins for missing modules and their uses, and the loader's own notes
    (`loading`)."""

    cuda: dict[str, int] = field(default_factory=dict)
    legacy: set[str] = field(default_factory=set)
    standins: dict[str, str] = field(default_factory=dict)  # module -> why it is missing
    used: dict[str, str] = field(default_factory=dict)  # stand-in attribute -> where used
    loading: list[str] = field(default_factory=list)
    in_forward: bool = False
    on_cpu: bool = False  # `on_the_cpu` is active
    namespaces: list[tuple[argparse.Namespace, str, str]] = field(default_factory=list)

    def count_cuda(self, what: str) -> None:
        self.cuda[what] = self.cuda.get(what, 0) + 1

    def use(self, name: str) -> None:
        name = name.replace("()", "")  # a stand-in's call result stands for the callable
        where = "forward" if self.in_forward else "build"
        if self.used.get(name) != "forward":
            self.used[name] = where

    @property
    def notes(self) -> tuple[str, ...]:
        """One line per accommodation, in a fixed order (byte-identical reports)."""
        out = list(self.loading)
        if self.cuda:
            calls = ", ".join(f"{k} x{v}" for k, v in sorted(self.cuda.items()))
            out.append(
                f"note: the model asked for CUDA ({calls}); this machine has none, so it ran "
                "on the CPU (the counts do not depend on the device)."
            )
        if self.legacy:
            names = ", ".join(sorted(self.legacy))
            out.append(
                f"note: legacy autograd Functions ({names}), called as Fn()(x), which this "
                "torch refuses, ran their forward as a plain call (counting needs no gradient)."
            )
        for module, why in sorted(self.standins.items()):
            used = sorted(n for n in self.used if n.split(".")[0] == module)
            how = (
                f"the model used {', '.join(used)} while it was built, never in its forward "
                "pass, so the counts do not depend on it"
                if used
                else "the model never used it"
            )
            out.append(
                f"note: the model file imports {module}, which is not installed here ({why}); "
                f"xncost stood in for it: {how}."
            )
        return tuple(out)

    def missing_hint(self) -> str:
        """What to add to an error when a stand-in may be the cause ('' when none was used)."""
        used = sorted(self.used)
        if not used:
            return ""
        modules = sorted({n.split(".")[0] for n in used})
        return (
            f" (the model uses {', '.join(used)}, but {', '.join(modules)} "
            f"{'is' if len(modules) == 1 else 'are'} not installed here: install "
            f"{' '.join(modules)} to count this model)"
        )

    def options_hint(self, e: BaseException | None) -> str:
        """What to add to an error when `e` (or what it wraps) is the model reading an option
        that command-line options parsed in this session do not define ('' otherwise)."""
        for _ in range(MAX_CONTEXT):
            if e is None:
                break
            obj = getattr(e, "obj", None) if isinstance(e, AttributeError) else None
            found = next(((w, f) for ns, w, f in self.namespaces if ns is obj), None)
            if found is not None:
                where, path = found
                name = getattr(e, "name", None) or "?"
                return (
                    f" (the model reads the option {name!r} of the command-line options parsed "
                    f"at {where}, whose parser does not define it; xncost parses them with no "
                    "arguments, so each defined option holds its default: define the option "
                    f"there with a default, or summarize a file that sets it "
                    f"({_bound_name(obj, path)}.{name} = ...) and then imports the model)"
                )
            e = e.__context__
        return ""


def _bound_name(obj: object, path: str) -> str:
    """The module-level name bound to `obj` in the loaded module of the file `path`
    (`args` when none is)."""
    for module in list(sys.modules.values()):
        try:
            names = vars(module)
        except TypeError:
            continue
        where = names.get("__file__")
        if not isinstance(where, str) or os.path.abspath(where) != path:
            continue
        found = next((k for k, v in list(names.items()) if v is obj), None)
        if found is not None:
            return found
    return "args"


MAX_CONTEXT = 8  # exceptions followed through __context__ for a hint


class OptionsNeeded(Exception):
    """Command-line options the model's code parses need arguments xncost does not give."""


def _parser_site() -> tuple[str, str]:
    """Where the model's code parses its options: `FILE:LINE` as the user sees it (the file
    relative to the working directory when inside it) and the absolute file, of the nearest
    frame outside argparse and this module (`its code`, '' when there is none)."""
    frame = sys._getframe(1)
    skip = {os.path.abspath(argparse.__file__), os.path.abspath(__file__)}
    while frame is not None and os.path.abspath(frame.f_code.co_filename) in skip:
        frame = frame.f_back
    if frame is None:
        return "its code", ""
    path = os.path.abspath(frame.f_code.co_filename)
    return f"{shown_path(path)}:{frame.f_lineno}", path


def shown_path(path: str | os.PathLike[str]) -> str:
    """A path as the user sees it: relative to the working directory when inside it."""
    try:
        rel = os.path.relpath(path)
    except (ValueError, OSError):
        return str(path)
    return str(path) if rel.startswith("..") else rel


def _parse_known_args(acc: Accommodations, original: Callable[..., Any]) -> Callable[..., Any]:
    def parse(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        ns, rest = original(self, *args, **kwargs)
        if not any(n is ns for n, _, _ in acc.namespaces):
            acc.namespaces.append((ns, *_parser_site()))
        return ns, rest

    return parse


def _options_error(self: argparse.ArgumentParser, message: str) -> None:
    raise OptionsNeeded(
        f"the model's code parses command-line options at {_parser_site()[0]} and they need "
        f"arguments ({message}); xncost runs model code with none, so each option needs a "
        "default there (or summarize a file that sets sys.argv and then imports the model)"
    )


class StandIn(types.ModuleType):
    """A missing module (or anything reached through it): attribute access and calls give
    more stand-ins and are recorded; anything else (truth, iteration, arithmetic, subclassing)
    raises, naming the module."""

    def __init__(self, name: str, acc: Accommodations) -> None:
        super().__init__(name)
        self.__path__: list[str] = []
        self._acc = acc

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return StandIn(f"{self.__name__}.{attr}", self._acc)

    def __call__(self, *args: Any, **kwargs: Any) -> StandIn:
        self._acc.use(self.__name__)
        return StandIn(f"{self.__name__}()", self._acc)

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        self._acc.use(self.__name__)
        top = self.__name__.split(".")[0]
        raise ImportError(f"{self.__name__} is needed, but {top} is missing")

    __bool__ = __iter__ = __len__ = __index__ = __float__ = __int__ = _refuse
    __add__ = __radd__ = __mul__ = __rmul__ = __sub__ = __rsub__ = __truediv__ = _refuse
    __lt__ = __le__ = __gt__ = __ge__ = __getitem__ = __mro_entries__ = _refuse

    def __repr__(self) -> str:
        return f"<stand-in for {self.__name__}>"


def _is_cuda(device: Any) -> bool:
    """A CUDA device given as a string, a torch.device or a device index."""
    if isinstance(device, torch.device):
        return device.type == "cuda"
    if isinstance(device, str):
        return device.strip().lower().startswith("cuda")
    return isinstance(device, int) and not isinstance(device, bool)


_TYPE_CALLS = {torch.Tensor.type}
_CUDA_METHODS = {torch.Tensor.cuda: "Tensor.cuda", torch.Tensor.pin_memory: "Tensor.pin_memory"}


class _OnTheCpu(TorchFunctionMode):
    """CUDA requests of tensors and factories, made on the CPU."""

    def __init__(self, acc: Accommodations) -> None:
        super().__init__()
        self.acc = acc

    def __torch_function__(
        self, func: Callable, types: tuple, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        kwargs = dict(kwargs or {})
        if func in _CUDA_METHODS:
            self.acc.count_cuda(_CUDA_METHODS[func])
            return args[0]
        if "device" in kwargs and _is_cuda(kwargs["device"]):
            self.acc.count_cuda(f"device= in {_name(func)}")
            kwargs["device"] = "cpu"
        if func is torch.Tensor.to:
            args = tuple(self._cpu(a) if i else a for i, a in enumerate(args))
        elif func in _TYPE_CALLS and len(args) > 1 and _cuda_type(args[1]):
            self.acc.count_cuda("Tensor.type(torch.cuda...)")
            args = (args[0], _cuda_type(args[1]), *args[2:])
        return func(*args, **kwargs)

    def _cpu(self, a: Any) -> Any:
        if not isinstance(a, torch.dtype) and _is_cuda(a):
            self.acc.count_cuda("Tensor.to(cuda)")
            return "cpu"
        return a


def _cuda_type(t: Any) -> str | None:
    """'torch.FloatTensor' for 'torch.cuda.FloatTensor' or its class; None otherwise."""
    if isinstance(t, str):
        name = t
    else:
        name = f"{getattr(t, '__module__', '')}.{getattr(t, '__name__', '')}"
    return name.replace("torch.cuda.", "torch.", 1) if name.startswith("torch.cuda.") else None


def _name(func: Callable) -> str:
    return getattr(func, "__name__", type(func).__name__)


def _legacy_call(acc: Accommodations) -> Callable[..., Any]:
    def call(self: torch.autograd.Function, *args: Any, **kwargs: Any) -> Any:
        cls = type(self)
        acc.legacy.add(cls.__name__)
        if isinstance(inspect.getattr_static(cls, "forward", None), staticmethod):
            return cls.apply(*args, **kwargs)
        return self.forward(*args, **kwargs)

    return call


@contextmanager
def _patched(acc: Accommodations) -> Iterator[None]:
    """Function.__call__, the torch.cuda calls of `CUDA_CALLS` and argparse's parsing and
    error exit, replaced for the block."""
    parser = argparse.ArgumentParser
    saved: list[tuple[Any, str, Any]] = [
        (torch.autograd.Function, "__call__", torch.autograd.Function.__dict__["__call__"]),
        (parser, "parse_known_args", parser.__dict__["parse_known_args"]),
        (parser, "error", parser.__dict__["error"]),
    ]
    saved += [(torch.cuda, n, getattr(torch.cuda, n)) for n in CUDA_CALLS]
    torch.autograd.Function.__call__ = _legacy_call(acc)  # type: ignore[method-assign]
    parser.parse_known_args = _parse_known_args(acc, parser.parse_known_args)  # type: ignore[method-assign]
    parser.error = _options_error  # type: ignore[method-assign]
    for name in CUDA_CALLS:
        setattr(torch.cuda, name, _cuda_noop(acc, name))
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def _cuda_noop(acc: Accommodations, name: str) -> Callable[..., None]:
    def noop(*args: Any, **kwargs: Any) -> None:
        acc.count_cuda(f"torch.cuda.{name}")

    return noop


class _Sessions:
    stack: list[Accommodations] = []


def current() -> Accommodations | None:
    """The accommodations of the running session, if any."""
    return _Sessions.stack[0] if _Sessions.stack else None


@contextmanager
def session() -> Iterator[Accommodations]:
    """Run public model code here (see the module docstring); nested sessions are the
    outermost one."""
    if _Sessions.stack:
        yield _Sessions.stack[0]
        return
    acc = Accommodations()
    _Sessions.stack.append(acc)
    try:
        with _patched(acc):
            yield acc
    finally:
        _Sessions.stack.pop()


@contextmanager
def on_the_cpu(acc: Accommodations) -> Iterator[None]:
    """Tensors' CUDA requests made on the CPU for the block (nested blocks are the outermost
    one); see the module docstring for when the forward pass runs under it."""
    if acc.on_cpu:
        yield
        return
    acc.on_cpu = True
    try:
        with _OnTheCpu(acc):
            yield
    finally:
        acc.on_cpu = False


def wants_cuda(e: BaseException) -> bool:
    """Whether the failure `e` is torch's for want of CUDA here."""
    text = f"{type(e).__name__}: {e}"
    return "CUDA" in text or "NVIDIA" in text or "cuda:" in text


@contextmanager
def forward_pass(acc: Accommodations, cpu: bool = False) -> Iterator[None]:
    """Mark the block as the model's forward pass (uses of stand-ins there are fatal), run
    `on_the_cpu` when `cpu`."""
    acc.in_forward = True
    try:
        with on_the_cpu(acc) if cpu else contextlib.nullcontext():
            yield
    finally:
        acc.in_forward = False


__all__ = [
    "Accommodations",
    "OptionsNeeded",
    "StandIn",
    "current",
    "forward_pass",
    "on_the_cpu",
    "session",
    "shown_path",
    "wants_cuda",
]
