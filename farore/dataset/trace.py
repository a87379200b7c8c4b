"""What a 65816 routine does, instruction by instruction, derived from its code alone.

``farore data expand`` uses it to re-tell a diagnosis a different way: the answer's
**What's happening:** steps become a trace of the routine with the register widths (M and X
flags) and the stack depth known at each instruction. Every sentence follows from the
instruction and from that state; the state comes from a small data-flow pass over the listing
(branches to labels of the listing, loops iterated to a fixed point, paths joined as sets of
possibilities), so a return reached with different stack depths on different paths says so.
Where the state is not known (before the first REP/SEP, after a call, a PLP or a join of paths
with different widths) the sentence says less instead of guessing.

Code it cannot follow is refused (``Untraceable``): anonymous labels, labels defined twice,
lines that are neither instructions, labels nor data, instructions it has no wording for, an
immediate whose size contradicts the known flag (the assembler then decides what runs), and
listings too long to be worth a step each.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from farore.dataset.similarity import MNEMONICS

MAX_INSTRUCTIONS = 32
_MAX_DEPTHS = 4  # more possible stack depths than this (a loop that pushes) and the depth is unknown

_INSTRUCTION = re.compile(
    r"(?<![\w$#%.])(?P<mnemonic>[A-Za-z]{3})(?P<suffix>\.[bwlBWL])?(?![\w.])"
    r"(?:[ \t]+(?P<operand>[#\[(]?[^\s;`,\])]*(?:[\])]?\s*,\s*[xysXYS]\)?|\])?\)?))?"
)
_SEPARATOR = re.compile(r"\s:\s")  # LDA #$01 : STA $420B
_LABEL = re.compile(r"^(?P<name>[A-Za-z_.][\w.]*)(?::|(?=\s|$))")
_DATA = re.compile(r"^\s*(?:db|dw|dl|dd|incbin|org|base|pushpc|pullpc|warnpc|table|fillbyte|padbyte)\b", re.IGNORECASE)


class Untraceable(Exception):
    """The code cannot be traced with certainty; the message says why."""


@dataclass(frozen=True)
class Instruction:
    mnemonic: str  # lower case
    suffix: str  # "", ".b", ".w" or ".l"
    operand: str  # as written, spaces removed

    @property
    def lowered(self) -> str:
        return self.operand.lower()

    @property
    def written(self) -> str:
        return f"{self.mnemonic.upper()}{self.suffix} {self.operand}".rstrip()


def _instruction_matches(code: str) -> Iterator[re.Match[str]]:
    """The regex match of every 65816 instruction in a piece of code (comments left out)."""
    for line in code.splitlines():
        for statement in _SEPARATOR.split(line.split(";", 1)[0]):
            yield from (m for m in _INSTRUCTION.finditer(statement) if m.group("mnemonic").lower() in MNEMONICS)


def instructions(code: str) -> list[Instruction]:
    """Every 65816 instruction written in a piece of code (comments left out)."""
    return [
        Instruction(m.group("mnemonic").lower(), (m.group("suffix") or "").lower(), re.sub(r"\s+", "", m.group("operand") or ""))
        for m in _instruction_matches(code)
    ]


def written_mnemonics(code: str) -> list[str]:
    """The mnemonic of every instruction in a piece of code, in the case it is written in."""
    return [m.group("mnemonic") for m in _instruction_matches(code)]


# --- the listing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    instruction: Instruction
    labels: tuple[str, ...]  # the labels defined right before it
    text: str  # as written, spaces folded (``MVN $7E,$00`` keeps both banks)


def _label_and_rest(line: str) -> tuple[str | None, str]:
    """A label starting a line at column 0 (``Name:``, ``.loop``), and the rest of the line."""
    match = _LABEL.match(line)
    if match is None or (match.group("name").lower() in MNEMONICS and not line[match.end() - 1 :].startswith(":")):
        return None, line
    return match.group("name"), line[match.end() :]


def statements(code: str) -> list[Statement]:
    """The instructions of a code block with the labels that mark them."""
    found: list[Statement] = []
    pending: list[str] = []
    defined: set[str] = set()
    for raw in code.splitlines():
        line = raw.split(";", 1)[0].rstrip()
        if not line.strip() or _DATA.match(line) or line.strip().startswith("```"):
            continue
        label, rest = _label_and_rest(line)
        if label is not None:
            if label in defined:
                raise Untraceable(f"the label {label} is defined twice")
            defined.add(label)
            pending.append(label)
        for piece in _SEPARATOR.split(rest):
            parsed = instructions(piece)
            if len(parsed) != 1 and piece.strip():
                raise Untraceable(f"cannot read the line {raw.strip()!r}")
            if parsed:
                found.append(Statement(parsed[0], tuple(pending), " ".join(piece.split())))
                pending = []
    return found


# --- the state at each instruction ------------------------------------------------------------

WIDTHS = (8, 16)
_CONDITIONS = {
    "beq": "the last result was zero", "bne": "the last result was not zero", "bcc": "the carry is clear",
    "bcs": "the carry is set", "bmi": "the last result was negative", "bpl": "the last result was not negative",
    "bvc": "the overflow flag is clear", "bvs": "the overflow flag is set",
}  # fmt: skip
_JUMPS = frozenset({"bra", "brl", "jmp", "jml"})
_EXITS = frozenset({"rts", "rtl", "rti", "stp"})
_PUSH_SIZE = {"php": 1, "phb": 1, "phk": 1, "phd": 2, "pea": 2, "pei": 2, "per": 2}
_PULL_SIZE = {"plp": 1, "plb": 1, "pld": 2}
Scenario = tuple[int, int, "int | None"]  # A width (M), index width (X), bytes pushed since entry


@dataclass(frozen=True)
class State:
    """The (A width, index width, stack depth) combinations possible before an instruction.
    Keeping combinations, not one set per quantity, lets a PHA and a PLA under an unknown M move
    the stack by the same amount on each path. A depth of None: unknown (S was loaded)."""

    scenarios: frozenset[Scenario] = frozenset((m, x, 0) for m in WIDTHS for x in WIDTHS)

    @property
    def m(self) -> frozenset[int]:
        return frozenset(s[0] for s in self.scenarios)

    @property
    def x(self) -> frozenset[int]:
        return frozenset(s[1] for s in self.scenarios)

    @property
    def depth(self) -> frozenset[int] | None:
        depths = {s[2] for s in self.scenarios}
        return None if None in depths else frozenset(depths)

    def join(self, other: State) -> State:
        return State(self.scenarios | other.scenarios).bounded()

    def bounded(self) -> State:
        """Depth unknown once there are too many (a loop that pushes), so that loops settle."""
        if self.depth is not None and len(self.depth) <= _MAX_DEPTHS:
            return self
        return State(frozenset((m, x, None) for m, x, _ in self.scenarios))

    def moved(self, size: Callable[[int, int], int]) -> State:
        """The stack after pushing (positive) or pulling (negative) ``size(m, x)`` bytes."""
        return State(frozenset((m, x, None if d is None else d + size(m, x)) for m, x, d in self.scenarios)).bounded()

    def widths(self, m: int | None, x: int | None) -> State:
        """The widths set by REP/SEP (an int), kept (None), or forgotten (0: after PLP, a call)."""
        def choices(new: int | None, old: int) -> tuple[int, ...]:
            return (old,) if new is None else WIDTHS if new == 0 else (new,)

        return State(frozenset((mm, xx, d) for om, ox, d in self.scenarios for mm in choices(m, om) for xx in choices(x, ox)))


def _flag_bits(instruction: Instruction) -> int:
    if not re.fullmatch(r"#\$[0-9a-f]{1,2}", instruction.lowered):
        raise Untraceable(f"{instruction.written}: the flags it changes are not a literal")
    return int(instruction.lowered.removeprefix("#$"), 16)


def _after(state: State, instruction: Instruction) -> State:
    """The state after one instruction (on the path that continues past it)."""
    mnemonic = instruction.mnemonic
    if mnemonic in ("rep", "sep"):
        bits, width = _flag_bits(instruction), 16 if mnemonic == "rep" else 8
        return state.widths(width if bits & 0x20 else None, width if bits & 0x10 else None)
    if mnemonic in ("pha", "phx", "phy", "pla", "plx", "ply"):
        sign = 1 if mnemonic.startswith("ph") else -1
        return state.moved(lambda m, x: sign * (m if mnemonic[2] == "a" else x) // 8)
    if mnemonic in _PUSH_SIZE:
        return state.moved(lambda m, x: _PUSH_SIZE[mnemonic])
    if mnemonic in _PULL_SIZE:
        pulled = state.moved(lambda m, x: -_PULL_SIZE[mnemonic])
        return pulled.widths(0, 0) if mnemonic == "plp" else pulled
    if mnemonic in ("jsr", "jsl", "xce"):
        return state.widths(0, 0)  # the callee (or emulation mode) may leave other widths
    if mnemonic in ("tcs", "txs"):
        return State(frozenset((m, x, None) for m, x, _ in state.scenarios))
    return state


def _targets(listing: list[Statement]) -> dict[str, int]:
    return {label: index for index, statement in enumerate(listing) for label in statement.labels}


def _successors(listing: list[Statement], index: int, targets: dict[str, int]) -> list[int]:
    instruction = listing[index].instruction
    mnemonic, operand = instruction.mnemonic, instruction.operand
    if mnemonic in _CONDITIONS or mnemonic in _JUMPS:
        if operand.strip("+-") == "":
            raise Untraceable(f"{instruction.written}: anonymous labels are not followed")
        jump = [targets[operand]] if operand in targets else []
        return jump if mnemonic in _JUMPS else [*jump, index + 1]
    return [] if mnemonic in _EXITS else [index + 1]


def states(listing: list[Statement]) -> list[State | None]:
    """The state before each instruction, None for code no path reaches. A routine starts at
    the first instruction and at every labelled one that nothing falls or jumps into."""
    targets = _targets(listing)
    edges = [[s for s in _successors(listing, i, targets) if s < len(listing)] for i in range(len(listing))]
    reached = {s for successors in edges for s in successors}
    for index, statement in enumerate(listing):
        if index - 1 >= 0 and index in edges[index - 1] and any(not label.startswith(".") for label in statement.labels):
            raise Untraceable(f"the code runs into {statement.labels[-1]}: whether the listing is contiguous there is unclear")
    before: list[State | None] = [None] * len(listing)
    work = [i for i, statement in enumerate(listing) if i == 0 or (statement.labels and i not in reached)]
    for entry in work:
        before[entry] = State()
    while work:
        index = work.pop()
        after = _after(before[index], listing[index].instruction)
        for successor in edges[index]:
            joined = after if before[successor] is None else before[successor].join(after)
            if joined != before[successor]:
                before[successor] = joined
                work.append(successor)
    return before


# --- the wording -------------------------------------------------------------------------------

_HARDWARE = {
    0x2100: "screen brightness and forced blank", 0x2101: "sprite size and graphics address",
    0x2102: "OAM address", 0x2104: "OAM data", 0x2105: "BG mode", 0x2115: "VRAM address increment mode",
    0x2116: "VRAM word address", 0x2117: "VRAM word address, high byte", 0x2118: "VRAM data",
    0x2119: "VRAM data, high byte", 0x2121: "CGRAM address", 0x2122: "CGRAM data",
    0x212C: "main screen layers", 0x2140: "APU port 0", 0x2141: "APU port 1", 0x2142: "APU port 2",
    0x2143: "APU port 3", 0x2180: "WRAM data port", 0x2181: "WRAM address", 0x4200: "interrupt enable",
    0x420B: "DMA enable", 0x420C: "HDMA enable", 0x4210: "NMI flag", 0x4212: "blanking status",
}  # fmt: skip
_DMA_PARTS = {
    0x0: "transfer mode", 0x1: "B-bus address", 0x2: "source address", 0x3: "source address, high byte",
    0x4: "source bank", 0x5: "byte count", 0x6: "byte count, high byte", 0x7: "HDMA indirect bank",
}  # fmt: skip
_HEX_ADDRESS = re.compile(r"^\$(?:00)?([0-9a-f]{4})(?:,[xy])?$")
_NUMBERS = {2: "twice", 3: "three times", 4: "four times", 5: "five times", 6: "six times", 7: "seven times", 8: "eight times"}
_SIMPLE = {
    "clc": "clears the carry", "sec": "sets the carry", "cli": "enables IRQs", "sei": "disables IRQs",
    "cld": "leaves decimal mode", "sed": "enters decimal mode", "clv": "clears the overflow flag",
    "nop": "does nothing", "wai": "waits for an interrupt", "xba": "swaps the two bytes of A",
    "tax": "copies A into X", "tay": "copies A into Y", "txa": "copies X into A", "tya": "copies Y into A",
    "txy": "copies X into Y", "tyx": "copies Y into X", "tcd": "copies all 16 bits of A into the direct page register D, whatever M",
    "tdc": "copies D into all 16 bits of A, whatever M", "tsc": "copies the stack pointer into all 16 bits of A, whatever M",
    "tsx": "copies the stack pointer into X", "phk": "pushes the program bank (1 byte)",
    "phb": "pushes the data bank register DBR (1 byte)", "plb": "pulls 1 byte into DBR, the data bank for absolute addresses",
    "phd": "pushes D (2 bytes)", "pld": "pulls 2 bytes into D", "php": "pushes P, with the M and X flags (1 byte)",
    "plp": "pulls 1 byte into P: M and X now come from that byte",
    "xce": "swaps the carry and the emulation flag",
}  # fmt: skip
_MEMORY_VERBS = {
    "adc": "adds {place} and the carry to A", "sbc": "subtracts {place} and the borrow from A",
    "and": "ANDs A with {place}", "ora": "ORs A with {place}", "eor": "XORs A with {place}",
    "cmp": "compares A with {place}", "cpx": "compares X with {place}", "cpy": "compares Y with {place}",
    "bit": "tests the bits of A against {place}", "tsb": "sets in {place} the bits set in A",
    "trb": "clears in {place} the bits set in A", "inc": "adds 1 to {place}", "dec": "subtracts 1 from {place}",
    "asl": "shifts {place} left one bit", "lsr": "shifts {place} right one bit",
    "rol": "rotates {place} left through the carry", "ror": "rotates {place} right through the carry",
}  # fmt: skip
_IMPLIED_COUNTS = {"inx": "adds 1 to X", "iny": "adds 1 to Y", "dex": "subtracts 1 from X", "dey": "subtracts 1 from Y"}


def _hardware(operand: str) -> str:
    """`` ($420B, DMA enable)``-style note for a known hardware register, else nothing."""
    match = _HEX_ADDRESS.match(operand.lower())
    if match is None:
        return ""
    address = int(match.group(1), 16)
    if 0x4300 <= address <= 0x437F and address & 0xF in _DMA_PARTS:
        return f" (DMA channel {(address >> 4) & 7} {_DMA_PARTS[address & 0xF]})"
    return f" ({_HARDWARE[address]})" if address in _HARDWARE else ""


def _size(widths: frozenset[int]) -> str | None:
    return {frozenset({8}): "1 byte", frozenset({16}): "2 bytes"}.get(widths)


def _place(instruction: Instruction) -> str:
    return f"`{instruction.operand}`{_hardware(instruction.operand)}"


def _check_immediate(instruction: Instruction, widths: frozenset[int]) -> None:
    digits = re.fullmatch(r"#\$([0-9a-f]+)", instruction.lowered)
    if digits and len(widths) == 1 and not instruction.suffix and len(digits.group(1)) != next(iter(widths)) // 4:
        raise Untraceable(f"{instruction.written}: the immediate's size does not match the flag, the assembler decides what runs")


def _bytes(count: int) -> str:
    return f"{count} byte{'s' if abs(count) != 1 else ''}"


def _depth(depth: frozenset[int] | None) -> str:
    if depth is None:
        return "the stack depth is no longer known"
    if len(depth) > 1:
        return f"{' or '.join(map(str, sorted(depth)))} bytes pushed by this routine, depending on the path and the flags"
    (value,) = depth
    if value == 0:
        return "the stack is back at its level on entry"
    return f"{_bytes(value)} pushed by this routine" if value > 0 else f"{_bytes(-value)} pulled beyond what this routine pushed"


def _return(instruction: Instruction, state: State) -> str:
    taken = {"rts": "a 2-byte return address", "rtl": "a 3-byte return address", "rti": "P and the return address"}
    what = f"returns: pulls {taken[instruction.mnemonic]}"
    depth = state.depth
    if depth is None:
        return what
    if depth == frozenset({0}):
        return f"{what}; every push of this routine had its pull, so the stack pointer is where it was on entry"
    if 0 in depth:
        return f"{what}; the stack is balanced on some paths only ({_depth(depth)}), and on the others the return address comes from the wrong bytes"
    return f"{what} with the stack out of balance ({_depth(depth)}), so the return address comes from the wrong bytes"


def _source(load: Instruction, widths: frozenset[int]) -> str:
    """What a load takes: its immediate, or the byte/word at its operand."""
    _check_immediate(load, widths)
    if load.operand.startswith("#"):
        return f"`{load.operand}`"
    return f"{ {'1 byte': 'the byte', '2 bytes': 'the word'}.get(_size(widths), 'the value') } at {_place(load)}"


def _register_move(instruction: Instruction, state: State) -> str:
    """Loads, stores and pushes/pulls of A, X and Y, with their size when the flag is known."""
    mnemonic = instruction.mnemonic
    register = "A" if mnemonic[-1] in "az" else mnemonic[-1].upper()
    widths = state.m if register == "A" else state.x
    size = f" ({_size(widths)})" if _size(widths) else ""
    if mnemonic[:2] in ("ph", "pl"):
        verb = "pushes" if mnemonic.startswith("ph") else "pulls"
        return f"{verb} {register} ({_size(widths) or '1 or 2 bytes, per the flag'}); {_depth(_after(state, instruction).depth)}"
    if mnemonic == "stz":
        return f"writes zero{size} to {_place(instruction)}"
    if mnemonic.startswith("st"):
        return f"writes {register}{size} to {_place(instruction)}"
    return f"{register} = {_source(instruction, widths)}"


def _stored(load: Instruction, store: Instruction, state: State) -> str:
    """A load and the store of the same register right after it, told as one copy."""
    widths = state.m if load.mnemonic == "lda" else state.x
    size = f", {_size(widths)}" if _size(widths) else ""
    return f"{_source(load, widths)} goes to {_place(store)}{size}"


def _flags(instruction: Instruction) -> str:
    bits, rep = _flag_bits(instruction), instruction.mnemonic == "rep"
    said = []
    if bits & 0x20:
        said.append(f"M={0 if rep else 1}: A is {16 if rep else 8}-bit")
    if bits & 0x10:
        said.append(f"X={0 if rep else 1}: X and Y are " + ("16-bit" if rep else "8-bit, their high bytes now 0"))
    others = bits & ~0x30
    if others:
        said.append(f"{'clears' if rep else 'sets'} the other flags in ${others:02X}")
    return "; ".join(said) or "changes neither M nor X"


def _flow(instruction: Instruction) -> str:
    mnemonic, operand = instruction.mnemonic, instruction.operand
    if mnemonic in _CONDITIONS:
        return f"goes to {operand} if {_CONDITIONS[mnemonic]}"
    if mnemonic in ("jsr", "jsl"):
        pushed = "2-byte" if mnemonic == "jsr" else "3-byte"
        return f"calls {operand} (pushes a {pushed} return address); after it, the register widths are whatever it leaves"
    return f"jumps to {operand}"


def describe(instruction: Instruction, state: State) -> str:
    """One instruction's effect, given the state before it."""
    mnemonic, operand = instruction.mnemonic, instruction.operand
    repeat = re.fullmatch(r"#(\d)", operand)
    if mnemonic in _IMPLIED_COUNTS:
        times = _NUMBERS.get(int(repeat.group(1))) if repeat else ""
        if repeat and not times:
            raise Untraceable(f"{instruction.written}: repeat count not understood")
        return f"{_IMPLIED_COUNTS[mnemonic]}{' ' + times if times else ''}"
    if mnemonic in ("rep", "sep"):
        return _flags(instruction)
    if mnemonic in ("rts", "rtl", "rti"):
        return _return(instruction, state)
    if mnemonic in _CONDITIONS or mnemonic in _JUMPS or mnemonic in ("jsr", "jsl"):
        return _flow(instruction)
    if mnemonic in ("lda", "ldx", "ldy", "sta", "stx", "sty", "stz", "pha", "phx", "phy", "pla", "plx", "ply"):
        return _register_move(instruction, state)
    if mnemonic in _SIMPLE and not operand:
        note = _depth(_after(state, instruction).depth) if mnemonic in _PUSH_SIZE or mnemonic in _PULL_SIZE else ""
        return _SIMPLE[mnemonic] + (f"; {note}" if note else "")
    if mnemonic in ("pea", "pei", "per"):
        return f"pushes `{operand}` (2 bytes); {_depth(_after(state, instruction).depth)}"
    if mnemonic in ("tcs", "txs"):
        return f"loads the stack pointer from {'A' if mnemonic == 'tcs' else 'X'}: the stack depth is no longer known"
    if mnemonic in ("mvn", "mvp"):
        return "block move of C+1 bytes, C being the whole 16-bit A (X: source, Y: destination); it leaves C = $FFFF and DBR = the destination bank"
    if mnemonic in _MEMORY_VERBS:
        if mnemonic in ("adc", "sbc", "and", "ora", "eor", "cmp", "bit"):
            _check_immediate(instruction, state.m)
        elif mnemonic in ("cpx", "cpy"):
            _check_immediate(instruction, state.x)
        place = "A" if operand.lower() in ("", "a") else _place(instruction)
        return _MEMORY_VERBS[mnemonic].format(place=place)
    raise Untraceable(f"no wording for {instruction.written}")


@dataclass(frozen=True)
class Step:
    written: str  # the instruction(s) as in the code
    effect: str


def trace(code: str) -> list[Step]:
    """One step per instruction that some path reaches; a load immediately stored by the same
    register joins its store in one step."""
    listing = statements(code)
    if not listing:
        raise Untraceable("no instruction to trace")
    if len(listing) > MAX_INSTRUCTIONS:
        raise Untraceable(f"{len(listing)} instructions, more than the {MAX_INSTRUCTIONS} a step-by-step trace is worth")
    before = states(listing)
    steps: list[Step] = []
    index = 0
    while index < len(listing):
        instruction, state = listing[index].instruction, before[index]
        following = listing[index + 1] if index + 1 < len(listing) else None
        if state is None:
            index += 1
        elif _pairs(instruction, following):
            written = f"`{listing[index].text}` / `{following.text}`{_at(listing[index])}"
            steps.append(Step(written, _stored(instruction, following.instruction, state)))
            index += 2
        else:
            steps.append(Step(f"`{listing[index].text}`{_at(listing[index])}", describe(instruction, state)))
            index += 1
    return steps


def _at(statement: Statement) -> str:
    """Where a step starts a routine or a branch target: `` (at .loop)``."""
    return f" (at {', '.join(statement.labels)})" if statement.labels else ""


def _pairs(load: Instruction, following: Statement | None) -> bool:
    """Whether ``following`` stores the register ``load`` just loaded, with no label between."""
    return (
        following is not None
        and not following.labels
        and load.mnemonic in ("lda", "ldx", "ldy")
        and following.instruction.mnemonic == "st" + load.mnemonic[-1]
    )
