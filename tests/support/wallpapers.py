"""Real photographs for the retrieval benchmark: Debian's wallpaper packages.

GeoPin's tests use generated pictures; a claim that a model recognises places needs photos no
one here made. Debian ships some as desktop wallpapers, under the GPL-2+ (see each package's
``/usr/share/doc/<package>/copyright``): MATE's nature set and the photographs among KDE
Plasma's wallpapers. ``fetch`` downloads the two packages with ``apt-get download`` (about
140 MB, once) and unpacks them with ``dpkg -x`` into a cache folder, without installing them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

PACKAGES = ("mate-backgrounds", "plasma-workspace-wallpapers")
# Plasma's wallpapers that are photographs (the others are drawn or rendered).
PLASMA_PHOTOS = (
    "BytheWater",
    "ColdRipple",
    "ColorfulCups",
    "DarkestHour",
    "EveningGlow",
    "FallenLeaf",
    "Grey",
    "Kite",
    "OneStandsOut",
    "Path",
    "summer_1am",
)
_MATE_NATURE = Path("usr/share/backgrounds/mate/nature")
_PLASMA = Path("usr/share/wallpapers")


def fetch(cache: Path) -> Path:
    """The unpacked packages under ``cache/root``, downloaded and unpacked on the first call."""
    root = cache / "root"
    done = root / ".unpacked"
    if done.exists():
        return root
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    if not list(debs.glob("*.deb")):
        subprocess.run(["apt-get", "download", *PACKAGES], cwd=debs, check=True)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    done.touch()
    return root


def photos(root: Path) -> list[Path]:
    """The photographs, in a fixed order: MATE's nature set, then Plasma's photographs."""
    found = sorted((root / _MATE_NATURE).glob("*.jpg"))
    for name in PLASMA_PHOTOS:
        images = root / _PLASMA / name / "contents" / "images"
        if not images.is_dir():  # another package version may lack it; the count says so
            continue
        # The 1920x1080 rendition where there is one, else the largest.
        preferred = sorted(images.glob("1920x1080.*"))
        candidates = preferred or sorted(images.iterdir(), key=lambda p: p.stat().st_size)
        found.extend(candidates[-1:])
    if not found:
        raise SystemExit(f"no photographs under {root}: is the cache complete?")
    return found
