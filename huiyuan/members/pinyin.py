"""Finding members by the pinyin of their names: 张三 by "zhangsan", "zhang", "zs". Each member keeps
the prefixes of their name's full pinyin and initials (with the other readings of a surname that
has several, 曾 zeng / ceng) in an array column with a GIN index, so a search is one index lookup
whatever the number of members. Keys are refreshed wherever names change; a name written by a bulk
path (imports, COPY) is picked up by ``pinyin_refresh``, which those paths call when they finish."""

from __future__ import annotations

from django.db import connection
from django.db.models import F

MAX_KEYS = 60
MIN_QUERY = 2  # initials from two letters ("zs"); one letter would match a tenth of the members
MIN_FULL = 3  # full pinyin from three ("wa" is the start of a seventh of Chinese names: 王, 万, 汪…)


def _prefixes(text: str, shortest: int) -> list[str]:
    return [text[:n] for n in range(shortest, min(len(text), 20) + 1)]


def name_keys(name: str) -> list[str]:
    """Every prefix of the full pinyin (3+ letters) and of the initials (2+), surname readings included."""
    from pypinyin import Style, lazy_pinyin, pinyin  # 0.25 s to import: only where names are keyed

    name = (name or "").strip()
    if not name or not any("\u4e00" <= ch <= "\u9fff" for ch in name):
        return []
    syllables = [s.lower() for s in lazy_pinyin(name, errors="ignore") if s.isascii() and s.isalpha()]
    if not syllables:
        return []
    surname_readings = {r.lower() for r in pinyin(name[0], heteronym=True, style=Style.NORMAL)[0] if r.isalpha()}
    keys: set[str] = set()
    for first in surname_readings | {syllables[0]}:
        words = [first, *syllables[1:]]
        keys.update(_prefixes("".join(words), MIN_FULL))
        keys.update(_prefixes("".join(w[0] for w in words), MIN_QUERY))
    return sorted(keys)[:MAX_KEYS]


def looks_like_pinyin(query: str) -> bool:
    return len(query) >= MIN_QUERY and query.isascii() and query.isalpha()


def pinyin_refresh(member_ids: list[int] | None = None, *, batch: int = 5000) -> int:
    """Compute the keys of members whose name changed since (all, or the given ones). Returns how many."""
    from .models import Member

    done = 0
    while True:
        qs = Member.objects.exclude(name_keys_of=F("name")).order_by("pk")
        if member_ids is not None:
            qs = qs.filter(pk__in=member_ids)
        rows = list(qs.values_list("pk", "name")[:batch])
        if not rows:
            return done
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE members_member m SET name_keys = string_to_array(k.keys, ' '), name_keys_of = m.name"
                " FROM unnest(%s::bigint[], %s::text[]) AS k(id, keys) WHERE m.id = k.id",
                [[pk for pk, _name in rows], [" ".join(name_keys(name)) for _pk, name in rows]],
            )
        done += len(rows)
        if len(rows) < batch:
            return done
