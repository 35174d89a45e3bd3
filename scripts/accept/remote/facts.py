#!/usr/bin/env python3
"""Gathers acceptance facts on a node and prints them as one JSON object.

Runs as root over the admin path (`sudo python3 - ARGS_JSON < facts.py`). It only reads: the
caller's checks decide pass or fail. Secret values never come here: for the plaintext and journal
checks it gets SHA-256 fingerprints of the stack's secrets and returns those it found.
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import time

args = json.loads(sys.argv[1])


def sh(cmd, timeout=60):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout.strip(), p.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return 127, "", str(e)


def show(unit, props):
    _, out, _ = sh(["systemctl", "show", "-p", ",".join(props), unit])
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


facts = {"collectedAt": int(time.time()), "hostname": os.uname().nodename, "seconds": {}}
_lap = [time.monotonic()]


def lap(section):
    """Seconds the section that just ended took (the caller reports the slow ones)."""
    now = time.monotonic()
    facts["seconds"][section] = round(now - _lap[0], 2)
    _lap[0] = now


# cloud-init
code, out, _ = sh(["cloud-init", "status", "--long"])
facts["cloudInit"] = {
    "statusLong": out,
    "statusCode": code,
    "bootFinished": os.path.exists("/var/lib/cloud/instance/boot-finished"),
}
try:
    with open("/run/cloud-init/result.json") as f:
        facts["cloudInit"]["errors"] = json.load(f).get("v1", {}).get("errors", [])
except (OSError, ValueError):
    facts["cloudInit"]["errors"] = None
# Which stages failed (init-local, init, modules-config, modules-final) and when boot-finished was
# written: a first boot that failed in its final stage (bootstrap) and a later successful re-run of
# bootstrap (docs/runbooks/volume-not-attached.md) tell apart from a broken node.
try:
    with open("/run/cloud-init/status.json") as f:
        stages = json.load(f).get("v1", {})
    facts["cloudInit"]["stagesWithErrors"] = sorted(k for k, v in stages.items() if isinstance(v, dict) and v.get("errors"))
except (OSError, ValueError):
    facts["cloudInit"]["stagesWithErrors"] = None
bf = "/var/lib/cloud/instance/boot-finished"
facts["cloudInit"]["bootFinishedAt"] = int(os.path.getmtime(bf)) if os.path.exists(bf) else None

lap("cloudInit")
# units and timers
facts["units"] = {u: show(u, ["LoadState", "ActiveState", "SubState", "Result", "ConditionResult"]) for u in args["units"]}
facts["timers"] = {t: show(t, ["LoadState", "ActiveState", "SubState", "NextElapseUSecRealtime", "UnitFileState"]) for t in args["timers"]}
_, out, _ = sh(["systemctl", "--failed", "--plain", "--no-legend", "--no-pager"])
facts["failedUnits"] = [line.split()[0] for line in out.splitlines() if line.strip()]
_, out, _ = sh(["systemctl", "is-system-running"])
facts["systemState"] = out

lap("units")
# credentials delivered (names only)
store = "/etc/credstore.encrypted"
facts["credentials"] = sorted(f for f in os.listdir(store) if not f.startswith(".")) if os.path.isdir(store) else []

lap("credentials")
# volumes
mounts = []
for m in args["mounts"]:
    _, src, _ = sh(["findmnt", "-n", "-o", "SOURCE", "--target", m["mountPoint"]])
    _, tgt, _ = sh(["findmnt", "-n", "-o", "TARGET", "--target", m["mountPoint"]])
    dev = "/dev/disk/by-id/scsi-0HC_Volume_%s" % m["volumeId"]
    resolved = os.path.realpath(dev) if os.path.exists(dev) else None
    st = os.statvfs(m["mountPoint"]) if os.path.isdir(m["mountPoint"]) else None
    used = None if not st or not st.f_blocks else round(100 * (st.f_blocks - st.f_bfree) / (st.f_blocks - st.f_bfree + st.f_bavail), 1)
    mounts.append({"mountPoint": m["mountPoint"], "mountedAt": tgt, "source": src, "device": dev, "deviceResolved": resolved, "usedPercent": used})
facts["mounts"] = mounts

lap("mounts")
# memory
mem = {}
with open("/proc/meminfo") as f:
    for line in f:
        k, v = line.split(":", 1)
        mem[k] = int(v.strip().split()[0])
facts["memory"] = {"totalMb": mem["MemTotal"] // 1024, "availableMb": mem["MemAvailable"] // 1024, "swapUsedMb": (mem["SwapTotal"] - mem["SwapFree"]) // 1024}

lap("memory")
# time and upgrades
_, out, _ = sh(["timedatectl", "show", "-p", "NTPSynchronized", "-p", "NTP", "--value"])
facts["time"] = {"ntpSynchronized": out.splitlines()[0] if out else "", "ntp": out.splitlines()[1] if len(out.splitlines()) > 1 else ""}
_, enabled, _ = sh(["systemctl", "is-enabled", "unattended-upgrades.service"])
_, aptconf, _ = sh(["apt-config", "dump", "APT::Periodic::Unattended-Upgrade"])
facts["unattendedUpgrades"] = {"serviceEnabled": enabled, "periodic": aptconf}

lap("timeAndUpgrades")
# job state files
states = {}
sd = args["stateDir"]
if os.path.isdir(sd):
    for name in sorted(os.listdir(sd)):
        if name.endswith(".json"):
            try:
                with open(os.path.join(sd, name)) as f:
                    states[name[:-5]] = json.load(f)
            except (OSError, ValueError) as e:
                states[name[:-5]] = {"unreadable": str(e)}
facts["states"] = states

lap("states")
# Node B independence: its name must not appear in units, mounts, config or routes.
nb = args.get("nodeB")
refs = []
if nb:
    for root in ["/etc/systemd", "/etc/fstab", "/etc/xiopro", "/etc/cron.d", "/etc/crontab", "/etc/hosts", "/etc/caddy", "/etc/pgbackrest", "/var/spool/cron"]:
        code, out, _ = sh(["grep", "-rIlw", "--", nb, root])
        refs += [p for p in out.splitlines() if p]
    _, out, _ = sh(["findmnt", "-rn", "-t", "nfs,nfs4,cifs,fuse.sshfs", "-o", "SOURCE"])
    refs += ["mount:" + s for s in out.splitlines() if nb in s]
_, routes, _ = sh(["ip", "-j", "route"])
facts["nodeB"] = {"name": nb, "references": refs, "routes": json.loads(routes or "[]")}

lap("nodeB")
# PostgreSQL archiver (no credentials needed: peer auth as postgres)
if args.get("postgres"):
    code, out, err = sh(["runuser", "-u", "postgres", "--", "psql", "-XAtqc",
                         "SELECT coalesce(extract(epoch FROM last_archived_time)::bigint, 0), coalesce(extract(epoch FROM last_failed_time)::bigint, 0), failed_count, archived_count FROM pg_stat_archiver"])
    parts = out.split("|") if code == 0 and out else []
    facts["archiver"] = {"ok": code == 0, "error": err if code else "", "lastArchived": int(parts[0]) if parts else None,
                         "lastFailed": int(parts[1]) if parts else None, "failedCount": int(parts[2]) if parts else None,
                         "archivedCount": int(parts[3]) if parts else None}

lap("archiver")
# The services' own SQL checks: each query as the superuser (peer auth), its output compared by the caller.
facts["sql"] = []
# A check with waitSeconds asks again once a second until it prints what is expected (a state that
# settles, such as a replication connection after the persistence check restarted the database).
for c in args.get("sqlChecks") or []:
    started = time.time()
    while True:
        code, out, err = sh(["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-d", c["database"], "-c", c["sql"]])
        if (code == 0 and out == c["expect"]) or time.time() - started >= c.get("waitSeconds", 0):
            break
        time.sleep(1)
    facts["sql"].append({"name": c["name"], "ok": code == 0, "output": out, "error": err if code else "",
                         "waitedSeconds": round(time.time() - started, 1)})

lap("sql")
# Credential isolation: an unprivileged process (no grant) must not read any stored or decrypted
# credential. Only the outcome per file leaves the node, never content.
readable = []
checked = 0
for d in ["/etc/credstore.encrypted"] + sorted(os.path.join("/run/credentials", u) for u in (os.listdir("/run/credentials") if os.path.isdir("/run/credentials") else [])):
    if not os.path.isdir(d):
        continue
    for fn in sorted(os.listdir(d)):
        p = os.path.join(d, fn)
        if not os.path.isfile(p):
            continue
        checked += 1
        code, _, _ = sh(["runuser", "-u", "nobody", "--", "head", "-c", "1", p])
        if code == 0:
            readable.append(p)
# Cross-unit: every running unit with a service user, in its own mount namespace and as that
# user, tries to read every other unit's decrypted credentials. It may read only its own.
cross = []
attempts = 0
cred_root = "/run/credentials"
other_files = {u: [os.path.join(cred_root, u, f) for f in os.listdir(os.path.join(cred_root, u))]
               for u in (os.listdir(cred_root) if os.path.isdir(cred_root) else []) if os.path.isdir(os.path.join(cred_root, u))}
for unit in args["units"]:
    pid = show(unit, ["MainPID"]).get("MainPID", "0")
    if pid in ("", "0") or not os.path.exists(f"/proc/{pid}/status"):
        continue
    with open(f"/proc/{pid}/status") as f:
        st = dict(line.split(":", 1) for line in f if ":" in line)
    uid, gid = st["Uid"].split()[1], st["Gid"].split()[1]
    if uid == "0":
        continue  # root (sshd) may read everything by design; the question is service users
    for owner, files in other_files.items():
        if owner == unit:
            continue
        for p in files:
            attempts += 1
            code, _, _ = sh(["nsenter", "-t", pid, "-m", "-S", uid, "-G", gid, "head", "-c", "1", p])
            if code == 0:
                cross.append(f"{unit} reads {p}")
facts["credentialIsolation"] = {"checked": checked, "readableByNobody": readable, "crossUnitAttempts": attempts, "crossUnitReads": cross}

lap("credentialIsolation")
# Secrets at rest and in the journal, by fingerprint: the caller sends SHA-256 fingerprints of every
# form of every secret (never a value), the node hashes every window of each of those lengths in the
# candidate tokens of text files, so a secret inside a longer token is found, and only fingerprints
# the caller sent come back. Membership instead of shipping every window's digest: a third of the time.
TOKEN = re.compile(rb"[A-Za-z0-9+/_-]{8,}")
# Certificates are public: a CA bundle or a site's chain is long base64 that holds no secret.
CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)


def packaged_md5(dpkg):
    """MD5 of every file as its Debian package shipped it (md5sums, and conffiles from the status)."""
    sums = {}
    info = os.path.join(dpkg, "info")
    for fn in os.listdir(info) if os.path.isdir(info) else []:
        if fn.endswith(".md5sums"):
            with open(os.path.join(info, fn), "rb") as f:
                for line in f:
                    parts = line.rstrip(b"\n").split(b"  ", 1)
                    if len(parts) == 2:
                        sums[b"/" + parts[1]] = parts[0].decode()
    try:
        with open(os.path.join(dpkg, "status"), "rb") as f:
            for line in f:
                # " /etc/ssh/moduli <md5> [obsolete]" under a package's Conffiles:
                fields = line.split()
                if line.startswith(b" /") and len(fields) >= 2:
                    sums[fields[0]] = fields[1].decode()
    except OSError:
        pass
    return sums


# A file exactly as its package shipped it holds none of the stack's secrets, and some are most of
# the work (/etc/ssh/moduli: 1.9 million of the 2 million windows on a booted node): skipped by MD5.
packaged = packaged_md5(args.get("dpkgDir", "/var/lib/dpkg"))
lengths = sorted(set(args.get("secretLengths", [])))
wanted = {bytes.fromhex(fp) for fp in args.get("secretFingerprints", [])}


def found_in(candidates):
    found = set()
    for t in candidates:
        for n in lengths:
            for i in range(0, len(t) - n + 1):
                d = hashlib.sha256(t[i:i + n]).digest()
                if d in wanted:
                    found.add(d.hex())
    return sorted(found)


tokens = set()
scanned = 0
unchanged = 0
for root in args["plaintextRoots"]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in args["plaintextSkip"]]
        for fn in filenames:
            p = os.path.join(dirpath, fn)
            try:
                if os.path.islink(p) or os.path.getsize(p) > 1_000_000:
                    continue
                with open(p, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if packaged.get(os.fsencode(p)) == hashlib.md5(data).hexdigest():
                unchanged += 1
                continue
            scanned += 1
            tokens.update(TOKEN.findall(CERTIFICATE.sub(b" ", data)))
lap("plaintextFiles")
# This boot's journal (text), fingerprinted separately: no unit may log a secret.
journal_tokens = set()
code, out, _ = sh(["journalctl", "-b", "--no-pager", "-o", "cat"], timeout=120)
if code == 0:
    journal_tokens.update(TOKEN.findall(out.encode()))
facts["journal"] = {"ok": code == 0, "lines": out.count("\n") + 1 if code == 0 else 0, "fingerprints": found_in(journal_tokens)}

lap("journal")
# Cold start in order: when, in this boot, each unit first started (systemd's "started" message) and
# what the agent units' gates logged (agentd-exec), in microseconds since the epoch.
order = args.get("startOrder")
if order:
    agents = ([order["web"]] if order.get("web") else []) + order["workers"]
    first = {}
    code1, out1, _ = sh(["journalctl", "-b", "-o", "json", "MESSAGE_ID=39f53479d3a045ac8e11786248231fbf"], timeout=60)
    for line in out1.splitlines():
        e = json.loads(line)
        u = e.get("UNIT", "")
        if (u in agents or u.startswith("postgresql@")) and u not in first:
            first[u] = int(e["__REALTIME_TIMESTAMP"])
    gates = []
    code2, out2, _ = sh(["journalctl", "-b", "-o", "json", *[f"_SYSTEMD_UNIT={u}" for u in agents]], timeout=60)
    for line in out2.splitlines():
        e = json.loads(line)
        m = e.get("MESSAGE")
        if isinstance(m, str) and m.startswith("agentd-exec: ") and ("accepts" in m or "is healthy" in m):
            gates.append({"unit": e.get("_SYSTEMD_UNIT", ""), "message": m, "at": int(e["__REALTIME_TIMESTAMP"])})
    facts["startOrder"] = {"ok": code1 == 0 and code2 == 0, "firstStarted": first, "gates": gates}
lap("startOrder")
# Distinct tokens only: the same words recur across files, and hashing is the slow part.
facts["plaintext"] = {"filesScanned": scanned, "packagedUnchanged": unchanged, "fingerprints": found_in(tokens)}

lap("fingerprints")
# Monitoring (last, so the other facts overlap Prometheus' first scrapes): Prometheus' own view of its targets and rules, and Alertmanager's readiness.
mon = args.get("monitoring")
if mon:
    import urllib.request

    def get(url):
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.status, r.read().decode()
        except Exception as e:  # noqa: BLE001 - any failure is a fact for the check
            return 0, str(e)

    # A target Prometheus has not scraped yet reports "unknown": right after the operations bundle
    # (re)loads the config, wait up to two scrape intervals (30 s each) for a first verdict.
    started = time.time()
    while True:
        code, body = get(mon["prometheusUrl"] + "/api/v1/targets?state=active")
        targets = []
        if code == 200:
            for t in json.loads(body)["data"]["activeTargets"]:
                targets.append({"job": t["labels"].get("job", ""), "instance": t["labels"].get("instance", ""), "health": t["health"], "lastError": t.get("lastError", "")})
        if code != 200 or all(t["health"] != "unknown" for t in targets) or time.time() - started > 65:
            break
        time.sleep(2)
    rcode, rbody = get(mon["prometheusUrl"] + "/api/v1/rules?type=alert")
    rules = sum(len(g["rules"]) for g in json.loads(rbody)["data"]["groups"]) if rcode == 200 else None
    acode, _ = get(mon["alertmanagerUrl"] + "/-/ready")
    facts["monitoring"] = {"prometheusError": "" if code == 200 else body[:200], "targets": targets, "alertRules": rules, "alertmanagerReady": acode == 200}

lap("monitoring")
print(json.dumps(facts))
