"""OpenClonk's sound effects (``openclonk-data``), read from its c4group container.

``/usr/share/games/openclonk/Sound.ocg`` holds about 400 effects, most of them recordings
from freesound.org credited in the group's own ``authors.txt`` (CC-BY-3.0 unless stated
otherwise): birds, a waterfall, wind, thunder, rain, boiling and bubbling liquids, splashes,
fire, explosions, footsteps on hard and soft ground, doors, hinges, a steam engine, a
sawmill, a furnace, glass breaking, a musket, bows. The folder names say what is heard
(``Liquids.ocg/Boiling.ogg``, ``Animals.ocg/Bat.ocg/Flutter1.wav``), so the same rules as
:mod:`~audioseek.data.offline_sources.games` describe them; fantasy creatures (Mooq, Puka,
Chippie), interface sounds and voice lines whose words are not written anywhere are left
out.

A c4group file (OpenClonk's ``C4Group``) is a gzip stream whose two magic bytes are
``1E 8C`` instead of ``1F 8B``. Inside: a 204-byte header, scrambled (every byte XOR 0xED,
then bytes 0 and 2 of every 3 swapped), whose int32 at 0x24 is the entry count; then one
316-byte entry per file (NUL-terminated name in 260 bytes, then int32 packed, child group,
size, reserved, offset); then the entries' data, each at its offset after the entry table.
A child group is stored as a nested group without the gzip layer.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from audioseek.data.offline_sources.base import Clip, Source
from audioseek.data.offline_sources.games import GAMES, R, match
from audioseek.data.offline_sources.packed import blob_clip, container_entries

SOUND_GROUP = GAMES / "openclonk/Sound.ocg"
HEADER_SIZE = 204
ENTRY_SIZE = 316
#: a group decompresses to at most this many bytes (Sound.ocg: 26 MB)
MAX_GROUP_BYTES = 512 * 1024 * 1024
MAX_DEPTH = 8


def _unscramble(header: bytes) -> bytes:
    h = bytearray(b ^ 0xED for b in header)
    for i in range(0, len(h) - 2, 3):
        h[i], h[i + 2] = h[i + 2], h[i]
    return bytes(h)


def gunzip_group(data: bytes, limit: int = MAX_GROUP_BYTES) -> bytes:
    """The uncompressed bytes of a packed c4group file (raises ``ValueError``)."""
    if data[:2] != b"\x1e\x8c":
        raise ValueError("not a packed c4group (magic bytes are not 1E 8C)")
    z = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = z.decompress(b"\x1f\x8b" + data[2:], limit)
    if z.unconsumed_tail:
        raise ValueError(f"c4group decompresses to more than {limit} bytes")
    return out


def group_entries(data: bytes, prefix: str = "", depth: int = 0) -> list[tuple[str, bytes]]:
    """``(path, bytes)`` of every file of an uncompressed c4group, child groups included
    (their names are path components: ``Animals.ocg/Bat.ocg/Chirp.wav``)."""
    if depth > MAX_DEPTH:
        raise ValueError(f"c4group nested deeper than {MAX_DEPTH} groups at {prefix!r}")
    if len(data) < HEADER_SIZE:
        raise ValueError(f"c4group {prefix!r} is shorter than its header")
    head = _unscramble(data[:HEADER_SIZE])
    if not head.startswith(b"RedWolf Design GrpFolder"):
        raise ValueError(f"c4group {prefix!r}: bad header")
    count = struct.unpack_from("<i", head, 0x24)[0]
    base = HEADER_SIZE + ENTRY_SIZE * count
    if count < 0 or base > len(data):
        raise ValueError(f"c4group {prefix!r}: {count} entries do not fit in {len(data)} bytes")
    out = []
    for i in range(count):
        at = HEADER_SIZE + ENTRY_SIZE * i
        name = data[at : at + 260].split(b"\0", 1)[0].decode("latin-1")
        _packed, child, size, _reserved, offset = struct.unpack_from("<iiiii", data, at + 260)
        if size < 0 or offset < 0 or base + offset + size > len(data):
            raise ValueError(f"c4group entry {prefix + name!r} lies outside its group")
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"c4group entry name {name!r} in {prefix!r}")
        blob = data[base + offset : base + offset + size]
        if child:
            out += group_entries(blob, f"{prefix}{name}/", depth + 1)
        else:
            out.append((prefix + name, blob))
    return out


def read_group(data: bytes) -> list[tuple[str, bytes]]:
    """``(path, bytes)`` of every file of a packed c4group file's bytes."""
    return group_entries(gunzip_group(data))


def _path(name: str) -> str:
    """``Animals.ocg/Bat.ocg/Chirp.wav`` -> ``Animals/Bat/Chirp.wav``."""
    parts = name.split("/")
    return "/".join([p.rsplit(".", 1)[0] for p in parts[:-1]] + parts[-1:])


OPENCLONK_RULES = [
    # animals (real recordings; the game's fantasy creatures only where the sound is plain)
    R(r"animals/bat/(?:chirp|noise)", "a bat squeaking|bats chirping", category="animal"),
    R(r"animals/bat/flutter", "wings flapping|a bat flapping its wings", category="animal"),
    R(r"animals/mosquitobuzz", "a mosquito buzzing|an insect buzzing", category="insect"),
    R(r"animals/monster/growl", "an animal growling|a deep growl", category="animal"),
    R(r"animals/mooq/snort(?:ing)?", "an animal snorting|a snort", category="animal"),
    R(r"animals/mooq/munch", "an animal munching|chewing and munching", category="animal"),
    R(r"animals/puka/hiss", "an animal hissing|a hiss", category="animal"),
    R(r"animals/wipf/(?:weep|whine)", "a small animal whimpering|whining", category="animal"),
    R(r"animals/wipf/snuff", "an animal sniffing|sniffing", category="animal"),
    R(r"animals/chippie/eggcrack", "an egg cracking|an eggshell breaking", category="other"),
    # people
    R(r"clonk/action/breathing", "heavy breathing|someone breathing", category="human_sound"),
    R(r"clonk/action/dig/dig", "digging with a shovel|digging in earth", category="other"),
    R(r"clonk/action/munch", "someone eating|chewing food", category="human_sound"),
    R(
        r"clonk/movement/divingloop",
        "diving underwater|bubbles underwater",
        category="water",
    ),
    R(r"clonk/movement/rustle(?:land)?", "clothes rustling|rustling", category="other"),
    R(
        r"clonk/movement/stephard",
        "footsteps on a hard floor|footsteps on stone",
        category="footsteps",
    ),
    R(
        r"clonk/movement/stepsoft",
        "footsteps on soft ground|quiet footsteps on grass",
        category="footsteps",
    ),
    R(r"clonk/skin/\w+/laughter", "someone laughing|laughter", category="laughter"),
    R(
        r"clonk/skin/\w+/(?:hurt|die)",
        "someone crying out in pain|a groan of pain",
        category="human_sound",
    ),
    R(r"clonk/skin/\w+/scream", "someone screaming|a scream", category="human_sound"),
    R(r"clonk/skin/\w+/shock", "a gasp of surprise|someone gasping", category="human_sound"),
    R(r"clonk/skin/\w+/singing", "someone singing|a voice singing", category="human_sound"),
    # nature
    R(r"environment/birdsloop", "birds singing|birdsong in a forest", "ambience", "bird"),
    R(
        r"environment/disasters/earthquake(?:end)?",
        "an earthquake rumbling|a deep rumble",
        category="nature",
    ),
    R(r"environment/lightning/thunder", "thunder|a thunderclap", category="thunder"),
    R(r"environment/tree/chop", "an axe chopping wood|chopping a tree", category="other"),
    R(r"environment/tree/crack", "a tree cracking|wood splintering", category="nature"),
    R(
        r"environment/tree/landing",
        "a tree falling to the ground|a tree crashing down",
        category="nature",
    ),
    R(r"environment/waterfall", "a waterfall|rushing water", "ambience", "water"),
    R(r"environment/windloop", "wind blowing|a howling wind", "ambience", "wind"),
    R(r"hits/materials/rock/rockfall", "rocks falling|a rockfall", category="nature"),
    # fire and explosions
    R(r"fire/blast(?:metal|liquid)?\d*(?:alt)?", "an explosion|a blast", category="explosion"),
    R(r"fire/blastfirework", "fireworks exploding|a firework", category="explosion"),
    R(r"fire/cracker", "a firecracker|firecrackers popping", category="explosion"),
    R(r"fire/fire", "a fire crackling|fire burning", category="fire"),
    R(r"fire/fireball", "a fireball whooshing|a burst of flame", category="fire"),
    R(r"fire/fuse(?:loop|short)?", "a fuse hissing|a burning fuse", category="fire"),
    R(r"fire/inflame", "something catching fire|flames igniting", category="fire"),
    R(r"fire/spark", "sparks crackling|electric sparks", category="fire"),
    # hits and materials
    R(r"hits/buckethit", "a metal bucket being hit|a bucket clanking", category="other"),
    R(r"hits/icehit", "ice cracking|hitting ice", category="other"),
    R(
        r"hits/materials/glass/glass(?:break|shatter)",
        "glass breaking|glass shattering",
        category="glass",
    ),
    R(r"hits/materials/glass/glasshit", "a glass being struck|glass clinking", category="glass"),
    R(
        r"hits/materials/metal/(?:dull|light)metalhit",
        "a metal object being hit|a metallic clang",
        category="other",
    ),
    R(r"hits/materials/rock/rockhit", "a rock hitting stone|stones knocking", category="other"),
    R(
        r"hits/materials/wood/(?:dull)?woodhit",
        "wood being hit|a wooden knock",
        category="other",
    ),
    R(r"hits/materials/wood/woodcreak", "wood creaking|a creaking wooden beam", category="other"),
    R(r"hits/softhit", "a soft thud|a dull thump", category="other"),
    # liquids
    R(r"liquids/boiling", "a liquid boiling|bubbling boiling water", category="water"),
    R(r"liquids/bubble", "bubbles in water|a liquid bubbling", category="water"),
    R(r"liquids/corrode", "acid fizzing|a fizzing liquid", category="water"),
    R(r"liquids/pshshsh", "steam hissing|a hiss of steam", category="other"),
    R(
        r"liquids/(?:smoke)?sizzle",
        "something sizzling|hot metal sizzling in water",
        category="other",
    ),
    R(
        r"liquids/splash",
        "a splash in water|something splashing into water",
        category="water",
    ),
    R(r"liquids/stereorain", "rain falling|steady rain", "ambience", "rain"),
    R(r"liquids/swim", "someone swimming|splashing in water", category="water"),
    R(r"liquids/waterdrop", "a drop of water falling|water dripping", category="water"),
    # objects and weapons
    R(
        r"objects/(?:arrow|weapons/bow)/shoot",
        "an arrow being shot from a bow|a bowstring twang",
        category="weapon",
    ),
    R(
        r"objects/(?:arrow|weapons/javelin)/hitground",
        "an arrow hitting the ground|a thud in the dirt",
        category="weapon",
    ),
    R(
        r"objects/weapons/bow/(?:draw|load)",
        "a bow being drawn|a bowstring stretching",
        category="weapon",
    ),
    R(r"objects/weapons/javelin/throw", "a spear being thrown|a whoosh", category="weapon"),
    R(
        r"objects/weapons/blunderbuss/(?:gunshoot|bulletshot)",
        "a musket firing|an old gun shot",
        category="gun",
    ),
    R(r"objects/weapons/blunderbuss/click", "a gun being cocked|a gun clicking", category="gun"),
    R(
        r"objects/weapons/shield/(?:metalhit|weaponhitshield)",
        "a sword hitting a metal shield|a clang of metal",
        category="weapon",
    ),
    R(
        r"objects/weapons/shield/woodhit",
        "a weapon hitting a wooden shield|a wooden knock",
        category="weapon",
    ),
    R(r"objects/weapons/weaponhit", "a sword hitting|a weapon strike", category="weapon"),
    R(r"objects/weapons/weaponswing", "a sword swinging|a whoosh", category="weapon"),
    R(
        r"objects/balloon/inflate",
        "a balloon being inflated|air hissing into a balloon",
        category="other",
    ),
    R(r"objects/balloon/pop", "a balloon popping|a pop", category="other"),
    R(r"objects/catapult_launch", "a catapult launching|a wooden catapult", category="weapon"),
    R(
        r"objects/lorry/dump",
        "a cart dumping rocks|rubble being tipped out",
        category="other",
    ),
    R(
        r"objects/pickaxe/clang(?:hard)?",
        "a pickaxe striking rock|metal clanging on stone",
        category="other",
    ),
    R(r"objects/plane/planecrash", "a plane crashing|a crash", category="aircraft"),
    R(
        r"objects/plane/propellerloop",
        "a propeller engine|a propeller plane flying",
        category="aircraft",
    ),
    R(r"objects/spraycan", "a spray can hissing|spray paint", category="other"),
    R(r"objects/windbag/gust", "a gust of wind|a blast of air", category="wind"),
    # buildings and machines
    R(r"structures/chest/open", "a wooden chest opening|a wooden lid creaking", category="door"),
    R(r"structures/chest/close", "a wooden chest closing|a wooden lid shutting", category="door"),
    R(r"structures/doorclose", "a door closing|a door shutting", category="door"),
    R(r"structures/dooropen", "a door opening|a door creaking open", category="door"),
    R(
        r"structures/doorunlock",
        "a door being unlocked|a key turning in a lock",
        category="door",
    ),
    R(r"structures/elevator/drilling", "a drill boring|a drilling machine", category="machine"),
    R(
        r"structures/elevator/(?:moving|start|stop)",
        "an elevator moving|a lift machine",
        category="machine",
    ),
    R(r"structures/fanloop", "a fan whirring|an electric fan", category="machine"),
    R(r"structures/furnace/loop", "a furnace roaring|a blazing furnace", category="fire"),
    R(r"structures/hingecreak", "a creaking hinge|a squeaky door hinge", category="door"),
    R(r"structures/pumpjack", "a pump jack working|an oil pump", category="machine"),
    R(
        r"structures/sawmillripcut",
        "a sawmill cutting wood|a circular saw",
        category="machine",
    ),
    R(r"structures/steamengine", "a steam engine running|a steam engine", category="machine"),
    R(r"structures/stonegate/chain", "a chain rattling|a heavy chain", category="other"),
    R(
        r"structures/stonegate/gatemove",
        "a heavy stone gate moving|stone grinding on stone",
        category="door",
    ),
    R(r"structures/switchflip", "a switch being flipped|a lever clicking", category="other"),
    R(
        r"structures/wheelsturn",
        "wheels turning|a wooden wheel creaking",
        category="machine",
    ),
    R(r"structures/repair", "hammering|someone repairing with a hammer", category="other"),
]


def read_openclonk(group: Path = SOUND_GROUP) -> list[Clip]:
    """Clips of the effects in OpenClonk's ``Sound.ocg`` that a rule describes."""
    clips = []
    for name, blob in container_entries(group, "openclonk-data", read_group):
        rel = _path(name)
        found = match(OPENCLONK_RULES, rel) if rel.lower().endswith((".ogg", ".wav")) else None
        if found is not None:
            key = f"openclonk/{rel.rsplit('.', 1)[0]}"
            label = rel.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower()
            clips.append(blob_clip(key, label, found, blob, f"{group}:{name}"))
    return clips


SOURCES_V4: dict[str, Source] = {
    "openclonk": Source(
        lambda seed: read_openclonk(),
        "CC-BY-3.0 (Sound.ocg authors.txt; engine ISC)",
        ("openclonk-data",),
    ),
}
