// The rooms of the code and which way imports may run (docs/architecture.md): each CLI room under
// scripts/ imports only itself and scripts/lib/, scripts/lib/ no CLI room, and the product code
// (infra/, cloud-init/, policy/) neither scripts/ nor test or benchmark code.
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

const ROOM_RULE = "a CLI imports only its own room and scripts/lib/ (move what two CLIs share to scripts/lib/)";

export const boundaries = {
  files: ["**/*.ts"],
  plugins: { "import-x": importX },
  settings: { "import-x/resolver-next": [createNodeResolver({ extensions: [".ts", ".js", ".json"] })] },
  rules: {
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
          {
            target: ["./infra", "./cloud-init", "./policy", "./scripts"],
            from: ["./test", "./bench"],
            message: "product code and CLIs import no test or benchmark code",
          },
        ],
      },
    ],
  },
};
