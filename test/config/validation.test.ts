import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../infra/config/load.js";
import { CATALOG_SERVICE_NAMES } from "../../infra/catalog/services.js";
import { catalog } from "../../infra/catalog/index.js";
import { parseStackYaml, readStackFile } from "../../infra/config/stack-file.js";
import { planOf, problemsOf, ROOT, stackObject, toRaw } from "../support/helpers.js";

describe("stack config validation", () => {
  it("accepts the committed prd and tst stacks without a single problem", () => {
    for (const stack of ["prd", "tst"]) {
      const r = loadConfig(toRaw(stackObject(stack)));
      expect(r.ok ? [] : r.problems).toEqual([]);
    }
  });

  it("names an unknown server type, lists the catalog and suggests the closest name", () => {
    const out = problemsOf("tst", (c) => (c.nodeA.serverType = "cpx222"));
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(
      /^xiopro-infra:nodeA\.serverType: "cpx222" is not a Hetzner server type in the catalog \(2026-06-15\) \| use one of .*cpx22.* \(did you mean "cpx22"\?\)$/,
    );
  });

  it("refuses an image whose pgBackRest cannot use the SFTP repository the config asks for", () => {
    expect(
      problemsOf("tst", (c) => {
        c.nodeA.image = "debian-12";
        c.backup.repository = { kind: "sftp", host: "u1.your-storagebox.de", user: "u1-sub1", path: "/tst" };
      }),
    ).toEqual([
      'xiopro-infra:nodeA.image: "debian-12" ships pgBackRest 2.45, which cannot use an SFTP repository (backup.repository.kind: sftp needs 2.48 or later) | use debian-13 or ubuntu-24.04, or an s3 repository',
    ]);
    expect(problemsOf("tst", (c) => (c.nodeA.image = "debian-12"))).toEqual([]);
  });

  it("takes the off-site repository apart: its kind's fields, outside Hetzner, not the first repository again", () => {
    const offsite = (o: Record<string, unknown>) =>
      problemsOf("prd", (c) => {
        c.backup.offsite = o;
      });
    expect(
      offsite({
        kind: "s3",
        endpoint: "https://s3.eu-central-003.backblazeb2.com",
        region: "eu-central-003",
        bucket: "xiopro-b2",
      }),
    ).toEqual([]);
    expect(offsite({ kind: "s3", path: "/x/../y" })).toEqual([
      "xiopro-infra:backup.offsite.endpoint: is not set, but kind is s3 | set backup.offsite.endpoint",
      "xiopro-infra:backup.offsite.region: is not set, but kind is s3 | set backup.offsite.region",
      "xiopro-infra:backup.offsite.bucket: is not set, but kind is s3 | set backup.offsite.bucket",
      'xiopro-infra:backup.offsite.path: "/x/../y" has . or .. in it | write the path it means: /y',
    ]);
    expect(
      offsite({ kind: "s3", endpoint: "https://nbg1.your-objectstorage.com", region: "nbg1", bucket: "other" }),
    ).toEqual([
      'xiopro-infra:backup.offsite.endpoint: "nbg1.your-objectstorage.com" is Hetzner\'s, so losing the Hetzner account would lose both repositories | use a provider outside Hetzner (any S3-compatible store or SFTP server)',
    ]);
    expect(offsite({ kind: "sftp", host: "u9.your-storagebox.de", user: "u9" })).toEqual([
      'xiopro-infra:backup.offsite.host: "u9.your-storagebox.de" is Hetzner\'s, so losing the Hetzner account would lose both repositories | use a provider outside Hetzner (any S3-compatible store or SFTP server)',
    ]);
    // The same bucket under another path is not a second repository.
    expect(
      problemsOf("prd", (c) => {
        c.backup.repository = {
          kind: "s3",
          endpoint: "https://s3.example.net",
          region: "r1",
          bucket: "one",
          path: "/a",
        };
        c.backup.offsite = { kind: "s3", endpoint: "https://s3.example.net", region: "r1", bucket: "one", path: "/b" };
      }),
    ).toEqual([
      "xiopro-infra:backup.offsite: is the same bucket as backup.repository, so one loss takes both | point it at a second provider",
    ]);
    expect(offsite({ kind: "posix", path: "/srv/b" })).toEqual([
      'xiopro-infra:backup.offsite.kind: "posix" keeps backups on the node itself | use s3 or sftp in prd',
    ]);
  });

  it("says on every run when prd keeps all its backups in the Hetzner account", () => {
    const raw = stackObject("prd") as { backup: { offsite?: unknown } };
    delete raw.backup.offsite;
    const r = loadConfig(toRaw(raw));
    expect(r.ok && r.notices.filter((n) => n.key.endsWith("backup.offsite"))).toEqual([
      {
        key: "xiopro-infra:backup.offsite",
        message:
          "is not set: every backup of prd is in the Hetzner account, so losing the account loses them; add a second repository outside Hetzner (docs/recovery.md)",
      },
    ]);
    const ok = loadConfig(toRaw(stackObject("prd")));
    expect(ok.ok && ok.notices.filter((n) => n.key.endsWith("backup.offsite"))).toEqual([]);
  });

  it("accepts ubuntu-24.04 with a notice that the tests do not boot it, and names every image in the error for an unknown one", () => {
    const raw = stackObject("tst") as { nodeA: { image: string } };
    raw.nodeA.image = "ubuntu-24.04";
    const r = loadConfig(toRaw(raw));
    expect(r.ok && r.notices).toEqual([
      {
        key: "xiopro-infra:nodeA.image",
        message:
          '"ubuntu-24.04" (Ubuntu 24.04 (noble)) is accepted, but this repository\'s tests do not boot it; debian-13 is booted by the VM proof, debian-12 by the container variant',
      },
    ]);
    expect(problemsOf("tst", (c) => (c.nodeA.image = "rocky-9"))).toEqual([
      'xiopro-infra:nodeA.image: "rocky-9" is not a supported image | use one of debian-13, debian-12, ubuntu-24.04',
    ]);
  });

  it("rejects an unknown location with the list of locations", () => {
    expect(problemsOf("tst", (c) => (c.location = "fsn9"))).toEqual([
      'xiopro-infra:location: "fsn9" is not a Hetzner location | use one of fsn1, nbg1, hel1, ash, hil, sin (did you mean "fsn1"?)',
    ]);
  });

  it("rejects a server type that is not sold in the node's location", () => {
    expect(problemsOf("tst", (c) => (c.nodeA.location = "ash"))).toEqual([
      'xiopro-infra:nodeA.location: "ash" is in network zone us-east, but the private network is in eu-central | use a location in eu-central',
      'xiopro-infra:nodeA.serverType: "cpx22" is not sold in ash | use a location where it is sold (fsn1, nbg1, hel1, sin), or another type',
    ]);
  });

  it("refuses a server type Hetzner deprecated in the node's location, and names current ones like it", () => {
    const cat = structuredClone(catalog);
    cat.serverTypes.cpx22!.deprecations = { fsn1: { announced: "2026-10-01", unavailableAfter: "2027-01-01" } };
    const obj = structuredClone(stackObject("tst")) as Record<string, any>;
    const r = loadConfig(toRaw(obj), { catalog: cat });
    const cpx22 = cat.serverTypes.cpx22!;
    const alike = Object.entries(cat.serverTypes)
      .filter(([n, t]) => n !== "cpx22" && t.architecture === "x86" && t.cpuType === "shared")
      .filter(([, t]) => t.cores >= cpx22.cores && t.memoryGb >= cpx22.memoryGb && t.monthly.fsn1 !== undefined)
      .sort((a, b) => a[1].monthly.fsn1! - b[1].monthly.fsn1! || a[0].localeCompare(b[0]))
      .slice(0, 3)
      .map(([n, t]) => `${n} (${t.monthly.fsn1} EUR)`);
    expect(alike.length).toBeGreaterThan(0);
    expect(r.ok ? [] : r.problems.map((p) => `${p.key}: ${p.message} | ${p.fix}`)).toEqual([
      `xiopro-infra:nodeA.serverType: "cpx22" is deprecated in fsn1 (announced 2026-10-01; new servers until 2027-01-01, catalog of ${cat.catalogDate}) | use a current type with at least ${cpx22.cores} cores and ${cpx22.memoryGb} GB, e.g. ${alike.join(", ")}`,
    ]);
    // In another location the same type is still current.
    obj["xiopro-infra:location"] = "nbg1";
    expect(loadConfig(toRaw(obj), { catalog: cat }).ok).toBe(true);
  });

  it("refuses a subnet the allocator cannot place every node in, instead of planning 0.0.0.0", () => {
    const three = (c: Record<string, any>) => {
      c.nodeC = { enabled: true, serverType: "cpx22", services: [] };
      c.nodeD = { enabled: true, serverType: "cpx22", services: [] };
    };
    expect(problemsOf("tst", (c) => (three(c), (c.network = { cidr: "10.1.0.0/16", subnet: "10.1.1.0/29" })))).toEqual([
      'xiopro-infra:network.subnet: "10.1.1.0/29" has no free address for nodeA, nodeC, nodeD (automatic addresses start at 10.1.1.10, the last usable is 10.1.1.6) | use a /28 or larger, or give nodeA.privateIp and nodeC.privateIp and nodeD.privateIp inside the subnet',
    ]);
    expect(problemsOf("tst", (c) => (three(c), (c.network = { cidr: "10.1.0.0/16", subnet: "10.1.1.0/28" })))).toEqual(
      [],
    );
    expect(
      planOf("tst", (c) => (three(c), (c.network = { cidr: "10.1.0.0/16", subnet: "10.1.1.0/28" }))).nodes.map(
        (n) => n.privateIp,
      ),
    ).toEqual(["10.1.1.10", "10.1.1.11", "10.1.1.12"]);
  });

  it("takes mount points apart: no . or .., normal form, nothing inside /proc, /sys, /dev, /run, no system directory hidden", () => {
    const at = (mountPoint: string) => problemsOf("tst", (c) => (c.nodeA.volumes[1].mountPoint = mountPoint));
    const key = "xiopro-infra:nodeA.volumes[1].mountPoint";
    expect(at("/srv/../etc")).toEqual([
      `${key}: "/srv/../etc" has . or .. in it | write the path it means without them (/etc)`,
    ]);
    expect(at("/srv/./agentd")).toEqual([
      `${key}: "/srv/./agentd" has . or .. in it | write the path it means without them (/srv/agentd)`,
    ]);
    expect(at("//srv//agentd")).toEqual([`${key}: "//srv//agentd" is not in normal form | write /srv/agentd`]);
    expect(at("/proc/xiopro")).toEqual([
      `${key}: "/proc/xiopro" is inside /proc, a kernel or runtime filesystem | mount the volume below /srv or /var/lib`,
    ]);
    expect(at("/run/data")).toEqual([
      `${key}: "/run/data" is inside /run, a kernel or runtime filesystem | mount the volume below /srv or /var/lib`,
    ]);
    expect(at("/var/lib")).toEqual([
      `${key}: "/var/lib" would hide the system directory /var/lib | mount below it, e.g. /var/lib/postgresql or /srv/agentd`,
    ]);
    expect(at("/usr")).toEqual([
      `${key}: "/usr" would hide the system directory /usr | mount below it, e.g. /var/lib/postgresql or /srv/agentd`,
    ]);
    expect(at("/srv/models")).toEqual([]);
  });

  it("rejects a subnet outside the network", () => {
    expect(problemsOf("tst", (c) => (c.network = { cidr: "10.1.0.0/16", subnet: "10.2.1.0/24" }))).toEqual([
      'xiopro-infra:network.subnet: "10.2.1.0/24" is not inside the network 10.1.0.0/16 | choose a subnet inside 10.1.0.0/16, e.g. 10.1.1.0/24',
    ]);
  });

  it("rejects a public network range and a CIDR with host bits set", () => {
    expect(problemsOf("tst", (c) => (c.network = { cidr: "8.8.0.0/16", subnet: "10.1.1.5/24" }))).toEqual([
      'xiopro-infra:network.cidr: "8.8.0.0/16" is not a private (RFC 1918) range | use a range inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16',
      'xiopro-infra:network.subnet: "10.1.1.5/24" is not a network address with prefix | write the subnet address, e.g. 10.0.1.0/24 (host bits zero)',
    ]);
  });

  it("rejects duplicate and out-of-subnet private IPs", () => {
    const out = problemsOf("tst", (c) => {
      c.nodeA.privateIp = "10.1.1.20";
      c.nodeC = { enabled: true, serverType: "cpx32", privateIp: "10.1.1.20" };
      c.nodeD = { enabled: true, serverType: "cpx32", privateIp: "10.1.9.20" };
    });
    expect(out).toEqual([
      'xiopro-infra:nodeC.privateIp: "10.1.1.20" is already used by nodeA | give every node its own address, or leave privateIp unset to allocate one',
      'xiopro-infra:nodeD.privateIp: "10.1.9.20" is outside the subnet 10.1.1.0/24 | choose a free address inside 10.1.1.0/24 from .2 up, e.g. 10.1.1.10',
    ]);
  });

  it("rejects Grafana without Prometheus on its node, two monitoring nodes, and alert delivery with no monitoring", () => {
    expect(
      problemsOf("tst", (c) => {
        c.nodeD = { enabled: true, serverType: "cpx22", services: ["grafana", "monitoring"] };
        c.nodeA.services = c.nodeA.services.filter((s: string) => s !== "monitoring");
      }),
    ).toEqual([
      'xiopro-infra:nodeD.services: "grafana" runs on nodeA and nodeD, but it may run on one node only | remove grafana from all but one node',
      'xiopro-infra:nodeA.services: lists "grafana" but not "monitoring" | add "monitoring" to nodeA.services, or move grafana to the node that runs monitoring',
    ]);
    expect(
      problemsOf("tst", (c) => (c.nodeD = { enabled: true, serverType: "cpx22", services: ["monitoring"] })),
    ).toEqual([
      'xiopro-infra:nodeD.services: "monitoring" runs on nodeA and nodeD, but it may run on one node only | remove monitoring from all but one node',
    ]);
    expect(
      problemsOf("tst", (c) => (c.monitoring = { webhook: { url: "http://hooks.example.com/x?token=1" } })),
    ).toEqual([
      'xiopro-infra:monitoring.webhook.url: "http://hooks.example.com/x?token=1" is not valid | write an https:// URL without a query string',
    ]);
    expect(
      problemsOf("tst", (c) => {
        c.nodeA.services = c.nodeA.services.filter((s: string) => s !== "monitoring" && s !== "grafana");
        c.monitoring = { webhook: { url: "https://hooks.example.com/x" } };
      }),
    ).toEqual([
      'xiopro-infra:monitoring: configures alert delivery, but no enabled node runs the monitoring service | add "monitoring" to nodeA.services (or a dedicated node\'s)',
    ]);
  });

  it("rejects the reserved gateway address", () => {
    expect(problemsOf("tst", (c) => (c.nodeA.privateIp = "10.1.1.1"))).toEqual([
      'xiopro-infra:nodeA.privateIp: "10.1.1.1" is the subnet\'s gateway address (reserved by Hetzner) | choose a free address inside 10.1.1.0/24 from .2 up, e.g. 10.1.1.10',
    ]);
  });

  it("rejects a hostname outside the domain", () => {
    expect(problemsOf("tst", (c) => (c.ingress.sites[0].hostname = "app.other.example"))).toEqual([
      'xiopro-infra:ingress.sites[0].hostname: "app.other.example" is outside the domain tst.xiopro.example | use a name ending in .tst.xiopro.example, or change domain',
    ]);
  });

  it("rejects volumes outside Hetzner's size limits", () => {
    expect(
      problemsOf("tst", (c) => {
        c.nodeA.volumes[0].sizeGb = 5;
        c.nodeA.volumes[1].sizeGb = 20000;
      }),
    ).toEqual([
      "xiopro-infra:nodeA.volumes[0].sizeGb: 5 GB is outside Hetzner's volume limits | use 10 to 10240 GB",
      "xiopro-infra:nodeA.volumes[1].sizeGb: 20000 GB is outside Hetzner's volume limits | use 10 to 10240 GB",
    ]);
  });

  it("rejects a custom interface without exposure class, owner or justification", () => {
    const out = problemsOf("tst", (c) =>
      c.nodeA.services.push({ name: "metrics-relay", interfaces: [{ port: 7000 }] }),
    );
    expect(out).toEqual([
      "xiopro-infra:nodeA.services[9].interfaces[0].class: is required but not set | set it in the stack file (see docs/config.md: Exposure class: A public, B overlay, C private network, D localhost)",
      "xiopro-infra:nodeA.services[9].interfaces[0].owner: is required but not set | set it in the stack file (see docs/config.md: Who answers for this interface (team or person))",
      "xiopro-infra:nodeA.services[9].interfaces[0].justification: is required but not set | set it in the stack file (see docs/config.md: Why this interface must exist)",
    ]);
  });

  it("makes a class C interface name its clients, known and placed, and refuses clients on other classes", () => {
    const out = problemsOf("tst", (c) =>
      c.nodeA.services.push({
        name: "embedder",
        interfaces: [
          { port: 7000, class: "C", owner: "ml", justification: "its api port" },
          { port: 7001, class: "C", owner: "ml", justification: "its api port", clients: ["agentd-wroker"] },
          { port: 7002, class: "C", owner: "ml", justification: "its api port", clients: ["wal-receiver"] },
          { port: 7003, class: "D", owner: "ml", justification: "its api port", clients: ["agentd-worker"] },
          {
            port: 7004,
            class: "C",
            owner: "ml",
            justification: "its api port",
            clients: ["embedder", "node-exporter"],
          },
        ],
      }),
    );
    const at = "xiopro-infra:nodeA.services[9].interfaces";
    expect(out).toEqual([
      `${at}[0].clients: is missing: tcp/7000 on the private network would admit no node | name the services that connect, e.g. clients: [agentd-worker] (services: ${[...CATALOG_SERVICE_NAMES, "embedder", "load-balancer"].sort().join(", ")})`,
      `${at}[1].clients[0]: "agentd-wroker" is neither a catalog service nor a service of this stack | use one of ${[...CATALOG_SERVICE_NAMES, "embedder", "load-balancer"].sort().join(", ")} (did you mean "agentd-worker"?)`,
      `${at}[2].clients[0]: "wal-receiver" runs on no enabled node, so the port admits no one | add wal-receiver to a node's services, or remove it from clients`,
      `${at}[3].clients: is set on a class D interface; only class C admits named clients | remove clients (localhost only)`,
    ]);
  });

  it("takes IPv6-only nodes apart: no site on one, no IPv4-only allowlist to reach one, and the endpoints it needs over IPv6", () => {
    expect(
      problemsOf("tst", (c) => {
        c.nodeA.publicIpv4 = false;
        c.adminPath = { mode: "allowlist", sshAllowlist: ["198.51.100.7/32"] };
      }),
    ).toEqual([
      'xiopro-infra:ingress.sites[0].service: "agentd-web" runs on nodeA, which has no public IPv4: the site gets no A record, and clients without IPv6 cannot reach it | set nodeA.publicIpv4: true (docs/ipv6-only.md)',
      "xiopro-infra:nodeA.publicIpv4: is false, but the admin path is an SSH allowlist of IPv4 ranges only: no operator could reach the node | set nodeA.publicIpv4: true, or add your IPv6 range to adminPath.sshAllowlist (docs/ipv6-only.md)",
    ]);
    const obj = structuredClone(stackObject("tst")) as Record<string, any>;
    obj.nodeC = { enabled: true, serverType: "cpx22", publicIpv4: false, services: [] };
    const r = loadConfig(toRaw(obj));
    if (!r.ok) throw new Error(r.problems.map((p) => p.message).join("\n"));
    expect(r.notices.filter((n) => n.key.endsWith("publicIpv4"))).toEqual([
      {
        key: "xiopro-infra:nodeC.publicIpv4",
        message: `is false: nodeC reaches the internet over IPv6 only, so every endpoint it calls needs an AAAA record (check with dig AAAA): ${new URL(obj.backup.repository.endpoint).hostname}, ntp1.hetzner.de, ntp2.hetzner.com, ntp3.hetzner.net (docs/ipv6-only.md)`,
      },
    ]);
    // The plan then bills no IPv4 for it and gives it no A record.
    const plan = planOf(
      "tst",
      (c) => (c.nodeC = { enabled: true, serverType: "cpx22", publicIpv4: false, services: [] }),
    );
    const cLines = plan.cost.lines.filter((l) => l.resource.endsWith("tst-node-c"));
    expect(cLines.map((l) => l.kind).sort()).toEqual(["primary-ipv6", "server"]);
    expect(plan.dns.records.filter((d) => d.node === "nodeC").map((d) => d.type)).toEqual(["AAAA"]);
  });

  it("rejects Node C enabled without a server type", () => {
    expect(problemsOf("tst", (c) => (c.nodeC = { enabled: true }))).toEqual([
      "xiopro-infra:nodeC.serverType: is not set, but the node is enabled | set a server type such as cpx42, or set nodeC.enabled: false",
    ]);
  });

  it("treats prototype member names as unknown keys (no crash), at the top and inside objects and maps", () => {
    const raw = toRaw(stackObject("tst"));
    raw.values["xiopro-infra:constructor"] = "x";
    raw.values["xiopro-infra:toString"] = "x";
    raw.values["xiopro-infra:agentd"] = '{"workers": 1, "user": "agentd", "__proto__": {"polluted": true}}';
    const r = loadConfig(raw);
    expect(r.ok ? [] : r.problems.map((p) => `${p.key}: ${p.message}`)).toEqual([
      "xiopro-infra:constructor: is not a known key",
      "xiopro-infra:toString: is not a known key",
      "xiopro-infra:agentd.__proto__: is not a known key",
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("does not take prototype member names for catalog entries (service, location, server type, image)", () => {
    const out = problemsOf("tst", (c) => {
      c.nodeA.services.push("constructor");
      c.nodeA.location = "toString";
      c.nodeA.serverType = "valueOf";
      c.nodeA.image = "hasOwnProperty";
    });
    expect(out.map((l) => l.split(" | ")[0])).toEqual([
      'xiopro-infra:nodeA.location: "toString" is not a Hetzner location',
      'xiopro-infra:nodeA.serverType: "valueOf" is not a Hetzner server type in the catalog (2026-06-15)',
      'xiopro-infra:nodeA.image: "hasOwnProperty" is not a supported image',
      'xiopro-infra:nodeA.services[9]: "constructor" is not a catalog service',
    ]);
  });

  it("names a key whose project prefix is misspelt instead of dropping the block, and leaves provider keys alone", () => {
    const raw = toRaw(stackObject("tst"));
    raw.values["xiopro-infar:ingress"] = raw.values["xiopro-infra:ingress"]!;
    raw.values["hcloud:endpoint"] = "https://api.hetzner.cloud/v1";
    const r = loadConfig(raw);
    expect(r.ok ? [] : r.problems.map((p) => `${p.key}: ${p.message} | ${p.fix}`)).toEqual([
      'xiopro-infar:ingress: is not read: its project prefix "xiopro-infar" is not xiopro-infra | write xiopro-infra:ingress',
    ]);
  });

  it("refuses .inf and .nan in a stack file instead of turning them into a default", () => {
    const r = parseStackYaml(
      "config:\n  xiopro-infra:agentd:\n    workers: .inf\n    user: agentd\n  xiopro-infra:dns:\n    ttl: .nan\n",
      "Pulumi.tst.yaml",
    );
    expect(r.ok ? [] : r.problems.map((p) => `${p.key}: ${p.message}`)).toEqual([
      "Pulumi.tst.yaml: xiopro-infra:agentd.workers: is not a finite number (.inf or .nan)",
      "Pulumi.tst.yaml: xiopro-infra:dns.ttl: is not a finite number (.inf or .nan)",
    ]);
  });

  it("refuses a public site in front of a platform port (database, Caddy admin, Alertmanager)", () => {
    const site = (service: string) =>
      problemsOf("tst", (c) => (c.ingress.sites = [{ hostname: "x.tst.xiopro.example", service }]));
    const never = (svc: string, port: number, itf: string) =>
      `xiopro-infra:ingress.sites[0].service: "${svc}" must never be public: its localhost port ${port} (${itf}) is for the node itself | point the site at agentd-web, or at a service of your own with a class D interface`;
    expect(site("postgresql")).toEqual([never("postgresql", 5432, "postgres-local")]);
    expect(site("ingress")).toEqual([never("ingress", 2019, "caddy-admin")]);
    expect(site("monitoring")).toEqual([never("monitoring", 9093, "alertmanager")]);
    expect(site("agentd-web")).toEqual([]);
  });

  it("checks the agent runtime's commands against ExecStart's grammar, refuses root and multi-line environment values", () => {
    const fix =
      "write the program's path inside the release and its arguments, separated by single spaces, from letters, digits and . _ / = : , @ + -";
    const cmd = (webCommand: string) => problemsOf("tst", (c) => (c.agentd = { ...c.agentd, webCommand }));
    expect(cmd("bin/agentd web\nUser=root")).toEqual([
      `xiopro-infra:agentd.webCommand: "bin/agentd web\\nUser=root" contains a line break (U+000A) at position 15 | ${fix}`,
    ]);
    expect(cmd("bin/agentd %n")).toEqual([
      `xiopro-infra:agentd.webCommand: "bin/agentd %n" has "%" in "%n" (a systemd specifier) | ${fix}`,
    ]);
    expect(cmd("bin/agentd $HOME")).toEqual([
      `xiopro-infra:agentd.webCommand: "bin/agentd $HOME" has "$" in "$HOME" (a variable) | ${fix}`,
    ]);
    expect(cmd("/bin/sh -c x")).toEqual([
      `xiopro-infra:agentd.webCommand: "/bin/sh -c x" starts with "/bin/sh", which is not a path inside the release | ${fix}`,
    ]);
    expect(cmd("bin/agentd  web")).toEqual([
      `xiopro-infra:agentd.webCommand: "bin/agentd  web" has an empty word (leading, trailing or double space) | ${fix}`,
    ]);
    expect(cmd("bin/agentd web --port=8000")).toEqual([]);
    expect(
      problemsOf("tst", (c) => (c.agentd = { ...c.agentd, user: "root", environment: { MODE: "a\u2028b" } })),
    ).toEqual([
      'xiopro-infra:agentd.user: "root" would run the agent runtime with every privilege | use a user of its own, e.g. agentd (the default)',
      'xiopro-infra:agentd.environment.MODE: "a\u2028b" contains a control character (U+2028) at position 2 | use a single line of printable text',
    ]);
  });

  it("refuses a stack file that is not valid UTF-8, naming the line and byte", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "utf8-"));
    fs.writeFileSync(
      path.join(dir, "Pulumi.bad.yaml"),
      Buffer.concat([
        Buffer.from('config:\n  xiopro-infra:domain: "x'),
        Buffer.from([0xff]),
        Buffer.from('.example"\n'),
      ]),
    );
    const r = readStackFile(dir, "bad");
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.ok ? [] : r.problems).toEqual([
      { key: "Pulumi.bad.yaml:2", message: "is not valid UTF-8 (byte 34: 0xff)", fix: "save the file as UTF-8" },
    ]);
  });

  it("refuses secrets in plain sight: a plain hcloud:token, secret-named plain environment, credentials in a URL", () => {
    const raw = toRaw(stackObject("tst"));
    raw.values["hcloud:token"] = "fake-plain-hcloud-token";
    raw.values["xiopro-infra:agentd"] = JSON.stringify({
      workers: 1,
      user: "agentd",
      environment: { OPENAI_API_KEY: "fake-sk-1", LOG_LEVEL: "info" },
    });
    raw.values["xiopro-infra:monitoring"] = JSON.stringify({
      webhook: { url: "https://bot:fake-pw@chat.example/hook" },
    });
    const r = loadConfig(raw);
    const out = r.ok ? [] : r.problems.map((p) => `${p.key}: ${p.message} | ${p.fix}`);
    expect(out).toEqual([
      "xiopro-infra:agentd.environment.OPENAI_API_KEY: is named like a secret, but agentd.environment is plain text in the stack file and on the node | move it to providerKeys (workers) or webSecrets (web): pulumi config set --secret --path 'providerKeys.OPENAI_API_KEY' <value>",
      `xiopro-infra:monitoring.webhook.url: "https://…@chat.example/hook" carries a user name or password | remove it from the URL; the webhook's token is the secret alertWebhookToken`,
      "hcloud:token: is set as plain text, so the Hetzner API token sits unencrypted in the stack file | run: pulumi config rm hcloud:token && pulumi config set --secret hcloud:token <token> (or export HCLOUD_TOKEN)",
    ]);
    expect(out.join("\n")).not.toMatch(/fake-pw|fake-sk-1|fake-plain-hcloud-token/);
  });

  it("refuses a plain value beside encrypted ones in a map of secrets", () => {
    const r = parseStackYaml(
      "config:\n  xiopro-infra:providerKeys:\n    OPENAI_API_KEY:\n      secure: AAABAKe0\n    ANTHROPIC_API_KEY: fake-plain-value\n",
      "Pulumi.tst.yaml",
    );
    expect(r.ok ? [] : r.problems).toEqual([
      {
        key: "Pulumi.tst.yaml: xiopro-infra:providerKeys.ANTHROPIC_API_KEY",
        message: "is plain text beside encrypted values",
        fix: "run: pulumi config set --secret --path 'xiopro-infra:providerKeys.ANTHROPIC_API_KEY' <value>",
      },
    ]);
  });

  it("under pulumi up, reads the stack file too: the engine hands a mixed map over as one secret", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xiopro-mixed-"));
    const mixed =
      "  xiopro-infra:providerKeys:\n    OPENAI_API_KEY:\n      secure: AAABAKe0\n    ANTHROPIC_API_KEY: fake-plain-value\n";
    fs.writeFileSync(
      path.join(dir, "Pulumi.tst.yaml"),
      fs.readFileSync(path.join(ROOT, "Pulumi.tst.yaml"), "utf8") + mixed,
    );
    const raw = toRaw(stackObject("tst"));
    raw.values["xiopro-infra:providerKeys"] = JSON.stringify({
      OPENAI_API_KEY: "fake-sk-1",
      ANTHROPIC_API_KEY: "fake-plain-value",
    });
    const pulumi = await import("@pulumi/pulumi");
    pulumi.runtime.setAllConfig(raw.values, [...raw.secretKeys, "xiopro-infra:providerKeys"]);
    const { planFromRuntime } = await import("../../infra/program.js");
    let message = "";
    try {
      planFromRuntime("tst", dir);
    } catch (e) {
      message = (e as Error).message;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(message).toBe(
      [
        'Stack config "tst" has 1 problem; nothing was declared or changed:',
        "  - Pulumi.tst.yaml: xiopro-infra:providerKeys.ANTHROPIC_API_KEY: is plain text beside encrypted values",
        "      fix: run: pulumi config set --secret --path 'xiopro-infra:providerKeys.ANTHROPIC_API_KEY' <value>",
      ].join("\n"),
    );
  });

  it("refuses names and limits that would collide: a site on a node's host name, one key twice, toolkit labels, a taken port, more volumes than Hetzner attaches", () => {
    expect(
      problemsOf("tst", (c) => {
        c.ingress.sites = [{ hostname: "tst-node-a.tst.xiopro.example", service: "agentd-web" }];
        c.sshPublicKeys = [
          c.sshPublicKeys[0],
          `${c.sshPublicKeys[0].split(" ").slice(0, 2).join(" ")} another-comment`,
        ];
        c.nodeA.labels = { stack: "mine", team: "platform" };
        c.nodeA.services.push(
          {
            name: "metrics-proxy",
            interfaces: [
              { port: 5432, class: "C", owner: "ml", justification: "a proxy for metrics", clients: ["monitoring"] },
              { port: 7000, class: "C", owner: "ml", justification: "its api port", clients: ["agentd-worker"] },
            ],
          },
          {
            name: "other",
            interfaces: [
              { port: 7000, class: "D", owner: "ml", justification: "another service" },
              { port: 7000, protocol: "udp", class: "D", owner: "ml", justification: "udp is another port" },
            ],
          },
        );
        c.nodeA.volumes = Array.from({ length: 17 }, (_, i) => ({
          name: `v${i}`,
          sizeGb: 10,
          mountPoint: i === 0 ? "/var/lib/postgresql" : `/srv/v${i}`,
        }));
      }),
    ).toEqual([
      "xiopro-infra:nodeA.labels.stack: is set by the toolkit | remove it; the toolkit sets env, node, role, pool, managed-by, stack",
      "xiopro-infra:nodeA.services[9].interfaces[0].port: 5432/tcp is already postgresql's on nodeA | choose a port no other service of this node uses",
      "xiopro-infra:nodeA.services[10].interfaces[0].port: 7000/tcp is already metrics-proxy's on nodeA | choose a port no other service of this node uses",
      "xiopro-infra:nodeA.volumes: has 17 volumes; Hetzner attaches at most 16 to a server | use at most 16, or fewer, larger volumes",
      "xiopro-infra:sshPublicKeys[1]: is the same key as sshPublicKeys[0] (comments aside) | list each key once",
      'xiopro-infra:ingress.sites[0].hostname: "tst-node-a.tst.xiopro.example" is the host name of nodeA (its A/AAAA records and reverse DNS) | use another name, e.g. app.tst.xiopro.example',
    ]);
  });

  it("holds production policy unless the risk is accepted by name, and refuses zero workers for a worker service", () => {
    const risky = (c: Record<string, any>) => {
      c.nodeA.services = c.nodeA.services.filter((s: string) => s !== "backup");
      c.protection = { deleteProtection: false, pulumiProtect: false };
    };
    expect(problemsOf("prd", (c) => (risky(c), (c.agentd = { ...c.agentd, workers: 0 })))).toEqual([
      'xiopro-infra:nodeA.services: runs postgresql in prd, but no node runs the backup service | add "backup" to its services, or accept the risk by name: acceptedRisks: [prd-without-backups]',
      "xiopro-infra:protection.deleteProtection: is off in prd: a stray pulumi destroy or console click deletes the database volume | set it to true, or accept the risk by name: acceptedRisks: [prd-without-protection]",
      "xiopro-infra:protection.pulumiProtect: is off in prd: a stray pulumi destroy or console click deletes the database volume | set it to true, or accept the risk by name: acceptedRisks: [prd-without-protection]",
      "xiopro-infra:agentd.workers: is 0, but nodeA runs agentd-worker | set workers to 1 or more, or remove agentd-worker from the services",
    ]);
    expect(
      problemsOf("prd", (c) => (risky(c), (c.acceptedRisks = ["prd-without-backups", "prd-without-protection"]))),
    ).toEqual([]);
    expect(problemsOf("tst", risky)).toEqual([]);
    expect(problemsOf("prd", (c) => (c.acceptedRisks = ["yolo"]))[0]).toMatch(
      /^xiopro-infra:acceptedRisks\[0\]: "yolo" /,
    );
  });

  it("refuses Caddyfile placeholder syntax in the ACME e-mail instead of letting Caddy expand it", () => {
    expect(problemsOf("tst", (c) => (c.ingress.acmeEmail = "ops{env.HCLOUD_TOKEN}@xiopro.example"))).toEqual([
      'xiopro-infra:ingress.acmeEmail: "ops{env.HCLOUD_TOKEN}@xiopro.example" is not valid | write a plain e-mail address (no braces or quotes: it lands in the Caddyfile)',
    ]);
    expect(problemsOf("tst", (c) => (c.ingress.acmeEmail = "ops+acme@xiopro.example"))).toEqual([]);
  });

  it("names unknown keys at every level and suggests the intended one", () => {
    expect(
      problemsOf("tst", (c) => {
        c.domian = "x.example";
        c.nodeA.serverTyp = "cpx22";
      }),
    ).toEqual([
      'xiopro-infra:domian: is not a known key | did you mean "domain"? Known keys: environment, location, networkZone, network, domain, dns, ingress, adminPath, protection, acceptedRisks, maintenance, timeSync, userDataChange, sshPublicKeys, nodeA, nodeB, nodeC, nodeD, pools, loadBalancer, egress, backup, monitoring, agentd, postgresql, wal-receiver, ci-runner, resticPassword, pgbackrestCipherPass, backupS3AccessKey, backupS3SecretKey, backupSftpPrivateKey, backupOffsiteS3AccessKey, backupOffsiteS3SecretKey, backupOffsiteSftpPrivateKey, tailscaleAuthKey, adminSshPrivateKey, alertSmtpPassword, alertWebhookToken, ciRunnerToken, providerKeys, webSecrets',
      'xiopro-infra:nodeA.serverTyp: is not a known key | did you mean "serverType"? Known keys: enabled, serverType, image, baked, location, privateIp, publicIpv4, publicIpv6, backups, labels, volumes, services',
    ]);
  });

  it("reports wrong value types with the value and the expected type", () => {
    expect(
      problemsOf("tst", (c) => {
        c.nodeA.volumes[0].sizeGb = "twenty";
        c.nodeA.backups = "yes";
        c.sshPublicKeys = "ssh-ed25519 AAAA";
      }),
    ).toEqual([
      'xiopro-infra:sshPublicKeys: expected a list, got "ssh-ed25519 AAAA" | write it as a YAML list',
      'xiopro-infra:nodeA.backups: expected true or false, got "yes" | set it to true or false',
      'xiopro-infra:nodeA.volumes[0].sizeGb: expected a whole number, got "twenty" | set it to an integer (GB)',
    ]);
  });

  it("reports every problem at once instead of stopping at the first", () => {
    const out = problemsOf("tst", (c) => {
      c.location = "nowhere";
      c.nodeA.serverType = "big";
      c.ingress.sites[0].hostname = "www.example.org";
      c.adminPath = { mode: "allowlist", sshAllowlist: [] };
    });
    expect(out.map((l) => l.split(":").slice(0, 2).join(":"))).toEqual([
      "xiopro-infra:location",
      "xiopro-infra:nodeA.serverType",
      "xiopro-infra:ingress.sites[0].hostname",
      "xiopro-infra:adminPath.sshAllowlist",
    ]);
  });

  it("refuses an allowlist that opens SSH to the internet, however the range is spelled", () => {
    const open = (cidr: string, i = 0) =>
      `xiopro-infra:adminPath.sshAllowlist[${i}]: "${cidr}" opens SSH to the whole internet | list only the operator's own addresses`;
    const allow = (...sshAllowlist: string[]) =>
      problemsOf("tst", (c) => (c.adminPath = { mode: "allowlist", sshAllowlist }));
    expect(allow("0.0.0.0/0")).toEqual([open("0.0.0.0/0")]);
    expect(allow("198.51.100.7/32", "0::/0", "0.0.0.0/00")).toEqual([open("0::/0", 1), open("0.0.0.0/00", 2)]);
    expect(allow("0.0.0.0/1", "128.0.0.0/1", "2001:db8::/32")).toEqual([
      "xiopro-infra:adminPath.sshAllowlist: 0.0.0.0/1, 128.0.0.0/1 together open SSH to every IPv4 address | list only the operator's own addresses",
    ]);
    expect(allow("::/1", "8000::/2", "c000::/2")).toEqual([
      "xiopro-infra:adminPath.sshAllowlist: ::/1, 8000::/2, c000::/2 together open SSH to every IPv6 address | list only the operator's own addresses",
    ]);
    // A gap of one address is not everything.
    expect(
      allow(
        "0.0.0.0/1",
        "128.0.0.0/2",
        "192.0.0.0/3",
        "224.0.0.0/4",
        "240.0.0.0/5",
        "248.0.0.0/6",
        "252.0.0.0/7",
        "254.0.0.0/8",
        "255.0.0.0/9",
        "255.128.0.0/10",
      ),
    ).toEqual([]);
  });

  it("parses allowlist ranges: dotted decimal, canonical, no host bits, no IPv4-mapped IPv6", () => {
    const allow = (...sshAllowlist: string[]) =>
      problemsOf("tst", (c) => (c.adminPath = { mode: "allowlist", sshAllowlist }));
    expect(
      allow(
        "0/0",
        "010.0.0.0/8",
        "198.51.100.7/24",
        "2001:0DB8::/32",
        "::ffff:0.0.0.0/96",
        "198.51.100.7",
        "2001:db8:7::/48",
        "198.51.100.7/32",
      ),
    ).toEqual([
      'xiopro-infra:adminPath.sshAllowlist[0]: "0/0" is not a dotted-decimal IPv4 CIDR | write four decimal octets, e.g. 198.51.100.7/32',
      'xiopro-infra:adminPath.sshAllowlist[1]: "010.0.0.0/8" is not a dotted-decimal IPv4 CIDR | write four decimal octets, e.g. 198.51.100.7/32',
      'xiopro-infra:adminPath.sshAllowlist[2]: "198.51.100.7/24" has host bits set | write the network address: 198.51.100.0/24',
      'xiopro-infra:adminPath.sshAllowlist[3]: "2001:0DB8::/32" is not in canonical form | write 2001:db8::/32',
      'xiopro-infra:adminPath.sshAllowlist[4]: "::ffff:0.0.0.0/96" is an IPv4-mapped IPv6 range | write the IPv4 range itself, e.g. 198.51.100.7/32',
      'xiopro-infra:adminPath.sshAllowlist[5]: "198.51.100.7" is not a CIDR | write an address and prefix such as 198.51.100.7/32 or 2001:db8:7::/48',
    ]);
  });

  it("rejects a WAL receiver beside the database, its options without a receiver, and a WAL cap the volume cannot hold", () => {
    expect(
      problemsOf("tst", (c) => {
        c.nodeA.services.push("wal-receiver");
        c["wal-receiver"] = { maxSlotWalKeepSizeGb: 6 };
      }),
    ).toEqual([
      "xiopro-infra:wal-receiver.maxSlotWalKeepSizeGb: 6 GB of WAL kept for a disconnected receiver is more than a quarter of nodeA's 20 GB database volume (nodeA runs wal-receiver) | use at most 5 GB, or grow the volume",
      'xiopro-infra:nodeA.services: lists "wal-receiver" beside "postgresql": a copy on the database\'s own node is lost with it | move wal-receiver to another node (enable nodeC or nodeD for it)',
    ]);
    expect(problemsOf("tst", (c) => (c["wal-receiver"] = { synchronous: true }))).toEqual([
      'xiopro-infra:wal-receiver: is set, but no enabled node runs the wal-receiver service, so it has no effect | add "wal-receiver" to a node\'s services (nodeA, nodeC or nodeD), or remove the key',
    ]);
    // Its options moved out of backup in 0.3.0: the old key is refused by name, with where to.
    expect(
      problemsOf("tst", (c) => {
        c.nodeC = { enabled: true, serverType: "cpx22", services: ["wal-receiver"] };
        c.backup.walReceiver = { synchronous: true };
      }),
    ).toEqual([
      "xiopro-infra:backup.walReceiver: moved to xiopro-infra:wal-receiver in 0.3.0, so it is not read | move its value to xiopro-infra:wal-receiver (docs/UPGRADE-0.3.md)",
    ]);
    expect(
      problemsOf("tst", (c) => {
        c.nodeC = { enabled: true, serverType: "cpx22", services: ["wal-receiver"] };
        c.nodeD = { enabled: true, serverType: "cpx22", services: ["wal-receiver"] };
      }),
    ).toEqual([
      'xiopro-infra:nodeD.services: "wal-receiver" runs on nodeC and nodeD, but it may run on one node only | remove wal-receiver from all but one node',
    ]);
    expect(
      problemsOf("tst", (c) => (c.nodeC = { enabled: true, serverType: "cpx22", services: ["wal-receiver"] })),
    ).toEqual([]);
    // The descriptor's requirement of a database somewhere (infra/catalog/services/wal-receiver.ts).
    expect(
      problemsOf("tst", (c) => {
        c.nodeA.services = c.nodeA.services.filter(
          (s: unknown) => !["postgresql", "postgres-exporter", "backup"].includes(s as string),
        );
        c.nodeA.volumes = [];
        c.nodeC = { enabled: true, serverType: "cpx22", services: ["wal-receiver"] };
      }),
    ).toContain(
      'xiopro-infra:nodeC.services: lists "wal-receiver", but no enabled node runs postgresql | remove wal-receiver, or add postgresql to nodeA.services',
    );
  });

  it("requires the database to live on a volume", () => {
    expect(problemsOf("tst", (c) => c.nodeA.volumes.shift())).toEqual([
      "xiopro-infra:nodeA.volumes: has no volume mounted at /var/lib/postgresql, but the node runs postgresql | add a volume {name: pgdata, sizeGb: 50, mountPoint: /var/lib/postgresql} so the database lives on a protected volume",
    ]);
  });
});

describe("secrets in config", () => {
  it("names every secret the stack needs but lacks, with the command that sets it", () => {
    const obj = structuredClone(stackObject("tst"));
    const r = loadConfig(toRaw(obj, [], { secrets: false }));
    expect(r.ok ? [] : r.problems.map((p) => `${p.key}: ${p.message} | ${p.fix}`)).toEqual([
      "xiopro-infra:resticPassword: is not set, but it is needed: restic repository password | run: pulumi config set --secret resticPassword <value>",
      "xiopro-infra:pgbackrestCipherPass: is not set, but it is needed: pgBackRest repository cipher passphrase | run: pulumi config set --secret pgbackrestCipherPass <value>",
      "xiopro-infra:backupS3AccessKey: is not set, but it is needed: Object Storage access key of the backup bucket | run: pulumi config set --secret backupS3AccessKey <value>",
      "xiopro-infra:backupS3SecretKey: is not set, but it is needed: Object Storage secret key of the backup bucket | run: pulumi config set --secret backupS3SecretKey <value>",
      "xiopro-infra:tailscaleAuthKey: is not set, but it is needed: joins each node to the tailnet at first boot (admin path tailscale) | run: pulumi config set --secret tailscaleAuthKey <value>",
      "xiopro-infra:adminSshPrivateKey: is not set, but it is needed: Pulumi delivers credentials over the admin path with it | run: pulumi config set --secret adminSshPrivateKey <value>",
    ]);
  });

  it("needs the alert-delivery secrets only when delivery asks for them", () => {
    const obj = {
      ...stackObject("tst"),
      monitoring: {
        email: { to: ["ops@x.example"], from: "a@x.example", smarthost: "smtp.x.example:587", username: "alerts" },
        webhook: { url: "https://hooks.x.example/a" },
      },
    };
    const raw = toRaw(obj);
    for (const k of ["xiopro-infra:alertSmtpPassword", "xiopro-infra:alertWebhookToken"]) delete raw.values[k];
    const r = loadConfig(raw);
    expect(r.ok ? [] : r.problems.map((p) => `${p.key}: ${p.message} | ${p.fix}`)).toEqual([
      "xiopro-infra:alertSmtpPassword: is not set, but it is needed: SMTP password for alert e-mail | run: pulumi config set --secret alertSmtpPassword <value>",
      "xiopro-infra:alertWebhookToken: is not set, but it is needed: bearer token of the alert webhook | run: pulumi config set --secret alertWebhookToken <value>",
    ]);
  });

  it("rejects a secret set as plain config and says how to re-set it as a secret", () => {
    const raw = toRaw(stackObject("tst"));
    raw.secretKeys = new Set([...raw.secretKeys].filter((k) => k !== "xiopro-infra:resticPassword"));
    const r = loadConfig(raw);
    expect(r.ok ? [] : r.problems.map((p) => `${p.key}: ${p.message} | ${p.fix}`)).toEqual([
      "xiopro-infra:resticPassword: is set as plain text, so its value sits unencrypted in the stack file | run: pulumi config rm resticPassword && pulumi config set --secret resticPassword <value>",
    ]);
  });

  it("lists missing secrets as pending instead of failing when asked (offline plan)", () => {
    const r = loadConfig(toRaw(stackObject("prd"), [], { secrets: false }), { requireSecrets: false });
    expect(r.ok && r.pendingSecrets.map((s) => s.key)).toEqual([
      "resticPassword",
      "pgbackrestCipherPass",
      "backupS3AccessKey",
      "backupS3SecretKey",
      "backupOffsiteS3AccessKey",
      "backupOffsiteS3SecretKey",
      "tailscaleAuthKey",
      "adminSshPrivateKey",
    ]);
  });

  it("reads provider keys set per entry with --path --secret without exposing values", () => {
    const r = parseStackYaml(
      "config:\n  xiopro-infra:providerKeys:\n    OPENROUTER_API_KEY:\n      secure: v1:abc\n",
      "Pulumi.x.yaml",
    );
    expect(r.ok && r.raw.values["xiopro-infra:providerKeys"]).toBe('{"OPENROUTER_API_KEY":"[secret]"}');
    expect(r.ok && [...r.raw.secretKeys]).toEqual(["xiopro-infra:providerKeys"]);
  });
});

describe("stack file reading", () => {
  it("reports malformed YAML with file, line and column", () => {
    const r = parseStackYaml("config:\n  xiopro-infra:environment: tst\n   bad: [1,\n", "Pulumi.bad.yaml");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems[0]!.key).toMatch(/^Pulumi\.bad\.yaml:\d+:\d+$/);
  });

  it("reports a missing stack file and lists the stacks that exist", () => {
    const r = readStackFile(ROOT, "staging");
    expect(r).toEqual({
      ok: false,
      problems: [
        {
          key: "Pulumi.staging.yaml",
          message: "does not exist",
          fix: "use one of the stacks prd, tst, or create Pulumi.staging.yaml from Pulumi.tst.yaml (the worked example)",
        },
      ],
    });
  });

  it("keeps secure values secret and never exposes their ciphertext", () => {
    const r = parseStackYaml(
      "config:\n  xiopro-infra:environment: tst\n  hcloud:token:\n    secure: v1:abc==\n",
      "Pulumi.x.yaml",
    );
    expect(r.ok && r.raw.values["hcloud:token"]).toBe("[secret]");
    expect(r.ok && [...r.raw.secretKeys]).toEqual(["hcloud:token"]);
  });
});
