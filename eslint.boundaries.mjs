// The rooms of the code and which way imports may run (docs/architecture.md): catalog → config →
// plan → render | components → program → scripts; each CLI room under scripts/ imports only itself
// and scripts/lib/, scripts/lib/ no CLI room; product code imports no script, test or benchmark
// code; lab/ (real-system harnesses shared by tests and benchmarks) and bench/ import no test code;
// and there are no import cycles.
import * as fs from "node:fs";
import * as path from "node:path";
import importX, { createNodeResolver } from "eslint-plugin-import-x";

const here = import.meta.dirname;
/** Every folder of scripts/ except lib/ is one CLI's room. */
export const CLI_ROOMS = fs
  .readdirSync(path.join(here, "scripts"), { withFileTypes: true })
  .filter((d) => d.isDirectory() && d.name !== "lib")
  .map((d) => d.name)
  .sort();

/** The product's rooms in the order data flows; render and components are siblings. */
const FLOW = {
  catalog: ["./infra/catalog"],
  config: ["./infra/config"],
  plan: ["./infra/plan"],
  render: ["./cloud-init"],
  components: ["./infra/components"],
  program: ["./infra/program.ts", "./infra/offline.ts", "./infra/index.ts"],
};
const ORDER = [["catalog"], ["config"], ["plan"], ["render", "components"], ["program"]];
/** The rooms a room must not import: every room after it in the flow, and its sibling. */
function above(room) {
  const level = ORDER.findIndex((l) => l.includes(room));
  const later = ORDER.slice(level + 1).flat();
  const siblings = ORDER[level].filter((r) => r !== room);
  return [...later, ...siblings].flatMap((r) => FLOW[r]);
}

const ROOM_RULE = "a CLI imports only its own room and scripts/lib/ (move what two CLIs share to scripts/lib/)";

export const boundaries = {
  files: ["**/*.ts"],
  plugins: { "import-x": importX },
  settings: {
    // ES module imports name the emitted file (`./x.js`); the source is `./x.ts`.
    "import-x/resolver-next": [
      createNodeResolver({ extensions: [".ts", ".js", ".json"], extensionAlias: { ".js": [".ts", ".js"] } }),
    ],
    // no-cycle follows imports by parsing the imported files: TypeScript needs its parser.
    "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
    "import-x/extensions": [".ts", ".js"],
  },
  rules: {
    // A cycle means two files (or rooms) that cannot be understood apart.
    "import-x/no-cycle": ["error", { ignoreExternal: true }],
    "import-x/no-restricted-paths": [
      "error",
      {
        basePath: here,
        zones: [
          ...CLI_ROOMS.map((room) => ({
            target: `./scripts/${room}`,
            from: "./scripts",
            except: [`./${room}`, "./lib"],
            message: ROOM_RULE,
          })),
          {
            target: "./scripts/lib",
            from: "./scripts",
            except: ["./lib"],
            message: "scripts/lib/ is shared by the CLIs and imports none of them",
          },
          {
            target: ["./infra", "./cloud-init", "./policy"],
            from: "./scripts",
            message: "product code never imports the CLIs",
          },
          // The product's own flow: catalog → config → plan → render | components → program.
          {
            target: "./infra/catalog",
            from: above("catalog"),
            message: "the catalog is the bottom room: it imports no other room",
          },
          {
            target: "./infra/config",
            from: above("config"),
            message: "config comes before the plan: move what both need into config or the catalog",
          },
          {
            target: "./infra/plan",
            from: above("plan"),
            message: "the plan is pure: it imports no renderer, component or program",
          },
          {
            target: "./cloud-init",
            from: above("render"),
            message: "the renderer turns a plan into text: it imports no component or program",
          },
          {
            target: "./infra/components",
            from: above("components"),
            message: "components map the plan onto resources: the program hands them what was rendered",
          },
          {
            target: ["./infra", "./cloud-init", "./policy", "./scripts"],
            from: ["./test", "./bench", "./lab"],
            message: "product code and CLIs import no test, benchmark or lab code",
          },
          {
            target: ["./lab", "./bench"],
            from: "./test",
            message: "the lab and the benchmarks import no test code",
          },
          {
            target: "./lab",
            from: "./bench",
            message: "the lab is shared by tests and benchmarks and imports neither",
          },
        ],
      },
    ],
  },
};
