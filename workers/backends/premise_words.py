"""The word lists the premise reader (workers/backends/premise.py) classifies a prompt with.

Kept apart from the reader so the rules stay short enough to read; every list is immutable and
lower case. They only need to be good enough for story prompts, not for English at large.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from workers.backends.instant.analysis import lexicon_kinds
from workers.backends.instant.lang import BOOKS
from workers.backends.instant.world import SPECIES_WORDS

__all__ = [
    "ADJECTIVES",
    "ADJECTIVE_ENDINGS",
    "CREATURES",
    "DETERMINERS",
    "ENGLISH_SPECIES",
    "EVENTS",
    "LESSON_NOUNS",
    "LINKS",
    "NIGHT_WORDS",
    "NOT_CHARACTERS",
    "NOT_PERSONS",
    "OTHER_STOP_WORDS",
    "PERSONS",
    "PERSON_SETTINGS",
    "PLACE_CONTEXT",
    "PREPOSITIONS",
    "STOP_WORDS",
    "TIME_WORDS",
    "WEATHER_ADJECTIVES",
    "WEATHER_STEMS",
    "adjective",
    "animal_of",
    "known_word",
    "name_gender",
    "person_gender",
    "singular",
]


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


DETERMINERS: Final = _set(
    "a an the his her their its my our your some one two three four five several many this "
    "that these those every each another no little-known"
)
PREPOSITIONS: Final = _set(
    "in on at by near under over through across into onto from with without during before "
    "after to for of about around behind beside besides between inside outside above below "
    "beyond along past toward towards up down off upon within among like"
)
# Words that end a noun phrase and start a clause or a list.
LINKS: Final = _set(
    "and or but while when as because so who which that whose where whom if until then than "
    "once whenever though although"
)
STOP_WORDS: Final = (
    DETERMINERS
    | PREPOSITIONS
    | LINKS
    | _set(
        "i me we us you he him she they them it is am are was were be been being has have had "
        "having do does did doing can could will would shall should may might must not very "
        "too also just only really all any both more most other such own same there here what "
        "how why again ever never always soon now yet still even almost quite rather each "
        "story stories tale tales book write tell please about kids children child's "
        "named called who's it's s t don't can't won't isn't doesn't didn't let lets"
    )
)
# Prompt words that look like characters but are never cast as one.
NOT_CHARACTERS: Final = _set(
    "friend friends family families everyone everybody someone somebody anyone people person "
    "others crowd team group stranger strangers animals creatures parents kids children"
)

# Person nouns and their grammatical gender ("" where the word does not say).
PERSONS: Final = MappingProxyType(
    {
        w: "f"
        for w in (
            "woman lady grandmother grandma granny nana mother mom mum mommy mummy aunt auntie "
            "niece witch mermaid fairy ballerina queen princess sister daughter girl nun actress "
            "waitress empress duchess bride heroine maiden godmother stepmother cowgirl"
        ).split()
    }
    | {
        w: "m"
        for w in (
            "man gentleman grandfather grandpa grandad granddad father dad daddy uncle nephew "
            "wizard king prince brother son boy fisherman fireman policeman postman mailman groom "
            "emperor duke lad monk cowboy lumberjack snowman giant elf gnome dwarf troll ogre "
            "hero caveman"
        ).split()
    }
    | {
        w: ""
        for w in (
            "keeper baker chef cook doctor nurse vet pilot astronaut explorer scientist inventor "
            "farmer gardener sailor pirate knight captain detective firefighter artist painter "
            "musician singer dancer poet writer author librarian magician clown acrobat juggler "
            "ninja samurai viking soldier guard ranger hunter shepherd miner builder carpenter "
            "plumber mechanic driver janitor neighbor neighbour twin orphan superhero villain "
            "robber thief spy athlete player coach mayor dentist surgeon zookeeper beekeeper "
            "shopkeeper innkeeper goalkeeper tailor shoemaker toymaker clockmaker student pupil "
            "teacher child kid baby toddler teen teenager chief servant merchant "
            "fisher lifeguard surfer skater climber swimmer runner inventor engineer"
        ).split()
    }
)
# Words ending like person nouns (-er, -or, -ist, -ian) that are not people.
NOT_PERSONS: Final = _set(
    "water river winter summer flower tower danger color colour door floor monster thunder "
    "corner dinner supper paper letter number weather feather silver other after never ever "
    "over under together whether finger mirror harbor harbour anchor tractor elevator motor "
    "sweater butter ladder hammer spider otter lobster rooster beaver hamster helicopter "
    "computer center centre chapter character shelter matter wonder hunger anger laughter "
    "copper poster sticker timber meteor error honor honour labor favor flavor humor humour "
    "terror horror armor armour corridor indoor outdoor decor super however forever whenever "
    "discover remember wander gather answer deliver consider enter offer order suffer cover "
    "recover shiver whisper hover flutter scatter shatter chatter conquer power tiger "
    "dinosaur alligator trailer container calendar caterpillar grasshopper slumber blister "
    "glitter ginger cucumber burger hamburger diaper sister brother mother father daughter "
    "wrist twist exist assist insist resist persist mist ocean christian guardian "
    "fever liver cider lavender boulder shoulder clover meter metre cellar collar pillar "
    "dollar cheddar sugar caper crater saucer soccer rubber summer slipper zipper upper "
    "lower corner better bigger smaller faster slower taller longer younger older braver "
    "kinder happier water's lighter darker warmer colder"
)

# Animals and fantasy folk outside the drawable set, by the drawable species nearest in shape.
CREATURES: Final = MappingProxyType(
    {
        word: species
        for species, words in {
            "girl": "fairy fairies mermaid mermaids",
            "boy": "elf elves gnome gnomes dwarf dwarves giant giants troll trolls ogre",
            "robot": "alien aliens android",
            "dinosaur": "monster monsters lizard gecko iguana chameleon crocodile alligator "
            "snake snakes dino t-rex",
            "bear": "yeti bigfoot koala panda sheep lamb beaver grizzly",
            "dragon": "griffin gryphon",
            "bird": "phoenix bat eagle hawk falcon crow raven robin seagull gull pelican "
            "flamingo peacock ostrich chicken hen rooster chick stork hummingbird woodpecker "
            "puffin toucan butterfly bee bumblebee ladybug ladybird firefly dragonfly",
            "duck": "goose geese swan",
            "horse": "pegasus giraffe zebra donkey cow calf bull camel llama alpaca",
            "deer": "moose elk goat",
            "dog": "otter wolfcub",
            "raccoon": "badger skunk",
            "mouse": "mole hamster gerbil rat ant beetle",
            "rabbit": "kangaroo",
            "monkey": "sloth gorilla chimp chimpanzee ape",
            "tiger": "cheetah leopard jaguar panther",
            "elephant": "hippo hippopotamus rhino rhinoceros mammoth",
            "turtle": "snail",
            "frog": "caterpillar worm",
            "octopus": "spider crab lobster shrimp jellyfish squid",
            "whale": "dolphin orca narwhal seal walrus manatee",
            "fish": "shark seahorse starfish clownfish",
        }.items()
        for word in words.split()
    }
)

# Where a person's trade puts the story when the prompt names no place.
PERSON_SETTINGS: Final = MappingProxyType(
    {
        "sailor": "sea",
        "captain": "sea",
        "mermaid": "sea",
        "fisherman": "coast",
        "fisher": "coast",
        "lifeguard": "beach",
        "surfer": "beach",
        "gardener": "garden",
        "teacher": "school",
        "student": "school",
        "pupil": "school",
        "librarian": "school",
        "baker": "city",
        "shopkeeper": "city",
        "firefighter": "city",
        "mayor": "city",
        "ranger": "forest",
        "lumberjack": "forest",
        "hunter": "forest",
        "fairy": "forest",
        "elf": "forest",
        "gnome": "garden",
        "beekeeper": "meadow",
        "shepherd": "meadow",
        "miner": "mountain",
        "climber": "mountain",
        "yeti": "snow",
        "snowman": "snow",
        "alien": "space",
    }
)
# A landmark's wider scene, so "the lighthouse" stands somewhere a picture can show.
PLACE_CONTEXT: Final = MappingProxyType({"lighthouse": "on the rocky coast"})

ADJECTIVES: Final = _set(
    "shy brave little lost old young tiny big small giant huge lonely curious grumpy kind "
    "gentle clever wise silly happy sad angry sleepy hungry magical magic friendly scared "
    "afraid timid bold proud clumsy busy lazy quiet noisy loud cheerful playful naughty "
    "helpful smart new best good bad brave fearless nervous worried fast slow tall short "
    "strong weak fluffy fuzzy furry spotted striped tired hopeful brilliant clueless "
    "dark bright shiny sparkly cold warm hot wet dry rocky sandy snowy stormy rainy windy "
    "foggy misty sunny cozy secret hidden mysterious enchanted haunted ancient faraway "
    "distant wild gigantic wee baby-faced beautiful pretty ugly messy tidy stubborn "
    "generous selfish greedy honest determined adventurous daring gloomy jolly lucky "
    "unlucky famous ordinary special different only last first"
    " red orange yellow green blue purple pink brown black white gray grey golden silver "
    "navy teal lilac"
)
ADJECTIVE_ENDINGS: Final = ("ful", "ous", "ive", "less", "ish", "ic", "al", "y", "ed")

# Event nouns and the weather they bring ("" for an event that is not weather).
EVENTS: Final = MappingProxyType(
    {
        w: "storm"
        for w in "storm storms thunderstorm hurricane tornado typhoon gale tempest "
        "thunder lightning cyclone".split()
    }
    | {w: "rain" for w in "rain rainstorm downpour drizzle flood shower showers".split()}
    | {w: "snow" for w in "snowstorm blizzard snowfall snowfalls".split()}
    | {w: "wind" for w in "wind winds breeze".split()}
    | {w: "fog" for w in "fog mist".split()}
    | {
        w: ""
        for w in (
            "party birthday festival race contest competition picnic parade fair carnival show "
            "concert wedding holiday christmas halloween easter blackout earthquake eclipse "
            "fire sleepover voyage expedition"
        ).split()
    }
)
# "rain" stays a mass noun: "Then rain began to fall", never "a rain".
WEATHER_ADJECTIVES: Final = MappingProxyType(
    {
        "stormy": "storm",
        "rainy": "rain",
        "snowy": "snow",
        "windy": "wind",
        "foggy": "fog",
        "misty": "fog",
        "thundery": "storm",
        "blustery": "wind",
    }
)
TIME_WORDS: Final = MappingProxyType(
    {
        w: "night"
        for w in "night nights nighttime midnight bedtime moon moonlight moonlit "
        "starry stars nocturnal sleep asleep sleepless nightmare".split()
    }
    | {w: "dusk" for w in "evening dusk sunset twilight".split()}
    | {w: "day" for w in "morning sunrise dawn afternoon daytime sunny".split()}
)
# The word for night in every instant language (a night story is drawn at night).
NIGHT_WORDS: Final = ("noche nuit nacht notte noite ночь ночью 夜 夜晚 晚上 밤").split()
# Per language: stems that name the weather of a storm, rain, snow, wind or fog.
WEATHER_STEMS: Final = MappingProxyType(
    {
        "storm": "storm thunder tormenta tempestad tempête orage sturm gewitter tempesta "
        "temporale tempestade trovoada буря гроза шторм 暴风雨 风暴 雷雨 嵐 あらし 雷 폭풍 태풍",
        "snow": "blizzard nevada tempête_de_neige schneesturm bufera nevasca метель 暴风雪 吹雪",
        "rain": "rain lluvia pluie regen pioggia chuva дожд 下雨 雨 비가",
        "wind": "windy viento vent wind vento ветер 大风 風 바람",
        "fog": "fog niebla brouillard nebel nebbia nevoeiro туман 雾 霧 안개",
    }
)
LESSON_NOUNS: Final = _set(
    "kindness friendship sharing courage bravery patience honesty teamwork empathy "
    "gratitude respect forgiveness generosity perseverance curiosity responsibility "
    "confidence love family acceptance diversity inclusion manners feelings emotions "
    "fear fears hope trust loyalty cooperation compassion caring helping listening "
    "believing yourself self-confidence resilience change growing sleep bedtime manners"
)

# Small stop lists for the content words of prompts in the other instant languages.
OTHER_STOP_WORDS: Final = MappingProxyType(
    {
        "spanish": _set(
            "el la los las un una unos unas y o de del al en con por para que quien se su sus "
            "es era muy pero como cuando mientras durante a lo le les sin sobre entre hasta "
            "este esta ese esa aprende historia cuento"
        ),
        "french": _set(
            "le la les un une des et ou de du au aux en dans avec par pour qui que se sa son "
            "ses est était très mais comme quand pendant à l d qu j n s c sur sans histoire "
            "apprend ce cette"
        ),
        "german": _set(
            "der die das den dem des ein eine einen einem einer und oder mit von zu im in am "
            "an auf für sich ist war sehr aber wie wenn während bei nach aus vom zum zur "
            "geschichte lernt"
        ),
        "italian": _set(
            "il lo la i gli le un una uno e o di del della dei in con per che chi si suo sua "
            "è era molto ma come quando durante a al alla l d su senza storia impara"
        ),
        "portuguese": _set(
            "o a os as um uma e ou de do da dos das em no na com por para que quem se seu sua "
            "é era muito mas como quando durante ao à sem sobre história aprende"
        ),
        "russian": _set(
            "и в на с по к у о об что кто как который которая которое это был была было "  # noqa: RUF001
            "очень но когда во время из за для от до не история учится"
        ),
        "korean": _set("그리고 그 이 저 한 아주 매우 이야기"),
    }
)

# -- word classes ----------------------------------------------------------------------------

ENGLISH_SPECIES: Final = MappingProxyType(
    {w: key for key, words in SPECIES_WORDS.items() for w in words.split()}
)


def singular(word: str) -> str:
    irregular = {
        "mice": "mouse",
        "children": "child",
        "men": "man",
        "women": "woman",
        "geese": "goose",
        "people": "person",
        "teeth": "tooth",
        "feet": "foot",
    }
    if word in irregular:
        return irregular[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("ves") and (word[:-3] + "f" in ENGLISH_SPECIES or word[:-3] + "f" in PERSONS):
        return word[:-3] + "f"
    if word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def animal_of(word: str) -> str:
    for w in (word, singular(word)):
        key = ENGLISH_SPECIES.get(w) or CREATURES.get(w)
        if key:
            return key
    return ""


def person_gender(word: str) -> str | None:
    """The gender a person noun carries ("" if none), or None for a word that is no person."""
    base = singular(word)
    if base in PERSONS:
        return PERSONS[base]
    if base in NOT_PERSONS or base in ADJECTIVES or len(base) < 5:
        return None
    if base.endswith(("er", "or", "ist", "ian")) and not lexicon_kinds(base):
        return "?"  # an open-world person noun: a head only in noun-phrase position
    return None


def known_word(word: str) -> bool:
    return bool(animal_of(word) or singular(word) in PERSONS or lexicon_kinds(word))


def adjective(word: str) -> bool:
    if word in ADJECTIVES or word in WEATHER_ADJECTIVES:
        return True
    return len(word) > 3 and word.endswith(ADJECTIVE_ENDINGS) and not known_word(word)


def name_gender(name: str) -> str:
    if any(name in book.names_f for book in BOOKS.values()):
        return "f"
    if any(name in book.names_m for book in BOOKS.values()):
        return "m"
    if name.lower().endswith(("a", "ah", "elle", "ette", "ine", "ie")):
        return "f"
    return ""
