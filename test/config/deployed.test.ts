// The config changes refused against the deployed stack (infra/config/deployed.ts): a volume may
// grow, never shrink; every shrink is reported at once, a pool's once for its config entry.
import { describe, expect, it } from "vitest";
import { deployedFromOutputs, deployedProblems, type Deployed } from "../../infra/config/deployed.js";
import { configOf } from "../support/helpers.js";

const withWorkerPool = (c: Record<string, any>) =>
  (c.pools = [
    {
      name: "workers",
      role: "worker",
      count: 2,
      serverType: "cpx22",
      firstPrivateIp: "10.1.1.20",
      services: [],
      volumes: [{ name: "scratch", sizeGb: 20, mountPoint: "/srv/scratch" }],
    },
  ]);

describe("config against the deployed stack", () => {
  it("reads the sizes of the last deployment's volumes from its nodes output", () => {
    expect(
      deployedFromOutputs({
        nodeA: { name: "tst-node-a", volumes: [{ name: "tst-node-a-pgdata", sizeGb: 40, mountPoint: "/x" }] },
        nodeC: { name: "tst-node-c" },
      }).volumeSizes,
    ).toEqual({ "tst-node-a-pgdata": 40 });
    // A new stack, and an output of another shape, read as nothing deployed.
    expect(deployedFromOutputs(undefined).volumeSizes).toEqual({});
    expect(deployedFromOutputs("not an object").volumeSizes).toEqual({});
  });

  it("lets a volume keep or grow its size, and refuses every shrink at once, a pool's once", () => {
    const c = configOf("tst", withWorkerPool);
    const pg = c.nodeA.volumes[0]!;
    const same = { [`tst-node-a-${pg.name}`]: pg.sizeGb, "tst-workers-1-scratch": 20, "tst-workers-2-scratch": 20 };
    expect(deployedProblems(c, { volumeSizes: same, images: {} })).toEqual([]);
    expect(deployedProblems(c, { volumeSizes: { [`tst-node-a-${pg.name}`]: pg.sizeGb - 1 }, images: {} })).toEqual([]);
    const bigger = {
      [`tst-node-a-${pg.name}`]: pg.sizeGb + 5,
      "tst-workers-1-scratch": 30,
      "tst-workers-2-scratch": 30,
    };
    expect(deployedProblems(c, { volumeSizes: bigger, images: {} }).map((p) => `${p.key}: ${p.message}`)).toEqual([
      `xiopro-infra:nodeA.volumes[0].sizeGb: ${pg.sizeGb} GB is smaller than volume tst-node-a-${pg.name} already is (${pg.sizeGb + 5} GB): Hetzner volumes only grow`,
      "xiopro-infra:pools[0].volumes[0].sizeGb: 20 GB is smaller than volume tst-workers-1-scratch already is (30 GB): Hetzner volumes only grow",
    ]);
  });

  it("refuses a database node's image with another PostgreSQL major unless the change is named exactly", () => {
    const on12 = { volumeSizes: {}, images: { "tst-node-a": "debian-12" } };
    const on13 = { volumeSizes: {}, images: { "tst-node-a": "debian-13" } };
    const image = (img: string, change?: string) => (c: Record<string, any>) => {
      c.nodeA.image = img;
      if (change) c.postgresql = { majorVersionChange: change };
    };
    const problems = (edit: (c: Record<string, any>) => void, d: Deployed) =>
      deployedProblems(configOf("tst", edit), d).map((p) => `${p.key}: ${p.message} | ${p.fix}`);
    expect(problems(image("debian-13"), on12)).toEqual([
      'xiopro-infra:nodeA.image: "debian-13" runs PostgreSQL 17, but tst-node-a runs 15 (image debian-12): the new server would not start the 15 cluster on its volume | take a fresh backup and follow docs/runbooks/postgresql-upgrade.md, then set xiopro-infra:postgresql.majorVersionChange: "15->17"; or keep image debian-12',
    ]);
    expect(problems(image("debian-13", "15->17"), on12)).toEqual([]);
    // The acknowledgement names this change; another does not count.
    expect(problems(image("debian-13", "16->17"), on12)).toHaveLength(1);
    // Back to the older major: refused unless named (a rolled-back upgrade whose cluster is still 15).
    expect(problems(image("debian-12"), on13)).toEqual([
      'xiopro-infra:nodeA.image: "debian-12" runs PostgreSQL 15, but tst-node-a runs 17 (image debian-13): a PostgreSQL 15 server cannot start a 17 cluster | keep image debian-13; only when the volume still holds the 15 cluster (an upgrade rolled back before its new cluster started), set xiopro-infra:postgresql.majorVersionChange: "17->15"',
    ]);
    expect(problems(image("debian-12", "17->15"), on13)).toEqual([]);
    // The same major, and a new stack, are no change.
    expect(problems(image("debian-12"), on12)).toEqual([]);
    expect(problems(image("debian-13"), { volumeSizes: {}, images: {} })).toEqual([]);
  });
});
