"""Argument parsing for every command: one-sentence errors, ranged numbers, odd photo names.

argparse's own errors are a usage block of six lines; ours are one sentence that names the
option, says what it accepts and points to ``--help``. ``Parser`` is the class of the main
parser and, through argparse's ``parser_class``, of every subcommand's parser (the models
commands included). Qt-free and torch-free: this runs before anything heavy is imported.
"""
from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence


class UsageError(Exception):
    """Bad command-line arguments; ``sentence`` is what to print (exit status 2)."""

    def __init__(self, sentence: str):
        super().__init__(sentence)
        self.sentence = sentence


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise UsageError with one sentence instead of exiting.

    ``stray`` lists the arguments that look like options but are neither an option nor an
    existing file (set by the caller before parsing); an error that they caused says to put
    a file name that starts with a dash after ``--``.
    """

    stray: Sequence[str] = ()
    error_prog: Optional[str] = None  # the command being run, for errors the main parser finds

    def error(self, message: str):  # noqa: D401 - argparse's hook
        raise UsageError(usage_sentence(self.error_prog or self.prog, message, self.stray))


def _fmt(x: float) -> str:
    if float(x).is_integer() and abs(x) >= 10_000:
        return f"{int(x):,}"
    return f"{x:g}"


def number(lo: float, hi: float, *, integer: bool = False, what: Optional[str] = None,
           above: bool = False, validate: Optional[Callable] = None) -> Callable[[str], float]:
    """An argparse ``type`` for a finite number from ``lo`` to ``hi`` (``above``: more than ``lo``).

    The error names the range: ``takes a whole number from 1 to 100, not 'high'``. With
    ``validate`` (e.g. ``Option.validate`` of an engine setting), that function decides and
    the range is only used for the message.
    """
    what = what or ("a whole number" if integer else "a number")
    low = f"more than {_fmt(lo)}" if above else f"from {_fmt(lo)}"
    accepts = f"{what} {low} to {_fmt(hi)}" if not above else f"{what} {low} and at most {_fmt(hi)}"

    def convert(text: str):
        try:
            if validate is not None:
                value = validate(text)
            else:
                value = float(text) if not integer else int(text, 10)
        except (TypeError, ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"takes {accepts}, not {text!r}") from None
        bad = not math.isfinite(value) or value > hi or (value <= lo if above else value < lo)
        if integer and not bad and value != int(value):
            bad = True
        if bad:
            raise argparse.ArgumentTypeError(f"takes {accepts}, not {text!r}")
        return int(value) if integer else value

    convert.__name__ = what  # argparse uses it in its fallback messages
    return convert


def _options_and_choices(message: str) -> str:
    return re.sub(r"'([^']*)'", r"\1", message)


def usage_sentence(prog: str, message: str, stray: Sequence[str] = ()) -> str:
    """argparse's error ``message`` for ``prog`` as one sentence ending in a ``--help`` pointer."""
    see = f"see `{prog} --help`"
    if stray and ("required" in message or "unrecognized arguments" in message
                  or "expected one argument" in message):
        name = stray[0]
        if name.startswith("--") or not looks_like_a_path(name):
            return f"{name} is not an option of {prog}; {see}"
        return (f"{name} is not an option of {prog} and no file has that name; a file name that starts "
                f"with a dash goes after `--` (for example `{prog} -- {name}`) or is written ./{name}; {see}")
    m = re.match(r"argument (?P<opt>[^:]+): (?P<rest>.*)$", message, re.S)
    if m:
        opt, rest = m.group("opt"), m.group("rest").strip()
        if opt.startswith("{"):  # the subcommand positional of a command group
            choice = re.search(r"invalid choice: '([^']*)'", rest)
            names = opt.strip("{}").split(",")
            if choice:
                return (f"{choice.group(1)!r} is not a {prog} command; the commands are: "
                        f"{', '.join(names)}{_did_you_mean(choice.group(1), names)}; {see}")
        if rest == "expected one argument":
            return f"{opt} needs a value; {see}"
        if rest.startswith("expected"):
            return f"{opt} {rest.replace('expected', 'needs')}; {see}"
        inv = re.match(r"invalid (\w+) value: '(.*)'$", rest, re.S)
        if inv:
            kind = {"int": "a whole number", "float": "a number"}.get(inv.group(1), inv.group(1))
            return f"{opt} takes {kind}, not {inv.group(2)!r}; {see}"
        choice = re.match(r"invalid choice: '(.*)' \(choose from (.*)\)$", rest, re.S)
        if choice:
            options = _options_and_choices(choice.group(2))
            return f"{opt} takes one of {options}, not {choice.group(1)!r}; {see}"
        if rest.startswith("ignored explicit argument"):
            return f"{opt} takes no value; {see}"
        if rest.startswith("not allowed with argument"):
            return f"{opt} cannot be used with {rest[len('not allowed with argument '):]}; {see}"
        return f"{opt} {rest}; {see}"
    if message.startswith("the following arguments are required:"):
        names = message.split(":", 1)[1].strip()
        if names.startswith("{"):
            return f"{prog} needs a command: {', '.join(names.strip('{}').split(','))}; {see}"
        return f"{prog} needs {names.replace(', ', ' and ')}; {see}"
    if message.startswith("unrecognized arguments:"):
        extra = message.split(":", 1)[1].strip()
        return f"{prog} does not take the extra argument{'s' if ' ' in extra else ''} {extra}; {see}"
    if message.startswith("ambiguous option:"):
        return f"{message.split(':', 1)[1].strip()}; {see}"
    return f"{message}; {see}"


def _did_you_mean(word: str, names: Iterable[str]) -> str:
    import difflib
    close = difflib.get_close_matches(word, list(names), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown_command(word: str, commands: Sequence[str], prog: str = "colorstudio") -> str:
    """The sentence for a first word that is neither a command nor a file."""
    return (f"{word!r} is not a {prog} command, nor a photo that exists; the commands are: "
            f"{', '.join(commands)}{_did_you_mean(word, commands)}; see `{prog} --help`")


_NEGATIVE = re.compile(r"^-\d+$|^-\d*\.\d+$|^-\d+(\.\d*)?[eE][-+]?\d+$")


def option_strings(parser: argparse.ArgumentParser) -> set:
    """Every option string of ``parser`` and of its subcommands' parsers."""
    out = set(parser._option_string_actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out |= option_strings(sub)
    return out


def dash_names(argv: Sequence[str], known: set) -> tuple[list, list]:
    """``argv`` with existing files whose names start with a dash made unambiguous (./-x.png),
    and the dash words that are neither options nor files (for the error sentence)."""
    out, stray = [], []
    rest = False
    for arg in argv:
        if rest or arg == "--":
            rest = True
            out.append(arg)
            continue
        option_like = arg.startswith("-") and arg != "-" and arg.split("=", 1)[0] not in known
        if option_like and not _NEGATIVE.match(arg):
            if os.path.lexists(arg):
                out.append(os.curdir + os.sep + arg)
                continue
            if not _abbreviates(arg, known):
                stray.append(arg)
        out.append(arg)
    return out, stray


def _abbreviates(arg: str, known: set) -> bool:
    if not arg.startswith("--"):
        # -ofile.png: a short option with its value attached
        return len(arg) > 2 and arg[:2] in known
    head = arg.split("=", 1)[0]
    return any(k.startswith(head) for k in known if k.startswith("--"))


def looks_like_a_path(word: str) -> bool:
    """Whether a word that is not a command was meant as a file (it has a suffix or a folder)."""
    return bool(Path(word).suffix) or os.sep in word or (os.altsep or os.sep) in word or word.startswith("~")


def _parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def prepare(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list:
    """``argv`` ready for ``parser``: dash-named files made unambiguous, stray dash words noted
    on every parser so that an error they cause says how to pass such a name."""
    argv, stray = dash_names(argv, option_strings(parser))
    for p in _parsers(parser):
        p.stray = tuple(stray)
    parser.error_prog = _command_prog(parser, argv)
    return argv


def _command_prog(parser: argparse.ArgumentParser, argv: Sequence[str]) -> str:
    """``colorstudio models install`` for ``argv`` = [..., "models", "install", ...]."""
    current = parser
    words = iter(a for a in argv if not a.startswith("-"))
    while True:
        group = next((a for a in current._actions if isinstance(a, argparse._SubParsersAction)), None)
        word = next(words, None)
        if group is None or word is None or word not in group.choices:
            return current.prog
        current = group.choices[word]
