/**
 * `kalandrad admin user …` (DESIGN §10, identity/adminRoutes.ts):
 *
 *   kalandrad admin user add NAME          register NAME@server.domain; prints a one-time code
 *   kalandrad admin user list              users and their active devices
 *   kalandrad admin user devices USER      a user's devices (sender_id, key, bound, revoked)
 *   kalandrad admin user revoke SENDER_ID  revoke a device: its sessions close, it never returns
 */
import type { Command } from "commander";
import { type Common, call, withCommon } from "./adminCall.js";

export function registerUserCommands(admin: Command): void {
  const user = admin
    .command("user")
    .description("users and their devices (enrollment, revocation)");
  withCommon(
    user
      .command("add <name>")
      .description("register a user and print the one-time enrollment code of its first device"),
  ).action((name: string, o: Common) => call(o, "POST", "/admin/users", { user: name }));
  withCommon(user.command("list").description("users and their active device counts")).action(
    (o: Common) => call(o, "GET", "/admin/users"),
  );
  withCommon(user.command("devices <user>").description("a user's devices")).action(
    (id: string, o: Common) => call(o, "GET", `/admin/users/${encodeURIComponent(id)}/devices`),
  );
  withCommon(
    user.command("revoke <sender_id>").description("revoke a device (decimal or 0x sender_id)"),
  ).action((senderId: string, o: Common) =>
    call(o, "POST", "/admin/devices/revoke", { sender_id: senderId }),
  );
}
