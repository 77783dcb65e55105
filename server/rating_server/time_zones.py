"""IANA time zones, from the ``tzdata`` package only: a name means the same on every host.

``zoneinfo.ZoneInfo(name)`` and ``available_timezones()`` read the host's
/usr/share/zoneinfo first, where "localtime" is the host's own zone (Debian lists it),
"posixrules" and "right/..." are variants, and the rules are whatever version the host
has. An account's days and months must not change with the machine that serves it, so
the names accepted are those of tzdata's own list, and each zone is read from tzdata's
files, whatever the host holds.
"""

from __future__ import annotations

import functools
from importlib import resources
from zoneinfo import ZoneInfo

# Listed by tzdata, but not a place: "Factory" is the zone of a machine whose zone was
# never set (its abbreviation is "-00").
NOT_PLACES = frozenset({"Factory"})


@functools.cache
def names() -> frozenset[str]:
    """The zone names an account may have: tzdata's list, less NOT_PLACES."""
    listed = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return frozenset(listed.split()) - NOT_PLACES


@functools.cache
def zone(name: str) -> ZoneInfo:
    """The zone of that name, read from tzdata's files; KeyError for a name not in names()."""
    if name not in names():
        raise KeyError(f"{name!r} is not a zone of the tzdata package")
    resource = resources.files("tzdata.zoneinfo").joinpath(*name.split("/"))
    with resource.open("rb") as data:
        return ZoneInfo.from_file(data, key=name)
