// L1: the real stack program under Pulumi's mock runtime. Asserts exact types, names and inputs.
import { execFileSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { deployedFromOutputs, NOTHING_DEPLOYED } from "../../infra/config/deployed.js";
import { runOffline, type OfflineRun, type RecordedResource } from "../../infra/offline.js";
import { planOf, stackObject, TEST_SECRETS, toRaw } from "../support/helpers.js";
import { bakeSetFor } from "../../infra/plan/bake.js";

const runs: Record<string, OfflineRun> = {};

async function run(stack: string, edit?: (c: Record<string, any>) => void): Promise<OfflineRun> {
  const obj = structuredClone(stackObject(stack)) as Record<string, any>;
  edit?.(obj);
  const { runProgram } = await import("../../infra/program.js");
  return runOffline(stack, toRaw(obj), runProgram);
}

const one2 = (r: OfflineRun, type: string, name: string) =>
  r.resources.filter((x) => x.type === type && x.name === name)[0]!;
const ofType = (r: OfflineRun, t: string) => r.resources.filter((x) => x.type === `hcloud:index/${t}`);
const one = (r: OfflineRun, t: string, name: string): RecordedResource => {
  const found = r.resources.filter((x) => x.type === `hcloud:index/${t}` && x.name === name);
  expect(found, `${t} ${name}`).toHaveLength(1);
  return found[0]!;
};

beforeAll(async () => {
  runs.prd = await run("prd");
  runs.tst = await run("tst");
});

describe("stack program under mocks", () => {
  it("declares exactly the planned hcloud resources for prd", () => {
    const counts: Record<string, number> = {};
    for (const r of runs.prd!.resources) if (r.type.startsWith("hcloud:")) counts[r.type] = (counts[r.type] ?? 0) + 1;
    expect(counts).toEqual({
      "hcloud:index/network:Network": 1,
      "hcloud:index/networkSubnet:NetworkSubnet": 1,
      "hcloud:index/placementGroup:PlacementGroup": 1,
      "hcloud:index/sshKey:SshKey": 1,
      "hcloud:index/firewall:Firewall": 1,
      "hcloud:index/primaryIp:PrimaryIp": 2,
      "hcloud:index/server:Server": 1,
      "hcloud:index/volume:Volume": 2,
      "hcloud:index/volumeAttachment:VolumeAttachment": 2,
      "hcloud:index/rdns:Rdns": 2,
      "hcloud:index/zone:Zone": 1,
      "hcloud:index/zoneRrset:ZoneRrset": 4,
    });
  });

  it("gives the firewall exactly the class-A ports plus ICMP, open to the world", () => {
    const fw = one(runs.prd!, "firewall:Firewall", "xiopro-infra-prd-node-a-fw");
    const world = ["0.0.0.0/0", "::/0"];
    expect(fw.inputs.name).toBe("prd-node-a-fw");
    expect((fw.inputs.rules as any[]).map((r) => [r.direction, r.protocol, r.port, r.sourceIps])).toEqual([
      ["in", "tcp", "80", world],
      ["in", "tcp", "443", world],
      ["in", "udp", "443", world],
      ["in", "icmp", undefined, world],
    ]);
  });

  it("opens SSH only to the allowlist when one is configured", async () => {
    const r = await run("tst", (c) => (c.adminPath = { mode: "allowlist", sshAllowlist: ["198.51.100.7/32"] }));
    const rules = ofType(r, "firewall:Firewall")[0]!.inputs.rules as any[];
    expect(rules.filter((x) => x.port === "22")).toEqual([
      {
        direction: "in",
        protocol: "tcp",
        port: "22",
        sourceIps: ["198.51.100.7/32"],
        description: "sshd/ssh: SSH allowlist (admin path)",
      },
    ]);
  });

  it("hands every server its firewall at creation through firewallIds", () => {
    for (const stack of ["prd", "tst"]) {
      const r = runs[stack]!;
      const fw = ofType(r, "firewall:Firewall")[0]!;
      for (const server of ofType(r, "server:Server")) expect(server.inputs.firewallIds).toEqual([Number(fw.id)]);
    }
  });

  it("creates the server with its planned private IP, primary IPs, image, type, labels and SSH keys", () => {
    const r = runs.prd!;
    const s = one(r, "server:Server", "xiopro-infra-prd-node-a");
    const v4 = one(r, "primaryIp:PrimaryIp", "xiopro-infra-prd-node-a-ipv4");
    const v6 = one(r, "primaryIp:PrimaryIp", "xiopro-infra-prd-node-a-ipv6");
    const net = ofType(r, "network:Network")[0]!;
    const key = ofType(r, "sshKey:SshKey")[0]!;
    const pg = ofType(r, "placementGroup:PlacementGroup")[0]!;
    expect(s.inputs).toMatchObject({
      name: "prd-node-a",
      serverType: "cpx62",
      image: "debian-13",
      location: "fsn1",
      backups: true,
      networks: [{ networkId: Number(net.id), ip: "10.0.1.10", aliasIps: [] }],
      publicNets: [{ ipv4Enabled: true, ipv4: Number(v4.id), ipv6Enabled: true, ipv6: Number(v6.id) }],
      sshKeys: [key.id],
      placementGroupId: Number(pg.id),
      labels: { env: "prd", node: "a", role: "control", "managed-by": "xiopro-infra", stack: "prd", team: "platform" },
    });
    expect(String(s.inputs.userData)).toMatch(/^#cloud-config\n/);
  });

  it("declares a pool's members as servers like the lettered nodes, each with its own name, address and labels", async () => {
    const r = await run("tst", (c) => {
      c.pools = [{ name: "workers", role: "worker", count: 2, serverType: "cpx32", firstPrivateIp: "10.1.1.20" }];
    });
    // Registration order follows the outputs each waits for: compare by name.
    const servers = ofType(r, "server:Server")
      .sort((x, y) => x.name.localeCompare(y.name))
      .map((s) => [
        s.name,
        s.inputs.name,
        s.inputs.serverType,
        (s.inputs.networks as { ip: string }[])[0]!.ip,
        s.inputs.labels,
      ]);
    expect(servers).toEqual([
      [
        "xiopro-infra-tst-node-a",
        "tst-node-a",
        "cpx22",
        "10.1.1.10",
        { env: "tst", node: "a", role: "control", "managed-by": "xiopro-infra", stack: "tst", team: "platform" },
      ],
      ...[1, 2].map((i) => [
        `xiopro-infra-tst-workers-${i}`,
        `tst-workers-${i}`,
        "cpx32",
        `10.1.1.${19 + i}`,
        {
          env: "tst",
          node: `workers-${i}`,
          role: "worker",
          pool: "workers",
          "managed-by": "xiopro-infra",
          stack: "tst",
        },
      ]),
    ]);
    // One firewall each, one placement group for all.
    expect(
      ofType(r, "firewall:Firewall")
        .map((f) => f.inputs.name)
        .sort(),
    ).toEqual(["tst-node-a-fw", "tst-workers-1-fw", "tst-workers-2-fw"]);
    expect(ofType(r, "placementGroup:PlacementGroup")).toHaveLength(1);
  });

  it("keeps primary IPs when a server goes away (autoDelete false)", () => {
    for (const ip of ofType(runs.prd!, "primaryIp:PrimaryIp"))
      expect(ip.inputs).toMatchObject({ assigneeType: "server", autoDelete: false, location: "fsn1" });
  });

  it("protects servers, volumes, primary IPs, network and zone in prd and not in tst", () => {
    const flags = (stack: string) =>
      runs[stack]!.resources.filter((r) =>
        ["server:Server", "volume:Volume", "primaryIp:PrimaryIp", "network:Network", "zone:Zone"].some(
          (t) => r.type === `hcloud:index/${t}`,
        ),
      ).map((r) => [r.type.split(":").pop(), r.inputs.deleteProtection, r.inputs.rebuildProtection]);
    expect(flags("prd").every(([, d]) => d === true)).toBe(true);
    expect(flags("tst").every(([, d]) => d === false)).toBe(true);
    expect(one(runs.prd!, "server:Server", "xiopro-infra-prd-node-a").inputs.rebuildProtection).toBe(true);
    expect(one(runs.tst!, "server:Server", "xiopro-infra-tst-node-a").inputs.rebuildProtection).toBe(false);
  });

  it("points every A/AAAA record at the node's primary IPs", () => {
    const r = runs.prd!;
    const v4 = String(await4(r).v4);
    const records = ofType(r, "zoneRrset:ZoneRrset").map((x) => [
      x.inputs.zone,
      x.inputs.name,
      x.inputs.type,
      (x.inputs.records as any[]).map((y) => y.value),
    ]);
    expect(records).toEqual([
      ["xiopro.example", "prd-node-a", "A", [v4]],
      ["xiopro.example", "app", "A", [v4]],
      ["xiopro.example", "prd-node-a", "AAAA", [await4(r).v6host]],
      ["xiopro.example", "app", "AAAA", [await4(r).v6host]],
    ]);
    const rdns = ofType(r, "rdns:Rdns").map((x) => [x.inputs.ipAddress, x.inputs.dnsPtr]);
    expect(rdns).toEqual([
      [v4, "prd-node-a.xiopro.example"],
      [await4(r).v6host, "prd-node-a.xiopro.example"],
    ]);
  });

  it("creates volumes in the node's location with its filesystem and attaches them without automount", () => {
    const r = runs.tst!;
    expect(
      ofType(r, "volume:Volume").map((v) => [v.inputs.name, v.inputs.size, v.inputs.format, v.inputs.location]),
    ).toEqual([
      ["tst-node-a-pgdata", 20, "ext4", "fsn1"],
      ["tst-node-a-artifacts", 10, "ext4", "fsn1"],
    ]);
    const server = ofType(r, "server:Server")[0]!;
    for (const a of ofType(r, "volumeAttachment:VolumeAttachment"))
      expect(a.inputs).toMatchObject({ serverId: Number(server.id), automount: false });
  });

  it("puts the subnet in the location's network zone", () => {
    expect(ofType(runs.tst!, "networkSubnet:NetworkSubnet")[0]!.inputs).toMatchObject({
      type: "cloud",
      networkZone: "eu-central",
      ipRange: "10.1.1.0/24",
    });
  });

  it("adopts an existing zone by name instead of creating one", async () => {
    const r = await run("tst", (c) => (c.dns = { mode: "adopt" }));
    expect(ofType(r, "zone:Zone")).toEqual([]);
    expect(ofType(r, "zoneRrset:ZoneRrset").every((x) => x.inputs.zone === "tst.xiopro.example")).toBe(true);
  });

  it("differs between prd and tst only where their config differs", () => {
    const norm = (r: OfflineRun) =>
      r.resources.map((x) => `${x.type} ${x.name.replace(/-(prd|tst)\b/g, "-ENV")}`).sort();
    const onlyPrd = norm(runs.prd!).filter((x) => !norm(runs.tst!).includes(x));
    const onlyTst = norm(runs.tst!).filter((x) => !norm(runs.prd!).includes(x));
    // prd sets userDataChange: in-place, so its config reaches the node over the admin path; and it
    // has an off-site repository (backup.offsite), whose keys are delivered like the others.
    expect(onlyPrd).toEqual([
      "command:remote:Command xiopro-infra-ENV-node-a-config",
      "command:remote:Command xiopro-infra-ENV-node-a-config-confirm",
      "command:remote:Command xiopro-infra-ENV-node-a-credentials-repo2-s3-access-key",
      "command:remote:Command xiopro-infra-ENV-node-a-credentials-repo2-s3-secret-key",
    ]);
    expect(onlyTst).toEqual([]);
  });

  it("pushes the node's files over the admin path when user-data changes apply in place", () => {
    const cmd = one2(runs.prd!, "command:remote:Command", "xiopro-infra-prd-node-a-config");
    // Through the dead-man switch with the stack's bound, or (no xiopro-guard yet) as it comes.
    expect(cmd.inputs.create).toContain("sudo /usr/local/lib/xiopro/xiopro-guard apply --bound 120;");
    expect(cmd.inputs.create).toMatch(
      /else base64 -d \| sudo tar -xzf - -C \/ && sudo \/usr\/local\/lib\/xiopro\/bootstrap; fi$/,
    );
    // The confirmation comes over a connection of its own, after the apply, and again for every new bundle.
    const confirm = one2(runs.prd!, "command:remote:Command", "xiopro-infra-prd-node-a-config-confirm");
    expect(confirm.inputs.create).toContain("sudo /usr/local/lib/xiopro/xiopro-guard confirm");
    expect(confirm.inputs.triggers).toHaveLength(2);
    const files = execFileSync("tar", ["-tzf", "-"], { input: Buffer.from(String(cmd.inputs.stdin), "base64") })
      .toString()
      .split("\n");
    expect(files).toContain("etc/caddy/Caddyfile");
    expect(files).toContain("usr/local/lib/xiopro/bootstrap");
  });

  it("exports addresses, records, the exposure matrix, the cost and the topology", () => {
    const o = runs.prd!.outputs as any;
    expect(Object.keys(o).sort()).toEqual([
      "adminPath",
      "cost",
      "dnsRecords",
      "environment",
      "exposureMatrix",
      "nodes",
      "topology",
    ]);
    expect(o.nodes.nodeA).toMatchObject({
      name: "prd-node-a",
      privateIp: "10.0.1.10",
      fqdn: "prd-node-a.xiopro.example",
      sites: ["app.xiopro.example"],
    });
    expect(o.nodes.nodeA.publicIpv4).toMatch(/^203\.0\.113\.\d+$/);
    expect(o.cost.monthlyEur).toBe(180.14);
    expect(o.topology).toMatch(/^flowchart LR\n/);
    expect(o.exposureMatrix.filter((e: any) => e.class === "A").map((e: any) => `${e.port}/${e.protocol}`)).toEqual([
      "80/tcp",
      "443/tcp",
      "443/udp",
    ]);
  });

  it("ignores user-data changes only when the stack chose in-place updates", () => {
    expect(one(runs.prd!, "server:Server", "xiopro-infra-prd-node-a").options.ignoreChanges).toEqual(["userData"]);
    expect(one(runs.tst!, "server:Server", "xiopro-infra-tst-node-a").options.ignoreChanges).toEqual([]);
  });

  it("creates a baked node's server from the newest snapshot of its set and keeps it when a newer one appears", async () => {
    const baked = await run("prd", (c) => (c.nodeA.baked = true));
    const server = one(baked, "server:Server", "xiopro-infra-prd-node-a");
    expect(server.inputs.image).toBe("7002");
    expect(server.options.ignoreChanges).toEqual(["userData", "image"]);
    const plan = planOf("prd", (c) => (c.nodeA.baked = true));
    const lookups = baked.calls.filter((c) => c.token === "hcloud:index/getImages:getImages");
    expect(lookups.map((c) => c.args)).toEqual([
      {
        withSelector: bakeSetFor(plan, plan.nodes[0]!).selector,
        mostRecent: true,
        withStatuses: ["available"],
        withArchitectures: ["x86"],
      },
    ]);
    expect(one(runs.prd!, "server:Server", "xiopro-infra-prd-node-a").inputs.image).toBe("debian-13");
  });

  it("sets Pulumi protect on volumes, primary IPs and the zone in prd only, never on servers", () => {
    const protectedIn = (stack: string) =>
      runs[stack]!.resources.filter((r) => r.options.protect)
        .map((r) => r.name)
        .sort();
    expect(protectedIn("prd")).toEqual([
      "xiopro-infra-prd-dns-zone",
      "xiopro-infra-prd-node-a-artifacts",
      "xiopro-infra-prd-node-a-ipv4",
      "xiopro-infra-prd-node-a-ipv6",
      "xiopro-infra-prd-node-a-pgdata",
    ]);
    expect(protectedIn("tst")).toEqual([]);
  });
});

function await4(r: OfflineRun): { v4: string; v6host: string } {
  const v4 = (r.outputs as any).nodes.nodeA.publicIpv4 as string;
  const v6host = (r.outputs as any).nodes.nodeA.publicIpv6 as string;
  return { v4, v6host };
}

describe("secret delivery under mocks", () => {
  const commands = (r: OfflineRun) => r.resources.filter((x) => x.type === "command:remote:Command");

  it("delivers each credential of node A with its own remote command, value on stdin as a secret", () => {
    const r = runs.tst!;
    const server = one(r, "server:Server", "xiopro-infra-tst-node-a");
    const cs = commands(r).sort((a, b) => a.name.localeCompare(b.name));
    expect(cs.map((c) => c.name)).toEqual([
      "xiopro-infra-tst-node-a-credentials-first-backup",
      "xiopro-infra-tst-node-a-credentials-grafana-admin-password",
      "xiopro-infra-tst-node-a-credentials-pg-role-api",
      "xiopro-infra-tst-node-a-credentials-pg-role-backup",
      "xiopro-infra-tst-node-a-credentials-pg-role-readonly",
      "xiopro-infra-tst-node-a-credentials-pg-role-worker",
      "xiopro-infra-tst-node-a-credentials-pgbackrest-cipher-pass",
      "xiopro-infra-tst-node-a-credentials-repo-s3-access-key",
      "xiopro-infra-tst-node-a-credentials-repo-s3-secret-key",
      "xiopro-infra-tst-node-a-credentials-restic-password",
      "xiopro-infra-tst-node-a-ops",
      "xiopro-infra-tst-node-a-volumes-grow",
    ]);
    const api = cs.find((c) => c.name.endsWith("pg-role-api"))!;
    expect(api.secretInputs).toEqual(expect.arrayContaining(["stdin"]));
    expect(api.inputs.create).toMatch(
      /sudo \/usr\/local\/lib\/xiopro\/xiopro-credentials install pg-role-api 'xiopro-postgres-roles.service' 'agentd-web.service'$/,
    );
    expect(api.inputs.create).toContain("/var/lib/cloud/instance/boot-finished");
    expect(api.inputs.triggers).toEqual([server.id]);
    expect(api.inputs.connection).toMatchObject({ host: "tst-node-a", user: "ops" });
    const restic = cs.find((c) => c.name.endsWith("restic-password"))!;
    expect(restic.inputs.stdin).toBe(TEST_SECRETS.resticPassword);
    expect(restic.inputs.create).toMatch(
      /install restic-password 'xiopro-pgdump.service' 'xiopro-files-backup.service' 'xiopro-restic-check.service'$/,
    );
    const cipher = cs.find((c) => c.name.endsWith("pgbackrest-cipher-pass"))!;
    expect(cipher.inputs.create).toMatch(
      /'postgresql@\*\.service' 'xiopro-pgbackrest@\*\.service' 'xiopro-restore-drill.service'$/,
    );
  });

  it("pushes the operations bundle over the admin path, re-pushed when its content changes, never in user-data", async () => {
    const r = runs.tst!;
    const server = one(r, "server:Server", "xiopro-infra-tst-node-a");
    const ops = commands(r).find((c) => c.name === "xiopro-infra-tst-node-a-ops")!;
    expect(ops.inputs.create).toMatch(/sudo \/usr\/local\/lib\/xiopro\/xiopro-ops apply$/);
    const triggers = (c: RecordedResource) => c.inputs.triggers as string[];
    expect(triggers(ops)[0]).toBe(server.id);
    const files = execFileSync("tar", ["-tzf", "-"], {
      input: Buffer.from(ops.inputs.stdin as string, "base64"),
      encoding: "utf8",
    }).split("\n");
    expect(files).toEqual(
      expect.arrayContaining([
        "etc/prometheus/prometheus.yml",
        "etc/prometheus/rules/xiopro.rules.yml",
        "usr/local/lib/xiopro/xiopro-restore",
      ]),
    );
    // Deterministic: the same stack renders the same bundle, so an unchanged stack never re-pushes.
    const again = await run("tst", () => {});
    expect(triggers(commands(again).find((c) => c.name === "xiopro-infra-tst-node-a-ops")!)[1]).toBe(triggers(ops)[1]);
    // An alerting change re-pushes the bundle and leaves the server's user-data alone.
    const alerting = await run("tst", (c) => (c.monitoring = { webhook: { url: "https://hooks.example.com/x" } }));
    const ops3 = commands(alerting).find((c) => c.name === "xiopro-infra-tst-node-a-ops")!;
    expect(triggers(ops3)[1]).not.toBe(triggers(ops)[1]);
    expect(one(alerting, "server:Server", "xiopro-infra-tst-node-a").inputs.userData).toBe(server.inputs.userData);
  });

  it("generates one random password per database role", () => {
    const pw = runs.tst!.resources.filter((x) => x.type === "random:index/randomPassword:RandomPassword");
    expect(pw.map((p) => [p.name, p.inputs.length, p.inputs.special]).sort()).toEqual([
      ["xiopro-infra-tst-grafana-admin-password", 32, false],
      ["xiopro-infra-tst-pg-role-api", 32, false],
      ["xiopro-infra-tst-pg-role-backup", 32, false],
      ["xiopro-infra-tst-pg-role-readonly", 32, false],
      ["xiopro-infra-tst-pg-role-worker", 32, false],
    ]);
  });

  it("delivers one generated WAL receiver password to the database node and the receiver's node", async () => {
    const r = await run("tst", (c) => (c.nodeC = { enabled: true, serverType: "cpx22", services: ["wal-receiver"] }));
    const pw = r.resources.filter(
      (x) => x.type === "random:index/randomPassword:RandomPassword" && x.name.endsWith("pg-role-walreceiver"),
    );
    expect(pw.map((p) => p.name)).toEqual(["xiopro-infra-tst-pg-role-walreceiver"]);
    const delivered = commands(r)
      .filter((c) => c.name.endsWith("-credentials-pg-role-walreceiver"))
      .sort((a, b) => a.name.localeCompare(b.name));
    expect(
      delivered.map((c) => [
        c.name,
        String(c.inputs.create).split("install ")[1],
        (c.inputs.connection as { host: string }).host,
      ]),
    ).toEqual([
      [
        "xiopro-infra-tst-node-a-credentials-pg-role-walreceiver",
        "pg-role-walreceiver 'xiopro-postgres-roles.service'",
        "tst-node-a",
      ],
      [
        "xiopro-infra-tst-node-c-credentials-pg-role-walreceiver",
        "pg-role-walreceiver 'xiopro-walreceiver.service'",
        "tst-node-c",
      ],
    ]);
    expect(delivered[0]!.inputs.stdin).toBe(delivered[1]!.inputs.stdin);
    expect(delivered.every((c) => c.secretInputs?.includes("stdin"))).toBe(true);
  });

  it("re-delivers only the rotated secret: one command's input changes, no other resource does", async () => {
    const rotated = await run("tst", (c) => (c.resticPassword = "rotated-restic-password-99"));
    const key = (x: RecordedResource) => `${x.type} ${x.name}`;
    const before = new Map(runs.tst!.resources.map((x) => [key(x), JSON.stringify(x.inputs)]));
    const changed = rotated.resources.filter((x) => before.get(key(x)) !== JSON.stringify(x.inputs)).map((x) => x.name);
    expect(changed).toEqual(["xiopro-infra-tst-node-a-credentials-restic-password"]);
  });

  it("keeps every secret except the single-use Tailscale key out of the user-data, in plain or base64", () => {
    const ud = String(one(runs.tst!, "server:Server", "xiopro-infra-tst-node-a").inputs.userData);
    const pw = runs
      .tst!.resources.filter((x) => x.type === "random:index/randomPassword:RandomPassword")
      .map((p) => `generated-${Number(p.id) - 1000}-`);
    const secrets = [
      ...Object.entries(TEST_SECRETS)
        .filter(([k]) => k !== "tailscaleAuthKey")
        .map(([, v]) => v),
      ...pw,
    ];
    for (const s of secrets) {
      expect(ud).not.toContain(s);
      expect(ud).not.toContain(Buffer.from(s).toString("base64").replace(/=+$/, ""));
    }
    expect(ud).toContain(
      `  - path: /etc/xiopro/tailscale-authkey\n    permissions: "0600"\n    content: ${TEST_SECRETS.tailscaleAuthKey}\n`,
    );
    expect(one(runs.tst!, "server:Server", "xiopro-infra-tst-node-a").secretInputs).toContain("userData");
  });

  it("exports no secret value in the stack outputs", () => {
    const text = JSON.stringify(runs.prd!.outputs);
    for (const s of Object.values(TEST_SECRETS)) expect(text).not.toContain(s);
  });
});

describe("volume size changes against the deployed stack, under mocks", () => {
  // The stack's own outputs from its last `pulumi up`, as its reference to itself reads them.
  const deployedRun = async (edit: (c: Record<string, any>) => void) => {
    const obj = structuredClone(stackObject("tst")) as Record<string, any>;
    edit(obj);
    const { runProgram } = await import("../../infra/program.js");
    return runOffline("tst", toRaw(obj), runProgram, runs.tst!.outputs);
  };
  const sizeOf = (r: OfflineRun, name: string) => one(r, "volume:Volume", name).inputs.size;
  const grow = (r: OfflineRun) =>
    r.resources.find((x) => x.type === "command:remote:Command" && x.name === "xiopro-infra-tst-node-a-volumes-grow")!;

  it("grows a volume in place: its size, the node's grow command and the cost metric change, no server", async () => {
    const was = Number((stackObject("tst").nodeA as any).volumes[0].sizeGb);
    const r = await deployedRun((c) => (c.nodeA.volumes[0].sizeGb = was + 10));
    const volume = runs.tst!.resources.find((x) => x.type === "hcloud:index/volume:Volume")!;
    expect(sizeOf(r, volume.name)).toBe(was + 10);
    expect(grow(r).inputs.create).toMatch(/sudo \/usr\/local\/lib\/xiopro\/xiopro-volumes grow$/);
    expect(grow(r).inputs.triggers).toContain(was + 10);
    // What the program compared against: its own stack's last outputs.
    expect(r.stackReferences).toEqual(["organization/xiopro-infra/tst"]);
    const key = (x: RecordedResource) => `${x.type} ${x.name}`;
    const before = new Map(runs.tst!.resources.map((x) => [key(x), JSON.stringify(x.inputs)]));
    const changed = r.resources.filter((x) => before.get(key(x)) !== JSON.stringify(x.inputs)).map((x) => x.name);
    // The operations bundle carries the stack's cost metric (the volume costs more); it is pushed
    // over the admin path. The server's user-data does not change: no replacement.
    expect(changed.sort()).toEqual([volume.name, grow(r).name, "xiopro-infra-tst-node-a-ops"].sort());
  });

  it("refuses a smaller volume than the deployed one, naming the key, both sizes and the fix", async () => {
    // A failing program run leaves the SDK's own promises rejected (the language host catches them,
    // the mock runtime cannot): the check the program runs before declaring anything, called directly,
    // on what its reference to itself reads.
    const was = Number((stackObject("tst").nodeA as any).volumes[0].sizeGb);
    const obj = structuredClone(stackObject("tst")) as Record<string, any>;
    obj.nodeA.volumes[0].sizeGb = was - 5;
    const raw = toRaw(obj);
    pulumi.runtime.setAllConfig(raw.values, [...raw.secretKeys]);
    const { planFromRuntime } = await import("../../infra/program.js");
    const deployed = deployedFromOutputs(runs.tst!.outputs.nodes);
    expect(() => planFromRuntime("tst", undefined, deployed)).toThrow(
      `xiopro-infra:nodeA.volumes[0].sizeGb: ${was - 5} GB is smaller than volume tst-node-a-pgdata already is (${was} GB): Hetzner volumes only grow\n      fix: keep ${was} GB or more`,
    );
    expect(planFromRuntime("tst", undefined, NOTHING_DEPLOYED).nodes[0]!.volumes[0]!.sizeGb).toBe(was - 5);
  });
});
