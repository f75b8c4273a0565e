"""What a story prompt asks for, read once and deterministically: who is in it (each with the
role the prompt gives them and any name), where it happens, its central event and weather, the
time of day, the lesson, the age band and the prompt's content words.

Every writer plans from this reading, the instant templates and the local model alike, so the
lighthouse keeper a parent asked for stays a lighthouse keeper whichever backend writes the
book. English is read as noun phrases over an open vocabulary (any "-er" noun after "a" is a
person: a keeper, a baker); the other languages through the instant phrasebooks' lexicon.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from workers.backends.base import stable_seed
from workers.backends.english_np import PremiseCharacter, tokens_of
from workers.backends.english_reading import english_reading
from workers.backends.instant.analysis import analyse, lexicon_hits
from workers.backends.instant.lang import phrasebook
from workers.backends.instant.world import HOME_OF, ROLES
from workers.backends.premise_words import (
    LESSON_NOUNS,
    NIGHT_WORDS,
    OTHER_STOP_WORDS,
    PERSON_SETTINGS,
    STOP_WORDS,
    TIME_WORDS,
    WEATHER_STEMS,
    name_gender,
)

__all__ = ["Premise", "PremiseCharacter", "opening_line", "premise_of", "told_back"]


@dataclass(frozen=True, slots=True)
class Premise:
    characters: tuple[PremiseCharacter, ...] = ()  # in the prompt's order: the first leads
    setting: str = ""  # a world.SETTINGS key; "" where the prompt gives no clue at all
    place: str = ""  # the prompt's own place: "the lighthouse on the rocky coast"
    event: str = ""  # the central event: "a storm"
    weather: str = ""  # clear | storm | rain | snow | wind | fog, on the event's pages
    time: str = ""  # "" | day | dusk | night
    lesson: str = ""  # as stated: "to share", "kindness"
    age_range: str = ""  # 0-3 | 4-7 | 8-12 where the prompt says
    words: tuple[str, ...] = ()  # content words, in order, lower case, no stop words
    language: str = "english"  # the language the prompt is written in
    gist: str = ""  # the story statement, to follow "the story of": "how a shy keeper ..."
    statement: str = ""  # the same as the prompt writes it: "A shy keeper ...", to quote
    theme: str = ""  # a world.THEMES key the prompt points at (the instant moral)
    verb: str = ""  # what the first character does to the second: "befriends"
    weather_all: bool = False  # the weather lasts the whole book ("a rainy day")


def premise_of(prompt: str, language: str = "english") -> Premise:
    """Read a prompt. Pure and deterministic: the same prompt always gives the same premise.

    ``language`` is the book's language, a hint: an English prompt for a Spanish book is still
    read as English (its roles stay English words).
    """
    text = " ".join(prompt.split())
    found = analyse(text)
    spoken = _prompt_language(text, language)
    age = _age_band(text)
    body = _without_frame(text)
    if spoken == "english":
        reading = english_reading(body)
        characters = reading.characters
        place, event, weather = reading.place, reading.event, reading.weather
        verb, clause, weather_all = reading.verb, reading.clause, reading.weather_all
        lesson = _lesson(text)
    else:
        characters = _lexicon_characters(text, found.names, found.gender)
        place, verb, clause, lesson, weather_all = "", "", False, "", False
        event, weather = _foreign_event(text)
    setting = found.strong_setting or ""
    if not setting:
        for c in characters:
            head = c.role.split()[-1] if c.role else ""
            setting = PERSON_SETTINGS.get(head) or (ROLES[head][1] if head in ROLES else "")
            if setting:
                break
    setting = setting or found.setting or ""
    if not setting and characters:
        setting = HOME_OF.get(characters[0].species, "") if characters[0].species else ""
    return Premise(
        characters=characters,
        setting=setting,
        place=place,
        event=event,
        weather=weather,
        time=_time_of(text, spoken),
        lesson=lesson,
        age_range=age,
        words=_content_words(body, spoken),
        language=spoken,
        gist=_gist(body, clause, spoken, characters),
        statement=body.rstrip(" .!?;:。！？"),  # noqa: RUF001
        theme=found.theme or "",
        verb=verb,
        weather_all=weather_all,
    )


def told_back(premise: Premise, language: str) -> str:
    """The prompt as a book in ``language`` tells it back: after "the story of" in English
    ("how a shy keeper befriends a whale"), quoted as written in the other languages."""
    english = phrasebook(language).language == "english"
    return premise.gist if english and premise.language == "english" else premise.statement


def opening_line(premise: Premise, language: str) -> str:
    """Page one's first sentence: the prompt told back, in the book's language where it has a
    lead ("This is the story of how a shy lighthouse keeper befriends a lost whale.")."""
    lead = phrasebook(language).lead
    told = told_back(premise, language)
    if not lead or not told:
        return ""
    return lead.replace("{gist}", told)


# -- the prompt around the story -------------------------------------------------------------

_FRAME = re.compile(
    r"^(?:please\s+)?(?:(?:write|tell|make|create|generate|give)\s+(?:me\s+|us\s+)?)?"
    r"(?:(?:a|an|the)\s+)?(?:(?:short|little|cute|funny|bedtime|picture|children's|kids'?)\s+)*"
    r"(?:story|tale|book|picture\s+book)\s+(?:about|of|where|in\s+which|on)\s+",
    re.IGNORECASE,
)
_ONCE = re.compile(
    r"^(?:once upon a time,?\s+)?(?:there\s+(?:was|is|lived|lives)\s+)?", re.IGNORECASE
)
_AUDIENCE = re.compile(
    r"[,;]?\s*\b(?:for|aimed at)\s+(?:(?:my|our|a|an)\s+)?(?:toddlers?|babies|baby|infants?|"
    r"little ones|preschoolers?|kindergartners?|kids|children|young children|older kids|"
    r"tweens?|teens?|boys|girls|(?:ages?\s+)?\d{1,2}(?:\s*(?:-|to|–)\s*\d{1,2})?"  # noqa: RUF001
    r"(?:[- ]years?[- ]olds?)?)\b\.?\s*$",
    re.IGNORECASE,
)


def _without_frame(text: str) -> str:
    """The story statement alone: no "Write a story about", no "for toddlers"."""
    body = _ONCE.sub("", _FRAME.sub("", text.strip()))
    body = _AUDIENCE.sub("", body).strip()
    return body or text.strip()


def _age_band(text: str) -> str:
    lower = text.lower()
    if re.search(r"\b(toddlers?|babies|baby book|infants?|little ones|under (?:3|three))\b", lower):
        return "0-3"
    if re.search(
        r"\b(preschool(?:ers?)?|kindergart(?:en|ners?)|young children|little kids)\b", lower
    ):
        return "4-7"
    if re.search(
        r"\b(older (?:kids|children)|tweens?|preteens?|middle[- ]grade|big kids)\b", lower
    ):
        return "8-12"
    m = re.search(
        r"\b(?:ages?|aged|for)\s+(\d{1,2})\b|\b(\d{1,2})\s*(?:-|to|–)\s*\d{1,2}\s*(?:years?|yo)\b"  # noqa: RUF001
        r"|\b(\d{1,2})[- ]?(?:years?[- ]olds?|yos?)\b",
        lower,
    )
    if not m:
        return ""
    age = int(next(g for g in m.groups() if g))
    return "0-3" if age <= 3 else "4-7" if age <= 7 else "8-12" if age <= 12 else ""


def _lesson(text: str) -> str:
    lower = text.lower()
    m = re.search(
        r"\blearn(?:s|ed|ing)?\s+((?:how\s+)?to\s+[\w' -]+?|that\s+[\w' -]+?|about\s+[\w' -]+?)"
        r"(?=[,.;!?]|\s+(?:and|but|while|when|with|during|after|before|in|at|on)\b|$)",
        lower,
    )
    if m:
        return re.sub(r"^about\s+", "", m.group(1)).strip()
    m = re.search(
        r"\b(?:about|teach(?:es|ing)?(?:\s+\w+)?\s+(?:about)?|importance of|lesson (?:in|about|of)"
        r"|the value of)\s+([\w'-]+(?:\s+and\s+[\w'-]+)?)",
        lower,
    )
    if m:
        words = m.group(1).split()
        if words[0] in LESSON_NOUNS or words[0].endswith(("ness", "ship", "ity", "ence", "ance")):
            return m.group(1)
    return ""


def _time_of(text: str, spoken: str) -> str:
    lower = text.lower()
    if re.search(r"\b(?:of|in) the dark\b", lower):
        return "night"
    for tok in re.findall(r"[^\W\d_]+", lower):
        if tok in TIME_WORDS:
            return str(TIME_WORDS[tok])
    if spoken != "english" and any(w in lower for w in NIGHT_WORDS):
        return "night"
    return ""


def _content_words(body: str, spoken: str) -> tuple[str, ...]:
    """The prompt's content words in order: what a faithful book repeats."""
    out: list[str] = []
    if spoken in ("chinese", "japanese"):
        out = [word for _pos, word, _kind, _key in lexicon_hits(body)]
        if spoken == "japanese":
            out += re.findall(r"[\u4e00-\u9fff\u30a0-\u30ff]{2,}", body)
        return tuple(dict.fromkeys(out))
    stop = STOP_WORDS if spoken == "english" else OTHER_STOP_WORDS.get(spoken, frozenset())
    for tok in tokens_of(body):
        word = re.sub(r"['\u2019]s$", "", tok.low)
        for part in re.split(r"['\u2019]", word) if spoken != "english" else (word,):
            if spoken == "korean":
                part = _korean_stem(part)
            if len(part) > 1 and part not in stop and not part.isdigit() and part.isalpha():
                out.append(part)
    return tuple(dict.fromkeys(out))


def _korean_stem(word: str) -> str:
    for particle in (
        "에서",
        "에게",
        "으로",
        "이랑",
        "처럼",
        "은",
        "는",
        "이",
        "가",
        "을",
        "를",
        "과",
        "와",
        "의",
        "에",
        "도",
        "로",
        "랑",
        "만",
    ):
        if word.endswith(particle) and len(word) > len(particle) + 1:
            return word[: -len(particle)]
    return word


def _gist(body: str, clause: bool, spoken: str, characters: tuple[PremiseCharacter, ...]) -> str:
    gist = body.rstrip(" .!?;:。！？")  # noqa: RUF001
    if not gist:
        return ""
    if spoken != "english":
        return gist
    first = gist.split()[0].strip(",;:")
    names = {c.name for c in characters if c.name}
    if first not in names and first != "I" and not (first.isupper() and len(first) > 1):
        gist = gist[:1].lower() + gist[1:]
    return f"how {gist}" if clause else gist


# -- other languages -----------------------------------------------------------------------

_LATIN = ("spanish", "french", "german", "italian", "portuguese")


def _prompt_language(text: str, hint: str) -> str:
    """Which language a prompt is in: its script first, then its function words."""
    if re.search(r"[\uac00-\ud7af]", text):
        return "korean"
    if re.search(r"[\u3040-\u30ff]", text):
        return "japanese"
    if re.search(r"[\u4e00-\u9fff]", text):
        return "chinese"
    if re.search(r"[\u0400-\u04ff]", text):
        return "russian"
    words = [t.low for t in tokens_of(text)]
    score = {"english": sum(w in _EN_MARKERS for w in words)}
    for lang in _LATIN:
        score[lang] = sum(w in _MARKERS[lang] for w in words)
    hint = hint.strip().lower()
    best = max(score.values())
    if best == 0:
        return "english" if hint not in _LATIN else hint
    if score.get(hint, -1) == best:
        return hint
    return max(score, key=lambda k: (score[k], k == "english"))


_EN_MARKERS = frozenset(
    "a an the and who which with his her is are was to of in on at during learns".split()
)
_MARKERS = {
    "spanish": frozenset("el la los las un una y que con del en durante aprende".split()),
    "french": frozenset("le la les un une et qui avec du des dans pendant apprend".split()),
    "german": frozenset("der die das ein eine und mit im einen lernt sich".split()),
    "italian": frozenset("il lo la un una e che con della nel durante impara".split()),
    "portuguese": frozenset("o a um uma e que com do da no na durante aprende".split()),
}


def _lexicon_characters(
    text: str, names: tuple[str, ...], gender: str | None
) -> tuple[PremiseCharacter, ...]:
    """Characters of a prompt in another language: the lexicon's species, in order, each with
    the word the prompt used and the names the prompt gives, in order."""
    out: list[PremiseCharacter] = []
    seen: set[str] = set()
    for pos, found, kind, key in lexicon_hits(text):
        if kind != "species" or key in seen:
            continue
        word = text[pos : pos + len(found)]  # as written: German "Fuchs", not "fuchs"
        seen.add(key)
        species = key
        if key == "child":
            species = "girl" if gender == "f" else "boy"
        sex = "f" if species == "girl" else "m" if species == "boy" else ""
        if not out and gender and not sex:
            sex = gender
        out.append(PremiseCharacter(role=word, species=species, gender=sex))
    named = list(names[:4])
    for i, name in enumerate(named):
        if i < len(out):
            c = out[i]
            out[i] = PremiseCharacter(c.role, c.species, name, c.adjectives, c.gender)
        else:
            sex = _name_gender(name, i)
            out.append(PremiseCharacter("", "girl" if sex == "f" else "boy", name, (), sex))
    return tuple(out[:4])


def _name_gender(name: str, salt: int) -> str:
    return name_gender(name) or ("f" if stable_seed("name-gender", name, salt) % 2 else "m")


def _foreign_event(text: str) -> tuple[str, str]:
    """(event, weather) of a prompt in another language: its storm, rain, snow, wind or fog
    word as written, with the article before it where there is one."""
    lower = text.lower()
    for weather, stems in WEATHER_STEMS.items():
        for stem in stems.split():
            stem = stem.replace("_", " ")
            pos = lower.find(stem)
            if pos < 0:
                continue
            end = pos + len(stem)
            while end < len(lower) and lower[end].isalpha():
                end += 1
            before = re.search(
                r"(\b(?:un|una|une|ein|eine|einen|einem|uno|um|uma)\s+)$", lower[:pos]
            )
            start = before.start() if before else pos
            return text[start:end], weather
    return "", ""
