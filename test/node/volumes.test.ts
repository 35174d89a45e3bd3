// L3 for the shipped xiopro-volumes (real bash, real block device nodes; mount, mountpoint and
// systemctl are stand-ins that record their calls): a volume attached after first boot started
// is waited for, written to fstab by its Hetzner id and mounted; one that never arrives fails
// within its bound with one line naming it; a second run changes nothing. The VM boot proof
// attaches its volumes late for real (test/vm/run.sh).
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../support/helpers.js";
import { describeWithTools } from "../support/tools.js";
import { layoutIn } from "../../lab/layout.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-volumes-"));
const byId = path.join(dir, "by-id");
const bin = path.join(dir, "bin");
const fstab = path.join(dir, "fstab");
const calls = path.join(dir, "calls.log");
const volumes = path.join(dir, "volumes");
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function setUp(lines: string[]) {
  fs.rmSync(byId, { recursive: true, force: true });
  fs.mkdirSync(byId, { recursive: true });
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(fstab, "# static file system information\n");
  fs.writeFileSync(calls, "");
  fs.writeFileSync(volumes, `# id mount-point filesystem attach-timeout-seconds\n${lines.join("\n")}\n`);
  // Stand-ins: mount records the mount point; mountpoint answers from that record.
  fs.writeFileSync(path.join(bin, "mount"), `#!/bin/bash\necho "mount $*" >>${calls}\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(bin, "mountpoint"), `#!/bin/bash\ngrep -qx "mount $2" ${calls}\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(bin, "systemctl"), `#!/bin/bash\necho "systemctl $*" >>${calls}\n`, { mode: 0o755 });
}
const attach = (id: string) => spawnSync("mknod", [path.join(byId, `scsi-0HC_Volume_${id}`), "b", "7", "200"]).status;

function runVolumes(): Promise<{ code: number; stderr: string; seconds: number }> {
  const env = {
    PATH: `${bin}:/usr/bin:/bin`,
    ...layoutIn(path.join(dir, "layout"), { XIOPRO_LIB: path.join(ROOT, "cloud-init/files") }),
    XIOPRO_VOLUMES_FILE: volumes,
    XIOPRO_FSTAB: fstab,
    XIOPRO_DISK_BY_ID: byId,
  };
  const t0 = Date.now();
  const p = spawn("bash", [path.join(ROOT, "cloud-init/files/xiopro-volumes")], { env });
  let stderr = "";
  p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) =>
    p.on("close", (code) => resolve({ code: code ?? -1, stderr, seconds: (Date.now() - t0) / 1000 })),
  );
}
const withoutTime = (s: string) =>
  s
    .replace(/^\S+Z /gm, "")
    .trim()
    .split("\n");

describeWithTools("xiopro-volumes on volumes that Hetzner attaches late", { root: true, commands: ["mknod"] }, () => {
  it("waits for a volume attached after it started, writes its fstab line by id and mounts it", async () => {
    setUp(["101 /srv/a ext4 30", "102 /srv/b xfs 45"]);
    attach("102");
    const run = runVolumes();
    await new Promise((r) => setTimeout(r, 3000));
    expect(attach("101")).toBe(0);
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    expect(withoutTime(r.stderr)[0]).toBe("waiting for volume 101 (/srv/a) to be attached, up to 30 s");
    expect(withoutTime(r.stderr)[1]).toMatch(/^volume 101 \(\/srv\/a\) attached after [2-6] s$/);
    expect(fs.readFileSync(fstab, "utf8").split("\n").slice(1)).toEqual([
      `${byId}/scsi-0HC_Volume_101 /srv/a ext4 defaults,nofail,discard,x-systemd.device-timeout=30s 0 2`,
      `${byId}/scsi-0HC_Volume_102 /srv/b xfs defaults,nofail,discard,x-systemd.device-timeout=45s 0 2`,
      "",
    ]);
    expect(fs.readFileSync(calls, "utf8").split("\n").filter(Boolean)).toEqual([
      "systemctl daemon-reload",
      "mount /srv/a",
      "systemctl daemon-reload",
      "mount /srv/b",
    ]);

    // A second run (bootstrap is idempotent) finds both mounted and changes nothing.
    fs.writeFileSync(calls, "mount /srv/a\nmount /srv/b\n");
    const again = await runVolumes();
    expect(again.code, again.stderr).toBe(0);
    expect(
      fs
        .readFileSync(fstab, "utf8")
        .split("\n")
        .filter((l) => l.includes("HC_Volume")).length,
    ).toBe(2);
    expect(fs.readFileSync(calls, "utf8")).toBe("mount /srv/a\nmount /srv/b\n");
  });

  it("gives a mounted volume's old fstab line its device wait, and adds none for a volume mounted otherwise", async () => {
    setUp(["101 /srv/a ext4 300", "102 /srv/b xfs 120"]);
    // An earlier version's line (30 s: a later boot gave up on a disk udev named late and left the
    // database unstarted), and a mount point without a line (the container variant's bind mounts).
    fs.appendFileSync(
      fstab,
      `${byId}/scsi-0HC_Volume_101 /srv/a ext4 defaults,nofail,discard,x-systemd.device-timeout=30s 0 2\n`,
    );
    fs.writeFileSync(calls, "mount /srv/a\nmount /srv/b\n");
    const r = await runVolumes();
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(fstab, "utf8")).toBe(
      "# static file system information\n" +
        `${byId}/scsi-0HC_Volume_101 /srv/a ext4 defaults,nofail,discard,x-systemd.device-timeout=300s 0 2\n`,
    );
    expect(fs.readFileSync(calls, "utf8")).toBe("mount /srv/a\nmount /srv/b\nsystemctl daemon-reload\n");
  });

  it("fails within its bound with one line naming a volume that never arrives", async () => {
    setUp(["103 /srv/c ext4 4"]);
    const r = await runVolumes();
    expect(r.code).toBe(1);
    expect(r.seconds).toBeLessThan(10);
    expect(withoutTime(r.stderr)).toEqual([
      "waiting for volume 103 (/srv/c) to be attached, up to 4 s",
      `ERROR: volume 103 for /srv/c was not attached within 4 s (${byId}/scsi-0HC_Volume_103 missing): attach it (pulumi up), then run bootstrap again`,
    ]);
    expect(fs.readFileSync(fstab, "utf8")).toBe("# static file system information\n");
  });
});

describeWithTools("xiopro-volumes grow after Hetzner resized a volume", { root: true, commands: ["mknod"] }, () => {
  // Stand-ins for what needs a real resize (the VM proof grows a hot-resized disk): df answers each
  // mount point's size from a file that resize2fs/xfs_growfs raise to the device's new size.
  const sizes = path.join(dir, "sizes");
  const sys = path.join(dir, "sys");
  function standIns() {
    fs.mkdirSync(sizes, { recursive: true });
    for (const [mp, gb] of [
      ["a", "20"],
      ["b", "10"],
    ])
      fs.writeFileSync(path.join(sizes, mp!), gb!);
    const stand = (name: string, body: string) =>
      fs.writeFileSync(path.join(bin, name), `#!/bin/bash\necho "${name} $*" >>${calls}\n${body}\n`, { mode: 0o755 });
    stand("df", `echo Size; cat ${sizes}/\$(basename "\${@: -1}")`);
    stand("blockdev", "echo 32212254720");
    stand("resize2fs", `[[ $1 == *_101 ]] && echo 30 >${sizes}/a`);
    stand("xfs_growfs", `echo 30 >${sizes}/b`);
    stand("setup-postgresql", "");
    for (const id of ["101", "102"]) {
      fs.mkdirSync(path.join(sys, `class/block/scsi-0HC_Volume_${id}/device`), { recursive: true });
      fs.writeFileSync(path.join(sys, `class/block/scsi-0HC_Volume_${id}/device/rescan`), "");
    }
  }
  const grow = () =>
    spawnSync("bash", [path.join(ROOT, "cloud-init/files/xiopro-volumes"), "grow"], {
      encoding: "utf8",
      env: {
        PATH: `${bin}:/usr/bin:/bin`,
        // The database's volume is /srv/a here; setup-postgresql is a stand-in that records its call.
        ...layoutIn(path.join(dir, "layout-grow"), { XIOPRO_LIB: bin, XIOPRO_PG_VOLUME: "/srv/a" }),
        XIOPRO_VOLUMES_FILE: volumes,
        XIOPRO_DISK_BY_ID: byId,
        XIOPRO_SYSFS: sys,
      },
    });

  it("rescans each device, grows its mounted filesystem with its own tool, and re-sizes the WAL bound", () => {
    setUp(["101 /srv/a ext4 30", "102 /srv/b xfs 30"]);
    standIns();
    attach("101");
    attach("102");
    fs.writeFileSync(calls, "mount /srv/a\nmount /srv/b\n");
    const r = grow();
    expect(r.status, r.stderr).toBe(0);
    expect(withoutTime(r.stderr)).toEqual([
      "volume 101 (/srv/a): device 30 GiB, filesystem 20 GiB -> 30 GiB (0 s)",
      "volume 102 (/srv/b): device 30 GiB, filesystem 10 GiB -> 30 GiB (0 s)",
    ]);
    const log = fs.readFileSync(calls, "utf8");
    expect(log).toContain(`resize2fs ${byId}/scsi-0HC_Volume_101\n`);
    expect(log).toContain("xfs_growfs /srv/b\n");
    expect(log).toContain("setup-postgresql archive-queue\n");
    expect(log.match(/setup-postgresql/g)).toHaveLength(1);
    for (const id of ["101", "102"])
      expect(fs.readFileSync(path.join(sys, `class/block/scsi-0HC_Volume_${id}/device/rescan`), "utf8")).toBe("1\n");
    // Nothing mounted, nothing grown: a volume that is not mounted fails with its fix.
    fs.writeFileSync(calls, "");
    const unmounted = grow();
    expect(unmounted.status).toBe(1);
    expect(withoutTime(unmounted.stderr)).toEqual([
      "ERROR: volume 101 is not mounted on /srv/a: run bootstrap first (docs/runbooks/volume-grow.md)",
    ]);
  });
});

describe("a database volume from another PostgreSQL major version", () => {
  const lib = path.join(ROOT, "cloud-init/files/xiopro-lib.sh");
  // A script that sources the node's library and calls its function (a library function, not a
  // command a machine must provide).
  const caller = path.join(dir, "refuse-other-major.sh");
  fs.writeFileSync(caller, `. "${lib}"\nrefuse_other_major "$@"\n`);
  const check = (root: string, ver: string) =>
    spawnSync("bash", [caller, root, ver], {
      encoding: "utf8",
      env: { ...process.env, ...layoutIn(path.join(dir, "layout"), {}) },
    });
  const cluster = (root: string, ver: string) => {
    fs.mkdirSync(path.join(root, ver, "main"), { recursive: true });
    fs.writeFileSync(path.join(root, ver, "main/PG_VERSION"), `${ver}\n`);
  };

  it("is refused with one line naming both versions, instead of an empty cluster beside it", () => {
    const root = fs.mkdtempSync(path.join(dir, "pg-"));
    cluster(root, "16");
    const r = check(root, "17");
    expect(r.status).toBe(1);
    expect(r.stderr.replace(/^\S+Z /, "").trim()).toBe(
      `ERROR: the database volume holds a PostgreSQL 16 cluster (${root}/16/main), but this node runs PostgreSQL 17: upgrade it with pg_upgrade or restore it from the backup (docs/UPGRADE-0.2.md); refusing to start an empty cluster beside it`,
    );
  });

  it("is accepted when the volume is empty or already holds this version (also beside an old one)", () => {
    const root = fs.mkdtempSync(path.join(dir, "pg-"));
    expect(check(root, "17").status).toBe(0);
    cluster(root, "17");
    cluster(root, "16");
    expect(check(root, "17").status).toBe(0);
  });
});
