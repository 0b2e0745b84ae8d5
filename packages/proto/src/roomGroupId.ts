/**
 * The MLS group id of a room: its 128-bit room id, big-endian (16 bytes). ROOM_CREATE
 * refuses a GroupInfo whose group id is not its room's, so one GroupInfo cannot open many
 * rooms, and a member's group state names the room it belongs to.
 *
 * @example
 * roomGroupId(1n); // Uint8Array(16) [0, …, 0, 1]
 */
export function roomGroupId(roomId: bigint): Uint8Array {
  if (roomId < 0n || roomId >> 128n !== 0n) throw new RangeError('"roomId" expected a u128');
  const out = new Uint8Array(16);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, roomId >> 64n);
  dv.setBigUint64(8, roomId & 0xffff_ffff_ffff_ffffn);
  return out;
}
