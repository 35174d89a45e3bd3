// The outbound allowlist per role (xiopro-infra:egress): off by default, and when on, exactly what the
// node's services need plus what the operator adds. Mapping only; test/node/egress.test.ts enforces it.
import { describe, expect, it } from "vitest";
import { planOf, problemsOf } from "../support/helpers.js";
import { egressList, nftablesRuleset } from "../../cloud-init/configs.js";
import { nodeFiles } from "../../cloud-init/render.js";

describe("egress allowlist: plan", () => {
  it("is off by default: no allowlist, no egress table, no refresh unit", () => {
    const plan = planOf("tst");
    const a = plan.nodes[0]!;
    expect(a.egress).toBeUndefined();
    expect(nftablesRuleset(plan, a)).not.toContain("xiopro_egress");
    expect(nodeFiles(plan, a).filter((f) => f.path.includes("egress"))).toEqual([]);
  });

  it("lists what the node's services need and the operator's entries for its role", () => {
    const plan = planOf("tst", (c) => {
      c.egress = {
        allowlistRoles: ["control"],
        allow: [
          { host: "api.openrouter.ai", ports: [443], why: "model provider API" },
          { host: "10.9.8.7", protocol: "udp", ports: [514, 515], why: "syslog", roles: ["control"] },
        ],
      };
      c.monitoring = {
        email: { to: ["ops@x.example"], from: "a@x.example", smarthost: "smtp.x.example:587" },
        webhook: { url: "https://hooks.x.example:8443/alerts" },
      };
    });
    const a = plan.nodes[0]!;
    expect(a.egress!.destinations.map((d) => `${d.host} ${d.protocol}/${d.port}`)).toEqual([
      "ntp1.hetzner.de udp/123",
      "ntp2.hetzner.com udp/123",
      "ntp3.hetzner.net udp/123",
      "acme-v02.api.letsencrypt.org tcp/443",
      "smtp.x.example tcp/587",
      "hooks.x.example tcp/8443",
      "app.tst.xiopro.example tcp/443",
      "api.openrouter.ai tcp/443",
      "10.9.8.7 udp/514",
      "10.9.8.7 udp/515",
    ]);
    // The backup repository joins when the files are rendered (a created Storage Box's host is known then).
    expect(
      egressList(plan, a)
        .split("\n")
        .filter((l) => l && !l.startsWith("#"))
        .at(-1),
    ).toBe("fsn1.your-objectstorage.com\ttcp\t443\tbackup repository (pgBackRest, restic)");
    const nft = nftablesRuleset(plan, a);
    expect(nft).toContain("meta skuid 0 accept");
    expect(nft).toContain("ip daddr 10.1.0.0/16 accept");
    expect(nft).toContain("counter reject with icmpx admin-prohibited");
    const paths = nodeFiles(plan, a).map((f) => f.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "/etc/xiopro/egress.tsv",
        "/usr/local/lib/xiopro/xiopro-egress",
        "/etc/systemd/system/xiopro-egress.service",
        "/etc/systemd/system/xiopro-egress.timer",
      ]),
    );
  });

  it("orders no certificate behind the load balancer, so lists no ACME directory there", () => {
    const plan = planOf("tst", (c) => {
      c.egress = { allowlistRoles: ["product"] };
      c.nodeD = {
        enabled: true,
        serverType: "cpx22",
        services: [
          "ingress",
          { name: "shop", interfaces: [{ port: 9000, class: "D", owner: "p", justification: "upstream" }] },
        ],
      };
      c.ingress.sites.push({ hostname: "shop.tst.xiopro.example", service: "shop" });
      c.loadBalancer = { type: "lb11", privateIp: "10.1.1.5", targets: ["nodeD"] };
    });
    const d = plan.nodes.find((n) => n.key === "nodeD")!;
    expect(d.egress!.destinations.map((x) => x.host)).not.toContain("acme-v02.api.letsencrypt.org");
    expect(plan.nodes[0]!.egress).toBeUndefined();
  });
});

describe("egress allowlist: validation", () => {
  it("reports a role without nodes, a runner it cannot serve and entries that change nothing, at once", () => {
    expect(
      problemsOf("tst", (c) => {
        c.pools = [
          {
            name: "ci",
            role: "ci-runner",
            count: 1,
            serverType: "cpx32",
            firstPrivateIp: "10.1.1.40",
            services: ["ci-runner"],
          },
        ];
        c["ci-runner"] = { repository: "xiopro/platform", version: "2.330.0", sha256: { x64: "0".repeat(64) } };
        c.egress = {
          allowlistRoles: ["monitoring", "ci-runner"],
          allow: [{ host: "api.openrouter.ai", ports: [443], why: "provider", roles: ["worker"] }],
        };
      }),
    ).toEqual([
      'xiopro-infra:egress.allowlistRoles[0]: "monitoring" is the role of no node in this stack | use one of control, ci-runner, or remove it',
      'xiopro-infra:egress.allowlistRoles: includes "ci-runner", whose pools[0] runs ci-runner: its jobs reach GitHub\'s per-job hosts (*.actions.githubusercontent.com, *.blob.core.windows.net), which an address allowlist cannot follow | remove ci-runner from allowlistRoles, or run ci-runner on a node of another role',
      'xiopro-infra:egress.allow[0].roles[0]: "worker" is not in allowlistRoles, so its outbound traffic is open and the entry changes nothing | add worker to allowlistRoles, or remove it here',
    ]);
    expect(
      problemsOf("tst", (c) => {
        c.egress = { allow: [{ host: "api.openrouter.ai", ports: [443], why: "provider" }] };
      }),
    ).toEqual([
      "xiopro-infra:egress.allow: lists destinations, but allowlistRoles is empty: every node's outbound traffic is open | name the roles to restrict in allowlistRoles, or remove allow",
    ]);
  });
});
