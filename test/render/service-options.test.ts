// A service's options reach the node through the generic folds: its env file, packages and checks.
// The pgvector option of PostgreSQL is the example (docs/adr/0006-service-options.md).
import { describe, expect, it } from "vitest";
import { pgbackrestConf, serviceEnv } from "../../cloud-init/configs.js";
import { packagesFor } from "../../infra/plan/packages.js";
import { nodeFiles } from "../../cloud-init/render.js";
import { buildSpec } from "../../scripts/accept/spec.js";
import { planOf, problemsOf } from "../support/helpers.js";

const PG_ENV = "/etc/xiopro/postgresql.env";
const withPgvector = (c: Record<string, any>) => (c.postgresql = { pgvector: true });

describe("a service's env file", () => {
  it("holds plain NAME=word lines, and refuses anything a shell or systemd would read differently", () => {
    expect(serviceEnv("postgresql", [["XIOPRO_X", "a,b"]])).toMatch(/\nXIOPRO_X=a,b\n$/);
    expect(() => serviceEnv("postgresql", [["XIOPRO_X", "a b"]])).toThrow(
      "postgresql: setting XIOPRO_X=a b is not a plain NAME=word line",
    );
    expect(() => serviceEnv("postgresql", [["XIOPRO_X", "$(id)"]])).toThrow("not a plain NAME=word line");
    expect(() => serviceEnv("postgresql", [["lower", "a"]])).toThrow("not a plain NAME=word line");
  });
});

describe("a node's packages", () => {
  it("are each listed once, also when several services bring the same one", () => {
    const plan = planOf("tst");
    const node = plan.nodes.find((n) => n.services.some((s) => s.name === "agentd-worker"))!;
    const list = packagesFor(plan, node);
    // agentd-web, the workers and the sweeper each need postgresql-client (their cold-start gate).
    expect(list.filter((p) => p === "postgresql-client")).toEqual(["postgresql-client"]);
    expect(new Set(list).size).toBe(list.length);
  });
});

describe("PostgreSQL's roles, from its descriptor", () => {
  it("reach setup-postgresql as lists per privilege, the same roles the credentials are for", () => {
    const plan = planOf("tst");
    const a = plan.nodes[0]!;
    const env = nodeFiles(plan, a).find((f) => f.path === PG_ENV)!.content;
    expect(env.split("\n").filter((l) => l.startsWith("XIOPRO_PG_"))).toEqual([
      "XIOPRO_PG_ROLES=api,worker,backup,readonly",
      "XIOPRO_PG_OWNER=api",
      "XIOPRO_PG_CONNECT=worker,backup,readonly",
      "XIOPRO_PG_READ_ALL=backup,readonly",
      "XIOPRO_PG_MONITOR=backup",
    ]);
    expect(a.secrets.filter((s) => s.file.startsWith("pg-role-")).map((s) => s.file)).toEqual([
      "pg-role-api",
      "pg-role-worker",
      "pg-role-backup",
      "pg-role-readonly",
    ]);
    const withC = planOf("tst", (c) => (c.nodeC = { enabled: true, serverType: "cpx22", services: [] }));
    expect(nodeFiles(withC, withC.nodes[1]!).some((f) => f.path === PG_ENV)).toBe(false);
  });
});

describe("PostgreSQL's pgvector option", () => {
  it("is off by default: no package, no extension to create, no check", () => {
    const plan = planOf("tst");
    const a = plan.nodes[0]!;
    expect(packagesFor(plan, a).filter((p) => p.includes("pgvector"))).toEqual([]);
    expect(nodeFiles(plan, a).find((f) => f.path === PG_ENV)!.content).not.toContain("XIOPRO_PG_EXTENSIONS");
    expect(buildSpec(plan, a, { volumeIds: { pgdata: "1", artifacts: "2" } }).sqlChecks).toEqual([]);
  });

  it("on debian-13 adds the archive's package after PostgreSQL's, the extension to create, and its acceptance check", () => {
    const plan = planOf("tst", withPgvector);
    const a = plan.nodes[0]!;
    const packages = packagesFor(plan, a);
    expect(packages.slice(packages.indexOf("postgresql"), packages.indexOf("postgresql") + 2)).toEqual([
      "postgresql",
      "postgresql-17-pgvector",
    ]);
    const env = nodeFiles(plan, a).find((f) => f.path === PG_ENV)!;
    expect(env.content.split("\n").filter((l) => l.startsWith("XIOPRO_PG_EXTENSIONS"))).toEqual([
      "XIOPRO_PG_EXTENSIONS=vector",
    ]);
    const roles = nodeFiles(plan, a).find((f) => f.path.endsWith("/xiopro-postgres-roles.service"))!;
    expect(roles.content).toContain(`EnvironmentFile=${PG_ENV}\n`);
    expect(buildSpec(plan, a, { volumeIds: { pgdata: "1", artifacts: "2" } }).sqlChecks).toEqual([
      {
        name: "pgvector extension installed in the platform database",
        database: "xiopro",
        sql: "SELECT extname FROM pg_extension WHERE extname = 'vector'",
        expect: "vector",
      },
    ]);
  });

  it("follows the image's PostgreSQL major, and adds nothing on nodes without PostgreSQL", () => {
    const plan = planOf("tst", (c) => {
      withPgvector(c);
      c.nodeA.image = "ubuntu-24.04";
      c.nodeC = { enabled: true, serverType: "cpx22", services: [] };
    });
    expect(packagesFor(plan, plan.nodes[0]!)).toContain("postgresql-16-pgvector");
    expect(packagesFor(plan, plan.nodes[1]!).filter((p) => p.startsWith("postgresql"))).toEqual([]);
    expect(nodeFiles(plan, plan.nodes[1]!).some((f) => f.path === PG_ENV)).toBe(false);
  });

  it("is refused on an image whose archive has no pgvector, naming the key, the node, the image and the fix", () => {
    expect(
      problemsOf("tst", (c) => {
        withPgvector(c);
        c.nodeA.image = "debian-12";
      }),
    ).toEqual([
      "xiopro-infra:postgresql.pgvector: is true, but tst-node-a's image debian-12 has no pgvector package in its archive (nodeA runs postgresql) | use image debian-13 or ubuntu-24.04 on that node, or set pgvector: false",
    ]);
    expect(problemsOf("tst", (c) => (c.postgresql = { pgvector: "yes" }))).toEqual([
      expect.stringMatching(/^xiopro-infra:postgresql\.pgvector: .*"yes"/),
    ]);
    expect(problemsOf("tst", (c) => (c.postgresql = { pgvectr: true }))).toEqual([
      expect.stringMatching(/^xiopro-infra:postgresql\.pgvectr: /),
    ]);
  });
});

describe("pgBackRest's processes", () => {
  it("restore with one per core of the database node (at least 2); backups and archiving keep to 2", () => {
    const restoreSection = (c?: (x: Record<string, any>) => void) =>
      pgbackrestConf(planOf("tst", c)).match(/^\[global:restore\]\n(.*)\n/m)?.[1];
    expect(restoreSection()).toBe("process-max=2"); // cpx22: 2 cores
    expect(restoreSection((x) => (x.nodeA.serverType = "ccx23"))).toBe("process-max=4");
    const conf = pgbackrestConf(planOf("tst", (x) => (x.nodeA.serverType = "ccx33")));
    expect(conf).toMatch(/^\[global\]\n(?:.*\n)*?process-max=2\n/m);
    expect(conf).toMatch(/^\[global:archive-push\]\nprocess-max=2\n/m);
    expect(conf).toContain("[global:restore]\nprocess-max=8\n");
  });
});
