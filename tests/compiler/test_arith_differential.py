"""Differential test of integer semantics: random expressions over every
integer type, compiled at -O0 and -O2 and run on the VM, against a Python
model of kpy's rules (wrap-around, C division, arithmetic >> on signed,
explicit conversions)."""
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import harness

TYPES = {"u8": (8, False), "u16": (16, False), "u32": (32, False), "u64": (64, False),
         "i8": (8, True), "i16": (16, True), "i32": (32, True), "i64": (64, True)}


def wrap(v: int, t: str) -> int:
    bits, signed = TYPES[t]
    v &= (1 << bits) - 1
    if signed and v >> (bits - 1):
        v -= 1 << bits
    return v


def cdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


class Expr:
    def __init__(self, text, fn):
        self.text, self.fn = text, fn


def expr(t: str, depth: int):
    """A strategy of expressions of type t over parameters a, b, c (all t)."""
    bits, signed = TYPES[t]
    leaves = st.sampled_from(["a", "b", "c"]).map(lambda n: Expr(n, lambda env, n=n: env[n]))
    consts = st.integers(0, min((1 << bits) - 1, 1000)).map(lambda k: Expr(f"{t}({k})", lambda env, k=k: wrap(k, t)))
    if depth == 0:
        return st.one_of(leaves, consts)
    sub = expr(t, depth - 1)

    def binop(op, x, y):
        if op in ("+", "-", "*", "&", "|", "^"):
            f = {"+": lambda p, q: p + q, "-": lambda p, q: p - q, "*": lambda p, q: p * q,
                 "&": lambda p, q: p & q, "|": lambda p, q: p | q, "^": lambda p, q: p ^ q}[op]
            return Expr(f"({x.text} {op} {y.text})", lambda env: wrap(f(x.fn(env), y.fn(env)), t))
        if op in ("//", "%"):
            # a small positive divisor: no division by zero, no INT_MIN // -1
            d = Expr(f"(({y.text} & {t}(0x7F)) | {t}(1))", lambda env: (y.fn(env) & 0x7F) | 1)
            if op == "//":
                return Expr(f"({x.text} // {d.text})", lambda env: wrap(cdiv(x.fn(env), d.fn(env)), t))
            return Expr(f"({x.text} % {d.text})",
                        lambda env: wrap(x.fn(env) - cdiv(x.fn(env), d.fn(env)) * d.fn(env), t))
        n = Expr(f"({y.text} & {t}({bits - 1}))", lambda env: y.fn(env) & (bits - 1))
        if op == "<<":
            return Expr(f"({x.text} << {n.text})", lambda env: wrap(x.fn(env) << n.fn(env), t))
        return Expr(f"({x.text} >> {n.text})", lambda env: wrap(x.fn(env) >> n.fn(env), t))

    def cmp(op, x, y):
        f = {"<": lambda p, q: p < q, "<=": lambda p, q: p <= q, "==": lambda p, q: p == q,
             "!=": lambda p, q: p != q, ">": lambda p, q: p > q}[op]
        return Expr(f"{t}({x.text} {op} {y.text})", lambda env: int(f(x.fn(env), y.fn(env))))

    def unary(op, x):
        if op == "-":
            return Expr(f"(-{x.text})", lambda env: wrap(-x.fn(env), t))
        return Expr(f"(~{x.text})", lambda env: wrap(~x.fn(env), t))

    def convert(other, x):
        # through another type and back: truncation and sign/zero extension
        return Expr(f"{t}({other}({x.text}))", lambda env: wrap(wrap(x.fn(env), other), t))

    def ifexp(c, x, y):
        return Expr(f"({x.text} if {c.text} > {y.text} else {y.text})",
                    lambda env: x.fn(env) if c.fn(env) > y.fn(env) else y.fn(env))

    ops = ["+", "-", "*", "&", "|", "^", "//", "%", "<<", ">>"]
    return st.one_of(
        leaves, consts,
        st.builds(binop, st.sampled_from(ops), sub, sub),
        st.builds(cmp, st.sampled_from(["<", "<=", "==", "!=", ">"]), sub, sub),
        st.builds(unary, st.sampled_from(["-", "~"]), sub),
        st.builds(convert, st.sampled_from(list(TYPES)), sub),
        st.builds(ifexp, sub, sub, sub),
    )


@st.composite
def program(draw):
    funcs = []
    for i in range(6):
        t = draw(st.sampled_from(list(TYPES)))
        e = draw(expr(t, 3))
        bits, _ = TYPES[t]
        args = [wrap(draw(st.integers(0, (1 << bits) - 1)), t) for _ in range(3)]
        funcs.append((f"f{i}", t, e, args))
    return funcs


@pytest.mark.parametrize("opt", [0, 2])
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(funcs=program())
def test_random_integer_expressions(opt, funcs):
    src = "\n".join(f"def {name}(a: {t}, b: {t}, c: {t}) -> {t}:\n    return {e.text}\n"
                    for name, t, e, _ in funcs)
    m = harness.build(src, opt)
    for name, t, e, args in funcs:
        bits, signed = TYPES[t]
        want = e.fn(dict(zip("abc", args))) & ((1 << bits) - 1)
        if bits == 64:
            got = m.call64(name, *[harness.arg64(a) for a in args])
        else:
            got = m.call(name, *args) & ((1 << bits) - 1)
        assert got == want, f"{name}{tuple(args)}: {e.text} = {got:#x}, want {want:#x}\n{src}"
