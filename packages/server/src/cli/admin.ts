/**
 * The operator commands of `kalandrad` (issue 8):
 *
 *   kalandrad admin kick      --room R --user U [--reason T]
 *   kalandrad admin ban       --user U [--scope room|hub] [--room R] [--reason T]
 *   kalandrad admin unban     --user U [--scope room|hub] [--room R]
 *   kalandrad admin redact    --room R --index I [--reason T]
 *   kalandrad admin retention --room R [--max-age-ms N] [--max-count N]
 *   kalandrad admin sweep | bans | audit [--from N --limit N --chain C] | messages --user U
 *   kalandrad admin user add NAME | list | devices USER | revoke SENDER_ID   (userAdmin.ts)
 *   kalandrad admin rooms list|show|delete, users list|show|devices, devices show|revoke
 *                                                                          (roomAdmin.ts)
 *   kalandrad audit verify    [--data DIR | --config FILE]   (every chain: hub and shard-<i>)
 *
 * `admin` calls the admin API of a running hub (adminApi.ts) on its monitoring listener:
 * `--url`, else `http://<monitoring.listen>` of the configuration; the token from
 * `--token`, else $KALANDRA_ADMIN_TOKEN, else monitoring.admin_token of the configuration
 * (file or KALANDRA_MONITORING__ADMIN_TOKEN). It prints the JSON answer; exit 1 when the
 * hub refused. `audit verify` reads the data directory itself (read-only, safe beside a
 * running hub) and names the first broken record; exit 1 when the chain is broken.
 */
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { Option } from "commander";
import { shardDirs } from "../runtime/node/shards/layout.js";
import { verifyAuditLog } from "../storage/lmdb/verifyLog.js";
import { type Common, call, configOf, withCommon } from "./adminCall.js";

export { adminTarget } from "./adminCall.js";

import { registerRoomCommands } from "./roomAdmin.js";
import { registerUserCommands } from "./userAdmin.js";

const scope = () =>
  new Option("--scope <scope>", "ban scope").choices(["room", "hub"]).default("room");

export function registerModerationCommands(program: Command): void {
  const admin = program
    .command("admin")
    .description("moderate a running hub through its admin API (every action is audited)");

  registerUserCommands(admin);
  registerRoomCommands(admin);

  withCommon(admin.command("kick").description("remove every device of a user from a room"))
    .requiredOption("--room <id>", "room id (decimal or 0x hex)")
    .requiredOption("--user <id>", "user id")
    .option("--reason <text>", "reason, written to the audit log", "")
    .action((o: Common & { room: string; user: string; reason: string }) =>
      call(o, "POST", "/admin/kick", { room: o.room, user: o.user, reason: o.reason }),
    );

  withCommon(admin.command("ban").description("ban a user from a room or the hub (kicks it)"))
    .requiredOption("--user <id>", "user id")
    .addOption(scope())
    .option("--room <id>", "room id (scope room)")
    .option("--reason <text>", "reason, written to the audit log", "")
    .action((o: Common & { user: string; scope: string; room?: string; reason: string }) =>
      call(o, "POST", "/admin/ban", {
        user: o.user,
        scope: o.scope,
        room: o.room,
        reason: o.reason,
      }),
    );

  withCommon(admin.command("unban").description("lift a ban"))
    .requiredOption("--user <id>", "user id")
    .addOption(scope())
    .option("--room <id>", "room id (scope room)")
    .action((o: Common & { user: string; scope: string; room?: string }) =>
      call(o, "POST", "/admin/unban", { user: o.user, scope: o.scope, room: o.room }),
    );

  withCommon(admin.command("redact").description("erase one message for good and tell members"))
    .requiredOption("--room <id>", "room id")
    .requiredOption("--index <n>", "log index of the message")
    .option("--reason <text>", "reason, written to the audit log", "")
    .action((o: Common & { room: string; index: string; reason: string }) =>
      call(o, "POST", "/admin/redact", { room: o.room, index: o.index, reason: o.reason }),
    );

  withCommon(admin.command("retention").description("set a room's retention policy (0 = no limit)"))
    .requiredOption("--room <id>", "room id")
    .option("--max-age-ms <n>", "erase messages older than this", "0")
    .option("--max-count <n>", "keep the newest N messages", "0")
    .action((o: Common & { room: string; maxAgeMs: string; maxCount: string }) =>
      call(o, "POST", "/admin/retention", {
        room: o.room,
        max_age_ms: o.maxAgeMs,
        max_count: o.maxCount,
      }),
    );

  withCommon(admin.command("sweep").description("run a retention sweep now")).action((o: Common) =>
    call(o, "POST", "/admin/sweep", {}),
  );

  withCommon(admin.command("bans").description("list the bans in force")).action((o: Common) =>
    call(o, "GET", "/admin/bans"),
  );

  withCommon(admin.command("audit").description("read every audit chain and its verification"))
    .option("--from <n>", "first record", "0")
    .option("--limit <n>", "most records", "1000")
    .option("--chain <name>", 'one chain only: "hub" or "shard-<i>"')
    .action((o: Common & { from: string; limit: string; chain?: string }) => {
      const q = new URLSearchParams({ from: o.from, limit: o.limit });
      if (o.chain !== undefined) q.set("chain", o.chain);
      return call(o, "GET", `/admin/audit?${q}`);
    });

  withCommon(admin.command("messages").description("(room, log_index) of everything a user sent"))
    .requiredOption("--user <id>", "user id")
    .action((o: Common & { user: string }) =>
      call(o, "GET", `/admin/users/${encodeURIComponent(o.user)}/messages`),
    );

  program
    .command("audit")
    .description("offline checks of the audit log")
    .command("verify")
    .description("check the audit log's hash chain; exit 1 naming the first broken record")
    .option("--data <dir>", "data directory (default database.path of the configuration)")
    .option("-c, --config <file>", "configuration file")
    .action(async (o: { data?: string; config?: string }) => {
      const dir = resolve(o.data ?? configOf(o.config).database.path);
      // Every chain of the directory: the hub's (moderation records) and, with worker
      // shards, each shard's own (its secure_delete records), docs/moderation.md.
      const chains = [dir, ...shardDirs(dir).map((i) => join(dir, `shard-${i}`))];
      let failed = false;
      for (const chain of chains) {
        let v: Awaited<ReturnType<typeof verifyAuditLog>>;
        try {
          v = await verifyAuditLog(chain);
        } catch (e) {
          process.stderr.write(
            `cannot read the audit log in ${chain}: ${String((e as Error).message)}\n`,
          );
          failed = true;
          continue;
        }
        if (v.ok) {
          process.stdout.write(`audit log ok: ${v.records} records in ${chain}\n`);
          continue;
        }
        process.stderr.write(
          `audit log BROKEN at record ${v.firstBroken}: ${v.reason} (in ${chain})\n`,
        );
        failed = true;
      }
      if (failed) process.exit(1);
    });
}
