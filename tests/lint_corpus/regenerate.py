#!/usr/bin/env python3
"""tests/lint_corpus/regenerate.py: check the lint corpus and write what the squawk CLI finds.

1. Applies each set's up scripts in order to a throwaway PostgreSQL database (127.0.0.1:5432,
   trust auth, user postgres), each in one transaction (psql --single-transaction) unless the
   migration is marked no-transaction, the way shipgate would; the database is dropped after.
2. Runs `squawk --reporter json` on every up file (dbmate: the whole file; findings of the down
   section are listed separately), with --assume-in-transaction unless the migration is
   no-transaction, and with require-timeout-settings, require-lock-timeout and
   require-statement-timeout excluded (shipgate sets lock_timeout itself).
3. Writes expected.json ({path: [{rule, line, column}]}, up sections only) and squawk_raw.json
   (squawk's own output per file, down-section findings included).

Positions in expected.json are shipgate's: line and column 1-based, the column counted in
characters (not bytes), a BOM not a column, the `\\r` of a CRLF not a column. squawk's JSON has
0-based lines and 0-based UTF-8 *byte* columns (a BOM counts 3 bytes): converted here.

Usage: SQUAWK=/tmp/squawk-venv/bin/squawk tests/lint_corpus/regenerate.py [--no-apply]
"""
import json, os, re, subprocess, sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SQUAWK = os.environ.get("SQUAWK", "squawk")
EXCLUDE = "require-timeout-settings,require-lock-timeout,require-statement-timeout"
PG = ["-h", "127.0.0.1", "-U", "postgres"]
BOM = "\ufeff"


class Up:
    def __init__(self, path, text, start, end, no_tx):
        self.path, self.text, self.start, self.end, self.no_tx = path, text, start, end, no_tx

    @property
    def sql(self):
        return self.text[self.start:self.end]


def read(p):
    return p.read_bytes().decode("utf-8")


def marked(sql):  # `-- shipgate:no-transaction` on a line of its own, anywhere
    return any(l.strip() == "-- shipgate:no-transaction" for l in sql.splitlines())


def lead(name):
    return int(re.match(r"\d+", name.replace("-", "")).group())


def whole(p, no_tx_default=False):
    t = read(p)
    s = 1 if t.startswith(BOM) else 0
    return Up(p, t, s, len(t), no_tx_default or t[s:].startswith("-- no-transaction") or marked(t[s:]))


def dbmate(p):
    t = read(p)
    marks, off = [], 0
    for line in t.splitlines(keepends=True):
        tr = line.lstrip(BOM).strip()
        for kind in ("up", "down"):
            if tr.startswith(f"-- migrate:{kind}"):
                marks.append((off, off + len(line), kind, "transaction:false" in tr))
        off += len(line)
    i = next(i for i, m in enumerate(marks) if m[2] == "up")
    end = marks[i + 1][0] if i + 1 < len(marks) else len(t)
    up = Up(p, t, marks[i][1], end, marks[i][3] or marked(t[marks[i][1]:end]))
    return up


def ups(setdir):
    """(relative path, Up) of a set, in the order shipgate applies them."""
    name = setdir.name
    out = []
    if name in ("sqlx", "dbmate"):
        for p in sorted(setdir.glob("*.sql"), key=lambda p: lead(p.name)):
            out.append(dbmate(p) if name == "dbmate" else whole(p))
    elif name == "pairs":
        for p in sorted(setdir.glob("*.up.sql"), key=lambda p: lead(p.name)):
            out.append(whole(p))
    elif name == "diesel":
        for d in sorted((d for d in setdir.iterdir() if d.is_dir()), key=lambda d: lead(d.name)):
            meta = d / "metadata.toml"
            no_tx = meta.exists() and re.search(r"run_in_transaction\s*=\s*false", read(meta)) is not None
            out.append(whole(d / "up.sql", no_tx))
    elif name == "flyway":
        vs = [p for p in setdir.glob("V*__*.sql")]
        key = lambda p: [int(x) for x in re.split(r"[._]", p.name[1:].split("__")[0])]
        for p in sorted(vs, key=key):
            conf = Path(str(p) + ".conf")
            no_tx = conf.exists() and any(l.replace(" ", "") == "executeInTransaction=false" for l in read(conf).splitlines())
            out.append(whole(p, no_tx))
    elif name == "prisma":
        for d in sorted((d for d in setdir.iterdir() if d.is_dir()), key=lambda d: lead(d.name)):
            out.append(whole(d / "migration.sql"))
    return out


def psql(db, *args, stdin=None):
    r = subprocess.run(["psql", *PG, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, *args],
                       input=stdin, capture_output=True, text=True)
    return r


def apply(setdir, migrations):
    db = f"lintcorpus_{setdir.name}"
    psql("postgres", "-c", f"DROP DATABASE IF EXISTS {db}")
    r = psql("postgres", "-c", f"CREATE DATABASE {db}")
    assert r.returncode == 0, r.stderr
    try:
        for m in migrations:
            args = [] if m.no_tx else ["--single-transaction"]
            r = psql(db, *args, "-f", "-", stdin=m.sql)
            rel = m.path.relative_to(HERE)
            if r.returncode != 0:
                sys.exit(f"FAILED applying {rel}:\n{r.stderr}")
            print(f"  applied {rel}{' (no transaction)' if m.no_tx else ''}")
    finally:
        psql("postgres", "-c", f"DROP DATABASE IF EXISTS {db}")


def shipgate_pos(text, line0, col0_bytes):
    """squawk's (0-based line, 0-based byte column) -> (char offset, 1-based line, 1-based char column)."""
    b = text.encode("utf-8")
    starts = [0] + [i + 1 for i, c in enumerate(b) if c == 0x0A]
    off_b = starts[line0] + col0_bytes
    off = len(b[:off_b].decode("utf-8"))
    before = text[:off]
    line = before.count("\n") + 1
    cols = before[before.rfind("\n") + 1:]
    if line == 1:
        cols = cols.lstrip(BOM)
    if text[off:off + 1] == "\n":
        cols = cols.removesuffix("\r")
    return off, line, len(cols) + 1


def main():
    do_apply = "--no-apply" not in sys.argv
    expected, raw = {}, {}
    for setdir in sorted(d for d in HERE.iterdir() if d.is_dir()):
        migrations = ups(setdir)
        print(f"{setdir.name}: {len(migrations)} migrations")
        if do_apply:
            apply(setdir, migrations)
        for m in migrations:
            rel = str(m.path.relative_to(HERE))
            cmd = [SQUAWK, "--reporter", "json", "--exclude", EXCLUDE]
            if not m.no_tx:
                cmd.append("--assume-in-transaction")
            r = subprocess.run(cmd + [str(m.path)], capture_output=True, text=True)
            found = json.loads(r.stdout or "[]")
            rows, raw_rows = [], []
            for f in found:
                off, line, col = shipgate_pos(m.text, f["line"], f["column"])
                section = "up" if m.start <= off < m.end or m.start == 0 and m.end == len(m.text) else "down"
                if setdir.name != "dbmate":
                    section = "up"
                raw_rows.append({"rule": f["rule_name"], "squawk_line": f["line"], "squawk_column": f["column"],
                                 "line": line, "column": col, "section": section, "message": f["message"]})
                if section == "up":
                    rows.append({"rule": f["rule_name"], "line": line, "column": col})
            rows.sort(key=lambda x: (x["line"], x["column"], x["rule"]))
            expected[rel] = rows
            raw[rel] = {"assume_in_transaction": not m.no_tx, "findings": raw_rows}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=2, ensure_ascii=False) + "\n")
    (HERE / "squawk_raw.json").write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n")
    version = subprocess.run([SQUAWK, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{version}: {sum(map(len, expected.values()))} findings in up sections, "
          f"{sum(1 for v in raw.values() for f in v['findings'] if f['section'] == 'down')} in dbmate down sections")


if __name__ == "__main__":
    main()
