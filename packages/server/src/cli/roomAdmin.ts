/**
 * `kalandrad admin rooms|users|devices …` (issue 16; the admin API routes of
 * moderation/roomRoutes.ts and identity/adminRoutes.ts):
 *
 *   kalandrad admin rooms list [--after ROOM] [--limit N]   rooms: epoch, members, log, size
 *   kalandrad admin rooms show ROOM                         one room (deleted ones too)
 *   kalandrad admin rooms delete ROOM [--drop-headers] [--reason T]
 *                                       erase every message of the room; it answers as deleted
 *   kalandrad admin rooms authority ROOM                    a federated room's authority, term, role
 *   kalandrad admin rooms transfer ROOM DOMAIN [--reason T] move a room this hub sequences to
 *                                       the peer DOMAIN (planned transfer, docs/federation.md)
 *   kalandrad admin users list | show USER | devices USER   users, their devices and rooms
 *   kalandrad admin devices show SENDER_ID | revoke SENDER_ID
 *
 * Each prints the hub's JSON answer; exit 1 when the hub refused (cli/adminCall.ts).
 */
import type { Command } from "commander";
import { type Common, call, withCommon } from "./adminCall.js";

const seg = encodeURIComponent;

export function registerRoomCommands(admin: Command): void {
  const rooms = admin.command("rooms").description("list, inspect and delete rooms");
  withCommon(rooms.command("list").description("rooms by id, a page at a time"))
    .option("--after <room>", "list rooms after this id (the previous page's `next`)")
    .option("--limit <n>", "rooms per page (1..1000)", "100")
    .action((o: Common & { after?: string; limit: string }) => {
      const q = new URLSearchParams({ limit: o.limit });
      if (o.after !== undefined) q.set("after", o.after);
      return call(o, "GET", `/admin/rooms?${q}`);
    });
  withCommon(rooms.command("show <room>").description("one room (decimal or 0x id)")).action(
    (room: string, o: Common) => call(o, "GET", `/admin/rooms/${seg(room)}`),
  );
  withCommon(
    rooms
      .command("delete <room>")
      .description("erase every message of a room for good; the room then answers as deleted"),
  )
    .option("--drop-headers", "drop the headers (order, sender, time) too", false)
    .option("--reason <text>", "reason, written to the audit log", "")
    .action((room: string, o: Common & { dropHeaders: boolean; reason: string }) =>
      call(o, "POST", "/admin/rooms/delete", {
        room,
        drop_headers: o.dropHeaders,
        reason: o.reason,
      }),
    );

  withCommon(
    rooms
      .command("authority <room>")
      .description("a federated room's authority as this hub knows it: hub, term, role"),
  ).action((room: string, o: Common) => call(o, "GET", `/admin/rooms/${seg(room)}/authority`));
  withCommon(
    rooms
      .command("transfer <room> <domain>")
      .description("move a room this hub sequences to the peer hub <domain> (planned transfer)"),
  )
    .option("--reason <text>", "reason, written to the audit log", "")
    .action((room: string, domain: string, o: Common & { reason: string }) =>
      call(o, "POST", "/admin/rooms/transfer", { room, to: domain, reason: o.reason }),
    );

  const users = admin.command("users").description("users, their devices and rooms");
  withCommon(users.command("list").description("users and their active device counts")).action(
    (o: Common) => call(o, "GET", "/admin/users"),
  );
  withCommon(users.command("show <user>").description("a user's devices and rooms")).action(
    (user: string, o: Common) => call(o, "GET", `/admin/users/${seg(user)}`),
  );
  withCommon(users.command("devices <user>").description("a user's devices")).action(
    (user: string, o: Common) => call(o, "GET", `/admin/users/${seg(user)}/devices`),
  );

  const devices = admin.command("devices").description("devices: inspect and revoke");
  withCommon(
    devices.command("show <sender_id>").description("a device: owner, state, rooms it is in"),
  ).action((id: string, o: Common) => call(o, "GET", `/admin/devices/${seg(id)}`));
  withCommon(
    devices
      .command("revoke <sender_id>")
      .description("revoke a device: its sessions close, it never returns"),
  ).action((id: string, o: Common) => call(o, "POST", "/admin/devices/revoke", { sender_id: id }));
}
