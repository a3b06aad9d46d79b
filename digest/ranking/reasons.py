"""Why an article got its place: a stable code with its values, told in the newsletter's language.

rank.py decides and records a code (edition.json's `reason_code`, stable across releases and
languages); `reason_text` words it for edition.json, `digest rank` and the preview.
"""

from __future__ import annotations

from typing import Any

from digest.text import typography

PINNED = "pinned"  # count: how many stories were pinned (1: this one only)
BEST_SCORE = "best_score"  # lead: image (bool), min_words, long_enough (bool)
SCORE_RANK = "score_rank"  # blurb: rank among the others
FOLLOW_UP = "follow_up"  # day: when the story was first sent
ALREADY_SENT = "already_sent"  # day
OVER_CATEGORY_TAKEN = "over_max_per_category_taken"  # max
OVER_CATEGORY = "over_max_per_category"  # max, category
BEYOND_BLURBS = "beyond_blurbs"  # blurbs
SAME_STORY = "same_story"  # title: the article shown for the story

CODES = (PINNED, BEST_SCORE, SCORE_RANK, FOLLOW_UP, ALREADY_SENT, OVER_CATEGORY_TAKEN,
         OVER_CATEGORY, BEYOND_BLURBS, SAME_STORY)


# The reasons that are one sentence with their values, per language.
_PLAIN = {
    "en": {
        SCORE_RANK: "score rank {rank} among the others",
        FOLLOW_UP: "follow-up of a story sent on {day}",
        ALREADY_SENT: "already sent on {day}",
        OVER_CATEGORY_TAKEN: "over ranking.max_per_category = {max}, taken for lack of others",
        OVER_CATEGORY: "over ranking.max_per_category = {max} for {category}",
        BEYOND_BLURBS: "beyond ranking.blurbs = {blurbs}",
        SAME_STORY: "same story as «{title}»",
    },
    "fr": {
        SCORE_RANK: "rang {rank} au score parmi les autres",
        FOLLOW_UP: "suite d'un sujet envoyé le {day}",
        ALREADY_SENT: "déjà envoyé le {day}",
        OVER_CATEGORY_TAKEN: "au-delà de ranking.max_per_category = {max}, pris faute d'autres",
        OVER_CATEGORY: "au-delà de ranking.max_per_category = {max} pour {category}",
        BEYOND_BLURBS: "au-delà de ranking.blurbs = {blurbs}",
        SAME_STORY: "même sujet que « {title} »",
    },
}


def _en(code: str, a: dict[str, Any]) -> str:
    if code == PINNED:
        count = a.get("count", 1)
        return "pinned as lead" + (f" (newest of {count} pinned stories)" if count > 1 else "")
    if code == BEST_SCORE:
        text = "best score" + (" with an image" if a.get("image") else "")
        if "min_words" not in a:
            return text
        return text + (f" among {a['min_words']}+ word articles" if a.get("long_enough")
                       else " (no article is long enough for a lead)")
    return _PLAIN["en"][code].format(**a) if code in _PLAIN["en"] else ""


def _fr(code: str, a: dict[str, Any]) -> str:
    if code == PINNED:
        count = a.get("count", 1)
        return "épinglé en une" + (f" (le plus récent des {count} sujets épinglés)"
                                   if count > 1 else "")
    if code == BEST_SCORE:
        text = "meilleur score" + (" avec une image" if a.get("image") else "")
        if "min_words" not in a:
            return text
        return text + (f" parmi les articles de {a['min_words']} mots ou plus"
                       if a.get("long_enough") else " (aucun article assez long pour la une)")
    return _PLAIN["fr"][code].format(**a) if code in _PLAIN["fr"] else ""


def reason_text(code: str, args: dict[str, Any], locale: str = "en") -> str:
    """The reason in words; a follow-up adds its own reason after the main one."""
    words = _fr if locale == "fr" else _en
    text = words(code, args)
    if code != FOLLOW_UP and args.get("follow_up"):
        follow = words(FOLLOW_UP, {"day": args["follow_up"]})
        text = f"{text}; {follow}" if text else follow
    if locale == "fr":
        text = typography(text, locale)
    return text
