#!/usr/bin/env python3
"""Regenerates checks/patterns/secrets.toml from the gitleaks default config next to this file.

Usage: python3 tests/corpora/secrets/gitleaks/derive_patterns.py > checks/patterns/secrets.toml

What changes on the way (gitleaks scans files in git history; kgents-gate scans ConfigMap values
and container env values):
- `path` (a file-name regex) becomes `key_regex`, matched against the ConfigMap key; such rules do
  not apply to env values. A rule with only a path (pkcs12-file) flags a key by its name alone.
- allow-list `paths` become `keys` (ConfigMap keys) the same way; `commits` are dropped.
- gitleaks' built-in "generic rules need a digit in the secret" behaviour becomes `require_digit`.
- Regexes are kept verbatim: Go RE2 and the Rust `regex` crate share the syntax (no lookaround,
  no backreferences); the loader compiles them in ASCII mode like Go. A regex the Rust crate cannot
  compile is listed in TRANSLATIONS (rewritten) or DROPPED (left out, with the reason).
"""
import json
import re
import pathlib
import sys
import tomllib

HERE = pathlib.Path(__file__).parent
SOURCE = "gitleaks/gitleaks @ b58d3f102cf3a2c84cb7f923d05c25c9b1aed84b, config/gitleaks.toml"

# rule id -> {original regex: replacement}, for regexes the Rust crate rejects.
TRANSLATIONS = {}
# rule id -> reason, for rules that cannot be expressed.
DROPPED = {}


def s(value):
    """A TOML string: a literal string when possible (regexes read best unescaped)."""
    if "'" not in value and "\n" not in value:
        return "'" + value + "'"
    if "'''" not in value and not value.endswith("'") and "\n" not in value:
        return "'''" + value + "'''"
    return json.dumps(value, ensure_ascii=False)


def arr(values, indent="    "):
    if len(values) <= 3 and sum(len(v) for v in values) < 80:
        return "[" + ", ".join(s(v) for v in values) + "]"
    lines, line = [], ""
    for v in values:
        item = s(v) + ","
        if line and len(line) + 1 + len(item) > 100:
            lines.append(line)
            line = ""
        line = (line + " " + item) if line else indent + item
    if line:
        lines.append(line)
    return "[\n" + "\n".join(lines) + "\n]"


REPETITION = re.compile(r"\{\d+(?:,\d*)?\}")
TRANSLATED = set()


def escape_literal_braces(regex):
    """Go reads a `{` that does not start a repetition (`{2}`, `{2,}`, `{2,5}`) as a literal; the
    Rust crate rejects it. Escapes such braces (character classes are copied as they are)."""
    out, i, in_class, class_start = [], 0, False, False
    while i < len(regex):
        c = regex[i]
        if c == "\\":
            out.append(regex[i:i + 2])
            i += 2
        elif in_class:
            in_class = c != "]" or class_start
            class_start = False
            out.append(c)
            i += 1
        elif c == "[":
            in_class, class_start = True, True
            out.append(c)
            i += 1
            if regex[i:i + 1] == "^":
                out.append("^")
                i += 1
        elif c == "{":
            m = REPETITION.match(regex, i)
            if m and out:
                out.append(m.group(0))
                i = m.end()
            else:
                out.append("\\{")
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def tr(rule_id, regex):
    fixed = TRANSLATIONS.get(rule_id, {}).get(regex, escape_literal_braces(regex))
    if fixed != regex:
        TRANSLATED.add((rule_id, regex))
    return fixed


def main():
    cfg = tomllib.loads((HERE / "gitleaks.toml").read_text())
    rules = cfg["rules"]
    kept = [r for r in rules if r["id"] not in DROPPED]
    body = []
    w = body.append
    w("# Names of env variables and ConfigMap keys that hold credentials. A name is split into")
    w("# upper-case tokens at `_`, `-`, `.` and camelCase boundaries.")
    w("[names]")
    w("# A run of consecutive tokens equal to one of these marks a credential name.")
    w("keywords = " + arr([
        "PASSWORD", "PASSWD", "PWD", "PASS", "PASSPHRASE", "TOKEN", "SECRET", "SECRETS", "APIKEY",
        "API_KEY", "PRIVATE_KEY", "PRIVKEY", "CREDENTIALS", "CREDENTIAL", "CREDS", "ACCESS_KEY",
        "SECRET_KEY", "JWT", "BEARER", "AUTHTOKEN", "ACCESSTOKEN",
    ]))
    w("# A name whose last token is one of these is a credential name too (SIGNING_KEY, AZURE_BATCH_KEY) ...")
    w("last_tokens = ['KEY']")
    w("# ... unless the token before it is one of these (CACHE_KEY is not a credential).")
    w("last_token_exceptions = " + arr([
        "CACHE", "SORT", "PARTITION", "PRIMARY", "FOREIGN", "ROUTING", "IDEMPOTENCY", "LOOKUP", "PUBLIC",
        "PUB", "GROUP", "HASH", "SHARD", "BUCKET", "INDEX", "MAP", "MESSAGE", "QUEUE", "DEDUP", "TRACE",
    ]))
    w("# A name ending in one of these tokens names something about a credential, not the credential")
    w("# (TOKEN_FILE, SECRET_NAME, PASSWORD_MIN_LENGTH, TOKEN_URL).")
    w("ignore_last_tokens = " + arr([
        "FILE", "FILES", "PATH", "DIR", "DIRECTORY", "MOUNT", "LOCATION", "NAME", "ID", "URL", "URI",
        "ENDPOINT", "HOST", "PORT", "HEADER", "FIELD", "PARAM", "PREFIX", "SUFFIX", "TTL", "EXPIRY",
        "EXPIRES", "EXPIRATION", "LIFETIME", "TIMEOUT", "INTERVAL", "SECONDS", "MINUTES", "HOURS", "DAYS",
        "LENGTH", "LEN", "SIZE", "COUNT", "LIMIT", "MIN", "MAX", "RETRIES", "TYPE", "KIND", "MODE",
        "FORMAT", "ALGORITHM", "ALG", "ENABLED", "ENABLE", "DISABLED", "DISABLE", "REQUIRED", "VERSION",
        "ISSUER", "AUDIENCE", "REF", "SOURCE",
    ]))
    w("# Values that are not credentials even under a credential name: paths, references to other")
    w("# variables, templates, booleans.")
    w("ignore_values = " + arr([
        r"^(?:/|\./|\.\./|~/)\S*$",
        r"^\$\([A-Za-z_][A-Za-z0-9_]*\)$",
        r"^\$\{[^}]+\}$",
        r"^\{\{.*\}\}$",
        r"^(?i:true|false|yes|no|on|off|null|none)$",
    ]))
    w("")
    g = cfg["allowlist"]
    w("# Applies to every rule: a secret matching one of the regexes or containing a stopword is not reported.")
    w("[allowlist]")
    w("regexes = " + arr([tr("[allowlist]", x) for x in g.get("regexes", [])]))
    w("stopwords = " + arr(g.get("stopwords", [])))
    for r in kept:
        w("")
        w("[[rules]]")
        w(f"id = {s(r['id'])}")
        w(f"description = {s(r['description'])}")
        if "regex" in r:
            w(f"regex = {s(tr(r['id'], r['regex']))}")
        if "path" in r:
            w(f"key_regex = {s(r['path'])}")
        if "secretGroup" in r:
            w(f"secret_group = {r['secretGroup']}")
        if "entropy" in r:
            w(f"entropy = {r['entropy']}")
            if r["id"].startswith("generic"):
                w("require_digit = true")
        if r.get("keywords"):
            w("keywords = " + arr(r["keywords"]))
        for a in r.get("allowlists", []):
            w("[[rules.allowlists]]")
            if "description" in a:
                w(f"description = {s(a['description'])}")
            if "regexTarget" in a:
                w(f"target = {s(a['regexTarget'])}")
            if "condition" in a:
                w(f"condition = {s(a['condition'].lower())}")
            if a.get("regexes"):
                w("regexes = " + arr([tr(r["id"], x) for x in a["regexes"]]))
            if a.get("stopwords"):
                w("stopwords = " + arr(a["stopwords"]))
            if a.get("paths"):
                w("keys = " + arr(a["paths"]))
    out = []
    w = out.append
    w("# Credential pattern rules for the secret-hygiene probe (`configmap-credential`, and the")
    w("# by-value part of `env-plain-credential`). Data, not code: the loader validates every regex and")
    w("# names the rule of a bad one.")
    w("#")
    w(f"# [[rules]] and [allowlist] are derived from {SOURCE}")
    w("# (MIT licence, Copyright (c) 2019 Zachary Rice) by tests/corpora/secrets/gitleaks/derive_patterns.py.")
    w(f"# gitleaks rules: {len(rules)}; kept: {len(kept)}; translated regexes: "
      f"{len(TRANSLATED)}; dropped: {len(DROPPED)}"
      + (" (" + ", ".join(f"{k}: {v}" for k, v in DROPPED.items()) + ")" if DROPPED else "") + ".")
    for rule_id, regex in sorted(TRANSLATED):
        w(f"#   translated ({rule_id}): literal braces escaped in {regex}")
    w("# Path constraints became `key_regex` (matched against the ConfigMap key); the generic rules' digit")
    w("# requirement is explicit as `require_digit`.")
    w("#")
    w("# Rule fields: id, description, regex (Rust `regex` syntax, ASCII classes like Go RE2), keywords")
    w("# (prefilter: one must occur in the lower-cased text), entropy (minimum Shannon entropy of the secret")
    w("# group), secret_group (capture group holding the secret; default: the first non-empty group),")
    w("# require_digit, key_regex, and [[rules.allowlists]] with target = secret|match|line, condition =")
    w("# or|and, regexes, stopwords, keys.")
    w("")
    sys.stdout.write("\n".join(out + body) + "\n")


if __name__ == "__main__":
    main()
