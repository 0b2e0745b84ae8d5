/** Where `kalandrad admin` sends its calls and with which token (cli/admin.ts). */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@kalandra/test-support";
import { Command } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import { adminTarget, registerModerationCommands } from "../../src/cli/admin.js";

const tmp = tempDir("admin-cli");
const dir = tmp.path;
afterAll(() => tmp.cleanup());

describe("kalandrad admin target", () => {
  it("takes --url and --token as given", () => {
    expect(adminTarget({ url: "http://h:1/", token: "t" }, {})).toEqual({
      url: "http://h:1",
      token: "t",
    });
  });

  it("falls back to $KALANDRA_ADMIN_TOKEN and the configuration", () => {
    const file = join(dir, "k.toml");
    writeFileSync(
      file,
      '[auth]\nmethods = ["enrollment"]\n[monitoring]\nlisten = "0.0.0.0:9999"\nadmin_token = "from-file"\n',
    );
    expect(adminTarget({ config: file }, {})).toEqual({
      url: "http://127.0.0.1:9999",
      token: "from-file",
    });
    expect(adminTarget({ config: file }, { KALANDRA_ADMIN_TOKEN: "from-env" }).token).toBe(
      "from-env",
    );
    writeFileSync(file, '[monitoring]\nlisten = "[::1]:9998"\n');
    expect(adminTarget({ config: file, token: "t" }, {}).url).toBe("http://[::1]:9998");
  });

  it("registers every admin subcommand and audit verify", () => {
    const p = new Command("kalandrad");
    registerModerationCommands(p);
    const admin = p.commands.find((c) => c.name() === "admin");
    expect(admin?.commands.map((c) => c.name()).sort()).toEqual(
      [
        "audit",
        "ban",
        "bans",
        "devices",
        "kick",
        "messages",
        "redact",
        "retention",
        "rooms",
        "sweep",
        "unban",
        "user",
        "users",
      ].sort(),
    );
    const user = admin?.commands.find((c) => c.name() === "user");
    expect(user?.commands.map((c) => c.name())).toEqual(["add", "list", "devices", "revoke"]);
    const sub = (name: string) =>
      admin?.commands.find((c) => c.name() === name)?.commands.map((c) => c.name());
    expect(sub("rooms")).toEqual(["list", "show", "delete", "authority", "transfer"]);
    expect(sub("users")).toEqual(["list", "show", "devices"]);
    expect(sub("devices")).toEqual(["show", "revoke"]);
    const audit = p.commands.find((c) => c.name() === "audit");
    expect(audit?.commands.map((c) => c.name())).toEqual(["verify"]);
  });
});
