import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { SERVICE_CATALOG } from "../../infra/catalog/services.js";
import { servicesMarkdown, SERVICES_DOC } from "../../infra/plan/services-doc.js";
import { ROOT } from "../support/helpers.js";

const doc = servicesMarkdown();
const lines = doc.split("\n");

/** The lines of one service's section (from its heading to the next). */
function section(service: string): string[] {
  const start = lines.indexOf(`## ${service}`);
  expect(start, service).toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((l, i) => i > start && l.startsWith("## "));
  return lines.slice(start, end < 0 ? undefined : end);
}

describe("docs/services.md", () => {
  it("matches the plan's tables (write it with servicesMarkdown() from infra/plan/services-doc.ts)", () => {
    expect(fs.readFileSync(path.join(ROOT, SERVICES_DOC), "utf8")).toBe(doc);
  });

  it("has one section per catalog service, in catalog order", () => {
    const headings = lines.filter((l) => l.startsWith("## ") && l !== "## Other stack secrets").map((l) => l.slice(3));
    expect(headings).toEqual(Object.keys(SERVICE_CATALOG));
  });

  it("lists PostgreSQL's two 5432/tcp interfaces: class D on localhost and class C on the private network", () => {
    const rows = section("postgresql").filter((l) => l.includes("5432/tcp"));
    expect(rows).toEqual([
      "| `postgres-local` | 5432/tcp | D | localhost | platform | localhost only | Local services and backups connect over localhost |",
      "| `postgres-private` | 5432/tcp | C | private | platform | private network, from the nodes of its named clients only: wal-receiver, agentd-web, agentd-worker, agentd-sweeper | Services on other nodes connect over the private network (scram-sha-256) |",
    ]);
    expect(lines).toContain(
      "| [postgresql](#postgresql) | PostgreSQL (distro package) with data on a Hetzner Volume | 5432/tcp D, 5432/tcp C |",
    );
  });

  it("lists the ingress's class-A ports and its units and package", () => {
    const s = section("ingress");
    expect(s.filter((l) => / \| A \| /.test(l)).map((l) => l.split(" | ")[1])).toEqual([
      "80/tcp",
      "443/tcp",
      "443/udp",
    ]);
    expect(s).toContain("- Units (must be active): `caddy.service`");
    expect(s).toContain("- Packages: `caddy`");
  });

  it("attributes the pgBackRest passphrase to backup with postgresql, and the agent keys per entry", () => {
    expect(section("backup")).toContain(
      "| `pgbackrest-cipher-pass` (with `postgresql`) | `pgbackrestCipherPass` | pgBackRest repository encryption passphrase (backup service with PostgreSQL) | `postgresql@.service` as `pgbackrest-cipher-pass`, `xiopro-pgbackrest@.service` as `pgbackrest-cipher-pass`, `xiopro-restore-drill.service` as `pgbackrest-cipher-pass` |",
    );
    expect(section("agentd-worker")).toContain(
      "| `provider-<env-name>` | `providerKeys.<ENV_NAME>` | provider key <ENV_NAME> (agentd workers) | `agentd-worker@.service` as `<ENV_NAME>` |",
    );
    expect(section("sshd")).toContain("Credentials: none.");
  });

  it("lists the restore drill as a backup job that needs PostgreSQL on the node", () => {
    expect(section("backup")).toContain(
      "| `restore-drill` (with `postgresql`) | `xiopro-restore-drill.timer` | `xiopro-restore-drill.service` | `Sat *-*-* 05:00:00` | weekly restore drill into a scratch cluster |",
    );
  });
});
