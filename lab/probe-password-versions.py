#!/usr/bin/env python3
"""probe-password-versions.py LAB_DIR

Shows how Active Directory settles two password resets of one account made on two domain
controllers that had not replicated: by the attribute's version first, its time only on a tie.
Uses CORP1's two controllers of the lab (up.sh; the second never replicates on its own, see
README.md, "Two domain controllers"):

1. creates a throwaway user on the first DC and pulls it into the second;
2. resets its password twice on the first DC (unicodePwd version 3 there), without replicating;
3. a second later, resets it on the second DC (version 2 there): the later value;
4. pulls the first DC's changes into the second and binds with each value there.

The older value of the first DC wins (version 3 beats version 2). This is why keyward records
the unicodePwd version of each commit and does not write a later rotation on a controller that
holds a lower one (docs/product.md §3.3, "The replication check"). Prints each step's result
and the unicodePwd version each DC holds (read from replPropertyMetaData, which the
least-privilege service account may read too); deletes the user at the end. Changes nothing
else. Needs root (replicate-dc2.sh) and ldap-utils.
"""

import base64
import os
import random
import struct
import subprocess
import sys
import time

UNICODE_PWD_ATTID = 0x9005A


def read_env(path):
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            if key:
                env[key.removeprefix("export ")] = value.strip("'\"")
    return env


def password_blob(password):
    return base64.b64encode(('"%s"' % password).encode("utf-16-le")).decode()


class Lab:
    def __init__(self, lab_dir):
        self.dc1 = read_env(os.path.join(lab_dir, "corp1", "ad.env"))
        self.dc2_dir = os.path.join(lab_dir, "corp1-dc2")
        self.dc2 = read_env(os.path.join(self.dc2_dir, "ad.env"))
        self.here = os.path.dirname(os.path.abspath(__file__))
        os.environ["LDAPTLS_CACERT"] = self.dc1["AD_CA_CERT"]

    def modify(self, url, ldif):
        done = subprocess.run(
            ["ldapmodify", "-x", "-H", url, "-D", self.dc1["AD_BIND_DN"], "-w", self.dc1["AD_BIND_PASSWORD"]],
            input=ldif, text=True, capture_output=True, check=False,
        )
        if done.returncode != 0:
            sys.exit("ldapmodify on %s failed: %s" % (url, done.stderr.strip()))

    def binds(self, url, dn, password):
        done = subprocess.run(
            ["ldapsearch", "-x", "-H", url, "-D", dn, "-w", password, "-b", "", "-s", "base", "dn"],
            capture_output=True, check=False,
        )
        return done.returncode == 0

    def unicode_pwd_version(self, url, dn):
        done = subprocess.run(
            ["ldapsearch", "-o", "ldif-wrap=no", "-x", "-H", url, "-D", self.dc1["AD_BIND_DN"],
             "-w", self.dc1["AD_BIND_PASSWORD"], "-b", dn, "-s", "base", "replPropertyMetaData"],
            capture_output=True, text=True, check=True,
        )
        for line in done.stdout.splitlines():
            if line.startswith("replPropertyMetaData:: "):
                blob = base64.b64decode(line.split(" ", 1)[1])
                (count,) = struct.unpack_from("<I", blob, 8)
                for i in range(count):
                    attid, version = struct.unpack_from("<II", blob, 16 + 48 * i)
                    if attid == UNICODE_PWD_ATTID:
                        return version
        return None

    def replicate(self):
        subprocess.run([os.path.join(self.here, "replicate-dc2.sh"), self.dc2_dir], check=True,
                       capture_output=True)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    lab = Lab(sys.argv[1])
    dc1, dc2 = lab.dc1["AD_LDAPS_URL"], lab.dc2["AD_LDAPS_URL"]
    sam = "kw-versions-%05d" % random.randint(0, 99999)
    dn = "CN=%s,CN=Users,%s" % (sam, lab.dc1["AD_BASE_DN"])
    reset = lambda url, password: lab.modify(url, "dn: %s\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: %s\n-\n" % (dn, password_blob(password)))
    lab.modify(dc1, "dn: %s\nchangetype: add\nobjectClass: user\nsAMAccountName: %s\nunicodePwd:: %s\nuserAccountControl: 512\n" % (dn, sam, password_blob("Start#Probe-0000")))
    try:
        lab.replicate()
        reset(dc1, "DcOne#First-1111")
        reset(dc1, "DcOne#Second-2222")
        time.sleep(1.5)
        reset(dc2, "DcTwo#Later-3333")
        print("before replication: unicodePwd version %s on the first DC, %s on the second"
              % (lab.unicode_pwd_version(dc1, dn), lab.unicode_pwd_version(dc2, dn)))
        print("before replication: the second DC takes its own, later reset: %s"
              % lab.binds(dc2, dn, "DcTwo#Later-3333"))
        lab.replicate()
        print("after replication: unicodePwd version %s on the second DC"
              % lab.unicode_pwd_version(dc2, dn))
        for password in ["DcTwo#Later-3333", "DcOne#Second-2222"]:
            print("after replication: the second DC takes %s: %s"
                  % (password, lab.binds(dc2, dn, password)))
    finally:
        lab.modify(dc1, "dn: %s\nchangetype: delete\n" % dn)


if __name__ == "__main__":
    main()
