"""The parser of GitHub Actions expressions: the tokenizer (tokenize) and the precedence
climbing parser (parse) that turns one expression into a tree of tuple nodes, for the tree
walk in tests/support/gha.py. A text that does not parse raises ExpressionError."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# -- tokens --------------------------------------------------------------------------------------


class ExpressionError(ValueError):
    """An expression that does not parse, or a function that does not exist."""


@dataclass(frozen=True)
class Token:
    kind: str  # num, str, ident, op, eof
    value: Any
    pos: int


_OPERATORS = ("&&", "||", "==", "!=", "<=", ">=", "<", ">", "!", "(", ")", "[", "]", ".", ",", "*")
_NUMBER = re.compile(r"0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "'":
            j, out = i + 1, []
            while True:
                if j >= len(text):
                    raise ExpressionError(f"unterminated string at {i} in {text!r}")
                if text[j] == "'":
                    if j + 1 < len(text) and text[j + 1] == "'":
                        out.append("'")
                        j += 2
                        continue
                    break
                out.append(text[j])
                j += 1
            tokens.append(Token("str", "".join(out), i))
            i = j + 1
            continue
        prev = tokens[-1] if tokens else None
        after_dot = prev is not None and prev.kind == "op" and prev.value == "."
        number = _NUMBER.match(text, i)
        # `-` starts a number only where an operand may start (GitHub has no minus operator)
        if ch == "-" and not after_dot:
            signed = _NUMBER.match(text, i + 1)
            if signed:
                tokens.append(Token("num", -_number(signed.group()), i))
                i = signed.end()
                continue
        if number and not after_dot and (ch.isdigit() or ch == "."):
            tokens.append(Token("num", _number(number.group()), i))
            i = number.end()
            continue
        ident = _IDENT.match(text, i)
        if ident:
            tokens.append(Token("ident", ident.group(), i))
            i = ident.end()
            continue
        for op in _OPERATORS:
            if text.startswith(op, i):
                tokens.append(Token("op", op, i))
                i += len(op)
                break
        else:
            raise ExpressionError(f"unexpected {ch!r} at {i} in {text!r}")
    tokens.append(Token("eof", None, len(text)))
    return tokens


def _number(text: str) -> float:
    if text.lower().startswith("0x"):
        return float(int(text, 16))
    return float(text)


# -- the tree ------------------------------------------------------------------------------------

# nodes are tuples: ("lit", value) ("ctx", name) ("prop", obj, name) ("index", obj, node)
# ("star", obj) ("not", node) ("bin", op, left, right) ("call", name, args)
Node = tuple[Any, ...]

_BINARY = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 4, "<=": 4, ">": 4, ">=": 4}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, op: str) -> None:
        token = self.take()
        if token.kind != "op" or token.value != op:
            raise ExpressionError(f"expected {op!r} at {token.pos} in {self.text!r}")

    def parse(self) -> Node:
        node = self.binary(1)
        if self.peek().kind != "eof":
            token = self.peek()
            raise ExpressionError(f"unexpected {token.value!r} at {token.pos} in {self.text!r}")
        return node

    def binary(self, min_prec: int) -> Node:
        left = self.unary()
        while True:
            token = self.peek()
            prec = _BINARY.get(token.value) if token.kind == "op" else None
            if prec is None or prec < min_prec:
                return left
            self.take()
            right = self.binary(prec + 1)  # every binary operator is left-associative
            left = ("bin", token.value, left, right)

    def unary(self) -> Node:
        token = self.peek()
        if token.kind == "op" and token.value == "!":
            self.take()
            return ("not", self.unary())
        return self.postfix(self.primary())

    def primary(self) -> Node:
        token = self.take()
        if token.kind in ("num", "str"):
            return ("lit", token.value)
        if token.kind == "op" and token.value == "(":
            node = self.binary(1)
            self.expect(")")
            return node
        if token.kind == "ident":
            word = token.value
            if self.peek().kind == "op" and self.peek().value == "(":
                self.take()
                args: list[Node] = []
                if not (self.peek().kind == "op" and self.peek().value == ")"):
                    args.append(self.binary(1))
                    while self.peek().kind == "op" and self.peek().value == ",":
                        self.take()
                        args.append(self.binary(1))
                self.expect(")")
                return ("call", word.lower(), args)
            literal = {"true": True, "false": False, "null": None}
            if word in literal:
                return ("lit", literal[word])
            return ("ctx", word)
        raise ExpressionError(f"unexpected {token.value!r} at {token.pos} in {self.text!r}")

    def postfix(self, node: Node) -> Node:
        while True:
            token = self.peek()
            if token.kind == "op" and token.value == ".":
                self.take()
                name = self.take()
                if name.kind == "op" and name.value == "*":
                    node = ("star", node)
                elif name.kind == "ident":
                    node = ("prop", node, name.value)
                else:
                    raise ExpressionError(f"expected a property at {name.pos} in {self.text!r}")
            elif token.kind == "op" and token.value == "[":
                self.take()
                if self.peek().kind == "op" and self.peek().value == "*":
                    self.take()
                    node = ("star", node)
                else:
                    node = ("index", node, self.binary(1))
                self.expect("]")
            else:
                return node


def parse(text: str) -> Node:
    return _Parser(text).parse()
