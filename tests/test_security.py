"""What root runs, imports and unmarshals, and files kdbg must not be redirected to
(issue 13, 2.1 and 2.2).

Root must not run a plugin, nor act on a cache entry, that a user other than root (or, for
plugins, the invoking user) could have written; the cache and the REPL's history file must
not be reached through someone else's symlink. The other users are real: files are given to
``nobody`` with chown, and the non-root side (a user's own plugins and cache still work for
that user, and their poisoned cache entry really is served to them, which shows the
poison would work on root) runs as ``nobody`` from the root run, through ``setpriv``.

That ``nobody`` process (:func:`tests.cli_support.as_nobody`) keeps one capability,
``CAP_DAC_READ_SEARCH``: it may read and traverse any directory, so that it can run this
checkout with whatever interpreter root uses. It changes no ownership and grants no write
access, which is all these tests are about. Giving files to another user and running as
one needs root: the suite runs as root (``.ci/run``).
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import pytest

from kdbg import cache
from tests.cli_support import IS_ROOT, ROOT, Terminal, as_nobody, clean_env, nobody
from tests.kallsyms_truth import truth_vmlinux

NOBODY = nobody()

#: Where a refused plugin would leave its mark.
PWN = """\
from pathlib import Path

Path({marker!r}).write_text("ran")

from kdbg.ui.commands import command


@command("pwn", "a plugin that must not run as root unless root may trust it")
def _pwn(prog, args, ctx):
    ctx.out.write("pwned\\n")
"""


def _env(tmp: Path, **extra: str) -> Dict[str, str]:
    """The tests' controlled environment with an empty plugin directory and no cache
    (``extra``: changes, a ``KDBG_CACHE`` among them turns the cache on there)."""
    config = tmp / "config"
    config.mkdir(exist_ok=True)
    os.chmod(config, 0o755)
    changes: Dict[str, Optional[str]] = {"XDG_CONFIG_HOME": str(config), "KDBG_CACHE": None, "KDBG_NO_CACHE": "1",
                                         "PYTHONNOUSERSITE": "1"}
    if "KDBG_CACHE" in extra:
        changes["KDBG_NO_CACHE"] = None
    changes.update(extra)
    return clean_env(**changes)


def give_to_nobody(*paths: Path) -> None:
    """chown to nobody (only root can)."""
    assert IS_ROOT, "giving files to another user needs root (the suite runs as root)"
    for p in paths:
        os.chown(p, NOBODY.pw_uid, NOBODY.pw_gid, follow_symlinks=False)


def kdbg(args: Sequence[str], env: Dict[str, str], *, as_user: bool = False,
         stdin: Optional[str] = None) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "kdbg", *args]
    return subprocess.run(as_nobody(argv) if as_user else argv, capture_output=True, text=True, cwd=ROOT, env=env,
                          input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL, timeout=300)


def python(code: str, env: Dict[str, str], *args: str, as_user: bool = False) -> str:
    argv = [sys.executable, "-c", code, *args]
    p = subprocess.run(as_nobody(argv) if as_user else argv, capture_output=True, text=True, cwd=ROOT, env=env,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    return p.stdout


def truth_address(truth: Path, name: str) -> int:
    return next(addr for addr, _t, sym in truth_vmlinux(truth) if sym == name)


# ----------------------------------------------------------------------------- plugins


def _plugin(d: Path, marker: Path, name: str = "pwn.py") -> Path:
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o755)
    f = d / name
    f.write_text(PWN.format(marker=str(marker)))
    os.chmod(f, 0o644)
    return f


def _refused(path: Path, what: str, why: str) -> str:
    return f"kdbg: warning: plugin {what} {path} {why}: not loaded (running as root)"


NOT_TRUSTED = "owned by uid {uid} (nobody), neither root nor the invoking user"


@pytest.mark.parametrize("case", ["dir-and-file", "file", "ancestor", "symlink"])
def test_root_refuses_a_plugin_another_user_could_write(case: str, sample_dump, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A plugin owned by nobody (modes 755/644: nobody may write it, nobody else), in a
    nobody-owned directory, below one, or reached through a symlink: refused, named, not
    run; kdbg still starts and the rest works."""
    marker = tmp_path / "marker"
    owned = NOT_TRUSTED.format(uid=NOBODY.pw_uid)
    if case == "dir-and-file":
        d = tmp_path / "p"
        f = _plugin(d, marker)
        give_to_nobody(d, f)
        warning = _refused(d, "directory", f"is {owned}")
    elif case == "file":
        d = tmp_path / "p"
        f = _plugin(d, marker)
        give_to_nobody(f)
        warning = _refused(f, "file", f"is {owned}")
    elif case == "ancestor":
        user = tmp_path / "user"
        user.mkdir()
        os.chmod(user, 0o755)
        d = user / "plugins"
        _plugin(d, marker)  # root's own file and directory, below nobody's
        give_to_nobody(user)
        warning = _refused(d, "directory", f"is in {user}, which is {owned}")
    else:
        target = _plugin(tmp_path / "elsewhere", marker, "target.py")
        give_to_nobody(target)
        d = tmp_path / "p"
        d.mkdir()
        (d / "pwn.py").symlink_to(target)
        warning = _refused(d / "pwn.py", "file", f"leads to {target}, which is {owned}")
    env = _env(tmp_path)
    p = kdbg(["-q", "--plugin-path", str(d), "-c", str(sample_dump.path), "-x", "pwn", "-x", "sym init_task"], env)
    assert not marker.exists(), "root ran a plugin another user could write"
    assert p.stderr.splitlines() == [warning, "kdbg: unknown command 'pwn' (try 'help')"]
    assert p.returncode == 1
    assert int(p.stdout.split()[0], 16) == truth_address(sample_dump.truth, "init_task")


def test_root_runs_the_invoking_users_plugin(sample_dump, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Under sudo the invoking user (SUDO_UID) may own the plugin: it is theirs to run."""
    marker = tmp_path / "marker"
    d = tmp_path / "p"
    f = _plugin(d, marker)
    give_to_nobody(d, f)
    env = _env(tmp_path, SUDO_UID=str(NOBODY.pw_uid), SUDO_GID=str(NOBODY.pw_gid))
    p = kdbg(["-q", "--plugin-path", str(d), "-c", str(sample_dump.path), "-x", "pwn"], env)
    assert (p.returncode, p.stdout, p.stderr) == (0, "pwned\n", "")
    assert marker.read_text() == "ran"


def test_a_user_runs_their_own_and_roots_plugins(sample_dump, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The non-root side: nobody's own plugin and a root-owned one both load for nobody."""
    os.chmod(tmp_path, 0o755)
    marker = tmp_path / "marks"
    marker.mkdir()
    give_to_nobody(marker)
    own = tmp_path / "own"
    _plugin(own, marker / "own")
    give_to_nobody(own, own / "pwn.py")
    roots = tmp_path / "roots"
    (roots).mkdir()
    (roots / "other.py").write_text(PWN.format(marker=str(marker / "root")).replace('"pwn"', '"rootcmd"'))
    env = _env(tmp_path)
    p = kdbg(["-q", "--plugin-path", str(own), "--plugin-path", str(roots), "-c", str(sample_dump.path),
              "-x", "pwn", "-x", "rootcmd"], env, as_user=True)
    assert (p.returncode, p.stdout, p.stderr) == (0, "pwned\npwned\n", "")
    assert (marker / "own").exists() and (marker / "root").exists()


# ------------------------------------------------------------------------------- cache

#: As nobody, rewrite the kallsyms entry so that init_task's name reads kdbg_poison (a
#: valid entry: the checksum is recomputed, the addresses still match memory).
POISON_KALLSYMS = """
import marshal, os, struct
from kdbg import cache
root = cache.cache_root()
d = os.path.join(root, "kallsyms")
(name,) = [n for n in os.listdir(d) if n.endswith(".kce")]
data = open(os.path.join(d, name), "rb").read()
klen = struct.unpack_from("<I", data, 40)[0]
key = data[44:44 + klen].decode()
blob = list(marshal.loads(cache.load("kallsyms", key)))
names = blob[1]
names[names.index("init_task")] = "kdbg_poison"
cache.store("kallsyms", key, marshal.dumps(tuple(blob)))
print(key)
"""

#: As nobody, make the BTF name index say that struct list_head is struct hlist_head.
POISON_BTF = """
import marshal, os, struct, sys
from array import array
import kdbg
from kdbg import cache
# the name index is built on demand (a first lookup searches the strings): build and store it
prog = kdbg.open_core(sys.argv[1])
prog.btf.build_index()
prog.close()
root = cache.cache_root()
d = os.path.join(root, "btf")
def entries():
    for name in sorted(os.listdir(d)):
        if name.endswith(".kce"):
            data = open(os.path.join(d, name), "rb").read()
            klen = struct.unpack_from("<I", data, 40)[0]
            key = data[44:44 + klen].decode()
            yield key, list(marshal.loads(cache.load("btf", key)))
# vmlinux's entry: the one whose stored name index has both names (a module's split BTF
# has an entry of its own)
(key, blob), = [(k, b) for k, b in entries()
                if b[4] is not None and "\\0list_head\\0" in b[4][0] and "\\0hlist_head\\0" in b[4][0]]
text, ids, dups = blob[4]
names = text.split("\\0")
idarr = array("I")
idarr.frombytes(ids)
a, b = names.index("list_head"), names.index("hlist_head")
idarr[a], idarr[b] = idarr[b], idarr[a]
blob[4] = (text, idarr.tobytes(), dups)
cache.store("btf", key, marshal.dumps(tuple(blob)))
"""


def test_entry_header_layout_is_what_the_poisoners_read() -> None:
    """The poisoning scripts read an entry's key at offset 40 (length) and 44 (text)."""
    assert cache._HEAD.size == 44 and cache._HEAD.format in ("<8s32sI", b"<8s32sI")


@pytest.fixture
def user_cache(tmp_path: Path, sample_dump) -> Iterator[Dict[str, str]]:  # type: ignore[no-untyped-def]
    """A cache directory nobody owns, filled by nobody's own kdbg run on the sample; the
    environment to use it."""
    os.chmod(tmp_path, 0o755)
    c = tmp_path / "nobody-cache"
    c.mkdir()
    give_to_nobody(c)
    env = _env(tmp_path, KDBG_CACHE=str(c))
    p = kdbg(["-q", "-c", str(sample_dump.path), "-x", "sym init_task", "-x", "ptype struct list_head"], env,
             as_user=True)
    assert p.returncode == 0, p.stderr
    assert {"btf", "kallsyms"} <= set(os.listdir(c))
    yield env


def test_a_poisoned_kallsyms_entry_is_served_to_its_owner_only(user_cache: Dict[str, str], sample_dump) -> None:  # type: ignore[no-untyped-def]
    """nobody rewrites its kallsyms entry (a valid one: checksum and memory checks pass).
    nobody's own kdbg believes it, which shows the poison works; root's ignores it and
    decodes kallsyms from the dump again."""
    python(POISON_KALLSYMS, user_cache, as_user=True)
    init_task = truth_address(sample_dump.truth, "init_task")
    theirs = kdbg(["-q", "-c", str(sample_dump.path), "-x", "sym kdbg_poison"], user_cache, as_user=True)
    assert theirs.returncode == 0 and int(theirs.stdout.split()[0], 16) == init_task, theirs
    ours = kdbg(["-q", "-c", str(sample_dump.path), "-x", "sym kdbg_poison", "-x", "sym init_task"], user_cache)
    assert ours.returncode == 1
    assert ours.stderr.splitlines() == ["kdbg: sym: no symbol 'kdbg_poison'"], ours.stderr
    assert int(ours.stdout.split()[0], 16) == init_task


def test_a_poisoned_btf_index_is_served_to_its_owner_only(user_cache: Dict[str, str], sample_dump) -> None:  # type: ignore[no-untyped-def]
    """nobody swaps two names in its stored BTF name index: its own ptype of struct
    list_head then shows struct hlist_head; root's shows struct list_head."""
    python(POISON_BTF, user_cache, str(sample_dump.path), as_user=True)
    theirs = kdbg(["-q", "-c", str(sample_dump.path), "-x", "ptype struct list_head"], user_cache, as_user=True)
    assert theirs.returncode == 0 and theirs.stdout.startswith("struct hlist_head {"), theirs
    ours = kdbg(["-q", "-c", str(sample_dump.path), "-x", "ptype struct list_head"], user_cache)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout.startswith("struct list_head {\n\tstruct list_head *next;")


EP_MODULE = """\
print("entry point {name} ran")
"""


def test_root_imports_no_entry_point_a_user_listed(tmp_path: Path, sample_dump) -> None:  # type: ignore[no-untyped-def]
    """The entry-point cache lists modules kdbg imports at start. nobody rewrites its own
    entry to name another module: nobody's kdbg imports it, root's does not (it scans the
    installed distributions again and finds only the real entry point)."""
    os.chmod(tmp_path, 0o755)
    site = tmp_path / "site"
    info = site / "kdbg_ep_good-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kdbg-ep-good\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[kdbg.plugins]\ngood = kdbg_ep_good\n")
    (site / "kdbg_ep_good.py").write_text(EP_MODULE.format(name="good"))
    (site / "kdbg_ep_evil.py").write_text(EP_MODULE.format(name="evil"))
    for p in [site, info, *site.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    c = tmp_path / "nobody-cache"
    c.mkdir()
    give_to_nobody(c)
    env = _env(tmp_path, KDBG_CACHE=str(c), PYTHONPATH=f"{site}{os.pathsep}{ROOT}")
    args = ["-q", "-c", str(sample_dump.path), "-x", "sym init_task"]
    first = kdbg(args, env, as_user=True)
    assert first.returncode == 0 and first.stdout.startswith("entry point good ran\n"), first
    python(textwrap.dedent("""
        import os, struct
        from kdbg import cache
        d = os.path.join(cache.cache_root(), "entry-points")
        (name,) = os.listdir(d)
        data = open(os.path.join(d, name), "rb").read()
        klen = struct.unpack_from("<I", data, 40)[0]
        cache.store("entry-points", data[44:44 + klen].decode(), b"evil\\0kdbg_ep_evil\\n")
        """), env, as_user=True)
    theirs = kdbg(args, env, as_user=True)
    assert theirs.stdout.startswith("entry point evil ran\n"), theirs  # the rewritten entry is served
    ours = kdbg(args, env)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout.startswith("entry point good ran\n") and "evil" not in ours.stdout


@pytest.mark.parametrize("where", ["root", "kind"])
def test_store_never_follows_a_symlinked_cache_directory(where: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache root or a kind directory that is a symlink: nothing is written through
    it, nothing is read through it."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "cache"
    if where == "root":
        root.symlink_to(elsewhere)
    else:
        root.mkdir()
        (root / "btf").symlink_to(elsewhere)
    monkeypatch.setenv("KDBG_CACHE", str(root))
    monkeypatch.delenv("KDBG_NO_CACHE", raising=False)
    cache.store("btf", "k", b"payload")
    assert list(elsewhere.rglob("*")) == []
    # an entry planted behind the link is not read either
    (elsewhere / "btf").mkdir()
    real = tmp_path / "real"
    monkeypatch.setenv("KDBG_CACHE", str(real))
    cache.store("btf", "k", b"planted")
    (entry,) = list(real.rglob("*.kce"))
    target = elsewhere / "btf" if where == "root" else elsewhere
    os.replace(entry, target / entry.name)
    monkeypatch.setenv("KDBG_CACHE", str(root))
    assert cache.load("btf", "k") is None


def test_root_follows_only_its_own_symlinks_above_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the cache root, a symlink root made (/home -> /srv/home, say) is followed; one
    nobody owns is not: root writes nothing where nobody pointed it."""
    monkeypatch.delenv("KDBG_NO_CACHE", raising=False)
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "roots-link").symlink_to(real)
    monkeypatch.setenv("KDBG_CACHE", str(tmp_path / "roots-link" / "cache"))
    cache.store("btf", "k", b"x")
    assert cache.load("btf", "k") == b"x"
    assert len(list((real / "cache" / "btf").glob("*.kce"))) == 1
    victim = tmp_path / "victim"
    victim.mkdir()
    planted = tmp_path / "users-link"
    planted.symlink_to(victim)
    give_to_nobody(planted)
    monkeypatch.setenv("KDBG_CACHE", str(planted / "cache"))
    cache.store("btf", "k", b"x")
    assert list(victim.rglob("*")) == []


# ----------------------------------------------------------------------------- history


def _repl(tmp_path: Path, state: Path, sample: Path, as_user: bool, terminals: List[Terminal],
          n: int = 1) -> List[str]:
    """Run the REPL in a terminal with XDG_STATE_HOME=state, type ``n+n`` and Ctrl-D;
    the screen."""
    argv = [sys.executable, "-m", "kdbg", "-c", str(sample)]
    cmd = shlex.join(as_nobody(argv) if as_user else argv) + "; echo KDBG-EXITED=$?; sleep 600"
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    t = Terminal(cmd, ROOT, env={"XDG_CONFIG_HOME": str(config), "XDG_STATE_HOME": str(state), "NO_COLOR": "1",
                                 "KDBG_CACHE": None, "KDBG_NO_CACHE": "1"})
    terminals.append(t)
    t.wait(lambda lines: any(line.startswith(">>>") for line in lines), "the prompt")
    t.send(f"{n}+{n}", "Enter")
    t.wait(lambda lines: str(2 * n) in lines, f"{n}+{n}'s answer")
    t.send("C-d")
    return t.wait(lambda lines: any(line.startswith("KDBG-EXITED=") for line in lines), "the REPL to end")


@pytest.fixture()
def terminals() -> Iterator[List[Terminal]]:
    made: List[Terminal] = []
    yield made
    for t in made:
        t.close()


@pytest.mark.parametrize("case", ["symlink", "foreign"])
def test_history_never_writes_anothers_file(case: str, tmp_path: Path, sample_dump, terminals) -> None:  # type: ignore[no-untyped-def]
    """$XDG_STATE_HOME/kdbg/history a symlink to another file, or (as root) a file nobody
    owns: the REPL warns once, keeps its history in memory, and neither chmods nor
    appends to the file."""
    state = tmp_path / "state"
    (state / "kdbg").mkdir(parents=True)
    history = state / "kdbg" / "history"
    victim = tmp_path / "victim"
    victim.write_text("someone else's file\n")
    os.chmod(victim, 0o644)
    if case == "symlink":
        history.symlink_to(victim)
        why = f"{history} is a symlink"
    else:
        os.link(victim, history)
        give_to_nobody(victim)
        why = f"{history} is owned by uid {NOBODY.pw_uid} (nobody), not by you"
    lines = _repl(tmp_path, state, sample_dump.path, False, terminals)
    assert victim.read_text() == "someone else's file\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert "KDBG-EXITED=0" in lines
    assert f"kdbg: warning: no history: {why}: not used" in lines, lines


def test_history_is_kept_for_its_owner(tmp_path: Path, sample_dump, terminals) -> None:  # type: ignore[no-untyped-def]
    """The non-root side: nobody's own history file (made by nobody's first session) is
    appended to by its next one, and stays 0600."""
    os.chmod(tmp_path, 0o755)
    state = tmp_path / "state"
    state.mkdir()
    give_to_nobody(state)
    for n in (1, 2):
        lines = _repl(tmp_path, state, sample_dump.path, True, terminals, n)
        assert "KDBG-EXITED=0" in lines and not [line for line in lines if "warning" in line], lines
    history = state / "kdbg" / "history"
    st = history.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == NOBODY.pw_uid
    text = history.read_text()
    assert "+1+1\n" in text and "+2+2\n" in text


def test_trust_rules_without_root(tmp_path: Path) -> None:
    """kdbg.trust's rules on files of this user, judged for a set of ids without it (what
    root sees of a user's files), so the logic is checked on any machine."""
    from kdbg import trust

    me = os.geteuid()
    others = frozenset({0, me + 1}) - {me}
    f = tmp_path / "f"
    f.write_text("x")
    os.chmod(f, 0o644)
    assert trust.problem(os.stat(f), others, False) == f"owned by {trust.describe_uid(me)}"
    mine = frozenset({0, me})
    os.chmod(tmp_path, 0o755)
    trust.check_path(str(f), mine)  # no exception: mine, and only mine to write
    os.chmod(f, 0o664)
    with pytest.raises(trust.Untrusted, match="writable by group or others"):
        trust.check_path(str(f), mine)
    trust.check_path(str(f), mine, group_ok=True)
    os.chmod(f, 0o646)
    with pytest.raises(trust.Untrusted, match="writable by others"):
        trust.check_path(str(f), mine, group_ok=True)
