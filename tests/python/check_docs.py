#!/usr/bin/python3
"""Link check of the repository's Markdown documentation (standard library only).

Usage: python3 tests/python/check_docs.py [REPO_ROOT] [--include-untracked]

For every tracked *.md file (`git ls-files '*.md'`; with --include-untracked also the untracked
files git does not ignore, to check pages before they are committed), every Markdown link
(inline `[text](target)`, images `![alt](target)`, reference definitions `[id]: target` and
autolinks `<scheme:target>`) outside fenced code blocks and inline code spans is checked:
  * a relative target must exist in the working tree (the part after '#' stripped; resolved
    against the linking file's folder, or against the repository root when it starts with '/');
  * a target with an anchor into a .md file (or a bare '#anchor' into the file itself) must
    name a heading of that file under GitHub's slug rules (lower case, punctuation other than
    '-' and '_' dropped, spaces to '-', '-1', '-2', ... for repeated headings), or an explicit
    <a name="..."> / id="..." anchor;
  * no target may point outside the repository: no path that leaves the root (../shared/...),
    no absolute file-system path (/work/..., file://...).
URLs with a scheme (https:, http:, mailto:, ...) are not fetched.

Each failure is printed on stdout as `FILE:LINE: broken link TARGET`, its reason on stderr;
the exit status is 1 on any failure, otherwise 0 with a one-line summary.
"""
import os
import re
import subprocess
import sys
import unicodedata
from urllib.parse import unquote

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
INLINE_LINK = re.compile(r"!?\[((?:[^\[\]\\]|\\.|\[[^\[\]]*\])*)\]\(\s*(<[^>]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
REF_DEF = re.compile(r"^ {0,3}\[([^\]]+)\]:\s*(<[^>]*>|\S+)")
AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^<>\s]*)>")  # CommonMark: a scheme
HTML_ANCHOR = re.compile(r"<a\s[^>]*(?:name|id)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
HTML_ID = re.compile(r"\sid\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)


def blank(match):
    """A code span blanked, its line breaks kept (so line numbers stay put)."""
    return "".join(c if c == "\n" else " " for c in match.group(0))


def without_code_spans(lines):
    """(line number, line) with inline code spans blanked; a span may continue on the next line
    of its paragraph, as in CommonMark, but never past a blank line."""
    out, block = [], []

    def flush():
        if block:
            text = CODE_SPAN.sub(blank, "\n".join(l for _, l in block))
            out.extend(zip((n for n, _ in block), text.split("\n")))
            block.clear()

    previous = None
    for number, line in lines:
        if not line.strip() or (previous is not None and number != previous + 1):
            flush()
        if line.strip():
            block.append((number, line))
        previous = number
    flush()
    return out


def prose_lines(text):
    """(line number, line) of the lines outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if fence is None:
            if m:
                fence = m.group(1)
                continue
            yield number, line
        elif m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and \
                line.strip() == m.group(1):
            fence = None


def heading_text_to_plain(text):
    """What GitHub renders of a heading's inline Markdown, as plain text."""
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", text)   # images -> alt text
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)    # links -> their text
    text = re.sub(r"\[([^\]]*)\]\[[^\]]*\]", r"\1", text)   # reference links
    text = re.sub(r"<[^>]+>", "", text)                      # inline HTML tags
    text = text.replace("`", "")
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)", r"\1", text)
    return text.strip()


def slug(text):
    """GitHub's heading anchor: lower case; letters, digits, marks, connector punctuation
    ('_'), '-' and spaces kept, everything else dropped; spaces become '-'."""
    out = []
    for ch in heading_text_to_plain(text).lower():
        cat = unicodedata.category(ch)
        if ch == " ":
            out.append("-")
        elif ch == "-" or cat[0] in "LMN" or cat == "Pc":
            out.append(ch)
    return "".join(out)


def anchors_of(path, cache):
    if path in cache:
        return cache[path]
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        cache[path] = set()
        return cache[path]
    found, seen = set(), {}
    previous = None
    for _, line in prose_lines(text):
        title = None
        m = ATX.match(line)
        if m:
            title = m.group(2)
        elif previous is not None and previous.strip() and SETEXT.match(line) and \
                not ATX.match(previous) and not previous.lstrip().startswith(("|", "-", "*", ">")):
            title = previous
        if title is not None:
            base = slug(title)
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
        for a in HTML_ANCHOR.findall(line) + HTML_ID.findall(line):
            found.add(a)
        previous = line
    cache[path] = found
    return found


def links_in(text):
    """(line number, target) of every link outside code."""
    for number, prose in without_code_spans(prose_lines(text)):
        m = REF_DEF.match(prose)
        if m:
            yield number, m.group(2).strip("<>")
            continue
        for m in INLINE_LINK.finditer(prose):
            yield number, m.group(2).strip("<>")
        for m in AUTOLINK.finditer(prose):
            yield number, m.group(1)


def check_file(root, rel, cache):
    failures = []
    path = os.path.join(root, rel)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    here = os.path.dirname(path)
    real_root = os.path.realpath(root)
    count = 0
    for number, target in links_in(text):
        count += 1

        def fail(reason):
            failures.append((f"{rel}:{number}: broken link {target}", reason))

        if not target:
            fail("empty target")
            continue
        if target.startswith("file:"):
            fail("points outside the repository (a file: URL)")
            continue
        if SCHEME.match(target):
            continue  # https:, mailto:, ...: not fetched
        file_part, _, anchor = target.partition("#")
        file_part = file_part.split("?", 1)[0]
        if not file_part:
            dest = path
        else:
            decoded = unquote(file_part)
            if decoded.startswith("/"):
                # GitHub resolves '/x' against the repository root; a path whose first
                # component is no top-level entry of the repository is a file-system path
                # (/work/..., /home/...), outside the repository.
                first = decoded.lstrip("/").split("/", 1)[0]
                if not first or not os.path.exists(os.path.join(root, first)):
                    fail("points outside the repository (an absolute path)")
                    continue
                dest = os.path.join(root, decoded.lstrip("/"))
            else:
                dest = os.path.join(here, decoded)
            norm = os.path.normpath(dest)
            if os.path.commonpath([os.path.realpath(norm), real_root]) != real_root or \
                    os.path.commonpath([os.path.abspath(norm), os.path.abspath(root)]) != os.path.abspath(root):
                fail("points outside the repository")
                continue
            if not os.path.exists(norm):
                fail("no such file or folder")
                continue
            dest = norm
        if anchor:
            if os.path.isdir(dest) or not dest.lower().endswith((".md", ".markdown")):
                continue  # line anchors into source files (#L10) are GitHub's, not checked
            if anchor not in anchors_of(dest, cache) and anchor.lower() not in anchors_of(dest, cache):
                fail(f"no heading gives the anchor #{anchor} in "
                     f"{os.path.relpath(dest, root)}")
    return failures, count


def markdown_files(root, include_untracked):
    cmd = ["git", "-C", root, "ls-files", "-z"]
    if include_untracked:
        cmd += ["--cached", "--others", "--exclude-standard"]
    cmd += ["--", "*.md"]
    try:
        out = subprocess.run(cmd, check=True, capture_output=True).stdout.decode("utf-8")
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"check_docs: error: cannot list the Markdown files of {root} with git: {e}")
    files = sorted({f for f in out.split("\0") if f})
    # A file deleted in the working tree but still in the index has nothing to check.
    return [f for f in files if os.path.isfile(os.path.join(root, f))]


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    flags = [a for a in argv[1:] if a.startswith("--")]
    unknown = [f for f in flags if f != "--include-untracked"]
    if unknown or len(args) > 1:
        print("usage: check_docs.py [REPO_ROOT] [--include-untracked]", file=sys.stderr)
        return 1
    start = os.path.abspath(args[0] if args else os.getcwd())
    try:  # the repository's root, also when started in a subfolder
        root = subprocess.run(["git", "-C", start, "rev-parse", "--show-toplevel"], check=True,
                              capture_output=True).stdout.decode("utf-8").strip() or start
    except (OSError, subprocess.CalledProcessError):
        print(f"check_docs: error: {start} is not inside a git repository", file=sys.stderr)
        return 1
    files = markdown_files(root, "--include-untracked" in flags)
    if not files:
        print(f"check_docs: error: no Markdown files found under {root}", file=sys.stderr)
        return 1
    cache, failures, links = {}, [], 0
    for rel in files:
        f, n = check_file(root, rel, cache)
        failures += f
        links += n
    for line, reason in failures:
        print(line, flush=True)
        print(f"  ({reason})", file=sys.stderr, flush=True)
    if failures:
        print(f"check_docs: {len(failures)} broken link(s) in {len(files)} Markdown files", file=sys.stderr)
        return 1
    print(f"check_docs: ok, {links} links in {len(files)} Markdown files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
