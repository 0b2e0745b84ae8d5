/**
 * kalandrad's wiring of identity (DESIGN §10): the authenticators it can enable, by `auth.methods` value (config/schema.ts
 * `AUTH_METHODS`), and the one `Authentication` built from a configuration. A method maps
 * to the authenticators it answers with: "enrollment" answers both the codes and the
 * device links that add a user's further devices. A method plugs in by one line here.
 */
import type { Clock, Rng } from "@kalandra/proto";
import type { Config } from "../../config/schema.js";
import { Authentication } from "../../identity/authentication.js";
import type { Authenticator } from "../../identity/authenticator.js";
import { devAuthenticator } from "../../identity/devAuthenticator.js";
import { deviceLinkAuthenticator } from "../../identity/deviceLinkAuthenticator.js";
import { enrollmentAuthenticator } from "../../identity/enrollment.js";
import type { IdentityStorage } from "../../storage/types.js";
import { oidcFromConfig } from "./oidcKeys.js";

/** What an authenticator may be built from. */
export interface AuthenticatorContext {
  config: Config;
  storage: IdentityStorage;
  clock: Clock;
  rng: Rng;
}

export type AuthenticatorFactory = (
  ctx: AuthenticatorContext,
) => Authenticator[] | Promise<Authenticator[]>;

/** `auth.methods` value → the authenticators it enables. */
export const AUTHENTICATOR_FACTORIES: Readonly<Record<string, AuthenticatorFactory>> = {
  dev: () => [devAuthenticator],
  enrollment: ({ storage, config }) => [
    enrollmentAuthenticator(storage),
    deviceLinkAuthenticator(storage, config.auth.device_link_ttl_s),
  ],
  // config/load.ts refuses "oidc" without auth.oidc_issuer, so the authenticator exists.
  oidc: ({ config }) => [oidcFromConfig(config)].filter((a) => a !== undefined),
};

/** The hub's authentication for `config.auth`; throws naming a method this build lacks. */
export async function buildAuthentication(ctx: AuthenticatorContext): Promise<Authentication> {
  const authenticators: Authenticator[] = [];
  for (const method of ctx.config.auth.methods) {
    const make = AUTHENTICATOR_FACTORIES[method];
    if (make === undefined) {
      throw new Error(`auth.methods: "${method}" is not built into this kalandrad`);
    }
    authenticators.push(...(await make(ctx)));
  }
  return new Authentication({
    storage: ctx.storage,
    authenticators,
    maxDevicesPerUser: ctx.config.auth.max_devices_per_user,
  });
}
