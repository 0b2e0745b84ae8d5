import { ManualTime } from "@kalandra/test-support";
import { describe, expect, it } from "vitest";
import { RoomQuota } from "../../src/hub/roomQuota.js";

describe("RoomQuota", () => {
  it("restores counts, reserves within both quotas, frees failed creations", () => {
    const limits = { maxRooms: 5, maxRoomsPerUser: 2, maxRoomCreationsPerMinute: 100 };
    const q = new RoomQuota(limits, new ManualTime());
    q.restore(3, ["ann", "ann", "bob"]);
    expect([q.roomCount, q.createdBy("ann"), q.createdBy("bob")]).toEqual([3, 2, 1]);
    expect(q.reserve("ann")?.message).toMatch(/ann has created the maximum of 2/);
    expect(q.reserve("bob")).toBeUndefined(); // in flight: 3 + 1
    expect(q.reserve("cat")).toBeUndefined(); // 3 + 2 = max_rooms
    expect(q.reserve("dan")?.message).toMatch(/maximum of 5 rooms/);
    q.settle("bob", true);
    q.settle("cat", false);
    expect([q.roomCount, q.createdBy("bob"), q.createdBy("cat")]).toEqual([4, 2, 0]);
    limits.maxRoomsPerUser = 3; // SIGHUP changes the object the quota reads
    expect(q.reserve("ann")).toBeUndefined();
  });

  it("limits each user's creations per minute, failed ones included, in a fixed window", () => {
    const time = new ManualTime();
    const limits = { maxRooms: 1000, maxRoomsPerUser: 1000, maxRoomCreationsPerMinute: 3 };
    const q = new RoomQuota(limits, time);
    for (let i = 0; i < 3; i++) {
      expect(q.reserve("ann")).toBeUndefined();
      q.settle("ann", i !== 1);
    }
    expect(q.reserve("ann")?.code).toBe("RATE_LIMITED");
    expect(q.reserve("bob")).toBeUndefined(); // per user
    q.settle("bob", true);
    time.advance(59_999);
    expect(q.reserve("ann")?.code).toBe("RATE_LIMITED");
    time.advance(1);
    expect(q.reserve("ann")).toBeUndefined();
    expect(q.createdBy("ann")).toBe(3);
  });
});
