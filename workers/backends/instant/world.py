"""The instant set's fixed world: species, looks, settings and the English words that name them.

The writer reads it to cast characters and the illustrator reads it to draw them, so a fox
written as orange with a green scarf is drawn exactly that way. Everything here is immutable.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True, slots=True)
class Anatomy:
    body: str  # mammal | bird | fish | human | robot | frog | turtle | octopus
    ears: str  # pointy | round | long | floppy | big | tufts | horns | antenna | none
    tail: str  # bushy | thin | puff | ringed | curly | short | long | fin | none
    features: tuple[str, ...]
    palettes: tuple[tuple[str, str], ...]  # (main, secondary); humans: (skin, hair)


def _a(body: str, ears: str, tail: str, features: str, *palettes: str) -> Anatomy:
    pairs = tuple((p.split("/")[0], p.split("/")[1]) for p in palettes)
    return Anatomy(body, ears, tail, tuple(features.split()), pairs)


SPECIES: Final = MappingProxyType(
    {
        "fox": _a("mammal", "pointy", "bushy", "muzzle", "orange/white", "red/cream"),
        "raccoon": _a("mammal", "round", "ringed", "mask muzzle", "gray/white"),
        "rabbit": _a("mammal", "long", "puff", "muzzle", "white/pink", "brown/cream", "gray/white"),
        "bear": _a("mammal", "round", "short", "muzzle", "brown/tan", "black/tan", "white/cream"),
        "cat": _a("mammal", "pointy", "thin", "whiskers", "gray/white", "orange/white"),
        "dog": _a("mammal", "floppy", "thin", "muzzle", "brown/white", "golden/cream"),
        "mouse": _a("mammal", "big", "thin", "whiskers", "gray/pink", "brown/cream"),
        "owl": _a("bird", "tufts", "none", "beak bigeyes", "brown/cream", "gray/white"),
        "bird": _a("bird", "none", "none", "beak", "blue/yellow", "red/cream", "yellow/orange"),
        "duck": _a("bird", "none", "none", "beak", "yellow/orange", "white/orange"),
        "penguin": _a("bird", "none", "none", "beak", "black/white", "navy/white"),
        "deer": _a("mammal", "pointy", "short", "antlers muzzle", "tan/cream", "brown/white"),
        "squirrel": _a("mammal", "pointy", "curly", "muzzle", "red/cream", "brown/cream"),
        "hedgehog": _a("mammal", "round", "none", "spikes muzzle", "brown/tan"),
        "lion": _a("mammal", "round", "thin", "mane muzzle", "golden/brown"),
        "tiger": _a("mammal", "round", "thin", "stripes muzzle", "orange/black"),
        "elephant": _a("mammal", "big", "thin", "trunk", "gray/pink", "blue/pink"),
        "monkey": _a("mammal", "round", "curly", "muzzle", "brown/tan"),
        "frog": _a("frog", "none", "none", "", "green/yellow", "lime/cream"),
        "turtle": _a("turtle", "none", "none", "shell", "green/brown", "teal/tan"),
        "fish": _a("fish", "none", "fin", "", "orange/white", "blue/yellow", "pink/purple"),
        "whale": _a("fish", "none", "fin", "spout", "blue/white", "navy/white"),
        "octopus": _a("octopus", "none", "none", "", "purple/pink", "red/orange"),
        "dragon": _a("mammal", "horns", "long", "wings spikes", "green/yellow", "red/orange"),
        "unicorn": _a("mammal", "pointy", "long", "horn mane muzzle", "white/pink", "lilac/gold"),
        "dinosaur": _a("mammal", "none", "long", "spikes", "green/yellow", "teal/orange"),
        "robot": _a("robot", "antenna", "none", "", "silver/blue", "red/silver"),
        "wolf": _a("mammal", "pointy", "bushy", "muzzle", "gray/white", "navy/gray"),
        "pig": _a("mammal", "pointy", "curly", "snout", "pink/rose"),
        "horse": _a("mammal", "pointy", "long", "mane muzzle", "brown/black", "white/gray"),
        "girl": _a("human", "none", "none", "longhair", "peach/brown", "tan/black", "brown/black"),
        "boy": _a("human", "none", "none", "shorthair", "peach/golden", "tan/brown", "brown/black"),
    }
)

COLORS: Final = MappingProxyType(
    {
        "orange": (240, 128, 40),
        "white": (248, 246, 240),
        "red": (214, 48, 49),
        "cream": (250, 232, 196),
        "gray": (140, 140, 150),
        "black": (40, 40, 48),
        "brown": (139, 90, 43),
        "tan": (210, 170, 120),
        "pink": (244, 160, 190),
        "rose": (222, 110, 140),
        "golden": (232, 184, 56),
        "gold": (245, 200, 40),
        "yellow": (250, 220, 60),
        "blue": (52, 120, 220),
        "navy": (30, 50, 110),
        "green": (60, 170, 80),
        "lime": (150, 210, 60),
        "teal": (30, 160, 160),
        "purple": (140, 70, 180),
        "lilac": (196, 160, 226),
        "silver": (196, 200, 210),
        "peach": (250, 205, 170),
        "sky": (120, 190, 240),
        "mint": (150, 230, 190),
    }
)

CLOTHING_ITEMS: Final = tuple("scarf cap vest cape bow boots overalls sweater backpack hat".split())
CLOTHING_COLORS: Final = tuple("red blue green yellow purple teal orange pink navy lime".split())

# A role in the prompt dresses the hero and, for some, decides the setting.
ROLES: Final = MappingProxyType(
    {
        "astronaut": ("white space suit", "space"),
        "knight": ("silver armor", "castle"),
        "princess": ("pink crown", "castle"),
        "prince": ("gold crown", "castle"),
        "king": ("gold crown", "castle"),
        "queen": ("gold crown", "castle"),
        "pirate": ("black pirate hat", "sea"),
        "wizard": ("purple wizard hat", "castle"),
        "witch": ("purple wizard hat", "castle"),
        "chef": ("white chef hat", "home"),
        "detective": ("brown coat", "city"),
        "doctor": ("white coat", "city"),
        "superhero": ("red cape", "city"),
        "explorer": ("green hat", "jungle"),
        "farmer": ("blue overalls", "farm"),
    }
)

# What a prompt's person wears, by the last word of their role ("lighthouse keeper" -> keeper),
# for the trades ROLES does not dress; the illustrator reads the garment's last word.
ROLE_CLOTHES: Final = MappingProxyType(
    {
        "keeper": "yellow coat",
        "fisherman": "yellow coat",
        "sailor": "navy cap",
        "captain": "navy cap",
        "baker": "white chef hat",
        "cook": "white chef hat",
        "teacher": "green sweater",
        "nurse": "white coat",
        "scientist": "white coat",
        "inventor": "white coat",
        "vet": "white coat",
        "firefighter": "red hat",
        "ranger": "green hat",
        "gardener": "blue overalls",
        "builder": "orange vest",
        "painter": "purple cap",
        "grandmother": "purple sweater",
        "grandma": "purple sweater",
        "grandfather": "brown vest",
        "grandpa": "brown vest",
        "fairy": "pink bow",
        "mermaid": "teal bow",
    }
)

SPECIES_WORDS: Final = MappingProxyType(
    {
        "fox": "fox foxes vixen",
        "raccoon": "raccoon raccoons racoon",
        "rabbit": "rabbit rabbits bunny bunnies hare",
        "bear": "bear bears",
        "cat": "cat cats kitten kittens kitty",
        "dog": "dog dogs puppy puppies pup doggy",
        "mouse": "mouse mice",
        "owl": "owl owls owlet",
        "bird": "bird birds sparrow parrot",
        "duck": "duck ducks duckling",
        "penguin": "penguin penguins",
        "deer": "deer fawn reindeer",
        "squirrel": "squirrel squirrels",
        "hedgehog": "hedgehog hedgehogs",
        "lion": "lion lions lioness",
        "tiger": "tiger tigers",
        "elephant": "elephant elephants",
        "monkey": "monkey monkeys",
        "frog": "frog frogs toad",
        "turtle": "turtle turtles tortoise",
        "fish": "fish fishes goldfish",
        "whale": "whale whales",
        "octopus": "octopus octopuses",
        "dragon": "dragon dragons",
        "unicorn": "unicorn unicorns",
        "dinosaur": "dinosaur dinosaurs dino rex",
        "robot": "robot robots bot",
        "wolf": "wolf wolves",
        "pig": "pig pigs piglet",
        "horse": "horse horses pony ponies",
        "girl": "girl girls princess queen daughter sister",
        "boy": "boy boys prince king son brother",
        "child": "child children kid kids toddler baby",
    }
)

SETTINGS: Final = tuple(
    (
        "forest meadow garden farm sea beach river sky city home school space mountain castle "
        "jungle snow coast"
    ).split()
)

# Strong words name a place outright; weak ones only hint at it.
SETTING_WORDS: Final = MappingProxyType(
    {
        "forest": ("forest forests woods woodland", "tree trees wood"),
        "meadow": ("meadow field fields park", "grass"),
        "garden": ("garden gardens", "vegetables"),
        "farm": ("farm farmyard barn", "cow cows"),
        "sea": ("sea ocean oceans underwater reef", "coral mermaid"),
        "beach": ("beach seaside island", "sand"),
        "river": ("river lake pond stream", "boat"),
        "sky": ("sky clouds", "cloud fly flying kite"),
        "city": ("city town street streets village", "bus"),
        "home": ("home house bedroom kitchen room", "bed bedtime"),
        "school": ("school classroom kindergarten", "teacher class"),
        "space": ("space planet planets galaxy spaceship mars", "rocket moon star stars"),
        "mountain": ("mountain mountains hill hills valley", ""),
        "castle": ("castle kingdom palace tower", ""),
        "jungle": ("jungle rainforest safari", ""),
        "snow": ("snow snowy ice icy winter arctic polar", "frozen"),
        # A rocky shore with a lighthouse; sand and swimming stay "beach".
        "coast": (
            "coast coasts coastline lighthouse lighthouses cliff cliffs harbour harbor "
            "harbours harbors shore shoreline port",
            "rocks rocky waves",
        ),
    }
)

NEIGHBOURS: Final = MappingProxyType(
    {
        "forest": ("meadow", "river", "mountain"),
        "meadow": ("forest", "river", "garden"),
        "garden": ("home", "meadow", "farm"),
        "farm": ("meadow", "garden", "river"),
        "sea": ("beach", "sky", "river"),
        "beach": ("sea", "river", "city"),
        "river": ("meadow", "forest", "mountain"),
        "sky": ("mountain", "meadow", "sea"),
        "city": ("home", "school", "garden"),
        "home": ("garden", "school", "city"),
        "school": ("home", "garden", "city"),
        "space": ("sky", "snow", "mountain"),
        "mountain": ("forest", "snow", "sky"),
        "castle": ("forest", "garden", "meadow"),
        "jungle": ("river", "mountain", "beach"),
        "snow": ("mountain", "sea", "forest"),
        "coast": ("sea", "beach", "sky"),
    }
)

FAUNA: Final = MappingProxyType(
    {
        "forest": ("rabbit", "owl", "deer", "squirrel", "hedgehog", "bear"),
        "meadow": ("rabbit", "mouse", "frog", "bird", "hedgehog"),
        "garden": ("bird", "rabbit", "hedgehog", "mouse", "frog"),
        "farm": ("pig", "horse", "duck", "dog", "cat"),
        "sea": ("fish", "turtle", "whale", "octopus"),
        "beach": ("turtle", "duck", "fish", "dog"),
        "river": ("frog", "duck", "fish", "bear"),
        "sky": ("bird", "owl", "dragon", "duck"),
        "city": ("dog", "cat", "mouse", "bird"),
        "home": ("cat", "dog", "mouse", "bird"),
        "school": ("girl", "boy", "rabbit", "owl"),
        "space": ("robot", "cat", "dog", "owl"),
        "mountain": ("bear", "wolf", "bird", "deer"),
        "castle": ("dragon", "unicorn", "mouse", "horse"),
        "jungle": ("monkey", "tiger", "elephant", "frog"),
        "snow": ("penguin", "bear", "wolf", "whale"),
        "coast": ("whale", "bird", "fish", "turtle"),
    }
)

HOME_OF: Final = MappingProxyType(
    {
        species: setting
        for setting, names in {
            "sea": "fish whale octopus",
            "beach": "turtle",
            "snow": "penguin",
            "forest": "owl fox raccoon bear deer squirrel",
            "garden": "hedgehog",
            "mountain": "wolf",
            "meadow": "rabbit",
            "jungle": "monkey tiger elephant lion dinosaur",
            "farm": "pig horse",
            "river": "duck frog",
            "castle": "dragon unicorn",
            "space": "robot",
            "sky": "bird",
            "home": "cat mouse girl boy",
            "city": "dog",
        }.items()
        for species in names.split()
    }
)

TRAITS: Final = tuple("brave curious kind clever shy cheerful gentle playful grumpy proud".split())
TRAIT_WORDS: Final = MappingProxyType(
    {
        "brave": "brave courageous bold fearless",
        "curious": "curious inquisitive",
        "kind": "kind caring nice",
        "clever": "clever smart wise",
        "shy": "shy timid quiet",
        "cheerful": "cheerful happy joyful",
        "gentle": "gentle calm",
        "playful": "playful silly funny",
        "grumpy": "grumpy cranky",
        "proud": "proud",
    }
)

THEMES: Final = tuple("share courage teamwork kindness patience friendship curiosity".split())
# Checked in THEMES order: sharing outranks friendship, since "forest friends" is scenery.
THEME_WORDS: Final = MappingProxyType(
    {
        "share": "share shares sharing generous give gives giving",
        "courage": "courage courageous afraid fear fears scared dark monster nervous",
        "teamwork": "team teamwork together cooperate build builds",
        "kindness": "kindness help helps helping care caring",
        "patience": "patient patience wait waiting grow grows",
        "friendship": "friend friendship lonely alone",
        "curiosity": "curious explore explores exploring discover discovers wonder",
    }
)

TONES: Final = tuple(
    (
        "playful_funny fantasy_magic animal heartwarming sci_fi daily_life_basics adventurous "
        "educational"
    ).split()
)
TONE_DEFAULTS: Final = MappingProxyType(
    {  # tone -> (theme, setting, trait)
        "playful_funny": ("friendship", "meadow", "playful"),
        "fantasy_magic": ("curiosity", "castle", "curious"),
        "animal": ("friendship", "forest", "gentle"),
        "heartwarming": ("kindness", "forest", "kind"),
        "sci_fi": ("curiosity", "space", "clever"),
        "daily_life_basics": ("patience", "home", "cheerful"),
        "adventurous": ("courage", "jungle", "brave"),
        "educational": ("teamwork", "school", "curious"),
    }
)

THINGS: Final = tuple(
    (
        "carrots apples berries cookies candies nuts flowers seeds shells balloons books toys stars"
    ).split()
)
THING_WORDS: Final = MappingProxyType(
    {
        "carrots": "carrot carrots",
        "apples": "apple apples",
        "berries": "berry berries strawberry strawberries blueberries",
        "cookies": "cookie cookies biscuit biscuits cake cakes",
        "candies": "candy candies sweets chocolate lollipop",
        "nuts": "nut nuts acorn acorns",
        "flowers": "flower flowers rose roses",
        "seeds": "seed seeds",
        "shells": "shell shells seashell seashells pearl",
        "balloons": "balloon balloons",
        "books": "book books story stories",
        "toys": "toy toys blocks ball",
        "stars": "star stars starlight",
    }
)
SETTING_THINGS: Final = MappingProxyType(
    {
        "forest": ("nuts", "berries"),
        "meadow": ("flowers", "berries"),
        "garden": ("carrots", "flowers", "seeds"),
        "farm": ("apples", "carrots"),
        "sea": ("shells",),
        "beach": ("shells",),
        "river": ("berries", "flowers"),
        "sky": ("balloons", "stars"),
        "city": ("balloons", "books"),
        "home": ("cookies", "toys"),
        "school": ("books", "toys"),
        "space": ("stars",),
        "mountain": ("berries", "nuts"),
        "castle": ("candies", "cookies"),
        "jungle": ("berries", "flowers"),
        "snow": ("cookies", "shells"),
        "coast": ("shells", "stars"),
    }
)

EXTRAS: Final = ("rainbow", "party", "song", "snow")
EXTRA_WORDS: Final = MappingProxyType(
    {
        "rainbow": "rainbow rainbows",
        "party": "party celebration feast picnic",
        "song": "song songs sing singing music",
        "snow": "snow snowflakes snowfall",
    }
)
