#!/usr/bin/env python3
"""Seed a lab AD domain (started by start-ad.sh) with keyward's test fixtures.

Python 3 standard library only; talks to the directory with ldapsearch/ldapmodify from
ldap-utils over LDAPS (LDAPTLS_CACERT = the lab CA from ad.env).

Everything lives under OU=KeywardLab,<base DN>: the groups "Hideez Users Sync" (the sync group),
"Hideez Users Sync Nested" (member of the sync group), "Security Key Auto Password Change" (the
rotation group) and "Unrelated Group", the fixture users of --domain-index 1 or 2 (see
lab/README.md), a computer WS001$ and (domain 1) a contact, both members of the sync group.

Idempotent: the OU is read first and only missing objects and missing group memberships are
added, so running it twice does nothing the second time. --reset also puts the fixture users'
attributes, enabled state and passwords back (for tests that changed them).

--bulk COUNT adds COUNT generated users <prefix>000001.. (no passwords) that are all direct
members of the sync group (member values added 1000 per modify).

--manifest FILE writes JSON describing the expected state (users with sam, dn, mail, enabled,
in_sync (transitive), in_rotation, has_password, ...).
"""
import argparse
import base64
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

OU_NAME = "KeywardLab"
GROUPS = {  # key -> cn (= sAMAccountName)
    "sync": "Hideez Users Sync",
    "sync_nested": "Hideez Users Sync Nested",
    "rotation": "Security Key Auto Password Change",
    "unrelated": "Unrelated Group",
}
DEFAULT_PASSWORD = "Start#Pass1"
UAC_NORMAL = 512
UAC_DISABLED = 514
UAC_WORKSTATION = 4096

# sam, given, sn, mail, groups (direct), password?, userAccountControl
ALICE_MAIL = {1: "alice@shared.example.com",
              # same person, same address, other letter case, plus a trailing space as typed by
              # a careless admin: a correct tool trims and compares case-insensitively
              2: "Alice@Shared.Example.com "}
FIXTURES = {
    "common": [
        ("alice", "Alice", "Archer", None, ("sync", "rotation"), True, UAC_NORMAL),
    ],
    1: [
        ("bob", "Bob", "Baker", "bob@corp1.example.com", ("sync", "rotation"), True, UAC_NORMAL),
        ("carol", "Carol", "Carter", "carol@corp1.example.com", ("sync_nested",), False, UAC_NORMAL),
        ("dave", "Dave", "Dalton", "dave@corp1.example.com", ("sync",), False, UAC_DISABLED),
        ("erin", "Erin", "Evans", None, ("sync",), False, UAC_NORMAL),
        ("frank", "Frank", "Fischer", "dup@corp1.example.com", ("sync",), False, UAC_NORMAL),
        ("frank2", "Frank", "Foster", "dup@corp1.example.com", ("sync",), False, UAC_NORMAL),
        ("oscar", "Oscar", "Owens", "oscar@corp1.example.com", ("unrelated",), False, UAC_NORMAL),
    ],
    2: [
        ("grace", "Grace", "Green", "grace@corp2.example.com", ("sync", "rotation"), True, UAC_NORMAL),
        ("heidi", "Heidi", "Hughes", "heidi@corp2.example.com", ("sync",), False, UAC_NORMAL),
    ],
}

BULK_GIVEN = ("Adam Bella Chen Dmitri Elena Farid Gita Hana Igor Jana Kenji Lena Marta Nikolai "
              "Oksana Pavel Quentin Rosa Stefan Tamara Uma Viktor Wanda Yusuf Zofia Anton Daria "
              "Emil Fatima Hugo Iryna Jonas Luca Nadia Petra Roman Sofia Taras").split()
BULK_SN = ("Anders Brown Clark Davis Evans Fischer Garcia Hughes Ivanova Jensen Kowalski Lopez "
           "Muller Novak Olsen Petrov Quinn Rossi Schmidt Tanaka Urban Vasquez Weber Young "
           "Zimmer Bondarenko Dubois Gruber Horvat Larsen Moreau Nielsen Popescu Shevchenko").split()

MEMBER_CHUNK = 1000


def die(msg):
    sys.stderr.write("seed.py: ERROR: %s\n" % msg)
    sys.exit(1)


def log(msg):
    sys.stderr.write("seed.py: %s\n" % msg)


def read_env(path):
    env = {}
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if line.startswith("export "):
                line = line[len("export "):]
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, val = line.split("=", 1)
            words = shlex.split(val)
            env[key] = words[0] if words else ""
    return env


def dn_value(v):
    """Escape an attribute value for use in an RDN (RFC 4514)."""
    out = []
    for i, c in enumerate(v):
        if c in ',+"\\<>;=' or (c == "#" and i == 0) or (c == " " and i in (0, len(v) - 1)):
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


def attr_line(attr, value):
    """One LDIF line; base64 when the value is bytes or not a safe string (RFC 2849)."""
    if isinstance(value, bytes):
        return "%s:: %s" % (attr, base64.b64encode(value).decode("ascii"))
    v = str(value)
    if (not v or v[0] in " :<" or v[-1] == " "
            or any(ord(c) > 126 or ord(c) < 32 for c in v)):
        return "%s:: %s" % (attr, base64.b64encode(v.encode("utf-8")).decode("ascii"))
    return "%s: %s" % (attr, v)


def unicode_pwd(password):
    """AD's unicodePwd value: the password in double quotes, UTF-16LE."""
    return ('"%s"' % password).encode("utf-16-le")


class Ldap:
    def __init__(self, env):
        self.url = env["AD_LDAPS_URL"]
        self.bind_dn = env["AD_BIND_DN"]
        self.password = env["AD_BIND_PASSWORD"]
        self.proc_env = dict(os.environ, LDAPTLS_CACERT=env["AD_CA_CERT"], LDAPTLS_REQCERT="demand")

    def _auth(self):
        return ["-x", "-H", self.url, "-D", self.bind_dn, "-w", self.password]

    def search_subtree(self, base, attrs):
        """{dn_lower: {"dn": dn, attr_lower: [values]}} of base's subtree; {} when base is absent."""
        cmd = (["ldapsearch"] + self._auth()
               + ["-LLL", "-o", "ldif-wrap=no", "-E", "pr=1000/noprompt", "-b", base, "-s", "sub",
                  "(objectClass=*)"] + list(attrs))
        r = subprocess.run(cmd, env=self.proc_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode == 32:  # noSuchObject: the OU does not exist yet
            return {}
        if r.returncode != 0:
            die("ldapsearch of %s failed (exit %d): %s"
                % (base, r.returncode, r.stderr.decode("utf-8", "replace").strip()))
        entries = {}
        cur = None
        for raw in r.stdout.decode("utf-8", "replace").split("\n"):
            if not raw or raw.startswith("#"):
                cur = None if not raw else cur
                continue
            if ":" not in raw:
                continue
            attr, rest = raw.split(":", 1)
            if rest.startswith(":"):
                val = base64.b64decode(rest[1:].strip()).decode("utf-8", "replace")
            else:
                val = rest[1:] if rest.startswith(" ") else rest
            a = attr.lower()
            if a == "dn":
                cur = {"dn": val}
                entries[val.lower()] = cur
            elif cur is not None:
                cur.setdefault(a, []).append(val)
        return entries

    def modify(self, ldif_path):
        """ldapmodify -a: records without changetype are adds. Returns (rc, stderr)."""
        cmd = ["ldapmodify", "-a"] + self._auth() + ["-f", ldif_path]
        r = subprocess.run(cmd, env=self.proc_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return r.returncode, r.stderr.decode("utf-8", "replace")


def build_model(a, env):
    base = env["AD_BASE_DN"]
    realm = env["AD_REALM"].lower()
    ou_dn = "OU=%s,%s" % (OU_NAME, base)
    group_dn = {k: "CN=%s,%s" % (dn_value(cn), ou_dn) for k, cn in GROUPS.items()}

    users = []
    fixtures = [] if a.bulk_only else FIXTURES["common"] + FIXTURES.get(a.domain_index, [])
    for sam, given, sn, mail, groups, has_pw, uac in fixtures:
        if sam == "alice":
            mail = ALICE_MAIL.get(a.domain_index, ALICE_MAIL[1])
        display = "%s %s" % (given, sn)
        users.append(dict(sam=sam, cn=display, dn="CN=%s,%s" % (dn_value(display), ou_dn),
                          upn="%s@%s" % (sam, realm), given_name=given, sn=sn,
                          display_name=display, mail=mail, groups=list(groups),
                          has_password=has_pw, user_account_control=uac, bulk=False))
    for i in range(1, a.bulk + 1):
        sam = "%s%06d" % (a.bulk_prefix, i)
        given = BULK_GIVEN[i % len(BULK_GIVEN)]
        sn = BULK_SN[(i // len(BULK_GIVEN)) % len(BULK_SN)]
        mail = "%s.%s.%d@bulk%d.example.com" % (given.lower(), sn.lower(), i, a.domain_index)
        users.append(dict(sam=sam, cn=sam, dn="CN=%s,%s" % (dn_value(sam), ou_dn),
                          upn="%s@%s" % (sam, realm), given_name=given, sn=sn,
                          display_name="%s %s" % (given, sn), mail=mail, groups=["sync"],
                          has_password=False, user_account_control=UAC_NORMAL, bulk=True))

    others = []
    if not a.bulk_only:
        others.append(dict(kind="computer", sam="WS001$", dn="CN=WS001,%s" % ou_dn,
                           groups=["sync"], user_account_control=UAC_WORKSTATION))
        if a.domain_index == 1:
            others.append(dict(kind="contact", dn="CN=Contact Person,%s" % ou_dn,
                               given_name="Contact", sn="Person", display_name="Contact Person",
                               mail="contact@example.com", groups=["sync"]))

    # wanted members per group; the nested group is itself a member of the sync group
    members = {k: [] for k in GROUPS}
    members["sync"].append(group_dn["sync_nested"])
    for obj in users + others:
        for g in obj["groups"]:
            members[g].append(obj["dn"])
    return dict(base=base, realm=realm, ou_dn=ou_dn, group_dn=group_dn, users=users,
                others=others, members=members)


def user_entry(u, pw_blob):
    lines = ["dn: " + u["dn"], "objectClass: user", attr_line("cn", u["cn"]),
             attr_line("sAMAccountName", u["sam"]), attr_line("userPrincipalName", u["upn"]),
             attr_line("givenName", u["given_name"]), attr_line("sn", u["sn"]),
             attr_line("displayName", u["display_name"])]
    if u["mail"] is not None:
        lines.append(attr_line("mail", u["mail"]))
    if u["has_password"]:
        lines.append(attr_line("unicodePwd", pw_blob))
    lines.append("userAccountControl: %d" % u["user_account_control"])
    return "\n".join(lines) + "\n\n"


def reset_entry(u, pw_blob):
    """Modify record putting a fixture user's attributes back to the fixture values."""
    ops = []
    for attr, key in (("givenName", "given_name"), ("sn", "sn"), ("displayName", "display_name"),
                      ("userPrincipalName", "upn")):
        ops.append("replace: %s\n%s\n-" % (attr, attr_line(attr, u[key])))
    if u["mail"] is None:
        ops.append("replace: mail\n-")
    else:
        ops.append("replace: mail\n%s\n-" % attr_line("mail", u["mail"]))
    if u["has_password"]:
        ops.append("replace: unicodePwd\n%s\n-" % attr_line("unicodePwd", pw_blob))
    ops.append("replace: userAccountControl\nuserAccountControl: %d\n-" % u["user_account_control"])
    return "dn: %s\nchangetype: modify\n%s\n\n" % (u["dn"], "\n".join(ops))


def other_entry(o):
    if o["kind"] == "computer":
        lines = ["dn: " + o["dn"], "objectClass: computer", "cn: WS001",
                 attr_line("sAMAccountName", o["sam"]),
                 "userAccountControl: %d" % o["user_account_control"]]
    else:
        lines = ["dn: " + o["dn"], "objectClass: contact", attr_line("cn", o["display_name"]),
                 attr_line("givenName", o["given_name"]), attr_line("sn", o["sn"]),
                 attr_line("displayName", o["display_name"]), attr_line("mail", o["mail"])]
    return "\n".join(lines) + "\n\n"


def write_ldif(fh, m, existing, a, pw_blob):
    """Write the LDIF for everything missing; returns counts of what it adds."""
    have = set(existing)
    n = dict(ou=0, groups=0, users=0, bulk_users=0, others=0, member_values=0, reset=0)
    if m["ou_dn"].lower() not in have:
        fh.write("dn: %s\nobjectClass: organizationalUnit\nou: %s\ndescription: keyward "
                 "integration-test fixtures (lab/seed.py)\n\n" % (m["ou_dn"], OU_NAME))
        n["ou"] += 1
    for key, cn in GROUPS.items():
        dn = m["group_dn"][key]
        if dn.lower() not in have:
            fh.write("dn: %s\nobjectClass: group\n%s\n%s\n\n"
                     % (dn, attr_line("cn", cn), attr_line("sAMAccountName", cn)))
            n["groups"] += 1
    for u in m["users"]:
        u["created"] = u["dn"].lower() not in have
        if u["created"]:
            fh.write(user_entry(u, pw_blob))
            n["bulk_users" if u["bulk"] else "users"] += 1
        elif a.reset and not u["bulk"]:
            fh.write(reset_entry(u, pw_blob))
            n["reset"] += 1
    for o in m["others"]:
        o["created"] = o["dn"].lower() not in have
        if o["created"]:
            fh.write(other_entry(o))
            n["others"] += 1
    # memberships last: every member DN exists by then
    for key in ("sync_nested", "sync", "rotation", "unrelated"):
        dn = m["group_dn"][key]
        current = {v.lower() for v in existing.get(dn.lower(), {}).get("member", [])}
        missing = [v for v in m["members"][key] if v.lower() not in current]
        for i in range(0, len(missing), MEMBER_CHUNK):
            chunk = missing[i:i + MEMBER_CHUNK]
            fh.write("dn: %s\nchangetype: modify\nadd: member\n%s\n-\n\n"
                     % (dn, "\n".join(attr_line("member", v) for v in chunk)))
            n["member_values"] += len(chunk)
    return n


def manifest(m, a, env, password):
    # transitive members of every group (lower-case DNs), following nested groups
    direct = {k: {v.lower() for v in m["members"][k]} for k in GROUPS}
    by_dn = {m["group_dn"][k].lower(): k for k in GROUPS}

    def closure(key, seen):
        out = set(direct[key])
        for v in direct[key]:
            if v in by_dn and by_dn[v] not in seen:
                out |= closure(by_dn[v], seen | {by_dn[v]})
        return out

    trans = {k: closure(k, {k}) for k in GROUPS}

    def in_group(dn, key):
        return dn.lower() in trans[key]

    users = []
    for u in m["users"]:
        users.append(dict(
            sam=u["sam"], dn=u["dn"], upn=u["upn"], given_name=u["given_name"], sn=u["sn"],
            display_name=u["display_name"], mail=u["mail"],
            enabled=not (u["user_account_control"] & 2),
            user_account_control=u["user_account_control"],
            in_sync=in_group(u["dn"], "sync"),
            in_sync_direct=u["dn"].lower() in direct["sync"],
            in_rotation=in_group(u["dn"], "rotation"),
            in_unrelated=in_group(u["dn"], "unrelated"),
            has_password=u["has_password"],
            password=password if u["has_password"] else None,
            bulk=u["bulk"], created=u.get("created", False)))
    others = []
    for o in m["others"]:
        d = {k: v for k, v in o.items() if k != "groups"}
        d["in_sync"] = in_group(o["dn"], "sync")
        others.append(d)
    return dict(
        domain_index=a.domain_index, netbios=env.get("AD_NETBIOS", env.get("AD_NAME")),
        realm=env["AD_REALM"], base_dn=m["base"], ou_dn=m["ou_dn"], password=password,
        groups={k: dict(cn=GROUPS[k], dn=m["group_dn"][k]) for k in GROUPS},
        sync_filter="(&(objectCategory=person)(objectClass=user)(memberOf:1.2.840.113556.1.4.1941:=%s))"
                    % m["group_dn"]["sync"],
        expected_sync_users=sorted(x["sam"] for x in users if x["in_sync"]),
        users=users, non_users=others)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", required=True, help="DATADIR/ad.env written by start-ad.sh")
    p.add_argument("--domain-index", type=int, required=True,
                   help="1 or 2: which fixture set (other numbers: only the common part)")
    p.add_argument("--bulk", type=int, default=0, metavar="COUNT", help="add COUNT generated users")
    p.add_argument("--bulk-prefix", default="u", help="sAMAccountName prefix of bulk users (default u)")
    p.add_argument("--bulk-only", action="store_true",
                   help="only the OU, the groups and the bulk users (no fixture users)")
    p.add_argument("--manifest", metavar="FILE", help="write the expected state as JSON here")
    p.add_argument("--password", default=DEFAULT_PASSWORD,
                   help="password of the fixture users that have one (default %s)" % DEFAULT_PASSWORD)
    p.add_argument("--reset", action="store_true",
                   help="also put existing fixture users back (attributes, enabled state, password)")
    p.add_argument("--keep-ldif", metavar="FILE", help="keep the generated LDIF here")
    a = p.parse_args()
    if a.bulk < 0:
        p.error("--bulk must be >= 0")
    if not a.bulk_prefix or not a.bulk_prefix.replace("-", "").replace("_", "").isalnum():
        p.error("--bulk-prefix must be letters/digits")

    env = read_env(a.env)
    for k in ("AD_LDAPS_URL", "AD_BIND_DN", "AD_BIND_PASSWORD", "AD_BASE_DN", "AD_CA_CERT", "AD_REALM"):
        if not env.get(k):
            die("%s has no %s" % (a.env, k))
    ldap = Ldap(env)
    t0 = time.time()
    m = build_model(a, env)
    existing = ldap.search_subtree(m["ou_dn"], ["member"])
    t_read = time.time() - t0

    pw_blob = unicode_pwd(a.password)
    if a.keep_ldif:
        path = a.keep_ldif
        fh = open(path, "w", encoding="utf-8")
    else:
        fd, path = tempfile.mkstemp(prefix="keyward-seed-", suffix=".ldif")
        fh = os.fdopen(fd, "w", encoding="utf-8")
    with fh:
        counts = write_ldif(fh, m, existing, a, pw_blob)

    t1 = time.time()
    rc = 0
    if any(counts.values()):
        rc, err = ldap.modify(path)
        if rc != 0:
            sys.stderr.write(err[-4000:])
            log("ldapmodify failed (exit %d); LDIF: %s" % (rc, path))
    t_load = time.time() - t1
    if not a.keep_ldif and rc == 0:
        os.unlink(path)

    if a.manifest and rc == 0:
        tmp = a.manifest + ".tmp"
        with open(tmp, "w") as out:
            json.dump(manifest(m, a, env, a.password), out, indent=1)
            out.write("\n")
        os.replace(tmp, a.manifest)

    result = dict(domain=env.get("AD_REALM"), domain_index=a.domain_index, existed=len(existing),
                  added=counts, read_s=round(t_read, 2), load_s=round(t_load, 2), ok=rc == 0)
    print(json.dumps(result))
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
