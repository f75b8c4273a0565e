"""Chat edits for instant books: a handful of intents read from the instruction.

Understood: renaming a character ("change X's name to Y", "rename X to Y"); page references
("page 3", "pages 2-4", "the ending", "the beginning"); a happier ending; adding something the
phrasebooks know (a rainbow, a party, a song, snow, or one of the story objects); more humour,
magic or adventure; shorter or longer pages. Anything else rewrites the pages the instruction's
words point at, or the last page.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from workers.backends.base import Character, StoryPlan, StoryRequest, stable_seed
from workers.backends.instant.analysis import analyse
from workers.backends.instant.compose import Decks, layout, render_page
from workers.backends.instant.phrasebook import particle, render
from workers.backends.instant.story import LEVELS, World, slots, world_of

__all__ = ["edit_book", "page_list"]

_RENAME = (
    re.compile(
        r"(?:change|switch|set|make)\s+(?:the\s+)?(.+?)(?:'s|’s|s')?\s+name\s+(?:to|into|be)\s+"  # noqa: RUF001
        r"[\"'“]?([^\W\d_][\w'-]*)",
        re.IGNORECASE,
    ),
    re.compile(r"rename\s+(?:the\s+)?(.+?)\s+(?:to|as)\s+[\"'“]?([^\W\d_][\w'-]*)", re.IGNORECASE),
    re.compile(r"call\s+(?:the\s+)?(.+?)\s+[\"'“]?([^\W\d_][\w'-]*)[\"'”]?\s+instead", re.I),
    # "call the whale Bubbles": the name is the instruction's last word
    re.compile(
        r"\bcall\s+(?:the\s+)?(.+?)\s+[\"'“]?([^\W\d_][\w'-]*)[\"'”]?"
        r"(?:\s+(?:please|from\s+now\s+on|throughout|everywhere))?\s*[.!]?\s*$",
        re.I,
    ),
    re.compile(r"(?:the\s+)?(.+?)(?:'s)?\s+name\s+should\s+be\s+([^\W\d_][\w'-]*)", re.I),
)
_HERO_WORDS = ("main character", "hero", "heroine", "protagonist", "lead", "main")
_FRIEND_WORDS = ("best friend", "friend", "sidekick")
_PAGES = re.compile(r"\bpages?\s+(\d+)(?:\s*(?:-|–|to|and|&)\s*(\d+))?", re.IGNORECASE)  # noqa: RUF001
_STOP = frozenset(
    "the a an and or to of in on at with for from make makes made add more less some any "
    "page pages please can could would you it its this that be is are was were story book "
    "change rename name instead into about just also then very".split()
)
_TONE_ASKS = (
    ("playful_funny", "more humor", ("funn", "humor", "humour", "joke", "silly", "laugh")),
    ("fantasy_magic", "a touch of magic", ("magic", "magical", "fairy", "sparkl")),
    ("adventurous", "more adventure", ("adventur", "exciting", "action", "thrill")),
    ("heartwarming", "more warmth", ("warm", "sweet", "cozy", "cosy", "hug")),
)
_KO_PARTICLE = re.compile(r"(이에요|예요|이야|은|는|이|가|을|를|과|와|아|야)(?![가-힣])")


def page_list(indices: Sequence[int]) -> str:
    """1-based page numbers as people write them: "page 3", "pages 1, 3 and 5-7"."""
    nums = sorted({i + 1 for i in indices})
    runs: list[str] = []
    start = prev = nums[0]
    for n in [*nums[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        runs.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    word = "page" if len(nums) == 1 else "pages"
    if len(runs) == 1:
        return f"{word} {runs[0]}"
    return f"{word} {', '.join(runs[:-1])} and {runs[-1]}"


def _contains(text: str, name: str) -> bool:
    if _is_cjk(name):  # no spaces between words (and Korean particles attach to the name)
        return name in text
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text) is not None


def _is_cjk(text: str) -> bool:
    return re.search(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]", text) is not None


def _rename(text: str, old: str, new: str, korean: bool) -> str:
    if _is_cjk(old) and not korean:
        return text.replace(old, new)
    pattern = re.compile(rf"(?<!\w){re.escape(old)}" + (r"" if korean else r"(?!\w)"))
    out = pattern.sub(new, text)
    if korean:  # the particle after the name follows the new name's last sound

        def fix(m: re.Match[str]) -> str:
            tail = m.group(1)
            spec = "이야" if tail == "야" and m.string[m.end() : m.end() + 1] == "!" else tail
            return particle(new, spec)[len(new) :]

        out = re.sub(rf"(?<={re.escape(new)}){_KO_PARTICLE.pattern}", fix, out)
    return out


def _who(ref: str, plan: StoryPlan, world: World) -> Character | None:
    """The character an instruction's words name: by name, as the hero, by the role the prompt
    gave them ("the lighthouse keeper", or just "the keeper"), by species, as the friend."""
    ref = ref.strip().strip("\"'“”").lower()
    characters = plan.characters
    for c in characters:
        if c.name.lower() == ref or re.search(rf"(?<!\w){re.escape(c.name.lower())}(?!\w)", ref):
            return c
    if any(w in ref for w in _HERO_WORDS):
        return characters[0]
    for test in (
        lambda c: re.search(rf"(?<!\w){re.escape(c.role.lower())}(?!\w)", ref),
        lambda c: re.search(rf"(?<!\w){re.escape(c.role.lower().split()[-1])}(?!\w)", ref),
    ):
        found = [c for c in characters if c.role and test(c)]
        if found:
            return found[0]
    for c in characters:
        local = world.book.species.get(c.species, c.species).partition(":")[0].split("|")[-1]
        if c.species in ref or local.lower() in ref:
            return c
    if len(characters) > 1 and any(w in ref for w in _FRIEND_WORDS):
        return characters[1]
    return None


def _targets(instruction: str, pages: Sequence[str], ending: bool) -> list[int]:
    n = len(pages)
    lower = instruction.lower()
    chosen: set[int] = set()
    for m in _PAGES.finditer(instruction):
        a = int(m.group(1))
        b = int(m.group(2) or a)
        chosen |= {i - 1 for i in range(min(a, b), max(a, b) + 1) if 1 <= i <= n}
    if chosen:
        return sorted(chosen)
    tail = list(range(max(0, n - max(1, min(3, n // 4))), n))
    if ending or re.search(r"\b(ending|end|last page|finale|conclusion)\b", lower):
        return tail
    if re.search(r"\b(beginning|start|opening|first page)\b", lower):
        return [0]
    words = {w for w in re.findall(r"\w{4,}", lower) if w not in _STOP}
    hits = [i for i, p in enumerate(pages) if any(w in p.lower() for w in words)]
    return hits[-3:] if hits else [n - 1]


def _add(page: str, sentence: str, joiner: str) -> str:
    return page.rstrip() + joiner + sentence if page.strip() else sentence


def edit_book(
    request: StoryRequest, plan: StoryPlan, pages: Sequence[str], instruction: str
) -> tuple[str, dict[int, str]]:
    if not pages:
        return ("There are no pages to edit yet.", {})
    world = world_of(request)
    book = world.book
    korean = book.language == "korean"
    lower = instruction.lower()
    changed: dict[int, str] = {}
    notes: list[str] = []
    renamed: tuple[str, str] | None = None

    rename_asked = ""
    for pattern in _RENAME:
        m = pattern.search(instruction)
        if not m:
            continue
        rename_asked = m.group(1).strip()
        who = _who(m.group(1), plan, world)
        new = m.group(2).strip(" .!,")
        if who and new and new.lower() != who.name.lower():
            renamed = (who.name, new[:1].upper() + new[1:])
        break

    happier = re.search(r"\b(happ(y|ier|iest)|joyful|cheerful)\b", lower) is not None
    asked = analyse(instruction)
    extras = list(asked.extras)
    thing = asked.thing if re.search(r"\b(add|include|put|with)\b", lower) else None
    tones = [(key, label) for key, label, stems in _TONE_ASKS if any(s in lower for s in stems)]
    shorter = re.search(r"\b(shorter|shorten|simpler|less text|fewer words)\b", lower)
    longer = re.search(r"\b(longer|lengthen|more detail|expand|more words)\b", lower)
    intents = happier or extras or thing or tones or shorter or longer

    if rename_asked and not renamed and not intents:
        return (
            f'I couldn\'t find a character matching "{rename_asked}"; the book is unchanged.',
            {},
        )

    if intents or not renamed:
        rng = random.Random(stable_seed(request.seed, request.prompt, instruction, "edit"))
        targets = _targets(instruction, pages, ending=happier)
        levels = LEVELS.get(request.age_range, "m")
        decks = Decks(book, levels, rng)
        fresh = layout(request, world, salt=instruction) if not intents else []
        happy = [t[2:] for b in ("turn", "ending") for t in book.beats[b] if t[0].lower() in levels]
        happy = happy or [t[2:] for t in book.beats["ending"]]
        order = {t: i for i, t in enumerate(happy)}  # resolution lines before farewells
        rng.shuffle(happy)
        for i in targets:
            values, genders = slots(
                world, plan.characters, plan.outline[i] if i < len(plan.outline) else None, i
            )
            text = pages[i]
            if happier:
                picks = [happy.pop(0) if happy else book.beats["ending"][0][2:]]
                if levels != "s" and happy:
                    picks.append(happy.pop(0))
                picks.sort(key=lambda t: order.get(t, 0))
                warm = decks.tone("heartwarming", set()) if levels != "s" else None
                picks += [warm] if warm else []
                text = book.joiner.join(render(t, values, genders) for t in picks)
            last = i == targets[-1]  # added things appear once, at the last page edited
            for key in extras if last else ():
                text = _add(text, render(book.extras[key], values, genders), book.joiner)
            if thing and last:
                plural, many = book.things[thing]
                found = render(book.found, values | {"things": plural, "many": many}, genders)
                text = _add(text, found, book.joiner)
            for key, _label in tones:
                sentence = decks.tone(key, set())
                if sentence:
                    text = _add(text, render(sentence, values, genders), book.joiner)
            if longer:
                more = [decks.draw("journey", set()) for _ in range(2)]
                text = _add(
                    text, book.joiner.join(render(t, values, genders) for t in more), book.joiner
                )
            if shorter:
                parts = [p for p in re.split(r"(?<=[.!?。！？])\s*", text) if p.strip()]  # noqa: RUF001
                text = book.joiner.join(parts[: max(1, len(parts) - 2)]) if len(parts) > 1 else text
            if happier and i == len(pages) - 1:
                text = _add(text, render(book.themes[world.theme][2], values, genders), book.joiner)
            if not intents:
                text = render_page(world, plan, i, fresh[i]) if i < len(fresh) else text
                if text == pages[i]:
                    sentence = decks.tone(request.tone, set()) or book.found
                    text = _add(text, render(sentence, values, genders), book.joiner)
            if text != pages[i]:
                changed[i] = text
        labels = (["a happier ending"] if happier else []) + [
            f"a {e}" if e != "snow" else "snow" for e in extras
        ]
        labels += [f"some {thing}"] if thing else []
        labels += [label for _k, label in tones]
        labels += ["shorter text"] if shorter else []
        labels += ["more detail"] if longer else []
        labels = labels or ["a fresh rewrite"]
        if changed:
            notes.append(f"updated {page_list(list(changed))} with {' and '.join(labels)}")

    if renamed:
        old, new = renamed
        touched = []
        for i, text in enumerate(pages):
            current = changed.get(i, text)
            if _contains(current, old):
                changed[i] = _rename(current, old, new, korean)
                touched.append(i)
        if touched:
            notes.insert(0, f"renamed {old} to {new} on {page_list(touched)}")
        else:
            notes.insert(0, f"looked for {old} but found no page naming them")

    if not changed:
        return ("I couldn't find anything to change for that request; the book is unchanged.", {})
    message = "I've " + " and ".join(notes) + "."
    return (message[0].upper() + message[1:], dict(sorted(changed.items())))
