"""Reading a story idea: who is in it, where it happens, what it is about.

The instant writer has no language model, so it looks for words it knows: English keywords
plus every species, place and object noun of the ten phrasebooks, which lets a Spanish
"zorro" or a Japanese "キツネ" cast a fox as well as an English one does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from workers.backends.instant.lang import BOOKS
from workers.backends.instant.world import (
    EXTRA_WORDS,
    ROLES,
    SETTING_WORDS,
    SPECIES_WORDS,
    THEME_WORDS,
    THEMES,
    THING_WORDS,
    TRAIT_WORDS,
)

__all__ = ["Analysis", "analyse", "lexicon_hits", "lexicon_kinds"]


@dataclass(frozen=True, slots=True)
class Analysis:
    species: tuple[str, ...]  # in order of appearance; "child" is resolved by the caster
    names: tuple[str, ...]
    trait: str | None
    theme: str | None
    setting: str | None
    thing: str | None
    extras: tuple[str, ...]
    role: str | None
    gender: str | None  # "m" | "f" hint for the hero
    # The setting a place word names outright ("forest"), not one only hinted at ("tree"):
    # a prompt's role ("pirate") outranks a hint but not a named place.
    strong_setting: str | None = None


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_KO_PARTICLES = frozenset(
    "은 는 이 가 을 를 과 와 의 에 도 로 으로 에서 에게 랑 이랑 야 아 이가 만 처럼".split()
)


_Lexicon = tuple[
    MappingProxyType[str, tuple[tuple[str, str], ...]], tuple[tuple[str, str, str], ...]
]


def _build_lexicon() -> _Lexicon:
    """(single-word table, substring entries) mapping words to (kind, key) pairs.

    Kinds: species, strong (setting), weak (setting), thing, extra, role. Single-character
    Chinese and Japanese words are left out: 家 or 本 hide inside too many unrelated words
    (Korean ones are kept, since they are matched as whole words).
    """
    words: dict[str, list[tuple[str, str]]] = {}
    subs: list[tuple[str, str, str]] = []

    def add(word: str, kind: str, key: str) -> None:
        word = word.strip().lower()
        if not word:
            return
        if _CJK.search(word) or " " in word:
            if len(word) > 1 or "\uac00" <= word <= "\ud7af":
                subs.append((word, kind, key))
        elif (kind, key) not in words.setdefault(word, []):
            words[word].append((kind, key))

    for key, text in SPECIES_WORDS.items():
        for w in text.split():
            add(w, "species", key)
    for key, (strong, weak) in SETTING_WORDS.items():
        for w in strong.split():
            add(w, "strong", key)
        for w in weak.split():
            add(w, "weak", key)
    for key, text in THING_WORDS.items():
        for w in text.split():
            add(w, "thing", key)
    for key, text in EXTRA_WORDS.items():
        for w in text.split():
            add(w, "extra", key)
    for role in ROLES:
        add(role, "role", role)
        add(role + "s", "role", role)
    for book in BOOKS.values():
        for key, spec in book.species.items():
            noun = spec.partition(":")[0].partition("|")[-1] or spec.partition(":")[0]
            add(noun, "species", key)
            if noun.startswith("小") and len(noun) > 2:
                add(noun[1:], "species", key)
        for key, (word, at, to) in book.places.items():
            for form in (word, at, to):
                add(form, "strong", key)
        for key, (plural, _many) in book.things.items():
            add(plural, "thing", key)
    return MappingProxyType({w: tuple(e) for w, e in words.items()}), tuple(subs)


_WORDS, _SUBSTRINGS = _build_lexicon()

_THEME_STEMS: Final = MappingProxyType(
    {
        "share": "compart partag teil condivid dividi подел делит 分享 分け 나누 나눠",
        "courage": "valient miedo courag peur mutig angst coragg paura corajos medo смел храбр "  # noqa: RUF001
        "страх 勇敢 害怕 勇気 こわ 용기 무서",
        "teamwork": "juntos ensemble zusammen gemeinsam insieme вместе 一起 いっしょ",
        "kindness": "ayud aider helf aiut ajud помог 帮助 助け 돕 도와",
        "patience": "esperar attendre warten aspett ждать 等待 待つ 기다",
        "friendship": "amig amis freund amic друг 朋友 友だち 친구",
        "curiosity": "descubr explor découvr entdeck scopr descobr исслед 探索 探検 탐험 궁금",
    }
)
_EXTRA_STEMS: Final = MappingProxyType(
    {
        "rainbow": "arcoíris arc-en-ciel regenbogen arcobaleno arco-íris радуг 彩虹 にじ 虹 무지개",
        "party": "fiesta fête fest festa праздник 派对 パーティー 파티",
        "song": "canción chanson lied canzone canção песн 唱歌 歌 노래",
        "snow": "nieve neige schnee neve снег 雪",
    }
)
_FEMALE = frozenset(
    "she her girl girls princess queen daughter sister mother mom mum grandma niña "
    "princesa fille princesse mädchen prinzessin bambina principessa menina девочка "
    "принцесса".split()
)
_MALE = frozenset(
    "he his him boy boys prince king son brother father dad grandpa niño príncipe garçon "
    "prince junge prinz bambino principe menino мальчик принц".split()
)
_NOT_NAMES = frozenset(
    "i a an the one once my our this that when where who what while after before "
    "monday tuesday wednesday thursday friday saturday sunday christmas halloween easter "
    "january february march april may june july august september october november december "
    "english spanish french german chinese japanese korean russian portuguese italian".split()
)
_GERMANIC = frozenset("der die das und ein eine einen mit sich ist nicht".split())
_NAMED = re.compile(
    r"(?:named|called|llamad[oa]|nommée?|appelée?|chiamat[oa]|chamad[oa]|namens|"
    r"по имени|зовут)\s+([^\W\d_][\w'-]*)",
    re.IGNORECASE,
)
_NAMED_CJK = re.compile(
    r"(?:名叫|叫做)([\u4e00-\u9fff]{1,4})|([\u30a0-\u30ff]{2,8})という|(\S{1,6}?)(?:이라는|라는)"
)
_TOKEN = re.compile(r"[^\W\d_][\w'-]*")


def _clean_name(raw: str) -> str:
    name = re.sub(r"[^\w'-]", "", raw)[:24]
    return name[:1].upper() + name[1:] if name else ""


def _names(text: str, known: set[str]) -> list[str]:
    found: list[str] = []
    for m in _NAMED.finditer(text):
        found.append(_clean_name(m.group(1)))
    for m in _NAMED_CJK.finditer(text):
        found.append(next(g for g in m.groups() if g))
    lowered = {t.lower() for t in _TOKEN.findall(text)}
    if not lowered & _GERMANIC:  # German capitalises every noun
        for sentence in re.split(r"[.!?;:]\s*", text):
            tokens = _TOKEN.findall(sentence)
            for i, tok in enumerate(tokens):
                low = tok.lower()
                if not tok[:1].isupper() or low in _NOT_NAMES or low in known or len(tok) < 2:
                    continue
                follows_species = (
                    i + 2 < len(tokens)
                    and tokens[i + 1].lower() == "the"
                    and any(k == "species" for k, _ in _WORDS.get(tokens[i + 2].lower(), ()))
                )
                if i > 0 or follows_species:
                    found.append(_clean_name(tok))
    unique: list[str] = []
    for name in found:
        if name and name not in unique:
            unique.append(name)
    return unique[:4]


def _first(hits: list[tuple[int, str, str]], kind: str) -> str | None:
    for _pos, k, key in hits:
        if k == kind:
            return key
    return None


def lexicon_kinds(word: str) -> tuple[tuple[str, str], ...]:
    """The (kind, key) pairs one lower-case word has in the lexicon (a plural "s" allowed)."""
    return _WORDS.get(word) or _WORDS.get(word.rstrip("s")) or ()


def lexicon_hits(text: str) -> list[tuple[int, str, str, str]]:
    """Every lexicon word in ``text`` as (position, word as written, kind, key), in order."""
    return sorted(_hits(text.lower()))


def _hits(lower: str) -> list[tuple[int, str, str, str]]:
    hits: list[tuple[int, str, str, str]] = []
    for m in _TOKEN.finditer(lower):
        for kind, key in lexicon_kinds(m.group()):
            hits.append((m.start(), m.group(), kind, key))
    for word, kind, key in _SUBSTRINGS:
        pos = lower.find(word)
        while pos >= 0:
            if "\uac00" <= word[0] <= "\ud7af":  # Korean: a whole word, particles allowed
                start_ok = pos == 0 or not lower[pos - 1].isalnum()
                rest = re.match(r"[\w]*", lower[pos + len(word) :])
                tail = rest.group() if rest else ""
                if start_ok and (tail == "" or tail in _KO_PARTICLES):
                    hits.append((pos, word, kind, key))
                    break
            else:
                hits.append((pos, word, kind, key))
                break
            pos = lower.find(word, pos + 1)
    return hits


def analyse(text: str) -> Analysis:
    lower = text.lower()
    tokens = [(m.start(), m.group().lower()) for m in _TOKEN.finditer(lower)]
    hits = [(pos, kind, key) for pos, _word, kind, key in sorted(_hits(lower))]
    words = {t for _p, t in tokens}

    species: list[str] = []
    for _pos, kind, key in hits:
        if kind == "species" and key not in species:
            species.append(key)
    setting = _first(hits, "strong") or _first(hits, "weak")
    role = _first(hits, "role")

    trait = next(
        (key for _p, tok in tokens for key, w in TRAIT_WORDS.items() if tok in w.split()), None
    )
    theme = None
    if re.search(r"\blearns? to share\b|\bsharing\b", lower):
        theme = "share"
    for key in THEMES:
        if theme:
            break
        if words & set(THEME_WORDS[key].split()) or any(
            (stem in lower) if _CJK.search(stem) else any(t.startswith(stem) for t in words)
            for stem in _THEME_STEMS[key].split()
        ):
            theme = key

    extras = [key for _p, kind, key in hits if kind == "extra"]
    for key, stems in _EXTRA_STEMS.items():
        if key not in extras and any(
            (s in lower) if _CJK.search(s) else any(t.startswith(s) for t in words)
            for s in stems.split()
        ):
            extras.append(key)

    gender = None
    for _pos, tok in tokens:
        if tok in _FEMALE:
            gender = "f"
            break
        if tok in _MALE:
            gender = "m"
            break
    known = set(_WORDS)
    return Analysis(
        species=tuple(species),
        names=tuple(_names(text, known)),
        trait=trait,
        theme=theme,
        setting=setting,
        thing=_first(hits, "thing"),
        extras=tuple(dict.fromkeys(extras)),
        role=role,
        gender=gender,
        strong_setting=_first(hits, "strong"),
    )
