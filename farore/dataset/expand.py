"""Expand a validated dataset: seeded variations of each dialogue that stay technically true.

A variation applies several transformations to every turn of its parent at once, so that the
user's code, the symptom and the answer keep telling the same story. Each transformation checks
that it applies and refuses (``NotApplicable``, with the reason) when it cannot be sure of the
result; a variation is never a guess.

Semantic transformations (a variation without one is a renamed clone, and the dedup gate says so):

* ``swap-index-registers``: X and Y trade places everywhere: LDX/LDY, STX/STY, INX/INY,
  DEX/DEY, CPX/CPY, TAX/TAY, TXA/TYA, PHX/PHY, PLX/PLY, TXY/TYX, ``,x``/``,y`` indexing, and
  the register named in prose and comments ("the caller's Y" becomes "the caller's X"). Refused
  when a swapped instruction has no such addressing mode on the 65816 (``LDA [$00],x``,
  ``STA $10,y``, ``LDA.l $7E0000,y``, ``JMP (tbl,y)``...), when the code relies on the roles of
  X and Y (TXS, TSX, MVN, MVP), when the text lists opcode bytes (they would change), and when
  the text also uses X or Y for coordinates (Link's X, the Y position, "X offset", "pixel Y"):
  telling those from the register in every sentence is guesswork. Register lists (A/X/Y) and
  the M/X flags ("the X flag", "M=0, X=0") are left alone. X and Y share the X flag, so every
  statement about the index width stays true.
* ``move-dma-channel``: a DMA set-up on one channel n moves to another channel m: every
  $43nX register, the ``channel n`` of the prose, and the enable bit written to $420B/$420C.
  Refused when the dialogue involves more than one channel, talks about register bits, or
  mentions $420B/$420C apart from the enable write.
* ``trace-steps``: a different explanation approach. The answer's **What's happening:** steps
  are re-told as a trace of the user's code (after the other transformations), one step per
  instruction with the register widths and the stack depth known there
  (:mod:`farore.dataset.trace`): a return reached with bytes still pushed says so, a REP/SEP
  says which registers change size. The diagnosis, its explanation and the fix stay the
  parent's. Refused when the code cannot be traced with certainty (anonymous labels, macros,
  data tables, an immediate whose size contradicts the flag, more than 32 instructions) or the
  dialogue is not one question with one code block and one answer.

Moves (they change the surface the model sees, not the bug):

* ``relocate-variables``: the low-WRAM variables the code reads and writes ($0200-$1EFF, also in
  their long forms $7E0F80 and $7E:0F80) all move by one seeded offset, a multiple of $10, so
  that $0F00/$0F01 pairs and page relations stay as they were. Refused when an address in that
  range appears that is not an operand (or the high byte of one) of the code, since it may be
  computed from other values, or when an immediate holds a variable's address. Hardware
  registers, direct page, ROM and other immediates never move.
* ``rename-routines``: routine and table labels get synonyms of their words
  (``Sprite_Bat_Main`` -> ``Sprite_Bat_Tick``), everywhere they occur.
* ``vary-constants``: a small value (``VARIED_VALUES``: a timer, a speed, a tile, an id) loaded
  with LDA/LDX/LDY # and stored to RAM right away, which nothing else in the dialogue mentions
  (not the prose, not a comment, not in decimal), gets another small value. Its operand size
  follows the M or X flag in effect, tracked from the REP/SEP before it in straight-line code
  (``#$14`` under SEP #$20, ``#$0030`` under REP #$20); a load whose size does not match the
  flag, or carries an explicit ``.b``/``.w``, is left alone: it may be the bug.
* ``reword-symptom``: the user's request sentence ("What's wrong?") is replaced by another, and
  meaning-preserving phrases of the user's prose are reworded ("as soon as" / "the moment").
  The facts of the symptom are kept word for word: an automatic paraphrase of them could not be
  checked.

Each variation records its ``parent`` id and its ``transformations`` (name and detail), must
pass the format validator, and is dropped when the dedup gate finds it a near-duplicate of its
parent or of an earlier variation of the same parent. Variation 1 of a dialogue uses every
semantic transformation that applies, the next ones fewer; every variation also gets every move
that applies. A dialogue to which no semantic transformation applies gets no variation.

What the gate says about this, on the 148 curated training dialogues (seed 0, 2 per dialogue):
without ``trace-steps``, 53 variations, none kept: the dialogue measure masks numbers, so moves
are invisible to it, and a long answer that keeps its wording stays a near-duplicate even with X
and Y swapped (median similarity to the parent 0.83). With it, 170 variations and 46 kept (one
for each of 46 parents). Of the dropped, 90 are still near-duplicates on the dialogue measure
(median 0.62: a short routine makes a short trace, and a second variation without the trace is
a clone) and 34 repeat the parent's code (32 of them exactly: no transformation that changes the
code applied), which the gate rightly refuses: the same code with two answers.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import combinations

from tqdm import tqdm

from farore.dataset.dedup import (
    CODE_THRESHOLD,
    DIALOGUE_THRESHOLD,
    DuplicatePair,
    find_duplicates,
)
from farore.dataset.format import check_format
from farore.dataset.schema import Dialogue, Message
from farore.dataset.similarity import MNEMONICS
from farore.dataset.trace import Instruction, Untraceable, instructions, trace

Messages = tuple[Message, ...]


class NotApplicable(Exception):
    """This transformation cannot be applied to this dialogue with certainty; the reason says why."""


# --- tokens shared by the transformations ----------------------------------------------------

_FENCED = re.compile(r"(^[ \t]*```[^\n]*\n.*?^[ \t]*```[ \t]*$)", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"(`[^`\n]+`)")
_OPCODE_BYTES = re.compile(r"\b[0-9A-F]{2}(?: [0-9A-F]{2}){2,}\b|\bopcodes?\b", re.IGNORECASE)
def _contents(messages: Messages) -> str:
    return "\n".join(m.content for m in messages)


def _with_contents(messages: Messages, rewrite: Callable[[str, str], str]) -> Messages:
    """Rewrite every message's content; ``rewrite`` gets (role, content)."""
    return tuple(Message(m.role, rewrite(m.role, m.content)) for m in messages)


def _pieces(content: str) -> list[tuple[bool, str]]:
    """The content cut into (is_code, text) pieces: fenced blocks and inline code spans are code."""
    pieces: list[tuple[bool, str]] = []
    for block_index, part in enumerate(_FENCED.split(content)):
        if block_index % 2:
            pieces.append((True, part))
            continue
        for inline_index, piece in enumerate(_INLINE.split(part)):
            pieces.append((bool(inline_index % 2), piece))
    return pieces


def _rewrite_pieces(messages: Messages, rewrite: Callable[[str, bool, str], str]) -> Messages:
    """Rewrite every piece of every message; ``rewrite`` gets (role, is_code, text)."""
    return _with_contents(messages, lambda role, c: "".join(rewrite(role, code, text) for code, text in _pieces(c)))


def _code(messages: Messages) -> str:
    """All the code of the dialogue: its fenced blocks and inline code spans."""
    return "\n".join(text for m in messages for code, text in _pieces(m.content) if code)


def _same_case(template: str, word: str) -> str:
    if template.isupper():
        return word.upper()
    if template.islower():
        return word.lower()
    return word[:1].upper() + word[1:].lower()


def _refuse_opcode_bytes(messages: Messages) -> None:
    if _OPCODE_BYTES.search(_contents(messages)):
        raise NotApplicable("the text discusses opcode bytes, which would no longer match")


# --- swap-index-registers ----------------------------------------------------------------------

_SWAPPED_MNEMONICS = {
    "ldx": "ldy", "stx": "sty", "inx": "iny", "dex": "dey", "cpx": "cpy", "tax": "tay", "txa": "tya",
    "phx": "phy", "plx": "ply", "txy": "tyx",
}  # fmt: skip
_SWAPPED_MNEMONICS.update({y: x for x, y in list(_SWAPPED_MNEMONICS.items())})
_ROLE_BOUND = frozenset({"txs", "tsx", "mvn", "mvp"})
_ACCUMULATOR_GROUP = frozenset({"adc", "and", "cmp", "eor", "lda", "ora", "sbc", "sta"})
#: The indexed addressing modes each instruction has on the 65816.
_INDEXED_MODES: dict[str, frozenset[str]] = {
    "abs,x": _ACCUMULATOR_GROUP | {"asl", "bit", "dec", "inc", "ldy", "lsr", "rol", "ror", "stz"},
    "abs,y": _ACCUMULATOR_GROUP | {"ldx"},
    "dp,x": _ACCUMULATOR_GROUP | {"asl", "bit", "dec", "inc", "ldy", "lsr", "rol", "ror", "sty", "stz"},
    "dp,y": frozenset({"ldx", "stx"}),
    "long,x": _ACCUMULATOR_GROUP,
    "long,y": frozenset(),
    "(dp,x)": _ACCUMULATOR_GROUP,
    "(dp,y)": frozenset(),
    "(dp),y": _ACCUMULATOR_GROUP,
    "(dp),x": frozenset(),
    "[dp],y": _ACCUMULATOR_GROUP,
    "[dp],x": frozenset(),
    "(abs,x)": frozenset({"jmp", "jsr"}),
    "(abs,y)": frozenset(),
}
_WORD_TOKEN = re.compile(r"(?<![\w$#%.])([A-Za-z_]\w*(?:\.[bwlBWL])?)(?!\w)")
_COORDINATE = re.compile(
    r"\b(?:pixel|link|player|camera|screen|bg\d|boss|enemy|sprite|spark|bat|spear|fireball|projectile|object|actor)"
    r"(?:'s)?[ \t]+[XY]\b(?!/)|"
    r"\b[XY][ \t]*-?[ \t]*(?:low|high|positions?|pos|coordinates?|coords?|velocit(?:y|ies)|speed|scroll|axis|"
    r"flip|direction|distance|delta|offset|movement)\b|\b[XY] and [XY] (?:positions?|coordinates?)\b",
    re.IGNORECASE,
)
_FLAG_AFTER = re.compile(r"^[ \t]*(?:flags?\b|bits?\b|=[ \t]*[01]\b(?=[^\n]{0,24}\bM[ \t]*=))", re.IGNORECASE)
_FLAG_BEFORE = re.compile(r"(?:\bM[ \t]*=[ \t]*[01][ \t]*,?[ \t]*(?:and[ \t]*)?|\bM and[ \t]*)$")


def _indexed_mode(instruction: Instruction) -> str | None:
    """The indexed addressing mode of an instruction ("abs,x", "(dp),y" ...), None when not indexed by X or Y."""
    operand = instruction.lowered
    if operand.startswith("#"):
        return None
    for pattern, shape in ((r"^\[(.+)\],([xy])$", "[dp],{}"), (r"^\((.+)\),([xy])$", "(dp),{}")):
        if match := re.match(pattern, operand):
            return shape.format(match.group(2))
    if match := re.match(r"^\((.+),([xy])\)$", operand):
        return f"({'abs' if instruction.mnemonic in ('jmp', 'jsr') else 'dp'},{match.group(2)})"
    if match := re.match(r"^(.+),([xy])$", operand):
        base, register = match.groups()
        if instruction.suffix:
            size = {".b": "dp", ".w": "abs", ".l": "long"}[instruction.suffix]
        elif hexadecimal := re.fullmatch(r"\$([0-9a-f]+)", base):
            digits = len(hexadecimal.group(1))
            size = "dp" if digits <= 2 else "abs" if digits <= 4 else "long"
        else:
            size = "abs"
        return f"{size},{register}"
    return None


def _check_addressing(code: str) -> None:
    for instruction in instructions(code):
        mode = _indexed_mode(instruction)
        if mode is not None and instruction.mnemonic not in _INDEXED_MODES[mode]:
            written = f"{instruction.mnemonic.upper()}{instruction.suffix} {instruction.operand}"
            raise NotApplicable(f"{instruction.mnemonic.upper()} has no {mode} addressing mode ({written})")


def _swap_token(text: str, match: re.Match[str], is_code: bool) -> str:
    word = match.group(1)
    base = word.lower().partition(".")[0]
    if base[:3] in _SWAPPED_MNEMONICS and base[3:] in ("", "s") and (is_code or word[:3].isupper()):
        return _same_case(word[:3], _SWAPPED_MNEMONICS[base[:3]]) + word[3:]  # also "DEYs" in prose
    if word not in ("x", "y", "X", "Y"):
        return word
    other = {"x": "y", "y": "x", "X": "Y", "Y": "X"}[word]
    before, after = text[: match.start()], text[match.end() :]
    if before.endswith(","):
        return other  # ,x / ,y indexing
    if before.endswith("/") or after.startswith("/"):
        return word  # register lists A/X/Y, the M/X flags
    if word.islower():
        return word  # prose "x" (as in "state x 2")
    if _FLAG_AFTER.match(after) or _FLAG_BEFORE.search(before):
        return word
    return other


def swap_index_registers(messages: Messages, rng: random.Random) -> tuple[Messages, str]:
    code = instructions(_code(messages))
    used = {i.mnemonic for i in code}
    if bound := sorted(used & _ROLE_BOUND):
        raise NotApplicable(f"{', '.join(b.upper() for b in bound)} gives X and Y fixed roles")
    if not any(_indexed_mode(i) for i in code) and not used & set(_SWAPPED_MNEMONICS):
        raise NotApplicable("the code does not use X or Y")
    _refuse_opcode_bytes(messages)
    if coordinate := _COORDINATE.search(_contents(messages)):
        raise NotApplicable(f"the text also uses X/Y for coordinates ({coordinate.group(0)!r}), which must not swap")
    swapped = _rewrite_pieces(
        messages, lambda _, is_code, text: _WORD_TOKEN.sub(lambda m: _swap_token(text, m, is_code), text)
    )
    _check_addressing(_code(swapped))
    return swapped, "X <-> Y"


# --- move-dma-channel ---------------------------------------------------------------------------

_DMA_REGISTER = re.compile(r"\$43([0-7])([0-9A-Fa-f])\b")
_CHANNEL_WORD = re.compile(r"\b([Cc]hannels?)([ \t]+)([0-7])\b")
_ENABLE_STORE = re.compile(
    r"(?P<load>\b[Ll][Dd][AaXxYy](?:\.[bB])?[ \t]+#)(?P<value>\$[0-9A-Fa-f]{2}|%[01]{8}|\d+)"
    r"(?P<between>(?:[^\n]*\n(?:[ \t]*(?:;[^\n]*)?\n)*[ \t]*|[ \t]*:[ \t]*)[Ss][Tt][AaXxYy](?:\.[wWbBlL])?[ \t]+\$(?:00)?420[BbCc]\b)"
)
_BIT_MENTION = re.compile(r"\bbits?[ \t]+(?:\d|n)\b|%[01]{8}", re.IGNORECASE)


def _literal_value(literal: str) -> int:
    if literal.startswith("$"):
        return int(literal[1:], 16)
    if literal.startswith("%"):
        return int(literal[1:], 2)
    return int(literal)


def _same_format(template: str, value: int) -> str:
    """``value`` written like ``template``: $hex with as many digits and the same case, %binary or decimal."""
    if template.startswith("$"):
        digits = f"{value:0{len(template) - 1}X}"
        return "$" + (digits.lower() if template[1:].islower() else digits)
    if template.startswith("%"):
        return f"%{value:0{len(template) - 1}b}"
    return str(value)


def move_dma_channel(messages: Messages, rng: random.Random) -> tuple[Messages, str]:
    text = _contents(messages)
    if not _DMA_REGISTER.search(text):
        raise NotApplicable("no DMA channel register in the dialogue")
    channels = {int(m.group(1)) for m in _DMA_REGISTER.finditer(text)} | {int(m.group(3)) for m in _CHANNEL_WORD.finditer(text)}
    if len(channels) != 1:
        raise NotApplicable(f"the dialogue involves channels {sorted(channels)}, not one")
    if _BIT_MENTION.search(text):
        raise NotApplicable("the text talks about register bits, which would have to move with the channel")
    _refuse_opcode_bytes(messages)
    (old,) = channels
    enables = list(_ENABLE_STORE.finditer(text))
    if not enables or any(_literal_value(m.group("value")) != 1 << old for m in enables):
        raise NotApplicable(f"no write of channel {old}'s enable bit to $420B/$420C that can be moved")
    if len(re.findall(r"\$(?:00)?420[BbCc]\b", text)) != len(enables):
        raise NotApplicable("$420B/$420C is mentioned apart from the enable write")
    new = rng.choice([c for c in range(8) if c != old])

    def rewrite(_: str, content: str) -> str:
        content = _ENABLE_STORE.sub(lambda m: m.group("load") + _same_format(m.group("value"), 1 << new) + m.group("between"), content)
        content = _DMA_REGISTER.sub(lambda m: f"$43{new}{m.group(2)}", content)
        return _CHANNEL_WORD.sub(lambda m: f"{m.group(1)}{m.group(2)}{new}", content)

    return _with_contents(messages, rewrite), f"channel {old} -> {new}"


# --- relocate-variables -------------------------------------------------------------------------

RELOCATABLE = (0x0200, 0x1EFF)
_ADDRESS = re.compile(r"(?<![\w$#])(?P<hash>#?)(?P<prefix>\$(?:[0-9A-Fa-f]{2}:?)?)(?P<digits>[0-9A-Fa-f]{4})(?![\w:])")


def _in_range(value: int) -> bool:
    return RELOCATABLE[0] <= value <= RELOCATABLE[1]


def relocate_variables(messages: Messages, rng: random.Random) -> tuple[Messages, str]:
    text = _contents(messages)
    operands = {
        int(match.group("digits"), 16)
        for i in instructions(_code(messages))
        if not i.operand.startswith("#")
        for match in _ADDRESS.finditer(i.operand)
    }
    operands = {a for a in operands if _in_range(a)}
    if not operands:
        raise NotApplicable("the code uses no low-WRAM variable")
    moved, fixed = set(), set()
    for match in _ADDRESS.finditer(text):
        value = int(match.group("digits"), 16)
        variable = value in operands or value - 1 in operands
        if match.group("hash"):
            if variable:
                raise NotApplicable(f"{match.group(0)} is an immediate with a variable's address")
            fixed.add(value)
        elif variable:
            moved.add(value)
        elif _in_range(value):
            raise NotApplicable(f"{match.group(0)} is mentioned but is not an operand of the code (it may be computed)")
        else:
            fixed.add(value)
    _refuse_opcode_bytes(messages)
    low, high = min(moved), max(moved)
    steps = range(-((low - RELOCATABLE[0]) // 0x10), (RELOCATABLE[1] - high) // 0x10 + 1)
    offsets = [k * 0x10 for k in steps if k and not {v + k * 0x10 for v in moved} & fixed]
    if not offsets:
        raise NotApplicable("no free place to move the variables to")
    offset = rng.choice(offsets)

    def move(match: re.Match[str]) -> str:
        value = int(match.group("digits"), 16)
        if value not in moved or match.group("hash"):
            return match.group(0)
        return match.group("prefix") + _same_format("$" + match.group("digits"), value + offset)[1:]

    sign = "+" if offset > 0 else "-"
    return _with_contents(messages, lambda _, c: _ADDRESS.sub(move, c)), f"{len(moved)} addresses {sign}${abs(offset):04X}"


# --- rename-routines ----------------------------------------------------------------------------

SYNONYMS: dict[str, tuple[str, ...]] = {
    "main": ("Tick", "Step", "Run"),
    "update": ("Refresh", "Step", "Tick"),
    "draw": ("Render", "Blit", "Paint"),
    "load": ("Fetch", "Read"),
    "upload": ("Transfer", "Copy", "Send"),
    "init": ("Setup", "Start", "Prepare"),
    "put": ("Write", "Place", "Store"),
    "get": ("Read", "Fetch"),
    "handle": ("Process", "Service"),
    "handler": ("Service", "Routine"),
    "check": ("Test", "Probe"),
    "set": ("Apply", "Assign"),
    "clear": ("Wipe", "Reset"),
    "queue": ("List", "Fifo"),
    "flush": ("Drain", "Commit"),
    "timer": ("Counter", "Clock"),
    "tile": ("Cell", "Char"),
    "tiles": ("Cells", "Chars"),
    "table": ("Tbl", "List"),
    "tbl": ("Table", "Data"),
    "ptr": ("Pointer", "Ref"),
    "buffer": ("Buf", "Staging"),
    "buf": ("Buffer", "Scratch"),
    "copy": ("Move", "Transfer"),
    "spawn": ("Create", "Emit"),
    "move": ("Shift", "Advance"),
    "print": ("Write", "Emit"),
    "string": ("Text", "Str"),
    "dispatch": ("Jump", "Route"),
    "wait": ("Sync", "Await"),
    "read": ("Fetch", "Get"),
    "write": ("Put", "Store"),
    "calc": ("Compute", "Find"),
    "reset": ("Clear", "Restart"),
    "apply": ("Set", "Commit"),
    "gfx": ("Graphics", "Chr"),
    "pal": ("Palette", "Colors"),
    "palette": ("Pal", "Colors"),
    "routine": ("Proc", "Sub"),
    "helper": ("Util", "Sub"),
}
_LABEL_DEFINITION = re.compile(r"^([A-Za-z_]\w*)(?::|[ \t]*(?:;[^\n]*)?$)", re.MULTILINE)
_LABEL_PART = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+|_")
_NAME = re.compile(r"(?<![\w$#.%])[A-Za-z_]\w*")


def _code_labels(messages: Messages) -> list[str]:
    """Routine and table names: labels defined at the start of a code line, and names used as operands."""
    code = _code(messages)
    names = dict.fromkeys(_LABEL_DEFINITION.findall(code))
    for instruction in instructions(code):
        names.update(dict.fromkeys(_NAME.findall(instruction.operand)))
    return [n for n in names if n.lower() not in MNEMONICS and len(n) >= 4 and re.search(r"[A-Z_]", n)]


def _renamed(label: str, rng: random.Random) -> str | None:
    parts = _LABEL_PART.findall(label)
    if "".join(parts) != label:
        return None
    candidates = [i for i, part in enumerate(parts) if part.lower() in SYNONYMS]
    if not candidates:
        return None
    for index in rng.sample(candidates, k=min(len(candidates), 2)):
        parts[index] = _same_case(parts[index], rng.choice(SYNONYMS[parts[index].lower()]))
    return "".join(parts)


def rename_routines(messages: Messages, rng: random.Random) -> tuple[Messages, str]:
    text = _contents(messages)
    renames: dict[str, str] = {}
    for label in _code_labels(messages):
        if re.search(rf"(?<![\w.$]){re.escape(label)}\w", text):
            continue  # FontGfx beside FontGfxEnd: renaming one and not the other breaks their relation
        new = _renamed(label, rng)
        if new and new != label and new not in renames.values() and not re.search(rf"(?<![\w.]){re.escape(new)}(?!\w)", text):
            renames[label] = new
    if not renames:
        raise NotApplicable("no routine label with a word to rename")
    pattern = re.compile(r"(?<![\w.$])(" + "|".join(map(re.escape, sorted(renames, key=len, reverse=True))) + r")(?!\w)")
    renamed = _with_contents(messages, lambda _, c: pattern.sub(lambda m: renames[m.group(1)], c))
    return renamed, ", ".join(f"{old} -> {new}" for old, new in renames.items())


# --- vary-constants -----------------------------------------------------------------------------

_HARDWARE = re.compile(r"^\$(?:00)?(?:21[0-9a-f]{2}|4[23][0-9a-f]{2})(?![0-9a-f])", re.IGNORECASE)
#: Only small quantities (timers, speeds, tile numbers, ids) vary: 2-$7D, below the bank bytes
#: $7E/$7F and the sign bit, far from masks such as $80 and $FF.
VARIED_VALUES = (2, 0x7D)
_IMMEDIATE_LOAD = re.compile(r"^[ \t]+(?P<mnemonic>ld[axy])[ \t]+#(?P<value>\$[0-9a-f]+)[ \t]*(?:;(?P<comment>.*))?$", re.IGNORECASE)
_UNKNOWN_WIDTHS = {"m": None, "x": None}


def _flag_effect(instruction: Instruction) -> dict[str, int]:
    """The register widths REP/SEP #imm sets: {'m': 8 or 16, 'x': 8 or 16} for the flags it names."""
    if not re.fullmatch(r"#\$[0-9a-f]{1,2}", instruction.lowered):
        return {}
    bits = int(instruction.lowered[2:], 16)
    width = 16 if instruction.mnemonic == "rep" else 8
    return {flag: width for flag, bit in (("m", 0x20), ("x", 0x10)) if bits & bit}


def _stored_immediates(block: str) -> list[str]:
    """The lines of the immediate loads of a code block that are stored to RAM right away, whose
    register width is known from a REP/SEP before them in straight-line code and matches the operand."""
    lines = block.splitlines()
    widths: dict[str, int | None] = dict(_UNKNOWN_WIDTHS)
    found = []
    for index, line in enumerate(lines):
        code = line.split(";", 1)[0]
        if code.strip() and not code[0].isspace():  # a label: a branch may arrive with other widths
            widths = dict(_UNKNOWN_WIDTHS)
        parsed = instructions(code)
        if not parsed:
            continue
        if parsed[0].mnemonic in ("rep", "sep"):
            widths.update(_flag_effect(parsed[0]))
        elif parsed[0].mnemonic in ("plp", "rti", "rts", "rtl", "xce"):
            widths = dict(_UNKNOWN_WIDTHS)
        elif (load := _IMMEDIATE_LOAD.match(line)) is not None:
            width = widths["m" if parsed[0].mnemonic == "lda" else "x"]
            following = next((i for rest in lines[index + 1 :] for i in instructions(rest)), None)
            stored = following is not None and following.mnemonic == "st" + parsed[0].mnemonic[-1]
            if (
                width is not None
                and len(load.group("value")) - 1 == width // 4
                and stored
                and not following.operand.startswith("#")
                and not _HARDWARE.match(following.operand)
            ):
                found.append(line)
    return found


def _mentioned_elsewhere(literal: str, text: str) -> bool:
    """Whether the value of ``#literal`` appears in the text other than as that immediate."""
    hexadecimal = len(re.findall(rf"\${literal[1:]}(?![0-9a-f])", text, re.IGNORECASE))
    immediate = len(re.findall(rf"#\${literal[1:]}(?![0-9a-f])", text, re.IGNORECASE))
    return hexadecimal != immediate or bool(re.search(rf"(?<![\w$#.]){int(literal[1:], 16)}(?![\w.])", text))


def vary_constants(messages: Messages, rng: random.Random) -> tuple[Messages, str]:
    text = _contents(messages)
    changes: dict[str, str] = {}
    for message in messages:
        if message.role != "user":
            continue
        for block in _FENCED.findall(message.content):
            for line in _stored_immediates(block):
                load = _IMMEDIATE_LOAD.match(line)
                literal, value = load.group("value"), int(load.group("value")[1:], 16)
                low, high = VARIED_VALUES
                if not low <= value <= high or re.search(r"\d", load.group("comment") or "") or _mentioned_elsewhere(literal, text):
                    continue
                choices = [
                    v
                    for v in range(max(low, value // 2), min(value * 3 // 2, high) + 1)
                    if v != value and not _mentioned_elsewhere(_same_format(literal, v), text)
                ]
                if choices:
                    changes[literal] = _same_format(literal, rng.choice(choices))
    if not changes:
        raise NotApplicable("no immediate load stored to RAM that nothing else refers to")
    pattern = re.compile(r"#(" + "|".join(re.escape(v) for v in changes) + r")(?![0-9A-Fa-f])")
    varied = _with_contents(messages, lambda _, c: pattern.sub(lambda m: "#" + changes[m.group(1)], c))
    return varied, ", ".join(f"#{old} -> #{new}" for old, new in changes.items())


# --- reword-symptom ----------------------------------------------------------------------------

REQUESTS: tuple[str, ...] = (
    "What's wrong?",
    "What's going on?",
    "What am I doing wrong?",
    "Can you spot the bug?",
    "Where's the bug?",
    "Any idea what's wrong?",
    "What did I get wrong?",
    "Why does this happen?",
    "Find the bug.",
    "What's causing this?",
)
_REQUEST = re.compile(
    r"Find the bug[^.?!\n]*[.?!:]|What'?s (?:wrong|going on|going wrong|the (?:bug|problem|issue))[^.?!\n]*\?|"
    r"What (?:am I|did I) (?:doing wrong|do wrong|get wrong|missing|break)\?|Why\?|"
    r"Can (?:you|anyone) (?:spot|see|find) [^?\n]*\?|Any idea[^?\n]*\?|Where'?s the bug\?|Why does this happen\?|"
    r"What'?s causing this\?"
)
#: Pairs of phrases that mean the same in a bug report; either replaces the other.
SAME_MEANING: tuple[tuple[str, str], ...] = (
    ("as soon as", "the moment"),
    ("every time", "whenever"),
    ("I'm", "I am"),
    ("doesn't", "does not"),
    ("don't", "do not"),
    ("isn't", "is not"),
    ("it's", "it is"),
    ("can't", "cannot"),
    ("completely", "totally"),
    ("shows up as", "appears as"),
    ("right after", "immediately after"),
    ("Since then", "Ever since"),
    ("for some reason", "somehow"),
    ("looks fine", "looks correct"),
    ("the whole", "the entire"),
    ("I think", "I believe"),
    ("sometimes", "at times"),
)


def _reword_prose(text: str, rng: random.Random, done: list[str]) -> str:
    for request in _REQUEST.findall(text):
        new = rng.choice([r for r in REQUESTS if r != request])
        text = text.replace(request, new, 1)
        done.append(f"{request!r} -> {new!r}")
    for first, second in SAME_MEANING:
        for old, new in ((first, second), (second, first)):
            pattern = re.compile(rf"(?<![\w']){re.escape(old)}(?![\w'])")
            if pattern.search(text) and rng.random() < 0.7:
                text = pattern.sub(new, text)
                done.append(f"{old!r} -> {new!r}")
                break
    return text


def reword_symptom(messages: Messages, rng: random.Random) -> tuple[Messages, str]:
    done: list[str] = []
    reworded = _rewrite_pieces(
        messages, lambda role, is_code, text: _reword_prose(text, rng, done) if role == "user" and not is_code else text
    )
    if not done:
        raise NotApplicable("no request sentence or rewordable phrase in the user's prose")
    return reworded, "; ".join(done)


# --- trace-steps -------------------------------------------------------------------------------

_WHATS_HAPPENING = re.compile(
    r"^[ \t]*\*\*What['’]s happening:\*\*[^\n]*\n.*?(?=^[ \t]*\*\*[^*\n]+:\*\*)", re.MULTILINE | re.DOTALL
)
TRACE_INTRO = "Step by step through the code, with what is known of the register widths and the stack at each point:"


def trace_steps(messages: Messages, rng: random.Random) -> tuple[Messages, str]:
    """The answer's **What's happening:** steps re-told as a trace of the user's code (see
    :mod:`farore.dataset.trace`); the diagnosis, its explanation and the fix stay as they are."""
    if [m.role for m in messages if m.role != "system"] != ["user", "assistant"]:
        raise NotApplicable("not one question and one answer: which code each answer traces is unclear")
    blocks = [block for m in messages if m.role == "user" for block in _FENCED.findall(m.content)]
    if len(blocks) != 1:
        raise NotApplicable(f"the user shows {len(blocks)} code blocks, not one")
    answer = next(m.content for m in messages if m.role == "assistant")
    if len(_WHATS_HAPPENING.findall(answer)) != 1:
        raise NotApplicable("no single **What's happening:** section followed by another section")
    try:
        steps = trace(blocks[0])
    except Untraceable as reason:
        raise NotApplicable(f"the code cannot be traced: {reason}") from None
    lines = [f"{number}. {step.written}: {step.effect}." for number, step in enumerate(steps, 1)]
    section = "\n".join(["**What's happening:**", TRACE_INTRO, *lines, "", ""])
    traced = _with_contents(messages, lambda role, c: _WHATS_HAPPENING.sub(lambda _: section, c) if role == "assistant" else c)
    return traced, f"{len(steps)} steps traced from the code"


# --- variations --------------------------------------------------------------------------------

Transform = Callable[[Messages, random.Random], tuple[Messages, str]]


@dataclass(frozen=True)
class Transformation:
    name: str
    apply: Transform
    semantic: bool = False


TRANSFORMATIONS: tuple[Transformation, ...] = (
    Transformation("swap-index-registers", swap_index_registers, semantic=True),
    Transformation("move-dma-channel", move_dma_channel, semantic=True),
    Transformation("relocate-variables", relocate_variables),
    Transformation("rename-routines", rename_routines),
    Transformation("vary-constants", vary_constants),
    Transformation("reword-symptom", reword_symptom),
    Transformation("trace-steps", trace_steps, semantic=True),  # last: it traces the code the others produced
)
TRANSFORMATION_NAMES = tuple(t.name for t in TRANSFORMATIONS)
DEFAULT_PER_DIALOGUE = 2
DEFAULT_SEED = 0


@dataclass(frozen=True)
class Variation:
    dialogue: Dialogue  # with source "expanded", its parent's id and the transformations applied
    parent: Dialogue
    #: "kept", or why the variation was dropped: "format: ...", "near-duplicate of the parent
    #: (dialogue 0.91)", "near-duplicate of <sibling id> (...)".
    verdict: str = "kept"
    duplicate: DuplicatePair | None = None  # the dedup gate's finding, when that is why it was dropped

    @property
    def kept(self) -> bool:
        return self.verdict == "kept"


@dataclass(frozen=True)
class Refusal:
    parent: str
    transformation: str
    reason: str


@dataclass(frozen=True)
class ExpandResult:
    parents: int
    without_semantic: int  # parents to which no semantic transformation applies: no variation
    variations: tuple[Variation, ...]  # kept and dropped, in order
    applicable: dict[str, int]  # transformation -> parents it applies to
    refusals: tuple[Refusal, ...]
    dialogue_threshold: float
    code_threshold: float

    @property
    def kept(self) -> list[Variation]:
        return [v for v in self.variations if v.kept]

    def dropped(self, reason: str) -> int:
        return sum(v.verdict.startswith(reason) for v in self.variations)

    def similarities(self, scope: str) -> list[float]:
        """How similar each variation dropped on ``scope`` ("dialogue" or "code") was to what it duplicates."""
        return sorted(v.duplicate.similarity for v in self.variations if v.duplicate and v.duplicate.scope == scope)

    def used(self, name: str) -> int:
        """How many kept variations apply the transformation ``name``."""
        return sum(any(t.startswith(f"{name}: ") for t in v.dialogue.transformations or ()) for v in self.kept)


def _plans(semantic: Sequence[str], count: int) -> list[frozenset[str]]:
    """The semantic transformations of each variation: every combination, the largest first. None
    when none applies: moves alone make the renamed clone that the dedup gate exists to refuse."""
    return [frozenset(c) for size in range(len(semantic), 0, -1) for c in combinations(semantic, size)][:count]


def _applicable(parent: Dialogue, parent_id: str, seed: int, refusals: list[Refusal]) -> list[Transformation]:
    usable = []
    for transformation in TRANSFORMATIONS:
        try:
            transformation.apply(parent.messages, random.Random(f"{seed}/{parent_id}/probe"))
        except NotApplicable as reason:
            refusals.append(Refusal(parent_id, transformation.name, str(reason)))
            continue
        usable.append(transformation)
    return usable


def _vary(parent: Dialogue, usable: Sequence[Transformation], plan: frozenset[str], rng: random.Random):
    """The parent's messages after the plan's semantic transformations and every applicable move."""
    messages = parent.messages
    applied = []
    for transformation in usable:
        if transformation.semantic and transformation.name not in plan:
            continue
        try:
            messages, detail = transformation.apply(messages, rng)
        except NotApplicable:
            continue  # an earlier transformation took away what this one needs
        applied.append(f"{transformation.name}: {detail}")
    return messages, tuple(applied)


def _judge(parent: Dialogue, candidates: list[Variation], dialogue_threshold: float, code_threshold: float) -> list[Variation]:
    """Drop the candidates that fail the format or that the dedup gate finds near-duplicates of the
    parent or of an earlier candidate; the verdict says which."""
    judged = []
    for candidate in candidates:
        findings = check_format([candidate.dialogue]).findings
        judged.append(replace(candidate, verdict=f"format: {findings[0].rule}: {findings[0].message}") if findings else candidate)
    passing = [c for c in judged if c.kept]
    duplicates = find_duplicates([parent, *(c.dialogue for c in passing)], dialogue_threshold, code_threshold)
    names = {parent.where: "the parent", **{c.dialogue.where: c.dialogue.id for c in passing}}
    first_pair = {}
    for pair in duplicates.pairs:
        if pair.first not in duplicates.dropped:
            first_pair.setdefault(pair.second, pair)

    def verdict(pair: DuplicatePair) -> str:
        return f"near-duplicate of {names[pair.first]} ({pair.scope} {pair.similarity:.2f})"

    return [
        replace(c, verdict=verdict(first_pair[c.dialogue.where]), duplicate=first_pair[c.dialogue.where])
        if c.dialogue.where in duplicates.dropped
        else c
        for c in judged
    ]


def expand_dialogues(
    dialogues: Sequence[Dialogue],
    per_dialogue: int = DEFAULT_PER_DIALOGUE,
    seed: int = DEFAULT_SEED,
    output_name: str = "expanded.jsonl",
    dialogue_threshold: float = DIALOGUE_THRESHOLD,
    code_threshold: float = CODE_THRESHOLD,
) -> ExpandResult:
    """Up to ``per_dialogue`` variations of each dialogue, in order; the same seed gives the same output."""
    variations: list[Variation] = []
    refusals: list[Refusal] = []
    applicable: Counter = Counter()
    without_semantic = 0
    for parent in tqdm(dialogues, desc="expand", unit="dialogue", disable=None, leave=False):
        parent_id = parent.id or f"line{parent.line}"
        usable = _applicable(parent, parent_id, seed, refusals)
        applicable.update(t.name for t in usable)
        plans = _plans([t.name for t in usable if t.semantic], per_dialogue)
        without_semantic += not plans
        candidates = []
        for number, plan in enumerate(plans, 1):
            messages, applied = _vary(parent, usable, plan, random.Random(f"{seed}/{parent_id}/{number}"))
            dialogue = replace(
                parent,
                path=output_name,
                line=len(variations) + len(candidates) + 1,
                messages=messages,
                id=f"{parent_id}.x{number}",
                source="expanded",
                parent=parent_id,
                transformations=applied,
            )
            candidates.append(Variation(dialogue, parent))
        variations.extend(_judge(parent, candidates, dialogue_threshold, code_threshold))
    return ExpandResult(
        len(dialogues),
        without_semantic,
        tuple(variations),
        {t.name: applicable[t.name] for t in TRANSFORMATIONS},
        tuple(refusals),
        dialogue_threshold,
        code_threshold,
    )
