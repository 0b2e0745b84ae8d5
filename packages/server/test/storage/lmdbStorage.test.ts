import { openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import { openMemoryStorage } from "../../src/storage/memoryStorage.js";
import { type Harness, storageCompliance } from "./compliance.js";
import { seededRng, tempDir } from "./helpers.js";
import { moderationAnswerCompliance } from "./moderationAnswersCompliance.js";

async function lmdb(): Promise<Harness> {
  const dir = tempDir("compliance");
  const storage = await openLmdbStorage({ path: dir.path, rng: seededRng("compliance") });
  return {
    storage,
    dispose: async () => {
      await storage.close();
      dir.cleanup();
    },
  };
}

async function memory(): Promise<Harness> {
  const storage = openMemoryStorage();
  return { storage, dispose: () => storage.close() };
}

storageCompliance("LMDB", lmdb);
storageCompliance("memory", memory);
moderationAnswerCompliance("LMDB", lmdb);
moderationAnswerCompliance("memory", memory);
