import { openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import { openMemoryStorage } from "../../src/storage/memoryStorage.js";
import { storageCompliance } from "./compliance.js";
import { seededRng, tempDir } from "./helpers.js";

storageCompliance("LMDB", async () => {
  const dir = tempDir("compliance");
  const storage = await openLmdbStorage({ path: dir.path, rng: seededRng("compliance") });
  return {
    storage,
    dispose: async () => {
      await storage.close();
      dir.cleanup();
    },
  };
});

storageCompliance("memory", async () => {
  const storage = openMemoryStorage();
  return { storage, dispose: () => storage.close() };
});
